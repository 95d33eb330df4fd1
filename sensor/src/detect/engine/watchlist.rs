//! The answer watchlist's entries and the bus that carries them: when a worker sees an
//! answer for a name a list or rule flagged, each answered address is watched for the
//! answer's TTL by every worker (a connection to it alerts, or drops), so new entries go
//! to each worker's bounded inbox, read between bursts, instead of a shared map with
//! locks. A full inbox drops the entry and counts it.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

/// An address being watched.
#[derive(Debug, Clone)]
pub struct WatchItem {
    /// The address.
    pub addr: IpAddr,
    /// When it stops being watched (packet time, microseconds).
    pub expires_us: u64,
    /// The name it was answered for.
    pub name: Arc<str>,
    /// Why the name is watched (`list NAME`, `sid N`).
    pub origin: Arc<str>,
}

/// Carries new watch entries from the worker that saw the answer to every worker.
#[derive(Debug)]
pub struct WatchBus {
    inboxes: Vec<ArrayQueue<WatchItem>>,
    /// Entries lost because an inbox was full.
    pub dropped: AtomicU64,
}

impl WatchBus {
    /// A bus for `workers` workers, each inbox holding `capacity` entries.
    pub fn new(workers: usize, capacity: usize) -> Arc<Self> {
        Arc::new(WatchBus {
            inboxes: (0..workers)
                .map(|_| ArrayQueue::new(capacity.max(16)))
                .collect(),
            dropped: AtomicU64::new(0),
        })
    }

    /// The next entry in worker `worker`'s inbox.
    pub(super) fn take(&self, worker: usize) -> Option<WatchItem> {
        self.inboxes.get(worker)?.pop()
    }

    pub(super) fn publish(&self, item: &WatchItem) {
        for inbox in &self.inboxes {
            if inbox.push(item.clone()).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
