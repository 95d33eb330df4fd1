//! Receive and transmit queue handles. Each takes `&mut self`, so one queue has one user.

use std::marker::PhantomData;

use crate::burst::Burst;
use crate::port::StartedPort;
use crate::sys;

/// The receive side of one queue of a started port.
#[derive(Debug)]
pub struct RxQueue<'p> {
    port: u16,
    queue: u16,
    _port: PhantomData<&'p mut StartedPort>,
}

/// The transmit side of one queue of a started port.
#[derive(Debug)]
pub struct TxQueue<'p> {
    port: u16,
    queue: u16,
    _port: PhantomData<&'p mut StartedPort>,
}

impl<'p> RxQueue<'p> {
    pub(crate) fn new(port: u16, queue: u16, marker: PhantomData<&'p mut StartedPort>) -> Self {
        RxQueue {
            port,
            queue,
            _port: marker,
        }
    }

    /// Port number.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Queue number.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Receives at most `limit` mbufs into the burst's free tail; returns how many
    /// arrived.
    #[inline]
    pub fn rx_burst<const N: usize>(&mut self, burst: &mut Burst<N>, limit: usize) -> usize {
        let (slots, room) = burst.spare();
        let room = room.min(u16::try_from(limit).unwrap_or(u16::MAX));
        if room == 0 {
            return 0;
        }
        // SAFETY: `slots` has room for `room` pointers; the port is started and this handle
        // is the queue's only user.
        let n = usize::from(unsafe { sys::shim_rx_burst(self.port, self.queue, slots, room) });
        burst.commit(n);
        n
    }
}

impl<'p> TxQueue<'p> {
    pub(crate) fn new(port: u16, queue: u16, marker: PhantomData<&'p mut StartedPort>) -> Self {
        TxQueue {
            port,
            queue,
            _port: marker,
        }
    }

    /// Port number.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Queue number.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Hands the burst to the NIC. The mbufs it took leave the burst (they are the NIC's
    /// now); the rest stay, in order, for the caller to retry or free. Returns how many
    /// were sent.
    #[inline]
    pub fn tx_burst<const N: usize>(&mut self, burst: &mut Burst<N>) -> usize {
        if burst.is_empty() {
            return 0;
        }
        let (slots, len) = burst.raw_held();
        // SAFETY: the burst holds `len` owned mbufs; the driver takes ownership of the
        // first `sent`, which leave the burst before anything else runs.
        let sent = usize::from(unsafe { sys::shim_tx_burst(self.port, self.queue, slots, len) });
        burst.forget_front(sent);
        sent
    }
}
