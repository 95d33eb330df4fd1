//! `[baseline]`: which hosts are profiled, how long they learn, how much memory they may
//! use, and each detection's threshold (defaults and where they come from are in
//! `sensor.example.toml` and the README).

use serde::{Deserialize, Serialize};

/// Per-host baselines.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineConfig {
    /// Learn and enforce baselines.
    pub enabled: bool,
    /// Hosts profiled, as a rule address spec (variables resolve as in rules).
    pub hosts: String,
    /// Hosts whose new outbound destinations and new registered domains are significant
    /// (addresses or networks); every other profiled host is a client.
    pub servers: Vec<String>,
    /// Hosts (servers implied) whose signals listed in `drop_signals` are dropped in
    /// prevention once they have learned.
    pub enforce: Vec<String>,
    /// Signals dropped for enforced hosts: `new_destination`, `new_domain`.
    pub drop_signals: Vec<String>,
    /// Seconds a host learns (from its first packet) before its profile is enforced.
    pub learning_secs: f64,
    /// Seconds per generation of a host's filters: what it has not done for two of them
    /// is forgotten.
    pub aging_secs: f64,
    /// Most hosts profiled; beyond that new hosts are counted, not profiled.
    pub max_hosts: usize,
    /// Bytes per generation of a host's registered-domain filter.
    pub domain_filter_bytes: usize,
    /// Bytes per generation of a host's destination filter (address, port, protocol).
    pub destination_filter_bytes: usize,
    /// Where profiles are saved and loaded from (absent: not persisted).
    pub state_file: Option<std::path::PathBuf>,
    /// Seconds of packet time between saves (0: only at shutdown).
    pub save_interval_secs: f64,
    /// Summaries each worker's queue to the baseline thread holds; a full queue drops
    /// and counts.
    pub queue_size: usize,
    /// Workers wait at each burst boundary until the baseline thread has caught up, so a
    /// replay is deterministic (set by `sensor replay`; never use it on a live port).
    pub lockstep: bool,
    /// Query-rate spike: bucket length in seconds.
    pub rate_bucket_secs: f64,
    /// Query-rate spike: a bucket alerts above this many times the smoothed baseline...
    pub rate_factor: f64,
    /// ...and above this many queries.
    pub rate_floor: u32,
    /// Query-rate spike: buckets learned before the signal is armed.
    pub rate_min_buckets: u32,
    /// NXDOMAIN burst: window in seconds.
    pub nxdomain_window_secs: f64,
    /// NXDOMAIN burst: distinct registered domains answered NXDOMAIN in a window.
    pub nxdomain_distinct: u32,
    /// Tunnel: window in seconds.
    pub tunnel_window_secs: f64,
    /// Tunnel: distinct names under one registered domain in a window...
    pub tunnel_subdomains: u32,
    /// ...with a mean subdomain length (bytes left of the registered domain) of at
    /// least this,
    pub tunnel_mean_length: f64,
    /// ...or a mean label entropy (bits per character) of at least this,
    pub tunnel_entropy: f64,
    /// ...or at least this share of NULL and TXT queries.
    pub tunnel_null_txt_share: f64,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            enabled: false,
            hosts: "$HOME_NET".into(),
            servers: Vec::new(),
            enforce: Vec::new(),
            drop_signals: vec!["new_destination".into()],
            learning_secs: 7.0 * 86_400.0,
            aging_secs: 30.0 * 86_400.0,
            max_hosts: 100_000,
            domain_filter_bytes: 2048,
            destination_filter_bytes: 1024,
            state_file: None,
            save_interval_secs: 300.0,
            queue_size: 16_384,
            lockstep: false,
            rate_bucket_secs: 60.0,
            rate_factor: 10.0,
            rate_floor: 100,
            rate_min_buckets: 5,
            nxdomain_window_secs: 300.0,
            nxdomain_distinct: 10,
            tunnel_window_secs: 300.0,
            tunnel_subdomains: 30,
            tunnel_mean_length: 24.0,
            tunnel_entropy: 3.8,
            tunnel_null_txt_share: 0.5,
        }
    }
}

