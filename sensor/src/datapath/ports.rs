//! The ports a run uses: which device each configured name is, in which role, with how
//! many queues; which port a bridge port forwards to; the queues each worker owns; and
//! the CPUs and EAL lcore placement the process starts with. Runs once at start.

use dpdk_bindings::port::PortStats;
use dpdk_bindings::{Eal, PortId, StartedPort};

use crate::config::{cpu_list, Config, Mode};
use crate::error::SensorError;

use super::stats::PortReport;
use super::worker::WorkerQueues;

/// The CPUs this process may run on (read before EAL pins the main thread).
pub fn allowed_cpus() -> Vec<usize> {
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort_unstable();
    if ids.is_empty() {
        ids.push(0);
    }
    ids
}

/// EAL arguments with `--lcores=0@(cpus)` added unless the caller placed lcores itself.
pub fn eal_args_with_lcores(args: &[String], cpus: &[usize]) -> Vec<String> {
    let places_lcores = args.iter().any(|a| {
        a == "-l" || a == "-c" || a.starts_with("--lcores") || a.starts_with("-l") && a.len() > 2
    });
    let mut out = args.to_vec();
    if !places_lcores {
        out.push(format!("--lcores=0@({})", cpu_list(cpus)));
    }
    out
}

/// What a port is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortRole {
    /// Receives a copy of the traffic (detection).
    Span,
    /// One side of an inline bridge (prevention).
    Bridge,
    /// Transmits copies of flagged packets.
    Mirror,
}

impl PortRole {
    /// The role of the data ports in `mode`.
    pub fn of_data_ports(mode: Mode) -> PortRole {
        match mode {
            Mode::Detection => PortRole::Span,
            Mode::Prevention => PortRole::Bridge,
        }
    }

    /// The name stats and logs use.
    pub fn name(self) -> &'static str {
        match self {
            PortRole::Span => "span",
            PortRole::Bridge => "bridge",
            PortRole::Mirror => "mirror",
        }
    }
}

/// A configured port found in EAL.
#[derive(Debug)]
pub struct PortPlan {
    /// The device.
    pub id: PortId,
    /// Its configured name.
    pub name: String,
    /// What it is for.
    pub role: PortRole,
    /// Its queue count (the larger of rx and tx).
    pub queues: u16,
}

/// Finds port `name` and checks it has the queues asked for.
pub fn plan_port(
    eal: &Eal,
    name: &str,
    role: PortRole,
    rx_queues: u16,
    tx_queues: u16,
) -> Result<PortPlan, SensorError> {
    let id = PortId::by_name(eal, name).map_err(|_| {
        let known: Vec<String> = PortId::all(eal).into_iter().map(PortId::name).collect();
        SensorError::Usage(format!(
            "port {name} not found (EAL has: {})",
            if known.is_empty() {
                "no ports".to_owned()
            } else {
                known.join(", ")
            }
        ))
    })?;
    let info = id
        .info()
        .map_err(|e| SensorError::Runtime(format!("{name}: {e}")))?;
    if info.max_rx_queues < rx_queues || info.max_tx_queues < tx_queues {
        return Err(SensorError::Usage(format!(
            "port {name} ({}) supports {} rx and {} tx queues; {rx_queues} rx and {tx_queues} tx configured",
            info.driver, info.max_rx_queues, info.max_tx_queues
        )));
    }
    Ok(PortPlan {
        id,
        name: name.to_owned(),
        role,
        queues: rx_queues.max(tx_queues),
    })
}

/// For each data port, the port it forwards to (prevention).
pub fn peers(config: &Config, data_names: &[String]) -> Vec<Option<usize>> {
    let index = |n: &str| data_names.iter().position(|d| d == n);
    let mut out = vec![None; data_names.len()];
    if config.mode == Mode::Prevention {
        for [a, b] in &config.ports.bridge {
            if let (Some(a), Some(b)) = (index(a), index(b)) {
                out[a] = Some(b);
                out[b] = Some(a);
            }
        }
    }
    out
}

/// Hands queue `q` of every port to worker `q`: rx of the data ports, tx of the data ports
/// and the mirror port's tx (the mirror is the last plan).
pub fn split_queues<'p>(
    started: &'p mut [StartedPort],
    plans: &[PortPlan],
    queues: u16,
) -> Result<Vec<WorkerQueues<'p>>, SensorError> {
    let mirror_index = plans.iter().position(|p| p.role == PortRole::Mirror);
    let mut per_port: Vec<_> = started
        .iter_mut()
        .map(|p| {
            let (rx, tx) = p.queues();
            (rx.into_iter(), tx.into_iter())
        })
        .collect();
    (0..queues)
        .map(|_| {
            let mut rx = Vec::new();
            let mut tx = Vec::new();
            let mut mirror = None;
            for (i, ((rx_iter, tx_iter), plan)) in per_port.iter_mut().zip(plans).enumerate() {
                let missing = |what: &str| {
                    SensorError::Runtime(format!(
                        "port {}: fewer {what} queues than workers",
                        plan.name
                    ))
                };
                let txq = tx_iter.next().ok_or_else(|| missing("tx"))?;
                if Some(i) == mirror_index {
                    mirror = Some((i, txq));
                } else {
                    rx.push(rx_iter.next().ok_or_else(|| missing("rx"))?);
                    tx.push(txq);
                }
            }
            Ok(WorkerQueues { rx, tx, mirror })
        })
        .collect()
}

/// Copies the driver's counters of `s` into `r`.
pub fn fill_device(r: &mut PortReport, s: &PortStats) {
    r.imissed = s.imissed;
    r.rx_nombuf = s.rx_nombuf;
    r.ierrors = s.ierrors;
    r.oerrors = s.oerrors;
    r.device_ipackets = s.ipackets;
    r.device_opackets = s.opackets;
    for (q, report) in r.queues.iter_mut().enumerate() {
        report.device_ipackets = s.q_ipackets.get(q).copied();
        report.device_opackets = s.q_opackets.get(q).copied();
    }
}
