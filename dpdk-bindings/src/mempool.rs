//! Packet-buffer pools (`rte_pktmbuf_pool_create`).
//!
//! A pool lives until the process exits: it is never freed, so no mbuf can outlive the
//! memory it returns to. The handle is `Copy` and may be used from any thread (DPDK's
//! mempools are thread-safe).

use std::ffi::CString;
use std::ptr::NonNull;

use crate::eal::Eal;
use crate::error::{last_errno, strerror, DpdkError};
use crate::sys;

/// Mbuf data room that holds a 1518-byte frame after DPDK's default headroom.
pub const DEFAULT_DATA_ROOM: u16 = sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16;

/// A handle to a packet mempool.
#[derive(Debug, Clone, Copy)]
pub struct Mempool {
    raw: NonNull<sys::rte_mempool>,
    size: u32,
}

// SAFETY: DPDK mempools are safe to use from several threads at once; the pool is never
// freed, so the pointer stays valid.
unsafe impl Send for Mempool {}
// SAFETY: as above.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `size` mbufs (best as 2^n - 1) with a per-lcore cache of
    /// `cache_size` and `data_room` bytes of buffer each (headroom included), on NUMA
    /// `socket` (`None`: any).
    pub fn create(
        _eal: &Eal,
        name: &str,
        size: u32,
        cache_size: u32,
        data_room: u16,
        socket: Option<i32>,
    ) -> Result<Mempool, DpdkError> {
        let c_name = CString::new(name).map_err(|_| DpdkError::Mempool {
            name: name.to_owned(),
            errno: libc_einval(),
            reason: "name contains a NUL byte".into(),
        })?;
        // SAFETY: EAL is initialised; the name is a valid C string copied by DPDK.
        let raw = unsafe {
            sys::rte_pktmbuf_pool_create(
                c_name.as_ptr(),
                size,
                cache_size,
                0,
                data_room,
                socket.unwrap_or(sys::SOCKET_ID_ANY),
            )
        };
        match NonNull::new(raw) {
            Some(raw) => Ok(Mempool { raw, size }),
            None => {
                let errno = last_errno();
                Err(DpdkError::Mempool {
                    name: name.to_owned(),
                    errno,
                    reason: strerror(errno),
                })
            }
        }
    }

    /// The number of mbufs the pool was created with.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Mbufs currently in the pool, per-lcore caches included (not for the data path: it
    /// walks every lcore's cache).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is valid for the life of the process.
        unsafe { sys::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Mbufs currently taken out of the pool (size minus [`Mempool::available`]).
    pub fn in_use(&self) -> u32 {
        // SAFETY: as above.
        unsafe { sys::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }

    /// The raw pointer, for queue setup.
    pub(crate) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.raw.as_ptr()
    }
}

fn libc_einval() -> i32 {
    22
}
