//! The byte buffers of one packet that rules read (segment, stream view, HTTP and DNS
//! fields) and the per-worker workspace they are built in.

use super::*;

/// Byte buffers reused from packet to packet (no allocation once they have grown).
#[derive(Default)]
pub(super) struct Workspace {
    /// The stream window with the segment after it.
    pub(super) stream: Vec<u8>,
    /// The lowercased HTTP host.
    pub(super) host: Vec<u8>,
    /// The normalized request URI.
    pub(super) uri: Vec<u8>,
    /// The normalized headers.
    pub(super) header: Vec<u8>,
}

/// A message's buffers built in scratch space: the lowercased host, the normalized URI
/// and headers, the header names.
#[derive(Clone, Copy)]
pub(super) struct HttpScratch<'a> {
    pub(super) host: &'a [u8],
    pub(super) uri: &'a [u8],
    pub(super) header: &'a [u8],
    pub(super) names: &'a [u8],
}

impl<'a> HttpScratch<'a> {
    /// The scratch-built buffers of one message.
    pub(super) fn of(host: &'a [u8], uri: &'a [u8], header: &'a [u8], names: &'a [u8]) -> Self {
        HttpScratch {
            host,
            uri,
            header,
            names,
        }
    }
}

/// The buffers of the packet being inspected.
#[derive(Clone, Copy)]
pub(super) struct Buffers<'a> {
    /// The stream view: for TCP, the kept window then the segment's new in-order bytes
    /// (empty when it brought none); else the packet's payload.
    pub(super) payload: &'a [u8],
    /// The packet's own payload.
    pub(super) packet: &'a [u8],
    /// Bytes at the start of `payload` that were inspected before (stream window).
    pub(super) seen: usize,
    pub(super) segment_len: usize,
    /// Whether rules may read the payload (not when it is a TLS flow's ciphertext).
    pub(super) payload_inspected: bool,
    /// The request (to the server) or response whose head or body this pass inspects.
    pub(super) request: Option<&'a Request<'a>>,
    pub(super) response: Option<&'a Response<'a>>,
    /// Its head completed in this packet: the header buffers are scanned (else only its
    /// body is, and the head serves verification).
    pub(super) head_new: bool,
    /// Its decoded body so far, and how much of it earlier packets inspected.
    pub(super) body: Option<&'a [u8]>,
    pub(super) body_seen: usize,
    /// For a response: the latest request on the connection (for the EVE record).
    pub(super) tx_request: Option<&'a Request<'a>>,
    pub(super) host: &'a [u8],
    /// The request URI normalized (`http.uri`).
    pub(super) uri: &'a [u8],
    /// The headers normalized (`http.header`).
    pub(super) header: &'a [u8],
    pub(super) header_names: &'a [u8],
    /// `.` + the DNS question name, when the packet is a DNS message.
    pub(super) dns: Option<&'a [u8]>,
    /// The DNS message.
    pub(super) dns_msg: Option<&'a DnsMessage>,
    /// Suffix hashes of `dns` (one per byte), shared by every name set.
    pub(super) dns_hashes: &'a [u64],
    /// The flow's TLS handshake, when it is a TLS flow.
    pub(super) tls: Option<&'a crate::proto::tls::Handshake>,
    /// The worker's `xbits`.
    pub(super) xbits: &'a super::xbits::XbitTable,
    /// The packet's ICMP or ICMPv6 type and code.
    pub(super) icmp: Option<(u8, u8)>,
    /// The parts of it this packet completed (`proto::tls::part` bits): the TLS buffers
    /// are scanned only then, and a rule on them holds only if one of its parts is new.
    pub(super) tls_new: u8,
}

