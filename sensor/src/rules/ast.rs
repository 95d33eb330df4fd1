//! What a parsed rule is: header, match conditions per buffer, and the non-matching
//! metadata that explains an alert.

use super::netspec::{AddrSet, AddrSpec, PortSpec};

/// Rule action, in Suricata's order of precedence (pass first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Stop inspecting the flow; no alert.
    Pass,
    /// Drop the packet and the rest of the flow (prevention); alert.
    Drop,
    /// Drop and send a reset / ICMP unreachable (prevention); alert.
    Reject,
    /// Alert only.
    Alert,
}

impl Action {
    /// The name in rule text.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pass => "pass",
            Action::Drop => "drop",
            Action::Reject => "reject",
            Action::Alert => "alert",
        }
    }
}

/// Header protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Any IP packet.
    Ip,
    /// TCP, packet and stream.
    Tcp,
    /// TCP packets only (no stream).
    TcpPkt,
    /// TCP stream only.
    TcpStream,
    /// UDP.
    Udp,
    /// ICMP and ICMPv6.
    Icmp,
    /// DNS over UDP or TCP.
    Dns,
    /// HTTP (over TCP).
    Http,
    /// TLS (over TCP): flows whose first bytes are a TLS handshake.
    Tls,
}

/// Where a match condition looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Buffer {
    /// The packet payload (TCP: with the in-order stream window before it).
    Payload,
    /// HTTP request URI, normalized as libhtp does it (`http.uri`).
    HttpUri,
    /// HTTP request URI as sent (`http.uri.raw`).
    HttpUriRaw,
    /// HTTP request method.
    HttpMethod,
    /// HTTP Host header value, lowercased, port removed.
    HttpHost,
    /// HTTP User-Agent header value.
    HttpUserAgent,
    /// HTTP headers as Suricata normalizes them: `Name: value\r\n` each, without Cookie
    /// and Set-Cookie, then a blank line.
    HttpHeader,
    /// The request line.
    HttpRequestLine,
    /// Request body bytes in the segment.
    HttpRequestBody,
    /// Cookie header value.
    HttpCookie,
    /// Content-Type header value (of the request to the server, of the response to the
    /// client).
    HttpContentType,
    /// Referer header value.
    HttpReferer,
    /// Accept header value.
    HttpAccept,
    /// Header names, `\r\nName\r\n...\r\n\r\n`.
    HttpHeaderNames,
    /// The status line.
    HttpResponseLine,
    /// The status code digits.
    HttpStatCode,
    /// The reason phrase.
    HttpStatMsg,
    /// Server header value.
    HttpServer,
    /// Response body bytes in the segment.
    HttpResponseBody,
    /// `file_data`: the request body to the server, the response body to the client.
    FileData,
    /// `http.start`: the request or status line and the header block, through the blank
    /// line.
    HttpStart,
    /// `http.header.raw`: the header block as sent.
    HttpHeaderRaw,
    /// `http.protocol`: `HTTP/1.1` and the like.
    HttpProtocol,
    /// `http.content_len`: the Content-Length value.
    HttpContentLen,
    /// `http.location`: the response's Location value.
    HttpLocation,
    /// `http.accept_enc`: the Accept-Encoding value.
    HttpAcceptEnc,
    /// `http.accept_lang`: the Accept-Language value.
    HttpAcceptLang,
    /// `http.connection`: the Connection value.
    HttpConnection,
    /// `http.request_header`: each request header line on its own (`Name: value`).
    HttpRequestHeader,
    /// `http.response_header`: each response header line on its own.
    HttpResponseHeader,
    /// `dns.query`: the first question's name, lowercased, no trailing dot.
    DnsQuery,
    /// `dns.query; dotprefix`: the same with a `.` in front.
    DnsQueryDotted,
    /// `tls.sni`: the ClientHello's server name.
    TlsSni,
    /// `tls.sni; dotprefix`: the same with a `.` in front.
    TlsSniDotted,
    /// `tls.cert_subject`: the server certificate's subject (`C=.., O=.., CN=..`).
    TlsCertSubject,
    /// `tls.cert_issuer`: its issuer.
    TlsCertIssuer,
    /// `tls.cert_serial`: its serial (`00:97:E6:..`).
    TlsCertSerial,
    /// `tls.cert_fingerprint`: the SHA-1 of its DER (`90:86:a4:..`).
    TlsCertFingerprint,
    /// `tls.certs`: each certificate of the chain (DER), one at a time.
    TlsCerts,
    /// `tls.subjectaltname`: each DNS name of its subjectAltName, one at a time.
    TlsSubjectAltName,
    /// `ja3.hash`: the ClientHello's JA3 (32 hex digits).
    Ja3Hash,
    /// `ja3.string`: the fields JA3 hashes.
    Ja3String,
    /// `ja3s.hash`: the ServerHello's JA3S.
    Ja3sHash,
    /// `ja3s.string`: the fields JA3S hashes.
    Ja3sString,
}

