//! `xbits`: named bits kept per host (`track ip_src`, `ip_dst`) or host pair (`ip_pair`),
//! across flows, each for its `expire` seconds, as Suricata's host and ip-pair tables
//! keep them. Per worker, like flows: with symmetric RSS one host's flows may land on
//! several workers, and a bit set on one worker is not seen by another (README).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use crate::rules::ast::{FlowbitOp, Xbit, XbitTrack};

/// Bits a worker keeps at most; past it a new bit is refused (counted) once the expired
/// ones are gone.
const CAPACITY: usize = 65_536;

/// A bit's name (hashed), what it tracks and the addresses it is kept for.
type Key = (u64, u8, IpAddr, IpAddr);

/// One worker's bits, each with the time it expires (microseconds).
#[derive(Debug, Default)]
pub(super) struct XbitTable {
    bits: HashMap<Key, u64>,
    /// Bits refused because the table was full.
    pub(super) refused: u64,
}

fn key(x: &Xbit, src: IpAddr, dst: IpAddr) -> Key {
    let mut h = rustc_hash::FxHasher::default();
    x.name.hash(&mut h);
    let name = h.finish();
    match x.track {
        XbitTrack::IpSrc => (name, 0, src, src),
        XbitTrack::IpDst => (name, 1, dst, dst),
        XbitTrack::IpPair => (name, 2, src.min(dst), src.max(dst)),
    }
}

impl XbitTable {
    /// Whether the conditions (`isset`, `isnotset`) of `xbits` hold for a packet from
    /// `src` to `dst` at `now_us`.
    pub(super) fn hold(&self, xbits: &[Xbit], src: IpAddr, dst: IpAddr, now_us: u64) -> bool {
        xbits.iter().all(|x| {
            let set = || {
                self.bits
                    .get(&key(x, src, dst))
                    .is_some_and(|&expiry| expiry > now_us)
            };
            match x.op {
                FlowbitOp::IsSet => set(),
                FlowbitOp::IsNotSet => !set(),
                _ => true,
            }
        })
    }

    /// Applies the operations (`set`, `unset`, `toggle`) of `xbits`, a matched rule's.
    pub(super) fn apply(&mut self, xbits: &[Xbit], src: IpAddr, dst: IpAddr, now_us: u64) {
        for x in xbits {
            let k = key(x, src, dst);
            let expiry = now_us + u64::from(x.expire_secs) * 1_000_000;
            let live = self.bits.get(&k).is_some_and(|&e| e > now_us);
            match x.op {
                FlowbitOp::Set => self.set(k, expiry, now_us),
                FlowbitOp::Toggle if !live => self.set(k, expiry, now_us),
                FlowbitOp::Unset | FlowbitOp::Toggle => {
                    self.bits.remove(&k);
                }
                FlowbitOp::IsSet | FlowbitOp::IsNotSet => {}
            }
        }
    }

    fn set(&mut self, k: Key, expiry: u64, now_us: u64) {
        if self.bits.len() >= CAPACITY && !self.bits.contains_key(&k) {
            self.bits.retain(|_, &mut e| e > now_us);
            if self.bits.len() >= CAPACITY {
                self.refused += 1;
                return;
            }
        }
        self.bits.insert(k, expiry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xbit(op: FlowbitOp, track: XbitTrack) -> Xbit {
        Xbit {
            op,
            name: "seen".into(),
            track,
            expire_secs: 10,
        }
    }

    #[test]
    fn bits_follow_their_host_or_pair_and_expire() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        let mut t = XbitTable::default();
        let isset = |track| [xbit(FlowbitOp::IsSet, track)];
        t.apply(&[xbit(FlowbitOp::Set, XbitTrack::IpSrc)], a, b, 0);
        t.apply(&[xbit(FlowbitOp::Set, XbitTrack::IpPair)], a, b, 0);
        // ip_src: any flow from a; ip_pair: a and b either way round.
        assert!(t.hold(&isset(XbitTrack::IpSrc), a, c, 1));
        assert!(!t.hold(&isset(XbitTrack::IpSrc), c, a, 1));
        assert!(t.hold(&isset(XbitTrack::IpPair), b, a, 1));
        assert!(!t.hold(&isset(XbitTrack::IpPair), a, c, 1));
        assert!(t.hold(&[xbit(FlowbitOp::IsNotSet, XbitTrack::IpDst)], a, b, 1));
        // Expiry after 10 s; unset and toggle.
        assert!(!t.hold(&isset(XbitTrack::IpSrc), a, c, 10_000_001));
        t.apply(&[xbit(FlowbitOp::Unset, XbitTrack::IpPair)], b, a, 2);
        assert!(!t.hold(&isset(XbitTrack::IpPair), a, b, 3));
        t.apply(&[xbit(FlowbitOp::Toggle, XbitTrack::IpPair)], b, a, 4);
        assert!(t.hold(&isset(XbitTrack::IpPair), a, b, 5));
    }
}
