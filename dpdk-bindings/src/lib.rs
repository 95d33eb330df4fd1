//! The only crate that touches DPDK's C API.
//!
//! [`sys`] holds the generated bindings; the modules beside it are a thin safe layer:
//! [`eal`] (initialised once per process), [`mempool`], [`mbuf`] (an owning handle that
//! frees on drop), [`burst`] (fixed-size arrays reused forever), [`port`] (configuration as
//! a typestate, stats) and [`queue`] (rx/tx handles that take `&mut self`). Nothing here
//! decides anything about packets; [`toeplitz`] is a software model of the NIC's RSS hash.
//!
//! Ownership rules the types enforce: an mbuf has exactly one owning handle (not `Clone`,
//! not `Sync`); a mirror copy is an explicit refcount bump ([`mbuf::Mbuf::share`]); after
//! a transmit, the prefix the NIC took leaves the burst before anything can drop it.

pub mod burst;
pub mod eal;
pub mod error;
pub mod mbuf;
pub mod mempool;
pub mod port;
pub mod queue;
pub mod sys;
pub mod toeplitz;

pub use burst::Burst;
pub use eal::Eal;
pub use error::DpdkError;
pub use mbuf::Mbuf;
pub use mempool::Mempool;
pub use port::{ConfiguredPort, PortConfig, PortId, StartedPort};
pub use queue::{RxQueue, TxQueue};

/// Reads the CPU's time-stamp counter (DPDK's `rte_rdtsc`).
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: reads a CPU register, no memory is touched.
    unsafe { sys::shim_rdtsc() }
}

/// Ticks of [`rdtsc`] per second, as measured by EAL. Valid only after [`Eal::init`].
pub fn tsc_hz() -> u64 {
    // SAFETY: plain getter of a value EAL computed at init.
    unsafe { sys::rte_get_tsc_hz() }
}
