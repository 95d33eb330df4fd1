//! The Suricata rule language (the subset real rule sets use) into [`Rule`]s.
//!
//! A rule that uses anything outside the subset is rejected with a [`RuleError`] naming
//! the keyword, so an operator sees exactly what did not load and why; the rest of the
//! file still loads. Parsing never panics on any input. This module splits a rule into
//! its header and options and applies each option; the keyword families that need more
//! than a line have their own modules ([`content`], [`packet`], [`byte_ops`],
//! [`threshold`], [`pcre`]).

mod byte_ops;
mod content;
mod packet;
mod pcre;
mod threshold;

use std::collections::HashMap;

use super::ast::*;
use super::netspec::{AddrSet, Vars};
use byte_ops::{parse_byte_jump, parse_byte_test};
pub use content::parse_content;
use content::unquote;
use packet::{parse_flags, parse_flow, parse_flowint, parse_size, parse_stream_size, parse_xbits};
use pcre::parse_pcre;
use threshold::parse_threshold;

/// Why one rule did not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// Where the rule is.
    pub origin: Origin,
    /// Its sid, if that much parsed.
    pub sid: Option<u32>,
    /// The keyword (or header part) at fault; `syntax` for malformed text.
    pub keyword: String,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(sid) = self.sid {
            write!(f, " sid {sid}")?;
        }
        write!(f, ": {}: {}", self.keyword, self.reason)
    }
}

/// Interns flowbit names to small integers, shared across one ruleset.
#[derive(Debug, Default, Clone)]
pub struct FlowbitNames {
    names: HashMap<String, u16>,
}

impl FlowbitNames {
    /// The index of `name`, allocating one if new.
    pub fn intern(&mut self, name: &str) -> Result<u16, String> {
        if let Some(&i) = self.names.get(name) {
            return Ok(i);
        }
        let i = u16::try_from(self.names.len()).map_err(|_| "too many flowbits".to_string())?;
        self.names.insert(name.to_owned(), i);
        Ok(i)
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no name was interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

impl FlowbitNames {
    /// Every name with its index.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u16)> + '_ {
        self.names.iter().map(|(n, &i)| (n.as_str(), i))
    }
}

/// Compiled `pcre` expressions by their option text (expression and flags, as written).
/// Building the regex crate's automata is most of the cost of parsing a large rule set, so
/// a reload hands the previous load's cache to the parser and recompiles only new
/// expressions. A cache holds the expressions of one load: bounded by the rule set.
#[derive(Debug, Default, Clone)]
pub struct RegexCache {
    compiled: HashMap<String, PcreProgram>,
}

impl RegexCache {
    /// Number of expressions held.
    pub fn len(&self) -> usize {
        self.compiled.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.compiled.is_empty()
    }

    /// Adds every expression of `other`.
    pub fn extend(&mut self, other: RegexCache) {
        self.compiled.extend(other.compiled);
    }
}

/// What parsing shares between rules: flowbit names are interned in `flowbits`; `pcre`
/// expressions are taken from `previous` when their text is the same, else compiled, and
/// recorded in `used` either way (the cache for the next load).
#[derive(Debug)]
pub struct ParseState<'a> {
    /// Flowbit names of this load.
    pub flowbits: &'a mut FlowbitNames,
    /// An earlier load's expressions (read only).
    pub previous: &'a RegexCache,
    /// The expressions this load uses.
    pub used: &'a mut RegexCache,
}

impl ParseState<'_> {
    fn regex(
        &mut self,
        text: &str,
        compile: impl FnOnce() -> Result<PcreProgram, String>,
    ) -> Result<PcreProgram, String> {
        if let Some(r) = self.used.compiled.get(text) {
            return Ok(r.clone());
        }
        let regex = match self.previous.compiled.get(text) {
            Some(r) => r.clone(),
            None => compile()?,
        };
        self.used.compiled.insert(text.to_owned(), regex.clone());
        Ok(regex)
    }
}

struct Fail {
    keyword: String,
    reason: String,
}

fn fail<T>(keyword: &str, reason: impl Into<String>) -> Result<T, Fail> {
    Err(Fail {
        keyword: keyword.to_owned(),
        reason: reason.into(),
    })
}

/// Parses one rule's text (without a trailing newline).
pub fn parse_rule(
    text: &str,
    origin: Origin,
    vars: &Vars,
    state: &mut ParseState<'_>,
) -> Result<Rule, RuleError> {
    let mut sid = None;
    parse_inner(text, origin.clone(), vars, state, &mut sid).map_err(|f| RuleError {
        origin,
        sid,
        keyword: f.keyword,
        reason: f.reason,
    })
}

