//! The Environment Abstraction Layer: initialised once per process.
//!
//! EAL cannot be initialised twice, nor torn down and brought back, so [`Eal::init`]
//! succeeds at most once per process and the handle is never cleaned up: memory, pools and
//! ports live until the process exits. Threads that EAL did not launch call
//! [`Eal::register_thread`] so that per-lcore mempool caches work for them.

use std::ffi::CString;
use std::os::raw::c_char;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{last_errno, strerror, DpdkError};
use crate::sys;

static INITIALISED: AtomicBool = AtomicBool::new(false);

/// Proof that EAL is initialised in this process. Cheap to copy; holds nothing.
#[derive(Debug, Clone, Copy)]
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Initialises EAL from an argument list (without the program name; `sensor` is
    /// prepended). Fails if EAL was already initialised or refuses the arguments.
    pub fn init<I, S>(args: I) -> Result<Eal, DpdkError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::EalAlreadyInitialised);
        }
        let mut owned = vec![CString::from(c"sensor")];
        for arg in args {
            let arg = arg.as_ref();
            owned.push(CString::new(arg).map_err(|_| DpdkError::EalArgument(arg.to_owned()))?);
        }
        // EAL keeps pointers into argv (device arguments, prefixes) for the life of the
        // process, so the strings are leaked on purpose: this happens once per process.
        let argv: &'static mut [*mut c_char] =
            Vec::leak(owned.into_iter().map(CString::into_raw).collect::<Vec<_>>());
        let argc = i32::try_from(argv.len())
            .map_err(|_| DpdkError::EalArgument(format!("{} arguments", argv.len())))?;
        // EAL logs to stdout by default; stdout belongs to the program's own output.
        // SAFETY: sets a global stream pointer to the process's stderr.
        unsafe { sys::shim_log_to_stderr() };
        // SAFETY: argv holds argc valid NUL-terminated strings that live forever.
        let ret = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            let errno = last_errno();
            return Err(DpdkError::EalInit {
                errno,
                reason: strerror(errno),
            });
        }
        Ok(Eal { _private: () })
    }

    /// Registers the calling (non-EAL) thread as an lcore so it gets a per-lcore mempool
    /// cache. The registration ends when the returned guard is dropped, on the same thread.
    pub fn register_thread(&self) -> Result<ThreadRegistration, DpdkError> {
        // SAFETY: EAL is initialised (we hold an `Eal`).
        let ret = unsafe { sys::rte_thread_register() };
        if ret < 0 {
            let errno = last_errno();
            return Err(DpdkError::ThreadRegister {
                errno,
                reason: strerror(errno),
            });
        }
        Ok(ThreadRegistration {
            _not_send: std::marker::PhantomData,
        })
    }

    /// The lcore id of the calling thread (`u32::MAX` for an unregistered thread).
    pub fn lcore_id(&self) -> u32 {
        // SAFETY: reads a thread-local variable.
        unsafe { sys::shim_lcore_id() }
    }

    /// Number of ethdev ports EAL probed (PCI devices and `--vdev`s).
    pub fn port_count(&self) -> u16 {
        // SAFETY: EAL is initialised.
        unsafe { sys::rte_eth_dev_count_avail() }
    }
}

/// Keeps the calling thread registered with EAL; unregisters it on drop. Not `Send`: it
/// must be dropped on the thread that registered.
#[derive(Debug)]
pub struct ThreadRegistration {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ThreadRegistration {
    fn drop(&mut self) {
        // SAFETY: this thread registered itself and is still running.
        unsafe { sys::rte_thread_unregister() };
    }
}
