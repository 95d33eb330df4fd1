//! The sensor's configuration: one TOML file, every option defaulted, overridable key by
//! key with `--set dotted.path=value`.
//!
//! Loading is strict: an unknown key is an error naming its full path, and
//! [`Config::validate`] checks what types cannot (ports present for the mode, cores that
//! exist, sizes in range) before EAL is touched. `sensor.example.toml` at the repository
//! root documents every key with its default. It gathers the stages' own settings types
//! (re-exported here); no stage below `datapath` imports it.

mod ranges;

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use crate::detect::settings::{DetectConfig, DnsConfig};
pub use crate::verdict::{Mode, PolicyConfig};

/// Largest supported burst (the size of the workers' fixed burst arrays).
pub const MAX_BURST: usize = 512;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Detection or prevention.
    pub mode: Mode,
    /// Seconds between stats lines on stdout; 0 prints stats only at exit.
    pub stats_interval_secs: f64,
    /// EAL arguments.
    pub eal: EalConfig,
    /// Ports, bridge pairs, queues.
    pub ports: PortsConfig,
    /// Worker threads.
    pub workers: WorkersConfig,
    /// The packet-buffer pool.
    pub mempool: MempoolConfig,
    /// The packet policy the workers call.
    pub policy: PolicyConfig,
    /// Rule variables (`HOME_NET`, `HTTP_PORTS`, ...): each overrides Suricata's default.
    pub vars: std::collections::BTreeMap<String, String>,
    /// The detection engine.
    pub detect: DetectConfig,
    /// IP defragmentation (in the detection engine's workers).
    pub defrag: crate::defrag::DefragConfig,
    /// TCP reassembly (in the detection engine's workers).
    pub stream: crate::flow::StreamConfig,
    /// HTTP parsing of the reassembled streams.
    pub http: crate::proto::http::messages::HttpConfig,
    /// TLS handshake parsing of the reassembled streams.
    pub tls: crate::proto::tls::TlsConfig,
    /// EVE JSON output.
    pub eve: EveConfig,
    /// DNS inspection and DNS-aware prevention.
    pub dns: DnsConfig,
    /// The control socket.
    pub control: ControlConfig,
    /// Domain lists by name (`[lists.NAME]`); `--lists PATH` adds one named after the
    /// file's stem.
    pub lists: std::collections::BTreeMap<String, crate::names::domain_lists::ListConfig>,
    /// Per-host baselines.
    pub baseline: crate::baseline::BaselineConfig,
}

/// The control socket (`sensor ctl`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Unix socket path (absent: no control socket).
    pub socket: Option<std::path::PathBuf>,
    /// Permission bits of the socket file.
    pub mode: u32,
    /// Group (name or number) given to the socket file, so its members may connect.
    pub group: Option<String>,
    /// Clients served at once; one more is refused with an error and disconnected.
    pub max_clients: usize,
    /// Seconds a client may take to send a request before it is disconnected.
    pub timeout_secs: f64,
    /// The largest share (0 to 1) of the running rules, and of the running list entries,
    /// that a reload may drop; a reload that would drop more is refused unless forced.
    pub reload_max_loss: f64,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: None,
            mode: 0o600,
            group: None,
            max_clients: 16,
            timeout_secs: 5.0,
            reload_max_loss: 0.2,
        }
    }
}

/// EVE JSON output.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EveConfig {
    /// File to write alerts to (absent: alerts are only counted).
    pub path: Option<std::path::PathBuf>,
    /// Events each worker may have waiting for the writer; more are dropped and counted.
    pub queue_size: usize,
    /// Also write a `dns` event for every DNS query and answer inspected.
    pub dns_events: bool,
    /// Also write a `tls` event for every TLS handshake seen.
    pub tls_events: bool,
}

impl Default for EveConfig {
    fn default() -> Self {
        EveConfig {
            path: None,
            queue_size: 4096,
            dns_events: false,
            tls_events: false,
        }
    }
}

