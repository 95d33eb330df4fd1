//! TLS handshake state per flow, kept by flow slot (stamped with the flow's id, so a
//! slot's new flow starts afresh) within a per-worker memory cap. The certificates of a
//! chain are held only for the packet that completed it; what the rules and EVE read of
//! them afterwards (subject, issuer, serial, fingerprint, validity) stays.

use crate::proto::tls::{part, Handshake};

/// One flow's TLS state.
#[derive(Debug)]
pub(super) struct TlsFlow {
    flow_id: u64,
    /// What its handshake said.
    pub(super) handshake: Handshake,
    /// Certificates in the chain the server sent.
    pub(super) chain_len: usize,
    /// Whether its `tls` event was written.
    logged: bool,
    footprint: usize,
}

/// What TLS parsing counted. Serialized as the `tls` object of the engine's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TlsCounters {
    /// ClientHellos parsed.
    pub client_hellos: u64,
    /// ServerHellos parsed.
    pub server_hellos: u64,
    /// Certificate chains read.
    pub certificates: u64,
    /// Handshake messages or certificates that did not parse.
    pub parse_errors: u64,
    /// Flows whose handshake was not followed, or no longer, because the memory cap was
    /// reached.
    pub memcap_hits: u64,
    /// ClientHellos whose server name was on a domain list (not an `allow` entry).
    pub sni_list_hits: u64,
    /// ClientHellos whose server name an `allow` entry let through.
    pub sni_list_allowed: u64,
    /// `tls` events written (or queued).
    pub events: u64,
    /// Bytes held now (a gauge).
    pub memuse: u64,
}

impl TlsCounters {
    /// Adds `other`'s counts to these (summing workers).
    pub fn add(&mut self, other: &TlsCounters) {
        self.client_hellos += other.client_hellos;
        self.server_hellos += other.server_hellos;
        self.certificates += other.certificates;
        self.parse_errors += other.parse_errors;
        self.memcap_hits += other.memcap_hits;
        self.sni_list_hits += other.sni_list_hits;
        self.sni_list_allowed += other.sni_list_allowed;
        self.events += other.events;
        self.memuse += other.memuse;
    }

    /// Counts what a packet completed (`done`, [`part`] bits) of `h`.
    pub(super) fn count(&mut self, done: u8, h: &Handshake) {
        if done & part::CLIENT_HELLO != 0 {
            self.client_hellos += 1;
            self.parse_errors += u64::from(h.client.is_none());
        }
        if done & part::SERVER_HELLO != 0 {
            self.server_hellos += 1;
            self.parse_errors += u64::from(h.server.is_none());
        }
        if done & part::CERTIFICATE != 0 {
            self.certificates += 1;
            self.parse_errors += u64::from(h.cert.is_none());
        }
    }
}

impl super::Engine {
    /// Writes the `tls` event of `st`'s handshake (once, with `eve.tls_events`) when the
    /// server's certificates came, it is over, or its connection `closed`, after packet `facts` (to the server when
    /// `to_server`). As in Suricata, its addresses are the client's as source.
    pub(super) fn log_tls(
        &mut self,
        st: &mut TlsFlow,
        closed: bool,
        facts: &crate::flow::PacketFacts,
        to_server: bool,
        flow_id: u64,
        ctx: &crate::verdict::PacketContext,
    ) {
        let h = &st.handshake;
        if !self.config.tls_events || st.logged || h.client.is_none() && h.server.is_none() {
            return;
        }
        // Over: the server's certificate came, encryption began both ways (a resumed
        // session has no certificate), or the connection closed.
        if !(!h.chain.is_empty() || h.finished() || closed) {
            return;
        }
        st.logged = true;
        self.counters.tls.events += 1;
        if let Some(eve) = &self.eve {
            let mut facts = *facts;
            if !to_server {
                std::mem::swap(&mut facts.src, &mut facts.dst);
            }
            eve.push(crate::events::EveEvent::Tls(Box::new(
                crate::events::TlsEvent {
                    packet: super::packet_fields(&facts, flow_id, ctx),
                    tls: *super::act::tls_meta(h),
                },
            )));
        }
    }
}

/// Every flow's TLS state, by flow slot.
#[derive(Debug)]
pub(super) struct TlsTable {
    states: Vec<Option<Box<TlsFlow>>>,
    used: usize,
    memcap: usize,
}

impl TlsTable {
    /// An empty table holding at most `memcap` bytes.
    pub(super) fn new(memcap: usize) -> Self {
        TlsTable {
            states: Vec::new(),
            used: 0,
            memcap,
        }
    }

    /// Takes out the state of the flow `flow_id` in `slot`: its own, a new one when
    /// `create` and the cap allows it (else counted), or none.
    pub(super) fn take(
        &mut self,
        slot: usize,
        flow_id: u64,
        create: bool,
        c: &mut TlsCounters,
    ) -> Option<Box<TlsFlow>> {
        if self.states.len() <= slot {
            self.states.resize_with(slot + 1, || None);
        }
        match self.states[slot].take() {
            Some(s) if s.flow_id == flow_id => Some(s),
            old => {
                if let Some(s) = old {
                    self.used -= s.footprint.min(self.used);
                }
                if create && self.used >= self.memcap {
                    c.memcap_hits += 1;
                    return None;
                }
                create.then(|| {
                    Box::new(TlsFlow {
                        flow_id,
                        handshake: Handshake::default(),
                        chain_len: 0,
                        logged: false,
                        footprint: 0,
                    })
                })
            }
        }
    }

    /// Puts back the state of `slot` after its packet was inspected: the certificates
    /// it read are let go, and a `closed` connection's state is dropped. A flow whose
    /// buffers (a handshake message being gathered, up to 64 KiB a direction) would take
    /// the worker past its cap stops being parsed and lets them go (counted).
    pub(super) fn put(
        &mut self,
        slot: usize,
        state: Option<Box<TlsFlow>>,
        closed: bool,
        c: &mut TlsCounters,
    ) {
        if let Some(mut s) = state {
            self.used -= s.footprint.min(self.used);
            if !closed {
                if !s.handshake.chain.is_empty() {
                    s.chain_len = s.handshake.chain.len();
                    s.handshake.release_chain();
                }
                s.footprint = s.handshake.footprint() + std::mem::size_of::<TlsFlow>();
                if self.used + s.footprint > self.memcap && !s.handshake.finished() {
                    c.memcap_hits += 1;
                    s.handshake.abandon();
                    s.footprint = s.handshake.footprint() + std::mem::size_of::<TlsFlow>();
                }
                self.used += s.footprint;
                self.states[slot] = Some(s);
            }
        }
        c.memuse = self.used as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_gathering_past_the_cap_is_no_longer_parsed_and_its_buffers_go() {
        // A certificate message announced at 60,000 bytes, 10,000 of them sent: held while
        // gathered, past a 4 KiB cap let go and counted.
        let mut body = vec![11u8];
        body.extend_from_slice(&60_000u32.to_be_bytes()[1..]);
        body.extend_from_slice(&[0; 9_996]);
        let record = testkit::tls::record(22, &body);
        let mut c = TlsCounters::default();
        let mut t = TlsTable::new(4096);
        let mut s = t.take(0, 7, true, &mut c).unwrap();
        s.handshake.feed(false, &record);
        assert!(s.handshake.footprint() >= 10_000);
        t.put(0, Some(s), false, &mut c);
        assert_eq!(c.memcap_hits, 1);
        assert!(c.memuse <= 4096, "{}", c.memuse);
        let s = t.take(0, 7, false, &mut c).unwrap();
        assert!(s.handshake.finished());
    }
}
