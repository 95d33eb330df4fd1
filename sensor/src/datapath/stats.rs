//! Counters the workers keep, and the JSON report built from them and the ports.
//!
//! Each worker writes only its own cache-padded block (single writer, relaxed stores, no
//! read-modify-write bus lock); the stats thread reads them at any time. Counter names are
//! the same here, in the JSON and in the README.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use serde::Serialize;

/// A counter with one writer.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker may call this (load and store are separate).
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Current value.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of one queue of one port, kept by the worker that serves the queue.
#[derive(Debug, Default)]
pub struct QueueCounters {
    /// Packets received on this queue.
    pub rx: Counter,
    /// Packets the NIC accepted for transmission on this queue.
    pub tx: Counter,
    /// Received packets the policy dropped.
    pub policy_drops: Counter,
    /// Packets for this queue the NIC refused after every retry (freed).
    pub tx_failures: Counter,
    /// Packets of a stalled worker's queue forwarded uninspected (`stall_policy =
    /// "fail-open"`).
    pub stall_passed: Counter,
    /// Packets of a stalled worker's queue dropped (`"fail-closed"`, and whatever the
    /// worker held when its queues were taken).
    pub stall_drops: Counter,
}

/// Counters of one worker.
#[derive(Debug)]
pub struct WorkerCounters {
    /// Packets received over all the worker's queues.
    pub packets: Counter,
    /// Non-empty bursts processed.
    pub bursts: Counter,
    /// TSC cycles spent processing non-empty bursts.
    pub busy_cycles: Counter,
    /// Per port (by port index), this worker's queue.
    pub queues: Box<[QueueCounters]>,
    /// Loop iterations, idle ones too: the heartbeat the watchdog reads.
    pub loops: Counter,
    /// Set by the watchdog when the worker stopped making progress.
    pub stalled: std::sync::atomic::AtomicBool,
    /// Per port, packets the worker held when its queues were taken from it (dropped;
    /// written by the worker as it stops).
    pub abandoned: Box<[AtomicU64]>,
    /// Per port, the queue as the rescuer serves it once the worker stalled (the
    /// rescuer's own counters: it is their only writer).
    pub rescued: Box<[QueueCounters]>,
}

/// Every worker's counters.
#[derive(Debug)]
pub struct StatsBoard {
    /// Indexed by worker (= queue number).
    pub workers: Box<[CachePadded<WorkerCounters>]>,
}

impl StatsBoard {
    /// Zeroed counters for `workers` workers over `ports` ports.
    pub fn new(workers: usize, ports: usize) -> Self {
        StatsBoard {
            workers: (0..workers)
                .map(|_| {
                    CachePadded::new(WorkerCounters {
                        packets: Counter::default(),
                        bursts: Counter::default(),
                        busy_cycles: Counter::default(),
                        queues: (0..ports).map(|_| QueueCounters::default()).collect(),
                        loops: Counter::default(),
                        stalled: std::sync::atomic::AtomicBool::new(false),
                        abandoned: (0..ports).map(|_| AtomicU64::new(0)).collect(),
                        rescued: (0..ports).map(|_| QueueCounters::default()).collect(),
                    })
                })
                .collect(),
        }
    }

    /// Packets received on port `port` over all queues (by workers and rescuers).
    pub fn port_rx(&self, port: usize) -> u64 {
        self.workers
            .iter()
            .map(|w| w.queues[port].rx.get() + w.rescued[port].rx.get())
            .sum()
    }
}

/// One stats report: printed as one JSON line every `stats_interval_secs` and at exit.
#[derive(Debug, Clone, Serialize)]
pub struct StatsReport {
    /// Always `"stats"`.
    pub event: &'static str,
    /// True for the report printed at exit.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// `detection` or `prevention`.
    pub mode: String,
    /// Seconds since the workers started.
    pub uptime_secs: f64,
    /// Per port.
    pub ports: Vec<PortReport>,
    /// Per worker.
    pub workers: Vec<WorkerReport>,
    /// The mbuf pool; at exit `in_use` is read after every port is closed.
    pub mempool: MempoolReport,
    /// The detection engine's counters, summed over workers (final report, rules loaded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineReport>,
}

/// The detection engine's counters.
#[derive(Debug, Clone, Serialize, Default)]
pub struct EngineReport {
    /// The engines' own counters, summed.
    #[serde(flatten)]
    pub counters: crate::detect::engine::EngineCounters,
    /// EVE records written.
    pub eve_written: u64,
    /// EVE records not written, whatever the cause (the two below).
    pub eve_dropped: u64,
    /// ...because a worker's EVE queue (or the stats reports' queue) was full.
    pub eve_dropped_queue_full: u64,
    /// ...because the file could not be written (a full disk).
    pub eve_dropped_write_failed: u64,
    /// The baseline thread's counters (baselines on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<crate::baseline::thread::BaselineReport>,
    /// Flows created.
    pub flows_created: u64,
    /// Flows evicted from a full table.
    pub flows_evicted: u64,
    /// New flows a full table refused (`detect.flow_exception_policy` other than
    /// `evict-oldest`).
    pub flows_refused: u64,
    /// Flows restarted after an idle timeout.
    pub flows_timed_out: u64,
    /// Closed TCP connections restarted by a new SYN on the same ports.
    pub flows_reused: u64,
    /// Frames that did not decode, by reason (non-zero ones).
    pub decode_errors: std::collections::BTreeMap<&'static str, u64>,
}

