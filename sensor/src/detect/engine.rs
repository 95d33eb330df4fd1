//! The per-worker detection engine behind [`PacketPolicy`].
//!
//! Per packet: decode; track the flow (a cached drop or pass short-circuits); build the
//! buffers (payload, with the in-order TCP stream window before it so a content split
//! across segments matches; HTTP request buffers when a request starts in the segment);
//! gather candidates from the prefilter groups of the packet's transport, buffers and
//! ports and from the address index; verify each candidate exactly; then act in
//! Suricata's order (pass, drop, reject, alert). Scratch vectors are reused, so the steady
//! state allocates only for new flows' stream windows and for alerts.

mod baseline_tap;
mod dns_inspect;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::content;
use super::prefilter::{PortKey, Transport};
use super::publish::{scratch_for, RulesHandle};
use super::Ruleset;
use crate::decode::fast_path;
use crate::decode::{decode, DecodeError, IpProto, Packet, Transport as L4};
use crate::detect::settings::DnsConfig;
use crate::events::{AlertEvent, AlertSource, DnsMeta, EveEvent, EveQueue, HttpMeta, PacketFields};
use crate::flow::{
    CutRequest, Flow, FlowLookup, FlowState, FlowTable, FlowVerdict, PacketFacts, Timeouts,
};
use crate::proto::dns::DnsMessage;
use crate::proto::http::{
    header_names, parse_request, parse_response, request_line_cut, Request, Response,
};
use crate::rules::ast::{
    Action, Buffer, FlowbitOp, PayloadView, Protocol, Rule, ThresholdKind, Track,
};
use crate::verdict::reply::ReplyDirection;
use crate::verdict::Mode;
use crate::verdict::{Decision, PacketContext, PacketPolicy, Verdict};
use dns_inspect::DnsState;
pub use dns_inspect::{sids, WatchBus};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Detection alerts only; prevention drops.
    pub mode: Mode,
    /// Flow table capacity per worker.
    pub flow_capacity: usize,
    /// Bytes of in-order TCP stream kept per direction.
    pub stream_window: usize,
    /// Mirror every packet of a flow once it alerted.
    pub mirror_alerted_flows: bool,
    /// DNS settings.
    pub dns: DnsConfig,
    /// Write a `dns` event per query and answer.
    pub dns_events: bool,
    /// Shares watched addresses between workers (`None`: this worker's own list only).
    pub watch_bus: Option<Arc<WatchBus>>,
    /// Where reloaded rulesets come from (`None`: the first one stays).
    pub rules: Option<Arc<RulesHandle>>,
    /// Where this worker's counters are mirrored for the control socket.
    pub live: Option<Arc<LiveCounters>>,
    /// Where summaries for per-host baselines go (`None`: baselines off).
    pub baseline: Option<Arc<crate::baseline::BaselineHub>>,
}

impl EngineConfig {
    /// An engine on its own in `mode`: the configuration file's defaults for flows,
    /// streams and DNS, no mirroring, DNS events, reloads, shared watchlist, live counters
    /// or baselines (tests and measurements).
    pub fn standalone(mode: Mode) -> Self {
        let detect = crate::detect::settings::DetectConfig::default();
        EngineConfig {
            mode,
            flow_capacity: detect.flow_capacity,
            stream_window: detect.stream_window,
            mirror_alerted_flows: detect.mirror_alerted_flows,
            dns: DnsConfig::default(),
            dns_events: false,
            watch_bus: None,
            rules: None,
            live: None,
            baseline: None,
        }
    }
}

/// A worker's engine counters as the control socket reads them: copied from the engine
/// once per burst, read without stopping the worker.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Alerts raised.
    pub alerts: AtomicU64,
    /// Packets dropped by a verdict.
    pub verdict_drops: AtomicU64,
    /// Packets passed by a pass verdict.
    pub pass_verdicts: AtomicU64,
    /// Resets and unreachables sent.
    pub rejects_sent: AtomicU64,
    /// DNS queries matching a list.
    pub dns_list_hits: AtomicU64,
    /// DNS answers forged.
    pub dns_answers_forged: AtomicU64,
    /// The ruleset version the worker runs.
    pub ruleset_version: AtomicU64,
}

/// What an engine counted. Serialized (less the decode errors, which the stats report
/// names by reason) as the `engine` object of the final stats report.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EngineCounters {
    /// Alerts raised (queued for EVE, or counted when EVE is off).
    pub alerts: u64,
    /// Packets dropped by a rule verdict (prevention).
    pub verdict_drops: u64,
    /// Packets passed by a cached pass verdict or a pass rule.
    pub pass_verdicts: u64,
    /// Rule candidates verified.
    pub candidates: u64,
    /// Reset or ICMP unreachable frames queued by reject rules (prevention).
    pub rejects_sent: u64,
    /// DNS-port payloads that did not parse as a DNS message.
    pub dns_malformed: u64,
    /// DNS messages parsed.
    pub dns_messages: u64,
    /// Queries that matched a domain list's block or alert entry.
    pub dns_list_hits: u64,
    /// Queries a list's allow entry let through.
    pub dns_list_allowed: u64,
    /// Answers the sensor forged (NXDOMAIN, NODATA, sinkhole).
    pub dns_answers_forged: u64,
    /// `dns` events queued.
    pub dns_events: u64,
    /// Addresses put on the watchlist from answers.
    pub watched_addresses: u64,
    /// Connections to watched addresses.
    pub watch_hits: u64,
    /// Connections and queries dropped on the baseline enforcement snapshot.
    pub baseline_blocked: u64,
    /// Frames that did not decode, by reason.
    #[serde(skip)]
    pub decode_errors: [u64; DecodeError::ALL.len()],
}

