//! EVE JSON output: alerts in Suricata's field names and order, one JSON object per line.
//!
//! Workers push [`AlertEvent`]s into their own bounded queue; a full queue drops the event
//! and counts it, never blocking the worker. One writer thread drains every queue, renders
//! the JSON (rule text, category and severity are looked up there, off the data path) and
//! writes the file in whole lines ([`line_file`]), flushing when the queues run dry; a
//! write that fails (a full disk) never stops it: what cannot be written is counted. Uses `decode` (`IpProto`) alone; a
//! rule's signature comes through [`SignatureCatalog`], which the ruleset implements.

pub mod line_file;

use crate::decode::IpProto;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use serde::Serialize;
use tracing::warn;

/// HTTP facts for an alert on an HTTP flow: the request's (for an alert on a response,
/// the latest request's), and the response's status, protocol, content type and length.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct HttpMeta {
    /// Host header value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Request target, as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// User-Agent, if sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_user_agent: Option<String>,
    /// Content-Type of the response (of the request when there is no response).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_content_type: Option<String>,
    /// Referer, if sent (Suricata's spelling).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_refer: Option<String>,
    /// Method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    /// Protocol (`HTTP/1.1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Response status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Response body bytes inspected so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
}

/// TLS facts for an alert on a TLS flow, as Suricata's `tls` object names them: what
/// the handshake said so far.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TlsMeta {
    /// The server certificate's subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Its issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuerdn: Option<String>,
    /// Its serial (`00:97:E6:..`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The SHA-1 of its DER (`90:86:a4:..`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The ClientHello's server name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// The version (`TLS 1.2`, `TLSv1`, ...): the ServerHello's, else the ClientHello's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Validity of the certificate (`2023-03-01T06:47:30`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notbefore: Option<String>,
    /// The end of its validity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notafter: Option<String>,
    /// JA3 of the ClientHello.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja3: Option<HashAndString>,
    /// JA3S of the ServerHello.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja3s: Option<HashAndString>,
    /// JA4 of the ClientHello.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja4: Option<String>,
}

/// A JA3 or JA3S fingerprint in EVE.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct HashAndString {
    /// MD5 of `string`.
    pub hash: String,
    /// The fields hashed.
    pub string: String,
}

/// The packet an event is about: what every EVE record names (time, flow, interface,
/// addresses, protocol, capture position).
#[derive(Debug, Clone, Copy)]
pub struct PacketFields {
    /// Packet time, microseconds since the epoch (the capture's in replay).
    pub ts_us: u64,
    /// The flow's id.
    pub flow_id: u64,
    /// Ingress port index.
    pub port: usize,
    /// Source address and port.
    pub src: (IpAddr, u16),
    /// Destination address and port.
    pub dst: (IpAddr, u16),
    /// IP protocol number.
    pub proto: IpProto,
    /// Position in the capture (replay).
    pub pcap_cnt: Option<u64>,
}

impl PacketFields {
    /// The record origin of this packet, with its ports when `has_ports`.
    fn origin(&self, has_ports: bool) -> Origin {
        Origin {
            ts_us: self.ts_us,
            flow_id: Some(self.flow_id),
            pcap_cnt: self.pcap_cnt,
            port: self.port,
            src: self.src.0,
            dst: self.dst.0,
            ports: has_ports.then_some((self.src.1, self.dst.1)),
            proto: self.proto,
        }
    }
}

/// One alert as a worker records it.
#[derive(Debug, Clone)]
pub struct AlertEvent {
    /// The packet that alerted.
    pub packet: PacketFields,
    /// `http` when the flow carries HTTP.
    pub app_proto: Option<&'static str>,
    /// The rule, or the built-in signal, that fired.
    pub source: AlertSource,
    /// What was done with the packet.
    pub action: AlertAction,
    /// HTTP facts.
    pub http: Option<Box<HttpMeta>>,
    /// TLS facts.
    pub tls: Option<Box<TlsMeta>>,
    /// DNS facts (the message of the packet that alerted).
    pub dns: Option<Box<DnsMeta>>,
}

