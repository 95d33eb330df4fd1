//! The per-worker flow table.
//!
//! A flow is keyed by its 5-tuple (and VLAN) in a canonical order, so both directions
//! find the same entry. The first packet's sender is the client (for TCP, the sender of
//! the SYN, or the receiver of a SYN-ACK). TCP state follows the flags: `New` until the
//! handshake completes or, for a flow picked up mid-stream, until both sides have sent;
//! `Closed` after a FIN from each side or a RST. A flow idle longer than its state's
//! timeout is started afresh. The table has a hard capacity: when full, the oldest flow
//! (by creation) is evicted and counted. A flow's verdict is cached: once dropped or
//! passed, the rest of it is decided without inspection.
//!
//! Hot path: one probe of a compact index (8 bytes per bucket: a 32-bit hash tag and the
//! slot; 1 MiB for the default 65,536 flows, so it mostly stays in cache) and one access
//! to the flow's slot, whose first bytes hold the key being compared. A general-purpose
//! map costs three dependent cache misses per packet here (control bytes, entry, slot);
//! this layout costs about one. A new flow is one slab slot (reused). Uses `decode` alone.

pub mod stream;
mod tls_framing;

pub use stream::{Reassembler, Segment, StreamConfig, StreamDir, Taken};
pub use tls_framing::{sslv2_hello, TlsFraming, TlsState};

use std::collections::VecDeque;

use std::net::IpAddr;

use crate::decode::fast_path::FlowHeader;
use crate::decode::IpProto;

/// The canonical key: lower endpoint first, addresses as two 64-bit halves of their
/// IPv6 form (IPv4 mapped), so ordering, comparing and hashing are integer work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    a: [u64; 2],
    b: [u64; 2],
    ports: [u16; 2],
    vlan: u16,
    proto: IpProto,
}

/// An address as the high and low halves of its IPv6 form (IPv4 mapped): comparing the
/// halves in order compares the addresses.
#[inline]
fn halves(ip: IpAddr) -> [u64; 2] {
    let x = match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    };
    [(x >> 64) as u64, x as u64]
}

impl FlowKey {
    /// The key of a packet from `src` to `dst`; the same for the reply.
    #[inline]
    pub fn new(src: (IpAddr, u16), dst: (IpAddr, u16), proto: IpProto, vlan: u16) -> Self {
        Self::oriented(src, dst, proto, vlan).0
    }

    /// [`FlowKey::new`], with whether `src` is the key's first endpoint.
    #[inline]
    pub fn oriented(
        src: (IpAddr, u16),
        dst: (IpAddr, u16),
        proto: IpProto,
        vlan: u16,
    ) -> (Self, bool) {
        Self::of_halves((halves(src.0), src.1), (halves(dst.0), dst.1), proto, vlan)
    }

    /// [`FlowKey::oriented`] for addresses already in halves (see [`FlowHeader`]).
    #[inline]
    fn of_halves(
        s: ([u64; 2], u16),
        d: ([u64; 2], u16),
        proto: IpProto,
        vlan: u16,
    ) -> (Self, bool) {
        let src_is_a = (s.0[0], s.0[1], s.1) <= (d.0[0], d.0[1], d.1);
        let (a, b, ports) = if src_is_a {
            (s.0, d.0, [s.1, d.1])
        } else {
            (d.0, s.0, [d.1, s.1])
        };
        let key = FlowKey {
            a,
            b,
            ports,
            vlan,
            proto,
        };
        (key, src_is_a)
    }

    /// Whether both endpoints are the same address and port (a packet to itself).
    fn is_loop(&self) -> bool {
        self.a == self.b && self.ports[0] == self.ports[1]
    }
}

/// TCP (or pseudo) state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowState {
    /// Handshake not complete / one side only.
    New,
    /// Both sides talking.
    Established,
    /// FIN both ways or RST.
    Closed,
}

/// A cached decision for the rest of the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowVerdict {
    /// Keep inspecting.
    Inspect,
    /// A pass rule matched: no more inspection, forward.
    Pass,
    /// A drop or reject matched: drop the rest without inspection.
    Drop,
}

