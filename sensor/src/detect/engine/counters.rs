//! A worker's engine counters: the plain ones the worker adds to, and the atomic copy
//! the control socket reads between bursts.

use super::*;

/// A worker's engine counters as the control socket reads them: copied from the engine
/// once per burst, read without stopping the worker.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Alerts raised.
    pub alerts: AtomicU64,
    /// Packets dropped by a verdict.
    pub verdict_drops: AtomicU64,
    /// Packets passed by a pass verdict.
    pub pass_verdicts: AtomicU64,
    /// Resets and unreachables sent.
    pub rejects_sent: AtomicU64,
    /// DNS queries matching a list.
    pub dns_list_hits: AtomicU64,
    /// DNS answers forged.
    pub dns_answers_forged: AtomicU64,
    /// The ruleset version the worker runs.
    pub ruleset_version: AtomicU64,
}

/// What an engine counted. Serialized (less the decode errors, which the stats report
/// names by reason) as the `engine` object of the final stats report.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EngineCounters {
    /// Alerts raised (queued for EVE, or counted when EVE is off).
    pub alerts: u64,
    /// Packets dropped by a rule verdict (prevention).
    pub verdict_drops: u64,
    /// Packets passed by a cached pass verdict or a pass rule.
    pub pass_verdicts: u64,
    /// Rule candidates verified.
    pub candidates: u64,
    /// Reset or ICMP unreachable frames queued by reject rules (prevention).
    pub rejects_sent: u64,
    /// DNS-port payloads that did not parse as a DNS message.
    pub dns_malformed: u64,
    /// DNS messages parsed.
    pub dns_messages: u64,
    /// Queries that matched a domain list's block or alert entry.
    pub dns_list_hits: u64,
    /// Queries a list's allow entry let through.
    pub dns_list_allowed: u64,
    /// Answers the sensor forged (NXDOMAIN, NODATA, sinkhole).
    pub dns_answers_forged: u64,
    /// `dns` events queued.
    pub dns_events: u64,
    /// Addresses put on the watchlist from answers.
    pub watched_addresses: u64,
    /// Connections to watched addresses.
    pub watch_hits: u64,
    /// Connections and queries dropped on the baseline enforcement snapshot.
    pub baseline_blocked: u64,
    /// Packets of new flows dropped because the flow table was full
    /// (`detect.flow_exception_policy = "drop-packet"`, prevention).
    pub flow_cap_drops: u64,
    /// Packets of new flows passed uninspected because the flow table was full
    /// (`"pass-packet"`, and `"drop-packet"` in detection).
    pub flow_cap_passes: u64,
    /// TCP segments of encrypted TLS flows whose payload rules did not read
    /// (`detect.encrypted_payload = "skip"`).
    pub encrypted_uninspected: u64,
    /// Prefilter scans that could not run (Hyperscan without scratch space, or refusing
    /// a scan): the packet's rules behind that matcher were not candidates. Always 0 unless
    /// something is broken; counted so that it can never be silent.
    pub prefilter_failures: u64,
    /// Fragments dropped because their datagram was refused (prevention): an anomaly,
    /// the defragmentation memory cap, or a reassembled datagram fragmented again.
    pub defrag_drops: u64,
    /// Defragmentation's own counters.
    pub defrag: crate::defrag::DefragCounters,
    /// Packets dropped because they sent data seen before with different bytes
    /// (prevention).
    pub stream_conflict_drops: u64,
    /// Packets dropped, with their flow, because the reassembly memory cap refused to hold
    /// their segment (`stream.memcap_policy = "drop-flow"`, prevention).
    pub stream_memcap_drops: u64,
    /// Flows whose stream was no longer inspected because the reassembly memory cap
    /// refused a segment (`"pass-flow"`, and `"drop-flow"` in detection).
    pub stream_memcap_ignored: u64,
    /// Reassembly's own counters.
    pub stream: crate::flow::stream::StreamCounters,
    /// `xbits` refused because the worker's table was full.
    pub xbits_refused: u64,
    /// HTTP parsing's counters.
    pub http: super::http_inspect::HttpCounters,
    /// TLS parsing's counters.
    pub tls: super::tls_inspect::TlsCounters,
    /// Frames that did not decode, by reason.
    #[serde(skip)]
    pub decode_errors: [u64; DecodeError::ALL.len()],
}

impl EngineCounters {
    /// Adds `other`'s counts to these (summing workers).
    pub fn add(&mut self, other: &EngineCounters) {
        self.alerts += other.alerts;
        self.verdict_drops += other.verdict_drops;
        self.pass_verdicts += other.pass_verdicts;
        self.candidates += other.candidates;
        self.rejects_sent += other.rejects_sent;
        self.dns_malformed += other.dns_malformed;
        self.dns_messages += other.dns_messages;
        self.dns_list_hits += other.dns_list_hits;
        self.dns_list_allowed += other.dns_list_allowed;
        self.dns_answers_forged += other.dns_answers_forged;
        self.dns_events += other.dns_events;
        self.watched_addresses += other.watched_addresses;
        self.watch_hits += other.watch_hits;
        self.baseline_blocked += other.baseline_blocked;
        self.flow_cap_drops += other.flow_cap_drops;
        self.flow_cap_passes += other.flow_cap_passes;
        self.encrypted_uninspected += other.encrypted_uninspected;
        self.prefilter_failures += other.prefilter_failures;
        self.defrag_drops += other.defrag_drops;
        self.defrag.add(&other.defrag);
        self.stream_conflict_drops += other.stream_conflict_drops;
        self.stream_memcap_drops += other.stream_memcap_drops;
        self.stream_memcap_ignored += other.stream_memcap_ignored;
        self.stream.add(&other.stream);
        self.xbits_refused += other.xbits_refused;
        self.http.add(&other.http);
        self.tls.add(&other.tls);
        for (sum, n) in self.decode_errors.iter_mut().zip(other.decode_errors) {
            *sum += n;
        }
    }
}
