//! IPv4 and IPv6 reassembly, one table per worker (no locks), within a memory cap.
//!
//! A fragment is held until its datagram is whole: the first fragment (offset 0) and the
//! last (no more fragments) have come and the data between them is covered. The fragment
//! that completes it yields the datagram as one frame (the first fragment's link and IP
//! headers, the fragment fields cleared, the lengths and IPv4 checksum set), which the
//! engine decodes and inspects as one packet; the earlier fragments were forwarded as they
//! came, so in prevention the completing fragment carries the datagram's verdict and the
//! receiver can never assemble a datagram the sensor dropped.
//!
//! Where fragments overlap, the data kept is what the receiving stack would keep
//! ([`OverlapPolicy`]); an overlap with different data is an anomaly, as are a datagram
//! of more than `max_fragments` fragments and a fragment ending past 65,535 bytes. Such a
//! datagram, and one whose fragments would take the table past its memory cap, is
//! refused: its fragments are dropped in prevention until its tracker times out, so no
//! receiver completes it unseen. A datagram not completed within `timeout_secs` of its
//! first fragment is discarded and counted. Uses `decode` alone.

mod datagram;
mod policy;

pub use policy::OverlapPolicy;

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::decode::{FragFields, Network, Packet};

/// The `[defrag]` table of the configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefragConfig {
    /// Bytes of fragments (with their bookkeeping) a worker holds at most.
    pub memcap: usize,
    /// Seconds a datagram may take to complete, from its first fragment to arrive.
    pub timeout_secs: u64,
    /// Fragments one datagram may have; beyond, it is an anomaly and refused.
    pub max_fragments: usize,
    /// Which data is kept where fragments overlap.
    pub policy: OverlapPolicy,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            memcap: 32 << 20,
            timeout_secs: 60,
            max_fragments: 1024,
            policy: OverlapPolicy::Bsd,
        }
    }
}

/// What defragmentation counted. Serialized as the `defrag` object of the engine's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DefragCounters {
    /// Fragments seen.
    pub fragments: u64,
    /// Datagrams reassembled.
    pub reassembled: u64,
    /// Fragments that overlapped data already held.
    pub overlaps: u64,
    /// Of those, fragments whose overlapping data differed (an anomaly).
    pub overlap_conflicts: u64,
    /// Datagrams refused for having more than `max_fragments` fragments.
    pub too_many: u64,
    /// Fragments refused for ending past 65,535 bytes.
    pub too_large: u64,
    /// Fragments refused because holding them would pass the memory cap.
    pub memcap_refused: u64,
    /// Fragments refused because their datagram was refused before.
    pub refused_later: u64,
    /// Datagrams discarded incomplete after the timeout.
    pub timed_out: u64,
    /// Bytes held now (a gauge).
    pub memuse: u64,
}

impl DefragCounters {
    /// Adds `other`'s counts to these (summing workers).
    pub fn add(&mut self, other: &DefragCounters) {
        self.fragments += other.fragments;
        self.reassembled += other.reassembled;
        self.overlaps += other.overlaps;
        self.overlap_conflicts += other.overlap_conflicts;
        self.too_many += other.too_many;
        self.too_large += other.too_large;
        self.memcap_refused += other.memcap_refused;
        self.refused_later += other.refused_later;
        self.timed_out += other.timed_out;
        self.memuse += other.memuse;
    }
}

/// An anomaly a fragment raised, reported as an EVE `anomaly` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anomaly {
    /// It overlapped held data with different bytes.
    Overlap,
    /// Its datagram passed `max_fragments`.
    TooMany,
    /// It ended past 65,535 bytes.
    TooLarge,
}

impl Anomaly {
    /// The event's name, in Suricata's decoder-event spelling.
    pub fn event(self, ipv6: bool) -> &'static str {
        match (self, ipv6) {
            (Anomaly::Overlap, false) => "decoder.ipv4.frag_overlap",
            (Anomaly::Overlap, true) => "decoder.ipv6.frag_overlap",
            (Anomaly::TooMany, false) => "decoder.ipv4.frag_too_many",
            (Anomaly::TooMany, true) => "decoder.ipv6.frag_too_many",
            (Anomaly::TooLarge, false) => "decoder.ipv4.frag_pkt_too_large",
            (Anomaly::TooLarge, true) => "decoder.ipv6.frag_pkt_too_large",
        }
    }
}

/// What became of a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Held until its datagram is complete: forward it unchanged.
    Held,
    /// It completed its datagram, which [`Defrag::datagram`] now holds.
    Complete,
    /// Refused (anomaly, memory cap, or a datagram refused before): drop it in prevention.
    Refused,
}

