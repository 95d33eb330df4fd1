//! One error type for the safe layer: which operation failed, on what, and DPDK's reason.

use std::ffi::CStr;
use std::fmt;

use crate::sys;

/// A failed DPDK operation. `errno` is DPDK's positive error number where it gave one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DpdkError {
    /// `rte_eal_init` was already called in this process (EAL cannot be initialised twice).
    EalAlreadyInitialised,
    /// An EAL argument contained a NUL byte.
    EalArgument(String),
    /// `rte_eal_init` refused the arguments.
    EalInit { errno: i32, reason: String },
    /// No ethdev port has this name (a PCI address or a vdev name such as `net_pcap0`).
    PortNotFound(String),
    /// A call on a port failed; `op` names the call.
    Port {
        port: u16,
        op: &'static str,
        errno: i32,
        reason: String,
    },
    /// The mempool could not be created.
    Mempool {
        name: String,
        errno: i32,
        reason: String,
    },
    /// `rte_thread_register` failed (no free lcore slot).
    ThreadRegister { errno: i32, reason: String },
}

impl DpdkError {
    /// Builds a port error from the negative return value of an ethdev call.
    pub(crate) fn port(port: u16, op: &'static str, ret: i32) -> Self {
        let errno = ret.abs();
        DpdkError::Port {
            port,
            op,
            errno,
            reason: strerror(errno),
        }
    }
}

/// DPDK's message for an error number (covers both libc and `rte_errno` codes).
pub fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string.
    unsafe { CStr::from_ptr(sys::rte_strerror(errno)) }
        .to_string_lossy()
        .into_owned()
}

/// The calling thread's `rte_errno`.
pub fn last_errno() -> i32 {
    // SAFETY: reads a thread-local integer.
    unsafe { sys::shim_errno() }
}

impl fmt::Display for DpdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpdkError::EalAlreadyInitialised => write!(f, "EAL is already initialised"),
            DpdkError::EalArgument(a) => write!(f, "EAL argument contains a NUL byte: {a:?}"),
            DpdkError::EalInit { errno, reason } => {
                write!(f, "rte_eal_init failed: {reason} (errno {errno})")
            }
            DpdkError::PortNotFound(name) => write!(f, "no DPDK port named {name:?}"),
            DpdkError::Port {
                port,
                op,
                errno,
                reason,
            } => write!(f, "port {port}: {op} failed: {reason} (errno {errno})"),
            DpdkError::Mempool {
                name,
                errno,
                reason,
            } => write!(
                f,
                "mempool {name}: creation failed: {reason} (errno {errno})"
            ),
            DpdkError::ThreadRegister { errno, reason } => {
                write!(f, "rte_thread_register failed: {reason} (errno {errno})")
            }
        }
    }
}

impl std::error::Error for DpdkError {}
