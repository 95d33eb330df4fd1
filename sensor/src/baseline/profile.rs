//! One host's profile and the detections that compare what it does with it.
//!
//! A profile holds what the host resolved (registered domains) and where it connected
//! (address, port, protocol) in aging Bloom filters, its query rate smoothed per bucket,
//! its query-type mix, and two windows: distinct registered domains answered NXDOMAIN,
//! and per registered domain the distinct names queried under it with their shape. Time
//! is always the packets' time. Each detection returns a [`Signal`] carrying the baseline
//! value, the observed value and the threshold, so the alert explains itself.

use crate::decode::IpProto;
use std::io::{self, Read, Write};

use serde_json::{json, Value};

use super::config::BaselineConfig;
use super::persist::{
    read_f64, read_str, read_u32, read_u64, write_f64, write_str, write_u32, write_u64,
};
use super::sketch::{entropy, hash_bytes, AgingBloom, CappedDistinct};

/// A baseline detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// A server resolved a registered domain it never resolved.
    NewDomain,
    /// A server opened a connection to a destination it never used.
    NewDestination,
    /// A host's query rate jumped far above its smoothed rate.
    RateSpike,
    /// A host was answered NXDOMAIN for many distinct registered domains (DGA).
    NxdomainBurst,
    /// A host queried many distinct, payload-shaped names under one registered domain.
    Tunnel,
}

impl SignalKind {
    /// Every signal, in sid order.
    pub const ALL: [SignalKind; 5] = [
        SignalKind::NewDomain,
        SignalKind::NewDestination,
        SignalKind::RateSpike,
        SignalKind::NxdomainBurst,
        SignalKind::Tunnel,
    ];

    /// The signature id (9,200,001-9,200,099 are reserved for baseline signals).
    pub fn sid(self) -> u32 {
        9_200_001 + self as u32
    }

    /// The name used in the config and in EVE.
    pub fn name(self) -> &'static str {
        match self {
            SignalKind::NewDomain => "new_domain",
            SignalKind::NewDestination => "new_destination",
            SignalKind::RateSpike => "query_rate_spike",
            SignalKind::NxdomainBurst => "nxdomain_burst",
            SignalKind::Tunnel => "dns_tunnel",
        }
    }

    /// The alert's signature text.
    pub fn signature(self) -> &'static str {
        match self {
            SignalKind::NewDomain => {
                "SENSOR BASELINE server resolved a registered domain never seen before"
            }
            SignalKind::NewDestination => {
                "SENSOR BASELINE server connected to a destination never seen before"
            }
            SignalKind::RateSpike => "SENSOR BASELINE DNS query rate far above the host's baseline",
            SignalKind::NxdomainBurst => {
                "SENSOR BASELINE NXDOMAIN burst over many registered domains (possible DGA)"
            }
            SignalKind::Tunnel => {
                "SENSOR BASELINE many payload-shaped names under one domain (possible DNS tunnel)"
            }
        }
    }

    /// Severity (1 high - 3 low).
    pub fn severity(self) -> u8 {
        match self {
            SignalKind::NewDestination | SignalKind::Tunnel => 1,
            SignalKind::NewDomain | SignalKind::NxdomainBurst => 2,
            SignalKind::RateSpike => 3,
        }
    }
}

/// One detection with its explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// Which detection.
    pub kind: SignalKind,
    /// What the host's baseline held.
    pub baseline: Value,
    /// What was observed.
    pub observed: Value,
    /// The threshold crossed.
    pub threshold: Value,
}

/// Query types counted in the mix.
const QTYPES: [(u16, &str); 5] = [
    (1, "A"),
    (28, "AAAA"),
    (16, "TXT"),
    (10, "NULL"),
    (0, "other"),
];

fn us(secs: f64) -> u64 {
    (secs * 1e6) as u64
}

/// What the host's query rate looks like, bucket by bucket.
#[derive(Debug, Clone, Default, PartialEq)]
struct Rate {
    bucket_start_us: u64,
    count: u32,
    ewma: f64,
    buckets: u32,
    alerted: bool,
}