/// A fragment's outcome, and the anomaly it raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insertion {
    /// What became of it.
    pub outcome: Outcome,
    /// The anomaly it raised, if any.
    pub anomaly: Option<Anomaly>,
}

/// Bookkeeping counted per held fragment and per datagram, beside their bytes.
const FRAGMENT_COST: usize = 64;
const TRACKER_COST: usize = 256;

/// A datagram's identity: addresses, identification, protocol (IPv4) and VLAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DatagramKey {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    proto: u8,
    vlan: u16,
}

/// One held fragment.
#[derive(Debug)]
struct Fragment {
    offset: u32,
    data: Vec<u8>,
}

/// A datagram being reassembled.
#[derive(Debug, Default)]
struct Tracker {
    created_us: u64,
    fragments: Vec<Fragment>,
    /// The first fragment's bytes before its data (link and IP headers), once it came.
    head: Option<datagram::Head>,
    /// The payload's length, once the last fragment came.
    end: Option<u32>,
    /// Bytes this tracker counts against the cap.
    cost: usize,
    /// Refused: later fragments are refused too, until it times out.
    refused: bool,
}

/// One worker's reassembly table.
#[derive(Debug)]
pub struct Defrag {
    config: DefragConfig,
    table: HashMap<DatagramKey, Tracker>,
    used: usize,
    next_sweep_us: u64,
    datagram: datagram::Builder,
    /// Counters.
    pub counters: DefragCounters,
}

impl Defrag {
    /// An empty table.
    pub fn new(config: DefragConfig) -> Self {
        Defrag {
            config,
            table: HashMap::new(),
            used: 0,
            next_sweep_us: 0,
            datagram: datagram::Builder::default(),
            counters: DefragCounters::default(),
        }
    }

    /// The datagram the last [`Outcome::Complete`] fragment completed, as one frame.
    pub fn datagram(&self) -> &[u8] {
        self.datagram.frame()
    }

    /// Takes `pkt`, a fragment (`pkt.frag` is set), seen at `now_us`.
    pub fn insert(&mut self, pkt: &Packet<'_>, frag: &FragFields, now_us: u64) -> Insertion {
        self.counters.fragments += 1;
        if now_us >= self.next_sweep_us {
            self.sweep(now_us);
            self.next_sweep_us = now_us.saturating_add(1_000_000);
        }
        let ipv6 = matches!(pkt.network, Network::Ipv6 { .. });
        let (Some(src), Some(dst)) = (pkt.src_ip(), pkt.dst_ip()) else {
            return self.refuse(None, None);
        };
        let key = DatagramKey {
            src,
            dst,
            id: frag.id,
            proto: if ipv6 { 0 } else { pkt.ip_proto.0 },
            vlan: pkt.vlan[0],
        };
        let data = &pkt.frame[frag.data_at.min(pkt.frame.len())..];
        // The IP length bounds the data (Ethernet padding is not data).
        let data = &data[..datagram::data_len(pkt, frag).min(data.len())];
        // The datagram's headers count toward its 65,535 bytes (IPv6: the extension
        // headers before the fragment header).
        let header = if ipv6 {
            frag.header_at.saturating_sub(pkt.l3_offset + 40)
        } else {
            frag.data_at - pkt.l3_offset
        };
        if frag.offset as usize + data.len() + header > usize::from(u16::MAX) {
            self.counters.too_large += 1;
            return self.refuse(None, Some(Anomaly::TooLarge));
        }
        if let Some(t) = self.table.get(&key) {
            if t.refused {
                self.counters.refused_later += 1;
                return self.refuse(None, None);
            }
            if t.fragments.len() >= self.config.max_fragments {
                self.counters.too_many += 1;
                return self.refuse(Some(key), Some(Anomaly::TooMany));
            }
        }
        let mut cost = self.cost(&key, frag, data.len());
        if self.used + cost > self.config.memcap {
            self.sweep(now_us);
            cost = self.cost(&key, frag, data.len());
            if self.used + cost > self.config.memcap {
                self.counters.memcap_refused += 1;
                return self.refuse(Some(key), None);
            }
        }
        let tracker = self.table.entry(key).or_insert_with(|| Tracker {
            created_us: now_us,
            ..Tracker::default()
        });
        let anomaly = overlaps(tracker, frag.offset, data, &mut self.counters);
        if frag.offset == 0 && tracker.head.is_none() {
            tracker.head = Some(datagram::Head::of(pkt, frag));
        }
        if !frag.more && tracker.end.is_none() {
            tracker.end = Some(frag.offset + data.len() as u32);
        }
        tracker.fragments.push(Fragment {
            offset: frag.offset,
            data: data.to_vec(),
        });
        tracker.cost += cost;
        self.used += cost;
        self.counters.memuse = self.used as u64;
        let outcome = if self.complete(&key) {
            Outcome::Complete
        } else {
            Outcome::Held
        };
        Insertion { outcome, anomaly }
    }

