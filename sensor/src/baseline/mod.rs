//! Per-host baselines: what each host normally resolves and reaches, and explained alerts
//! when that changes.
//!
//! Workers never hold a profile. Per packet that matters (the first packet of a
//! connection a profiled host initiates; a DNS query from one or an answer to one) a
//! worker pushes a fixed-size [`Observation`] onto its own bounded queue in the
//! [`BaselineHub`] (full: dropped and counted, never waited on). One baseline thread
//! ([`thread::run`]) owns every [`profile::HostProfile`], updates them in packet time,
//! raises the alerts, and publishes an [`Enforcement`] snapshot (the learned filters of
//! the hosts marked `enforce`) that workers take at a burst boundary, the way rulesets
//! are published: a version number compared once per burst. In prevention a worker drops
//! the first packet of a connection (and so the flow) from an enforced host to a
//! destination the snapshot does not hold. Uses `decode`, `events` and `rules` (address
//! specs) alone.

pub mod config;
pub mod persist;
pub mod profile;
pub mod sketch;
pub mod thread;

use crate::decode::IpProto;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

use crossbeam_queue::ArrayQueue;

pub use config::BaselineConfig;
use profile::destination_hash;
use sketch::AgingBloom;

use crate::rules::netspec::AddrSpec;

/// A DNS name carried by value (no allocation on the worker).
#[derive(Clone, Copy)]
pub struct NameBuf {
    len: u8,
    bytes: [u8; 255],
}

impl NameBuf {
    /// `name` truncated to 255 bytes.
    pub fn new(name: &[u8]) -> Self {
        let n = name.len().min(255);
        let mut bytes = [0; 255];
        bytes[..n].copy_from_slice(&name[..n]);
        NameBuf {
            len: n as u8,
            bytes,
        }
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for NameBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Where an observation came from (for the alert's EVE fields).
#[derive(Debug, Clone, Copy)]
pub struct PacketRef {
    /// The packet.
    pub packet: crate::events::PacketFields,
    /// The worker dropped the packet (and its flow) on the enforcement snapshot.
    pub blocked: bool,
}

/// What a worker tells the baseline thread. Carried by value (the name inline), so a
/// worker never allocates to send one; the queue's slots are sized for the DNS variant.
#[derive(Debug, Clone, Copy)]
#[allow(clippy::large_enum_variant)]
pub enum Observation {
    /// The first packet of a connection, from its initiator (`packet.src`).
    Connection(PacketRef),
    /// A DNS message: a query from `packet.src` or an answer to `packet.dst`.
    Dns {
        /// The packet.
        packet: PacketRef,
        /// An answer (else a query).
        response: bool,
        /// Response code.
        rcode: u8,
        /// Question type.
        qtype: u16,
        /// Question name, lowercased, no trailing dot.
        name: NameBuf,
    },
}

/// The learned filters workers enforce for hosts marked `enforce`.
#[derive(Debug, Default)]
pub struct Enforcement {
    hosts: HashMap<IpAddr, EnforcedHost>,
    drop_destination: bool,
    drop_domain: bool,
}

#[derive(Debug, Clone)]
struct EnforcedHost {
    from_us: u64,
    destinations: AgingBloom,
    domains: AgingBloom,
}

impl Enforcement {
    /// Whether a connection from `src` to `dst:port` over `proto` at `now` goes to a
    /// destination the enforced host never used.
    pub fn blocks_connection(
        &self,
        src: IpAddr,
        dst: IpAddr,
        port: u16,
        proto: IpProto,
        now: u64,
    ) -> bool {
        self.drop_destination
            && self.hosts.get(&src).is_some_and(|h| {
                now >= h.from_us && !h.destinations.contains(destination_hash(dst, port, proto))
            })
    }

    /// Whether a query from `src` for `name` at `now` is for a registered domain the
    /// enforced host never resolved.
    pub fn blocks_query(&self, src: IpAddr, name: &[u8], now: u64) -> bool {
        if !self.drop_domain {
            return false;
        }
        let Some(h) = self.hosts.get(&src) else {
            return false;
        };
        let Ok(name) = std::str::from_utf8(name) else {
            return false;
        };
        now >= h.from_us
            && !h
                .domains
                .contains(profile::domain_hash(profile::registered_domain(name)))
    }

    /// Hosts enforced.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether no host is enforced.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }
}

/// A control-socket request to the baseline thread.
#[derive(Debug, Clone)]
pub enum ControlRequest {
    /// A host's profile summary.
    Show(IpAddr),
    /// Forget a host's profile (it learns again from its next packet).
    Reset(IpAddr),
}

/// What workers, the baseline thread and the control thread share.
pub struct BaselineHub {
    queues: Vec<ArrayQueue<Observation>>,
    processed: Vec<AtomicU64>,
    /// Observations lost because a worker's queue was full.
    pub dropped: AtomicU64,
    version: AtomicU64,
    snapshot: Mutex<Arc<Enforcement>>,
    requests: ArrayQueue<(ControlRequest, SyncSender<serde_json::Value>)>,
    /// Which hosts are profiled.
    pub hosts: AddrSpec,
    /// Workers wait for the thread at burst boundaries (replay).
    pub lockstep: bool,
}

impl std::fmt::Debug for BaselineHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaselineHub")
            .field("workers", &self.queues.len())
            .field("version", &self.version.load(Ordering::Relaxed))
            .finish()
    }
}

impl BaselineHub {
    /// A hub for `workers` workers, profiling `hosts`.
    pub fn new(workers: usize, cfg: &BaselineConfig, hosts: AddrSpec) -> Arc<Self> {
        Arc::new(BaselineHub {
            queues: (0..workers)
                .map(|_| ArrayQueue::new(cfg.queue_size.max(16)))
                .collect(),
            processed: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            dropped: AtomicU64::new(0),
            version: AtomicU64::new(0),
            snapshot: Mutex::new(Arc::new(Enforcement::default())),
            requests: ArrayQueue::new(16),
            hosts,
            lockstep: cfg.lockstep,
        })
    }