impl Rate {
    fn add(&mut self, now: u64, cfg: &BaselineConfig, learning: bool) -> Option<Signal> {
        let bucket = us(cfg.rate_bucket_secs).max(1);
        if self.buckets == 0 && self.count == 0 {
            self.bucket_start_us = now;
        }
        if now >= self.bucket_start_us + bucket {
            let elapsed = (now - self.bucket_start_us) / bucket;
            let a = 0.2;
            self.ewma = if self.buckets == 0 {
                f64::from(self.count)
            } else {
                self.ewma + a * (f64::from(self.count) - self.ewma)
            };
            // Buckets with no query at all pull the average down too.
            let empty = (elapsed - 1).min(64) as i32;
            self.ewma *= (1.0 - a).powi(empty);
            self.buckets = self
                .buckets
                .saturating_add(elapsed.min(u64::from(u32::MAX)) as u32);
            self.bucket_start_us += elapsed * bucket;
            self.count = 0;
            self.alerted = false;
        }
        self.count += 1;
        if learning || self.buckets < cfg.rate_min_buckets || self.alerted {
            return None;
        }
        let threshold = (cfg.rate_factor * self.ewma).max(f64::from(cfg.rate_floor));
        if f64::from(self.count) > threshold {
            self.alerted = true;
            return Some(Signal {
                kind: SignalKind::RateSpike,
                baseline: json!({"queries_per_bucket": round2(self.ewma), "bucket_secs": cfg.rate_bucket_secs}),
                observed: json!({"queries_in_bucket": self.count}),
                threshold: json!({"queries": round2(threshold), "factor": cfg.rate_factor, "floor": cfg.rate_floor}),
            });
        }
        None
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Distinct registered domains answered NXDOMAIN in the current window.
#[derive(Debug, Clone, Default, PartialEq)]
struct NxWindow {
    start_us: u64,
    domains: CappedDistinct,
    alerted: bool,
}

/// The names queried under one registered domain in the current window.
#[derive(Debug, Clone, PartialEq)]
struct DomainWindow {
    hash: u64,
    domain: String,
    names: CappedDistinct,
    queries: u32,
    sub_bytes: u64,
    entropy_sum: f64,
    max_label: u32,
    null_txt: u32,
    alerted: bool,
}

/// Registered domains tracked per host per tunnel window.
const TUNNEL_DOMAINS: usize = 8;

#[derive(Debug, Clone, Default, PartialEq)]
struct TunnelWindow {
    start_us: u64,
    domains: Vec<DomainWindow>,
}

/// A host's profile.
#[derive(Debug, Clone, PartialEq)]
pub struct HostProfile {
    /// First packet from the host.
    pub first_seen_us: u64,
    /// Latest packet from or to the host.
    pub last_seen_us: u64,
    /// Marked as a server in the config.
    pub server: bool,
    domains: AgingBloom,
    destinations: AgingBloom,
    ports: AgingBloom,
    queries: u64,
    connections: u64,
    qtypes: [u64; 5],
    rate: Rate,
    nx: NxWindow,
    tunnel: TunnelWindow,
}

/// What a query tells the profile.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// The question name, lowercased, no trailing dot.
    pub name: &'a str,
    /// Its registered domain (eTLD+1).
    pub registered: &'a str,
    /// The question type.
    pub qtype: u16,
}

impl HostProfile {
    /// A new profile, first seen at `now`.
    pub fn new(now: u64, server: bool, cfg: &BaselineConfig) -> Self {
        HostProfile {
            first_seen_us: now,
            last_seen_us: now,
            server,
            domains: AgingBloom::new(cfg.domain_filter_bytes, now),
            destinations: AgingBloom::new(cfg.destination_filter_bytes, now),
            ports: AgingBloom::new(256, now),
            queries: 0,
            connections: 0,
            qtypes: [0; 5],
            rate: Rate::default(),
            nx: NxWindow::default(),
            tunnel: TunnelWindow::default(),
        }
    }

    /// Whether the host is still learning at `now`.
    pub fn learning(&self, now: u64, cfg: &BaselineConfig) -> bool {
        now < self.first_seen_us.saturating_add(us(cfg.learning_secs))
    }

    /// When the host stops learning (packet time, microseconds).
    pub fn enforced_from_us(&self, cfg: &BaselineConfig) -> u64 {
        self.first_seen_us.saturating_add(us(cfg.learning_secs))
    }