impl<'a> Buffers<'a> {
    /// The packet's own payload (`None` when rules may not read it).
    pub(super) fn segment(&self) -> Option<&'a [u8]> {
        self.payload_inspected.then_some(self.packet)
    }

    /// These buffers with DNS message `pass` and HTTP message `m` (parsed as `request` or
    /// `response`, with its scratch-built buffers): one pass of a packet's inspection.
    pub(super) fn for_pass(
        mut self,
        dns: &'a DnsState,
        pass: usize,
        m: Option<&'a Message>,
        request: Option<&'a Request<'a>>,
        response: Option<&'a Response<'a>>,
        scratch: HttpScratch<'a>,
    ) -> Self {
        self.set_dns(dns, pass);
        self.set_http(m, request, response, scratch);
        self
    }

    /// Points the HTTP buffers at message `m` (none: no HTTP in this pass), parsed as
    /// `request` or `response`, with its scratch-built buffers.
    fn set_http(
        &mut self,
        m: Option<&'a Message>,
        request: Option<&'a Request<'a>>,
        response: Option<&'a Response<'a>>,
        scratch: HttpScratch<'a>,
    ) {
        self.request = request;
        self.response = response;
        self.head_new = m.is_some_and(|m| m.head_new);
        self.body = m.map(|m| m.body.data()).filter(|d| !d.is_empty());
        self.body_seen = m.map_or(0, |m| m.body.seen);
        self.host = scratch.host;
        self.uri = scratch.uri;
        self.header = scratch.header;
        self.header_names = scratch.names;
    }

    /// Points the DNS buffers at message `i` of `dns` (none when there is no such message).
    fn set_dns(&mut self, dns: &'a DnsState, i: usize) {
        let p = dns.parsed.get(i);
        // As in Suricata, `dns.query` is the query's buffer (to the server) only.
        self.dns = p.and_then(|p| dns.name(p).filter(|_| !p.msg.response));
        self.dns_msg = p.map(|p| &p.msg);
        self.dns_hashes = p.map_or(&[], |p| &dns.hashes[p.hashes.clone()]);
    }

    /// Calls `f` on each instance of buffer `b` until it returns true (a buffer that
    /// has several: each certificate of the chain, each subjectAltName, each header
    /// line; else the one), and returns whether one did.
    pub(super) fn any(&self, b: Buffer, mut f: impl FnMut(&'a [u8]) -> bool) -> bool {
        let tls = self.tls;
        match b {
            Buffer::TlsCerts => tls.is_some_and(|t| t.chain.iter().any(|c| f(c))),
            Buffer::TlsSubjectAltName => tls
                .and_then(|t| t.cert.as_ref())
                .is_some_and(|c| c.alt_names.iter().any(|n| f(n.as_bytes()))),
            Buffer::HttpRequestHeader | Buffer::HttpResponseHeader => self
                .get(b)
                .is_some_and(|d| crate::proto::http::header_lines(d).any(f)),
            _ => self.get(b).is_some_and(f),
        }
    }

    pub(super) fn get(&self, b: Buffer) -> Option<&'a [u8]> {
        let r = self.request;
        let s = self.response;
        match b {
            Buffer::Payload => self.payload_inspected.then_some(self.payload),
            Buffer::HttpUri => r.map(|_| self.uri),
            Buffer::HttpUriRaw => r.map(|r| r.uri),
            Buffer::HttpMethod => r.map(|r| r.method),
            Buffer::HttpHost => r.and_then(|r| r.host.map(|_| self.host)),
            Buffer::HttpUserAgent => r.and_then(|r| r.user_agent),
            Buffer::HttpHeader => (r.is_some() || s.is_some()).then_some(self.header),
            // Each line is matched on its own (see `verify`); the prefilter scans them all.
            Buffer::HttpRequestHeader => r.map(|r| r.headers),
            Buffer::HttpResponseHeader => s.map(|s| s.headers),
            Buffer::HttpRequestLine => r.map(|r| r.line),
            Buffer::HttpRequestBody => r.and(self.body),
            Buffer::HttpCookie => r.and_then(|r| r.cookie),
            Buffer::HttpContentType => r
                .and_then(|r| r.content_type)
                .or(s.and_then(|s| s.content_type)),
            Buffer::HttpReferer => r.and_then(|r| r.referer),
            Buffer::HttpAccept => r.and_then(|r| r.accept),
            Buffer::HttpHeaderNames => (r.is_some() || s.is_some()).then_some(self.header_names),
            Buffer::HttpResponseLine => s.map(|s| s.line),
            Buffer::HttpStatCode => s.map(|s| s.stat_code),
            Buffer::HttpStatMsg => s.map(|s| s.stat_msg),
            Buffer::HttpServer => s.and_then(|s| s.server),
            Buffer::HttpResponseBody => s.and(self.body),
            Buffer::HttpStart => r.map(|r| r.start).or(s.map(|s| s.start)),
            Buffer::HttpHeaderRaw => r.map(|r| r.headers).or(s.map(|s| s.headers)),
            Buffer::HttpProtocol => r
                .map(|r| r.protocol)
                .or(s.map(|s| s.protocol))
                .filter(|p| !p.is_empty()),
            Buffer::HttpContentLen => r
                .and_then(|r| r.content_len)
                .or(s.and_then(|s| s.content_len)),
            Buffer::HttpLocation => s.and_then(|s| s.location),
            Buffer::HttpAcceptEnc => r.and_then(|r| r.accept_enc),
            Buffer::HttpAcceptLang => r.and_then(|r| r.accept_lang),
            Buffer::HttpConnection => r
                .and_then(|r| r.connection)
                .or(s.and_then(|s| s.connection)),
            Buffer::TlsSni => self.tls?.client.as_ref()?.sni(),
            Buffer::TlsSniDotted => self.tls?.client.as_ref()?.dotted_sni.as_deref(),
            Buffer::Ja3Hash => Some(self.tls?.client.as_ref()?.ja3.hash.as_bytes()),
            Buffer::Ja3String => Some(self.tls?.client.as_ref()?.ja3.string.as_bytes()),
            Buffer::Ja3sHash => Some(self.tls?.server.as_ref()?.ja3s.hash.as_bytes()),
            Buffer::Ja3sString => Some(self.tls?.server.as_ref()?.ja3s.string.as_bytes()),
            Buffer::TlsCertSubject => Some(self.tls?.cert.as_ref()?.subject.as_bytes()),
            Buffer::TlsCertIssuer => Some(self.tls?.cert.as_ref()?.issuer.as_bytes()),
            Buffer::TlsCertSerial => Some(self.tls?.cert.as_ref()?.serial.as_bytes()),
            Buffer::TlsCertFingerprint => Some(self.tls?.cert.as_ref()?.fingerprint.as_bytes()),
            // One buffer per certificate or name: [`Buffers::each`].
            Buffer::TlsCerts => self.tls?.chain.first().map(Vec::as_slice),
            Buffer::TlsSubjectAltName => self
                .tls?
                .cert
                .as_ref()?
                .alt_names
                .first()
                .map(String::as_bytes),
            Buffer::DnsQuery => self.dns.map(|d| &d[1..]),
            Buffer::DnsQueryDotted => self.dns,
            Buffer::FileData => self.body,
        }
    }
}