    /// Asks the baseline thread; `None` when it does not answer within `timeout`.
    pub fn ask(
        &self,
        request: ControlRequest,
        timeout: std::time::Duration,
    ) -> Option<serde_json::Value> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.requests.push((request, tx)).ok()?;
        rx.recv_timeout(timeout).ok()
    }

    fn publish(&self, snapshot: Enforcement) {
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
        self.version.fetch_add(1, Ordering::Release);
    }
}

/// A worker's end of the hub.
#[derive(Debug)]
pub struct BaselineTap {
    hub: Arc<BaselineHub>,
    worker: usize,
    sent: u64,
    version: u64,
    /// The enforcement snapshot this worker uses until the next burst boundary.
    pub enforcement: Arc<Enforcement>,
}

impl BaselineTap {
    /// Worker `worker`'s tap.
    pub fn new(hub: Arc<BaselineHub>, worker: usize) -> Self {
        BaselineTap {
            hub,
            worker,
            sent: 0,
            version: 0,
            enforcement: Arc::new(Enforcement::default()),
        }
    }

    /// Whether `ip` is profiled.
    #[inline]
    pub fn profiled(&self, ip: IpAddr) -> bool {
        self.hub.hosts.matches(ip)
    }

    /// Queues an observation; a full queue drops it and counts it.
    pub fn send(&mut self, o: Observation) {
        match self.hub.queues[self.worker].push(o) {
            Ok(()) => self.sent += 1,
            Err(_) => {
                self.hub.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Before an enforcement decision: in lockstep, catches up with every observation
    /// sent so far (so a replay decides on all earlier packets, not only earlier bursts).
    pub fn sync(&mut self) {
        if self.hub.lockstep {
            self.refresh();
        }
    }

    /// At a burst boundary: in lockstep, waits until the thread has handled everything
    /// sent; then takes a newer enforcement snapshot if one was published.
    pub fn refresh(&mut self) {
        if self.hub.lockstep {
            let done = &self.hub.processed[self.worker];
            while done.load(Ordering::Acquire) < self.sent {
                std::thread::yield_now();
            }
        }
        let v = self.hub.version.load(Ordering::Acquire);
        if v != self.version {
            if let Ok(s) = self.hub.snapshot.try_lock() {
                self.enforcement = Arc::clone(&s);
                self.version = v;
            }
        }
    }
}
