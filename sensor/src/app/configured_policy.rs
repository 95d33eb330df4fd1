//! The policy each worker runs, chosen from the configuration.

use crate::detect::engine::Engine;
use crate::verdict::reply::ReplyDirection;
use crate::verdict::{AddressPolicy, Decision, PacketContext, PacketPolicy, PassAll, PolicyConfig};

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
