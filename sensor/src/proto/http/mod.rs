//! HTTP/1 request and response buffers for the rule engine, parsed with httparse from a
//! message head that [`messages`] framed out of a reassembled stream.
//!
//! Borrowed views into the head (no allocation): the request or status line, method,
//! URI, protocol, status code and message, selected header values, the header block
//! (`Name: value\r\n` lines as sent). The Host value has its port removed; lowercasing,
//! the normalized URI ([`uri`]) and the header-names buffer are built by the caller in its
//! own scratch space ([`header_names`]). Bodies are [`body`]'s.

pub mod body;
pub mod messages;
pub mod uri;

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
    /// The request line without its CRLF.
    pub line: &'a [u8],
    /// Cookie header value.
    pub cookie: Option<&'a [u8]>,
    /// Content-Type header value.
    pub content_type: Option<&'a [u8]>,
    /// Referer header value.
    pub referer: Option<&'a [u8]>,
    /// Accept header value.
    pub accept: Option<&'a [u8]>,
    /// Accept-Encoding header value.
    pub accept_enc: Option<&'a [u8]>,
    /// Accept-Language header value.
    pub accept_lang: Option<&'a [u8]>,
    /// Connection header value.
    pub connection: Option<&'a [u8]>,
    /// Content-Length header value.
    pub content_len: Option<&'a [u8]>,
    /// Transfer-Encoding header value.
    pub transfer_encoding: Option<&'a [u8]>,
    /// The protocol token of the request line (`HTTP/1.1`); empty for HTTP/0.9.
    pub protocol: &'a [u8],
    /// The request line and header block through the blank line (what arrived of it).
    pub start: &'a [u8],
    /// Body bytes after the headers in this segment (empty if the headers are incomplete).
    pub body: &'a [u8],
}

/// The buffers of one response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Response<'a> {
    /// The status line without its CRLF.
    pub line: &'a [u8],
    /// The three status digits.
    pub stat_code: &'a [u8],
    /// The reason phrase.
    pub stat_msg: &'a [u8],
    /// Header lines after the status line, up to (not including) the blank line.
    pub headers: &'a [u8],
    /// Server header value.
    pub server: Option<&'a [u8]>,
    /// Content-Type header value.
    pub content_type: Option<&'a [u8]>,
    /// Content-Length header value.
    pub content_len: Option<&'a [u8]>,
    /// Content-Encoding header value.
    pub content_encoding: Option<&'a [u8]>,
    /// Transfer-Encoding header value.
    pub transfer_encoding: Option<&'a [u8]>,
    /// Location header value.
    pub location: Option<&'a [u8]>,
    /// Connection header value.
    pub connection: Option<&'a [u8]>,
    /// The protocol token of the status line (`HTTP/1.1`).
    pub protocol: &'a [u8],
    /// The status line and header block through the blank line (what arrived of it).
    pub start: &'a [u8],
    /// Body bytes after the headers in this segment.
    pub body: &'a [u8],
}

/// Writes Suricata's `http.header` buffer for a header block into `out`: each header as
/// `Name: value\r\n` (the value trimmed), Cookie and Set-Cookie left out (they are
/// `http.cookie`'s), then a blank line.
pub fn normalized_headers(headers: &[u8], out: &mut Vec<u8>) {
    out.clear();
    for line in header_lines(headers) {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"cookie") || name.eq_ignore_ascii_case(b"set-cookie") {
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(line[colon + 1..].trim_ascii());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The lines of a header block, without their line ends (empty ones skipped).
pub fn header_lines(headers: &[u8]) -> impl Iterator<Item = &[u8]> {
    headers
        .split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
}

/// Writes Suricata's `http.header_names` buffer for a header block into `out`:
/// `\r\nName1\r\nName2\r\n\r\n`.
pub fn header_names(headers: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(b"\r\n");
    for line in headers.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(colon) = line.iter().position(|&c| c == b':') {
            out.extend_from_slice(&line[..colon]);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Parses a response at the start of `payload` (it must start with `HTTP/`).
pub fn parse_response(payload: &[u8]) -> Option<Response<'_>> {
    if !payload.starts_with(b"HTTP/") {
        return None;
    }
    let mut storage = [httparse::EMPTY_HEADER; 48];
    let mut resp = httparse::Response::new(&mut storage);
    let status = resp.parse(payload).ok()?;
    let line_end = memchr::memmem::find(payload, b"\r\n")?;
    let line = &payload[..line_end];
    let mut parts = line.splitn(3, |&c| c == b' ');
    let protocol = parts.next()?;
    let stat_code = parts.next()?;
    let stat_msg = parts.next().unwrap_or(&[]);
    let (header_end, body, start) = match status {
        httparse::Status::Complete(n) => (
            n.saturating_sub(2).max(line_end + 2),
            &payload[n..],
            &payload[..n],
        ),
        httparse::Status::Partial => (payload.len(), &payload[payload.len()..], payload),
    };
    let value = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| subslice(payload, h.value))
    };
    Some(Response {
        line,
        stat_code,
        stat_msg,
        headers: payload.get(line_end + 2..header_end).unwrap_or(&[]),
        server: value("server"),
        content_type: value("content-type"),
        content_len: value("content-length"),
        content_encoding: value("content-encoding"),
        transfer_encoding: value("transfer-encoding"),
        location: value("location"),
        connection: value("connection"),
        protocol,
        start,
        body,
    })
}

/// Parses a request at the start of `payload`. A request whose headers are cut short
/// still yields its method and URI (the header block is what arrived).
pub fn parse_request(payload: &[u8]) -> Option<Request<'_>> {
    if !starts_like_a_request(payload) {
        return None;
    }
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; 48];
    let mut req = httparse::Request::new(&mut []);
    let parsed = match req.parse_with_uninit_headers(payload, &mut storage) {
        Ok(status) => status,
        // A raw space inside the URI: httparse reads what follows it as the version.
        Err(httparse::Error::Version) => return parse_request_spaced_uri(payload),
        Err(_) => return None,
    };
    let method = req.method?.as_bytes();
    let uri = req.path?.as_bytes();
    // Slices into `payload` for method/uri: httparse returns &str borrowed from it.
    let method = subslice(payload, method)?;
    let uri = subslice(payload, uri)?;
    let line_end = memchr::memmem::find(payload, b"\r\n")? + 2;
    let (header_end, body) = match parsed {
        httparse::Status::Complete(n) => (n.saturating_sub(2).max(line_end), &payload[n..]),
        httparse::Status::Partial => (payload.len(), &payload[payload.len()..]),
    };
    request_with(
        payload,
        method,
        uri,
        line_end,
        header_end,
        body,
        req.headers,
    )
}