impl EngineReport {
    /// Sums the engines' counters, with what the EVE writer wrote and lost and what the
    /// full queues dropped; `None` when there is no engine.
    pub fn from_engines<'a>(
        engines: impl Iterator<Item = &'a crate::detect::engine::Engine>,
        eve: crate::events::EveTotals,
        eve_queue_full: u64,
    ) -> Option<Self> {
        let mut r: Option<EngineReport> = None;
        for e in engines {
            let r = r.get_or_insert_with(|| EngineReport {
                eve_written: eve.written,
                eve_dropped: eve_queue_full + eve.stats_dropped + eve.write_failed,
                eve_dropped_queue_full: eve_queue_full + eve.stats_dropped,
                eve_dropped_write_failed: eve.write_failed,
                ..Default::default()
            });
            r.counters.add(&e.counters);
            let f = e.flow_counters();
            r.flows_created += f.created;
            r.flows_evicted += f.evicted;
            r.flows_refused += f.refused;
            r.flows_timed_out += f.timed_out;
            r.flows_reused += f.reused;
        }
        if let Some(r) = r.as_mut() {
            for (err, n) in crate::decode::DecodeError::ALL
                .iter()
                .zip(r.counters.decode_errors)
            {
                if n > 0 {
                    r.decode_errors.insert(err.reason(), n);
                }
            }
        }
        r
    }
}

/// Counters of one port: the workers' and the driver's.
#[derive(Debug, Clone, Serialize)]
pub struct PortReport {
    /// Name (PCI address or vdev).
    pub name: String,
    /// `span`, `bridge` or `mirror`.
    pub role: &'static str,
    /// Packets the workers received.
    pub rx: u64,
    /// Packets the workers sent out of this port.
    pub tx: u64,
    /// Received packets the policy dropped.
    pub policy_drops: u64,
    /// Packets for this port the NIC refused (freed).
    pub tx_failures: u64,
    /// Packets of stalled workers' queues forwarded uninspected.
    pub stall_passed: u64,
    /// Packets of stalled workers' queues dropped.
    pub stall_drops: u64,
    /// Driver: packets dropped for want of an rx descriptor.
    pub imissed: u64,
    /// Driver: receives that failed for want of an mbuf.
    pub rx_nombuf: u64,
    /// Driver: erroneous received packets.
    pub ierrors: u64,
    /// Driver: failed transmissions.
    pub oerrors: u64,
    /// Driver: packets received.
    pub device_ipackets: u64,
    /// Driver: packets sent.
    pub device_opackets: u64,
    /// Per queue.
    pub queues: Vec<QueueReport>,
}

/// Counters of one queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueueReport {
    /// Queue number.
    pub queue: u16,
    /// Packets received.
    pub rx: u64,
    /// Packets sent.
    pub tx: u64,
    /// Received packets the policy dropped.
    pub policy_drops: u64,
    /// Packets refused by the NIC.
    pub tx_failures: u64,
    /// Forwarded uninspected after this queue's worker stalled.
    pub stall_passed: u64,
    /// Dropped after this queue's worker stalled.
    pub stall_drops: u64,
    /// Driver: packets received on the queue (absent when the driver keeps none).
    pub device_ipackets: Option<u64>,
    /// Driver: packets sent on the queue.
    pub device_opackets: Option<u64>,
}

/// Counters of one worker.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerReport {
    /// Worker index (= queue number).
    pub worker: usize,
    /// CPU it is pinned to.
    pub core: usize,
    /// Packets processed.
    pub packets: u64,
    /// Non-empty bursts processed.
    pub bursts: u64,
    /// TSC cycles per packet spent in non-empty bursts.
    pub busy_cycles_per_packet: f64,
    /// Whether the watchdog found it stalled (its queues then follow
    /// `workers.stall_policy`).
    pub stalled: bool,
}

/// The mbuf pool.
#[derive(Debug, Clone, Serialize)]
pub struct MempoolReport {
    /// Mbufs in the pool.
    pub size: u32,
    /// Mbufs out of the pool.
    pub in_use: u32,
}

impl StatsReport {
    /// One JSON line.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            serde_json::json!({"event": "stats", "error": e.to_string()}).to_string()
        })
    }
}