impl Buffer {
    /// Every buffer, in a fixed order (for dense tables).
    pub const ALL: [Buffer; 44] = [
        Buffer::Payload,
        Buffer::HttpUri,
        Buffer::HttpUriRaw,
        Buffer::HttpMethod,
        Buffer::HttpHost,
        Buffer::HttpUserAgent,
        Buffer::HttpHeader,
        Buffer::HttpRequestLine,
        Buffer::HttpRequestBody,
        Buffer::HttpCookie,
        Buffer::HttpContentType,
        Buffer::HttpReferer,
        Buffer::HttpAccept,
        Buffer::HttpHeaderNames,
        Buffer::HttpResponseLine,
        Buffer::HttpStatCode,
        Buffer::HttpStatMsg,
        Buffer::HttpServer,
        Buffer::HttpResponseBody,
        Buffer::FileData,
        Buffer::HttpStart,
        Buffer::HttpHeaderRaw,
        Buffer::HttpProtocol,
        Buffer::HttpContentLen,
        Buffer::HttpLocation,
        Buffer::HttpAcceptEnc,
        Buffer::HttpAcceptLang,
        Buffer::HttpConnection,
        Buffer::HttpRequestHeader,
        Buffer::HttpResponseHeader,
        Buffer::DnsQuery,
        Buffer::DnsQueryDotted,
        Buffer::TlsSni,
        Buffer::TlsSniDotted,
        Buffer::TlsCertSubject,
        Buffer::TlsCertIssuer,
        Buffer::TlsCertSerial,
        Buffer::TlsCertFingerprint,
        Buffer::TlsCerts,
        Buffer::TlsSubjectAltName,
        Buffer::Ja3Hash,
        Buffer::Ja3String,
        Buffer::Ja3sHash,
        Buffer::Ja3sString,
    ];

    /// Whether this is a `dns.*` buffer.
    pub fn is_dns(self) -> bool {
        matches!(self, Buffer::DnsQuery | Buffer::DnsQueryDotted)
    }

    /// The parts of a TLS handshake this buffer comes from (bits of
    /// `proto::tls::part`), 0 for a buffer that is not TLS's.
    pub fn tls_parts(self) -> u8 {
        use crate::proto::tls::part;
        match self {
            Buffer::TlsSni | Buffer::TlsSniDotted | Buffer::Ja3Hash | Buffer::Ja3String => {
                part::CLIENT_HELLO
            }
            Buffer::Ja3sHash | Buffer::Ja3sString => part::SERVER_HELLO,
            Buffer::TlsCertSubject
            | Buffer::TlsCertIssuer
            | Buffer::TlsCertSerial
            | Buffer::TlsCertFingerprint
            | Buffer::TlsCerts
            | Buffer::TlsSubjectAltName => part::CERTIFICATE,
            _ => 0,
        }
    }

    /// Whether this is an HTTP buffer.
    pub fn is_http(self) -> bool {
        self != Buffer::Payload && !self.is_dns() && self.tls_parts() == 0
    }
}