/// A request whose URI holds raw spaces (`GET /a b HTTP/1.1`), read as libhtp reads it:
/// the method is the first token, the protocol the last (it must start with `HTTP/`),
/// the URI everything between. Clients percent-encode spaces; an attacker need not, and
/// such a request must not hide its headers from the rules.
fn parse_request_spaced_uri(payload: &[u8]) -> Option<Request<'_>> {
    let line_end = memchr::memmem::find(payload, b"\r\n")?;
    let line = &payload[..line_end];
    let first = memchr::memchr(b' ', line)?;
    let last = memchr::memrchr(b' ', line)?;
    if last <= first || !line[last + 1..].starts_with(b"HTTP/") {
        return None;
    }
    let method = &line[..first];
    let uri = line[first + 1..last].trim_ascii();
    let rest = &payload[line_end + 2..];
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let (header_end, body) = match httparse::parse_headers(rest, &mut headers).ok()? {
        httparse::Status::Complete((n, _)) => (
            (line_end + 2 + n).saturating_sub(2).max(line_end + 2),
            &payload[line_end + 2 + n..],
        ),
        httparse::Status::Partial => (payload.len(), &payload[payload.len()..]),
    };
    request_with(
        payload,
        method,
        uri,
        line_end + 2,
        header_end,
        body,
        &headers,
    )
}

/// The request whose line ends at `line_end` (after its CRLF) and header block at
/// `header_end`, with the parsed `headers` (slices of `payload`).
fn request_with<'a>(
    payload: &'a [u8],
    method: &'a [u8],
    uri: &'a [u8],
    line_end: usize,
    header_end: usize,
    body: &'a [u8],
    headers: &[httparse::Header<'_>],
) -> Option<Request<'a>> {
    let value = |name: &str| {
        headers
            .iter()
            .filter(|h| !h.name.is_empty())
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| subslice(payload, h.value))
    };
    let line = &payload[..line_end - 2];
    let protocol = match memchr::memrchr(b' ', line) {
        Some(i) if line[i + 1..].starts_with(b"HTTP/") => &line[i + 1..],
        _ => &[],
    };
    let start_end = body.as_ptr() as usize - payload.as_ptr() as usize;
    Some(Request {
        method,
        uri,
        host: value("host").map(strip_port),
        user_agent: value("user-agent"),
        headers: payload.get(line_end..header_end).unwrap_or(&[]),
        line,
        cookie: value("cookie"),
        content_type: value("content-type"),
        referer: value("referer"),
        accept: value("accept"),
        accept_enc: value("accept-encoding"),
        accept_lang: value("accept-language"),
        connection: value("connection"),
        content_len: value("content-length"),
        transfer_encoding: value("transfer-encoding"),
        protocol,
        start: &payload[..start_end],
        body,
    })
}