/// Arguments for `rte_eal_init`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EalConfig {
    /// Passed as they are by `sensor run` (devices, memory, `--vdev`s). Unless they name
    /// `-l`, `-c` or `--lcores`, `--lcores=0@(all CPUs)` is added so the main thread is not
    /// pinned; workers are pinned by the sensor itself.
    pub args: Vec<String>,
    /// Used by `sensor replay` instead of `args` (it adds its own `--vdev`s).
    pub replay_args: Vec<String>,
}

/// Ports and how they are wired.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortsConfig {
    /// Detection: the ports to listen on (PCI address or vdev name).
    pub span: Vec<String>,
    /// Prevention: pairs of ports bridged to each other.
    pub bridge: Vec<[String; 2]>,
    /// Optional port that receives copies of packets the policy flags for mirroring.
    pub mirror: Option<String>,
    /// Rx (and tx) queues per port; one worker serves queue `q` of every port.
    pub queues: u16,
    /// Receive descriptors per queue.
    pub rx_descriptors: u16,
    /// Transmit descriptors per queue.
    pub tx_descriptors: u16,
    /// Put ports in promiscuous mode.
    pub promiscuous: bool,
}

/// Worker threads.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkersConfig {
    /// CPU per worker (one per queue); empty picks the highest-numbered CPUs.
    pub cores: Vec<usize>,
    /// Packets per rx burst (1 to 512).
    pub burst_size: usize,
    /// Times a partly refused transmit is retried before the rest is freed and counted.
    pub tx_retries: u32,
    /// Microseconds to sleep after a poll that found nothing on any queue (0: busy-poll,
    /// the right choice on a dedicated core).
    pub idle_sleep_us: u64,
    /// Seconds without progress after which a worker counts as stalled (0: no watchdog).
    pub stall_timeout_secs: f64,
    /// What happens to a stalled worker's queues.
    pub stall_policy: StallPolicy,
}

/// What happens to the queues of a worker that stopped making progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum StallPolicy {
    /// Drop their packets, counted (`stall_drops`): nothing passes uninspected.
    #[default]
    FailClosed,
    /// Forward their packets uninspected, counted (`stall_passed`): traffic keeps flowing.
    FailOpen,
}

/// The packet-buffer pool.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolConfig {
    /// Number of mbufs (best as 2^n - 1). Must cover every rx and tx ring plus bursts in
    /// flight; with `net_pcap`'s `infinite_rx` it must also hold the whole capture.
    pub size: u32,
    /// Per-lcore cache.
    pub cache_size: u32,
    /// Bytes of buffer per mbuf, headroom included.
    pub data_room: u16,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Detection,
            stats_interval_secs: 0.0,
            eal: EalConfig::default(),
            ports: PortsConfig::default(),
            workers: WorkersConfig::default(),
            mempool: MempoolConfig::default(),
            policy: PolicyConfig::default(),
            vars: std::collections::BTreeMap::new(),
            detect: DetectConfig::default(),
            defrag: crate::defrag::DefragConfig::default(),
            stream: crate::flow::StreamConfig::default(),
            http: Default::default(),
            tls: Default::default(),
            eve: EveConfig::default(),
            dns: DnsConfig::default(),
            control: ControlConfig::default(),
            lists: std::collections::BTreeMap::new(),
            baseline: crate::baseline::BaselineConfig::default(),
        }
    }
}