/// What the sensor did with the packet that alerted: EVE's `alert.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertAction {
    /// Forwarded (or, in detection, let go).
    Allowed,
    /// Dropped, rejected or answered by the sensor itself.
    Blocked,
}

impl AlertAction {
    /// `Blocked` when `blocked`, else `Allowed`.
    pub fn of(blocked: bool) -> AlertAction {
        if blocked {
            AlertAction::Blocked
        } else {
            AlertAction::Allowed
        }
    }
}

/// What raised an alert.
#[derive(Debug, Clone)]
pub enum AlertSource {
    /// A rule, by index in its ruleset (kept alive until the alert is written, so a
    /// reload in between does not change what the index means).
    Rule(u32, Arc<dyn SignatureCatalog>),
    /// A built-in signal (domain list, DNS answer watch), with its explanation.
    Builtin(Box<BuiltinAlert>),
}

/// The signature facts EVE writes for a rule: what a ruleset lends its alerts, so this
/// stage needs nothing of the detection engine's.
pub trait SignatureCatalog: Send + Sync + std::fmt::Debug {
    /// The signature of rule `index`.
    fn signature(&self, index: u32) -> Signature<'_>;
}

/// One rule's signature as an alert shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature<'a> {
    /// Generator id.
    pub gid: u32,
    /// Signature id.
    pub sid: u32,
    /// Revision.
    pub rev: u32,
    /// The rule's `msg`.
    pub msg: &'a str,
    /// The class type's description (empty without one).
    pub category: &'a str,
    /// Severity: the rule's priority, else its class type's, else 3.
    pub severity: u8,
}

/// A built-in signal's signature and the facts that explain it.
#[derive(Debug, Clone)]
pub struct BuiltinAlert {
    /// Signature id (the 9,100,000 range is reserved for built-in signals).
    pub sid: u32,
    /// Human-readable signature.
    pub signature: String,
    /// Category.
    pub category: &'static str,
    /// Severity (1 high - 3 low).
    pub severity: u8,
    /// The key the explanation is written under in EVE (`dns_list`, `dns_watch`).
    pub detail_key: &'static str,
    /// The explanation: which list and entry, which name and address.
    pub detail: serde_json::Value,
}

/// A DNS message as EVE shows it (Suricata's `dns` object, version 2 for answers).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DnsMeta {
    /// `query` or `answer`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Message id.
    pub id: u16,
    /// Header flags in hex (answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    /// The question name, no trailing dot.
    pub rrname: String,
    /// The question type's mnemonic.
    pub rrtype: String,
    /// Response code name (answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcode: Option<&'static str>,
    /// Opcode.
    pub opcode: u8,
    /// Answer records (answers with records).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<DnsAnswerMeta>,
}

/// One answer record in EVE.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DnsAnswerMeta {
    /// Owner name.
    pub rrname: String,
    /// Type mnemonic.
    pub rrtype: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// Address or target name; absent for other types.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdata: Option<String>,
}

/// A `dns` event (one per query or answer, when enabled).
#[derive(Debug, Clone)]
pub struct DnsEvent {
    /// The packet that carried the message.
    pub packet: PacketFields,
    /// The message.
    pub dns: DnsMeta,
}

/// An `anomaly` event: something a sender did that no receiver should see, as Suricata
/// reports its decoder and stream events.
#[derive(Debug, Clone)]
pub struct AnomalyEvent {
    /// Packet time, microseconds since the epoch.
    pub ts_us: u64,
    /// The flow's id, when the packet has a flow.
    pub flow_id: Option<u64>,
    /// Ingress port index.
    pub port: usize,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source and destination ports, when the packet shows them.
    pub ports: Option<(u16, u16)>,
    /// IP protocol number.
    pub proto: IpProto,
    /// Position in the capture (replay).
    pub pcap_cnt: Option<u64>,
    /// `decode`, `stream` or `applayer`.
    pub kind: &'static str,
    /// The event's name (`decoder.ipv4.frag_overlap`, ...).
    pub event: &'static str,
    /// The application protocol of an `applayer` event.
    pub app_proto: Option<&'static str>,
    /// The layer of an `applayer` event (`proto_parser`).
    pub layer: Option<&'static str>,
}