/// Whether `payload` opens as httparse needs before a request has a method: optional
/// empty lines, then a method token ended by a space. Every TCP segment to a server is
/// offered to the parser, most carry no request, and this rejects them without setting
/// up the parse (the answer equals httparse's, which fails, or stays partial without a
/// method, on the rest).
fn starts_like_a_request(payload: &[u8]) -> bool {
    let start = payload
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(payload.len());
    let rest = &payload[start..];
    let method = rest.iter().take_while(|&&b| is_token(b)).count();
    method > 0 && rest.get(method) == Some(&b' ')
}

/// RFC 9110's `tchar`: the bytes of a method.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
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
    fn the_quick_reject_never_turns_away_what_httparse_accepts() {
        let httparse_method = |p: &[u8]| {
            let mut storage = [httparse::EMPTY_HEADER; 48];
            let mut req = httparse::Request::new(&mut storage);
            req.parse(p).is_ok() && req.method.is_some()
        };
        let mut inputs: Vec<Vec<u8>> = [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"\r\n\nPOST /x HTTP/1.0\r\n",
            b"~!x / HTTP/1.1\r\n",
            b"M-SEARCH * HTTP/1.1\r\n",
            b"GET",
            b"GET ",
            b"G",
            b"",
            b"\r\n",
            b"\r GET / HTTP/1.1",
            b" GET / HTTP/1.1",
            b"GET\t/ HTTP/1.1",
            b"\x16\x03\x01\x02\x00",
        ]
        .iter()
        .map(|p| p.to_vec())
        .collect();
        let mut rng = testkit::traffic::Rng::new(7);
        for _ in 0..20_000 {
            let len = rng.range(0, 24);
            // Mostly token bytes, spaces and line ends, so both answers occur.
            let p = (0..len)
                .map(|_| b"GET /\r\n\x00a~"[rng.range(0, 9)])
                .collect();
            inputs.push(p);
        }
        for p in &inputs {
            if httparse_method(p) {
                assert!(starts_like_a_request(p), "{p:?}");
            }
            if !starts_like_a_request(p) {
                assert!(parse_request(p).is_none(), "{p:?}");
            }
        }
        assert!(!starts_like_a_request(b"\x16\x03\x01\x02\x00"));
        assert!(starts_like_a_request(b"GET / HTTP/1.1\r\n"));
    }

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
    fn request_line_body_cookie_and_header_names() {
        let p = b"POST /x HTTP/1.1\r\nCookie: a=1\r\nContent-Type: text/plain\r\n\r\nname=v";
        let r = parse_request(p).unwrap();
        assert_eq!(r.line, b"POST /x HTTP/1.1");
        assert_eq!(r.cookie, Some(&b"a=1"[..]));
        assert_eq!(r.content_type, Some(&b"text/plain"[..]));
        assert_eq!(r.body, b"name=v");
        let mut names = Vec::new();
        header_names(r.headers, &mut names);
        assert_eq!(names, b"\r\nCookie\r\nContent-Type\r\n\r\n");
    }

    #[test]
    fn response_buffers() {
        let p = b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.8\r\nContent-Type: text/html\r\n\r\n<html>";
        let r = parse_response(p).unwrap();
        assert_eq!(r.line, b"HTTP/1.0 200 OK");
        assert_eq!(r.stat_code, b"200");
        assert_eq!(r.stat_msg, b"OK");
        assert_eq!(r.server, Some(&b"SimpleHTTP/0.6 Python/3.8"[..]));
        assert_eq!(r.body, b"<html>");
        assert!(parse_response(b"GET / HTTP/1.1\r\n").is_none());
    }

    #[test]
    fn partial_and_non_http() {
        let r = parse_request(b"POST /x HTTP/1.1\r\nHost: a\r\nX-Long: aaa").unwrap();
        assert_eq!(r.method, b"POST");
        assert!(parse_request(b"\x16\x03\x01 tls hello").is_none());
        assert!(parse_request(b"").is_none());
    }

    #[test]
    fn a_raw_space_in_the_uri_does_not_hide_the_request() {
        let r = parse_request(
            b"GET /search?q=<span class=\"title\"> HTTP/1.1\r\nHost: a.example:8080\r\n\
              User-Agent: curl/8.5.0\r\n\r\nbody",
        )
        .expect("parsed as libhtp parses it");
        assert_eq!(r.method, b"GET");
        assert_eq!(r.uri, b"/search?q=<span class=\"title\">");
        assert_eq!(r.host, Some(&b"a.example"[..]));
        assert_eq!(r.user_agent, Some(&b"curl/8.5.0"[..]));
        assert_eq!(r.line, b"GET /search?q=<span class=\"title\"> HTTP/1.1");
        assert_eq!(
            r.headers,
            b"Host: a.example:8080\r\nUser-Agent: curl/8.5.0\r\n"
        );
        assert_eq!(r.body, b"body");
        // Not a request line: no protocol at its end.
        assert!(parse_request(b"GET /a b c\r\n\r\n").is_none());
    }
}
