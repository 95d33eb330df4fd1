//! `sensor run` and `sensor replay` end to end: validate the configuration, bind the
//! control socket, compile the ruleset, bring EAL and the ports up, start the EVE writer,
//! the baseline thread, one pinned worker per queue and the control thread, then
//! supervise until the stop condition and tear everything down in order, reporting how
//! many mbufs are still out of the pool (zero unless something leaked).
//!
//! Threads: workers are std threads pinned with `core_affinity` and registered with
//! `rte_thread_register` (so they get mempool caches); EAL's main lcore is allowed on every
//! CPU so the stats thread is not pinned on a worker's core.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dpdk_bindings::{ConfiguredPort, Eal, Mempool, PortConfig};
use tracing::{info, warn};

use crate::config::{cpu_list, Config, StallPolicy};
use crate::datapath::ports::{
    allowed_cpus, eal_args_with_lcores, fill_device, peers, plan_port, split_queues, PortRole,
};
use crate::datapath::stats::{EngineReport, StatsBoard, StatsReport};
use crate::datapath::worker::{rescue, StallFault, Worker, WorkerQueues};
use crate::datapath::{build_report, supervise, StopWhen};
use crate::detect::compiler::Compiler;
use crate::detect::engine::{Engine, EngineConfig, LiveCounters, WatchBus};
use crate::detect::publish::RulesHandle;
use crate::detect::Ruleset;
use crate::error::SensorError;
use crate::events::{EveTotals, EveWriter};

use super::configured_policy::ConfiguredPolicy;

/// What the control plane needs from the caller of [`run`].
#[derive(Debug, Clone, Default)]
pub struct ControlHooks {
    /// The configuration file (shown by `status`).
    pub config_path: Option<std::path::PathBuf>,
    /// Set by SIGHUP to ask for a reload.
    pub reload_signal: Option<Arc<AtomicBool>>,
}

