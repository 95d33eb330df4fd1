//! An owning handle to one packet buffer.
//!
//! [`Mbuf`] is `Send` (it can move to another worker) but neither `Sync` nor `Clone`:
//! exactly one handle owns each reference, and dropping it returns the buffer to its pool
//! (`rte_pktmbuf_free`, which honours the reference count). A second handle to the same
//! buffer, for a mirror port, comes only from [`Mbuf::share`], which bumps the refcount
//! of every segment (a chained jumbo frame is freed segment by segment).

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::mempool::Mempool;
use crate::sys;

/// Where drivers put the receive timestamp (DPDK's dynamic mbuf field and flag), once a
/// port with the timestamp offload has started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxTimestamp {
    offset: usize,
    flag: u64,
}

impl RxTimestamp {
    /// Looks the field up; `None` if no driver registered it.
    pub fn lookup() -> Option<RxTimestamp> {
        // SAFETY: lookups by static name; NULL parameter pointers are allowed.
        let offset = unsafe {
            sys::rte_mbuf_dynfield_lookup(c"rte_dynfield_timestamp".as_ptr(), std::ptr::null_mut())
        };
        // SAFETY: as above.
        let bit = unsafe {
            sys::rte_mbuf_dynflag_lookup(c"rte_dynflag_rx_timestamp".as_ptr(), std::ptr::null_mut())
        };
        (offset >= 0 && (0..64).contains(&bit)).then(|| RxTimestamp {
            offset: offset as usize,
            flag: 1u64 << bit,
        })
    }
}

/// One owning reference to an `rte_mbuf`.
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf {
    raw: NonNull<sys::rte_mbuf>,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: the handle is the only owner of its reference; moving it to another thread moves
// that ownership. Shared access from two threads is prevented by `!Sync`.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes a fresh buffer from `pool` (empty, refcount 1); `None` when the pool is empty.
    pub fn alloc(pool: &Mempool) -> Option<Mbuf> {
        // SAFETY: the pool is valid for the life of the process.
        NonNull::new(unsafe { sys::shim_pktmbuf_alloc(pool.as_ptr()) }).map(|raw| Mbuf {
            raw,
            _not_sync: PhantomData,
        })
    }

    /// Adopts a raw mbuf pointer.
    ///
    /// # Safety
    /// `raw` must be a valid mbuf whose reference the caller owns and gives up.
    pub unsafe fn from_raw(raw: NonNull<sys::rte_mbuf>) -> Mbuf {
        Mbuf {
            raw,
            _not_sync: PhantomData,
        }
    }

    /// Gives up ownership without freeing: the caller now owns the reference.
    pub fn into_raw(self) -> NonNull<sys::rte_mbuf> {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }

    /// The first segment's bytes (the whole frame for single-segment packets).
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: buf_addr + data_off points at data_len initialised bytes owned by this
        // mbuf; the borrow ties the slice to the handle.
        unsafe {
            let m = self.raw.as_ref();
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    /// Copies the bytes of every segment, in order, into `out` (cleared first): the whole
    /// frame of a chained (jumbo) packet.
    pub fn gather(&self, out: &mut Vec<u8>) {
        out.clear();
        let mut seg = self.raw.as_ptr() as *const sys::rte_mbuf;
        // SAFETY: a valid chain: each segment's `next` is null or another valid segment of
        // this packet, owned with it; each segment's data is `data_len` initialised bytes.
        unsafe {
            while !seg.is_null() {
                let m = &*seg;
                out.extend_from_slice(std::slice::from_raw_parts(
                    (m.buf_addr as *const u8).add(usize::from(m.data_off)),
                    usize::from(m.data_len),
                ));
                seg = m.next;
            }
        }
    }

    /// Mutable access to the first segment's bytes; `None` if the buffer is shared (a
    /// refcount above one), since another port may still be reading it.
    pub fn data_mut(&mut self) -> Option<&mut [u8]> {
        if self.refcount() != 1 {
            return None;
        }
        // SAFETY: as in `data`, and the refcount of 1 makes this the only reference.
        unsafe {
            let m = self.raw.as_mut();
            Some(std::slice::from_raw_parts_mut(
                (m.buf_addr as *mut u8).add(usize::from(m.data_off)),
                usize::from(m.data_len),
            ))
        }
    }

    /// The driver's receive timestamp (units are the driver's), if it set one.
    #[inline]
    pub fn rx_timestamp(&self, field: &RxTimestamp) -> Option<u64> {
        // SAFETY: reading ol_flags of a valid mbuf; the dynamic field is registered at
        // `offset` (8 bytes, inside the mbuf) and valid when the flag is set.
        unsafe {
            let m = self.raw.as_ref();
            (m.ol_flags & field.flag != 0).then(|| {
                std::ptr::read_unaligned(
                    (self.raw.as_ptr() as *const u8).add(field.offset) as *const u64
                )
            })
        }
    }

    /// Total length of the packet over all segments.
    #[inline]
    pub fn pkt_len(&self) -> u32 {
        // SAFETY: reading a plain field of a valid mbuf.
        unsafe { self.raw.as_ref().pkt_len }
    }

    /// Number of segments.
    pub fn segments(&self) -> u16 {
        // SAFETY: reading a plain field of a valid mbuf.
        unsafe { self.raw.as_ref().nb_segs }
    }

    /// The port the packet was received on.
    pub fn port(&self) -> u16 {
        // SAFETY: reading a plain field of a valid mbuf.
        unsafe { self.raw.as_ref().port }
    }

    /// Current reference count.
    pub fn refcount(&self) -> u16 {
        // SAFETY: valid mbuf.
        unsafe { sys::shim_mbuf_refcnt_read(self.raw.as_ptr()) }
    }

    /// Grows the packet by `len` bytes at the tail and returns them (for building packets
    /// the sensor sends itself); `None` if the buffer has no room or is shared.
    pub fn append(&mut self, len: u16) -> Option<&mut [u8]> {
        if self.refcount() != 1 {
            return None;
        }
        // SAFETY: valid, unshared mbuf; DPDK returns NULL when there is no room.
        let p = unsafe { sys::shim_pktmbuf_append(self.raw.as_ptr(), len) };
        // SAFETY: on success `p` points at `len` bytes inside this mbuf's buffer.
        NonNull::new(p as *mut u8)
            .map(|p| unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), usize::from(len)) })
    }

    /// A second owning reference to the same packet, e.g. for a mirror port: the
    /// refcount of every segment of the chain goes up by one, as `rte_pktmbuf_free`
    /// (what dropping or transmitting a handle ends in) takes one from every segment.
    /// Both handles must be dropped or sent before the buffers return to their pool.
    pub fn share(&self) -> Mbuf {
        // SAFETY: valid mbuf chain; `rte_pktmbuf_refcnt_update` walks every segment, and
        // the new handle owns the references this adds.
        unsafe { sys::shim_pktmbuf_refcnt_update(self.raw.as_ptr(), 1) };
        Mbuf {
            raw: self.raw,
            _not_sync: PhantomData,
        }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own one reference; rte_pktmbuf_free drops it (and the segments).
        unsafe { sys::shim_pktmbuf_free(self.raw.as_ptr()) }
    }
}
