//! HTTP state per flow: the request and response message streams parsed from the
//! reassembled bytes, kept by flow slot (stamped with the flow's id, so a slot's new flow
//! starts afresh) within the `http.memcap` of the worker.

use std::collections::VecDeque;

use crate::proto::http::messages::{HttpConfig, MessageStream};

/// One flow's HTTP state.
#[derive(Debug)]
pub(super) struct HttpFlow {
    flow_id: u64,
    /// Requests (to the server) and responses.
    pub(super) dirs: [MessageStream; 2],
    /// For each request whose response has not come yet: whether it was a HEAD.
    pub(super) no_body: VecDeque<bool>,
    /// The head of the latest request, for the EVE record of an alert on its response.
    pub(super) last_request: Vec<u8>,
    /// Bytes counted against the memory cap.
    footprint: usize,
}

impl HttpFlow {
    fn new(flow_id: u64) -> Self {
        HttpFlow {
            flow_id,
            dirs: [MessageStream::new(false), MessageStream::new(true)],
            no_body: VecDeque::new(),
            last_request: Vec::new(),
            footprint: 0,
        }
    }

    /// Parses `data`, new in-order bytes to the server (`to_server`) or the client, and
    /// the close of that direction (`fin`); whether a head passed the header limit.
    pub(super) fn feed(
        &mut self,
        to_server: bool,
        data: &[u8],
        fin: bool,
        cfg: &HttpConfig,
    ) -> bool {
        let d = usize::from(!to_server);
        let dir = &mut self.dirs[d];
        let too_long = dir.head_too_long;
        dir.begin_packet();
        if !data.is_empty() {
            dir.feed(data, cfg, &mut self.no_body);
        }
        if fin {
            dir.close();
        }
        if to_server {
            if let Some(m) = self.dirs[0].to_inspect().filter(|m| m.head_new).last() {
                self.last_request.clear();
                self.last_request.extend_from_slice(&m.head);
            }
        }
        self.dirs[d].head_too_long && !too_long
    }

    /// The messages of direction `to_server`: those the packet brought something of are
    /// its [`MessageStream::to_inspect`].
    pub(super) fn messages(&self, to_server: bool) -> &MessageStream {
        &self.dirs[usize::from(!to_server)]
    }

    fn measure(&self) -> usize {
        self.dirs
            .iter()
            .map(MessageStream::footprint)
            .sum::<usize>()
            + self.last_request.capacity()
            + std::mem::size_of::<HttpFlow>()
    }
}

impl super::Engine {
    /// Counts what `messages` (of the packet, to the server when `to_server`) brought,
    /// and reports a decompression bomb as an EVE `anomaly` event.
    pub(super) fn count_http(
        &mut self,
        messages: Option<&MessageStream>,
        to_server: bool,
        facts: &crate::flow::PacketFacts,
        slot: usize,
        ctx: &crate::verdict::PacketContext,
    ) {
        for m in messages.into_iter().flat_map(MessageStream::to_inspect) {
            let c = &mut self.counters.http;
            if m.head_new {
                if to_server {
                    c.requests += 1;
                } else {
                    c.responses += 1;
                }
            }
            if m.body.truncated && m.body.data().len() > m.body.seen {
                c.bodies_truncated += 1;
                if m.body.bomb {
                    c.decompression_bombs += 1;
                    let app = Some(("http", "proto_parser"));
                    self.flow_anomaly(facts, slot, ctx, "applayer", "COMPRESSION_BOMB", app);
                }
            }
        }
    }
}

/// What HTTP parsing counted. Serialized as the `http` object of the engine's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct HttpCounters {
    /// Request heads parsed.
    pub requests: u64,
    /// Response heads parsed.
    pub responses: u64,
    /// Bodies cut at their limit (or undecodable).
    pub bodies_truncated: u64,
    /// Bodies whose decompression was cut as a bomb (an anomaly).
    pub decompression_bombs: u64,
    /// Heads longer than `http.header_limit` (the stream is no longer parsed).
    pub heads_too_long: u64,
    /// Flows whose bodies were no longer kept because the memory cap was reached.
    pub memcap_hits: u64,
    /// Bytes held now (a gauge).
    pub memuse: u64,
}

impl HttpCounters {
    /// Adds `other`'s counts to these (summing workers).
    pub fn add(&mut self, other: &HttpCounters) {
        self.requests += other.requests;
        self.responses += other.responses;
        self.bodies_truncated += other.bodies_truncated;
        self.decompression_bombs += other.decompression_bombs;
        self.heads_too_long += other.heads_too_long;
        self.memcap_hits += other.memcap_hits;
        self.memuse += other.memuse;
    }
}

/// Every flow's HTTP state, by flow slot.
#[derive(Debug, Default)]
pub(super) struct HttpTable {
    states: Vec<Option<Box<HttpFlow>>>,
    used: usize,
    pub(super) config: HttpConfig,
    /// The same with no body kept, for rulesets that read none.
    pub(super) headless: HttpConfig,
}

impl HttpTable {
    /// An empty table parsing by `config`.
    pub(super) fn new(config: HttpConfig) -> Self {
        let headless = HttpConfig {
            request_body_limit: 0,
            response_body_limit: 0,
            ..config.clone()
        };
        HttpTable {
            states: Vec::new(),
            used: 0,
            config,
            headless,
        }
    }

    /// Takes out the state of the flow `flow_id` in `slot`: its own, a new one when
    /// `create`, else none (a slot's earlier flow's state is dropped).
    pub(super) fn take(
        &mut self,
        slot: usize,
        flow_id: u64,
        create: bool,
    ) -> Option<Box<HttpFlow>> {
        if self.states.len() <= slot {
            self.states.resize_with(slot + 1, || None);
        }
        match self.states[slot].take() {
            Some(s) if s.flow_id == flow_id => Some(s),
            old => {
                if let Some(s) = old {
                    self.used -= s.footprint.min(self.used);
                }
                create.then(|| Box::new(HttpFlow::new(flow_id)))
            }
        }
    }

    /// Puts back the state of `slot` after its packet was inspected, accounting its
    /// memory (the messages that packet completed are freed); past the cap, the flow's
    /// bodies are no longer kept. A `closed` connection's state is dropped.
    pub(super) fn put(
        &mut self,
        slot: usize,
        state: Option<Box<HttpFlow>>,
        closed: bool,
        c: &mut HttpCounters,
    ) {
        if let Some(mut s) = state {
            self.used -= s.footprint.min(self.used);
            if closed {
                c.memuse = self.used as u64;
                return;
            }
            s.dirs.iter_mut().for_each(|d| d.finished.clear());
            s.footprint = s.measure();
            if self.used + s.footprint > self.config.memcap {
                c.memcap_hits += 1;
                s.dirs.iter_mut().for_each(MessageStream::shed);
                s.footprint = s.measure();
            }
            self.used += s.footprint;
            self.states[slot] = Some(s);
        }
        c.memuse = self.used as u64;
    }
}