    fn touch(&mut self, now: u64, cfg: &BaselineConfig) {
        self.last_seen_us = self.last_seen_us.max(now);
        let period = us(cfg.aging_secs);
        self.domains.rotate(now, period);
        self.destinations.rotate(now, period);
        if self.ports.rotate(now, period) {
            // The mix ages with the filters: halve it.
            self.qtypes.iter_mut().for_each(|c| *c /= 2);
        }
    }

    /// The host's registered-domain and destination filters (for enforcement snapshots).
    pub fn filters(&self) -> (&AgingBloom, &AgingBloom) {
        (&self.domains, &self.destinations)
    }

    /// The host sent a query; pushes what it raised onto `out`.
    pub fn on_query(
        &mut self,
        now: u64,
        q: Query<'_>,
        cfg: &BaselineConfig,
        out: &mut Vec<Signal>,
    ) {
        self.touch(now, cfg);
        let learning = self.learning(now, cfg);
        self.queries += 1;
        let slot = QTYPES
            .iter()
            .position(|(t, _)| *t == q.qtype)
            .unwrap_or(QTYPES.len() - 1);
        self.qtypes[slot] += 1;
        let known = self.domains.items();
        if self.domains.insert(domain_hash(q.registered)) && !learning && self.server {
            out.push(Signal {
                kind: SignalKind::NewDomain,
                baseline: json!({"registered_domains_known": known}),
                observed: json!({"registered_domain": q.registered, "query": q.name}),
                threshold: json!("never resolved by this host before"),
            });
        }
        out.extend(self.rate.add(now, cfg, learning));
        out.extend(self.tunnel_add(now, q, cfg));
    }