fn parse_inner(
    text: &str,
    origin: Origin,
    vars: &Vars,
    state: &mut ParseState<'_>,
    sid_out: &mut Option<u32>,
) -> Result<Rule, Fail> {
    let Some(open) = text.find('(') else {
        return fail("syntax", "no option list '('");
    };
    let body = text[open + 1..].trim_end();
    let body = match body.strip_suffix(')') {
        Some(b) => b,
        None => return fail("syntax", "option list does not end with ')'"),
    };
    let options = split_options(body).map_err(|r| Fail {
        keyword: "syntax".into(),
        reason: r,
    })?;
    // The sid first, so every later error can name it.
    for (k, v) in &options {
        if *k == "sid" {
            *sid_out = v.and_then(|v| v.trim().parse().ok());
        }
    }

    let header: Vec<&str> = text[..open].split_whitespace().collect();
    if header.len() != 7 {
        return fail(
            "header",
            format!("expected 7 header fields, found {}", header.len()),
        );
    }
    let action = match header[0] {
        "alert" => Action::Alert,
        "drop" => Action::Drop,
        "reject" | "rejectsrc" | "rejectdst" | "rejectboth" => Action::Reject,
        "pass" => Action::Pass,
        other => return fail("action", format!("unsupported action {other:?}")),
    };
    let protocol = match header[1] {
        "ip" | "pkthdr" => Protocol::Ip,
        "tcp" => Protocol::Tcp,
        "tcp-pkt" => Protocol::TcpPkt,
        "tcp-stream" => Protocol::TcpStream,
        "udp" => Protocol::Udp,
        "icmp" | "icmpv4" | "icmpv6" => Protocol::Icmp,
        "dns" => Protocol::Dns,
        "http" | "http1" => Protocol::Http,
        "tls" => Protocol::Tls,
        other => {
            return fail(
                &format!("protocol {other}"),
                "application protocol not supported",
            )
        }
    };
    let addr = |t: &str| {
        vars.address(t).map_err(|r| Fail {
            keyword: "address".into(),
            reason: r.to_string(),
        })
    };
    let ports = |t: &str| {
        vars.ports(t).map_err(|r| Fail {
            keyword: "port".into(),
            reason: r.to_string(),
        })
    };
    let src = addr(header[2])?;
    let src_ports = ports(header[3])?;
    let bidirectional = match header[4] {
        "->" => false,
        "<>" => true,
        other => return fail("direction", format!("expected -> or <>, found {other:?}")),
    };
    let dst = addr(header[5])?;
    let dst_ports = ports(header[6])?;

    let mut rule = Rule {
        action,
        protocol,
        src_set: AddrSet::of(&src),
        dst_set: AddrSet::of(&dst),
        src,
        src_ports,
        bidirectional,
        dst,
        dst_ports,
        sid: 0,
        gid: 1,
        rev: 0,
        msg: String::new(),
        classtype: None,
        priority: None,
        references: Vec::new(),
        metadata: Vec::new(),
        buffers: Vec::new(),
        flow: FlowOptions::default(),
        flags: None,
        dsize: None,
        stream_size: None,
        icmp_type: None,
        icmp_code: None,
        tls_version: None,
        flowbits: Vec::new(),
        xbits: Vec::new(),
        flowints: Vec::new(),
        noalert: false,
        threshold: None,
        detection_filter: None,
        dns: Default::default(),
        origin,
        ip_only: false,
    };
    let mut builder = ConditionBuilder::default();
    for (key, value) in options {
        apply_option(&mut rule, &mut builder, state, key, value)?;
    }
    if rule.sid == 0 {
        return fail("sid", "missing or zero sid");
    }
    rule.buffers = builder.finish();
    host_contents_are_lowercase(&rule.buffers)?;
    rule.ip_only = rule.qualifies_as_ip_only();
    Ok(rule)
}

/// As Suricata 7: the host buffer is lowercased, so a content in it must be lowercase
/// (an uppercase letter could never match) and `nocase` is refused as redundant.
fn host_contents_are_lowercase(buffers: &[BufferConditions]) -> Result<(), Fail> {
    let host = buffers.iter().filter(|b| b.buffer == Buffer::HttpHost);
    for c in host.flat_map(|b| &b.conditions) {
        let Condition::Content(c) = c else { continue };
        if c.nocase {
            return fail(
                "http.host",
                "nocase is redundant: the host buffer is lowercase (write the content in lowercase)",
            );
        }
        if c.pattern.iter().any(u8::is_ascii_uppercase) {
            return fail(
                "http.host",
                "a content has uppercase letters, but the host buffer is lowercase (write it in lowercase)",
            );
        }
    }
    Ok(())
}