/// A baseline setting out of its range; the message names the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BaselineConfigError {
    /// A number outside its documented range (NaN is outside every range).
    #[error("baseline.{key} = {value} is out of range: {lo} to {hi}")]
    OutOfRange {
        /// The key.
        key: &'static str,
        /// Its value.
        value: f64,
        /// The smallest allowed.
        lo: f64,
        /// The largest allowed.
        hi: f64,
    },
    /// A duration or factor of 0 where 0 means nothing.
    #[error("baseline.{0} must be above 0")]
    Zero(&'static str),
    /// A `drop_signals` entry names no signal.
    #[error("baseline.drop_signals: unknown signal {0:?} (new_destination, new_domain)")]
    UnknownSignal(String),
}

/// A year: the longest duration any baseline key takes.
const YEAR_SECS: f64 = 365.0 * 86_400.0;

impl BaselineConfig {
    /// Checks every key against its documented range (`sensor.example.toml`), whether
    /// baselines are on or not; the error names the key.
    pub fn validate(&self) -> Result<(), BaselineConfigError> {
        let n = |v: usize| v as f64;
        // (key, value, lowest, highest, whether 0 is allowed)
        let ranges = [
            ("learning_secs", self.learning_secs, 0.0, YEAR_SECS, true),
            ("aging_secs", self.aging_secs, 0.0, 10.0 * YEAR_SECS, false),
            (
                "save_interval_secs",
                self.save_interval_secs,
                0.0,
                86_400.0,
                true,
            ),
            (
                "rate_bucket_secs",
                self.rate_bucket_secs,
                0.0,
                86_400.0,
                false,
            ),
            ("rate_factor", self.rate_factor, 0.0, 1e6, false),
            (
                "nxdomain_window_secs",
                self.nxdomain_window_secs,
                0.0,
                86_400.0,
                false,
            ),
            (
                "tunnel_window_secs",
                self.tunnel_window_secs,
                0.0,
                86_400.0,
                false,
            ),
            (
                "tunnel_mean_length",
                self.tunnel_mean_length,
                0.0,
                253.0,
                true,
            ),
            ("tunnel_entropy", self.tunnel_entropy, 0.0, 8.0, true),
            (
                "tunnel_null_txt_share",
                self.tunnel_null_txt_share,
                0.0,
                1.0,
                true,
            ),
            ("max_hosts", n(self.max_hosts), 1.0, n(1 << 24), true),
            ("queue_size", n(self.queue_size), 1.0, n(1 << 20), true),
            (
                "domain_filter_bytes",
                n(self.domain_filter_bytes),
                8.0,
                n(1 << 24),
                true,
            ),
            (
                "destination_filter_bytes",
                n(self.destination_filter_bytes),
                8.0,
                n(1 << 24),
                true,
            ),
            ("rate_floor", f64::from(self.rate_floor), 0.0, 1e9, true),
            (
                "rate_min_buckets",
                f64::from(self.rate_min_buckets),
                1.0,
                1e6,
                true,
            ),
            (
                "nxdomain_distinct",
                f64::from(self.nxdomain_distinct),
                1.0,
                1e6,
                true,
            ),
            (
                "tunnel_subdomains",
                f64::from(self.tunnel_subdomains),
                1.0,
                1e6,
                true,
            ),
        ];
        for (key, value, lo, hi, zero_ok) in ranges {
            if !(lo <= value && value <= hi) {
                return Err(BaselineConfigError::OutOfRange { key, value, lo, hi });
            }
            if !zero_ok && value == 0.0 {
                return Err(BaselineConfigError::Zero(key));
            }
        }
        for s in &self.drop_signals {
            if !matches!(s.as_str(), "new_destination" | "new_domain") {
                return Err(BaselineConfigError::UnknownSignal(s.clone()));
            }
        }
        Ok(())
    }
}