impl EngineCounters {
    /// Adds `other`'s counts to these (summing workers).
    pub fn add(&mut self, other: &EngineCounters) {
        self.alerts += other.alerts;
        self.verdict_drops += other.verdict_drops;
        self.pass_verdicts += other.pass_verdicts;
        self.candidates += other.candidates;
        self.rejects_sent += other.rejects_sent;
        self.dns_malformed += other.dns_malformed;
        self.dns_messages += other.dns_messages;
        self.dns_list_hits += other.dns_list_hits;
        self.dns_list_allowed += other.dns_list_allowed;
        self.dns_answers_forged += other.dns_answers_forged;
        self.dns_events += other.dns_events;
        self.watched_addresses += other.watched_addresses;
        self.watch_hits += other.watch_hits;
        self.baseline_blocked += other.baseline_blocked;
        for (sum, n) in self.decode_errors.iter_mut().zip(other.decode_errors) {
            *sum += n;
        }
    }
}

/// One worker's engine.
pub struct Engine {
    /// Taken out (a pointer move, not a refcount change) while a packet is inspected, so
    /// the inspection borrows it beside `&mut self` without touching the shared count.
    ruleset: Option<Arc<Ruleset>>,
    config: EngineConfig,
    flows: FlowTable,
    eve: Option<EveQueue>,
    stamps: Vec<u32>,
    generation: u32,
    candidates: Vec<u32>,
    matched: Vec<u32>,
    /// Byte buffers a packet's inspection builds its views in; taken out while it runs.
    work: Workspace,
    names: Vec<u8>,
    scratch: Option<hyperscan::Scratch>,
    /// Boxed, and taken out while a packet is inspected: a pointer move, not a copy of
    /// the whole state.
    dns: Option<Box<DnsState>>,
    /// Version of the ruleset in use (see [`RulesHandle`]).
    version: u64,
    forge_pending: Option<(usize, crate::proto::dns::Forged, ReplyDirection)>,
    worker: usize,
    last_ts_us: u64,
    reject_pending: bool,
    replies: Vec<(ReplyDirection, Vec<u8>)>,
    thresholds: HashMap<(u32, IpAddr, IpAddr), (u64, u32)>,
    baseline: Option<crate::baseline::BaselineTap>,
    /// Counters.
    pub counters: EngineCounters,
}

/// Byte buffers reused from packet to packet (no allocation once they have grown).
#[derive(Default)]
struct Workspace {
    /// The stream window with the segment after it.
    stream: Vec<u8>,
    /// The lowercased HTTP host.
    host: Vec<u8>,
    /// A cut request line with the segment that continues it.
    request: Vec<u8>,
}

/// The longest request head kept while its request line is incomplete.
const MAX_REQUEST_HEAD: usize = 2048;

/// The HTTP request that starts in `segment` (at `seq`, to the server), or that a segment
/// boundary cut in its request line and `segment` continues: the start is kept in `cut`
/// (up to [`MAX_REQUEST_HEAD`] bytes) until the next in-order segment, joined with it in
/// `joined`, and parsed again; as Suricata's HTTP parser sees the request once its line
/// is whole.
fn request_from<'a>(
    cut: &mut Option<Box<CutRequest>>,
    seq: u32,
    segment: &'a [u8],
    joined: &'a mut Vec<u8>,
) -> Option<Request<'a>> {
    let previous = cut.take();
    let data: &'a [u8] = match &previous {
        Some(c) if c.next_seq == seq => {
            joined.clear();
            joined.extend_from_slice(&c.head);
            joined.extend_from_slice(segment);
            joined
        }
        _ => segment,
    };
    let request = parse_request(data);
    if request.is_none() && request_line_cut(data) && data.len() <= MAX_REQUEST_HEAD {
        // A request cut over several segments keeps one box.
        let mut c = previous.unwrap_or_default();
        c.head.clear();
        c.head.extend_from_slice(data);
        c.next_seq = seq.wrapping_add(segment.len() as u32);
        *cut = Some(c);
    }
    request
}

/// The buffers of the packet being inspected.
#[derive(Clone, Copy)]
struct Buffers<'a> {
    payload: &'a [u8],
    /// Bytes at the start of `payload` that were inspected before (stream window).
    seen: usize,
    segment_len: usize,
    request: Option<&'a Request<'a>>,
    response: Option<&'a Response<'a>>,
    host: &'a [u8],
    header_names: &'a [u8],
    /// `.` + the DNS question name, when the packet is a DNS message.
    dns: Option<&'a [u8]>,
    /// The DNS message.
    dns_msg: Option<&'a DnsMessage>,
    /// Suffix hashes of `dns` (one per byte), shared by every name set.
    dns_hashes: &'a [u64],
}

impl<'a> Buffers<'a> {
    /// The packet's own payload: `payload` without the stream window before it.
    fn segment(&self) -> &'a [u8] {
        &self.payload[self.seen..]
    }

    /// Points the DNS buffers at message `i` of `dns` (none when there is no such message).
    fn set_dns(&mut self, dns: &'a DnsState, i: usize) {
        let p = dns.parsed.get(i);
        // As in Suricata, `dns.query` is the query's buffer (to the server) only.
        self.dns = p.and_then(|p| dns.name(p).filter(|_| !p.msg.response));
        self.dns_msg = p.map(|p| &p.msg);
        self.dns_hashes = p.map_or(&[], |p| &dns.hashes[p.hashes.clone()]);
    }

    fn get(&self, b: Buffer) -> Option<&'a [u8]> {
        let r = self.request;
        let s = self.response;
        match b {
            Buffer::Payload => Some(self.payload),
            Buffer::HttpUri => r.map(|r| r.uri),
            Buffer::HttpMethod => r.map(|r| r.method),
            Buffer::HttpHost => r.and_then(|r| r.host.map(|_| self.host)),
            Buffer::HttpUserAgent => r.and_then(|r| r.user_agent),
            Buffer::HttpHeader => r.map(|r| r.headers).or(s.map(|s| s.headers)),
            Buffer::HttpRequestLine => r.map(|r| r.line),
            Buffer::HttpRequestBody => r.map(|r| r.body).filter(|b| !b.is_empty()),
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
            Buffer::HttpResponseBody => s.map(|s| s.body).filter(|b| !b.is_empty()),
            Buffer::DnsQuery => self.dns.map(|d| &d[1..]),
            Buffer::DnsQueryDotted => self.dns,
            Buffer::FileData => r
                .map(|r| r.body)
                .or(s.map(|s| s.body))
                .filter(|b| !b.is_empty()),
        }
    }
}

