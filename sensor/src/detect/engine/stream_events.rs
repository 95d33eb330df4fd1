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
            let event = "stream.reassembly_overlap_different_data";
            self.flow_anomaly(facts, slot, ctx, "stream", event, None);
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

    /// Queues an `anomaly` event of `kind` named `event` about a packet of the flow in
    /// `slot` (`app`: the application protocol and layer of an `applayer` event).
    pub(super) fn flow_anomaly(
        &self,
        facts: &PacketFacts,
        slot: usize,
        ctx: &PacketContext,
        kind: &'static str,
        event: &'static str,
        app: Option<(&'static str, &'static str)>,
    ) {
        let Some(eve) = &self.eve else {
            return;
        };
        eve.push(EveEvent::Anomaly(Box::new(AnomalyEvent {
            ts_us: ctx.ts_us,
            flow_id: Some(self.flows.slot_id(slot)),
            port: ctx.port,
            src: facts.src.0,
            dst: facts.dst.0,
            ports: Some((facts.src.1, facts.dst.1)),
            proto: facts.proto,
            pcap_cnt: ctx.pcap_cnt,
            kind,
            event,
            app_proto: app.map(|a| a.0),
            layer: app.map(|a| a.1),
        })));
    }
}
