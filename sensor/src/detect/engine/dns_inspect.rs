//! The engine's DNS side: framing and parsing the messages of a packet, domain-list
//! verdicts and forged answers, feeding the answer watchlist ([`super::watchlist`]), and
//! `dns` events.
//!
//! Per packet on a DNS port: UDP payloads are one message; TCP data is framed by its
//! length prefixes, with a message split across in-order segments completed from a
//! per-flow remainder (bounded; out-of-order data drops the remainder). Each message's
//! header and first question are parsed; answers only when something needs them (the
//! watchlist, `rpz-ip` triggers, `dns` events).

use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::watchlist::{WatchBus, WatchItem};
use super::Engine;
use crate::decode::{IpProto, Packet, Transport as L4};
use crate::detect::settings::DnsConfig;
use crate::detect::Ruleset;
use crate::events::{
    AlertAction, AlertEvent, AlertSource, BuiltinAlert, DnsAnswerMeta, DnsEvent, DnsMeta, EveEvent,
};
use crate::flow::FlowVerdict;
use crate::flow::PacketFacts;
use crate::names::domain_lists::{DomainLists, Entry, ListAction, ListMatch};
use crate::names::suffix_set::SuffixSet;
use crate::proto::dns::{self, Answer, AnswerData, DnsMessage, Forged};
use crate::verdict::reply::ReplyDirection;
use crate::verdict::Mode;
use crate::verdict::{Decision, PacketContext, Verdict};

/// Reserved signature ids of the built-in DNS signals.
pub mod sids {
    /// A query matched a domain list.
    pub const LIST: u32 = 9_100_001;
    /// A connection to an address answered for a watched name.
    pub const WATCH: u32 = 9_100_002;
    /// An answer carried an address inside an `rpz-ip` trigger.
    pub const ANSWER_ADDRESS: u32 = 9_100_003;
    /// A TLS ClientHello named a server on a domain list.
    pub const SNI_LIST: u32 = 9_100_004;
}

/// Most bytes of an incomplete DNS-over-TCP message kept per flow direction.
const TCP_PENDING_MAX: usize = 65_537;
/// Most flows with an incomplete DNS-over-TCP message per worker.
const TCP_PENDING_FLOWS: usize = 4096;
/// Most queries remembered (rule matched, answer not seen yet) per worker.
const PENDING_WATCH_MAX: usize = 65_536;

/// One parsed message of the current packet.
#[derive(Debug, Clone)]
pub(super) struct Parsed {
    /// Header and question.
    pub msg: DnsMessage,
    /// The message's bytes: in the UDP payload (`tcp == false`) or in the TCP scratch.
    pub body: Range<usize>,
    /// Whether `body` is in the TCP scratch.
    pub tcp: bool,
    /// The answers read, in [`DnsState::answers`].
    pub answers: Range<usize>,
    /// The question name's suffix hashes, in [`DnsState::hashes`].
    pub hashes: Range<usize>,
    /// The domain-list entry deciding for the question name.
    pub list_hit: Option<ListMatch>,
}

/// A worker's DNS state and per-packet scratch.
#[derive(Debug, Default)]
pub(super) struct DnsState {
    /// Names (dotted) of the current packet's messages and answers.
    pub arena: Vec<u8>,
    /// The current packet's messages.
    pub parsed: Vec<Parsed>,
    /// The current packet's answers.
    pub answers: Vec<Answer>,
    /// TCP message bytes of the current packet.
    pub tcp_bytes: Vec<u8>,
    /// Suffix hashes of the current packet's question names.
    pub hashes: Vec<u64>,
    tcp_pending: FxHashMap<(u64, bool), (u32, Vec<u8>)>,
    pending_watch: FxHashMap<(u64, u16), Arc<str>>,
    watch: FxHashMap<IpAddr, WatchItem>,
    /// Ports inspected as DNS besides 53.
    pub extra_ports: Vec<u16>,
    /// Messages that did not parse.
    pub malformed: u64,
    /// Addresses put on the watchlist.
    pub watched: u64,
}

impl DnsState {
    /// State for a worker with these settings.
    pub fn new(config: &DnsConfig) -> Self {
        DnsState {
            extra_ports: config.extra_ports.clone(),
            ..DnsState::default()
        }
    }