/// What a worker queues for the writer.
#[derive(Debug, Clone)]
pub enum EveEvent {
    /// An alert.
    Alert(AlertEvent),
    /// A DNS query or answer.
    Dns(Box<DnsEvent>),
    /// An anomaly.
    Anomaly(Box<AnomalyEvent>),
    /// A TLS handshake.
    Tls(Box<TlsEvent>),
}

/// A `tls` event: what a flow's TLS handshake said.
#[derive(Debug, Clone)]
pub struct TlsEvent {
    /// The packet after which it was written.
    pub packet: PacketFields,
    /// The handshake.
    pub tls: TlsMeta,
}

#[derive(Serialize)]
struct TlsJson<'a> {
    #[serde(flatten)]
    envelope: Envelope<'a>,
    tls: &'a TlsMeta,
}

/// A worker's end of the EVE output.
#[derive(Debug, Clone)]
pub struct EveQueue {
    queue: Arc<ArrayQueue<EveEvent>>,
    dropped: Arc<AtomicU64>,
}

impl EveQueue {
    /// Queues an event; counts it as dropped when the queue is full.
    pub fn push(&self, event: EveEvent) {
        if self.queue.push(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events dropped because this queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
impl EveQueue {
    /// A queue with no writer, read by the test itself.
    pub fn standalone(capacity: usize) -> Self {
        EveQueue {
            queue: Arc::new(ArrayQueue::new(capacity)),
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The oldest queued event.
    pub fn pop(&self) -> Option<EveEvent> {
        self.queue.pop()
    }
}

/// The writer side: owns the file and every worker's queue.
pub struct EveWriter {
    queues: Vec<EveQueue>,
    stats: Arc<ArrayQueue<String>>,
    stats_dropped: Arc<AtomicU64>,
    out: line_file::LineFile,
    ports: Vec<String>,
}

/// What the writer did with the events it took from the queues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EveTotals {
    /// Records written.
    pub written: u64,
    /// Records not written because the file could not be written (a full disk).
    pub write_failed: u64,
    /// Stats reports dropped because their queue was full.
    pub stats_dropped: u64,
}

impl EveWriter {
    /// Opens (truncates) `path` and creates one queue of `capacity` per worker.
    pub fn create(
        path: &Path,
        workers: usize,
        capacity: usize,
        ports: Vec<String>,
    ) -> std::io::Result<Self> {
        crate::files::regular_or_absent(path)?;
        let out = line_file::LineFile::create(path)?;
        let queues = (0..workers)
            .map(|_| EveQueue {
                queue: Arc::new(ArrayQueue::new(capacity.max(1))),
                dropped: Arc::new(AtomicU64::new(0)),
            })
            .collect();
        Ok(EveWriter {
            queues,
            stats: Arc::new(ArrayQueue::new(64)),
            stats_dropped: Arc::new(AtomicU64::new(0)),
            out,
            ports,
        })
    }

    /// The queue for worker `i`.
    pub fn queue(&self, i: usize) -> EveQueue {
        self.queues[i].clone()
    }

    /// Where the stats thread sends periodic reports to be written as `stats` events.
    pub fn stats_sink(&self) -> StatsSink {
        StatsSink(Arc::clone(&self.stats), Arc::clone(&self.stats_dropped))
    }

    /// Writes events until `stop` is set, then drains what is left and flushes. A failing
    /// file never ends it (see [`line_file`]); the totals say what was written and lost.
    pub fn run(mut self, stop: &AtomicBool) -> EveTotals {
        loop {
            let stopping = stop.load(Ordering::SeqCst);
            let took = self.drain();
            self.out.flush();
            if took == 0 {
                if stopping {
                    return EveTotals {
                        written: self.out.written(),
                        write_failed: self.out.lost(),
                        stats_dropped: self.stats_dropped.load(Ordering::Relaxed),
                    };
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    /// Moves every queued record into the file's batch; returns how many.
    fn drain(&mut self) -> u64 {
        let mut n = 0;
        while let Some(line) = self.stats.pop() {
            self.out.push_line(&line);
            n += 1;
        }
        for q in 0..self.queues.len() {
            while let Some(e) = self.queues[q].queue.pop() {
                match render(&e, &self.ports) {
                    Ok(line) => self.out.push_line(&line),
                    Err(err) => warn!("EVE: an event could not be serialised: {err}"),
                }
                n += 1;
            }
        }
        n
    }
}

/// The fields every EVE record about a packet opens with, in Suricata's order.
#[derive(Serialize)]
struct Envelope<'a> {
    timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pcap_cnt: Option<u64>,
    in_iface: &'a str,
    event_type: &'static str,
    #[serde(serialize_with = "eve_ip")]
    src_ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_port: Option<u16>,
    #[serde(serialize_with = "eve_ip")]
    dest_ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    dest_port: Option<u16>,
    proto: &'static str,
}

/// Where a record's packet came from and went: time, flow, capture position, ingress
/// port, addresses, ports (when it has them) and protocol.
struct Origin {
    ts_us: u64,
    flow_id: Option<u64>,
    pcap_cnt: Option<u64>,
    port: usize,
    src: IpAddr,
    dst: IpAddr,
    ports: Option<(u16, u16)>,
    proto: IpProto,
}

impl<'a> Envelope<'a> {
    fn of(o: Origin, event_type: &'static str, ports: &'a [String]) -> Self {
        Envelope {
            timestamp: timestamp(o.ts_us),
            flow_id: o.flow_id,
            pcap_cnt: o.pcap_cnt,
            in_iface: ports.get(o.port).map_or("", String::as_str),
            event_type,
            src_ip: o.src,
            src_port: o.ports.map(|p| p.0),
            dest_ip: o.dst,
            dest_port: o.ports.map(|p| p.1),
            proto: proto_name(o.proto),
        }
    }
}

#[derive(Serialize)]
struct AlertJson<'a> {
    #[serde(flatten)]
    envelope: Envelope<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_proto: Option<&'static str>,
    alert: AlertFields<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<&'a HttpMeta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<&'a TlsMeta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns: Option<DnsQueries<'a>>,
}

#[derive(Serialize)]
struct DnsQueries<'a> {
    query: [&'a DnsMeta; 1],
}

#[derive(Serialize)]
struct DnsJson<'a> {
    #[serde(flatten)]
    envelope: Envelope<'a>,
    dns: DnsV2<'a>,
}

#[derive(Serialize)]
struct DnsV2<'a> {
    version: u8,
    #[serde(flatten)]
    meta: &'a DnsMeta,
}

#[derive(Serialize)]
struct AnomalyJson<'a> {
    #[serde(flatten)]
    envelope: Envelope<'a>,
    anomaly: AnomalyFields,
}

#[derive(Serialize)]
struct AnomalyFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    app_proto: Option<&'static str>,
    #[serde(rename = "type")]
    kind: &'static str,
    event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    layer: Option<&'static str>,
}

#[derive(Serialize)]
struct AlertFields<'a> {
    action: AlertAction,
    gid: u32,
    signature_id: u32,
    rev: u32,
    signature: &'a str,
    category: &'a str,
    severity: u8,
}

/// Sends periodic stats to the EVE writer; a full queue drops the report and counts it.
#[derive(Debug, Clone)]
pub struct StatsSink(Arc<ArrayQueue<String>>, Arc<AtomicU64>);

impl StatsSink {
    /// Queues `stats` (a JSON object) as a `stats` event stamped `now_us`.
    pub fn send(&self, now_us: u64, stats: &str) {
        let line = format!(
            "{{\"timestamp\":\"{}\",\"event_type\":\"stats\",\"stats\":{stats}}}",
            timestamp(now_us)
        );
        if self.0.push(line).is_err() {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn render(e: &EveEvent, ports: &[String]) -> serde_json::Result<String> {
    match e {
        EveEvent::Alert(a) => render_alert(a, ports),
        EveEvent::Anomaly(a) => serde_json::to_string(&AnomalyJson {
            envelope: Envelope::of(
                Origin {
                    ts_us: a.ts_us,
                    flow_id: a.flow_id,
                    pcap_cnt: a.pcap_cnt,
                    port: a.port,
                    src: a.src,
                    dst: a.dst,
                    ports: a.ports,
                    proto: a.proto,
                },
                "anomaly",
                ports,
            ),
            anomaly: AnomalyFields {
                app_proto: a.app_proto,
                kind: a.kind,
                event: a.event,
                layer: a.layer,
            },
        }),
        EveEvent::Tls(t) => serde_json::to_string(&TlsJson {
            envelope: Envelope::of(t.packet.origin(true), "tls", ports),
            tls: &t.tls,
        }),
        EveEvent::Dns(d) => serde_json::to_string(&DnsJson {
            envelope: Envelope::of(d.packet.origin(true), "dns", ports),
            dns: DnsV2 {
                version: 2,
                meta: &d.dns,
            },
        }),
    }
}

fn render_alert(e: &AlertEvent, ports: &[String]) -> serde_json::Result<String> {
    let fields = match &e.source {
        AlertSource::Rule(r, catalog) => {
            let sig = catalog.signature(*r);
            AlertFields {
                action: e.action,
                gid: sig.gid,
                signature_id: sig.sid,
                rev: sig.rev,
                signature: sig.msg,
                category: sig.category,
                severity: sig.severity,
            }
        }
        AlertSource::Builtin(b) => AlertFields {
            action: e.action,
            gid: 1,
            signature_id: b.sid,
            rev: 1,
            signature: &b.signature,
            category: b.category,
            severity: b.severity,
        },
    };
    let has_ports = e.packet.proto.has_ports();
    let json = AlertJson {
        envelope: Envelope::of(e.packet.origin(has_ports), "alert", ports),
        app_proto: e.app_proto,
        alert: fields,
        http: e.http.as_deref(),
        tls: e.tls.as_deref(),
        dns: e.dns.as_deref().map(|d| DnsQueries { query: [d] }),
    };
    let mut line = serde_json::to_string(&json)?;
    if let AlertSource::Builtin(b) = &e.source {
        // The explanation goes last, as its own object.
        line.pop();
        line.push_str(&format!(",\"{}\":{}}}", b.detail_key, b.detail));
    }
    Ok(line)
}

/// An address as Suricata writes it: IPv4 dotted, IPv6 as all eight groups of four hex
/// digits (`fd00:0000:0000:0000:0000:0000:0000:0001`), so EVE consumers see one spelling.
fn eve_ip<S: serde::Serializer>(ip: &IpAddr, s: S) -> Result<S::Ok, S::Error> {
    match ip {
        IpAddr::V4(v4) => s.collect_str(v4),
        IpAddr::V6(v6) => {
            let g = v6.segments();
            s.collect_str(&format_args!(
                "{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}",
                g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]
            ))
        }
    }
}

fn proto_name(proto: IpProto) -> &'static str {
    match proto {
        IpProto::TCP => "TCP",
        IpProto::UDP => "UDP",
        IpProto::ICMP => "ICMP",
        IpProto::ICMPV6 => "IPv6-ICMP",
        _ => "IP",
    }
}

/// `2021-12-14T13:06:49.123456+0000` for microseconds since the epoch (UTC).
pub fn timestamp(us: u64) -> String {
    let micros = us % 1_000_000;
    format!("{}.{micros:06}+0000", civil_time((us / 1_000_000) as i64))
}

/// `2021-12-14T13:06:49` for seconds since the epoch (UTC; before it too), as Suricata
/// writes a certificate's validity.
pub fn civil_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_spelled_as_suricata_spells_them() {
        let json = |ip: &str| {
            let mut out = Vec::new();
            eve_ip(
                &ip.parse().unwrap(),
                &mut serde_json::Serializer::new(&mut out),
            )
            .unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(json("10.0.0.1"), "\"10.0.0.1\"");
        assert_eq!(
            json("fd00::1"),
            "\"fd00:0000:0000:0000:0000:0000:0000:0001\""
        );
        assert_eq!(
            json("::ffff:1.2.3.4"),
            "\"0000:0000:0000:0000:0000:ffff:0102:0304\""
        );
    }

    #[test]
    fn timestamps_are_suricata_shaped() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000000+0000");
        assert_eq!(
            timestamp(1_639_487_209_123_456),
            "2021-12-14T13:06:49.123456+0000"
        );
        assert_eq!(
            timestamp(951_782_400_000_001),
            "2000-02-29T00:00:00.000001+0000"
        );
    }
}
