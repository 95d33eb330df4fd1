//! Publishing a new ruleset to running workers without a lock on the packet path.
//!
//! The control thread compiles a ruleset off the data path and calls
//! [`RulesHandle::publish`]: each worker gets its own slot holding the new `Arc<Ruleset>`
//! and a Hyperscan scratch space already allocated for it, then the version number is
//! bumped. A worker compares that number with its own once per burst (one atomic load);
//! when it differs it takes its slot (uncontended: only the publisher and that worker use
//! it) and switches between bursts. A worker never frees the ruleset it drops (freeing
//! hundreds of MiB of small allocations would stall the data path): it hands it to
//! [`RulesHandle::retire`], and the control thread drops it ([`RulesHandle::free_retired`])
//! and returns the freed memory to the system; a ruleset still named by queued alerts is
//! freed when the EVE writer lets go of the last one. Publishing is serialized by the
//! caller (the control thread's compiler lock).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_queue::ArrayQueue;

use super::Ruleset;

/// What a worker takes when it switches.
pub struct Published {
    /// The ruleset.
    pub ruleset: Arc<Ruleset>,
    /// Scratch space for its Hyperscan databases (`None`: it has none).
    pub scratch: Option<hyperscan::Scratch>,
    /// Its version.
    pub version: u64,
}

/// The running ruleset and the way new ones reach the workers.
pub struct RulesHandle {
    version: AtomicU64,
    current: Mutex<(u64, Arc<Ruleset>)>,
    slots: Vec<Mutex<Option<Published>>>,
    retired: ArrayQueue<Arc<Ruleset>>,
}

impl std::fmt::Debug for RulesHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RulesHandle")
            .field("version", &self.version())
            .field("workers", &self.slots.len())
            .finish()
    }
}

/// Scratch space sized for every Hyperscan database of `ruleset`.
pub fn scratch_for(ruleset: &Ruleset) -> Option<hyperscan::Scratch> {
    let mut scratch: Option<hyperscan::Scratch> = None;
    for db in ruleset.groups.hyperscan_databases() {
        scratch = match scratch {
            None => db.alloc_scratch().ok(),
            Some(mut s) => match db.realloc_scratch(&mut s) {
                Ok(_) => Some(s),
                Err(_) => None,
            },
        };
    }
    scratch
}

impl RulesHandle {
    /// A handle for `workers` workers starting with `ruleset` as version 1.
    pub fn new(ruleset: Arc<Ruleset>, workers: usize) -> Arc<Self> {
        Arc::new(RulesHandle {
            version: AtomicU64::new(1),
            current: Mutex::new((1, ruleset)),
            slots: (0..workers).map(|_| Mutex::new(None)).collect(),
            retired: ArrayQueue::new(4 * workers.max(1) + 4),
        })
    }

    /// The version workers should be running.
    #[inline]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The latest published ruleset and its version.
    pub fn current(&self) -> (u64, Arc<Ruleset>) {
        let c = self.current.lock().unwrap_or_else(|e| e.into_inner());
        (c.0, Arc::clone(&c.1))
    }

    /// Publishes `ruleset` to every worker; returns its version. Allocates each worker's
    /// scratch space here, off the data path.
    pub fn publish(&self, ruleset: Ruleset) -> u64 {
        let ruleset = Arc::new(ruleset);
        let version = self.version() + 1;
        let scratch = scratch_for(&ruleset);
        for slot in &self.slots {
            let published = Published {
                ruleset: Arc::clone(&ruleset),
                scratch: scratch.clone(),
                version,
            };
            // A worker that has not taken the previous version skips straight to this one.
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(published);
        }
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = (version, ruleset);
        self.version.store(version, Ordering::Release);
        version
    }

    /// Takes a ruleset a worker stopped using, to be freed off the data path. If the
    /// queue is full (the control thread is not emptying it), the caller frees it.
    pub fn retire(&self, old: Arc<Ruleset>) {
        let _ = self.retired.push(old);
    }

    /// Frees the retired rulesets (the last reference, unless queued alerts still hold
    /// one) and hands the freed memory back to the system. Returns how many were retired.
    pub fn free_retired(&self) -> usize {
        let mut n = 0;
        while let Some(old) = self.retired.pop() {
            drop(old);
            n += 1;
        }
        if n > 0 {
            release_free_memory();
        }
        n
    }

    /// Worker `worker`'s new ruleset when one was published after `running`; never blocks
    /// (a slot being filled right now is picked up at the next burst).
    #[inline]
    pub fn take(&self, worker: usize, running: u64) -> Option<Published> {
        if self.version() == running {
            return None;
        }
        self.slots.get(worker)?.try_lock().ok()?.take()
    }
}

/// Returns free heap memory of every malloc arena to the system (glibc's `malloc_trim`),
/// so resident memory follows the rulesets alive rather than the peak of a reload.
fn release_free_memory() {
    extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: malloc_trim only releases free memory; it takes no pointers and is
    // thread-safe in glibc (it locks each arena).
    unsafe {
        malloc_trim(0);
    }
}