/// One `content` with its modifiers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Content {
    /// Bytes to find.
    pub pattern: Vec<u8>,
    /// `content:!"..."`: the pattern must not be there.
    pub negated: bool,
    /// Case-insensitive.
    pub nocase: bool,
    /// Absolute: search starts here.
    pub offset: Option<u32>,
    /// Absolute: search region length from `offset`.
    pub depth: Option<u32>,
    /// Relative: start this far after the previous match.
    pub distance: Option<i32>,
    /// Relative: match must end within this many bytes after `distance`.
    pub within: Option<u32>,
    /// Must start the buffer.
    pub startswith: bool,
    /// Must end the buffer.
    pub endswith: bool,
    /// Chosen explicitly as the prefilter pattern.
    pub fast_pattern: bool,
}

impl Content {
    /// Relative to the previous match.
    pub fn is_relative(&self) -> bool {
        self.distance.is_some() || self.within.is_some()
    }
}

/// A `pcre` on the regex crate.
#[derive(Debug, Clone)]
pub struct Pcre {
    /// The compiled expression (flags folded in).
    pub regex: PcreProgram,
    /// `pcre:!"..."`.
    pub negated: bool,
    /// `/R`: search from the end of the previous match.
    pub relative: bool,
}

/// A compiled `pcre` expression: the regex crate where it can express it (linear time
/// whatever the input), else PCRE2 (back-references, look-around, Perl's inline flags)
/// with JIT and Suricata's match limits, so a hostile payload cannot make one inspection
/// slow.
#[derive(Debug, Clone)]
pub enum PcreProgram {
    /// The regex crate.
    Regex(regex::bytes::Regex),
    /// PCRE2 (Debian's libpcre2).
    Pcre2(std::sync::Arc<pcre2::bytes::Regex>),
}

impl PcreProgram {
    /// The end of the first match in `hay`, if any. PCRE2 stopping at its match limit
    /// counts as no match, as in Suricata.
    pub fn find_end(&self, hay: &[u8]) -> Option<usize> {
        match self {
            PcreProgram::Regex(r) => r.find(hay).map(|m| m.end()),
            PcreProgram::Pcre2(r) => r.find_at(hay, 0).ok().flatten().map(|m| m.end()),
        }
    }
}

/// A size comparison (`dsize`, `bsize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeCheck {
    /// Exactly.
    Eq(u32),
    /// Not equal.
    Ne(u32),
    /// Less than.
    Lt(u32),
    /// Greater than.
    Gt(u32),
    /// Strictly between.
    Between(u32, u32),
}

impl SizeCheck {
    /// Whether `n` passes.
    pub fn check(self, n: usize) -> bool {
        let n = n as u64;
        match self {
            SizeCheck::Eq(v) => n == u64::from(v),
            SizeCheck::Ne(v) => n != u64::from(v),
            SizeCheck::Lt(v) => n < u64::from(v),
            SizeCheck::Gt(v) => n > u64::from(v),
            SizeCheck::Between(a, b) => n > u64::from(a) && n < u64::from(b),
        }
    }
}

/// Whose stream a `stream_size` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamSide {
    /// What the client sent.
    Client,
    /// What the server sent.
    Server,
    /// Both directions pass.
    Both,
    /// Either direction passes.
    Either,
}

/// `stream_size:SIDE,OP,N`: the bytes a side of a TCP connection sent so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSize {
    /// Which side.
    pub side: StreamSide,
    /// The comparison.
    pub check: SizeCheck,
}

impl StreamSize {
    /// Whether the sizes sent by the client and by the server pass.
    pub fn check(self, client: usize, server: usize) -> bool {
        match self.side {
            StreamSide::Client => self.check.check(client),
            StreamSide::Server => self.check.check(server),
            StreamSide::Both => self.check.check(client) && self.check.check(server),
            StreamSide::Either => self.check.check(client) || self.check.check(server),
        }
    }
}

/// One condition inside a buffer, in rule order.
#[derive(Debug, Clone)]
pub enum Condition {
    /// A content match.
    Content(Content),
    /// A regular expression.
    Pcre(Pcre),
    /// `isdataat`.
    IsDataAt {
        /// Position.
        pos: u32,
        /// From the previous match's end.
        relative: bool,
        /// `isdataat:!n`.
        negated: bool,
    },
    /// `byte_test`.
    ByteTest(ByteTest),
    /// `byte_jump`.
    ByteJump(ByteJump),
}