/// Splits the option body at `;` outside quotes; returns (keyword, value) pairs.
fn split_options(body: &str) -> Result<Vec<(&str, Option<&str>)>, String> {
    let mut out = Vec::new();
    let bytes = body.as_bytes();
    let mut start = 0;
    let mut in_quotes = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'"' => in_quotes = !in_quotes,
            b';' if !in_quotes => {
                push_option(&mut out, &body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if in_quotes {
        return Err("unterminated quoted string".into());
    }
    if !body[start.min(body.len())..].trim().is_empty() {
        return Err("last option is not terminated by ';'".into());
    }
    Ok(out)
}

fn push_option<'a>(out: &mut Vec<(&'a str, Option<&'a str>)>, opt: &'a str) {
    let opt = opt.trim();
    if opt.is_empty() {
        return;
    }
    match opt.split_once(':') {
        Some((k, v)) => out.push((k.trim(), Some(v.trim()))),
        None => out.push((opt, None)),
    }
}

/// Collects conditions in rule order, tracking the sticky buffer and the last content.
#[derive(Default)]
struct ConditionBuilder {
    current: Option<Buffer>,
    items: Vec<(Buffer, Condition)>,
    bsize: Vec<(Buffer, SizeCheck)>,
}

impl ConditionBuilder {
    fn buffer(&self) -> Buffer {
        self.current.unwrap_or(Buffer::Payload)
    }

    /// The content a modifier applies to: the last one given, whatever other keywords
    /// came after it (`content:"x"; isdataat:!1,relative; nocase;`), as Suricata finds it.
    fn last_content(&mut self, keyword: &str) -> Result<&mut Content, Fail> {
        match self.items.iter_mut().rev().find_map(|(_, c)| match c {
            Condition::Content(c) => Some(c),
            _ => None,
        }) {
            Some(c) => Ok(c),
            None => fail(keyword, "must follow a content"),
        }
    }

    /// A legacy modifier (`http_uri`, ...) moves the last content to its buffer.
    fn move_last(&mut self, keyword: &str, to: Buffer) -> Result<(), Fail> {
        match self.items.last_mut() {
            Some((b, Condition::Content(_))) => {
                *b = to;
                Ok(())
            }
            _ => fail(keyword, "must follow a content"),
        }
    }

    fn finish(self) -> Vec<BufferConditions> {
        let mut out: Vec<BufferConditions> = Vec::new();
        for (buffer, cond) in self.items {
            match out.iter_mut().find(|b| b.buffer == buffer) {
                Some(b) => b.conditions.push(cond),
                None => out.push(BufferConditions {
                    buffer,
                    conditions: vec![cond],
                    bsize: None,
                }),
            }
        }
        for (buffer, size) in self.bsize {
            match out.iter_mut().find(|b| b.buffer == buffer) {
                Some(b) => b.bsize = Some(size),
                None => out.push(BufferConditions {
                    buffer,
                    conditions: Vec::new(),
                    bsize: Some(size),
                }),
            }
        }
        out
    }
}

fn need<'a>(key: &str, value: Option<&'a str>) -> Result<&'a str, Fail> {
    match value {
        Some(v) => Ok(v),
        None => fail(key, "needs a value"),
    }
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, Fail> {
    value
        .trim()
        .parse()
        .or_else(|_| fail(key, format!("{value:?} is not a number here")))
}

