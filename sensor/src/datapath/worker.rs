//! The poll loop of one pinned worker.
//!
//! Worker `q` owns queue `q` of every data port: it polls each port's rx queue in turn,
//! asks the policy about every packet, and in prevention sends what passes out of the
//! peer port's tx queue `q` (in order, unchanged); in detection it frees them. Serving
//! both sides of a bridge from one worker means both directions of a flow (which
//! symmetric RSS puts on the same queue number) meet in one worker's state.
//!
//! Per burst: one rx call, one policy call per 32 packets, one tx call (plus bounded retries),
//! one bulk free. No allocation, no waiting, no syscall (unless `idle_sleep_us` is set and
//! nothing arrived).
//!
//! The queues are leased, not owned: they sit in a mutex ([`WorkerQueues`]) that the
//! worker only ever `try_lock`s around its rx call and around its transmits (an
//! uncontended atomic each), never while the policy decides. When the watchdog finds a
//! worker stalled (inside its policy: a bug, a pathological packet), a rescuer takes the
//! mutex for good and serves the queues by `workers.stall_policy` ([`rescue`]); the
//! worker, if it ever comes back, finds the lease gone, drops what it held (counted) and
//! stops. No queue is ever used by two threads at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use dpdk_bindings::{rdtsc, Burst, Mbuf, Mempool, RxQueue, TxQueue};

use super::stats::WorkerCounters;
use crate::config::MAX_BURST;
use crate::verdict::reply::ReplyDirection;
use crate::verdict::{Decision, PacketContext, PacketPolicy, Verdict};

/// The queues worker `q` serves: queue `q` of every port.
pub struct WorkerQueues<'p> {
    /// Rx queue `q` of each data port, by port index.
    pub rx: Vec<RxQueue<'p>>,
    /// Tx queue `q` of each data port, by port index.
    pub tx: Vec<TxQueue<'p>>,
    /// Tx queue `q` of the mirror port and the mirror's port index.
    pub mirror: Option<(usize, TxQueue<'p>)>,
}

/// A test's way to make a worker fail: worker `worker`, once it has handled
/// `after_packets`, stops polling (outside any lock, as a stuck policy would) until the
/// sensor stops, or panics (as a bug would). Set only from the environment:
/// `SENSOR_FAULT_STALL_WORKER=worker:packets` or `SENSOR_FAULT_PANIC_WORKER=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StallFault {
    /// Which worker.
    pub worker: u16,
    /// After how many packets.
    pub after_packets: u64,
    /// Panic instead of stalling.
    pub panic: bool,
}

impl StallFault {
    /// The fault the environment asks for, if any (read once, at start).
    pub fn from_env() -> Option<StallFault> {
        let (v, panic) = match std::env::var("SENSOR_FAULT_PANIC_WORKER") {
            Ok(v) => (v, true),
            Err(_) => (std::env::var("SENSOR_FAULT_STALL_WORKER").ok()?, false),
        };
        let (w, n) = v.split_once(':')?;
        Some(StallFault {
            worker: w.trim().parse().ok()?,
            after_packets: n.trim().parse().ok()?,
            panic,
        })
    }
}

/// Everything one worker owns, and the lease on its queues.
pub struct Worker<'q, 'p, P> {
    /// Worker index (= queue number).
    pub index: u16,
    /// Its queues, leased (see the module doc).
    pub queues: &'q Mutex<WorkerQueues<'p>>,
    /// Data ports it polls.
    pub ports: usize,
    /// For each data port, the port its packets are forwarded to (prevention), if any.
    pub peer: Vec<Option<usize>>,
    /// Whether a mirror port is configured.
    pub mirroring: bool,
    /// A fault to inject (tests only).
    pub fault: Option<StallFault>,
    /// The packet policy.
    pub policy: P,
    /// Packets per rx call.
    pub burst_size: usize,
    /// Retries of a partly refused transmit.
    pub tx_retries: u32,
    /// Sleep after an empty poll (zero: busy-poll).
    pub idle_sleep: Duration,
    /// Where drivers put receive timestamps, if any does.
    pub rx_timestamp: Option<dpdk_bindings::mbuf::RxTimestamp>,
    /// Where frames the sensor sends itself (resets, answers) get their mbufs.
    pub pool: Mempool,
    /// Scratch for the whole frame of a chained (multi-segment) packet.
    pub gather: Vec<u8>,
    /// The policy's decisions for the burst in hand (reused, `MAX_BURST` capacity).
    pub decisions: Vec<Decision>,
    /// Per data port, packets received so far (for each packet's `pcap_cnt`).
    pub rx_seen: Vec<u64>,
}

/// What deciding a burst left to count once it is transmitted.
#[derive(Debug, Clone, Copy)]
struct Decided {
    received: u64,
    dropped: u64,
    unsent: u64,
}

/// Frames handed to the policy in one [`PacketPolicy::decide_burst`] call: enough for the
/// policy to overlap a burst's cache misses, small enough to stay on the stack.
const DECIDE_CHUNK: usize = 32;

