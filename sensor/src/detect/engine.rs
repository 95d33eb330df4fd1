//! The per-worker detection engine behind [`PacketPolicy`].
//!
//! Per packet: decode; track the flow (a cached drop or pass short-circuits); build the
//! buffers (payload, with the in-order TCP stream window before it so a content split
//! across segments matches; HTTP request buffers when a request starts in the segment);
//! gather candidates from the prefilter groups of the packet's transport, buffers and
//! ports and from the address index; verify each candidate exactly; then act in
//! Suricata's order (pass, drop, reject, alert). Scratch vectors are reused, so the steady
//! state allocates only for new flows' stream windows and for alerts.

mod act;
mod baseline_tap;
mod buffers;
mod candidates;
mod counters;
mod dns_inspect;
mod fragments;
mod http_inspect;
mod stream_events;
mod tls_inspect;
mod tls_lists;
mod verify;
mod watchlist;
mod xbits;

use act::packet_fields;
use buffers::{Buffers, HttpScratch, Workspace};
pub use counters::{EngineCounters, LiveCounters};
use verify::verify;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::content;
use super::prefilter::{PortKey, Transport};
use super::publish::{scratch_for, RulesHandle};
use super::Ruleset;
use crate::decode::fast_path;
use crate::decode::{
    decode, DecodeError, IpProto, Packet, Transport as L4, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN,
};
use crate::detect::settings::{DnsConfig, EncryptedPayload};
use crate::events::{
    AlertAction, AlertEvent, AlertSource, DnsMeta, EveEvent, EveQueue, HttpMeta, PacketFields,
    TlsMeta,
};
use crate::flow::{
    Flow, FlowLookup, FlowState, FlowTable, FlowVerdict, PacketFacts, Segment, Timeouts,
};
use crate::proto::dns::DnsMessage;
use crate::proto::http::{
    header_names, messages::Message, normalized_headers, parse_request, parse_response, Request,
    Response,
};
use crate::rules::ast::{
    Action, Buffer, FlowbitOp, FlowintOp, PayloadView, Protocol, Rule, ThresholdKind, Track,
};
use crate::verdict::reply::ReplyDirection;
use crate::verdict::Mode;
use crate::verdict::{Decision, PacketContext, PacketPolicy, Verdict};
pub use dns_inspect::sids;
use dns_inspect::DnsState;
pub use watchlist::{WatchBus, WatchItem};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Detection alerts only; prevention drops.
    pub mode: Mode,
    /// Flow table capacity per worker.
    pub flow_capacity: usize,
    /// What a full flow table does with a new flow's packet.
    pub flow_exception_policy: crate::detect::settings::FlowExceptionPolicy,
    /// Bytes of in-order TCP stream kept per direction.
    pub stream_window: usize,
    /// Mirror every packet of a flow once it alerted.
    pub mirror_alerted_flows: bool,
    /// A TLS flow's payload once it is encrypted.
    pub encrypted_payload: EncryptedPayload,
    /// IP defragmentation.
    pub defrag: crate::defrag::DefragConfig,
    /// TCP reassembly.
    pub stream: crate::flow::StreamConfig,
    /// HTTP parsing.
    pub http: crate::proto::http::messages::HttpConfig,
    /// TLS parsing.
    pub tls: crate::proto::tls::TlsConfig,
    /// DNS settings.
    pub dns: DnsConfig,
    /// Write a `dns` event per query and answer.
    pub dns_events: bool,
    /// Write a `tls` event per handshake.
    pub tls_events: bool,
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
            flow_exception_policy: detect.flow_exception_policy,
            stream_window: detect.stream_window,
            mirror_alerted_flows: detect.mirror_alerted_flows,
            encrypted_payload: detect.encrypted_payload,
            defrag: crate::defrag::DefragConfig::default(),
            stream: crate::flow::StreamConfig::default(),
            http: Default::default(),
            tls: Default::default(),
            dns: DnsConfig::default(),
            dns_events: false,
            tls_events: false,
            watch_bus: None,
            rules: None,
            live: None,
            baseline: None,
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
    defrag: crate::defrag::Defrag,
    http: http_inspect::HttpTable,
    tls: tls_inspect::TlsTable,
    /// `xbits` of this worker; taken out while a packet is inspected.
    xbits: xbits::XbitTable,
    /// The datagram a fragment completed, copied out of the defragmenter while decided.
    datagram: Vec<u8>,
    /// Counters.
    pub counters: EngineCounters,
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
        let defrag = crate::defrag::Defrag::new(config.defrag.clone());
        let http = http_inspect::HttpTable::new(config.http.clone());
        let tls = tls_inspect::TlsTable::new(config.tls.memcap);
        let baseline = config
            .baseline
            .as_ref()
            .map(|hub| crate::baseline::BaselineTap::new(Arc::clone(hub), usize::from(worker)));
        Engine {
            flows: {
                let mut flows = FlowTable::new(config.flow_capacity, Timeouts::default(), worker);
                if config.flow_exception_policy
                    != crate::detect::settings::FlowExceptionPolicy::EvictOldest
                {
                    flows.refuse_when_full();
                }
                flows.set_stream_config(config.stream.clone());
                flows
            },
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
            defrag,
            http,
            tls,
            xbits: Default::default(),
            datagram: Vec::new(),
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
        let Some((slot, to_server)) = self.flows.track_lookup(lookup, ctx.ts_us, tcp_flags) else {
            return self.flow_table_full();
        };
        if let Some(decision) = self.settle(slot) {
            return decision;
        }
        // `fast_path::read` accepts only frames the full decode accepts, with the same
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
        if let Some(frag) = pkt.frag {
            return self.defragment(&pkt, &frag, ctx);
        }
        self.decide_whole(frame, &pkt, ctx)
    }

    /// Decides a decoded frame that is not a fragment (a whole packet, or a datagram
    /// reassembled from fragments).
    fn decide_whole(&mut self, frame: &[u8], pkt: &Packet<'_>, ctx: &PacketContext) -> Decision {
        let Some(facts) = packet_facts(pkt, ctx.ts_us) else {
            return Decision::PASS;
        };
        let lookup = FlowLookup::of(&facts);
        let Some((slot, to_server)) = self.flows.track_lookup(&lookup, ctx.ts_us, facts.tcp_flags)
        else {
            return self.flow_table_full();
        };
        if let Some(decision) = self.settle(slot) {
            return decision;
        }
        self.decide_tracked(frame, pkt, &facts, slot, to_server, ctx)
    }

    /// The decision for a new flow's packet that the full flow table refused, by
    /// `detect.flow_exception_policy`.
    fn flow_table_full(&mut self) -> Decision {
        use crate::detect::settings::FlowExceptionPolicy;
        if self.config.flow_exception_policy == FlowExceptionPolicy::DropPacket
            && self.config.mode == Mode::Prevention
        {
            self.counters.flow_cap_drops += 1;
            Decision {
                verdict: Verdict::Drop,
                mirror: false,
            }
        } else {
            self.counters.flow_cap_passes += 1;
            Decision::PASS
        }
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
            uri,
            header,
        } = work;
        let Views {
            pkt,
            facts,
            slot,
            to_server,
        } = views;
        // TLS handshakes are parsed for rules that read them, the domain lists and events.
        let tls_on = ruleset.needs_tls || !ruleset.lists.is_empty() || self.config.tls_events;
        // Reassembly runs when a rule reads the TCP stream, HTTP or TLS.
        let reassemble = ruleset.needs_stream || ruleset.needs_http || tls_on;
        let window = self.config.stream_window;
        let http = ruleset.needs_http;
        let flow = self.flows.at(slot);
        let segment = pkt.payload;
        // Ciphertext of a TLS flow: no rule reads it (Suricata's default), so neither the
        // stream nor the HTTP parsers look at it.
        let ciphertext = match pkt.transport {
            L4::Tcp { seq, .. } if !segment.is_empty() => {
                flow.tls.observe(to_server, seq, segment)
                    && self.config.encrypted_payload == EncryptedPayload::Skip
            }
            _ => false,
        };
        if ciphertext {
            self.counters.encrypted_uninspected += 1;
        }
        // TCP: the segment's new in-order bytes, after the kept window, as the stream view.
        let mut taken = None;
        if let L4::Tcp {
            seq, ack, flags, ..
        } = pkt.transport
        {
            if reassemble {
                if flags & TCP_ACK != 0 {
                    self.flows.acknowledge(slot, to_server, ack);
                }
                // A SYN tells where the direction's stream starts.
                let engaged = (!segment.is_empty() || flags & TCP_SYN != 0)
                    && !self.flows.at(slot).streams[usize::from(!to_server)].finished();
                if engaged {
                    let seg = Segment {
                        seq,
                        syn: flags & TCP_SYN != 0,
                        payload: segment,
                    };
                    // Ciphertext moves the stream on without being read.
                    if ciphertext {
                        self.flows.skip_segment(slot, to_server, seg);
                    } else {
                        taken = Some(
                            self.flows
                                .take_segment(slot, to_server, seg, window, stream),
                        );
                    }
                }
            }
        }
        if let Some(t) = taken {
            self.counters.stream = self.flows.stream.counters;
            if let Some(d) = self.stream_exceptions(t, facts, slot, ctx) {
                return d;
            }
        }
        // Out of order or sent again: nothing new on the stream (the packet views still
        // see the segment); a stream no longer inspected leaves the segment alone.
        let (stream_view, seen): (&[u8], usize) = match taken {
            Some(t) if t.new > 0 => (stream.as_slice(), t.seen),
            Some(t) if !t.memcap => (&[], 0),
            _ => (segment, 0),
        };
        // HTTP: the messages of this direction the new in-order bytes brought.
        let flow_id = self.flows.at(slot).id;
        let is_http = self.flows.at(slot).is_http;
        let mut http_state = None;
        if http && facts.proto == IpProto::TCP && !ciphertext {
            let fin = facts
                .tcp_flags
                .is_some_and(|f| f & (TCP_FIN | TCP_RST) != 0);
            // A receiver does not hand a RST's data to its application.
            let rst = facts.tcp_flags.is_some_and(|f| f & TCP_RST != 0);
            let new_bytes = if rst { &[][..] } else { &stream_view[seen..] };
            let create = to_server && !new_bytes.is_empty();
            http_state = self.http.take(slot, flow_id, create);
            if let Some(st) = http_state.as_mut() {
                // Bodies are kept and decoded only if a rule reads them.
                let cfg = if ruleset.needs_body {
                    &self.http.config
                } else {
                    &self.http.headless
                };
                if (to_server || is_http) && st.feed(to_server, new_bytes, fin, cfg) {
                    self.counters.http.heads_too_long += 1;
                }
            }
        }
        // TLS: the handshake the new in-order bytes continue, on flows whose framing
        // is TLS's.
        let mut tls_state = None;
        let mut tls_new = 0;
        if tls_on && facts.proto == IpProto::TCP {
            let flow = self.flows.at(slot);
            let framed = flow.tls.state() == crate::flow::TlsState::Handshake;
            let new_bytes = match taken {
                Some(t) if t.new > 0 && !ciphertext => &stream_view[seen..],
                _ => &[][..],
            };
            let opens = new_bytes.first() == Some(&22) || crate::flow::sslv2_hello(new_bytes);
            let create = framed && to_server && opens;
            tls_state = self.tls.take(slot, flow_id, create, &mut self.counters.tls);
            if let Some(st) = tls_state.as_mut() {
                if !new_bytes.is_empty() && !st.handshake.finished() {
                    tls_new = st.handshake.feed(to_server, new_bytes);
                    self.counters.tls.count(tls_new, &st.handshake);
                }
            }
        }
        let messages = http_state.as_deref().map(|st| st.messages(to_server));
        self.count_http(messages, to_server, facts, slot, ctx);
        let message = |i: usize| messages.and_then(|m| m.inspect_nth(i));
        if to_server && messages.is_some_and(|m| m.to_inspect().any(|m| m.head_new)) {
            self.flows.at(slot).is_http = true;
        }
        let mut names = std::mem::take(&mut self.names);
        let Some(mut dns) = self.dns.take() else {
            return Decision::PASS;
        };
        let mut xbits = std::mem::take(&mut self.xbits);
        self.parse_dns(ruleset, &mut dns, pkt, facts, slot, to_server, segment);
        // One set of buffers; each DNS message and each HTTP message of the segment swaps in
        // its own fields, pass by pass.
        let base = Buffers {
            dns: None,
            dns_msg: None,
            dns_hashes: &[],
            payload: stream_view,
            packet: segment,
            seen,
            segment_len: segment.len(),
            payload_inspected: !ciphertext,
            request: None,
            response: None,
            head_new: false,
            body: None,
            body_seen: 0,
            tx_request: None,
            host: &[],
            uri: &[],
            header: &[],
            header_names: &[],
            tls: tls_state.as_deref().map(|t| &t.handshake),
            tls_new,
            xbits: &xbits,
            icmp: match pkt.transport {
                L4::Icmp { icmp_type, code } => Some((icmp_type, code)),
                _ => None,
            },
        };
        let mut matched = std::mem::take(&mut self.matched);
        matched.clear();
        let passes = dns
            .parsed
            .len()
            .max(messages.map_or(0, |m| m.inspect_len()))
            .max(1);
        // The pass whose message the EVE record of an alert describes: the first that
        // matched.
        let mut described = None;
        for pass in 0..passes {
            let m = message(pass);
            // A head inspected before (this pass brings body bytes) is scanned no more:
            // it is parsed, and its derived buffers built, only for candidates to verify.
            let head_new = m.is_some_and(|m| m.head_new);
            let (mut request, mut response) = match m {
                Some(m) if head_new => parse_message(m, to_server),
                _ => (None, None),
            };
            http_scratch(
                request.as_ref(),
                response.as_ref(),
                host,
                uri,
                header,
                &mut names,
            );
            {
                let scratch = HttpScratch::of(host, uri, header, &names);
                let b = base.for_pass(&dns, pass, m, request.as_ref(), response.as_ref(), scratch);
                self.collect_candidates(ruleset, facts, to_server, &b, pass > 0);
            }
            if let Some(m) = m.filter(|_| !head_new && !self.candidates.is_empty()) {
                (request, response) = parse_message(m, to_server);
                http_scratch(
                    request.as_ref(),
                    response.as_ref(),
                    host,
                    uri,
                    header,
                    &mut names,
                );
            }
            let scratch = HttpScratch::of(host, uri, header, &names);
            let b = base.for_pass(&dns, pass, m, request.as_ref(), response.as_ref(), scratch);
            let flow = self.flows.at(slot);
            let before = matched.len();
            for &r in &self.candidates {
                self.counters.candidates += 1;
                if verify(&ruleset.rules[r as usize], facts, to_server, flow, &b) {
                    matched.push(r);
                }
            }
            if matched.len() > before && described.is_none() {
                described = Some(pass);
            }
        }
        if passes > 1 {
            matched.sort_unstable();
            matched.dedup();
        }
        // The EVE form of the message only when something will alert.
        let dns_meta = if matched.is_empty() {
            None
        } else {
            dns.parsed.first().map(|p| dns.meta(p, false))
        };
        // Nothing matched: no EVE record, no message to parse again for it.
        let m = described.and_then(message);
        let (request, response) = m.map_or((None, None), |m| parse_message(m, to_server));
        http_scratch(
            request.as_ref(),
            response.as_ref(),
            host,
            uri,
            header,
            &mut names,
        );
        let scratch = HttpScratch::of(host, uri, header, &names);
        // A response's alert describes the request it answers: parsed only then.
        let tx_request = match http_state.as_deref() {
            Some(st) if !matched.is_empty() && !to_server && !st.last_request.is_empty() => {
                parse_request(&st.last_request)
            }
            _ => None,
        };
        let mut buffers = base.for_pass(&dns, 0, m, request.as_ref(), response.as_ref(), scratch);
        buffers.tx_request = tx_request.as_ref();
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
        // The matched rules' xbits operations, now that every rule saw the bits as they
        // were before this packet.
        for &r in &matched {
            let x = &ruleset.rules[r as usize].xbits;
            if !x.is_empty() {
                xbits.apply(x, facts.src.0, facts.dst.0, facts.now_us);
            }
        }
        self.xbits = xbits;
        self.counters.xbits_refused = self.xbits.refused;
        // A ClientHello's server name meets the domain lists as a query would.
        let decision = match tls_state.as_deref() {
            Some(t) if tls_new & crate::proto::tls::part::CLIENT_HELLO != 0 => {
                self.sni_lists(ruleset, &mut dns, &t.handshake, facts, slot, ctx, decision)
            }
            _ => decision,
        };
        self.dns = Some(dns);
        self.matched = matched;
        self.names = names;
        // A closed connection's HTTP state is done with.
        let closed = self.flows.at(slot).state == FlowState::Closed;
        let mut counters = self.counters.http;
        self.http.put(slot, http_state, closed, &mut counters);
        self.counters.http = counters;
        if let Some(st) = tls_state.as_deref_mut() {
            self.log_tls(st, closed, facts, to_server, flow_id, ctx);
        }
        self.tls
            .put(slot, tls_state, closed, &mut self.counters.tls);
        decision
    }
}

