//! TCP reassembly, one direction at a time: the bytes the receiving application will
//! read, in sequence order, whatever order the segments came in.
//!
//! Each direction keeps the sequence number it expects next and the last `window` bytes
//! of in-order data (so a pattern split across segments is matched where its end
//! arrives). A segment beyond the expected number is held, in order, until the gap before
//! it fills; the segment that fills it delivers the held bytes with its own, so rules on
//! the stream see them together on that packet (and in prevention that packet is the one
//! dropped: the receiver never gets them in order). Data sent again is compared with what
//! was kept: different bytes are an anomaly, and the data first seen wins where it was
//! already delivered; held data overlapped by later data is resolved by
//! [`StreamOverlap`]. A SYN's data (TCP Fast Open) starts one past its sequence number.
//! An acknowledgement past the expected number means the receiver got bytes the sensor
//! never saw (a gap): it is counted, and inspection resumes after it. Past `depth` bytes a
//! direction's stream is no longer inspected (Suricata's `stream.reassembly.depth`).
//!
//! Held data counts against a per-worker memory cap: a segment that would pass it is not
//! held, and [`Taken::memcap`] tells the engine to apply its policy.

use serde::{Deserialize, Serialize};

/// Which data is kept where held segments overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum StreamOverlap {
    /// The data that came first (Suricata's default, most stacks).
    #[default]
    First,
    /// The data that came last.
    Last,
}

/// What a full reassembly memory cap does to the flow whose segment it refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum StreamMemcapPolicy {
    /// Drop the packet and the rest of the flow in prevention (in detection: stop
    /// inspecting its stream). Suricata's choice for inline sensors.
    #[default]
    DropFlow,
    /// Stop inspecting the flow's stream and pass it.
    PassFlow,
}

/// The `[stream]` table of the configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Bytes of each direction inspected as a stream (0: no limit).
    pub depth: u32,
    /// Bytes of out-of-order data (with bookkeeping) a worker holds at most.
    pub memcap: usize,
    /// What happens to a flow whose segment the full cap refused.
    pub memcap_policy: StreamMemcapPolicy,
    /// Which data is kept where held segments overlap.
    pub overlap_policy: StreamOverlap,
    /// Reassemble connections whose handshake was not seen (picked up mid-stream).
    pub midstream: bool,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            depth: 1 << 20,
            memcap: 256 << 20,
            memcap_policy: StreamMemcapPolicy::DropFlow,
            overlap_policy: StreamOverlap::First,
            midstream: true,
        }
    }
}

/// What reassembly counted. Serialized as the `stream` object of the engine's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StreamCounters {
    /// Segments held because they came before the data preceding them.
    pub out_of_order: u64,
    /// Segments whose data had been seen before, whole or in part.
    pub retransmissions: u64,
    /// Of those and of overlapping held segments, ones whose data differed (an anomaly).
    pub overlap_conflicts: u64,
    /// Acknowledgements of data the sensor never saw (gaps inspection resumed after).
    pub gaps: u64,
    /// Directions whose stream passed `depth` and was no longer inspected.
    pub depth_reached: u64,
    /// Segments the memory cap refused to hold.
    pub memcap_hits: u64,
    /// Bytes held out of order now (a gauge).
    pub memuse: u64,
}

impl StreamCounters {
    /// Adds `other`'s counts to these (summing workers).
    pub fn add(&mut self, other: &StreamCounters) {
        self.out_of_order += other.out_of_order;
        self.retransmissions += other.retransmissions;
        self.overlap_conflicts += other.overlap_conflicts;
        self.gaps += other.gaps;
        self.depth_reached += other.depth_reached;
        self.memcap_hits += other.memcap_hits;
        self.memuse += other.memuse;
    }
}

/// Bookkeeping counted per held segment, beside its bytes.
const SEGMENT_COST: usize = 48;

/// [`StreamDir::flags`]: the expected sequence number is known.
const STARTED: u8 = 1;
/// The direction passed `depth`.
const DEPTH_REACHED: u8 = 2;
/// The direction's stream is not inspected (the memory cap's pass policy, or a
/// mid-stream pickup when those are not reassembled).
const IGNORED: u8 = 4;

/// One direction's reassembly state, kept in the flow's slot.
#[derive(Debug, Clone, Default)]
pub struct StreamDir {
    /// The last `window` bytes of in-order data.
    tail: Vec<u8>,
    /// The sequence number expected next (valid when started).
    next_seq: u32,
    /// In-order bytes delivered (saturating).
    delivered: u32,
    flags: u8,
}

/// A held segment: its sequence number and data.
#[derive(Debug, Clone)]
pub struct Held {
    seq: u32,
    data: Vec<u8>,
}

/// What became of a segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Taken {
    /// The stream view was written: `seen` bytes inspected before, then the new ones.
    pub seen: usize,
    /// New in-order bytes (the segment's, and held ones it made contiguous).
    pub new: usize,
    /// Data seen before arrived again with different bytes.
    pub conflict: bool,
    /// The memory cap refused to hold the segment.
    pub memcap: bool,
}