/// One flow, one cache line of what every packet touches, then the rest.
///
/// The first 64 bytes (the key, time, counts, state, verdict and flags) are all a packet
/// without stream inspection reads or writes, so tracking it costs one cache line; the
/// id, flowbits and stream windows follow in the slot's later lines, touched only by
/// alerts, flowbit rules and TCP payload inspection.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub struct Flow {
    /// The canonical key (compared on lookup).
    key: FlowKey,
    /// Last packet time, microseconds.
    pub last_seen_us: u64,
    /// Packets seen from client and from server (saturating).
    pub packets: [u32; 2],
    /// State.
    pub state: FlowState,
    /// Cached verdict.
    pub verdict: FlowVerdict,
    /// Handshake and teardown seen: the `TCP_*` bits.
    tcp_seen: u8,
    /// Whether the client is the key's first endpoint.
    client_is_a: bool,
    /// An HTTP request was seen on this flow.
    pub is_http: bool,
    /// An alert was raised on this flow (for mirroring).
    pub alerted: bool,
    /// Stable id (unique per worker; the worker index is in the top bits).
    pub id: u64,
    /// Reassembly state (to server, to client).
    pub streams: [StreamDir; 2],
    /// What few flows need: flowbits, held segments (boxed: the slot
    /// stays small, and most flows never allocate it).
    extra: Option<Box<FlowExtra>>,
    /// TLS record framing (whether the payload has become ciphertext).
    pub tls: TlsFraming,
}

/// The rarely needed part of a flow.
#[derive(Debug, Clone, Default)]
struct FlowExtra {
    /// Flowbits, one bit per interned name.
    flowbits: Vec<u64>,
    /// Segments held out of order (to server, to client).
    held: [Vec<stream::Held>; 2],
    /// `flowint` variables set on the flow.
    ints: Vec<(std::sync::Arc<str>, u32)>,
}

/// [`Flow::tcp_seen`]: a SYN from the client.
const TCP_SYN: u8 = 1;
/// A SYN-ACK from the server.
const TCP_SYNACK: u8 = 2;
/// A FIN from the client (the next bit: from the server).
const TCP_FIN: u8 = 4;

impl Flow {
    /// Whether a flowbit is set.
    pub fn bit(&self, i: u16) -> bool {
        self.extra.as_ref().is_some_and(|x| {
            x.flowbits
                .get(usize::from(i) / 64)
                .is_some_and(|w| w & (1 << (i % 64)) != 0)
        })
    }

    /// The value of the `flowint` variable `name`, if it was set.
    pub fn int(&self, name: &str) -> Option<u32> {
        let x = self.extra.as_ref()?;
        x.ints.iter().find(|(n, _)| &**n == name).map(|(_, v)| *v)
    }

    /// Sets the `flowint` variable `name` to `f(its value)` (`None`: not set yet). A flow
    /// keeps at most 64 variables; more are not set.
    pub fn update_int(&mut self, name: &std::sync::Arc<str>, f: impl FnOnce(Option<u32>) -> u32) {
        let ints = &mut self.extra.get_or_insert_with(Box::default).ints;
        if let Some((_, v)) = ints.iter_mut().find(|(n, _)| n == name) {
            *v = f(Some(*v));
        } else if ints.len() < 64 {
            ints.push((std::sync::Arc::clone(name), f(None)));
        }
    }

    /// Sets, clears or toggles a flowbit.
    pub fn set_bit(&mut self, i: u16, value: Option<bool>) {
        let bits = &mut self.extra.get_or_insert_with(Box::default).flowbits;
        let word = usize::from(i) / 64;
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        let mask = 1u64 << (i % 64);
        match value {
            Some(true) => bits[word] |= mask,
            Some(false) => bits[word] &= !mask,
            None => bits[word] ^= mask,
        }
    }
}

/// Timeouts per state, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Flows not yet established.
    pub new: u64,
    /// Established flows.
    pub established: u64,
    /// Closed flows.
    pub closed: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            new: 30,
            established: 300,
            closed: 10,
        }
    }
}

/// Counters of a flow table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowCounters {
    /// Flows created.
    pub created: u64,
    /// Flows evicted because the table was full.
    pub evicted: u64,
    /// New flows refused because the table was full (when it refuses rather than evicts).
    pub refused: u64,
    /// Flows restarted after their timeout.
    pub timed_out: u64,
    /// Closed TCP connections restarted by a new SYN on the same addresses and ports.
    pub reused: u64,
}

/// Open-addressing index from a key's hash to its slot: linear probing, at most half
/// full, backward-shift deletion (no tombstones). A bucket is `tag << 32 | (slot + 1)`,
/// 0 when empty; the tag is the hash's low 32 bits, so a bucket's home is `tag & mask`.
#[derive(Debug)]
struct FlowIndex {
    buckets: Vec<u64>,
    mask: usize,
}

