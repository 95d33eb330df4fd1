//! A fixed-size array of owned mbufs, allocated once and reused for every burst.
//!
//! The burst owns the mbufs in `[0, len)`. Receiving appends to it; transmitting removes
//! the prefix the NIC accepted before anything else can run (so a sent mbuf is never
//! freed again); [`Burst::retain`] and [`Burst::clear`] free in bulk with
//! `rte_pktmbuf_free_bulk`, which honours reference counts. Nothing here allocates.

use std::ptr::{self, NonNull};

use crate::mbuf::Mbuf;
use crate::sys;

/// The largest burst DPDK drivers commonly accept in one call.
pub const MAX_BURST: usize = 512;

/// Up to `N` owned mbufs.
pub struct Burst<const N: usize> {
    slots: [*mut sys::rte_mbuf; N],
    len: usize,
}

// SAFETY: the burst owns the mbufs it holds, and `Mbuf` is `Send`.
unsafe impl<const N: usize> Send for Burst<N> {}

impl<const N: usize> Default for Burst<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> std::fmt::Debug for Burst<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Burst")
            .field("len", &self.len)
            .field("capacity", &N)
            .finish()
    }
}

impl<const N: usize> Burst<N> {
    /// An empty burst.
    pub const fn new() -> Self {
        Burst {
            slots: [ptr::null_mut(); N],
            len: 0,
        }
    }

    /// Number of mbufs held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the burst holds nothing.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The held mbufs, in order.
    #[inline]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: `Mbuf` is a transparent wrapper around a non-null mbuf pointer, and every
        // slot below `len` holds a valid owned mbuf.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr() as *const Mbuf, self.len) }
    }

    /// The held mbufs, mutably (to rewrite packets the burst owns).
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        // SAFETY: as in `as_slice`.
        unsafe { std::slice::from_raw_parts_mut(self.slots.as_mut_ptr() as *mut Mbuf, self.len) }
    }

    /// Appends an mbuf; gives it back if the burst is full.
    #[inline]
    pub fn push(&mut self, mbuf: Mbuf) -> Result<(), Mbuf> {
        if self.len == N {
            return Err(mbuf);
        }
        self.slots[self.len] = mbuf.into_raw().as_ptr();
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the last mbuf.
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let raw = self.slots[self.len];
        // SAFETY: the slot held an owned, non-null mbuf, and it no longer counts as held.
        Some(unsafe { Mbuf::from_raw(NonNull::new_unchecked(raw)) })
    }

    /// Keeps the mbufs for which `keep` returns true, in their order, and frees the rest
    /// in one bulk call. `keep` sees each mbuf and its index in the burst before
    /// compaction. Returns how many were freed.
    #[inline]
    pub fn retain(&mut self, mut keep: impl FnMut(usize, &Mbuf) -> bool) -> usize {
        // Dropped mbufs are gathered in a small stack array and freed in bulk whenever it
        // fills (drops are rare; an array of N would cost a large memset per burst).
        const CHUNK: usize = 32;
        let mut dropped = [ptr::null_mut::<sys::rte_mbuf>(); CHUNK];
        let mut pending = 0;
        let mut freed = 0;
        let mut kept = 0;
        // While `keep` runs the burst claims nothing: should it panic, the mbufs leak
        // instead of being freed twice.
        let len = std::mem::replace(&mut self.len, 0);
        for i in 0..len {
            let raw = self.slots[i];
            // SAFETY: slot i < len holds a valid owned mbuf; `Mbuf` is transparent.
            let mbuf = unsafe { &*(&self.slots[i] as *const *mut sys::rte_mbuf as *const Mbuf) };
            if keep(i, mbuf) {
                self.slots[kept] = raw;
                kept += 1;
            } else {
                dropped[pending] = raw;
                pending += 1;
                freed += 1;
                if pending == CHUNK {
                    free_bulk(&mut dropped[..pending]);
                    pending = 0;
                }
            }
        }
        self.len = kept;
        free_bulk(&mut dropped[..pending]);
        freed
    }

    /// Frees every held mbuf.
    pub fn clear(&mut self) {
        let len = self.len;
        self.len = 0;
        free_bulk(&mut self.slots[..len]);
    }

    /// Room for the driver to write received mbufs into: the free tail.
    pub(crate) fn spare(&mut self) -> (*mut *mut sys::rte_mbuf, u16) {
        let room = u16::try_from(N - self.len).unwrap_or(u16::MAX);
        // SAFETY: len <= N, so the pointer stays inside (or one past) the array.
        (unsafe { self.slots.as_mut_ptr().add(self.len) }, room)
    }

    /// Records that the driver filled `n` more slots of the spare tail.
    pub(crate) fn commit(&mut self, n: usize) {
        debug_assert!(self.len + n <= N);
        self.len += n;
    }

    /// The held mbufs as raw pointers, for a transmit call.
    pub(crate) fn raw_held(&mut self) -> (*mut *mut sys::rte_mbuf, u16) {
        (
            self.slots.as_mut_ptr(),
            u16::try_from(self.len).unwrap_or(u16::MAX),
        )
    }

    /// Forgets the first `n` mbufs (the driver owns them now) and moves the rest to the
    /// front, preserving order.
    pub(crate) fn forget_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.slots.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

impl<const N: usize> Drop for Burst<N> {
    fn drop(&mut self) {
        self.clear();
    }
}

fn free_bulk(mbufs: &mut [*mut sys::rte_mbuf]) {
    if mbufs.is_empty() {
        return;
    }
    // A burst is far below u32::MAX; freed in pieces of that size if one ever were not.
    for piece in mbufs.chunks_mut(u32::MAX as usize) {
        // SAFETY: every pointer is a valid mbuf whose reference the caller owns and gives
        // up; the piece's length fits in u32.
        unsafe { sys::rte_pktmbuf_free_bulk(piece.as_mut_ptr(), piece.len() as u32) }
    }
}