impl<P: PacketPolicy> Worker<'_, '_, P> {
    /// Polls until `stop` is set, then returns the policy after finishing the burst in
    /// hand (nothing is left in a burst: sent, or freed and counted). Stops early, the
    /// same way, when its queues were taken from it.
    pub fn run(mut self, stop: &AtomicBool, counters: &WorkerCounters) -> P {
        let mut burst: Burst<MAX_BURST> = Burst::new();
        let mut mirror: Burst<MAX_BURST> = Burst::new();
        let mut replies: Burst<MAX_BURST> = Burst::new();
        let lease = self.queues;
        let Ok(mut held) = lease.try_lock() else {
            return self.policy;
        };
        while !stop.load(Ordering::Relaxed) {
            self.policy.refresh();
            counters.loops.add(1);
            let mut received = 0;
            for port in 0..self.ports {
                let n = held.rx[port].rx_burst(&mut burst, self.burst_size);
                if n == 0 {
                    continue;
                }
                received += n;
                let start = rdtsc();
                // The lease is let go while the policy decides, where a worker can stall.
                drop(held);
                let decided = self.decide(port, &mut burst, &mut mirror, &mut replies);
                self.inject_fault(stop, counters.packets.get() + n as u64);
                held = match lease.try_lock() {
                    Ok(queues) => queues,
                    Err(_) => {
                        // Taken while the policy decided: this burst goes nowhere.
                        let lost = (burst.len() + replies.len()) as u64;
                        counters.abandoned[port].fetch_add(lost, Ordering::Relaxed);
                        counters.queues[port].rx.add(n as u64);
                        burst.clear();
                        mirror.clear();
                        replies.clear();
                        return self.policy;
                    }
                };
                self.transmit_decided(
                    &mut held,
                    port,
                    decided,
                    &mut burst,
                    &mut mirror,
                    &mut replies,
                    counters,
                );
                counters.busy_cycles.add(rdtsc().wrapping_sub(start));
                counters.bursts.add(1);
                counters.packets.add(n as u64);
            }
            if received == 0 && !self.idle_sleep.is_zero() {
                std::thread::sleep(self.idle_sleep);
            }
        }
        self.policy
    }