/// Runs the datapath until `stop_when` is met or `stop` is set, and returns the final
/// stats. `eal_args` are passed to EAL as they are (plus lcores, see
/// [`eal_args_with_lcores`]).
pub fn run(
    config: &Config,
    eal_args: &[String],
    stop_when: StopWhen,
    stop: &AtomicBool,
    hooks: &ControlHooks,
) -> Result<StatsReport, SensorError> {
    let cpus = allowed_cpus();
    config.validate(&cpus)?;
    // The control socket first: a second sensor on the same socket stops here, before
    // it touches EAL or the ports.
    let control_socket = crate::control::socket::bind(&config.control)?;
    let mut compiler = Compiler::new(cpus.clone());
    let ruleset = load_ruleset(config, &mut compiler)?;
    let rules_handle = ruleset
        .as_ref()
        .map(|rs| RulesHandle::new(Arc::clone(rs), usize::from(config.ports.queues)));
    let live: Vec<Arc<LiveCounters>> = (0..config.ports.queues)
        .map(|_| Arc::new(LiveCounters::default()))
        .collect();
    let cores = config.worker_cores(&cpus);
    let eal = Eal::init(eal_args_with_lcores(eal_args, &cpus))
        .map_err(|e| SensorError::Usage(format!("{e} (check eal.args)")))?;

    let queues = config.ports.queues;
    let data_names = config.data_ports();
    let mut plans = Vec::new();
    for name in &data_names {
        plans.push(plan_port(
            &eal,
            name,
            PortRole::of_data_ports(config.mode),
            queues,
            queues,
        )?);
    }
    if let Some(m) = &config.ports.mirror {
        plans.push(plan_port(&eal, m, PortRole::Mirror, 1, queues)?);
    }

    let pool = Mempool::create(
        &eal,
        "sensor_mbufs",
        config.mempool.size,
        config.mempool.cache_size,
        config.mempool.data_room,
        plans
            .first()
            .and_then(|p| p.id.info().ok())
            .and_then(|i| i.socket),
    )
    .map_err(|e| SensorError::Runtime(format!("{e} (mempool.size or EAL memory too small?)")))?;

    let mut started = Vec::new();
    for p in &plans {
        let rx_queues = if p.role == PortRole::Mirror {
            1
        } else {
            queues
        };
        let conf = PortConfig {
            rx_queues,
            tx_queues: queues,
            rx_descriptors: config.ports.rx_descriptors,
            tx_descriptors: config.ports.tx_descriptors,
            promiscuous: config.ports.promiscuous,
        };
        let port = ConfiguredPort::configure(p.id, &conf, &pool)
            .and_then(ConfiguredPort::start)
            .map_err(|e| SensorError::Runtime(format!("{}: {e}", p.name)))?;
        info!(port = %p.name, rss = ?port.rss(), "port started");
        started.push(port);
    }

    let rx_timestamp = dpdk_bindings::mbuf::RxTimestamp::lookup();
    let board = StatsBoard::new(usize::from(queues), plans.len());
    let peer = peers(config, &data_names);
    let started_at = Instant::now();

    let report = |is_final: bool, in_use: u32| {
        build_report(
            config, &plans, &board, &cores, started_at, is_final, &pool, in_use,
        )
    };
    let baseline = if config.baseline.enabled {
        let vars = config.rule_vars()?;
        Some(
            crate::baseline::thread::prepare(&config.baseline, &vars, usize::from(queues))
                .map_err(SensorError::Usage)?,
        )
    } else {
        None
    };
    let baseline_hub = baseline.as_ref().map(|(hub, _)| Arc::clone(hub));
    // The baseline thread writes alerts through a queue of its own, after the workers'.
    let eve_queue_count = usize::from(queues) + usize::from(baseline.is_some());
    let eve = match (&config.eve.path, &ruleset) {
        (Some(path), Some(_)) => Some(
            EveWriter::create(
                path,
                eve_queue_count,
                config.eve.queue_size,
                plans.iter().map(|p| p.name.clone()).collect(),
            )
            .map_err(|e| SensorError::Usage(format!("eve.path {}: {e}", path.display())))?,
        ),
        _ => None,
    };
    let stats_sink = eve.as_ref().map(EveWriter::stats_sink);
    let eve_queues: Vec<_> = (0..eve_queue_count)
        .map(|q| eve.as_ref().map(|w| w.queue(q)))
        .collect();
    let eve_stop = AtomicBool::new(false);
    let baseline_stop = AtomicBool::new(false);
    let watch_bus = WatchBus::new(usize::from(queues), 4096);
    let mut engine_report = None;
    let datapath_stats = || {
        serde_json::from_str::<serde_json::Value>(&report(false, 0).to_json_line())
            .unwrap_or_default()
    };
    // The queues each worker serves, leased to it (and to a rescuer if it stalls).
    let leases: Vec<std::sync::Mutex<WorkerQueues>> = split_queues(&mut started, &plans, queues)?
        .into_iter()
        .map(std::sync::Mutex::new)
        .collect();
    let fault = StallFault::from_env();
    let outcome = std::thread::scope(|scope| -> Result<(), SensorError> {
        let writer = match (eve, &ruleset) {
            (Some(w), Some(_)) => {
                let eve_stop = &eve_stop;
                Some(
                    std::thread::Builder::new()
                        .name("eve-writer".into())
                        .spawn_scoped(scope, move || w.run(eve_stop))
                        .map_err(|e| {
                            SensorError::Runtime(format!("spawning the EVE writer: {e}"))
                        })?,
                )
            }
            _ => None,
        };
        let baseline_thread = match baseline {
            Some((hub, state)) => {
                let eve = eve_queues.last().cloned().flatten();
                let baseline_stop = &baseline_stop;
                // Off the workers' cores: the first allowed CPU no worker is pinned to.
                let spare = cpus.iter().copied().find(|c| !cores.contains(c));
                Some(
                    std::thread::Builder::new()
                        .name("baseline".into())
                        .spawn_scoped(scope, move || {
                            if let Some(id) = spare {
                                core_affinity::set_for_current(core_affinity::CoreId { id });
                            }
                            crate::baseline::thread::run(&hub, state, eve, baseline_stop)
                        })
                        .map_err(|e| {
                            SensorError::Runtime(format!("spawning the baseline thread: {e}"))
                        })?,
                )
            }
            None => None,
        };
        let mut handles = Vec::new();
        for (q, lease) in leases.iter().enumerate() {
            let worker = Worker {
                index: q as u16,
                queues: lease,
                ports: data_names.len(),
                peer: peer.clone(),
                mirroring: config.ports.mirror.is_some(),
                fault,
                gather: Vec::new(),
                decisions: Vec::with_capacity(crate::config::MAX_BURST),
                rx_seen: vec![0; data_names.len()],
                policy: match &ruleset {
                    Some(rs) => ConfiguredPolicy::Engine(Box::new(Engine::new(
                        Arc::clone(rs),
                        EngineConfig {
                            mode: config.mode,
                            flow_capacity: config.detect.flow_capacity,
                            flow_exception_policy: config.detect.flow_exception_policy,
                            stream_window: config.detect.stream_window,
                            mirror_alerted_flows: config.detect.mirror_alerted_flows,
                            encrypted_payload: config.detect.encrypted_payload,
                            defrag: config.defrag.clone(),
                            stream: config.stream.clone(),
                            http: config.http.clone(),
                            tls: config.tls.clone(),
                            dns: config.dns.clone(),
                            dns_events: config.eve.dns_events,
                            tls_events: config.eve.tls_events,
                            watch_bus: (usize::from(queues) > 1).then(|| Arc::clone(&watch_bus)),
                            rules: rules_handle.clone(),
                            live: Some(Arc::clone(&live[q])),
                            baseline: baseline_hub.clone(),
                        },
                        eve_queues[q].clone(),
                        q as u16,
                    ))),
                    None => ConfiguredPolicy::from_config(&config.policy),
                },
                burst_size: config.workers.burst_size,
                tx_retries: config.workers.tx_retries,
                idle_sleep: Duration::from_micros(config.workers.idle_sleep_us),
                rx_timestamp,
                pool,
            };
            let core = cores[q];
            let counters = &board.workers[q];
            let eal = &eal;
            let handle = std::thread::Builder::new()
                .name(format!("worker-{q}"))
                .spawn_scoped(scope, move || {
                    if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                        warn!(core, "could not pin worker {q}");
                    }
                    let _registration = match eal.register_thread() {
                        Ok(r) => Some(r),
                        Err(e) => {
                            warn!("worker {q}: {e}; running without a mempool cache");
                            None
                        }
                    };
                    worker.run(stop, counters)
                })
                .map_err(|e| SensorError::Runtime(format!("spawning worker {q}: {e}")))?;
            handles.push(handle);
        }
        let control = match control_socket.as_ref() {
            Some(socket) => {
                // Reloads compile on the CPUs no worker is pinned to.
                compiler.set_cpus(
                    cpus.iter()
                        .copied()
                        .filter(|c| !cores.contains(c))
                        .collect(),
                );
                let state = crate::control::ControlState {
                    config,
                    compiler: std::sync::Mutex::new(std::mem::take(&mut compiler)),
                    config_path: hooks.config_path.clone(),
                    started: started_at,
                    rules: rules_handle.clone(),
                    live: live.clone(),
                    datapath_stats: &datapath_stats,
                    stop,
                    reload_signal: hooks.reload_signal.clone(),
                    baseline: baseline_hub.clone(),
                };
                let listener = socket
                    .listener
                    .try_clone()
                    .map_err(|e| SensorError::Runtime(format!("control socket: {e}")))?;
                let (max, timeout) = (
                    config.control.max_clients.max(1),
                    Duration::from_secs_f64(config.control.timeout_secs.max(0.1)),
                );
                Some(
                    std::thread::Builder::new()
                        .name("control".into())
                        .spawn_scoped(scope, move || {
                            crate::control::serve(listener, &state, max, timeout)
                        })
                        .map_err(|e| {
                            SensorError::Runtime(format!("spawning the control thread: {e}"))
                        })?,
                )
            }
            None => None,
        };
        info!(workers = cores.len(), cores = %cpu_list(&cores), mode = %config.mode, "running");
        let on_stall = |q: usize| {
            let fail_open = config.workers.stall_policy == StallPolicy::FailOpen;
            warn!(
                "worker {q} made no progress for {} s: its queues are served {} from now on",
                config.workers.stall_timeout_secs,
                if fail_open {
                    "without inspection (stall_policy fail-open)"
                } else {
                    "by dropping every packet (stall_policy fail-closed)"
                }
            );
            let (lease, peer, board, eal) = (&leases[q], &peer, &board, &eal);
            let spawned = std::thread::Builder::new()
                .name(format!("rescue-{q}"))
                .spawn_scoped(scope, move || {
                    let _registration = eal.register_thread().ok();
                    rescue(
                        lease,
                        peer,
                        fail_open,
                        config.workers.burst_size,
                        config.workers.tx_retries,
                        stop,
                        &board.workers[q].rescued,
                    );
                });
            if let Err(e) = spawned {
                warn!("worker {q}: spawning its rescuer: {e}");
            }
        };
        let watchdog = (config.workers.stall_timeout_secs > 0.0)
            .then(|| Duration::from_secs_f64(config.workers.stall_timeout_secs));
        let result = supervise(
            config,
            &plans,
            &board,
            stop_when,
            stop,
            watchdog,
            on_stall,
            |r| {
                let line = report(r, 0).to_json_line();
                if let Some(sink) = &stats_sink {
                    let now_us = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_micros() as u64);
                    sink.send(now_us, &line);
                }
                super::stdout::line(&line);
            },
        );
        stop.store(true, Ordering::SeqCst);
        if let Some(c) = control {
            let _ = c.join();
        }
        // A worker stuck for good never returns: the run ends without it, with a failure.
        let deadline = Instant::now() + Duration::from_secs(5);
        while handles.iter().any(|h| !h.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(q) = handles.iter().position(|h| !h.is_finished()) {
            super::stdout::line(&report(true, 0).to_json_line());
            eprintln!("sensor: worker {q} did not stop (it is stalled); exiting without it");
            std::process::exit(1);
        }
        let policies: Vec<ConfiguredPolicy> =
            handles.into_iter().filter_map(|h| h.join().ok()).collect();
        // The baseline thread drains what the workers sent, then the writer what it raised.
        baseline_stop.store(true, Ordering::SeqCst);
        let baseline_report = match baseline_thread.map(|t| t.join()) {
            Some(Ok(r)) => Some(r),
            Some(Err(_)) => {
                return Err(SensorError::Runtime("the baseline thread panicked".into()))
            }
            None => None,
        };
        eve_stop.store(true, Ordering::SeqCst);
        let eve = match writer.map(|w| w.join()) {
            Some(Ok(totals)) => totals,
            Some(Err(_)) => return Err(SensorError::Runtime("the EVE writer panicked".into())),
            None => EveTotals::default(),
        };
        let queue_full = eve_queues.iter().flatten().map(|q| q.dropped()).sum();
        engine_report = EngineReport::from_engines(
            policies.iter().filter_map(ConfiguredPolicy::engine),
            eve,
            queue_full,
        );
        if let (Some(r), Some(b)) = (engine_report.as_mut(), baseline_report) {
            r.counters.alerts += b.alerts.values().sum::<u64>();
            r.baseline = Some(b);
        }
        result
    });

    let mut final_report = report(true, 0);
    final_report.engine = engine_report;
    let mut stopped = Vec::new();
    for (port, plan) in started.into_iter().zip(&plans) {
        match port.stop() {
            Ok(p) => stopped.push(p),
            Err(e) => warn!(port = %plan.name, "{e}"),
        }
    }
    // Driver counters after stop, so the last packets are in them.
    final_report.ports = plans
        .iter()
        .zip(final_report.ports)
        .map(|(plan, mut r)| {
            if let Ok(s) = plan.id.stats(plan.queues) {
                fill_device(&mut r, &s);
            }
            r
        })
        .collect();
    for (port, plan) in stopped.into_iter().zip(&plans) {
        if let Err(e) = port.close() {
            warn!(port = %plan.name, "{e}");
        }
    }
    final_report.mempool.in_use = pool.in_use();
    let unsaved = final_report
        .engine
        .as_ref()
        .and_then(|e| e.baseline.as_ref())
        .and_then(|b| b.state_save_error.clone())
        .map(|e| SensorError::Runtime(format!("baseline profiles not saved to {e}")));
    if let Some(e) = outcome.err().or(unsaved) {
        // A failed run still says what it handled before it failed.
        super::stdout::line(&final_report.to_json_line());
        return Err(e);
    }
    Ok(final_report)
}

/// Loads and compiles the configured rules and domain lists (off the data path, before
/// EAL, on every allowed CPU). A path that cannot be read is a configuration error;
/// configured rules or lists that load nothing, and rules and list lines that do not
/// parse, are reported on stderr.
fn load_ruleset(
    config: &Config,
    compiler: &mut Compiler,
) -> Result<Option<Arc<Ruleset>>, SensorError> {
    if config.detect.rules.is_empty() && config.lists.is_empty() && !config.baseline.enabled {
        return Ok(None);
    }
    let ruleset = config.compile(compiler)?;
    if let Err(refusal) = crate::detect::reload_guard::check(
        config.configured_protection(),
        None,
        ruleset.coverage(),
        config.control.reload_max_loss,
    ) {
        warn!("{refusal}: the sensor starts without them");
    }
    Ok(Some(Arc::new(ruleset)))
}