/// How `byte_test` and `byte_jump` read a number from the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteRead {
    /// Bytes read: 1-8 as a binary number, 1-20 as a string.
    pub nbytes: u8,
    /// Where the number starts (from the previous match's end when `relative`).
    pub offset: i32,
    /// From the previous match's end.
    pub relative: bool,
    /// `little`: least significant byte first (binary numbers; the default is `big`).
    pub little_endian: bool,
    /// `string` with its base (`dec` 10 by default, `hex` 16, `oct` 8): the bytes are
    /// digits, not a binary number.
    pub string_base: Option<u32>,
    /// `bitmask`: the number is ANDed with it and shifted right by its trailing zeros.
    pub bitmask: Option<u64>,
}

/// `byte_test`: a number read from the buffer, compared with a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteTest {
    /// The number.
    pub read: ByteRead,
    /// The comparison.
    pub op: ByteOp,
    /// `!` before the operator: the comparison must fail.
    pub negated: bool,
    /// The value compared with.
    pub value: u64,
}

/// `byte_jump`: a number read from the buffer moves the position later relative
/// conditions start from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteJump {
    /// The number.
    pub read: ByteRead,
    /// `multiplier`: the number is multiplied by it (default 1).
    pub multiplier: u32,
    /// `align`: the jump is rounded up to a multiple of 4.
    pub align: bool,
    /// Where the jump counts from.
    pub from: JumpFrom,
    /// `post_offset`: added to the jump.
    pub post_offset: i32,
}

/// Where a `byte_jump` counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JumpFrom {
    /// The end of the bytes read (the default).
    AfterNumber,
    /// `from_beginning`: the buffer's start.
    Beginning,
    /// `from_end`: the buffer's end.
    End,
}

/// A `byte_test` operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOp {
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `=` (and `!` alone, negated)
    Eq,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `&`: some bit of the value is set in the number.
    And,
    /// `^`: the number differs from the value in some bit.
    Xor,
}

/// The conditions on one buffer.
#[derive(Debug, Clone)]
pub struct BufferConditions {
    /// Which buffer.
    pub buffer: Buffer,
    /// Conditions in order.
    pub conditions: Vec<Condition>,
    /// `bsize`.
    pub bsize: Option<SizeCheck>,
}

/// `flow:` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowOptions {
    /// `Some(true)`: to_server; `Some(false)`: to_client.
    pub to_server: Option<bool>,
    /// `Some(true)`: established; `Some(false)`: not_established.
    pub established: Option<bool>,
    /// `Some(true)`: only_stream; `Some(false)`: no_stream.
    pub stream: Option<bool>,
    /// The rule has a `flow` keyword (even one that checks nothing, `stateless`).
    pub given: bool,
}

/// How `flags:` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagsMode {
    /// Exactly these flags (after the mask).
    Exact,
    /// `+`: at least these.
    All,
    /// `*`: any of these.
    Any,
    /// `!`: not these.
    Not,
}

/// `flags:` (`tcp.flags:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagsCheck {
    /// Flag bits named.
    pub bits: u8,
    /// Bits ignored.
    pub ignore: u8,
    /// Comparison.
    pub mode: FlagsMode,
}

impl FlagsCheck {
    /// Whether a TCP flags byte passes.
    pub fn check(self, flags: u8) -> bool {
        let f = flags & !self.ignore;
        match self.mode {
            FlagsMode::Exact => f == self.bits,
            FlagsMode::All => f & self.bits == self.bits,
            FlagsMode::Any => f & self.bits != 0,
            FlagsMode::Not => f & self.bits == 0,
        }
    }
}

/// `flowbits:` operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowbitOp {
    /// Set the bits on a match.
    Set,
    /// Clear them.
    Unset,
    /// Flip them.
    Toggle,
    /// Condition: set.
    IsSet,
    /// Condition: not set.
    IsNotSet,
}