impl StreamDir {
    /// Forgets the kept bytes (after a discontinuity such as ciphertext): later data is
    /// not joined to earlier.
    pub fn forget_tail(&mut self) {
        self.tail.clear();
    }

    /// Stops inspecting this direction's stream.
    pub fn ignore(&mut self) {
        self.flags |= IGNORED;
        self.tail = Vec::new();
    }

    /// Bytes this direction sent so far, counted as Suricata's `stream_size` counts them
    /// (its sequence numbers since the SYN: the data, and one for the SYN).
    pub fn size(&self) -> usize {
        self.delivered as usize + usize::from(self.flags & STARTED != 0)
    }

    /// Whether the stream is inspected no more (past depth, or ignored).
    pub fn finished(&self) -> bool {
        self.flags & (DEPTH_REACHED | IGNORED) != 0
    }
}

/// One worker's reassembly settings, memory and counters.
#[derive(Debug)]
pub struct Reassembler {
    /// Settings.
    pub config: StreamConfig,
    used: usize,
    /// Counters.
    pub counters: StreamCounters,
}

/// A TCP segment as reassembly takes it.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Sequence number.
    pub seq: u32,
    /// SYN flag set.
    pub syn: bool,
    /// The payload.
    pub payload: &'a [u8],
}

impl Reassembler {
    /// A reassembler with nothing held.
    pub fn new(config: StreamConfig) -> Self {
        Reassembler {
            config,
            used: 0,
            counters: StreamCounters::default(),
        }
    }

    /// Releases what a flow's `held` segments counted (the flow is gone).
    pub fn release(&mut self, held: &[Vec<Held>; 2]) {
        let n: usize = held.iter().flatten().map(cost).sum();
        self.used -= n.min(self.used);
        self.counters.memuse = self.used as u64;
    }

    /// Notes that the receiver of `dir` acknowledged everything before `ack`. When data
    /// is held and `ack` is past the expected number, the receiver got bytes the sensor
    /// never saw (a gap): it is counted, and the expected number moves to the first held
    /// segment, which the direction's next segment delivers.
    pub fn acknowledge(&mut self, dir: &mut StreamDir, held: &[Held], ack: u32) {
        let Some(first) = held.first() else {
            return;
        };
        if dir.flags & STARTED == 0 || ack.wrapping_sub(dir.next_seq) as i32 <= 0 {
            return;
        }
        self.counters.gaps += 1;
        dir.next_seq = first.seq;
        dir.tail.clear();
    }

    /// Passes over segment `seg` of direction `dir` without inspecting it (ciphertext):
    /// the expected number moves past it, nothing before it is joined to what follows,
    /// and held data it covers is freed.
    pub fn skip(&mut self, dir: &mut StreamDir, held: &mut Vec<Held>, seg: Segment<'_>) {
        let end = seg
            .seq
            .wrapping_add(u32::from(seg.syn))
            .wrapping_add(seg.payload.len() as u32);
        dir.tail.clear();
        if dir.flags & STARTED != 0 && end.wrapping_sub(dir.next_seq) as i32 <= 0 {
            return;
        }
        dir.next_seq = end;
        dir.flags |= STARTED;
        let mut freed = 0;
        held.retain(|h| {
            let keep = h.seq.wrapping_add(h.data.len() as u32).wrapping_sub(end) as i32 > 0;
            if !keep {
                freed += cost(h);
            }
            keep
        });
        self.used -= freed.min(self.used);
        self.counters.memuse = self.used as u64;
    }

    /// Takes segment `seg` of direction `dir` (with its held segments `held`): writes the
    /// stream view into `out` (the `window` bytes kept before, then the new ones) when it
    /// delivered new bytes, and keeps the last `window` bytes for the next segment.
    pub fn take(
        &mut self,
        dir: &mut StreamDir,
        held: &mut Vec<Held>,
        seg: Segment<'_>,
        window: usize,
        out: &mut Vec<u8>,
    ) -> Taken {
        let data_seq = seg.seq.wrapping_add(u32::from(seg.syn));
        if seg.syn && dir.delivered == 0 && held.is_empty() {
            dir.next_seq = data_seq;
            dir.flags |= STARTED;
        }
        let mut taken = Taken::default();
        if seg.payload.is_empty() || dir.finished() {
            return taken;
        }
        if dir.flags & STARTED == 0 {
            if !self.config.midstream {
                dir.flags |= IGNORED;
                return taken;
            }
            dir.next_seq = data_seq;
            dir.flags |= STARTED;
        }
        out.clear();
        out.extend_from_slice(&dir.tail);
        taken.seen = out.len();
        // Held data a gap left at the expected number comes first.
        self.drain(dir, held, out, &mut taken);
        let rel = data_seq.wrapping_sub(dir.next_seq) as i32;
        if rel > 0 {
            self.hold(held, data_seq, seg.payload, &mut taken);
        } else {
            // Data at or before the expected number: what was seen before is compared
            // with the bytes kept, and the rest is new.
            let back = (-rel) as usize;
            let before = back.min(seg.payload.len());
            if before > 0 {
                self.counters.retransmissions += 1;
                if differs(out, 0, back, seg.payload) {
                    taken.conflict = true;
                    self.counters.overlap_conflicts += 1;
                }
            }
            out.extend_from_slice(&seg.payload[before..]);
            dir.next_seq = dir
                .next_seq
                .wrapping_add((seg.payload.len() - before) as u32);
            self.drain(dir, held, out, &mut taken);
        }
        let mut new = out.len() - taken.seen;
        if new == 0 {
            return taken;
        }
        let depth = self.config.depth as usize;
        if depth > 0 && dir.delivered as usize + new >= depth {
            new = depth.saturating_sub(dir.delivered as usize);
            out.truncate(taken.seen + new);
            dir.flags |= DEPTH_REACHED;
            self.counters.depth_reached += 1;
            self.release(&[std::mem::take(held), Vec::new()]);
        }
        dir.delivered = dir.delivered.saturating_add(new as u32);
        taken.new = new;
        // Keep the last `window` bytes for the next segment.
        let keep = out.len().min(window);
        dir.tail.clear();
        dir.tail.extend_from_slice(&out[out.len() - keep..]);
        taken
    }