    /// The injected fault, if this worker has one and has seen `packets`: stalls (until
    /// the sensor stops) or panics, where a stuck policy would.
    fn inject_fault(&self, stop: &AtomicBool, packets: u64) {
        let Some(fault) = self.fault else { return };
        if fault.worker != self.index || packets < fault.after_packets {
            return;
        }
        #[allow(clippy::panic)]
        if fault.panic {
            panic!("fault injected: worker {} panics", self.index);
        }
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Decides the burst: keeps in `burst` what passes, copies to `mirror` what the
    /// policy mirrors, gathers the policy's own frames into `replies` and `burst`. Touches
    /// no queue. Returns what [`Worker::transmit_decided`] counts.
    fn decide(
        &mut self,
        port: usize,
        burst: &mut Burst<MAX_BURST>,
        mirror: &mut Burst<MAX_BURST>,
        replies: &mut Burst<MAX_BURST>,
    ) -> Decided {
        let received = burst.len() as u64;
        let first_cnt = self.rx_seen[port] + 1;
        self.rx_seen[port] += received;
        let wall_us = wall_clock_us();
        let rx_ts = self.rx_timestamp;
        let queue = self.index;
        let policy = &mut self.policy;
        let mirroring = self.mirroring;
        let gather = &mut self.gather;
        let context = |i: usize, mbuf: &Mbuf| PacketContext {
            port,
            queue,
            ts_us: rx_ts
                .and_then(|f| mbuf.rx_timestamp(&f))
                .map_or(wall_us, driver_time_to_us),
            pcap_cnt: Some(first_cnt + i as u64),
        };
        let decisions = &mut self.decisions;
        decisions.clear();
        let mbufs = burst.as_slice();
        let mut start = 0;
        while start < mbufs.len() {
            if mbufs[start].segments() > 1 {
                // A chained frame alone: the gather buffer holds one frame.
                mbufs[start].gather(gather);
                decisions.push(policy.decide(gather.as_slice(), &context(start, &mbufs[start])));
                start += 1;
                continue;
            }
            let mut frames: [&[u8]; DECIDE_CHUNK] = [&[]; DECIDE_CHUNK];
            let mut ctxs = [context(start, &mbufs[start]); DECIDE_CHUNK];
            let mut k = 0;
            while k < DECIDE_CHUNK && start + k < mbufs.len() && mbufs[start + k].segments() == 1 {
                frames[k] = mbufs[start + k].data();
                ctxs[k] = context(start + k, &mbufs[start + k]);
                k += 1;
            }
            let mut out = [Decision::PASS; DECIDE_CHUNK];
            policy.decide_burst(&frames[..k], &ctxs[..k], &mut out[..k]);
            decisions.extend_from_slice(&out[..k]);
            start += k;
        }
        let dropped = burst.retain(|i, mbuf| {
            let decision = decisions[i];
            if decision.mirror && mirroring {
                // The mirror burst is as large as any rx burst, so this cannot fail.
                let _ = mirror.push(mbuf.share());
            }
            decision.verdict == Verdict::Pass
        });
        let pool = self.pool;
        let mut unsent = 0u64;
        self.policy.drain_replies(&mut |direction, frame| {
            let target = match direction {
                ReplyDirection::ToSender => &mut *replies,
                ReplyDirection::ToReceiver => &mut *burst,
            };
            let Ok(len) = u16::try_from(frame.len()) else {
                unsent += 1;
                return;
            };
            let built = Mbuf::alloc(&pool).and_then(|mut m| {
                m.append(len)?.copy_from_slice(frame);
                Some(m)
            });
            match built.map(|m| target.push(m)) {
                Some(Ok(())) => {}
                _ => unsent += 1,
            }
        });
        Decided {
            received,
            dropped: dropped as u64,
            unsent,
        }
    }

    /// Transmits what [`Worker::decide`] left: replies out of the ingress port, the
    /// burst to the peer (or freed in detection), copies to the mirror; then counts.
    #[allow(clippy::too_many_arguments)]
    fn transmit_decided(
        &mut self,
        queues: &mut WorkerQueues<'_>,
        port: usize,
        decided: Decided,
        burst: &mut Burst<MAX_BURST>,
        mirror: &mut Burst<MAX_BURST>,
        replies: &mut Burst<MAX_BURST>,
        counters: &WorkerCounters,
    ) {
        let q = &counters.queues;
        let Decided {
            received,
            dropped,
            unsent,
        } = decided;
        if !replies.is_empty() {
            let (sent, failed) = transmit(&mut queues.tx[port], replies, self.tx_retries);
            q[port].tx.add(sent);
            q[port].tx_failures.add(failed + unsent);
        }
        match self.peer[port] {
            Some(peer) => {
                let (sent, failed) = transmit(&mut queues.tx[peer], burst, self.tx_retries);
                q[peer].tx.add(sent);
                q[peer].tx_failures.add(failed);
            }
            None => burst.clear(),
        }
        if let Some((mirror_port, txq)) = &mut queues.mirror {
            let (sent, failed) = transmit(txq, mirror, self.tx_retries);
            q[*mirror_port].tx.add(sent);
            q[*mirror_port].tx_failures.add(failed);
        }
        q[port].policy_drops.add(dropped);
        // Counted last: once `rx` shows a packet, everything about it has happened.
        q[port].rx.add(received);
    }
}

/// Serves a stalled worker's queues until `stop`: takes the lease for good (waiting at most
/// for the worker's rx call or transmit in progress), then polls every port's queue and,
/// with `fail_open`, forwards each packet uninspected to the peer (counted `stall_passed`),
/// else frees it (`stall_drops`). Its counters are `rescued`, which only it writes.
pub fn rescue(
    queues: &Mutex<WorkerQueues<'_>>,
    peer: &[Option<usize>],
    fail_open: bool,
    burst_size: usize,
    tx_retries: u32,
    stop: &AtomicBool,
    rescued: &[super::stats::QueueCounters],
) {
    let mut lease = queues.lock().unwrap_or_else(|e| e.into_inner());
    let queues = &mut *lease;
    let mut burst: Burst<MAX_BURST> = Burst::new();
    while !stop.load(Ordering::Relaxed) {
        let mut received = 0;
        for (port, counters) in rescued.iter().enumerate().take(queues.rx.len()) {
            let n = queues.rx[port].rx_burst(&mut burst, burst_size);
            if n == 0 {
                continue;
            }
            received += n;
            if fail_open {
                // Uninspected: forwarded in prevention, let go in detection.
                match peer.get(port).copied().flatten() {
                    Some(to) => {
                        let (sent, failed) = transmit(&mut queues.tx[to], &mut burst, tx_retries);
                        rescued[to].tx.add(sent);
                        rescued[to].tx_failures.add(failed);
                    }
                    None => burst.clear(),
                }
                counters.stall_passed.add(n as u64);
            } else {
                burst.clear();
                counters.stall_drops.add(n as u64);
            }
            counters.rx.add(n as u64);
        }
        if received == 0 {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    // Taken for good: never handed back, so a worker that comes back at shutdown drops
    // what it held instead of sending it after everything else.
    std::mem::forget(lease);
}

/// Microseconds since the epoch (a vDSO read, no syscall).
fn wall_clock_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Drivers stamp in nanoseconds or microseconds since the epoch; the magnitude tells
/// which (nanoseconds since 1970 passed 1e17 in 1973).
fn driver_time_to_us(t: u64) -> u64 {
    if t > 100_000_000_000_000_000 {
        t / 1000
    } else {
        t
    }
}

/// Sends the burst, retrying a bounded number of times; frees what the NIC still refused.
/// Returns (sent, failed).
fn transmit(txq: &mut TxQueue<'_>, burst: &mut Burst<MAX_BURST>, retries: u32) -> (u64, u64) {
    let mut sent = 0;
    let mut attempt = 0;
    while !burst.is_empty() {
        sent += txq.tx_burst(burst) as u64;
        if attempt == retries {
            break;
        }
        attempt += 1;
    }
    let failed = burst.len() as u64;
    burst.clear();
    (sent, failed)
}
