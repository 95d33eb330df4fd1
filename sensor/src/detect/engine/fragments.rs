//! IP fragments on their way through the engine: held by the worker's defragmenter and
//! forwarded until one completes its datagram, which is then decided as one packet, so
//! the completing fragment carries the datagram's verdict; refused ones dropped in
//! prevention; anomalies reported as EVE `anomaly` events.

use super::*;
use crate::decode::FragFields;
use crate::defrag::{Anomaly, Outcome};
use crate::events::AnomalyEvent;

impl Engine {
    /// Decides fragment `pkt` (its fragment fields `frag`).
    pub(super) fn defragment(
        &mut self,
        pkt: &Packet<'_>,
        frag: &FragFields,
        ctx: &PacketContext,
    ) -> Decision {
        let insertion = self.defrag.insert(pkt, frag, ctx.ts_us);
        self.counters.defrag = self.defrag.counters;
        if let Some(anomaly) = insertion.anomaly {
            self.fragment_anomaly(pkt, anomaly, ctx);
        }
        match insertion.outcome {
            Outcome::Held => Decision::PASS,
            Outcome::Refused => self.refuse_fragment(),
            Outcome::Complete => {
                let mut datagram = std::mem::take(&mut self.datagram);
                datagram.clear();
                datagram.extend_from_slice(self.defrag.datagram());
                let decision = match decode(&datagram) {
                    // A datagram whose payload is fragmented again (IPv6 nested fragment
                    // headers) is no datagram a receiver takes.
                    Ok(whole) if whole.frag.is_none() => self.decide_whole(&datagram, &whole, ctx),
                    _ => self.refuse_fragment(),
                };
                self.datagram = datagram;
                decision
            }
        }
    }

    /// Drops (prevention) or passes a fragment whose datagram is refused.
    fn refuse_fragment(&mut self) -> Decision {
        match self.config.mode {
            Mode::Prevention => {
                self.counters.defrag_drops += 1;
                Decision {
                    verdict: Verdict::Drop,
                    mirror: false,
                }
            }
            Mode::Detection => Decision::PASS,
        }
    }

    /// Queues the `anomaly` event of a fragment.
    fn fragment_anomaly(&mut self, pkt: &Packet<'_>, anomaly: Anomaly, ctx: &PacketContext) {
        let (Some(src), Some(dst), Some(eve)) = (pkt.src_ip(), pkt.dst_ip(), &self.eve) else {
            return;
        };
        let ipv6 = matches!(pkt.network, crate::decode::Network::Ipv6 { .. });
        eve.push(EveEvent::Anomaly(Box::new(AnomalyEvent {
            ts_us: ctx.ts_us,
            flow_id: None,
            port: ctx.port,
            src,
            dst,
            ports: None,
            proto: pkt.ip_proto,
            pcap_cnt: ctx.pcap_cnt,
            kind: "decode",
            event: anomaly.event(ipv6),
            app_proto: None,
            layer: None,
        })));
    }
}