/// A message's head parsed as a request (to the server) or a response.
fn parse_message(m: &Message, to_server: bool) -> (Option<Request<'_>>, Option<Response<'_>>) {
    if to_server {
        (parse_request(&m.head), None)
    } else {
        (None, parse_response(&m.head))
    }
}

/// Builds the lowercased host, normalized URI and headers and header names of a
/// message's head in the scratch buffers (emptied when there is none).
fn http_scratch(
    request: Option<&Request<'_>>,
    response: Option<&Response<'_>>,
    host: &mut Vec<u8>,
    uri: &mut Vec<u8>,
    header: &mut Vec<u8>,
    names: &mut Vec<u8>,
) {
    host.clear();
    uri.clear();
    header.clear();
    if let Some(h) = request.map(|r| r.headers).or(response.map(|s| s.headers)) {
        normalized_headers(h, header);
    }
    if let Some(r) = request {
        if let Some(h) = r.host {
            host.extend(h.iter().map(u8::to_ascii_lowercase));
        }
        crate::proto::http::uri::normalize(r.uri, uri);
    }
    match (request, response) {
        (Some(r), _) => header_names(r.headers, names),
        (None, Some(s)) => header_names(s.headers, names),
        _ => names.clear(),
    }
}

#[cfg(test)]
mod keyword_tests;

