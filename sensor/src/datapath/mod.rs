//! Ports, workers and stats: everything that touches mbufs.
//!
//! [`ports`] finds the configured devices and hands each worker its queues; [`worker`] is
//! the pinned poll loop (rx burst, policy, tx burst, mirror copies); [`stats`] the
//! counters and the report built from them. [`supervise`] waits for the end of a run
//! while printing periodic stats. The wiring of a whole run is `app::run`.

pub mod ports;
pub mod stats;
pub mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dpdk_bindings::Mempool;

use crate::config::Config;
use crate::error::SensorError;
use ports::{fill_device, PortPlan};
use stats::{MempoolReport, PortReport, QueueReport, StatsBoard, StatsReport, WorkerReport};

/// When the main loop ends the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopWhen {
    /// Only when the stop flag is set (a signal).
    Signal,
    /// When port `port` has received `packets` packets (or the flag is set). A port whose
    /// count stops moving for `stall` before that is an error.
    InputConsumed {
        /// Port index.
        port: usize,
        /// Packets expected.
        packets: u64,
        /// How long without progress counts as stalled.
        stall: Duration,
    },
}

/// Waits for the stop condition, calling `print` for periodic stats. A replay stopped
/// (by a signal) before its whole input was handled, or whose input stalls, is an error.
/// With a `watchdog` timeout, a worker whose heartbeat (`loops`) has not moved for that
/// long is marked stalled and handed to `on_stall`, once.
#[allow(clippy::too_many_arguments)]
pub fn supervise(
    config: &Config,
    plans: &[PortPlan],
    board: &StatsBoard,
    stop_when: StopWhen,
    stop: &AtomicBool,
    watchdog: Option<Duration>,
    mut on_stall: impl FnMut(usize),
    print: impl Fn(bool),
) -> Result<(), SensorError> {
    let interval = (config.stats_interval_secs > 0.0)
        .then(|| Duration::from_secs_f64(config.stats_interval_secs));
    let mut next_stats = interval.map(|i| Instant::now() + i);
    let mut last_progress = (0u64, Instant::now());
    // Each worker's heartbeat, and since when it has not moved.
    let mut beats: Vec<(u64, Instant)> = board
        .workers
        .iter()
        .map(|w| (w.loops.get(), Instant::now()))
        .collect();
    while !stop.load(Ordering::SeqCst) {
        if let Some(timeout) = watchdog {
            for (q, (w, beat)) in board.workers.iter().zip(beats.iter_mut()).enumerate() {
                let loops = w.loops.get();
                if loops != beat.0 {
                    *beat = (loops, Instant::now());
                } else if beat.1.elapsed() > timeout && !w.stalled.swap(true, Ordering::SeqCst) {
                    on_stall(q);
                }
            }
        }
        if let StopWhen::InputConsumed {
            port,
            packets,
            stall,
        } = stop_when
        {
            let lost = plans[port]
                .id
                .stats(plans[port].queues)
                .map(|s| s.imissed + s.ierrors + s.rx_nombuf)
                .unwrap_or(0);
            let consumed = board.port_rx(port) + lost;
            if consumed >= packets {
                return Ok(());
            }
            if consumed != last_progress.0 {
                last_progress = (consumed, Instant::now());
            } else if last_progress.1.elapsed() > stall {
                return Err(SensorError::Runtime(format!(
                    "input stalled after {consumed} of {packets} packets"
                )));
            }
        }
        if let (Some(at), Some(i)) = (next_stats, interval) {
            if Instant::now() >= at {
                print(false);
                next_stats = Some(at + i);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // Stopped by a signal: a replay that did not handle its whole input did not succeed.
    if let StopWhen::InputConsumed { port, packets, .. } = stop_when {
        let consumed = board.port_rx(port);
        if consumed < packets {
            return Err(SensorError::Runtime(format!(
                "interrupted after {consumed} of {packets} packets"
            )));
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
/// The stats of a run so far (`is_final`: after the workers stopped).
pub fn build_report(
    config: &Config,
    plans: &[PortPlan],
    board: &StatsBoard,
    cores: &[usize],
    started_at: Instant,
    is_final: bool,
    pool: &Mempool,
    in_use: u32,
) -> StatsReport {
    let ports = plans
        .iter()
        .enumerate()
        .map(|(i, plan)| {
            let queues: Vec<QueueReport> = board
                .workers
                .iter()
                .enumerate()
                .map(|(q, w)| {
                    let (c, r) = (&w.queues[i], &w.rescued[i]);
                    QueueReport {
                        queue: q as u16,
                        rx: c.rx.get() + r.rx.get(),
                        tx: c.tx.get() + r.tx.get(),
                        policy_drops: c.policy_drops.get(),
                        tx_failures: c.tx_failures.get() + r.tx_failures.get(),
                        stall_passed: r.stall_passed.get(),
                        stall_drops: r.stall_drops.get()
                            + w.abandoned[i].load(std::sync::atomic::Ordering::Relaxed),
                        device_ipackets: None,
                        device_opackets: None,
                    }
                })
                .collect();
            let mut r = PortReport {
                name: plan.name.clone(),
                role: plan.role.name(),
                rx: queues.iter().map(|q| q.rx).sum(),
                tx: queues.iter().map(|q| q.tx).sum(),
                policy_drops: queues.iter().map(|q| q.policy_drops).sum(),
                tx_failures: queues.iter().map(|q| q.tx_failures).sum(),
                stall_passed: queues.iter().map(|q| q.stall_passed).sum(),
                stall_drops: queues.iter().map(|q| q.stall_drops).sum(),
                imissed: 0,
                rx_nombuf: 0,
                ierrors: 0,
                oerrors: 0,
                device_ipackets: 0,
                device_opackets: 0,
                queues,
            };
            if !is_final {
                if let Ok(s) = plan.id.stats(plan.queues) {
                    fill_device(&mut r, &s);
                }
            }
            r
        })
        .collect();
    let workers = board
        .workers
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let packets = w.packets.get();
            WorkerReport {
                worker: i,
                core: cores[i],
                packets,
                bursts: w.bursts.get(),
                busy_cycles_per_packet: if packets == 0 {
                    0.0
                } else {
                    w.busy_cycles.get() as f64 / packets as f64
                },
                stalled: w.stalled.load(std::sync::atomic::Ordering::Relaxed),
            }
        })
        .collect();
    StatsReport {
        event: "stats",
        is_final,
        mode: config.mode.to_string(),
        uptime_secs: started_at.elapsed().as_secs_f64(),
        ports,
        workers,
        mempool: MempoolReport {
            size: pool.size(),
            in_use: if is_final { in_use } else { pool.in_use() },
        },
        engine: None,
    }
}