    /// Whether a packet between these ports is DNS.
    #[inline]
    pub fn is_dns_port(&self, sport: u16, dport: u16) -> bool {
        sport == 53
            || dport == 53
            || !self.extra_ports.is_empty()
                && (self.extra_ports.contains(&sport) || self.extra_ports.contains(&dport))
    }

    /// Parses the messages of one UDP payload or TCP segment (`tcp`: direction and
    /// sequence number) of flow `flow`, looking each question name up in `lists`.
    /// `wants_answers(msg, list_hit, expected)` says whether a response's records are read
    /// (`expected`: a query with its id matched on this flow).
    #[allow(clippy::too_many_arguments)]
    pub fn parse_packet(
        &mut self,
        payload: &[u8],
        flow: u64,
        tcp: Option<(bool, u32)>,
        lists: &DomainLists,
        max_answers: usize,
        mut wants_answers: impl FnMut(&DnsMessage, Option<&ListMatch>, bool) -> bool,
    ) {
        self.arena.clear();
        self.hashes.clear();
        self.parsed.clear();
        self.answers.clear();
        self.tcp_bytes.clear();
        let Some((to_server, seq)) = tcp else {
            self.parse_one(
                payload,
                0..payload.len(),
                flow,
                false,
                lists,
                max_answers,
                &mut wants_answers,
            );
            return;
        };
        let key = (flow, to_server);
        let mut data = std::mem::take(&mut self.tcp_bytes);
        match self.tcp_pending.remove(&key) {
            Some((next, rest)) if next == seq => {
                data.extend_from_slice(&rest);
                data.extend_from_slice(payload);
            }
            _ => data.extend_from_slice(payload),
        }
        let mut bodies = Vec::new();
        let used = dns::tcp_messages(&data, |m| {
            let start = m.as_ptr() as usize - data.as_ptr() as usize;
            bodies.push(start..start + m.len());
        });
        if used < data.len() && data.len() - used <= TCP_PENDING_MAX {
            if self.tcp_pending.len() >= TCP_PENDING_FLOWS {
                self.tcp_pending.clear();
            }
            self.tcp_pending.insert(
                key,
                (
                    seq.wrapping_add(payload.len() as u32),
                    data[used..].to_vec(),
                ),
            );
        }
        for body in bodies {
            self.parse_one(
                &data[body.clone()],
                body,
                flow,
                true,
                lists,
                max_answers,
                &mut wants_answers,
            );
        }
        self.tcp_bytes = data;
    }

    #[allow(clippy::too_many_arguments)]
    fn parse_one(
        &mut self,
        bytes: &[u8],
        body: Range<usize>,
        flow: u64,
        tcp: bool,
        lists: &DomainLists,
        max_answers: usize,
        wants_answers: &mut impl FnMut(&DnsMessage, Option<&ListMatch>, bool) -> bool,
    ) {
        let Some(msg) = dns::parse(bytes, &mut self.arena) else {
            self.malformed += 1;
            return;
        };
        // One pass of suffix hashes per name serves the lists and every name set of rules.
        let name = &self.arena[msg.name.clone()];
        let at = self.hashes.len();
        SuffixSet::append_suffix_hashes(name, &mut self.hashes);
        let hashes = at..self.hashes.len();
        let list_hit = if lists.is_empty() || name.is_empty() {
            None
        } else {
            lists.lookup_hashed(name, &self.hashes[hashes.clone()])
        };
        let first = self.answers.len();
        if msg.response
            && u32::from(msg.answer_count) + msg.other_count > 0
            && wants_answers(
                &msg,
                list_hit.as_ref(),
                self.pending_watch.contains_key(&(flow, msg.id)),
            )
            && !dns::read_answers(bytes, &msg, max_answers, &mut self.arena, &mut self.answers)
        {
            self.malformed += 1;
        }
        let answers = first..self.answers.len();
        self.parsed.push(Parsed {
            msg,
            body,
            tcp,
            answers,
            hashes,
            list_hit,
        });
    }

    /// The bytes of parsed message `p` (`udp_payload`: the packet's UDP payload).
    pub fn body<'a>(&'a self, p: &Parsed, udp_payload: &'a [u8]) -> &'a [u8] {
        if p.tcp {
            &self.tcp_bytes[p.body.clone()]
        } else {
            &udp_payload[p.body.clone()]
        }
    }