impl Engine {
    /// An engine for worker `worker` over `ruleset`, sending alerts to `eve`.
    pub fn new(
        ruleset: Arc<Ruleset>,
        config: EngineConfig,
        eve: Option<EveQueue>,
        worker: u16,
    ) -> Self {
        let n = ruleset.rules.len();
        // One scratch space per worker, grown to fit every Hyperscan database.
        let scratch = scratch_for(&ruleset);
        let version = config.rules.as_ref().map_or(1, |h| h.version());
        let dns_state = DnsState::new(&config.dns);
        let baseline = config
            .baseline
            .as_ref()
            .map(|hub| crate::baseline::BaselineTap::new(Arc::clone(hub), usize::from(worker)));
        Engine {
            flows: FlowTable::new(config.flow_capacity, Timeouts::default(), worker),
            ruleset: Some(ruleset),
            config,
            eve,
            stamps: vec![0; n],
            generation: 0,
            candidates: Vec::new(),
            matched: Vec::new(),
            work: Workspace::default(),
            names: Vec::new(),
            scratch,
            dns: Some(Box::new(dns_state)),
            version,
            forge_pending: None,
            worker: usize::from(worker),
            last_ts_us: 0,
            reject_pending: false,
            replies: Vec::new(),
            thresholds: HashMap::new(),
            baseline,
            counters: EngineCounters::default(),
        }
    }

    /// The flow table's counters.
    pub fn flow_counters(&self) -> crate::flow::FlowCounters {
        self.flows.counters
    }

    /// The decision for a packet of a dropped flow that `alerted` (or not).
    fn drop_decision(&self, alerted: bool) -> Decision {
        Decision {
            verdict: match self.config.mode {
                Mode::Prevention => Verdict::Drop,
                Mode::Detection => Verdict::Pass,
            },
            mirror: alerted && self.config.mirror_alerted_flows,
        }
    }
}

/// A decoded IP packet as [`Engine::inspect`] takes it: with its addresses, ports and
/// flags, its flow's slot, and whether it goes to the server.
struct Views<'v, 'a> {
    pkt: &'v Packet<'a>,
    facts: &'v PacketFacts,
    slot: usize,
    to_server: bool,
}

/// A decoded IP packet's addresses, ports and flags; `None` for packets without IP
/// addresses.
pub fn packet_facts(pkt: &crate::decode::Packet<'_>, now_us: u64) -> Option<PacketFacts> {
    let (Some(src_ip), Some(dst_ip)) = (pkt.src_ip(), pkt.dst_ip()) else {
        return None;
    };
    let ports = pkt.ports();
    let (sport, dport) = ports.unwrap_or((0, 0));
    let tcp_flags = match pkt.transport {
        L4::Tcp { flags, .. } => Some(flags),
        _ => None,
    };
    Some(PacketFacts {
        src: (src_ip, sport),
        dst: (dst_ip, dport),
        proto: pkt.ip_proto,
        vlan: pkt.vlan[0],
        tcp_flags,
        has_ports: ports.is_some(),
        now_us,
    })
}

/// Frames read ahead in one [`Engine::decide_burst`] round.
const AHEAD: usize = 32;

impl PacketPolicy for Engine {
    fn decide(&mut self, frame: &[u8], ctx: &PacketContext) -> Decision {
        match fast_path::read(frame) {
            Some(h) => self.decide_read(frame, &FlowLookup::of_header(&h), h.tcp_flags, ctx),
            None => self.decide_decoded(frame, ctx),
        }
    }

    /// Reads up to 32 frames' flow fields (the header fast path), starts loading their
    /// flows' index buckets, then their slots, and only then decides each in order: the
    /// burst's flow-table cache misses overlap instead of costing a memory round trip per
    /// packet. Frames of other shapes are decided through the full decode, unprefetched.
    fn decide_burst(&mut self, frames: &[&[u8]], ctxs: &[PacketContext], out: &mut [Decision]) {
        for ((frames, ctxs), out) in frames
            .chunks(AHEAD)
            .zip(ctxs.chunks(AHEAD))
            .zip(out.chunks_mut(AHEAD))
        {
            let mut read = [None; AHEAD];
            for (i, frame) in frames.iter().enumerate() {
                read[i] = fast_path::read(frame).map(|h| {
                    let lookup = FlowLookup::of_header(&h);
                    self.flows.prefetch_bucket(&lookup);
                    (lookup, h.tcp_flags)
                });
            }
            let whole = self.ruleset.as_ref().is_some_and(|r| r.needs_stream);
            for (lookup, _) in read.iter().take(frames.len()).flatten() {
                self.flows.prefetch_slots(lookup, whole);
            }
            for (i, ((frame, ctx), decision)) in frames.iter().zip(ctxs).zip(out).enumerate() {
                *decision = match &read[i] {
                    Some((lookup, tcp_flags)) => self.decide_read(frame, lookup, *tcp_flags, ctx),
                    None => self.decide_decoded(frame, ctx),
                };
            }
        }
    }

    fn refresh(&mut self) {
        if let Some(tap) = self.baseline.as_mut() {
            tap.refresh();
        }
        if let Some(live) = &self.config.live {
            let c = &self.counters;
            live.alerts.store(c.alerts, Ordering::Relaxed);
            live.verdict_drops.store(c.verdict_drops, Ordering::Relaxed);
            live.pass_verdicts.store(c.pass_verdicts, Ordering::Relaxed);
            live.rejects_sent.store(c.rejects_sent, Ordering::Relaxed);
            live.dns_list_hits.store(c.dns_list_hits, Ordering::Relaxed);
            live.dns_answers_forged
                .store(c.dns_answers_forged, Ordering::Relaxed);
            live.ruleset_version.store(self.version, Ordering::Relaxed);
        }
        let Some(p) = self
            .config
            .rules
            .as_ref()
            .and_then(|h| h.take(self.worker, self.version))
        else {
            return;
        };
        // Between bursts: nothing refers to the old ruleset's indices any more.
        self.stamps = vec![0; p.ruleset.rules.len()];
        self.generation = 0;
        self.thresholds.clear();
        self.scratch = p.scratch;
        self.version = p.version;
        if let (Some(old), Some(h)) = (self.ruleset.replace(p.ruleset), &self.config.rules) {
            h.retire(old);
        }
    }