impl Default for EalConfig {
    fn default() -> Self {
        EalConfig {
            args: Vec::new(),
            replay_args: [
                "--no-huge",
                "-m",
                "512",
                "--no-pci",
                "--no-shconf",
                "--no-telemetry",
                "--log-level=lib.eal:warning",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl Default for PortsConfig {
    fn default() -> Self {
        PortsConfig {
            span: Vec::new(),
            bridge: Vec::new(),
            mirror: None,
            queues: 1,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            promiscuous: true,
        }
    }
}

impl Default for WorkersConfig {
    fn default() -> Self {
        WorkersConfig {
            cores: Vec::new(),
            burst_size: 32,
            tx_retries: 8,
            idle_sleep_us: 0,
            stall_timeout_secs: 5.0,
            stall_policy: StallPolicy::FailClosed,
        }
    }
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            size: 16383,
            cache_size: 256,
            data_room: dpdk_bindings::mempool::DEFAULT_DATA_ROOM,
        }
    }
}

/// A configuration that cannot be used, with a one-line reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

macro_rules! bail {
    ($($arg:tt)*) => { return Err(ConfigError(format!($($arg)*))) };
}

impl Config {
    /// Reads `path` (or starts from the defaults when `None`), applies each `key=value`
    /// override in order, and deserialises strictly.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Config, ConfigError> {
        Self::load_with_lists(path, &[], overrides)
    }

    /// Loads like [`Config::load`], adding a `[lists.STEM]` table for each of `lists`
    /// (named after the file's stem, made unique) before the overrides are applied, so
    /// `--set lists.STEM.action=...` reaches it.
    pub fn load_with_lists(
        path: Option<&Path>,
        lists: &[std::path::PathBuf],
        overrides: &[String],
    ) -> Result<Config, ConfigError> {
        let mut table = match path {
            Some(p) => {
                let text = crate::files::regular(p)
                    .and_then(|()| std::fs::read_to_string(p))
                    .map_err(|e| ConfigError(format!("{}: {e}", p.display())))?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError(format!("{}: {}", p.display(), one_line(&e))))?
            }
            None => toml::Table::new(),
        };
        for list in lists {
            let stem = list
                .file_stem()
                .map(|s| s.to_string_lossy().replace('.', "_"))
                .unwrap_or_else(|| "list".to_owned());
            let tables = table
                .entry("lists")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(tables) = tables else {
                bail!("config key lists: not a table");
            };
            let mut name = stem.clone();
            let mut n = 1;
            while tables.contains_key(&name) {
                n += 1;
                name = format!("{stem}_{n}");
            }
            let mut entry = toml::Table::new();
            entry.insert(
                "path".to_owned(),
                toml::Value::String(list.to_string_lossy().into_owned()),
            );
            tables.insert(name, toml::Value::Table(entry));
        }
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        Self::from_table(table)
    }