    fn tunnel_add(&mut self, now: u64, q: Query<'_>, cfg: &BaselineConfig) -> Option<Signal> {
        let t = &mut self.tunnel;
        if now >= t.start_us.saturating_add(us(cfg.tunnel_window_secs)) || t.domains.is_empty() {
            t.start_us = now;
            t.domains.clear();
        }
        let h = domain_hash(q.registered);
        let i = match t.domains.iter().position(|d| d.hash == h) {
            Some(i) => i,
            None => {
                let fresh = DomainWindow {
                    hash: h,
                    domain: q.registered.to_string(),
                    names: CappedDistinct::default(),
                    queries: 0,
                    sub_bytes: 0,
                    entropy_sum: 0.0,
                    max_label: 0,
                    null_txt: 0,
                    alerted: false,
                };
                // When full, replace the domain with the fewest distinct names: a tunnel,
                // the busiest, is never the one evicted.
                let fewest = (t.domains.len() >= TUNNEL_DOMAINS)
                    .then(|| {
                        t.domains
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, d)| d.names.len())
                            .map(|(i, _)| i)
                    })
                    .flatten();
                match fewest {
                    Some(i) => {
                        t.domains[i] = fresh;
                        i
                    }
                    None => {
                        t.domains.push(fresh);
                        t.domains.len() - 1
                    }
                }
            }
        };
        let d = &mut t.domains[i];
        let sub = q
            .name
            .strip_suffix(q.registered)
            .unwrap_or("")
            .trim_end_matches('.');
        let cap = cfg.tunnel_subdomains as usize + 1;
        let distinct = d.names.add(hash_bytes(q.name.as_bytes()) as u32, cap);
        d.queries += 1;
        d.sub_bytes += sub.len() as u64;
        let letters: Vec<u8> = sub.bytes().filter(|&b| b != b'.').collect();
        d.entropy_sum += entropy(&letters);
        d.max_label = d
            .max_label
            .max(sub.split('.').map(str::len).max().unwrap_or(0) as u32);
        if matches!(q.qtype, 10 | 16) {
            d.null_txt += 1;
        }
        if d.alerted || distinct <= cfg.tunnel_subdomains as usize {
            return None;
        }
        let n = f64::from(d.queries);
        let mean_len = d.sub_bytes as f64 / n;
        let mean_entropy = d.entropy_sum / n;
        let share = f64::from(d.null_txt) / n;
        let shaped = mean_len >= cfg.tunnel_mean_length
            || mean_entropy >= cfg.tunnel_entropy
            || share >= cfg.tunnel_null_txt_share;
        if !shaped {
            return None;
        }
        d.alerted = true;
        Some(Signal {
            kind: SignalKind::Tunnel,
            baseline: json!({"window_secs": cfg.tunnel_window_secs}),
            observed: json!({
                "registered_domain": d.domain,
                "distinct_names": distinct,
                "queries": d.queries,
                "mean_subdomain_length": round2(mean_len),
                "max_label_length": d.max_label,
                "mean_entropy": round2(mean_entropy),
                "null_txt_share": round2(share),
                "last_query": q.name,
            }),
            threshold: json!({
                "distinct_names": cfg.tunnel_subdomains,
                "and_one_of": {
                    "mean_subdomain_length": cfg.tunnel_mean_length,
                    "mean_entropy": cfg.tunnel_entropy,
                    "null_txt_share": cfg.tunnel_null_txt_share,
                }
            }),
        })
    }

    /// The host accepted a connection (only its last-seen time changes).
    pub fn on_inbound(&mut self, now: u64) {
        self.last_seen_us = self.last_seen_us.max(now);
    }

    /// The host was answered NXDOMAIN for a name under `registered`.
    pub fn on_nxdomain(
        &mut self,
        now: u64,
        registered: &str,
        cfg: &BaselineConfig,
    ) -> Option<Signal> {
        self.touch(now, cfg);
        let w = &mut self.nx;
        if now >= w.start_us.saturating_add(us(cfg.nxdomain_window_secs)) || w.domains.is_empty() {
            w.start_us = now;
            w.domains.clear();
            w.alerted = false;
        }
        let cap = cfg.nxdomain_distinct as usize;
        let n = w.domains.add(domain_hash(registered) as u32, cap);
        if w.alerted || n < cap {
            return None;
        }
        w.alerted = true;
        Some(Signal {
            kind: SignalKind::NxdomainBurst,
            baseline: json!({"window_secs": cfg.nxdomain_window_secs}),
            observed: json!({"distinct_registered_domains": n, "last": registered}),
            threshold: json!({"distinct_registered_domains": cfg.nxdomain_distinct}),
        })
    }

    /// The host opened a connection to `dst:port` over `proto`. `blocked`: the worker
    /// dropped it, so it is not learned (an enforced host keeps being refused).
    pub fn on_connection(
        &mut self,
        now: u64,
        dst: std::net::IpAddr,
        port: u16,
        proto: IpProto,
        blocked: bool,
        cfg: &BaselineConfig,
    ) -> Option<Signal> {
        self.touch(now, cfg);
        self.connections += 1;
        let learning = self.learning(now, cfg);
        let key = destination_hash(dst, port, proto);
        let known = self.destinations.items();
        let new = !self.destinations.contains(key);
        let port_key = hash_bytes(&[port.to_be_bytes()[0], port.to_be_bytes()[1], proto.0]);
        let port_new = !self.ports.contains(port_key);
        if !blocked {
            self.destinations.insert(key);
            self.ports.insert(port_key);
        }
        if !new || learning || !self.server {
            return None;
        }
        Some(Signal {
            kind: SignalKind::NewDestination,
            baseline: json!({"destinations_known": known}),
            observed: json!({
                "destination": format!("{dst}:{port}/{}", proto_name(proto)),
                "port_new_to_host": port_new,
            }),
            threshold: json!("never connected to by this host before"),
        })
    }

    /// A readable summary (the control socket's `baseline HOST`).
    pub fn summary(&self, now: u64, cfg: &BaselineConfig) -> Value {
        let mix: serde_json::Map<String, Value> = QTYPES
            .iter()
            .zip(self.qtypes)
            .map(|((_, n), c)| (n.to_string(), json!(c)))
            .collect();
        json!({
            "role": if self.server { "server" } else { "client" },
            "learning": self.learning(now, cfg),
            "first_seen": crate::events::timestamp(self.first_seen_us),
            "last_seen": crate::events::timestamp(self.last_seen_us),
            "enforced_from": crate::events::timestamp(self.enforced_from_us(cfg)),
            "queries": self.queries,
            "connections": self.connections,
            "registered_domains_known": self.domains.items(),
            "destinations_known": self.destinations.items(),
            "query_rate_per_bucket": round2(self.rate.ewma),
            "qtype_mix": mix,
            "nxdomain_window_distinct": self.nx.domains.len(),
            "bytes": self.heap_bytes(),
        })
    }

    /// Bytes of memory the profile holds (its struct and its allocations).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.domains.heap_bytes()
            + self.destinations.heap_bytes()
            + self.ports.heap_bytes()
            + self.nx.domains.len() * 4
            + self
                .tunnel
                .domains
                .iter()
                .map(|d| std::mem::size_of::<DomainWindow>() + d.domain.len() + d.names.len() * 4)
                .sum::<usize>()
    }

    /// Writes the profile.
    pub fn save(&self, w: &mut impl Write) -> io::Result<()> {
        write_u64(w, self.first_seen_us)?;
        write_u64(w, self.last_seen_us)?;
        write_u32(w, u32::from(self.server))?;
        self.domains.save(w)?;
        self.destinations.save(w)?;
        self.ports.save(w)?;
        write_u64(w, self.queries)?;
        write_u64(w, self.connections)?;
        for c in self.qtypes {
            write_u64(w, c)?;
        }
        let r = &self.rate;
        write_u64(w, r.bucket_start_us)?;
        write_u32(w, r.count)?;
        write_f64(w, r.ewma)?;
        write_u32(w, r.buckets)?;
        write_u32(w, u32::from(r.alerted))?;
        write_u64(w, self.nx.start_us)?;
        self.nx.domains.save(w)?;
        write_u32(w, u32::from(self.nx.alerted))?;
        write_u64(w, self.tunnel.start_us)?;
        write_u32(w, self.tunnel.domains.len() as u32)?;
        for d in &self.tunnel.domains {
            write_u64(w, d.hash)?;
            write_str(w, &d.domain)?;
            d.names.save(w)?;
            write_u32(w, d.queries)?;
            write_u64(w, d.sub_bytes)?;
            write_f64(w, d.entropy_sum)?;
            write_u32(w, d.max_label)?;
            write_u32(w, d.null_txt)?;
            write_u32(w, u32::from(d.alerted))?;
        }
        Ok(())
    }

    /// Reads a profile written by [`HostProfile::save`].
    pub fn load(r: &mut impl Read, cfg: &BaselineConfig) -> io::Result<Self> {
        let first_seen_us = read_u64(r)?;
        let last_seen_us = read_u64(r)?;
        let server = read_u32(r)? != 0;
        let domains = AgingBloom::load(r, cfg.domain_filter_bytes)?;
        let destinations = AgingBloom::load(r, cfg.destination_filter_bytes)?;
        let ports = AgingBloom::load(r, 256)?;
        let queries = read_u64(r)?;
        let connections = read_u64(r)?;
        let mut qtypes = [0; 5];
        for c in &mut qtypes {
            *c = read_u64(r)?;
        }
        let rate = Rate {
            bucket_start_us: read_u64(r)?,
            count: read_u32(r)?,
            ewma: read_f64(r)?,
            buckets: read_u32(r)?,
            alerted: read_u32(r)? != 0,
        };
        let nx = NxWindow {
            start_us: read_u64(r)?,
            domains: CappedDistinct::load(r, cfg.nxdomain_distinct as usize)?,
            alerted: read_u32(r)? != 0,
        };
        let start_us = read_u64(r)?;
        let n = read_u32(r)? as usize;
        if n > TUNNEL_DOMAINS {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "tunnel window"));
        }
        let mut tunnel = TunnelWindow {
            start_us,
            domains: Vec::with_capacity(n),
        };
        for _ in 0..n {
            tunnel.domains.push(DomainWindow {
                hash: read_u64(r)?,
                domain: read_str(r)?,
                names: CappedDistinct::load(r, cfg.tunnel_subdomains as usize + 1)?,
                queries: read_u32(r)?,
                sub_bytes: read_u64(r)?,
                entropy_sum: read_f64(r)?,
                max_label: read_u32(r)?,
                null_txt: read_u32(r)?,
                alerted: read_u32(r)? != 0,
            });
        }
        Ok(HostProfile {
            first_seen_us,
            last_seen_us,
            server,
            domains,
            destinations,
            ports,
            queries,
            connections,
            qtypes,
            rate,
            nx,
            tunnel,
        })
    }
}