fn apply_option(
    rule: &mut Rule,
    b: &mut ConditionBuilder,
    state: &mut ParseState<'_>,
    key: &str,
    value: Option<&str>,
) -> Result<(), Fail> {
    match key {
        "msg" => rule.msg = unquote(need(key, value)?, key)?,
        "sid" => rule.sid = number(key, need(key, value)?)?,
        "rev" => rule.rev = number(key, need(key, value)?)?,
        "gid" => rule.gid = number(key, need(key, value)?)?,
        "classtype" => rule.classtype = Some(need(key, value)?.to_owned()),
        "priority" => rule.priority = Some(number(key, need(key, value)?)?),
        "reference" => rule.references.push(need(key, value)?.to_owned()),
        "metadata" => rule
            .metadata
            .extend(need(key, value)?.split(',').map(|s| s.trim().to_owned())),
        "target" => {}
        "content" => {
            let v = need(key, value)?;
            let (negated, v) = match v.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, v),
            };
            let pattern = parse_content(v).or_else(|r| fail(key, r))?;
            if pattern.is_empty() {
                return fail(key, "empty pattern");
            }
            b.items.push((
                b.buffer(),
                Condition::Content(Content {
                    pattern,
                    negated,
                    ..Default::default()
                }),
            ));
        }
        "nocase" => b.last_content(key)?.nocase = true,
        "rawbytes" => {
            b.last_content(key)?;
        }
        "fast_pattern" => b.last_content(key)?.fast_pattern = true,
        "depth" | "within" => {
            let n = number(key, need(key, value)?)?;
            let c = b.last_content(key)?;
            // As Suricata: a window narrower than the pattern could never match.
            if (n as usize) < c.pattern.len() {
                return fail(
                    key,
                    format!(
                        "{n} is smaller than the content ({} bytes)",
                        c.pattern.len()
                    ),
                );
            }
            match key {
                "depth" => c.depth = Some(n),
                _ => c.within = Some(n),
            }
        }
        "offset" => b.last_content(key)?.offset = Some(number(key, need(key, value)?)?),
        "distance" => b.last_content(key)?.distance = Some(number(key, need(key, value)?)?),
        "startswith" => b.last_content(key)?.startswith = true,
        "endswith" => b.last_content(key)?.endswith = true,
        "isdataat" => {
            let v = need(key, value)?;
            let mut parts = v.split(',').map(str::trim);
            let first = parts.next().unwrap_or("");
            let (negated, pos) = match first.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, first),
            };
            let pos = number(key, pos)?;
            let mut relative = false;
            for p in parts {
                match p {
                    "relative" => relative = true,
                    "rawbytes" => {}
                    other => return fail(key, format!("unsupported option {other:?}")),
                }
            }
            b.items.push((
                b.buffer(),
                Condition::IsDataAt {
                    pos,
                    relative,
                    negated,
                },
            ));
        }
        "byte_test" => {
            let test = parse_byte_test(need(key, value)?).or_else(|r| fail(key, r))?;
            b.items.push((b.buffer(), Condition::ByteTest(test)));
        }
        "byte_jump" => {
            let jump = parse_byte_jump(need(key, value)?).or_else(|r| fail(key, r))?;
            b.items.push((b.buffer(), Condition::ByteJump(jump)));
        }
        "bsize" => {
            let check = parse_size(need(key, value)?).or_else(|r| fail(key, r))?;
            b.bsize.push((b.buffer(), check));
        }
        "dns.opcode" => {
            let v = need(key, value)?;
            let (negated, n) = match v.strip_prefix('!') {
                Some(n) => (true, n.trim()),
                None => (false, v),
            };
            let value = n
                .parse::<u8>()
                .ok()
                .filter(|&o| o < 16)
                .ok_or(())
                .or_else(|_| fail(key, "expected an opcode 0-15"))?;
            rule.dns.opcode = Some(NumCheck {
                value: u16::from(value),
                negated,
            });
        }
        "dns.rrtype" => {
            let v = need(key, value)?;
            let (negated, t) = match v.strip_prefix('!') {
                Some(t) => (true, t.trim()),
                None => (false, v),
            };
            let value = crate::proto::dns::rrtype_from_str(t)
                .ok_or(())
                .or_else(|_| fail(key, "expected a record type name or number"))?;
            rule.dns.rrtype = Some(NumCheck { value, negated });
        }
        "dsize" => rule.dsize = Some(parse_size(need(key, value)?).or_else(|r| fail(key, r))?),
        // suricata-update writes a standalone `noalert` into rules it enabled only for the
        // flowbits other rules test: the rule matches and sets its bits, never alerts.
        "noalert" => rule.noalert = true,
        "itype" => rule.icmp_type = Some(parse_size(need(key, value)?).or_else(|r| fail(key, r))?),
        "icode" => rule.icmp_code = Some(parse_size(need(key, value)?).or_else(|r| fail(key, r))?),
        "tls.version" => {
            rule.tls_version = Some(match need(key, value)?.trim() {
                "1.0" => 0x0301,
                "1.1" => 0x0302,
                "1.2" => 0x0303,
                "1.3" => 0x0304,
                "3.0" | "ssl3" => 0x0300,
                other => return fail(key, format!("unknown version {other:?}")),
            })
        }
        "stream_size" => {
            rule.stream_size =
                Some(parse_stream_size(need(key, value)?).or_else(|r| fail(key, r))?);
        }
        "pcre" => {
            let (buffer, pcre) = parse_pcre(need(key, value)?, state).or_else(|r| fail(key, r))?;
            b.items
                .push((buffer.unwrap_or(b.buffer()), Condition::Pcre(pcre)));
        }
        "pkt_data" => b.current = None,
        "http.uri" => b.current = Some(Buffer::HttpUri),
        "http.uri.raw" => b.current = Some(Buffer::HttpUriRaw),
        "http.start" => b.current = Some(Buffer::HttpStart),
        "http.header.raw" => b.current = Some(Buffer::HttpHeaderRaw),
        "http.protocol" => b.current = Some(Buffer::HttpProtocol),
        "http.content_len" => b.current = Some(Buffer::HttpContentLen),
        "http.location" => b.current = Some(Buffer::HttpLocation),
        "http.accept_enc" => b.current = Some(Buffer::HttpAcceptEnc),
        "http.accept_lang" => b.current = Some(Buffer::HttpAcceptLang),
        "http.connection" => b.current = Some(Buffer::HttpConnection),
        "http.request_header" => b.current = Some(Buffer::HttpRequestHeader),
        "http.response_header" => b.current = Some(Buffer::HttpResponseHeader),
        "http_raw_uri" => b.move_last(key, Buffer::HttpUriRaw)?,
        "http_raw_header" => b.move_last(key, Buffer::HttpHeaderRaw)?,
        "http.method" => b.current = Some(Buffer::HttpMethod),
        "http.host" => b.current = Some(Buffer::HttpHost),
        "http.user_agent" => b.current = Some(Buffer::HttpUserAgent),
        "http.header" => b.current = Some(Buffer::HttpHeader),
        "http.request_line" => b.current = Some(Buffer::HttpRequestLine),
        "http.request_body" => b.current = Some(Buffer::HttpRequestBody),
        "http.cookie" => b.current = Some(Buffer::HttpCookie),
        "http.content_type" => b.current = Some(Buffer::HttpContentType),
        "http.referer" => b.current = Some(Buffer::HttpReferer),
        "http.accept" => b.current = Some(Buffer::HttpAccept),
        "http.header_names" => b.current = Some(Buffer::HttpHeaderNames),
        "http.response_line" => b.current = Some(Buffer::HttpResponseLine),
        "http.stat_code" => b.current = Some(Buffer::HttpStatCode),
        "http.stat_msg" => b.current = Some(Buffer::HttpStatMsg),
        "http.server" => b.current = Some(Buffer::HttpServer),
        "http.response_body" => b.current = Some(Buffer::HttpResponseBody),
        "file_data" | "file.data" => b.current = Some(Buffer::FileData),
        "tls.sni" => b.current = Some(Buffer::TlsSni),
        "tls.cert_subject" => b.current = Some(Buffer::TlsCertSubject),
        "tls.cert_issuer" => b.current = Some(Buffer::TlsCertIssuer),
        "tls.cert_serial" => b.current = Some(Buffer::TlsCertSerial),
        "tls.cert_fingerprint" => b.current = Some(Buffer::TlsCertFingerprint),
        "tls.certs" => b.current = Some(Buffer::TlsCerts),
        "tls.subjectaltname" => b.current = Some(Buffer::TlsSubjectAltName),
        "ja3.hash" => b.current = Some(Buffer::Ja3Hash),
        "ja3.string" => b.current = Some(Buffer::Ja3String),
        "ja3s.hash" => b.current = Some(Buffer::Ja3sHash),
        "ja3s.string" => b.current = Some(Buffer::Ja3sString),
        // Legacy names of the same sticky buffers.
        "tls_sni" => b.current = Some(Buffer::TlsSni),
        "tls_cert_subject" => b.current = Some(Buffer::TlsCertSubject),
        "tls_cert_issuer" => b.current = Some(Buffer::TlsCertIssuer),
        "tls_cert_serial" => b.current = Some(Buffer::TlsCertSerial),
        "tls_cert_fingerprint" => b.current = Some(Buffer::TlsCertFingerprint),
        "ja3_hash" => b.current = Some(Buffer::Ja3Hash),
        "ja3_string" => b.current = Some(Buffer::Ja3String),
        "ja3s_hash" => b.current = Some(Buffer::Ja3sHash),
        "ja3s_string" => b.current = Some(Buffer::Ja3sString),
        // Value keywords of the legacy TLS syntax, as contents on their buffers:
        // `tls.fingerprint` compares the whole fingerprint, caseless; `tls.subject` and
        // `tls.issuerdn` look for the value in the name (`!` negates).
        "tls.fingerprint" | "tls.subject" | "tls.issuerdn" => {
            let v = need(key, value)?;
            let (negated, v) = match v.strip_prefix('!') {
                Some(v) => (true, unquote(v.trim(), key)?),
                None => (false, unquote(v, key)?),
            };
            let whole = key == "tls.fingerprint";
            let buffer = match key {
                "tls.fingerprint" => Buffer::TlsCertFingerprint,
                "tls.subject" => Buffer::TlsCertSubject,
                _ => Buffer::TlsCertIssuer,
            };
            let content = Content {
                pattern: v.as_bytes().to_vec(),
                negated,
                nocase: whole,
                startswith: whole,
                endswith: whole,
                ..Content::default()
            };
            b.items.push((buffer, Condition::Content(content)));
        }
        // `dns_query` is the legacy name of the same sticky buffer.
        "dns.query" | "dns_query" => b.current = Some(Buffer::DnsQuery),
        "dotprefix" => match b.current {
            // As in Suricata, a transform starts a new instance of the buffer: conditions
            // before it stay on the plain name.
            Some(Buffer::DnsQuery) => b.current = Some(Buffer::DnsQueryDotted),
            Some(Buffer::TlsSni) => b.current = Some(Buffer::TlsSniDotted),
            _ => return fail(key, "supported only on dns.query and tls.sni"),
        },
        "http_client_body" => b.move_last(key, Buffer::HttpRequestBody)?,
        "http_cookie" => b.move_last(key, Buffer::HttpCookie)?,
        "http_stat_code" => b.move_last(key, Buffer::HttpStatCode)?,
        "http_stat_msg" => b.move_last(key, Buffer::HttpStatMsg)?,
        "urilen" => {
            let v = need(key, value)?;
            let size = v.split(',').next().unwrap_or(v);
            let check = parse_size(size).or_else(|r| fail(key, r))?;
            b.bsize.push((Buffer::HttpUri, check));
        }
        "http_uri" => b.move_last(key, Buffer::HttpUri)?,
        "http_method" => b.move_last(key, Buffer::HttpMethod)?,
        "http_host" => b.move_last(key, Buffer::HttpHost)?,
        "http_user_agent" => b.move_last(key, Buffer::HttpUserAgent)?,
        "http_header" => b.move_last(key, Buffer::HttpHeader)?,
        "flow" => rule.flow = parse_flow(need(key, value)?).or_else(|r| fail(key, r))?,
        "flags" | "tcp.flags" => {
            rule.flags = Some(parse_flags(need(key, value)?).or_else(|r| fail(key, r))?)
        }
        "flowbits" => {
            let v = need(key, value)?;
            let (op, names) = match v.split_once(',') {
                Some((op, names)) => (op.trim(), Some(names.trim())),
                None => (v.trim(), None),
            };
            if op == "noalert" {
                rule.noalert = true;
                return Ok(());
            }
            let op = match op {
                "set" => FlowbitOp::Set,
                "unset" => FlowbitOp::Unset,
                "toggle" => FlowbitOp::Toggle,
                "isset" => FlowbitOp::IsSet,
                "isnotset" => FlowbitOp::IsNotSet,
                other => return fail(key, format!("unsupported operation {other:?}")),
            };
            let names = need(key, names)?;
            let any = names.contains('|');
            let mut bits = Vec::new();
            for n in names
                .split(['|', '&'])
                .map(str::trim)
                .filter(|n| !n.is_empty())
            {
                bits.push(state.flowbits.intern(n).or_else(|r| fail(key, r))?);
            }
            rule.flowbits.push(Flowbit { op, bits, any });
        }
        "xbits" => rule
            .xbits
            .push(parse_xbits(need(key, value)?).or_else(|r| fail(key, r))?),
        "flowint" => {
            let f = parse_flowint(need(key, value)?).or_else(|r| fail(key, r))?;
            rule.flowints.push(f);
        }
        "threshold" => {
            rule.threshold =
                Some(parse_threshold(need(key, value)?, None).or_else(|r| fail(key, r))?)
        }
        "detection_filter" => {
            rule.detection_filter = Some(
                parse_threshold(need(key, value)?, Some(ThresholdKind::DetectionFilter))
                    .or_else(|r| fail(key, r))?,
            )
        }
        other => return fail(other, "keyword not supported"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{load_text, Loaded};

    fn load(text: &str) -> Loaded {
        let mut loaded = Loaded::default();
        load_text(text, "t.rules", &Vars::default(), &mut loaded);
        loaded
    }

    fn one(text: &str) -> Rule {
        let mut l = load(text);
        assert!(l.rejected.is_empty(), "{:?}", l.rejected);
        l.rules.pop().expect("one rule")
    }

    #[test]
    fn header_and_metadata() {
        let r = one(
            r#"drop tcp $HOME_NET any <> [1.2.3.4,5.6.7.0/24] $HTTP_PORTS (msg:"a \"quoted\" msg"; sid:7; rev:3; gid:1; classtype:trojan-activity; priority:2; reference:cve,2021-44228; metadata:a 1, b 2;)"#,
        );
        assert_eq!(r.action, Action::Drop);
        assert_eq!(r.protocol, Protocol::Tcp);
        assert!(r.bidirectional);
        assert_eq!((r.sid, r.rev, r.gid), (7, 3, 1));
        assert_eq!(r.msg, "a \"quoted\" msg");
        assert_eq!(r.classtype.as_deref(), Some("trojan-activity"));
        assert_eq!(r.priority, Some(2));
        assert_eq!(r.metadata, vec!["a 1", "b 2"]);
        assert!(r.dst_ports.matches(80));
    }

    #[test]
    fn content_modifiers_attach_to_the_last_content() {
        let r = one(
            r#"alert tcp any any -> any any (content:"a|3b|b"; nocase; depth:10; offset:2; content:!"c\;d"; distance:1; within:5; fast_pattern; sid:1;)"#,
        );
        let Condition::Content(a) = &r.buffers[0].conditions[0] else {
            panic!()
        };
        let Condition::Content(c) = &r.buffers[0].conditions[1] else {
            panic!()
        };
        assert_eq!(a.pattern, b"a;b");
        assert!(a.nocase && a.depth == Some(10) && a.offset == Some(2));
        assert_eq!(c.pattern, b"c;d");
        assert!(c.negated && c.fast_pattern && c.distance == Some(1) && c.within == Some(5));
    }

    #[test]
    fn an_uppercase_or_nocase_host_content_is_rejected_as_suricata_does() {
        for rule in [
            r#"alert http any any -> any any (http.host; content:"Example.com"; sid:1;)"#,
            r#"alert http any any -> any any (content:"EXAMPLE"; http_host; sid:1;)"#,
            r#"alert http any any -> any any (http.host; content:"example"; nocase; sid:1;)"#,
        ] {
            let l = load(rule);
            assert_eq!(l.rejected.len(), 1, "{rule}");
            assert_eq!(l.rejected[0].keyword, "http.host");
        }
        one(r#"alert http any any -> any any (http.host; content:"example"; sid:1;)"#);
        one(r#"alert http any any -> any any (content:"EXAMPLE"; nocase; http_uri; sid:1;)"#);
    }

    #[test]
    fn a_depth_or_within_smaller_than_the_pattern_is_rejected_as_suricata_does() {
        for (rule, keyword) in [
            (
                r#"alert tcp any any -> any any (content:"abcd"; depth:2; sid:1;)"#,
                "depth",
            ),
            (
                r#"alert tcp any any -> any any (content:"a"; content:"bcd"; within:2; sid:1;)"#,
                "within",
            ),
        ] {
            let l = load(rule);
            assert_eq!(l.rejected.len(), 1, "{rule}");
            assert_eq!(l.rejected[0].keyword, keyword);
        }
        one(
            r#"alert tcp any any -> any any (content:"abcd"; depth:4; content:"e"; within:1; sid:1;)"#,
        );
    }

    #[test]
    fn byte_test_and_byte_jump_options_parse_and_unsupported_ones_reject_the_rule() {
        let r = one(
            r#"alert udp any any -> any 53 (byte_test:2,!>=,0x10,-2,relative,little,bitmask 0xff00; sid:1;)"#,
        );
        let Condition::ByteTest(t) = &r.buffers[0].conditions[0] else {
            panic!()
        };
        assert_eq!(
            (t.read.nbytes, t.op, t.negated, t.value),
            (2, ByteOp::Ge, true, 16)
        );
        let r = &t.read;
        assert!(r.relative && r.little_endian && r.bitmask == Some(0xff00) && r.offset == -2);
        let t = one(r#"alert tcp any any -> any any (byte_test:20,<,5,0,string,hex; sid:1;)"#);
        let Condition::ByteTest(t) = &t.buffers[0].conditions[0] else {
            panic!()
        };
        assert_eq!(t.read.string_base, Some(16));
        let j = one(
            r#"alert tcp any any -> any any (byte_jump:4,2,relative,little,multiplier 2,align,from_end,post_offset -3; sid:1;)"#,
        );
        let Condition::ByteJump(j) = &j.buffers[0].conditions[0] else {
            panic!()
        };
        assert_eq!(
            (j.multiplier, j.align, j.from, j.post_offset),
            (2, true, JumpFrom::End, -3)
        );
        for bad in [
            "byte_test:9,=,1,0;",
            "byte_test:1,=,1,0,dce;",
            "byte_test:4,>,len,0;",
            "byte_test:4,>,1,off,relative;",
            "byte_test:1,~,1,0;",
            "byte_test:1,=,1;",
            "byte_jump:4,0,dce;",
            "byte_jump:4,0,multiplier 0;",
            "byte_jump:9,0;",
        ] {
            let l = load(&format!("alert tcp any any -> any any ({bad} sid:1;)"));
            assert_eq!(l.rejected.len(), 1, "{bad}");
            let keyword = bad.split(':').next().unwrap();
            assert_eq!(l.rejected[0].keyword, keyword, "{bad}");
        }
    }

    #[test]
    fn sticky_buffers_and_legacy_modifiers() {
        let r = one(
            r#"alert http any any -> any any (flow:established,to_server; http.method; content:"POST"; http.uri; content:"/x"; content:"Host"; http_header; pkt_data; content:"raw"; sid:2;)"#,
        );
        let bufs: Vec<Buffer> = r.buffers.iter().map(|b| b.buffer).collect();
        assert_eq!(
            bufs,
            vec![
                Buffer::HttpMethod,
                Buffer::HttpUri,
                Buffer::HttpHeader,
                Buffer::Payload
            ]
        );
        assert_eq!(r.flow.to_server, Some(true));
        assert_eq!(r.flow.established, Some(true));
    }

    #[test]
    fn http_body_response_buffers_and_urilen() {
        let r = one(
            r#"alert http any any -> any any (http.request_body; content:"a=1"; file_data; content:"MZ"; http.stat_code; content:"200"; http.server; content:"nginx"; http.header_names; content:"|0d 0a|Host|0d 0a|"; content:"x"; http_cookie; urilen:>100; sid:4;)"#,
        );
        let bufs: Vec<Buffer> = r.buffers.iter().map(|b| b.buffer).collect();
        assert_eq!(
            bufs,
            vec![
                Buffer::HttpRequestBody,
                Buffer::FileData,
                Buffer::HttpStatCode,
                Buffer::HttpServer,
                Buffer::HttpHeaderNames,
                Buffer::HttpCookie,
                Buffer::HttpUri,
            ]
        );
        let uri = r
            .buffers
            .iter()
            .find(|b| b.buffer == Buffer::HttpUri)
            .unwrap();
        assert_eq!(uri.bsize, Some(SizeCheck::Gt(100)));
    }

    #[test]
    fn flags_flowbits_threshold_dsize() {
        let r = one(
            r#"alert tcp any any -> any any (flags:S,12; dsize:>100; flowbits:isset,a|b; flowbits:noalert; threshold:type limit, track by_src, count 1, seconds 60; detection_filter:track by_dst, count 5, seconds 10; sid:3;)"#,
        );
        let f = r.flags.unwrap();
        assert!(f.check(0x02) && f.check(0x02 | 0x40) && !f.check(0x12));
        assert!(r.dsize.unwrap().check(101) && !r.dsize.unwrap().check(100));
        assert_eq!(r.flowbits[0].op, FlowbitOp::IsSet);
        assert!(r.flowbits[0].any && r.flowbits[0].bits.len() == 2);
        assert!(r.noalert);
        assert_eq!(r.threshold.unwrap().kind, ThresholdKind::Limit);
        assert_eq!(r.detection_filter.unwrap().count, 5);
        let r =
            one(r#"alert tcp any any -> any any (content:"x"; flowbits:set,a; noalert; sid:4;)"#);
        assert!(r.noalert, "standalone, as suricata-update writes it");
    }

    #[test]
    fn malformed_rule_is_reported_with_location_sid_and_keyword_and_skipped() {
        let l = load(concat!(
            "alert tcp any any -> any any (content:\"ok\"; sid:1;)\n",
            "# a comment\n",
            "alert tcp any any -> any any (content:\"x\"; byte_math:bytes 1,offset 0,oper +,rvalue 1,result r; sid:2;)\n",
            "alert smtp any any -> any any (content:\"x\"; sid:3;)\n",
            "alert tcp any any -> any any (content:\"x\"; \\\n  sid:4;)\n",
            "alert tcp any any -> any any (pcre:\"/(unclosed/\"; sid:5;)\n",
            "alert tcp any any -> any any (content:\"unterminated; sid:6;)\n",
        ));
        assert_eq!(
            l.rules.iter().map(|r| r.sid).collect::<Vec<_>>(),
            vec![1, 4]
        );
        let e: Vec<String> = l.rejected.iter().map(ToString::to_string).collect();
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e[0].starts_with("t.rules:3 sid 2: byte_math:"), "{}", e[0]);
        assert!(
            e[1].starts_with("t.rules:4 sid 3: protocol smtp:"),
            "{}",
            e[1]
        );
        assert!(
            e[2].starts_with("t.rules:7 sid 5: pcre: PCRE2 cannot compile it"),
            "{}",
            e[2]
        );
        assert!(
            e[3].contains("t.rules:8") && e[3].contains("syntax"),
            "{}",
            e[3]
        );
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "",
            "(",
            ")",
            "alert",
            "alert tcp any any -> any any",
            "alert tcp any any -> any any (",
            "alert tcp any any -> any any (;;;)",
            "alert tcp [ any -> any any (sid:1;)",
            "alert tcp any any -> any any (content:\"|4|\"; sid:1;)",
            "alert tcp any any -> any any (depth:3; sid:1;)",
            "alert tcp any any -> any any (content:\"a\"; depth:-1; sid:1;)",
            "alert tcp any any -> any any (flowbits:isset; sid:1;)",
        ] {
            let _ = load(text);
        }
    }
}