    /// Deserialises a TOML table strictly; an unknown key is named with its full path.
    pub fn from_table(table: toml::Table) -> Result<Config, ConfigError> {
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let path = e.path().to_string();
            let inner = one_line(e.inner());
            if path == "." || path.is_empty() {
                ConfigError(format!("config: {inner}"))
            } else {
                ConfigError(format!("config key {path}: {inner}"))
            }
        })
    }

    /// Checks what the types cannot, given the CPUs this process may run on.
    pub fn validate(&self, cpus: &[usize]) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        match self.mode {
            Mode::Detection => {
                if self.ports.span.is_empty() {
                    bail!("detection mode needs at least one port in ports.span");
                }
                for p in &self.ports.span {
                    if !seen.insert(p.as_str()) {
                        bail!("port {p} is listed twice");
                    }
                }
            }
            Mode::Prevention => {
                if self.ports.bridge.is_empty() {
                    bail!("prevention mode needs at least one pair in ports.bridge");
                }
                for [a, b] in &self.ports.bridge {
                    for p in [a, b] {
                        if !seen.insert(p.as_str()) {
                            bail!("port {p} is listed twice");
                        }
                    }
                }
            }
        }
        if let Some(m) = &self.ports.mirror {
            if seen.contains(m.as_str()) {
                bail!("mirror port {m} is also a span or bridge port");
            }
        }
        if self.ports.queues == 0 {
            bail!("ports.queues must be at least 1");
        }
        if self.workers.burst_size == 0 || self.workers.burst_size > MAX_BURST {
            bail!("workers.burst_size must be 1 to {MAX_BURST}");
        }
        ranges::check(self)?;
        let cores = &self.workers.cores;
        if !cores.is_empty() && cores.len() != usize::from(self.ports.queues) {
            bail!(
                "workers.cores lists {} cores but ports.queues is {}: one worker per queue",
                cores.len(),
                self.ports.queues
            );
        }
        let mut seen_cores = HashSet::new();
        for &c in cores {
            if !cpus.contains(&c) {
                bail!(
                    "worker core {c} is out of range: this process may run on CPUs {}",
                    cpu_list(cpus)
                );
            }
            if !seen_cores.insert(c) {
                bail!("worker core {c} is listed twice");
            }
        }
        let min_pool = self.min_mempool_size();
        if self.mempool.size < min_pool {
            bail!(
                "mempool.size {} is too small for the rings and bursts: at least {min_pool}",
                self.mempool.size
            );
        }
        if usize::from(self.mempool.data_room) < 256 + 128 {
            bail!("mempool.data_room must be at least 384 bytes");
        }
        if let Err(e) = self.baseline.validate() {
            bail!("{e}");
        }
        Ok(())
    }

    /// Rule variables: Suricata's defaults with the configured ones on top, checked.
    pub fn rule_vars(&self) -> Result<crate::rules::Vars, ConfigError> {
        let mut vars = crate::rules::Vars::default();
        for (k, v) in &self.vars {
            vars.values.insert(k.clone(), v.clone());
        }
        for (k, v) in &self.vars {
            let as_addr = vars.address(v);
            let as_ports = vars.ports(v);
            if as_addr.is_err() && as_ports.is_err() {
                bail!("vars.{k} = {v:?} is neither an address nor a port spec");
            }
        }
        Ok(vars)
    }

    /// The worker cores: the configured ones, or the highest-numbered allowed CPUs.
    pub fn worker_cores(&self, cpus: &[usize]) -> Vec<usize> {
        if !self.workers.cores.is_empty() {
            return self.workers.cores.clone();
        }
        let n = usize::from(self.ports.queues);
        let mut sorted = cpus.to_vec();
        sorted.sort_unstable();
        (0..n)
            .map(|i| sorted[sorted.len() - 1 - (i % sorted.len())])
            .collect()
    }

    /// Names of the data ports in order: span ports, or bridge pairs flattened.
    pub fn data_ports(&self) -> Vec<String> {
        match self.mode {
            Mode::Detection => self.ports.span.clone(),
            Mode::Prevention => self.ports.bridge.iter().flatten().cloned().collect(),
        }
    }

    /// Compiles the configured rules and lists with `compiler` (which reuses what its
    /// last compile built).
    pub fn compile(
        &self,
        compiler: &mut crate::detect::compiler::Compiler,
    ) -> Result<crate::detect::Ruleset, crate::error::SensorError> {
        let vars = self.rule_vars()?;
        Ok(compiler.compile(&crate::detect::compiler::Sources {
            rules: &self.detect.rules,
            lists: &self.lists,
            vars: &vars,
        })?)
    }

    /// What the guard between a compile and the workers expects to load.
    pub fn configured_protection(&self) -> crate::detect::reload_guard::Configured {
        crate::detect::reload_guard::Configured {
            rule_paths: self.detect.rules.len(),
            lists: self.lists.len(),
        }
    }

    fn min_mempool_size(&self) -> u32 {
        let ports = self.data_ports().len() as u32 + u32::from(self.ports.mirror.is_some());
        let per_queue =
            u32::from(self.ports.rx_descriptors.min(4096)) + self.workers.burst_size as u32 * 2;
        (ports * u32::from(self.ports.queues) * per_queue).min(1 << 20)
    }
}

impl From<ConfigError> for crate::error::SensorError {
    fn from(e: crate::config::ConfigError) -> Self {
        crate::error::SensorError::Usage(e.0)
    }
}

/// Applies one `dotted.key=value` override. The value is read as TOML (numbers, booleans,
/// arrays, quoted strings); anything that does not parse as TOML is taken as a string.
pub fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), ConfigError> {
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| ConfigError(format!("--set {assignment:?}: expected key=value")))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        bail!("--set {assignment:?}: empty key");
    }
    let value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(last) = parts.pop() else {
        bail!("--set {assignment:?}: empty key");
    };
    let mut cursor = table;
    for (i, part) in parts.iter().enumerate() {
        let entry = cursor
            .entry((*part).to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cursor = match entry {
            toml::Value::Table(t) => t,
            _ => bail!("--set {key}: {} is not a table", parts[..=i].join(".")),
        };
    }
    cursor.insert(last.to_owned(), value);
    Ok(())
}

