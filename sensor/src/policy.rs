//! The one narrow interface between the datapath and whatever decides about packets.
//!
//! A worker owns one [`PacketPolicy`] and asks it about every packet with the frame's
//! bytes, a burst at a time in arrival order ([`PacketPolicy::decide_burst`]); the answer
//! is a [`Decision`] per packet: forward or drop, and whether to copy the packet to the
//! mirror port. The policy sees bytes, never mbufs. Policies: [`PassAll`],
//! [`AddressPolicy`] (drop or mirror packets from or to configured addresses) and the
//! detection engine, chosen by [`ConfiguredPolicy`].

use std::collections::HashSet;
use std::net::IpAddr;

use crate::config::PolicyConfig;
use crate::decode::{decode, DecodeError};
use crate::detect::engine::Engine;
use crate::reply::ReplyDirection;

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

/// The policy a worker runs, chosen from the configuration: the detection engine when
/// rules are configured, else the address policy when addresses are listed, else pass-all.
pub enum ConfiguredPolicy {
    /// Nothing configured.
    PassAll(PassAll),
    /// Addresses configured.
    Address(AddressPolicy),
    /// Rules configured.
    Engine(Box<Engine>),
}

impl ConfiguredPolicy {
    /// Picks the policy for `config` (the address part only).
    pub fn from_config(config: &PolicyConfig) -> Self {
        if config.drop_addresses.is_empty() && config.mirror_addresses.is_empty() {
            ConfiguredPolicy::PassAll(PassAll)
        } else {
            ConfiguredPolicy::Address(AddressPolicy::new(config))
        }
    }

    /// The engine's counters, if this is the engine.
    pub fn engine(&self) -> Option<&Engine> {
        match self {
            ConfiguredPolicy::Engine(e) => Some(e),
            _ => None,
        }
    }
}

impl PacketPolicy for ConfiguredPolicy {
    #[inline]
    fn decide(&mut self, frame: &[u8], ctx: &PacketContext) -> Decision {
        match self {
            ConfiguredPolicy::PassAll(p) => p.decide(frame, ctx),
            ConfiguredPolicy::Address(p) => p.decide(frame, ctx),
            ConfiguredPolicy::Engine(e) => e.decide(frame, ctx),
        }
    }

    #[inline]
    fn decide_burst(&mut self, frames: &[&[u8]], ctxs: &[PacketContext], out: &mut [Decision]) {
        match self {
            ConfiguredPolicy::PassAll(p) => p.decide_burst(frames, ctxs, out),
            ConfiguredPolicy::Address(p) => p.decide_burst(frames, ctxs, out),
            ConfiguredPolicy::Engine(e) => e.decide_burst(frames, ctxs, out),
        }
    }

    fn refresh(&mut self) {
        if let ConfiguredPolicy::Engine(e) = self {
            e.refresh();
        }
    }

    fn drain_replies(&mut self, emit: &mut dyn FnMut(ReplyDirection, &[u8])) {
        if let ConfiguredPolicy::Engine(e) = self {
            e.drain_replies(emit);
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
