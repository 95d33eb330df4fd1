//! What the engine does when reassembly reports trouble: data sent again with different
//! bytes (an EVE `anomaly` event, and the packet dropped in prevention so the receiver
//! keeps the data inspected), and a segment the full memory cap refused
//! (`stream.memcap_policy`: drop the flow, or stop inspecting its stream).

use super::*;
use crate::events::AnomalyEvent;
use crate::flow::stream::StreamMemcapPolicy;
use crate::flow::Taken;

impl Engine {
    /// The decision reassembly's outcome `t` forces on the packet, if any.
    pub(super) fn stream_exceptions(
        &mut self,
        t: Taken,
        pkt: &Packet<'_>,
        facts: &PacketFacts,
        slot: usize,
        ctx: &PacketContext,
    ) -> Option<Decision> {
        let prevention = self.config.mode == Mode::Prevention;
        if t.memcap {
            let policy = self.flows.stream.config.memcap_policy;
            if policy == StreamMemcapPolicy::DropFlow && prevention {
                self.counters.stream_memcap_drops += 1;
                let flow = self.flows.at(slot);
                flow.verdict = FlowVerdict::Drop;
                let alerted = flow.alerted;
                return Some(self.drop_decision(alerted));
            }
            self.counters.stream_memcap_ignored += 1;
            self.flows.ignore_stream(slot);
        }
        if t.conflict {
            self.stream_anomaly(pkt, facts, slot, ctx);
            if prevention {
                self.counters.stream_conflict_drops += 1;
                return Some(Decision {
                    verdict: Verdict::Drop,
                    mirror: false,
                });
            }
        }
        None
    }

    /// Queues the `anomaly` event of data sent again with different bytes.
    fn stream_anomaly(
        &mut self,
        pkt: &Packet<'_>,
        facts: &PacketFacts,
        slot: usize,
        ctx: &PacketContext,
    ) {
        let Some(eve) = &self.eve else {
            return;
        };
        eve.push(EveEvent::Anomaly(Box::new(AnomalyEvent {
            ts_us: ctx.ts_us,
            flow_id: Some(self.flows.at(slot).id),
            port: ctx.port,
            src: facts.src.0,
            dst: facts.dst.0,
            ports: Some((facts.src.1, facts.dst.1)),
            proto: pkt.ip_proto,
            pcap_cnt: ctx.pcap_cnt,
            kind: "stream",
            event: "stream.reassembly_overlap_different_data",
            app_proto: None,
            layer: None,
        })));
    }
}