/// The filter key of a registered domain.
pub fn domain_hash(registered: &str) -> u64 {
    hash_bytes(registered.as_bytes())
}

/// The filter key of a destination.
pub fn destination_hash(dst: std::net::IpAddr, port: u16, proto: IpProto) -> u64 {
    let mut key = [0u8; 19];
    match dst {
        std::net::IpAddr::V4(a) => key[..4].copy_from_slice(&a.octets()),
        std::net::IpAddr::V6(a) => key[..16].copy_from_slice(&a.octets()),
    }
    key[16..18].copy_from_slice(&port.to_be_bytes());
    key[18] = proto.0;
    hash_bytes(&key)
}

/// `tcp`, `udp`, `icmp` or the number.
pub fn proto_name(proto: IpProto) -> String {
    match proto {
        IpProto::TCP => "tcp".into(),
        IpProto::UDP => "udp".into(),
        p if p.is_icmp() => "icmp".into(),
        p => p.0.to_string(),
    }
}

/// The registered domain (eTLD+1, by the Public Suffix List) of a lowercased name; the
/// name itself when it has none (a bare suffix, a single label).
pub fn registered_domain(name: &str) -> &str {
    psl::domain_str(name).unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    const SEC: u64 = 1_000_000;

    fn cfg() -> BaselineConfig {
        BaselineConfig {
            enabled: true,
            learning_secs: 100.0,
            ..BaselineConfig::default()
        }
    }

    fn query<'a>(name: &'a str, qtype: u16) -> Query<'a> {
        Query {
            name,
            registered: registered_domain(name),
            qtype,
        }
    }

    fn kinds(out: &[Signal]) -> Vec<SignalKind> {
        out.iter().map(|s| s.kind).collect()
    }

    #[test]
    fn registered_domains_follow_the_public_suffix_list() {
        assert_eq!(registered_domain("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(registered_domain("x.y.google.com"), "google.com");
        assert_eq!(
            registered_domain("paaamiii.hidemyself.org"),
            "hidemyself.org"
        );
        assert_eq!(registered_domain("com"), "com");
    }

    #[test]
    fn a_server_alerts_on_new_domains_and_destinations_only_after_learning() {
        let c = cfg();
        let mut p = HostProfile::new(0, true, &c);
        let mut out = Vec::new();
        p.on_query(SEC, query("www.debian.org", 1), &c, &mut out);
        let ldap: IpAddr = "172.16.238.11".parse().unwrap();
        assert!(p
            .on_connection(2 * SEC, ldap, 389, IpProto::TCP, false, &c)
            .is_none());
        // After learning: known things are quiet, new ones alert with the baseline.
        p.on_query(200 * SEC, query("deb.debian.org", 1), &c, &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert!(p
            .on_connection(201 * SEC, ldap, 389, IpProto::TCP, false, &c)
            .is_none());
        p.on_query(202 * SEC, query("evil.example.net", 1), &c, &mut out);
        assert_eq!(kinds(&out), [SignalKind::NewDomain]);
        assert_eq!(out[0].observed["registered_domain"], "example.net");
        assert_eq!(out[0].baseline["registered_domains_known"], 1);
        let s = p
            .on_connection(203 * SEC, ldap, 1389, IpProto::TCP, false, &c)
            .unwrap();
        assert_eq!(s.kind, SignalKind::NewDestination);
        assert_eq!(s.observed["destination"], "172.16.238.11:1389/tcp");
        assert_eq!(s.observed["port_new_to_host"], true);
        // Learned once alerted: the second time is quiet.
        assert!(p
            .on_connection(204 * SEC, ldap, 1389, IpProto::TCP, false, &c)
            .is_none());
    }

    #[test]
    fn a_blocked_destination_is_not_learned() {
        let c = cfg();
        let mut p = HostProfile::new(0, true, &c);
        let shell: IpAddr = "10.10.10.31".parse().unwrap();
        assert!(p
            .on_connection(200 * SEC, shell, 9001, IpProto::TCP, true, &c)
            .is_some());
        assert!(p
            .on_connection(201 * SEC, shell, 9001, IpProto::TCP, true, &c)
            .is_some());
    }

    #[test]
    fn clients_raise_no_new_domain_or_destination_alerts() {
        let c = cfg();
        let mut p = HostProfile::new(0, false, &c);
        let mut out = Vec::new();
        p.on_query(200 * SEC, query("anything.example", 1), &c, &mut out);
        assert!(out.is_empty());
        assert!(p
            .on_connection(
                201 * SEC,
                "1.2.3.4".parse().unwrap(),
                443,
                IpProto::TCP,
                false,
                &c
            )
            .is_none());
    }

    #[test]
    fn old_behaviour_ages_out() {
        let c = BaselineConfig {
            aging_secs: 1000.0,
            ..cfg()
        };
        let mut p = HostProfile::new(0, true, &c);
        let dst: IpAddr = "192.0.2.1".parse().unwrap();
        p.on_connection(SEC, dst, 443, IpProto::TCP, false, &c);
        // Two generations later, without being used again, it is new.
        p.on_connection(
            1500 * SEC,
            "192.0.2.2".parse().unwrap(),
            80,
            IpProto::TCP,
            false,
            &c,
        );
        p.on_connection(
            2600 * SEC,
            "192.0.2.2".parse().unwrap(),
            80,
            IpProto::TCP,
            false,
            &c,
        );
        assert!(p
            .on_connection(2700 * SEC, dst, 443, IpProto::TCP, false, &c)
            .is_some());
    }

    #[test]
    fn a_query_rate_spike_alerts_once_per_bucket_after_the_rate_is_learned() {
        let c = cfg();
        let mut p = HostProfile::new(0, false, &c);
        let mut out = Vec::new();
        // Ten queries a minute for ten minutes.
        for m in 0..10u64 {
            for i in 0..10u64 {
                p.on_query(
                    m * 60 * SEC + i * SEC,
                    query("www.example.com", 1),
                    &c,
                    &mut out,
                );
            }
        }
        assert!(out.is_empty());
        // 150 in the next minute: above 10 x 10 and above the floor of 100.
        for i in 0..150u64 {
            p.on_query(
                600 * SEC + i * 100_000,
                query("www.example.com", 1),
                &c,
                &mut out,
            );
        }
        assert_eq!(kinds(&out), [SignalKind::RateSpike]);
        assert_eq!(out[0].observed["queries_in_bucket"], 101);
    }

    #[test]
    fn nxdomain_for_many_registered_domains_is_a_burst_but_one_domain_is_not() {
        let c = cfg();
        let mut p = HostProfile::new(0, false, &c);
        for i in 0..50 {
            assert!(p.on_nxdomain(i * SEC, "typo.example.com", &c).is_none());
        }
        let mut hits = 0;
        for i in 0..30u64 {
            let d = format!("dga{i}.biz");
            hits += usize::from(p.on_nxdomain(100 * SEC + i * SEC, &d, &c).is_some());
        }
        assert_eq!(hits, 1, "one alert per window");
    }

    #[test]
    fn tunnels_alert_and_busy_cdn_names_do_not() {
        let c = cfg();
        let mut out = Vec::new();
        let mut cdn = HostProfile::new(0, false, &c);
        for i in 0..200 {
            let name = format!("cs{i}.vk.me");
            cdn.on_query(i * SEC, query(&name, 1), &c, &mut out);
        }
        assert!(out.is_empty(), "short names under one domain: {out:?}");
        let mut tun = HostProfile::new(0, false, &c);
        for i in 0..40u64 {
            let name = format!("{:x}{:x}.t.pirate.sea", hash_bytes(&i.to_le_bytes()), i);
            tun.on_query(i * SEC, query(&name, 10), &c, &mut out);
        }
        assert_eq!(kinds(&out), [SignalKind::Tunnel]);
        assert_eq!(out[0].observed["registered_domain"], "pirate.sea");
        assert_eq!(out[0].observed["null_txt_share"], 1.0);
    }

    #[test]
    fn profiles_round_trip_through_save_and_load() {
        let c = cfg();
        let mut p = HostProfile::new(5, true, &c);
        let mut out = Vec::new();
        p.on_query(SEC, query("a.example.com", 16), &c, &mut out);
        p.on_nxdomain(2 * SEC, "nx.example", &c);
        p.on_connection(
            3 * SEC,
            "192.0.2.9".parse().unwrap(),
            53,
            IpProto::UDP,
            false,
            &c,
        );
        let mut bytes = Vec::new();
        p.save(&mut bytes).unwrap();
        assert_eq!(HostProfile::load(&mut bytes.as_slice(), &c).unwrap(), p);
        assert!(HostProfile::load(&mut &bytes[..10], &c).is_err());
    }
}