    fn drain_replies(&mut self, emit: &mut dyn FnMut(ReplyDirection, &[u8])) {
        if let Some(bus) = &self.config.watch_bus {
            let capacity = self.config.dns.watch_capacity;
            if let Some(dns) = self.dns.as_mut() {
                dns.receive(bus, self.worker, capacity, self.last_ts_us);
            }
        }
        for (direction, frame) in self.replies.drain(..) {
            emit(direction, &frame);
        }
    }
}

impl Engine {
    /// Decides a frame the header fast path read: tracks its flow, and decodes it in full
    /// only if something must look further than the flow (payload, or a first packet's
    /// watch and baseline checks).
    fn decide_read(
        &mut self,
        frame: &[u8],
        lookup: &FlowLookup,
        tcp_flags: Option<u8>,
        ctx: &PacketContext,
    ) -> Decision {
        self.last_ts_us = ctx.ts_us;
        let (slot, to_server) = self.flows.track_lookup(lookup, ctx.ts_us, tcp_flags);
        if let Some(decision) = self.settle(slot) {
            return decision;
        }
        // `flow_header::read` accepts only frames the full decode accepts, with the same
        // addresses: neither `else` is taken.
        let Ok(pkt) = decode(frame) else {
            return Decision::PASS;
        };
        let Some(facts) = packet_facts(&pkt, ctx.ts_us) else {
            return Decision::PASS;
        };
        self.decide_tracked(frame, &pkt, &facts, slot, to_server, ctx)
    }

    /// Decides a frame of a shape the header fast path declines, through the full decode.
    fn decide_decoded(&mut self, frame: &[u8], ctx: &PacketContext) -> Decision {
        let pkt = match decode(frame) {
            Ok(p) => p,
            Err(e) => {
                self.counters.decode_errors[e.index()] += 1;
                return Decision::PASS;
            }
        };
        self.last_ts_us = ctx.ts_us;
        let Some(facts) = packet_facts(&pkt, ctx.ts_us) else {
            return Decision::PASS;
        };
        let lookup = FlowLookup::of(&facts);
        let (slot, to_server) = self.flows.track_lookup(&lookup, ctx.ts_us, facts.tcp_flags);
        if let Some(decision) = self.settle(slot) {
            return decision;
        }
        self.decide_tracked(frame, &pkt, &facts, slot, to_server, ctx)
    }

    /// What the tracked flow alone decides: a cached verdict, or a pass when nothing
    /// looks further (no rule, nothing that takes DNS, and no watch or baseline check on
    /// a first packet). `None`: the packet's facts are needed.
    fn settle(&mut self, slot: usize) -> Option<Decision> {
        let flow = self.flows.at(slot);
        match flow.verdict {
            FlowVerdict::Drop => {
                if self.config.mode == Mode::Prevention {
                    self.counters.verdict_drops += 1;
                }
                let alerted = flow.alerted;
                return Some(self.drop_decision(alerted));
            }
            FlowVerdict::Pass => {
                self.counters.pass_verdicts += 1;
                return Some(Decision::PASS);
            }
            FlowVerdict::Inspect => {}
        }
        let first = flow.packets[0] + flow.packets[1] == 1;
        let checks_first = first && (self.config.dns.watch || self.baseline.is_some());
        if checks_first || self.reads_payload() {
            return None;
        }
        Some(self.unread(slot))
    }

    /// Whether any packet's payload is read: a rule, or anything that takes DNS.
    fn reads_payload(&self) -> bool {
        self.ruleset
            .as_ref()
            .is_some_and(|r| !r.rules.is_empty() || self.wants_dns(r))
    }

    /// The decision for a packet nothing reads: pass, mirrored if its flow alerted.
    fn unread(&mut self, slot: usize) -> Decision {
        Decision {
            verdict: Verdict::Pass,
            mirror: self.flows.at(slot).alerted && self.config.mirror_alerted_flows,
        }
    }

    /// Decides a packet whose flow is tracked and not settled by the flow alone: a first
    /// packet's watch and baseline checks, then inspection.
    fn decide_tracked(
        &mut self,
        frame: &[u8],
        pkt: &Packet<'_>,
        facts: &PacketFacts,
        slot: usize,
        to_server: bool,
        ctx: &PacketContext,
    ) -> Decision {
        let flow = self.flows.at(slot);
        if flow.packets[0] + flow.packets[1] == 1 {
            if let Some(d) = self.watch_check(facts, slot, ctx) {
                return d;
            }
            if let Some(d) = self.baseline_connection(facts, slot, ctx) {
                return d;
            }
        }
        if !self.reads_payload() {
            return self.unread(slot);
        }
        let Some(ruleset) = self.ruleset.take() else {
            return Decision::PASS;
        };
        let mut work = std::mem::take(&mut self.work);
        let views = Views {
            pkt,
            facts,
            slot,
            to_server,
        };
        let decision = self.inspect(&ruleset, views, ctx, &mut work);
        self.ruleset = Some(ruleset);
        self.work = work;
        if std::mem::take(&mut self.reject_pending) {
            let replies = crate::verdict::reply::reject(frame);
            self.counters.rejects_sent += replies.len() as u64;
            self.replies.extend(replies);
        }
        if let Some((i, what, direction)) = self.forge_pending.take() {
            self.forge(frame, pkt.payload, i, what, direction);
        }
        decision
    }