/// One `flowbits:` keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flowbit {
    /// Operation.
    pub op: FlowbitOp,
    /// Bit indices (names are interned at compile time).
    pub bits: Vec<u16>,
    /// For conditions over several names: `|` (any) rather than `&` (all).
    pub any: bool,
}

/// What an `xbits` bit is kept for: the packet's source address, its destination
/// address, or the pair of them (either way round).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XbitTrack {
    /// `track ip_src`.
    IpSrc,
    /// `track ip_dst`.
    IpDst,
    /// `track ip_pair`.
    IpPair,
}

/// One `xbits:` keyword: a named bit kept per host or host pair, across flows, for
/// `expire` seconds after it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xbit {
    /// Operation.
    pub op: FlowbitOp,
    /// The bit's name.
    pub name: std::sync::Arc<str>,
    /// What it is kept for.
    pub track: XbitTrack,
    /// Seconds it lives once set (Suricata's default: 30).
    pub expire_secs: u32,
}

/// One `flowint:` keyword: an integer variable of the flow, changed by a matching rule
/// or compared as a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flowint {
    /// The variable's name.
    pub name: std::sync::Arc<str>,
    /// What the keyword does.
    pub op: FlowintOp,
}

/// What a `flowint` does: change the variable (when the rule matches) or test it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowintOp {
    /// `=`: set it.
    Set(u32),
    /// `+`: add (from 0 when unset), saturating.
    Add(u32),
    /// `-`: subtract, saturating at 0.
    Sub(u32),
    /// `isset`.
    IsSet,
    /// `notset` / `isnotset`.
    NotSet,
    /// `==`, `!=`, `<`, `<=`, `>`, `>=` against a value (false when unset).
    Compare(std::cmp::Ordering, bool, u32),
}

/// A number that must (or, negated, must not) be equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumCheck {
    /// The value.
    pub value: u16,
    /// `!value`.
    pub negated: bool,
}

impl NumCheck {
    /// Whether `n` passes.
    pub fn check(self, n: u16) -> bool {
        (n == self.value) != self.negated
    }
}

/// Conditions on a DNS message's header and question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DnsChecks {
    /// `dns.opcode`.
    pub opcode: Option<NumCheck>,
    /// `dns.rrtype` (the first question's type).
    pub rrtype: Option<NumCheck>,
}

impl DnsChecks {
    /// Whether the rule has any.
    pub fn any(&self) -> bool {
        self.opcode.is_some() || self.rrtype.is_some()
    }
}

/// What a threshold counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Track {
    /// Per source address.
    BySrc,
    /// Per destination address.
    ByDst,
    /// Per rule.
    ByRule,
    /// Per source and destination pair.
    ByBoth,
}

/// `threshold` / `detection_filter` kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdKind {
    /// Alert on the first `count` matches per window.
    Limit,
    /// Alert on every `count`-th match per window.
    Threshold,
    /// Alert once per window after `count` matches.
    Both,
    /// `detection_filter`: alert on every match after `count` in the window.
    DetectionFilter,
}

/// An alert rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    /// Kind.
    pub kind: ThresholdKind,
    /// What is counted.
    pub track: Track,
    /// Count.
    pub count: u32,
    /// Window.
    pub seconds: u32,
}