/// `0-3` style rendering of a CPU list for messages and EAL's `--lcores`.
pub fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn one_line(e: &dyn fmt::Display) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('|') && !l.chars().all(|c| c == '^' || c == ' ')
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, sets: &[&str]) -> Result<Config, ConfigError> {
        let mut table: toml::Table = text.parse().unwrap();
        for s in sets {
            apply_override(&mut table, s)?;
        }
        Config::from_table(table)
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(load("", &[]).unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_named_with_its_path() {
        let err = load("[workers]\nburst = 3\n", &[]).unwrap_err();
        assert!(err.0.contains("workers.burst"), "{err}");
        let err = load("", &["ports.bogus=1"]).unwrap_err();
        assert!(err.0.contains("ports.bogus"), "{err}");
    }

    #[test]
    fn set_overrides_by_dotted_path_and_types() {
        let c = load(
            "mode = \"detection\"\n",
            &[
                "mode=prevention",
                "workers.cores=[1]",
                "ports.bridge=[[\"a\",\"b\"]]",
                "workers.burst_size=64",
                "policy.drop_addresses=[\"10.0.0.5\"]",
            ],
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Prevention);
        assert_eq!(c.workers.cores, vec![1]);
        assert_eq!(c.ports.bridge, vec![["a".to_string(), "b".to_string()]]);
        assert_eq!(c.workers.burst_size, 64);
        assert_eq!(
            c.policy.drop_addresses,
            vec!["10.0.0.5".parse::<std::net::IpAddr>().unwrap()]
        );
    }

    #[test]
    fn set_into_a_scalar_is_an_error() {
        let err = load("mode = \"detection\"\n", &["mode.x=1"]).unwrap_err();
        assert!(err.0.contains("mode is not a table"), "{err}");
    }

    #[test]
    fn validate_rejects_core_out_of_range_and_missing_ports() {
        let mut c = Config::default();
        assert!(c.validate(&[0, 1]).unwrap_err().0.contains("ports.span"));
        c.ports.span = vec!["net_null0".into()];
        c.workers.cores = vec![7];
        let err = c.validate(&[0, 1]).unwrap_err();
        assert!(err.0.contains("core 7 is out of range"), "{err}");
        c.workers.cores = vec![1];
        c.validate(&[0, 1]).unwrap();
    }

    #[test]
    fn auto_cores_prefer_high_numbered_cpus() {
        let mut c = Config::default();
        c.ports.queues = 2;
        assert_eq!(c.worker_cores(&[0, 1, 2, 3]), vec![3, 2]);
        assert_eq!(c.worker_cores(&[0]), vec![0, 0]);
    }

    #[test]
    fn example_config_parses_and_matches_defaults_where_documented() {
        let text = include_str!("../../../sensor.example.toml");
        let c = load(text, &[]).unwrap();
        assert_eq!(c.workers, WorkersConfig::default());
        assert_eq!(c.mempool, MempoolConfig::default());
        assert_eq!(c.eal.replay_args, EalConfig::default().replay_args);
        assert_eq!(c.detect, DetectConfig::default());
        assert_eq!(c.defrag, crate::defrag::DefragConfig::default());
        assert_eq!(c.stream, crate::flow::StreamConfig::default());
        assert_eq!(c.http, crate::proto::http::messages::HttpConfig::default());
        assert_eq!(c.eve, EveConfig::default());
        assert_eq!(c.dns, DnsConfig::default());
    }

    #[test]
    fn lists_from_the_command_line_take_overrides() {
        let c = Config::load_with_lists(
            None,
            &["/x/bad.domains.txt".into(), "/y/bad.domains.txt".into()],
            &[
                "lists.bad_domains.action=\"sinkhole\"".into(),
                "lists.bad_domains.sinkhole_v4=\"10.0.0.1\"".into(),
            ],
        )
        .unwrap();
        let first = &c.lists["bad_domains"];
        assert_eq!(
            first.action,
            Some(crate::names::domain_lists::ListAction::Sinkhole)
        );
        assert_eq!(first.sinkhole_v4.to_string(), "10.0.0.1");
        assert_eq!(
            c.lists["bad_domains_2"].path.to_str(),
            Some("/y/bad.domains.txt")
        );
        let err = Config::load_with_lists(None, &["/x/a.txt".into()], &["lists.a.actoin=1".into()]);
        assert!(err.unwrap_err().0.contains("lists.a"));
    }
}