impl FlowIndex {
    fn new(capacity: usize) -> Self {
        let n = (capacity.max(1) * 2).next_power_of_two().max(16);
        FlowIndex {
            buckets: vec![0; n],
            mask: n - 1,
        }
    }

    #[inline]
    fn tag(bucket: u64) -> u32 {
        (bucket >> 32) as u32
    }

    /// The slot whose key `is` confirms, among the buckets tagged `hash`.
    #[inline]
    fn find(&self, hash: u32, mut is: impl FnMut(usize) -> bool) -> Option<usize> {
        let mut i = hash as usize & self.mask;
        loop {
            let b = self.buckets[i];
            if b == 0 {
                return None;
            }
            if Self::tag(b) == hash {
                let slot = (b as u32 - 1) as usize;
                if is(slot) {
                    return Some(slot);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    fn insert(&mut self, hash: u32, slot: usize) {
        let mut i = hash as usize & self.mask;
        while self.buckets[i] != 0 {
            i = (i + 1) & self.mask;
        }
        self.buckets[i] = u64::from(hash) << 32 | (slot as u64 + 1);
    }

    fn remove(&mut self, hash: u32, slot: usize) {
        let wanted = u64::from(hash) << 32 | (slot as u64 + 1);
        let mut i = hash as usize & self.mask;
        while self.buckets[i] != wanted {
            if self.buckets[i] == 0 {
                return;
            }
            i = (i + 1) & self.mask;
        }
        // Shift back every following entry that may live at `i`.
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let b = self.buckets[j];
            if b == 0 {
                break;
            }
            let home = Self::tag(b) as usize & self.mask;
            let stays = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if !stays {
                self.buckets[i] = b;
                i = j;
            }
        }
        self.buckets[i] = 0;
    }
}

/// Asks the CPU to start loading the cache line at `addr` (no effect where the target has
/// no prefetch instruction).
#[inline(always)]
fn prefetch_line(addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it cannot fault, whatever the address, and reads
    // nothing the program can observe.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(addr.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// [`prefetch_line`] for the line holding `value`.
#[inline(always)]
fn prefetch<T>(value: &T) {
    prefetch_line((value as *const T).cast());
}

/// [`prefetch_line`] for every cache line `value` spans.
#[inline(always)]
fn prefetch_lines<T>(value: &T) {
    let base = (value as *const T).cast::<u8>();
    let size = std::mem::size_of::<T>();
    let mut offset = 0;
    while offset < size {
        prefetch_line(base.wrapping_add(offset));
        offset += 64;
    }
    prefetch_line(base.wrapping_add(size.saturating_sub(1)));
}

#[inline]
fn key_hash(key: &FlowKey) -> u32 {
    // Three independent folded multiplies (the high and low halves of a 128-bit product,
    // xored, as in foldhash), so the hash's latency is one multiply, not a chain of five.
    #[inline(always)]
    fn fold(x: u64, y: u64) -> u64 {
        let p = u128::from(x) * u128::from(y);
        (p as u64) ^ (p >> 64) as u64
    }
    let rest = u64::from(key.ports[0])
        | u64::from(key.ports[1]) << 16
        | u64::from(key.vlan) << 32
        | u64::from(key.proto.0) << 48;
    let x = fold(
        key.a[0] ^ 0x243f_6a88_85a3_08d3,
        key.b[0] ^ 0x1319_8a2e_0370_7344,
    ) ^ fold(
        key.a[1] ^ 0xa409_3822_299f_31d0,
        key.b[1] ^ 0x082e_fa98_ec4e_6c89,
    ) ^ fold(rest ^ 0x4528_21e6_38d0_1377, 0xbe54_66cf_34e9_0c6c);
    (x ^ (x >> 32)) as u32
}

/// A packet's flow key, which end of it the packet came from, and the key's hash:
/// computed once per packet, used to prefetch and then to track.
#[derive(Debug, Clone, Copy)]
pub struct FlowLookup {
    key: FlowKey,
    src_is_a: bool,
    hash: u32,
}

impl FlowLookup {
    /// The lookup for packet `p`.
    #[inline]
    pub fn of(p: &PacketFacts) -> Self {
        Self::keyed(FlowKey::oriented(p.src, p.dst, p.proto, p.vlan))
    }

    /// The lookup for a packet read by the header fast path; equal to [`FlowLookup::of`]
    /// the facts of the same packet.
    #[inline]
    pub fn of_header(h: &FlowHeader) -> Self {
        Self::keyed(FlowKey::of_halves(
            (h.src, h.sport),
            (h.dst, h.dport),
            h.proto,
            h.vlan,
        ))
    }

    #[inline]
    fn keyed((key, src_is_a): (FlowKey, bool)) -> Self {
        FlowLookup {
            key,
            src_is_a,
            hash: key_hash(&key),
        }
    }
}

/// Per-worker flows.
#[derive(Debug)]
pub struct FlowTable {
    index: FlowIndex,
    slots: Vec<Flow>,
    order: VecDeque<usize>,
    capacity: usize,
    timeouts: Timeouts,
    next_id: u64,
    /// Counters.
    pub counters: FlowCounters,
    /// A full table evicts its oldest flow for a new one (else refuses the new one).
    evict_when_full: bool,
    /// TCP reassembly: settings, held memory, counters.
    pub stream: Reassembler,
}

/// What a packet looks like to the flow table and to rule matching: its endpoints,
/// protocol, VLAN, TCP flags and time.
#[derive(Debug, Clone, Copy)]
pub struct PacketFacts {
    /// Source endpoint.
    pub src: (IpAddr, u16),
    /// Destination endpoint.
    pub dst: (IpAddr, u16),
    /// IP protocol.
    pub proto: IpProto,
    /// Outer VLAN.
    pub vlan: u16,
    /// TCP flags (0 for other protocols).
    pub tcp_flags: Option<u8>,
    /// Whether the transport has ports (TCP, UDP); `src` and `dst` carry port 0 otherwise.
    pub has_ports: bool,
    /// Packet time, microseconds.
    pub now_us: u64,
}

impl FlowTable {
    /// A table of at most `capacity` flows; ids carry `worker` in their top 16 bits.
    pub fn new(capacity: usize, timeouts: Timeouts, worker: u16) -> Self {
        FlowTable {
            index: FlowIndex::new(capacity),
            slots: Vec::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            timeouts,
            next_id: u64::from(worker) << 48,
            counters: FlowCounters::default(),
            evict_when_full: true,
            stream: Reassembler::new(StreamConfig::default()),
        }
    }

    /// Reassembles TCP by `config` from now on.
    pub fn set_stream_config(&mut self, config: StreamConfig) {
        self.stream.config = config;
    }

    /// Takes TCP segment `seg` of the flow in `slot`, in its direction (`to_server`):
    /// see [`Reassembler::take`].
    pub fn take_segment(
        &mut self,
        slot: usize,
        to_server: bool,
        seg: Segment<'_>,
        window: usize,
        out: &mut Vec<u8>,
    ) -> Taken {
        let stream = &mut self.stream;
        with_held(&mut self.slots[slot], to_server, |dir, held| {
            stream.take(dir, held, seg, window, out)
        })
    }

    /// Passes over TCP segment `seg` of the flow in `slot` unread (ciphertext): see
    /// [`Reassembler::skip`].
    pub fn skip_segment(&mut self, slot: usize, to_server: bool, seg: Segment<'_>) {
        let stream = &mut self.stream;
        with_held(&mut self.slots[slot], to_server, |dir, held| {
            stream.skip(dir, held, seg)
        });
    }

    /// The id of the flow in `slot`.
    pub fn slot_id(&self, slot: usize) -> u64 {
        self.slots[slot].id
    }

    /// Notes the acknowledgement `ack` a packet of the flow in `slot` carries for the
    /// other direction's data: see [`Reassembler::acknowledge`].
    pub fn acknowledge(&mut self, slot: usize, to_server: bool, ack: u32) {
        let flow = &mut self.slots[slot];
        if let Some(x) = flow.extra.as_ref() {
            let d = usize::from(to_server);
            self.stream
                .acknowledge(&mut flow.streams[d], &x.held[d], ack);
        }
    }

    /// Stops inspecting the stream of the flow in `slot`, both ways, and frees what it
    /// held.
    pub fn ignore_stream(&mut self, slot: usize) {
        let flow = &mut self.slots[slot];
        for d in &mut flow.streams {
            d.ignore();
        }
        if let Some(x) = flow.extra.as_mut() {
            let held = std::mem::take(&mut x.held);
            self.stream.release(&held);
        }
    }

    /// Puts `flow` in `slot`, releasing what the flow there held.
    fn replace(&mut self, slot: usize, flow: Flow) {
        if let Some(x) = self.slots[slot].extra.as_ref() {
            self.stream.release(&x.held);
        }
        self.slots[slot] = flow;
    }

    /// Flows in the table.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The flow in `slot` (as returned by [`FlowTable::track_lookup`]); valid until the next
    /// call that may evict.
    #[inline]
    pub fn at(&mut self, slot: usize) -> &mut Flow {
        &mut self.slots[slot]
    }

    /// Finds or creates the packet's flow, updates its state, and returns it with
    /// whether the packet goes to the server.
    pub fn track(&mut self, p: &PacketFacts) -> Option<(&mut Flow, bool)> {
        let (slot, to_server) = self.track_lookup(&FlowLookup::of(p), p.now_us, p.tcp_flags)?;
        Some((&mut self.slots[slot], to_server))
    }

    /// From now on a full table refuses a new flow (counted as `refused`) instead of
    /// evicting the oldest: a flood of new flows then cannot push tracked flows (and
    /// their verdicts) out.
    pub fn refuse_when_full(&mut self) {
        self.evict_when_full = false;
    }

    /// Starts loading the index bucket of `l`'s flow into the cache. A hint only: nothing
    /// changes. Called for a whole burst before it is tracked, so the burst's cache misses
    /// overlap instead of costing one memory round trip each.
    #[inline]
    pub fn prefetch_bucket(&self, l: &FlowLookup) {
        prefetch(&self.index.buckets[l.hash as usize & self.index.mask]);
    }

    /// Starts loading every slot the index holds under `l`'s hash (the flow's slot, and
    /// rarely another with the same tag): its first cache line, which tracking touches, or
    /// with `whole` every line (for stream inspection). A hint only: nothing changes.
    #[inline]
    pub fn prefetch_slots(&self, l: &FlowLookup, whole: bool) {
        let mut i = l.hash as usize & self.index.mask;
        loop {
            let b = self.index.buckets[i];
            if b == 0 {
                return;
            }
            if FlowIndex::tag(b) == l.hash {
                if let Some(flow) = self.slots.get((b as u32 - 1) as usize) {
                    if whole {
                        prefetch_lines(flow);
                    } else {
                        prefetch(flow);
                    }
                }
            }
            i = (i + 1) & self.index.mask;
        }
    }

    /// [`FlowTable::track`], returning the flow's slot instead of a borrow, for a packet
    /// whose key and hash are already computed, at `now_us`, with its TCP flags (`None`
    /// for other protocols). `None`: a new flow the full table refused (see
    /// [`FlowTable::refuse_when_full`]).
    pub fn track_lookup(
        &mut self,
        l: &FlowLookup,
        now_us: u64,
        tcp_flags: Option<u8>,
    ) -> Option<(usize, bool)> {
        let (key, src_is_a, hash) = (l.key, l.src_is_a, l.hash);
        let slots = &self.slots;
        let slot = match self.index.find(hash, |s| slots[s].key == key) {
            Some(slot) => {
                let flow = &self.slots[slot];
                let timeout = match flow.state {
                    FlowState::New => self.timeouts.new,
                    FlowState::Established => self.timeouts.established,
                    FlowState::Closed => self.timeouts.closed,
                };
                // A SYN on a closed connection opens a new one on the same ports (port
                // reuse, as Suricata's TCP session reuse): its state, streams and verdict
                // are not the old connection's.
                let reopened = flow.state == FlowState::Closed
                    && tcp_flags.is_some_and(|f| f & (SYN | ACK) == SYN);
                if now_us.saturating_sub(flow.last_seen_us) > timeout * 1_000_000 || reopened {
                    if reopened {
                        self.counters.reused += 1;
                    } else {
                        self.counters.timed_out += 1;
                    }
                    let fresh = self.fresh(key, src_is_a, now_us, tcp_flags);
                    self.replace(slot, fresh);
                }
                slot
            }
            None => self.insert(key, src_is_a, hash, now_us, tcp_flags)?,
        };
        let flow = &mut self.slots[slot];
        let to_server = flow.client_is_a == src_is_a;
        let dir = usize::from(!to_server);
        flow.packets[dir] = flow.packets[dir].saturating_add(1);
        flow.last_seen_us = now_us;
        match tcp_flags {
            Some(flags) => update_tcp(flow, flags, to_server),
            None => {
                if flow.packets[0] > 0 && flow.packets[1] > 0 {
                    flow.state = FlowState::Established;
                }
            }
        }
        Some((slot, to_server))
    }

    fn fresh(&mut self, key: FlowKey, src_is_a: bool, now_us: u64, tcp_flags: Option<u8>) -> Flow {
        self.next_id += 1;
        self.counters.created += 1;
        // A SYN-ACK first means we missed the SYN: the receiver is the client.
        let client_is_src = !matches!(tcp_flags, Some(f) if f & 0x12 == 0x12) || key.is_loop();
        Flow {
            key,
            last_seen_us: now_us,
            packets: [0, 0],
            state: FlowState::New,
            verdict: FlowVerdict::Inspect,
            tcp_seen: 0,
            client_is_a: client_is_src == src_is_a,
            is_http: false,
            alerted: false,
            id: self.next_id,
            streams: Default::default(),
            extra: None,
            tls: TlsFraming::default(),
        }
    }

    fn insert(
        &mut self,
        key: FlowKey,
        src_is_a: bool,
        hash: u32,
        now_us: u64,
        tcp_flags: Option<u8>,
    ) -> Option<usize> {
        let full = self.slots.len() >= self.capacity;
        if full && !self.evict_when_full {
            self.counters.refused += 1;
            return None;
        }
        let flow = self.fresh(key, src_is_a, now_us, tcp_flags);
        // A full table always has an oldest flow to evict.
        let victim = full.then(|| self.order.pop_front()).flatten();
        let slot = if let Some(victim) = victim {
            self.index.remove(key_hash(&self.slots[victim].key), victim);
            self.counters.evicted += 1;
            self.replace(victim, flow);
            victim
        } else {
            self.slots.push(flow);
            self.slots.len() - 1
        };
        self.order.push_back(slot);
        self.index.insert(hash, slot);
        Some(slot)
    }
}

/// Runs `f` on `flow`'s stream state in direction `to_server` and its held segments,
/// allocating the flow's extra part only if `f` leaves something held.
fn with_held<T>(
    flow: &mut Flow,
    to_server: bool,
    f: impl FnOnce(&mut StreamDir, &mut Vec<stream::Held>) -> T,
) -> T {
    let d = usize::from(!to_server);
    let mut none = Vec::new();
    let held = match flow.extra.as_mut() {
        Some(x) => &mut x.held[d],
        None => &mut none,
    };
    let out = f(&mut flow.streams[d], held);
    if !none.is_empty() {
        flow.extra.get_or_insert_with(Box::default).held[d] = none;
    }
    out
}

use crate::decode::{TCP_ACK as ACK, TCP_FIN as FIN, TCP_RST as RST, TCP_SYN as SYN};

fn update_tcp(flow: &mut Flow, flags: u8, to_server: bool) {
    if flags & RST != 0 {
        flow.state = FlowState::Closed;
        return;
    }
    if flags & SYN != 0 && flags & ACK == 0 && to_server {
        flow.tcp_seen |= TCP_SYN;
    } else if flags & SYN != 0 && flags & ACK != 0 && !to_server {
        flow.tcp_seen |= TCP_SYNACK;
    } else if flags & ACK != 0 && flow.state == FlowState::New {
        // Handshake completed, or a mid-stream pickup once both sides have sent.
        let both = TCP_SYN | TCP_SYNACK;
        let handshake = flow.tcp_seen & both == both && to_server;
        let midstream = flow.tcp_seen & TCP_SYN == 0 && flow.packets[0] > 0 && flow.packets[1] > 0;
        if handshake || midstream {
            flow.state = FlowState::Established;
        }
    }
    if flags & FIN != 0 {
        flow.tcp_seen |= TCP_FIN << u8::from(!to_server);
        let both = TCP_FIN | TCP_FIN << 1;
        if flow.tcp_seen & both == both {
            flow.state = FlowState::Closed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(
        src: &str,
        sport: u16,
        dst: &str,
        dport: u16,
        flags: Option<u8>,
        now: u64,
    ) -> PacketFacts {
        PacketFacts {
            src: (src.parse().unwrap(), sport),
            dst: (dst.parse().unwrap(), dport),
            proto: if flags.is_some() {
                IpProto::TCP
            } else {
                IpProto::UDP
            },
            vlan: 0,
            tcp_flags: flags,
            has_ports: true,
            now_us: now,
        }
    }

    #[test]
    fn both_directions_are_one_flow_and_the_handshake_establishes() {
        let mut t = FlowTable::new(10, Timeouts::default(), 1);
        let (f, to_server) = t
            .track(&pkt("10.0.0.1", 4000, "10.0.0.2", 80, Some(0x02), 0))
            .unwrap();
        assert!(to_server);
        let id = f.id;
        assert_eq!(id >> 48, 1);
        let (f, to_server) = t
            .track(&pkt("10.0.0.2", 80, "10.0.0.1", 4000, Some(0x12), 1))
            .unwrap();
        assert!(!to_server);
        assert_eq!(f.id, id);
        assert_eq!(f.state, FlowState::New);
        let (f, _) = t
            .track(&pkt("10.0.0.1", 4000, "10.0.0.2", 80, Some(0x10), 2))
            .unwrap();
        assert_eq!(f.state, FlowState::Established);
        let (f, _) = t
            .track(&pkt("10.0.0.2", 80, "10.0.0.1", 4000, Some(0x04), 3))
            .unwrap();
        assert_eq!(f.state, FlowState::Closed);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_synack_first_makes_its_receiver_the_client_whichever_end_sorts_first() {
        // The client's address sorts after the server's in one case and before in the
        // other: the direction must not depend on the key's order.
        for (client, server) in [("10.0.0.9", "10.0.0.2"), ("10.0.0.1", "10.0.0.2")] {
            let mut t = FlowTable::new(10, Timeouts::default(), 0);
            let (_, to_server) = t
                .track(&pkt(server, 80, client, 4000, Some(0x12), 0))
                .unwrap();
            assert!(!to_server, "{client}");
            let (f, to_server) = t
                .track(&pkt(client, 4000, server, 80, Some(0x10), 1))
                .unwrap();
            assert!(to_server, "{client}");
            assert_eq!(f.packets, [1, 1]);
            // Picked up mid-stream (no SYN seen): established once both sides sent.
            assert_eq!(f.state, FlowState::Established);
            let (f, _) = t
                .track(&pkt(client, 4000, server, 80, Some(0x11), 2))
                .unwrap();
            assert_eq!(f.state, FlowState::Established);
            let (f, _) = t
                .track(&pkt(server, 80, client, 4000, Some(0x11), 3))
                .unwrap();
            assert_eq!(f.state, FlowState::Closed);
        }
    }

    #[test]
    fn one_line_holds_what_every_packet_touches() {
        assert_eq!(std::mem::align_of::<Flow>(), 64);
        assert!(std::mem::offset_of!(Flow, alerted) < 64);
        assert_eq!(std::mem::offset_of!(Flow, id), 64);
    }

    #[test]
    fn udp_is_established_once_both_sides_spoke() {
        let mut t = FlowTable::new(10, Timeouts::default(), 0);
        assert_eq!(
            t.track(&pkt("1.1.1.1", 5, "2.2.2.2", 53, None, 0))
                .unwrap()
                .0
                .state,
            FlowState::New
        );
        assert_eq!(
            t.track(&pkt("2.2.2.2", 53, "1.1.1.1", 5, None, 1))
                .unwrap()
                .0
                .state,
            FlowState::Established
        );
    }

    #[test]
    fn the_key_hash_spreads_similar_keys_over_the_buckets() {
        // 50,000 IPv4 flows that differ only in a few address and port bits: as many
        // distinct low 16 bits (the bucket) and high 16 bits (part of the tag) as random
        // hashes give (about 34,500 of 65,536), within a few percent.
        let (mut low, mut high) = (vec![false; 1 << 16], vec![false; 1 << 16]);
        for i in 0..50_000u32 {
            let src = IpAddr::from((0x0a00_0000 | (i & 0xfff)).to_be_bytes());
            let dst = IpAddr::from((0x0a01_0000 | (i >> 12)).to_be_bytes());
            let key = FlowKey::new((src, 1024 + (i % 7) as u16), (dst, 80), IpProto::TCP, 0);
            let h = key_hash(&key);
            low[(h & 0xffff) as usize] = true;
            high[(h >> 16) as usize] = true;
        }
        for seen in [low, high] {
            let n = seen.iter().filter(|&&b| b).count();
            assert!(n > 33_000, "{n}");
        }
    }

    #[test]
    fn capacity_evicts_the_oldest_and_counts_it() {
        let mut t = FlowTable::new(2, Timeouts::default(), 0);
        for port in 1..=3 {
            t.track(&pkt("1.1.1.1", port, "2.2.2.2", 53, None, 0))
                .unwrap();
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.counters.evicted, 1);
        assert_eq!(t.counters.created, 3);
    }

    #[test]
    fn idle_flows_time_out_and_start_afresh() {
        let mut t = FlowTable::new(10, Timeouts::default(), 0);
        let first = t
            .track(&pkt("1.1.1.1", 1, "2.2.2.2", 53, None, 0))
            .unwrap()
            .0
            .id;
        let later = t
            .track(&pkt("1.1.1.1", 1, "2.2.2.2", 53, None, 31_000_000))
            .unwrap()
            .0
            .id;
        assert_ne!(first, later);
        assert_eq!(t.counters.timed_out, 1);
    }

    #[test]
    fn a_syn_on_a_closed_connection_starts_a_new_flow() {
        let mut t = FlowTable::new(10, Timeouts::default(), 0);
        let syn = Some(SYN);
        let p = |flags, ts| pkt("10.0.0.1", 40000, "10.0.0.2", 80, flags, ts);
        let first = t.track(&p(syn, 0)).unwrap().0.id;
        t.track(&p(Some(RST), 1)).unwrap();
        assert_eq!(
            t.track(&p(Some(ACK), 2)).unwrap().0.state,
            FlowState::Closed
        );
        // Within the closed timeout, a new SYN: a new connection.
        let (f, _) = t.track(&p(syn, 3)).unwrap();
        assert_ne!(f.id, first);
        assert_eq!(f.state, FlowState::New);
        assert_eq!((t.counters.reused, t.counters.timed_out), (1, 0));
        // A SYN on an open connection changes nothing.
        let id = t.track(&p(syn, 4)).unwrap().0.id;
        assert_eq!(t.counters.reused, 1);
        assert_eq!(id, t.track(&p(Some(ACK), 5)).unwrap().0.id);
    }

    #[test]
    fn the_index_finds_every_live_flow_through_evictions_and_collisions() {
        // A small table churned many times over: every flow still present is found in
        // its own slot, evicted ones are not (backward-shift deletion keeps probe
        // chains intact).
        let mut t = FlowTable::new(64, Timeouts::default(), 0);
        let mut live = std::collections::VecDeque::new();
        for port in 0..5_000u16 {
            let id = t
                .track(&pkt("10.0.0.1", port, "10.0.0.2", 53, None, 0))
                .unwrap()
                .0
                .id;
            live.push_back((port, id));
            if live.len() > 64 {
                live.pop_front();
            }
            if port % 97 == 0 {
                for &(p, id) in &live {
                    let facts = pkt("10.0.0.2", 53, "10.0.0.1", p, None, 0);
                    let key = FlowKey::new(facts.src, facts.dst, facts.proto, facts.vlan);
                    let slots = &t.slots;
                    let slot = t.index.find(key_hash(&key), |s| slots[s].key == key);
                    assert_eq!(slot.map(|s| t.slots[s].id), Some(id), "port {p}");
                }
            }
        }
        assert_eq!(t.len(), 64);
        let mut index = FlowIndex::new(8);
        for slot in 0..8 {
            // Every entry homes at the same bucket.
            index.insert(7, slot);
        }
        index.remove(7, 3);
        for slot in [0, 1, 2, 4, 5, 6, 7] {
            assert_eq!(index.find(7, |s| s == slot), Some(slot));
        }
        assert_eq!(index.find(7, |s| s == 3), None);
    }

    #[test]
    fn flowbits_set_unset_toggle() {
        let mut t = FlowTable::new(10, Timeouts::default(), 0);
        let (f, _) = t.track(&pkt("1.1.1.1", 1, "2.2.2.2", 53, None, 0)).unwrap();
        assert!(!f.bit(70));
        f.set_bit(70, Some(true));
        assert!(f.bit(70));
        f.set_bit(70, None);
        assert!(!f.bit(70));
    }

    #[test]
    fn a_flow_slot_stays_within_three_cache_lines() {
        assert!(
            std::mem::size_of::<Flow>() <= 192,
            "{}",
            std::mem::size_of::<Flow>()
        );
    }
}
