//! The one narrow interface between the datapath and whatever decides about packets.
//!
//! A worker owns one [`PacketPolicy`] and asks it about every packet with the frame's
//! bytes, a burst at a time in arrival order ([`PacketPolicy::decide_burst`]); the answer
//! is a [`Decision`] per packet: forward or drop, and whether to copy the packet to the
//! mirror port. The policy sees bytes, never mbufs. Policies: [`PassAll`],
//! [`AddressPolicy`] (drop or mirror packets from or to configured addresses) and the
//! detection engine; `app` picks one per worker from the configuration. The mode
//! ([`Mode`]) says what a drop verdict does. Uses `decode` alone.

pub mod reply;

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::decode::{decode, DecodeError};
use crate::verdict::reply::ReplyDirection;

/// Detection (span port, rx only) or prevention (inline bridge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Watch a span port: alert, never forward.
    #[default]
    Detection,
    /// Bridge port pairs: forward what the policy passes, drop the rest.
    Prevention,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Detection => "detection",
            Mode::Prevention => "prevention",
        })
    }
}

/// The packet policy (a later engine replaces the address policy).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Packets from or to these addresses are dropped (prevention) or counted (detection).
    pub drop_addresses: Vec<IpAddr>,
    /// Packets from or to these addresses are copied to the mirror port.
    pub mirror_addresses: Vec<IpAddr>,
}

/// Where a packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketContext {
    /// Index of the ingress port in the configured data ports.
    pub port: usize,
    /// Rx queue (also the worker's index).
    pub queue: u16,
    /// Packet time in microseconds since the epoch: the capture's when the device
    /// reports it (net_pcap), else the time the burst was received.
    pub ts_us: u64,
    /// The packet's position on its port, counting from 1 (pcap_cnt in replay).
    pub pcap_cnt: Option<u64>,
}

/// What happens to the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it (prevention) or let it go (detection).
    Pass,
    /// Discard it (prevention); counted as a policy drop in detection.
    Drop,
}

/// The policy's answer for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Forward or drop.
    pub verdict: Verdict,
    /// Also send a copy (a refcount, not a byte copy) to the mirror port.
    pub mirror: bool,
}

impl Decision {
    /// Forward, no mirror.
    pub const PASS: Decision = Decision {
        verdict: Verdict::Pass,
        mirror: false,
    };
}

/// Decides about packets. One instance per worker, so it may keep per-worker state
/// without locks. Must not block, allocate per packet, or panic on any input.
pub trait PacketPolicy: Send {
    /// The decision for one frame.
    fn decide(&mut self, frame: &[u8], ctx: &PacketContext) -> Decision;

    /// The decisions for several frames in arrival order: `out[i]` is for `frames[i]`
    /// with `ctxs[i]` (the three slices are equally long). The result must be what
    /// [`PacketPolicy::decide`] gives frame by frame, which is the default; a policy
    /// overrides it to overlap the memory loads of the whole burst.
    fn decide_burst(&mut self, frames: &[&[u8]], ctxs: &[PacketContext], out: &mut [Decision]) {
        for ((frame, ctx), decision) in frames.iter().zip(ctxs).zip(out.iter_mut()) {
            *decision = self.decide(frame, ctx);
        }
    }

    /// Called by the worker between bursts: the place to pick up a reloaded ruleset and
    /// to publish counters. The default does nothing.
    fn refresh(&mut self) {}

    /// Hands over the frames the policy wants sent (resets, forged answers) for the packets
    /// decided since the last call, each with its direction relative to the packet that
    /// caused it. Called once per burst; the default has none.
    fn drain_replies(&mut self, _emit: &mut dyn FnMut(ReplyDirection, &[u8])) {}
}

/// Forwards everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassAll;

impl PacketPolicy for PassAll {
    #[inline]
    fn decide(&mut self, _frame: &[u8], _ctx: &PacketContext) -> Decision {
        Decision::PASS
    }
}

/// Drops (or mirrors) every IP packet whose source or destination is a listed address.
/// Frames that do not decode are passed and counted by reason.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    drop: HashSet<IpAddr>,
    mirror: HashSet<IpAddr>,
    malformed: [u64; DecodeError::ALL.len()],
}

impl AddressPolicy {
    /// Builds the policy from its configuration.
    pub fn new(config: &PolicyConfig) -> Self {
        AddressPolicy {
            drop: config.drop_addresses.iter().copied().collect(),
            mirror: config.mirror_addresses.iter().copied().collect(),
            malformed: [0; DecodeError::ALL.len()],
        }
    }

    /// Frames that failed to decode, by reason.
    pub fn malformed(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DecodeError::ALL
            .iter()
            .zip(self.malformed.iter())
            .map(|(e, n)| (e.reason(), *n))
    }

    fn listed(set: &HashSet<IpAddr>, a: Option<IpAddr>, b: Option<IpAddr>) -> bool {
        !set.is_empty()
            && (a.is_some_and(|a| set.contains(&a)) || b.is_some_and(|b| set.contains(&b)))
    }
}

impl PacketPolicy for AddressPolicy {
    fn decide(&mut self, frame: &[u8], _ctx: &PacketContext) -> Decision {
        let packet = match decode(frame) {
            Ok(p) => p,
            Err(e) => {
                self.malformed[e.index()] += 1;
                return Decision::PASS;
            }
        };
        let (src, dst) = (packet.src_ip(), packet.dst_ip());
        Decision {
            verdict: if Self::listed(&self.drop, src, dst) {
                Verdict::Drop
            } else {
                Verdict::Pass
            },
            mirror: Self::listed(&self.mirror, src, dst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn frame(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4(src, dst, 64)
            .udp(1, 2)
            .write(&mut out, b"x")
            .unwrap();
        out
    }

    const CTX: PacketContext = PacketContext {
        port: 0,
        queue: 0,
        ts_us: 0,
        pcap_cnt: None,
    };

    #[test]
    fn address_policy_drops_both_directions_of_a_listed_host() {
        let mut p = AddressPolicy::new(&PolicyConfig {
            drop_addresses: vec!["10.0.0.5".parse().unwrap()],
            mirror_addresses: vec![],
        });
        assert_eq!(
            p.decide(&frame([10, 0, 0, 5], [1, 1, 1, 1]), &CTX).verdict,
            Verdict::Drop
        );
        assert_eq!(
            p.decide(&frame([1, 1, 1, 1], [10, 0, 0, 5]), &CTX).verdict,
            Verdict::Drop
        );
        assert_eq!(
            p.decide(&frame([10, 0, 0, 6], [1, 1, 1, 1]), &CTX),
            Decision::PASS
        );
    }

    #[test]
    fn malformed_frames_pass_and_are_counted() {
        let mut p = AddressPolicy::new(&PolicyConfig {
            drop_addresses: vec!["10.0.0.5".parse().unwrap()],
            mirror_addresses: vec![],
        });
        assert_eq!(p.decide(&[0u8; 5], &CTX), Decision::PASS);
        let counted: u64 = p.malformed().map(|(_, n)| n).sum();
        assert_eq!(counted, 1);
    }
}