/// A parsed rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Action.
    pub action: Action,
    /// Protocol.
    pub protocol: Protocol,
    /// Source addresses.
    pub src: AddrSpec,
    /// Source ports.
    pub src_ports: PortSpec,
    /// `<>`: either direction.
    pub bidirectional: bool,
    /// Destination addresses.
    pub dst: AddrSpec,
    /// Destination ports.
    pub dst_ports: PortSpec,
    /// `src` as ranges (what the data path tests).
    pub src_set: AddrSet,
    /// `dst` as ranges (what the data path tests).
    pub dst_set: AddrSet,
    /// Signature id.
    pub sid: u32,
    /// Generator id.
    pub gid: u32,
    /// Revision.
    pub rev: u32,
    /// Message.
    pub msg: String,
    /// Class type.
    pub classtype: Option<String>,
    /// Explicit priority (overrides the classtype's).
    pub priority: Option<u8>,
    /// `reference:` values, kept for output.
    pub references: Vec<String>,
    /// `metadata:` values, kept for output.
    pub metadata: Vec<String>,
    /// Conditions per buffer.
    pub buffers: Vec<BufferConditions>,
    /// `flow:`.
    pub flow: FlowOptions,
    /// `flags:`.
    pub flags: Option<FlagsCheck>,
    /// `dsize:`.
    pub dsize: Option<SizeCheck>,
    /// `stream_size:`.
    pub stream_size: Option<StreamSize>,
    /// `itype:` (ICMP and ICMPv6 type).
    pub icmp_type: Option<SizeCheck>,
    /// `icode:` (ICMP and ICMPv6 code).
    pub icmp_code: Option<SizeCheck>,
    /// `tls.version:` (0x0301 for `1.0` ... 0x0304 for `1.3`).
    pub tls_version: Option<u16>,
    /// `flowbits:`.
    pub flowbits: Vec<Flowbit>,
    /// `xbits:`.
    pub xbits: Vec<Xbit>,
    /// `flowint:`.
    pub flowints: Vec<Flowint>,
    /// `flowbits:noalert`.
    pub noalert: bool,
    /// `threshold:`.
    pub threshold: Option<Threshold>,
    /// `detection_filter:`.
    pub detection_filter: Option<Threshold>,
    /// `dns.opcode` and `dns.rrtype`.
    pub dns: DnsChecks,
    /// Where it came from.
    pub origin: Origin,
    /// Suricata's IP-only rule: checked on the first packet of each direction of a
    /// flow only (see [`Rule::qualifies_as_ip_only`]). Set by the parser.
    pub ip_only: bool,
}

/// Which TCP payload a rule's `Payload` conditions see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadView {
    /// The segment with the flow's in-order stream window before it (the default).
    Stream,
    /// The same, and the rule matches only TCP segments that carry payload
    /// (`flow:only_stream`, protocol `tcp-stream`).
    StreamOnly,
    /// The packet's own payload, never the stream window (`flow:no_stream`, protocol
    /// `tcp-pkt`).
    Packet,
}

impl Rule {
    /// Whether Suricata would make this an IP-only rule: addresses and nothing of the
    /// packet or flow: no buffer conditions, `flow`, `flags`, `dsize` or DNS keyword, no
    /// flowbits but `set`, no application protocol, and for TCP or UDP both ports `any`.
    /// Suricata evaluates such a rule on the first packet of each direction of a flow,
    /// not on every packet; the engine does the same.
    pub fn qualifies_as_ip_only(&self) -> bool {
        let ports_any = self.src_ports == PortSpec::Any && self.dst_ports == PortSpec::Any;
        let protocol_ok = match self.protocol {
            Protocol::Ip | Protocol::Icmp => true,
            Protocol::Tcp | Protocol::TcpPkt | Protocol::TcpStream | Protocol::Udp => ports_any,
            Protocol::Http | Protocol::Dns | Protocol::Tls => false,
        };
        protocol_ok
            && self.buffers.is_empty()
            && !self.flow.given
            && self.flags.is_none()
            && self.dsize.is_none()
            && self.stream_size.is_none()
            && self.icmp_type.is_none()
            && self.icmp_code.is_none()
            && self.tls_version.is_none()
            && !self.dns.any()
            && self.flowbits.iter().all(|f| f.op == FlowbitOp::Set)
            && self.xbits.is_empty()
            && self.flowints.is_empty()
    }

    /// The payload view: `flow:only_stream` or `no_stream` where given, else what the
    /// protocol (`tcp-stream`, `tcp-pkt`) says, else [`PayloadView::Stream`].
    pub fn payload_view(&self) -> PayloadView {
        match (self.flow.stream, self.protocol) {
            (Some(true), _) | (None, Protocol::TcpStream) => PayloadView::StreamOnly,
            (Some(false), _) | (None, Protocol::TcpPkt) => PayloadView::Packet,
            (None, _) => PayloadView::Stream,
        }
    }
}

/// A rule's file and line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// File (as given).
    pub file: String,
    /// 1-based line.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}
