//! The engine's side of per-host baselines: summaries of new connections and DNS
//! messages of profiled hosts go to the baseline thread, and the enforcement snapshot
//! drops what an enforced host never did (see [`crate::baseline`]).

use super::dns_inspect::DnsState;
use super::Engine;
use crate::baseline::{NameBuf, Observation, PacketRef};
use crate::decode::IpProto;
use crate::flow::FlowVerdict;
use crate::flow::PacketFacts;
use crate::verdict::Mode;
use crate::verdict::{Decision, PacketContext, Verdict};

impl Engine {
    fn packet_ref(&mut self, facts: &PacketFacts, slot: usize, ctx: &PacketContext) -> PacketRef {
        PacketRef {
            packet: super::packet_fields(facts, self.flows.at(slot).id, ctx),
            blocked: false,
        }
    }

    fn baseline_drop(&mut self, slot: usize) -> Decision {
        self.flows.at(slot).verdict = FlowVerdict::Drop;
        self.counters.verdict_drops += 1;
        self.counters.baseline_blocked += 1;
        Decision {
            verdict: Verdict::Drop,
            mirror: false,
        }
    }

    /// On a flow's first packet: when a profiled host initiates it (a TCP SYN, or the
    /// first UDP packet), tells the baseline thread; drops it in prevention when the host
    /// is enforced and the destination is new to it.
    pub(super) fn baseline_connection(
        &mut self,
        facts: &PacketFacts,
        slot: usize,
        ctx: &PacketContext,
    ) -> Option<Decision> {
        let tap = self.baseline.as_mut()?;
        tap.sync();
        let initiates = match (facts.proto, facts.tcp_flags) {
            (IpProto::TCP, Some(flags)) => flags & 0x12 == 0x02,
            (IpProto::UDP, _) => true,
            _ => false,
        };
        let src_profiled = tap.profiled(facts.src.0);
        if !initiates || !(src_profiled || tap.profiled(facts.dst.0)) {
            return None;
        }
        let blocked = self.config.mode == Mode::Prevention
            && src_profiled
            && tap.enforcement.blocks_connection(
                facts.src.0,
                facts.dst.0,
                facts.dst.1,
                facts.proto,
                ctx.ts_us,
            );
        let mut p = self.packet_ref(facts, slot, ctx);
        p.blocked = blocked;
        self.baseline.as_mut()?.send(Observation::Connection(p));
        blocked.then(|| self.baseline_drop(slot))
    }

    /// For each DNS message of the packet: a query from a profiled host, or an NXDOMAIN
    /// answer to one, goes to the baseline thread; a query from an enforced host for a
    /// registered domain it never resolved is dropped in prevention when `new_domain` is
    /// among the dropped signals.
    pub(super) fn baseline_dns(
        &mut self,
        dns: &DnsState,
        facts: &PacketFacts,
        slot: usize,
        ctx: &PacketContext,
        decision: Decision,
    ) -> Decision {
        let Some(tap) = self.baseline.as_mut() else {
            return decision;
        };
        tap.sync();
        let (src_profiled, dst_profiled) = (tap.profiled(facts.src.0), tap.profiled(facts.dst.0));
        if !src_profiled && !dst_profiled {
            return decision;
        }
        let mut decision = decision;
        for p in &dns.parsed {
            let Some(name) = dns.name(p) else { continue };
            let name = &name[1..];
            let response = p.msg.response;
            if (response && (p.msg.rcode != 3 || !dst_profiled)) || (!response && !src_profiled) {
                continue;
            }
            let blocked = !response
                && self.config.mode == Mode::Prevention
                && self
                    .baseline
                    .as_ref()
                    .is_some_and(|t| t.enforcement.blocks_query(facts.src.0, name, ctx.ts_us));
            let mut packet = self.packet_ref(facts, slot, ctx);
            packet.blocked = blocked;
            if let Some(tap) = self.baseline.as_mut() {
                tap.send(Observation::Dns {
                    packet,
                    response,
                    rcode: p.msg.rcode,
                    qtype: p.msg.rrtype,
                    name: NameBuf::new(name),
                });
            }
            if blocked {
                decision = self.baseline_drop(slot);
            }
        }
        decision
    }
}
