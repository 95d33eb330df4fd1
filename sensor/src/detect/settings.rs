//! The detection stage's settings, as the `[detect]` and `[dns]` tables of the
//! configuration file give them (`config` gathers them; this stage never reads the file).

use serde::{Deserialize, Serialize};

/// What a worker does with a new flow's packet when its flow table (a memory cap) is
/// full, as Suricata's `exception-policy` does for its caps; each outcome is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FlowExceptionPolicy {
    /// Evict the oldest flow for the new one (`flows_evicted`): every packet is inspected,
    /// but a flood of new flows pushes tracked flows, their state and verdicts out.
    #[default]
    EvictOldest,
    /// Refuse the new flow and drop its packet in prevention (`flow_cap_drops`; in
    /// detection it passes and counts as `flow_cap_passes`): tracked flows stay.
    DropPacket,
    /// Refuse the new flow and pass its packet uninspected (`flow_cap_passes`).
    PassPacket,
}

/// What the engine does with a TLS flow's payload once its application data (ciphertext)
/// has begun, as Suricata's `app-layer.protocols.tls.encryption-handling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum EncryptedPayload {
    /// Rules that read the payload are not run on it (`encrypted_uninspected` counts
    /// the packets); other rules are. Suricata's `default`. The framing is still
    /// followed: bytes that break it are inspected again.
    #[default]
    Skip,
    /// Inspected as any other payload (Suricata's `full`).
    Inspect,
}

/// The detection engine. With no rule paths the address policy (or pass-all) runs.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Rule files, or directories of `*.rules`.
    pub rules: Vec<std::path::PathBuf>,
    /// Flows per worker.
    pub flow_capacity: usize,
    /// What a full flow table does with a new flow's packet.
    pub flow_exception_policy: FlowExceptionPolicy,
    /// Bytes of the reassembled TCP stream kept per direction and put before a segment's
    /// new in-order bytes, so a content split across segments matches (0: none).
    pub stream_window: usize,
    /// Copy every later packet of a flow that alerted to `ports.mirror`.
    pub mirror_alerted_flows: bool,
    /// A TLS flow's payload once it is encrypted.
    pub encrypted_payload: EncryptedPayload,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            rules: Vec::new(),
            flow_capacity: 65_536,
            flow_exception_policy: FlowExceptionPolicy::EvictOldest,
            stream_window: 1024,
            mirror_alerted_flows: false,
            encrypted_payload: EncryptedPayload::Skip,
        }
    }
}

/// DNS inspection.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Ports inspected as DNS besides 53 (UDP and TCP).
    pub extra_ports: Vec<u16>,
    /// TTL of the records in forged answers (sinkhole, and the SOA-less NODATA/NXDOMAIN
    /// carry none).
    pub answer_ttl: u32,
    /// Put the addresses answered for a name that matched a list or rule on a watchlist
    /// for their TTL, and alert on connections to them.
    pub watch: bool,
    /// Addresses a worker's watchlist holds at most; beyond that the soonest to expire
    /// are dropped first.
    pub watch_capacity: usize,
    /// Longest time an address stays watched, whatever its TTL.
    pub watch_max_secs: u32,
    /// Prevention: drop connections to watched addresses (else alert only).
    pub watch_drop: bool,
    /// Answer records read per response.
    pub max_answers: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            extra_ports: Vec::new(),
            answer_ttl: 60,
            watch: true,
            watch_capacity: 65_536,
            watch_max_secs: 86_400,
            watch_drop: false,
            max_answers: 32,
        }
    }
}