    fn inspect(
        &mut self,
        ruleset: &Arc<Ruleset>,
        views: Views<'_, '_>,
        ctx: &PacketContext,
        work: &mut Workspace,
    ) -> Decision {
        let Workspace {
            stream,
            host,
            request: joined,
        } = work;
        let Views {
            pkt,
            facts,
            slot,
            to_server,
        } = views;
        let window = if ruleset.needs_stream {
            self.config.stream_window
        } else {
            0
        };
        let http = ruleset.needs_http;
        let flow = self.flows.at(slot);
        // Payload, with the in-order stream window in front for TCP.
        let segment = pkt.payload;
        let mut seen = 0;
        let mut in_order_tail = false;
        if let L4::Tcp { seq, .. } = pkt.transport {
            if !segment.is_empty() && window > 0 {
                let w = &mut flow.streams[usize::from(!to_server)];
                let in_order = w.started && w.next_seq == seq;
                if in_order && !w.tail.is_empty() {
                    stream.clear();
                    stream.extend_from_slice(&w.tail);
                    stream.extend_from_slice(segment);
                    seen = w.tail.len();
                    in_order_tail = true;
                }
                // Keep the last `window` bytes of in-order data for the next segment;
                // out-of-order data restarts the window. Only bytes the window keeps are
                // copied, so the tail never holds more than `window`.
                if !in_order {
                    w.tail.clear();
                }
                let take = segment.len().min(window);
                let overflow = (w.tail.len() + take).saturating_sub(window);
                w.tail.drain(..overflow);
                w.tail.extend_from_slice(&segment[segment.len() - take..]);
                w.started = true;
                w.next_seq = seq.wrapping_add(segment.len() as u32);
            }
        }
        let request = match pkt.transport {
            L4::Tcp { seq, .. } if http && to_server && !segment.is_empty() => {
                request_from(&mut flow.cut_request, seq, segment, joined)
            }
            _ => None,
        };
        let response = if http && !to_server && facts.proto == IpProto::TCP && flow.is_http {
            parse_response(segment)
        } else {
            None
        };
        if request.is_some() {
            flow.is_http = true;
        }
        host.clear();
        if let Some(h) = request.as_ref().and_then(|r| r.host) {
            host.extend(h.iter().map(u8::to_ascii_lowercase));
        }
        let mut names = std::mem::take(&mut self.names);
        match (request.as_ref(), response.as_ref()) {
            (Some(r), _) => header_names(r.headers, &mut names),
            (None, Some(s)) => header_names(s.headers, &mut names),
            _ => names.clear(),
        }
        let Some(mut dns) = self.dns.take() else {
            return Decision::PASS;
        };
        self.parse_dns(ruleset, &mut dns, pkt, facts, slot, to_server, segment);
        // One set of buffers; each DNS message of the segment swaps in its own DNS fields.
        let mut buffers = Buffers {
            dns: None,
            dns_msg: None,
            dns_hashes: &[],
            payload: if in_order_tail {
                stream.as_slice()
            } else {
                segment
            },
            seen,
            segment_len: segment.len(),
            request: request.as_ref(),
            response: response.as_ref(),
            host: host.as_slice(),
            header_names: names.as_slice(),
        };
        let mut matched = std::mem::take(&mut self.matched);
        matched.clear();
        let passes = dns.parsed.len().max(1);
        for pass in 0..passes {
            buffers.set_dns(&dns, pass);
            self.collect_candidates(ruleset, facts, to_server, &buffers, pass > 0);
            let flow = self.flows.at(slot);
            for &r in &self.candidates {
                self.counters.candidates += 1;
                if verify(&ruleset.rules[r as usize], facts, to_server, flow, &buffers) {
                    matched.push(r);
                }
            }
        }
        if passes > 1 {
            matched.sort_unstable();
            matched.dedup();
            buffers.set_dns(&dns, 0);
        }
        // The EVE form of the message only when something will alert.
        let dns_meta = if matched.is_empty() {
            None
        } else {
            dns.parsed.first().map(|p| dns.meta(p, false))
        };
        let decision = self.act(
            ruleset,
            &mut matched,
            facts,
            slot,
            &buffers,
            ctx,
            dns_meta.as_ref(),
        );
        let decision = if dns.parsed.is_empty() {
            decision
        } else {
            let d = self.dns_verdicts(ruleset, &mut dns, &matched, facts, slot, ctx, decision);
            self.baseline_dns(&dns, facts, slot, ctx, d)
        };
        self.dns = Some(dns);
        self.matched = matched;
        self.names = names;
        decision
    }
}