#[cfg(test)]
mod evasion_tests;
#[cfg(test)]
mod tls_tests;

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
             alert udp any any -> any 53 (content:\"|00 01|\"; sid:5;)\n\
             drop http any any -> any any (http.uri; content:\"/static/js/\"; sid:6;)",
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
    /// evicted along the way), complete sessions of the realistic mix (HTTP, TLS, DNS),
    /// then 3,000 frames of every shape, malformed ones among them.
    fn mixed_frames(seed: u64) -> Vec<Vec<u8>> {
        let mut frames = testkit::traffic::bench_mix(3000, 300, seed);
        frames.extend(testkit::realistic::mix(100, seed));
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

    #[test]
    fn a_full_flow_table_applies_its_exception_policy_and_counts_it() {
        use crate::detect::settings::FlowExceptionPolicy;
        let udp = |sport: u16| {
            let mut out = Vec::new();
            etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .udp(sport, 9999)
                .write(&mut out, b"x")
                .unwrap();
            out
        };
        for (policy, mode, verdict) in [
            (
                FlowExceptionPolicy::DropPacket,
                Mode::Prevention,
                Verdict::Drop,
            ),
            (
                FlowExceptionPolicy::DropPacket,
                Mode::Detection,
                Verdict::Pass,
            ),
            (
                FlowExceptionPolicy::PassPacket,
                Mode::Prevention,
                Verdict::Pass,
            ),
            (
                FlowExceptionPolicy::EvictOldest,
                Mode::Prevention,
                Verdict::Pass,
            ),
        ] {
            let mut e = engine();
            e.config.mode = mode;
            e.config.flow_exception_policy = policy;
            e.flows = FlowTable::new(16, Timeouts::default(), 0);
            if policy != FlowExceptionPolicy::EvictOldest {
                e.flows.refuse_when_full();
            }
            let ctx = replay_ctx(0);
            for sport in 0..16 {
                assert_eq!(e.decide(&udp(1000 + sport), &ctx).verdict, Verdict::Pass);
            }
            // The seventeenth flow meets a full table; refused, the first flow stays
            // tracked (evicting, it goes, and coming back evicts the second).
            assert_eq!(
                e.decide(&udp(2000), &ctx).verdict,
                verdict,
                "{policy:?} {mode:?}"
            );
            assert_eq!(e.decide(&udp(1000), &ctx).verdict, Verdict::Pass);
            let f = e.flow_counters();
            let c = &e.counters;
            match policy {
                FlowExceptionPolicy::EvictOldest => assert_eq!((f.evicted, f.refused), (2, 0)),
                _ => {
                    assert_eq!((f.evicted, f.refused), (0, 1));
                    assert_eq!(c.flow_cap_drops + c.flow_cap_passes, 1);
                    assert_eq!(c.flow_cap_drops, u64::from(verdict == Verdict::Drop));
                }
            }
        }
    }
}