    /// The dotted question name of `p` (`None` without a question).
    pub fn name(&self, p: &Parsed) -> Option<&[u8]> {
        p.msg
            .has_question()
            .then(|| &self.arena[p.msg.name.clone()])
    }

    /// The EVE form of `p`, with its answers when `answers`.
    pub fn meta(&self, p: &Parsed, answers: bool) -> DnsMeta {
        let text = |r: &Range<usize>| {
            let s = &self.arena[r.clone()];
            let s = if s.len() > 1 { &s[1..] } else { s };
            String::from_utf8_lossy(s).into_owned()
        };
        let m = &p.msg;
        DnsMeta {
            kind: if m.response { "answer" } else { "query" },
            id: m.id,
            flags: m.response.then(|| format!("{:x}", m.flags)),
            rrname: text(&m.name),
            rrtype: dns::rrtype_name(m.rrtype),
            rcode: m.response.then(|| dns::rcode_name(m.rcode)),
            opcode: m.opcode,
            answers: if answers {
                self.answers[p.answers.clone()]
                    .iter()
                    .map(|a| DnsAnswerMeta {
                        rrname: text(&a.name),
                        rrtype: dns::rrtype_name(a.rrtype),
                        ttl: a.ttl,
                        rdata: match &a.data {
                            AnswerData::Addr(ip) => Some(ip.to_string()),
                            AnswerData::Cname(r) => Some(text(r)),
                            AnswerData::Other => None,
                        },
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Remembers that the query `id` on `flow` matched, so its answer's addresses are
    /// watched.
    pub fn expect_answer(&mut self, flow: u64, id: u16, origin: Arc<str>) {
        if self.pending_watch.len() >= PENDING_WATCH_MAX {
            self.pending_watch.clear();
        }
        self.pending_watch.insert((flow, id), origin);
    }

    /// The origin recorded for the query `id` on `flow`, forgotten once taken.
    pub fn take_expected(&mut self, flow: u64, id: u16) -> Option<Arc<str>> {
        self.pending_watch.remove(&(flow, id))
    }

    /// Publishes the addresses answered in `p` for watching (from `now_us`, for their
    /// TTL capped at `max_secs`), via `bus` or locally.
    pub fn watch_answers(
        &mut self,
        p: &Parsed,
        origin: Arc<str>,
        now_us: u64,
        max_secs: u32,
        bus: Option<&WatchBus>,
        capacity: usize,
    ) {
        let name: Arc<str> = self
            .name(p)
            .map(|n| String::from_utf8_lossy(&n[1.min(n.len())..]).into())
            .unwrap_or_else(|| "".into());
        for i in p.answers.clone() {
            let a = &self.answers[i];
            let AnswerData::Addr(addr) = a.data else {
                continue;
            };
            let item = WatchItem {
                addr,
                expires_us: now_us + u64::from(a.ttl.min(max_secs)) * 1_000_000,
                name: Arc::clone(&name),
                origin: Arc::clone(&origin),
            };
            self.watch_address(item, bus, capacity, now_us);
        }
    }

    /// Publishes one address for watching (`item`), via `bus` or locally.
    pub fn watch_address(
        &mut self,
        item: WatchItem,
        bus: Option<&WatchBus>,
        capacity: usize,
        now_us: u64,
    ) {
        self.watched += 1;
        match bus {
            Some(bus) => bus.publish(&item),
            None => self.add_watch(item, capacity, now_us),
        }
    }

    /// Takes the entries other workers published into this worker's inbox.
    pub fn receive(&mut self, bus: &WatchBus, worker: usize, capacity: usize, now_us: u64) {
        while let Some(item) = bus.take(worker) {
            self.add_watch(item, capacity, now_us);
        }
    }

    fn add_watch(&mut self, item: WatchItem, capacity: usize, now_us: u64) {
        if self.watch.len() >= capacity.max(1) && !self.watch.contains_key(&item.addr) {
            // Make room in bulk, so a full list costs O(1) per insert amortised: the
            // expired entries go, then the eighth that expires soonest.
            self.watch.retain(|_, w| w.expires_us > now_us);
            if self.watch.len() >= capacity.max(1) {
                let mut expiries: Vec<u64> = self.watch.values().map(|w| w.expires_us).collect();
                let k = expiries.len() / 8;
                let (_, cut, _) = expiries.select_nth_unstable(k);
                let cut = *cut;
                self.watch.retain(|_, w| w.expires_us > cut);
            }
        }
        match self.watch.get_mut(&item.addr) {
            Some(w) if w.expires_us >= item.expires_us => {}
            _ => {
                self.watch.insert(item.addr, item);
            }
        }
    }

    /// The live watch entry for `addr` at `now_us`.
    #[inline]
    pub fn watched(&self, addr: IpAddr, now_us: u64) -> Option<&WatchItem> {
        if self.watch.is_empty() {
            return None;
        }
        self.watch.get(&addr).filter(|w| w.expires_us > now_us)
    }
}

/// A built-in alert about to be queued.
pub(super) struct Builtin {
    pub(super) sid: u32,
    pub(super) signature: String,
    pub(super) detail_key: &'static str,
    pub(super) detail: serde_json::Value,
    pub(super) blocked: bool,
    pub(super) dns: Option<DnsMeta>,
    pub(super) tls: Option<Box<crate::events::TlsMeta>>,
}

impl Engine {
    /// Whether anything reads DNS messages: rules on DNS buffers, domain lists, `dns`
    /// events or baselines.
    pub(super) fn wants_dns(&self, ruleset: &Ruleset) -> bool {
        ruleset.needs_dns
            || !ruleset.lists.is_empty()
            || self.config.dns_events
            || self.baseline.is_some()
    }

    /// Parses the DNS messages of a packet on a DNS port when anything uses DNS.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn parse_dns(
        &mut self,
        ruleset: &Ruleset,
        dns: &mut DnsState,
        pkt: &Packet<'_>,
        facts: &PacketFacts,
        slot: usize,
        to_server: bool,
        segment: &[u8],
    ) {
        dns.parsed.clear();
        if !self.wants_dns(ruleset)
            || segment.is_empty()
            || !facts.proto.has_ports()
            || !dns.is_dns_port(facts.src.1, facts.dst.1)
        {
            return;
        }
        let flow_id = self.flows.at(slot).id;
        let tcp = match pkt.transport {
            L4::Tcp { seq, .. } => Some((to_server, seq)),
            _ => None,
        };
        // Records past the question are read (and checked) only when something uses them:
        // `dns` events, `rpz-ip` triggers, or the watchlist for a name that matched.
        let always = self.config.dns_events || ruleset.lists.has_address_triggers();
        let watch = self.config.dns.watch;
        dns.parse_packet(
            segment,
            flow_id,
            tcp,
            &ruleset.lists,
            self.config.dns.max_answers,
            |_, hit, expected| {
                always
                    || watch
                        && (expected || hit.is_some_and(|h| h.entry.action != ListAction::Allow))
            },
        );
        self.counters.dns_malformed = dns.malformed;
        self.counters.dns_messages += dns.parsed.len() as u64;
    }

    /// Domain lists on queries; watchlist and `rpz-ip` triggers on answers; `dns` events.
    /// Returns the packet's decision, changed when a list blocks.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn dns_verdicts(
        &mut self,
        ruleset: &Ruleset,
        dns: &mut DnsState,
        matched: &[u32],
        facts: &PacketFacts,
        slot: usize,
        ctx: &PacketContext,
        mut decision: Decision,
    ) -> Decision {
        let prevention = self.config.mode == Mode::Prevention;
        let flow_id = self.flows.at(slot).id;
        let tcp = facts.proto == IpProto::TCP;
        let watch = self.config.dns.watch;
        // A rule that matched a query watches its answer.
        let rule_origin = matched
            .iter()
            .map(|&r| &ruleset.rules[r as usize])
            .find(|r| !r.noalert)
            .map(|r| -> Arc<str> { format!("sid {}", r.sid).into() });
        for i in 0..dns.parsed.len() {
            let p = dns.parsed[i].clone();
            if self.config.dns_events {
                self.counters.dns_events += 1;
                if let Some(eve) = &self.eve {
                    eve.push(EveEvent::Dns(Box::new(DnsEvent {
                        packet: super::packet_fields(facts, flow_id, ctx),
                        dns: dns.meta(&p, true),
                    })));
                }
            }
            let hit = p
                .list_hit
                .filter(|_| p.msg.has_question())
                .map(|h| (h, p.msg.name.clone()));
            if !p.msg.response {
                if let (true, Some(origin)) = (watch, &rule_origin) {
                    dns.expect_answer(flow_id, p.msg.id, Arc::clone(origin));
                }
                let Some((hit, name)) = hit else { continue };
                if hit.entry.action == ListAction::Allow {
                    self.counters.dns_list_allowed += 1;
                    continue;
                }
                self.counters.dns_list_hits += 1;
                let list = &ruleset.lists.lists[usize::from(hit.entry.list)];
                let acts = list.acts(hit.entry.action, prevention);
                let action = hit.entry.action.as_str();
                if watch {
                    dns.expect_answer(flow_id, p.msg.id, Arc::clone(&list.origin));
                }
                let dns_ref = &*dns;
                self.builtin_alert(facts, slot, ctx, || {
                    let entry =
                        String::from_utf8_lossy(&dns_ref.arena[name][hit.start + 1..]).into_owned();
                    Builtin {
                        sid: sids::LIST,
                        signature: format!(
                            "SENSOR DNS query for a name on list {}: {entry} ({action})",
                            list.name
                        ),
                        detail_key: "dns_list",
                        detail: list.hit_detail(&entry, hit.entry.action),
                        blocked: acts,
                        dns: Some(dns_ref.meta(&p, false)),
                        tls: None,
                    }
                });
                if acts {
                    decision = self.block_query(ruleset, &hit.entry, i, &p.msg, tcp, slot);
                }
            } else {
                let listed = hit
                    .as_ref()
                    .filter(|(h, _)| h.entry.action != ListAction::Allow);
                let origin = dns.take_expected(flow_id, p.msg.id).or_else(|| {
                    listed.map(|(h, _)| -> Arc<str> {
                        format!(
                            "list {}",
                            ruleset.lists.lists[usize::from(h.entry.list)].name
                        )
                        .into()
                    })
                });
                if let (true, Some(origin)) = (watch, origin) {
                    let bus = self.config.watch_bus.clone();
                    let before = dns.watched;
                    dns.watch_answers(
                        &p,
                        origin,
                        ctx.ts_us,
                        self.config.dns.watch_max_secs,
                        bus.as_deref(),
                        self.config.dns.watch_capacity,
                    );
                    self.counters.watched_addresses += dns.watched - before;
                }
                if ruleset.lists.has_address_triggers() {
                    decision = self.answer_triggers(ruleset, dns, i, facts, slot, ctx, decision);
                }
            }
        }
        decision
    }

    /// Drops a blocked query; answers it (UDP) or resets its flow (TCP).
    fn block_query(
        &mut self,
        ruleset: &Ruleset,
        entry: &Entry,
        i: usize,
        msg: &DnsMessage,
        tcp: bool,
        slot: usize,
    ) -> Decision {
        self.counters.verdict_drops += 1;
        if tcp {
            self.reject_pending = true;
            self.flows.at(slot).verdict = FlowVerdict::Drop;
        } else {
            let what = match entry.action {
                ListAction::Nxdomain => Some(Forged::Nxdomain),
                ListAction::Nodata => Some(Forged::Nodata),
                ListAction::Sinkhole => Some(
                    ruleset
                        .lists
                        .sinkhole(entry, msg.rrtype == 28)
                        .map_or(Forged::Nodata, Forged::Address),
                ),
                _ => None,
            };
            self.forge_pending = what.map(|w| (i, w, ReplyDirection::ToSender));
        }
        Decision {
            verdict: Verdict::Drop,
            mirror: false,
        }
    }

    /// Checks the addresses answered in message `i` against `rpz-ip` triggers.
    #[allow(clippy::too_many_arguments)]
    fn answer_triggers(
        &mut self,
        ruleset: &Ruleset,
        dns: &DnsState,
        i: usize,
        facts: &PacketFacts,
        slot: usize,
        ctx: &PacketContext,
        decision: Decision,
    ) -> Decision {
        let p = &dns.parsed[i];
        let found = dns.answers[p.answers.clone()]
            .iter()
            .find_map(|a| match a.data {
                AnswerData::Addr(addr) => ruleset
                    .lists
                    .lookup_address(addr)
                    .filter(|(_, e)| e.action != ListAction::Allow)
                    .map(|(net, e)| (addr, net, e)),
                _ => None,
            });
        let Some((addr, net, entry)) = found else {
            return decision;
        };
        let list = &ruleset.lists.lists[usize::from(entry.list)];
        let prevention = self.config.mode == Mode::Prevention;
        let acts = list.acts(entry.action, prevention);
        self.builtin_alert(facts, slot, ctx, || Builtin {
            sid: sids::ANSWER_ADDRESS,
            signature: format!(
                "SENSOR DNS answer address {addr} inside {net} on list {} ({})",
                list.name,
                entry.action.as_str()
            ),
            detail_key: "dns_list",
            detail: serde_json::json!({
                "list": list.name,
                "network": net.to_string(),
                "address": addr.to_string(),
                "action": entry.action.as_str(),
                "log_only": list.config.log_only,
            }),
            blocked: acts,
            dns: Some(dns.meta(p, true)),
            tls: None,
        });
        if !acts {
            return decision;
        }
        self.counters.verdict_drops += 1;
        if facts.proto == IpProto::TCP {
            self.reject_pending = true;
            self.flows.at(slot).verdict = FlowVerdict::Drop;
        } else {
            let what = match entry.action {
                ListAction::Nodata | ListAction::Sinkhole => Some(Forged::Nodata),
                ListAction::Nxdomain => Some(Forged::Nxdomain),
                _ => None,
            };
            self.forge_pending = what.map(|w| (i, w, ReplyDirection::ToReceiver));
        }
        Decision {
            verdict: Verdict::Drop,
            mirror: false,
        }
    }

    /// On a flow's first packet: alerts (and in prevention with `dns.watch_drop`, drops
    /// the flow) when its destination is a watched address.
    pub(super) fn watch_check(
        &mut self,
        facts: &PacketFacts,
        slot: usize,
        ctx: &PacketContext,
    ) -> Option<Decision> {
        if !self.config.dns.watch {
            return None;
        }
        let w = self.dns.as_ref()?.watched(facts.dst.0, ctx.ts_us)?.clone();
        self.counters.watch_hits += 1;
        let blocked = self.config.mode == Mode::Prevention && self.config.dns.watch_drop;
        self.builtin_alert(facts, slot, ctx, || Builtin {
            sid: sids::WATCH,
            signature: format!(
                "SENSOR DNS watch: connection to {} answered for {} ({})",
                w.addr, w.name, w.origin
            ),
            detail_key: "dns_watch",
            detail: serde_json::json!({
                "address": w.addr.to_string(),
                "name": &*w.name,
                "origin": &*w.origin,
                "expires": crate::events::timestamp(w.expires_us),
            }),
            blocked,
            dns: None,
            tls: None,
        });
        if !blocked {
            return None;
        }
        self.flows.at(slot).verdict = FlowVerdict::Drop;
        self.counters.verdict_drops += 1;
        Some(Decision {
            verdict: Verdict::Drop,
            mirror: false,
        })
    }

    /// Counts a built-in alert and, when EVE is on, queues it (`make` builds its text only
    /// then).
    pub(super) fn builtin_alert(
        &mut self,
        facts: &PacketFacts,
        slot: usize,
        ctx: &PacketContext,
        make: impl FnOnce() -> Builtin,
    ) {
        self.counters.alerts += 1;
        let flow = self.flows.at(slot);
        flow.alerted = true;
        let flow_id = flow.id;
        if let Some(eve) = &self.eve {
            let a = make();
            eve.push(EveEvent::Alert(AlertEvent {
                packet: super::packet_fields(facts, flow_id, ctx),
                app_proto: if a.dns.is_some() {
                    Some("dns")
                } else {
                    a.tls.is_some().then_some("tls")
                },
                source: AlertSource::Builtin(Box::new(BuiltinAlert {
                    sid: a.sid,
                    signature: a.signature,
                    category: "Potentially Bad Traffic",
                    severity: 2,
                    detail_key: a.detail_key,
                    detail: a.detail,
                })),
                action: AlertAction::of(a.blocked),
                http: None,
                tls: a.tls,
                dns: a.dns.map(Box::new),
            }));
        }
    }

    /// Builds the forged answer for message `i` of the packet `frame` and queues it.
    pub(super) fn forge(
        &mut self,
        frame: &[u8],
        udp_payload: &[u8],
        i: usize,
        what: Forged,
        direction: ReplyDirection,
    ) {
        let Some(dns) = self.dns.as_ref() else {
            return;
        };
        let Some(p) = dns.parsed.get(i) else {
            return;
        };
        let body = dns.body(p, udp_payload);
        let answer = dns::forge_answer(body, &p.msg, what, self.config.dns.answer_ttl);
        if let Some(reply) =
            answer.and_then(|a| crate::verdict::reply::udp_reply(frame, &a, direction))
        {
            self.counters.dns_answers_forged += 1;
            self.replies.push((direction, reply));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::dns::tests::{message, query};

    #[test]
    fn tcp_messages_split_across_segments_and_several_in_one() {
        let mut s = DnsState::new(&DnsConfig::default());
        let (a, b) = (query("one.example"), query("two.example"));
        let mut data = Vec::new();
        for m in [&a, &b, &a] {
            data.extend_from_slice(&(m.len() as u16).to_be_bytes());
            data.extend_from_slice(m);
        }
        let cut = 2 + a.len() + 2 + b.len() + 7;
        s.parse_packet(
            &data[..cut],
            1,
            Some((true, 100)),
            &DomainLists::default(),
            8,
            |_, _, _| false,
        );
        let names: Vec<&[u8]> = s.parsed.iter().filter_map(|p| s.name(p)).collect();
        assert_eq!(names, [&b".one.example"[..], b".two.example"]);
        s.parse_packet(
            &data[cut..],
            1,
            Some((true, 100 + cut as u32)),
            &DomainLists::default(),
            8,
            |_, _, _| false,
        );
        assert_eq!(s.parsed.len(), 1);
        assert_eq!(s.name(&s.parsed[0]), Some(&b".one.example"[..]));
        assert_eq!(s.body(&s.parsed[0], &[]), a.as_slice());
        // Out of order: the remainder is dropped, nothing parses from the tail alone.
        s.parse_packet(
            &data[..cut],
            2,
            Some((true, 0)),
            &DomainLists::default(),
            8,
            |_, _, _| false,
        );
        s.parse_packet(
            &data[cut..],
            2,
            Some((true, 999)),
            &DomainLists::default(),
            8,
            |_, _, _| false,
        );
        assert!(s.parsed.is_empty() || s.malformed > 0);
    }

    #[test]
    fn answers_are_watched_for_their_ttl_and_the_capacity_holds() {
        let mut s = DnsState::new(&DnsConfig::default());
        let msg = message(9, 0x8180, "bad.example", 1, &[(1, 30, vec![192, 0, 2, 7])]);
        s.parse_packet(&msg, 1, None, &DomainLists::default(), 8, |_, _, _| true);
        let p = s.parsed[0].clone();
        s.watch_answers(&p, "list test".into(), 1_000_000, 3600, None, 2);
        let addr: IpAddr = "192.0.2.7".parse().unwrap();
        let w = s.watched(addr, 2_000_000).unwrap();
        assert_eq!((&*w.name, &*w.origin), ("bad.example", "list test"));
        assert!(
            s.watched(addr, 31_000_001).is_none(),
            "expired after its TTL"
        );
        for i in 0..5u8 {
            let m = message(
                9,
                0x8180,
                "x.example",
                1,
                &[(1, 30 + u32::from(i), vec![10, 0, 0, i])],
            );
            s.parse_packet(&m, 1, None, &DomainLists::default(), 8, |_, _, _| true);
            let p = s.parsed[0].clone();
            s.watch_answers(&p, "sid 1".into(), 1_000_000, 3600, None, 2);
        }
        assert!(s.watch.len() <= 2);
        assert!(s.watched("10.0.0.4".parse().unwrap(), 2_000_000).is_some());
    }

    #[test]
    fn the_bus_reaches_every_worker() {
        let bus = WatchBus::new(2, 16);
        let mut a = DnsState::new(&DnsConfig::default());
        let mut b = DnsState::new(&DnsConfig::default());
        let msg = message(9, 0x8180, "bad.example", 1, &[(28, 30, vec![0xfd; 16])]);
        a.parse_packet(&msg, 1, None, &DomainLists::default(), 8, |_, _, _| true);
        let p = a.parsed[0].clone();
        a.watch_answers(&p, "sid 5".into(), 0, 3600, Some(&bus), 8);
        a.receive(&bus, 0, 8, 0);
        b.receive(&bus, 1, 8, 0);
        let addr: IpAddr = "fdfd:fdfd:fdfd:fdfd:fdfd:fdfd:fdfd:fdfd".parse().unwrap();
        assert!(a.watched(addr, 1).is_some() && b.watched(addr, 1).is_some());
    }
}