    /// Appends to `out` the held data that the expected number has reached.
    fn drain(
        &mut self,
        dir: &mut StreamDir,
        held: &mut Vec<Held>,
        out: &mut Vec<u8>,
        t: &mut Taken,
    ) {
        let mut freed = 0;
        while let Some(h) = held.first() {
            let rel = h.seq.wrapping_sub(dir.next_seq) as i32;
            if rel > 0 {
                break;
            }
            let h = held.remove(0);
            freed += cost(&h);
            let back = (-rel) as usize;
            // Held data the in-order data already covered: that came first in order.
            if back > 0 && differs(out, t.seen, back, &h.data) {
                t.conflict = true;
                self.counters.overlap_conflicts += 1;
            }
            let skip = back.min(h.data.len());
            out.extend_from_slice(&h.data[skip..]);
            dir.next_seq = dir.next_seq.wrapping_add((h.data.len() - skip) as u32);
        }
        self.used -= freed.min(self.used);
        self.counters.memuse = self.used as u64;
    }

    /// Holds `data` at `seq`, after the expected number, among `held` (sorted by
    /// sequence number, not overlapping), resolving overlaps by the policy.
    fn hold(&mut self, held: &mut Vec<Held>, seq: u32, data: &[u8], t: &mut Taken) {
        self.counters.out_of_order += 1;
        // Pieces of `data` not covered by held data, and overlaps compared.
        let base = held.first().map_or(seq, |h| h.seq.min_seq(seq));
        let at = |s: u32| s.wrapping_sub(base) as usize;
        let (start, end) = (at(seq), at(seq) + data.len());
        let mut pieces: Vec<(usize, usize)> = Vec::new();
        let mut cursor = start;
        for h in held.iter_mut() {
            let (hs, he) = (at(h.seq), at(h.seq) + h.data.len());
            if he <= cursor || hs >= end {
                continue;
            }
            if hs > cursor {
                pieces.push((cursor, hs));
            }
            let (lo, hi) = (hs.max(start), he.min(end));
            let mine = &data[lo - start..hi - start];
            let theirs = &mut h.data[lo - hs..hi - hs];
            if mine != theirs {
                t.conflict = true;
                self.counters.overlap_conflicts += 1;
                if self.config.overlap_policy == StreamOverlap::Last {
                    theirs.copy_from_slice(mine);
                }
            }
            cursor = cursor.max(he);
        }
        if cursor < end {
            pieces.push((cursor, end));
        }
        let need: usize = pieces.iter().map(|(a, b)| b - a + SEGMENT_COST).sum();
        if self.used + need > self.config.memcap {
            self.counters.memcap_hits += 1;
            t.memcap = true;
            return;
        }
        self.used += need;
        self.counters.memuse = self.used as u64;
        for (a, b) in pieces {
            let h = Held {
                seq: base.wrapping_add(a as u32),
                data: data[a - start..b - start].to_vec(),
            };
            let i = held.partition_point(|x| at(x.seq) < a);
            held.insert(i, h);
        }
    }
}

/// Whether `data`, starting `back` bytes before the end of `out`, differs from the bytes
/// of `out` (from index `from` on) it overlaps.
fn differs(out: &[u8], from: usize, back: usize, data: &[u8]) -> bool {
    let n = out.len();
    // data[i] lies at out[n - back + i] for i < back.
    let lo = (from + back).saturating_sub(n);
    let hi = data.len().min(back);
    lo < hi && out[n + lo - back..n + hi - back] != data[lo..hi]
}

/// What a held segment counts against the cap.
fn cost(h: &Held) -> usize {
    h.data.len() + SEGMENT_COST
}

/// The earlier of two sequence numbers (modulo 2^32).
trait MinSeq {
    fn min_seq(self, other: u32) -> u32;
}

impl MinSeq for u32 {
    fn min_seq(self, other: u32) -> u32 {
        if (other.wrapping_sub(self) as i32) < 0 {
            other
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests;