    /// Whether the datagram of `key` is whole; if so builds it and forgets its tracker.
    fn complete(&mut self, key: &DatagramKey) -> bool {
        let Some(t) = self.table.get(key) else {
            return false;
        };
        let (Some(head), Some(end)) = (&t.head, t.end) else {
            return false;
        };
        let mut ranges: Vec<(u32, u32)> = t
            .fragments
            .iter()
            .map(|f| (f.offset, f.offset + f.data.len() as u32))
            .collect();
        ranges.sort_unstable();
        let mut covered = 0;
        for (start, stop) in ranges {
            if start > covered {
                return false;
            }
            covered = covered.max(stop);
        }
        if covered < end {
            return false;
        }
        let pieces = t.fragments.iter().map(|f| (f.offset, f.data.as_slice()));
        self.datagram.build(head, end, pieces, self.config.policy);
        self.forget(key);
        self.counters.reassembled += 1;
        true
    }

    /// What holding a fragment of `key`'s datagram with `len` bytes of data costs: the
    /// data and its bookkeeping, the first fragment's headers, a new datagram's tracker.
    fn cost(&self, key: &DatagramKey, frag: &FragFields, len: usize) -> usize {
        let t = self.table.get(key);
        let head = frag.offset == 0 && t.is_none_or(|t| t.head.is_none());
        len + FRAGMENT_COST
            + if head { frag.data_at } else { 0 }
            + if t.is_none() { TRACKER_COST } else { 0 }
    }

    /// Refuses a fragment; with `key`, refuses its datagram too (its held fragments are
    /// freed, its tracker stays until it times out).
    fn refuse(&mut self, key: Option<DatagramKey>, anomaly: Option<Anomaly>) -> Insertion {
        if let Some(t) = key.and_then(|k| self.table.get_mut(&k)) {
            // The tracker stays, at its own cost alone.
            self.used -= t.cost.saturating_sub(TRACKER_COST);
            t.cost = t.cost.min(TRACKER_COST);
            t.fragments = Vec::new();
            t.head = None;
            t.refused = true;
            self.counters.memuse = self.used as u64;
        }
        Insertion {
            outcome: Outcome::Refused,
            anomaly,
        }
    }

    /// Drops `key`'s tracker and its memory.
    fn forget(&mut self, key: &DatagramKey) {
        if let Some(t) = self.table.remove(key) {
            self.used -= t.cost;
            self.counters.memuse = self.used as u64;
        }
    }

    /// Discards every datagram older than the timeout.
    fn sweep(&mut self, now_us: u64) {
        let timeout_us = self.config.timeout_secs.saturating_mul(1_000_000);
        let mut freed = 0;
        let mut timed_out = 0;
        self.table.retain(|_, t| {
            let keep = now_us < t.created_us.saturating_add(timeout_us);
            if !keep {
                freed += t.cost;
                timed_out += u64::from(!t.refused);
            }
            keep
        });
        self.used -= freed;
        self.counters.timed_out += timed_out;
        self.counters.memuse = self.used as u64;
    }
}

/// Counts a fragment at `offset` overlapping data `t` holds; the anomaly when the
/// overlapping bytes differ.
fn overlaps(
    t: &Tracker,
    offset: u32,
    data: &[u8],
    counters: &mut DefragCounters,
) -> Option<Anomaly> {
    let end = offset + data.len() as u32;
    let mut overlapped = false;
    let mut differs = false;
    for f in &t.fragments {
        let (lo, hi) = (
            offset.max(f.offset),
            end.min(f.offset + f.data.len() as u32),
        );
        if lo < hi {
            overlapped = true;
            let new = &data[(lo - offset) as usize..(hi - offset) as usize];
            let old = &f.data[(lo - f.offset) as usize..(hi - f.offset) as usize];
            differs |= new != old;
        }
    }
    counters.overlaps += u64::from(overlapped);
    counters.overlap_conflicts += u64::from(differs);
    differs.then_some(Anomaly::Overlap)
}

#[cfg(test)]
mod tests;