impl Engine {
    /// Gathers the candidate rules for the buffers `b` of a packet going to the server
    /// (`to_server`) or the client; `dns_only` limits the scan to the DNS buffers (for the
    /// second and later DNS messages of one TCP segment).
    fn collect_candidates(
        &mut self,
        ruleset: &Ruleset,
        facts: &PacketFacts,
        to_server: bool,
        b: &Buffers<'_>,
        dns_only: bool,
    ) {
        self.candidates.clear();
        let transport = match facts.proto {
            IpProto::TCP => Transport::Tcp,
            IpProto::UDP => Transport::Udp,
            _ => Transport::Other,
        };
        // Nothing indexed for this packet's kind: no candidate, and no cache line of the
        // indexes touched.
        if (dns_only || ruleset.by_address.is_empty()) && !ruleset.groups.has(transport, to_server)
        {
            return;
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamps.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
        let (gen, stamps, cands) = (self.generation, &mut self.stamps, &mut self.candidates);
        let scratch = self.scratch.as_ref();
        let mut add = |r: u32| {
            let s = &mut stamps[r as usize];
            if *s != gen {
                *s = gen;
                cands.push(r);
            }
        };
        if !dns_only {
            for ip in [&facts.src.0, &facts.dst.0] {
                ruleset.address_rules(*ip).iter().for_each(|&r| add(r));
            }
        }
        let http = b.request.is_some() || b.response.is_some();
        for buffer in ruleset.groups.buffers(transport, to_server) {
            // Which buffers this packet can have, decided before touching their groups.
            let possible = match buffer {
                Buffer::DnsQuery | Buffer::DnsQueryDotted => b.dns.is_some(),
                _ if dns_only => false,
                Buffer::Payload => true,
                _ => http,
            };
            if !possible {
                continue;
            }
            // The group table first: resolving a buffer costs more than an empty lookup.
            let Some(port_groups) = ruleset.groups.get(transport, to_server, buffer) else {
                continue;
            };
            let Some(data) = b.get(buffer) else { continue };
            let min_end = if buffer == Buffer::Payload { b.seen } else { 0 };
            let by_port = |p: u16| {
                if facts.has_ports && !port_groups.by_port.is_empty() {
                    port_groups.by_port.get(&p)
                } else {
                    None
                }
            };
            let same_port = facts.src.1 == facts.dst.1;
            let groups = [
                port_groups.any.as_ref(),
                by_port(facts.dst.1),
                if same_port {
                    None
                } else {
                    by_port(facts.src.1)
                },
            ];
            for group in groups.into_iter().flatten() {
                group.always.iter().for_each(|&r| add(r));
                if let Some(names) = &group.names {
                    // `dns.query` is the dotted name without its dot: the same hashes, one on.
                    let hashes = match buffer {
                        Buffer::DnsQuery => b.dns_hashes.get(1..).unwrap_or(&[]),
                        _ => b.dns_hashes,
                    };
                    let add_all = |v: u32, _| {
                        group.name_rules[v as usize].iter().for_each(|&r| add(r));
                    };
                    if hashes.len() == data.len() {
                        names.for_each_match_hashed(data, hashes, add_all);
                    } else {
                        names.for_each_match(data, add_all);
                    }
                }
                if let Some(matcher) = &group.matcher {
                    let on_port =
                        |p: u16| facts.has_ports && (p == facts.dst.1 || p == facts.src.1);
                    // Of the stream bytes inspected before, only those a pattern ending in
                    // the new ones can start in are scanned again.
                    let from = min_end.saturating_sub(group.longest.saturating_sub(1));
                    matcher.scan(&data[from..], scratch, |pattern, end| {
                        if from + end > min_end {
                            for &(r, port) in &group.pattern_rules[pattern] {
                                match port {
                                    PortKey::Any => add(r),
                                    PortKey::Port(p) if on_port(p) => add(r),
                                    PortKey::Port(_) => {}
                                }
                            }
                        }
                    });
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn act(
        &mut self,
        ruleset: &Arc<Ruleset>,
        matched: &mut [u32],
        facts: &PacketFacts,
        slot: usize,
        b: &Buffers<'_>,
        ctx: &PacketContext,
        dns: Option<&DnsMeta>,
    ) -> Decision {
        let alerted = self.flows.at(slot).alerted;
        if matched.is_empty() {
            return Decision {
                verdict: Verdict::Pass,
                mirror: alerted && self.config.mirror_alerted_flows,
            };
        }
        matched.sort_by_key(|&r| (ruleset.rules[r as usize].action, r));
        let first = ruleset.rules[matched[0] as usize].action;
        if first == Action::Pass {
            let passing = matched.iter().map(|&r| r as usize);
            passing
                .take_while(|&r| ruleset.rules[r].action == Action::Pass)
                .filter_map(|r| ruleset.hits.get(r))
                .for_each(|h| {
                    h.fetch_add(1, Ordering::Relaxed);
                });
            self.flows.at(slot).verdict = FlowVerdict::Pass;
            self.counters.pass_verdicts += 1;
            return Decision::PASS;
        }
        let mut blocking = false;
        let (flow_id, is_http) = {
            let f = self.flows.at(slot);
            (f.id, f.is_http)
        };
        for &r in matched.iter() {
            let rule = &ruleset.rules[r as usize];
            if let Some(h) = ruleset.hits.get(r as usize) {
                h.fetch_add(1, Ordering::Relaxed);
            }
            {
                let f = self.flows.at(slot);
                for fb in &rule.flowbits {
                    let value = match fb.op {
                        FlowbitOp::Set => Some(true),
                        FlowbitOp::Unset => Some(false),
                        FlowbitOp::Toggle => None,
                        FlowbitOp::IsSet | FlowbitOp::IsNotSet => continue,
                    };
                    fb.bits.iter().for_each(|&bit| f.set_bit(bit, value));
                }

                if !rule.noalert {
                    f.alerted = true;
                }
            }
            blocking |= matches!(rule.action, Action::Drop | Action::Reject);
            if rule.action == Action::Reject && self.config.mode == Mode::Prevention {
                self.reject_pending = true;
            }
            if rule.noalert || !self.threshold_allows(r, rule, facts, ctx.ts_us) {
                continue;
            }
            self.counters.alerts += 1;
            if let Some(eve) = &self.eve {
                let prevention = self.config.mode == Mode::Prevention;
                let blocked = prevention && matches!(rule.action, Action::Drop | Action::Reject);
                eve.push(EveEvent::Alert(AlertEvent {
                    packet: packet_fields(facts, flow_id, ctx),
                    app_proto: if is_http {
                        Some("http")
                    } else if dns.is_some() {
                        Some("dns")
                    } else {
                        None
                    },
                    source: AlertSource::Rule(r, Arc::clone(ruleset) as _),
                    action: if blocked { "blocked" } else { "allowed" },
                    http: b.request.map(|req| {
                        Box::new(HttpMeta {
                            hostname: String::from_utf8_lossy(b.host).into_owned(),
                            url: String::from_utf8_lossy(req.uri).into_owned(),
                            http_user_agent: req
                                .user_agent
                                .map(|u| String::from_utf8_lossy(u).into_owned()),
                            http_method: String::from_utf8_lossy(req.method).into_owned(),
                        })
                    }),
                    dns: dns.map(|d| Box::new(d.clone())),
                }));
            }
        }
        if blocking {
            if self.config.mode == Mode::Prevention {
                self.flows.at(slot).verdict = FlowVerdict::Drop;
                self.counters.verdict_drops += 1;
            }
            let alerted = self.flows.at(slot).alerted;
            return self.drop_decision(alerted);
        }
        Decision {
            verdict: Verdict::Pass,
            mirror: self.config.mirror_alerted_flows && self.flows.at(slot).alerted,
        }
    }

    /// Applies `threshold` and `detection_filter`: whether this match may alert.
    fn threshold_allows(&mut self, r: u32, rule: &Rule, facts: &PacketFacts, now_us: u64) -> bool {
        let Some(t) = rule.threshold.or(rule.detection_filter) else {
            return true;
        };
        let unspecified = IpAddr::from([0, 0, 0, 0]);
        let key = match t.track {
            Track::BySrc => (r, facts.src.0, unspecified),
            Track::ByDst => (r, facts.dst.0, unspecified),
            Track::ByRule => (r, unspecified, unspecified),
            Track::ByBoth => (r, facts.src.0, facts.dst.0),
        };
        if self.thresholds.len() > 65_536 {
            self.thresholds.clear();
        }
        let window = u64::from(t.seconds) * 1_000_000;
        let entry = self.thresholds.entry(key).or_insert((now_us, 0));
        if now_us.saturating_sub(entry.0) >= window {
            *entry = (now_us, 0);
        }
        entry.1 += 1;
        let n = entry.1;
        match t.kind {
            ThresholdKind::Limit => n <= t.count,
            ThresholdKind::Threshold => n.is_multiple_of(t.count.max(1)),
            ThresholdKind::Both => n == t.count,
            ThresholdKind::DetectionFilter => n > t.count,
        }
    }
}

/// What EVE records say of the packet `facts` of flow `flow_id`.
fn packet_fields(facts: &PacketFacts, flow_id: u64, ctx: &PacketContext) -> PacketFields {
    PacketFields {
        ts_us: ctx.ts_us,
        flow_id,
        port: ctx.port,
        src: facts.src,
        dst: facts.dst,
        proto: facts.proto,
        pcap_cnt: ctx.pcap_cnt,
    }
}

/// Every condition of `rule` other than the prefilter, for this packet.
fn verify(rule: &Rule, m: &PacketFacts, to_server: bool, flow: &Flow, b: &Buffers<'_>) -> bool {
    let view = rule.payload_view();
    if view == PayloadView::StreamOnly && !(m.proto == IpProto::TCP && b.segment_len > 0) {
        return false;
    }
    let proto_ok = match rule.protocol {
        Protocol::Ip => true,
        Protocol::Tcp | Protocol::TcpPkt | Protocol::TcpStream => m.proto == IpProto::TCP,
        Protocol::Http => m.proto == IpProto::TCP && flow.is_http,
        Protocol::Udp => m.proto == IpProto::UDP,
        Protocol::Icmp => m.proto.is_icmp(),
        Protocol::Dns => b.dns_msg.is_some(),
    };
    if !proto_ok {
        return false;
    }
    let side = |a: (IpAddr, u16), b: (IpAddr, u16)| {
        rule.src_set.contains(a.0)
            && rule.dst_set.contains(b.0)
            && (!m.has_ports || rule.src_ports.matches(a.1) && rule.dst_ports.matches(b.1))
    };
    if !(side(m.src, m.dst) || rule.bidirectional && side(m.dst, m.src)) {
        return false;
    }
    if rule.ip_only && flow.packets[usize::from(!to_server)] != 1 {
        return false;
    }
    if let Some(ts) = rule.flow.to_server {
        if ts != to_server {
            return false;
        }
    }
    if let Some(est) = rule.flow.established {
        if est != (flow.state == FlowState::Established) {
            return false;
        }
    }
    if let Some(f) = rule.flags {
        match m.tcp_flags {
            Some(flags) if f.check(flags) => {}
            _ => return false,
        }
    }
    if let Some(d) = rule.dsize {
        if !d.check(b.segment_len) {
            return false;
        }
    }
    for fb in &rule.flowbits {
        let check = |bit: &u16| flow.bit(*bit);
        let ok = match fb.op {
            FlowbitOp::IsSet if fb.any => fb.bits.iter().any(check),
            FlowbitOp::IsSet => fb.bits.iter().all(check),
            FlowbitOp::IsNotSet if fb.any => !fb.bits.iter().all(check),
            FlowbitOp::IsNotSet => !fb.bits.iter().any(check),
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    if rule.dns.any() {
        let Some(msg) = b.dns_msg else {
            return false;
        };
        if rule
            .dns
            .opcode
            .is_some_and(|c| !c.check(u16::from(msg.opcode)))
            || rule.dns.rrtype.is_some_and(|c| !c.check(msg.rrtype))
        {
            return false;
        }
    }
    rule.buffers.iter().all(|conds| {
        let data = match conds.buffer {
            Buffer::Payload if view == PayloadView::Packet => Some(b.segment()),
            other => b.get(other),
        };
        data.is_some_and(|d| content::matches(conds, d))
    })
}

#[cfg(test)]
mod keyword_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{load_text, Loaded, Vars};

    fn engine() -> Engine {
        let mut loaded = Loaded::default();
        load_text(
            "drop tcp any any -> any 80 (http.uri; content:\"/static/1\"; sid:1;)\n\
             alert tcp any any -> any any (http.user_agent; content:\"Mozilla\"; sid:2;)\n\
             alert udp any any -> any 123 (dsize:>100; sid:3;)\n\
             pass tcp any any -> any 22 (flags:S; sid:4;)\n\
             alert udp any any -> any 53 (content:\"|00 01|\"; sid:5;)",
            "t.rules",
            &Vars::default(),
            &mut loaded,
        );
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        let config = EngineConfig {
            flow_capacity: 1000,
            stream_window: 1024,
            mirror_alerted_flows: true,
            ..EngineConfig::standalone(Mode::Prevention)
        };
        Engine::new(Arc::new(Ruleset::compile(loaded)), config, None, 0)
    }

    /// Client-to-server TCP segments of one flow, carrying `payloads` at `seqs`.
    fn segments(payloads: &[(u32, &[u8])]) -> Vec<Vec<u8>> {
        payloads
            .iter()
            .map(|&(seq, payload)| super::keyword_tests::tcp(true, "A", seq, payload))
            .collect()
    }

    /// The alerts raised by an engine with a `window`-byte stream window deciding `frames`.
    fn window_alerts(window: usize, frames: &[Vec<u8>]) -> u64 {
        let mut loaded = Loaded::default();
        load_text(
            "alert tcp any any -> any 80 (content:\"ABCDEF\"; sid:1;)",
            "w.rules",
            &Vars::default(),
            &mut loaded,
        );
        let config = EngineConfig {
            stream_window: window,
            ..EngineConfig::standalone(Mode::Detection)
        };
        let mut e = Engine::new(Arc::new(Ruleset::compile(loaded)), config, None, 0);
        for (i, f) in frames.iter().enumerate() {
            let ctx = PacketContext {
                port: 0,
                queue: 0,
                ts_us: 1_000_000 + i as u64,
                pcap_cnt: None,
            };
            e.decide(f, &ctx);
        }
        e.counters.alerts
    }

    #[test]
    fn with_no_rules_flows_are_tracked_and_dns_is_read_only_when_something_takes_it() {
        let query = testkit::dns::message(7, false, 0, "example.com", 1, &[], 0);
        let frame = testkit::dns::udp(
            "10.0.0.1".parse().unwrap(),
            40000,
            "10.0.0.2".parse().unwrap(),
            53,
            &[],
            &query,
        );
        let ctx = PacketContext {
            port: 0,
            queue: 0,
            ts_us: 1_000_000,
            pcap_cnt: None,
        };
        for dns_events in [false, true] {
            let config = EngineConfig {
                dns_events,
                ..EngineConfig::standalone(Mode::Prevention)
            };
            let mut e = Engine::new(
                Arc::new(Ruleset::compile(Loaded::default())),
                config,
                None,
                0,
            );
            assert_eq!(e.decide(&frame, &ctx), Decision::PASS);
            assert_eq!(e.decide(&frame, &ctx), Decision::PASS);
            assert_eq!(e.flows.counters.created, 1);
            assert_eq!(e.flows.at(0).packets, [2, 0]);
            // `dns` events take the message even without rules.
            assert_eq!(e.counters.dns_messages, if dns_events { 2 } else { 0 });
        }
    }

    #[test]
    fn the_stream_window_keeps_the_last_bytes_of_in_order_data() {
        // Split over two in-order segments, the first longer than the window: matches.
        let long = b"0123456789ABC";
        assert_eq!(window_alerts(8, &segments(&[(1, long), (14, b"DEF")])), 1);
        // Three short segments, the pattern over all three: the window holds both earlier
        // ones.
        assert_eq!(
            window_alerts(8, &segments(&[(1, b"xAB"), (4, b"CD"), (6, b"EFy")])),
            1
        );
        // The start of the pattern fell out of the 8-byte window: no match.
        assert_eq!(
            window_alerts(8, &segments(&[(1, b"ABC"), (4, b"1234567"), (11, b"DEF")])),
            0
        );
        // Out of order (a gap in the sequence) restarts the window.
        assert_eq!(window_alerts(8, &segments(&[(1, b"ABC"), (9, b"DEF")])), 0);
    }

    #[test]
    fn in_order_data_is_rescanned_only_as_far_back_as_a_pattern_reaches() {
        // A long first segment ending in the pattern's start: the scan of the second
        // starts a pattern's length back into the window, and still finds it.
        let mut first = vec![b'.'; 600];
        first.extend_from_slice(b"ABC");
        assert_eq!(
            window_alerts(1024, &segments(&[(1, &first), (604, b"DEF")])),
            1
        );
        // A whole occurrence in earlier data is not reported again by later segments.
        let mut whole = vec![b'.'; 600];
        whole.extend_from_slice(b"ABCDEF");
        assert_eq!(
            window_alerts(
                1024,
                &segments(&[(1, &whole), (607, b"xyz"), (610, b"ABC")])
            ),
            1
        );
    }

    /// 3,000 frames of the benchmark mix over 300 flows (so verdicts are cached and flows
    /// evicted along the way), then 3,000 of every shape, malformed ones among them.
    fn mixed_frames(seed: u64) -> Vec<Vec<u8>> {
        let mut frames = testkit::traffic::bench_mix(3000, 300, seed);
        frames.extend(testkit::traffic::fidelity_mix(3000, seed + 1));
        frames
    }

    /// The context of the `i`th frame of a replay, one microsecond apart.
    fn replay_ctx(i: usize) -> PacketContext {
        PacketContext {
            port: 0,
            queue: 0,
            ts_us: 1_000_000 + i as u64,
            pcap_cnt: Some(i as u64 + 1),
        }
    }

    #[test]
    fn deciding_a_burst_equals_deciding_its_frames_in_turn() {
        let frames = mixed_frames(5);
        let ctx = replay_ctx;
        let mut one = engine();
        let single: Vec<Decision> = frames
            .iter()
            .enumerate()
            .map(|(i, f)| one.decide(f, &ctx(i)))
            .collect();
        // Chunks of several sizes, 32 (one prefetch round) and more (several).
        for chunk in [1, 7, 32, 100] {
            let mut burst = engine();
            let mut decided = vec![Decision::PASS; frames.len()];
            let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            let ctxs: Vec<PacketContext> = (0..frames.len()).map(ctx).collect();
            for ((f, c), d) in refs
                .chunks(chunk)
                .zip(ctxs.chunks(chunk))
                .zip(decided.chunks_mut(chunk))
            {
                burst.decide_burst(f, c, d);
            }
            assert_eq!(decided, single, "chunks of {chunk}");
            assert_eq!(
                format!("{:?}", burst.counters),
                format!("{:?}", one.counters),
                "chunks of {chunk}"
            );
        }
        let c = &one.counters;
        assert!(c.alerts > 0 && c.verdict_drops > 0, "{c:?}");
        assert!(single.iter().any(|d| d.verdict == Verdict::Drop));
    }

    #[test]
    fn the_header_fast_path_decides_as_the_full_decode() {
        // Every shape the mixes make, malformed frames among them, with rules that alert
        // and drop: reading frames through the fast path where it accepts them changes no
        // decision, alert, counter or flow.
        let frames = mixed_frames(8);
        let ctx = replay_ctx;
        let (mut fast, mut full) = (engine(), engine());
        let mut read = 0;
        for (i, f) in frames.iter().enumerate() {
            read += usize::from(crate::decode::fast_path::read(f).is_some());
            assert_eq!(
                fast.decide(f, &ctx(i)),
                full.decide_decoded(f, &ctx(i)),
                "frame {i}"
            );
        }
        assert_eq!(
            format!("{:?}", fast.counters),
            format!("{:?}", full.counters)
        );
        assert_eq!(
            format!("{:?}", fast.flow_counters()),
            format!("{:?}", full.flow_counters())
        );
        assert!(
            read > frames.len() / 2 && read < frames.len(),
            "{read} of {}",
            frames.len()
        );
        assert!(fast.counters.alerts > 0 && fast.counters.verdict_drops > 0);
    }
}
