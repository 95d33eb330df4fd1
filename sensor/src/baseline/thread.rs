//! The baseline thread: owns every host profile, turns workers' observations into
//! profile updates and alerts, publishes the enforcement snapshot, answers the control
//! socket, and saves profiles (every `save_interval_secs` of packet time and at exit).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use tracing::{info, warn};

use super::persist::{open_file, read_str, read_u32, save_file, write_str, write_u32};
use super::profile::{registered_domain, HostProfile, Query, Signal, SignalKind};
use super::{
    BaselineConfig, BaselineHub, ControlRequest, EnforcedHost, Enforcement, Observation, PacketRef,
};
use crate::events::{AlertEvent, AlertSource, BuiltinAlert, EveEvent, EveQueue};
use crate::rules::netspec::AddrSpec;

/// What the baseline thread counted.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BaselineReport {
    /// Observations handled.
    pub observations: u64,
    /// Observations lost to full queues.
    pub dropped: u64,
    /// Hosts profiled at exit.
    pub hosts: u64,
    /// Hosts not profiled because `max_hosts` was reached.
    pub hosts_untracked: u64,
    /// Alerts raised, by signal.
    pub alerts: HashMap<&'static str, u64>,
    /// Connections and queries workers dropped on the enforcement snapshot.
    pub blocked: u64,
    /// Bytes the profiles hold.
    pub profile_bytes: u64,
    /// Profiles loaded from the state file at start.
    pub loaded: u64,
    /// Saves of the state file that failed (the last good file stays).
    pub state_save_failures: u64,
    /// Why the save at exit failed, if it did: the profiles learned since the last good
    /// save are lost, and the run ends with a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_save_error: Option<String>,
}

/// Roles the configuration gives hosts.
pub struct Roles {
    /// Hosts profiled.
    pub hosts: AddrSpec,
    /// Hosts marked as servers.
    pub servers: Option<AddrSpec>,
    /// Hosts enforced (servers too).
    pub enforce: Option<AddrSpec>,
}

impl Roles {
    fn server(&self, ip: IpAddr) -> bool {
        self.servers.as_ref().is_some_and(|s| s.matches(ip)) || self.enforced(ip)
    }

    fn enforced(&self, ip: IpAddr) -> bool {
        self.enforce.as_ref().is_some_and(|s| s.matches(ip))
    }
}

/// The profiles and what the thread does with them (no threads, no queues: the engine
/// of [`run`], testable on its own).
pub struct Baseline {
    cfg: BaselineConfig,
    roles: Roles,
    hosts: HashMap<IpAddr, HostProfile>,
    signals: Vec<Signal>,
    dirty: bool,
    now_us: u64,
    /// Counters.
    pub report: BaselineReport,
}

impl Baseline {
    /// Empty profiles under `cfg`.
    pub fn new(cfg: BaselineConfig, roles: Roles) -> Self {
        Baseline {
            cfg,
            roles,
            hosts: HashMap::new(),
            signals: Vec::new(),
            dirty: false,
            now_us: 0,
            report: BaselineReport::default(),
        }
    }

    fn profile(&mut self, ip: IpAddr, now: u64) -> Option<&mut HostProfile> {
        if !self.hosts.contains_key(&ip) {
            if self.hosts.len() >= self.cfg.max_hosts {
                self.report.hosts_untracked += 1;
                return None;
            }
            let server = self.roles.server(ip);
            self.dirty |= self.roles.enforced(ip);
            self.hosts
                .insert(ip, HostProfile::new(now, server, &self.cfg));
        }
        self.hosts.get_mut(&ip)
    }

    /// Handles one observation; returns the alerts it raises.
    pub fn observe(&mut self, o: &Observation) -> Vec<(PacketRef, IpAddr, Signal)> {
        self.report.observations += 1;
        let mut alerts = Vec::new();
        let cfg = self.cfg.clone();
        match *o {
            Observation::Connection(p) => {
                self.now_us = self.now_us.max(p.packet.ts_us);
                self.report.blocked += u64::from(p.blocked);
                // The responder is seen (its learning starts with its first packet).
                if self.roles.hosts.matches(p.packet.dst.0) {
                    if let Some(prof) = self.profile(p.packet.dst.0, p.packet.ts_us) {
                        prof.on_inbound(p.packet.ts_us);
                    }
                }
                let host = p.packet.src.0;
                if !self.roles.hosts.matches(host) {
                    return alerts;
                }
                let enforced = self.roles.enforced(host);
                if let Some(prof) = self.profile(host, p.packet.ts_us) {
                    let known = prof.filters().1.items();
                    if let Some(s) = prof.on_connection(
                        p.packet.ts_us,
                        p.packet.dst.0,
                        p.packet.dst.1,
                        p.packet.proto,
                        p.blocked,
                        &cfg,
                    ) {
                        alerts.push((p, host, s));
                    }
                    self.dirty |= enforced && prof.filters().1.items() != known;
                }
            }
            Observation::Dns {
                packet: p,
                response,
                rcode,
                qtype,
                name,
            } => {
                self.now_us = self.now_us.max(p.packet.ts_us);
                let Ok(name) = std::str::from_utf8(name.as_bytes()) else {
                    return alerts;
                };
                let registered = registered_domain(name);
                if response {
                    // NXDOMAIN answers count for the host that asked.
                    if rcode == 3 {
                        let host = p.packet.dst.0;
                        if let Some(prof) = self.profile(host, p.packet.ts_us) {
                            if let Some(s) = prof.on_nxdomain(p.packet.ts_us, registered, &cfg) {
                                alerts.push((p, host, s));
                            }
                        }
                    }
                } else {
                    self.report.blocked += u64::from(p.blocked);
                    let host = p.packet.src.0;
                    let enforced = self.roles.enforced(host);
                    let mut out = std::mem::take(&mut self.signals);
                    out.clear();
                    if let Some(prof) = self.profile(host, p.packet.ts_us) {
                        let known = prof.filters().0.items();
                        let q = Query {
                            name,
                            registered,
                            qtype,
                        };
                        prof.on_query(p.packet.ts_us, q, &cfg, &mut out);
                        self.dirty |= enforced && prof.filters().0.items() != known;
                        alerts.extend(out.drain(..).map(|s| (p, host, s)));
                    }
                    self.signals = out;
                }
            }
        }
        for (_, _, s) in &alerts {
            *self.report.alerts.entry(s.kind.name()).or_default() += 1;
        }
        alerts
    }

    /// The enforcement snapshot when an enforced host's filters changed since the last
    /// call (or a host newly became enforceable).
    pub fn take_snapshot(&mut self) -> Option<Enforcement> {
        if !std::mem::take(&mut self.dirty) {
            return None;
        }
        Some(self.snapshot())
    }

    fn snapshot(&self) -> Enforcement {
        let hosts = self
            .hosts
            .iter()
            .filter(|(ip, _)| self.roles.enforced(**ip))
            .map(|(ip, p)| {
                let (domains, destinations) = p.filters();
                (
                    *ip,
                    EnforcedHost {
                        from_us: p.enforced_from_us(&self.cfg),
                        destinations: destinations.clone(),
                        domains: domains.clone(),
                    },
                )
            })
            .collect();
        let drops = |s: &str| self.cfg.drop_signals.iter().any(|d| d == s);
        Enforcement {
            hosts,
            drop_destination: drops("new_destination"),
            drop_domain: drops("new_domain"),
        }
    }

    /// Answers a control request.
    pub fn control(&mut self, request: &ControlRequest) -> Value {
        match request {
            ControlRequest::Show(ip) => match self.hosts.get(ip) {
                Some(p) => json!({"ok": true, "host": ip.to_string(),
                    "profile": p.summary(self.now_us, &self.cfg)}),
                None => json!({"ok": false, "error": format!("no profile for {ip}")}),
            },
            ControlRequest::Reset(ip) => match self.hosts.remove(ip) {
                Some(_) => {
                    self.dirty = true;
                    json!({"ok": true, "host": ip.to_string(), "reset": true})
                }
                None => json!({"ok": false, "error": format!("no profile for {ip}")}),
            },
        }
    }

    /// Profiles held.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether no host is profiled.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Bytes the profiles hold, with the table's own.
    pub fn heap_bytes(&self) -> usize {
        self.hosts
            .values()
            .map(HostProfile::heap_bytes)
            .sum::<usize>()
            + self.hosts.capacity() * (std::mem::size_of::<IpAddr>() + 8)
    }

    /// Saves every profile to `path` (atomically).
    pub fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        save_file(path, |w| {
            write_u32(w, self.hosts.len() as u32)?;
            for (ip, p) in &self.hosts {
                write_str(w, &ip.to_string())?;
                p.save(w)?;
            }
            Ok(())
        })
    }

    /// Loads profiles saved by [`Baseline::save`]; a missing file loads nothing.
    pub fn load(&mut self, path: &std::path::Path) -> std::io::Result<usize> {
        let Some(mut r) = open_file(path)? else {
            return Ok(0);
        };
        let n = read_u32(&mut r)? as usize;
        for _ in 0..n {
            let ip: IpAddr = read_str(&mut r)?
                .parse()
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "address"))?;
            let mut p = HostProfile::load(&mut r, &self.cfg)?;
            // Roles come from the running configuration, not the file.
            p.server = self.roles.server(ip);
            if self.hosts.len() < self.cfg.max_hosts {
                self.now_us = self.now_us.max(p.last_seen_us);
                self.hosts.insert(ip, p);
            }
        }
        self.dirty = true;
        self.report.loaded = self.hosts.len() as u64;
        Ok(self.hosts.len())
    }
}

/// The alert for `signal` raised by `host`'s packet `p`.
pub fn alert(p: &PacketRef, host: IpAddr, signal: Signal, server: bool) -> AlertEvent {
    let kind = signal.kind;
    let detail = json!({
        "signal": kind.name(),
        "host": host.to_string(),
        "role": if server { "server" } else { "client" },
        "baseline": signal.baseline,
        "observed": signal.observed,
        "threshold": signal.threshold,
    });
    AlertEvent {
        packet: p.packet,
        app_proto: matches!(
            kind,
            SignalKind::NewDomain
                | SignalKind::RateSpike
                | SignalKind::NxdomainBurst
                | SignalKind::Tunnel
        )
        .then_some("dns"),
        source: AlertSource::Builtin(Box::new(BuiltinAlert {
            sid: kind.sid(),
            signature: kind.signature().to_string(),
            category: "Potentially Bad Traffic",
            severity: kind.severity(),
            detail_key: "baseline",
            detail,
        })),
        action: crate::events::AlertAction::of(p.blocked),
        http: None,
        tls: None,
        dns: None,
    }
}

/// Runs the baseline thread until `stop` is set and the queues are empty; saves the
/// profiles (when a state file is configured) and returns the counters.
pub fn run(
    hub: &BaselineHub,
    mut baseline: Baseline,
    eve: Option<EveQueue>,
    stop: &AtomicBool,
) -> BaselineReport {
    let cfg = baseline.cfg.clone();
    if let Some(path) = &cfg.state_file {
        match baseline.load(path) {
            Ok(n) if n > 0 => {
                info!(profiles = n, file = %path.display(), "baseline profiles loaded")
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                // A file of another version, other filter sizes or cut short: kept aside,
                // not overwritten by the next save, so nothing learned is lost.
                let aside = path.with_extension("unloaded");
                let kept = std::fs::rename(path, &aside).map_or_else(
                    |r| format!("it could not be moved aside ({r}) and will be replaced"),
                    |()| format!("it is kept as {}", aside.display()),
                );
                warn!(file = %path.display(), "baseline profiles not loaded: {e}; {kept}; learning afresh");
            }
            Err(e) => warn!(file = %path.display(), "baseline profiles not loaded: {e}"),
        }
    }
    if let Some(s) = baseline.take_snapshot() {
        hub.publish(s);
    }
    let save_every = (cfg.save_interval_secs * 1e6) as u64;
    let mut last_save = baseline.now_us;
    let mut handled = vec![0u64; hub.queues.len()];
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let mut n = 0;
        for (w, q) in hub.queues.iter().enumerate() {
            while let Some(o) = q.pop() {
                for (p, host, s) in baseline.observe(&o) {
                    let server = baseline.roles.server(host);
                    if let Some(eve) = &eve {
                        eve.push(EveEvent::Alert(alert(&p, host, s, server)));
                    }
                }
                handled[w] += 1;
                n += 1;
            }
        }
        if let Some(s) = baseline.take_snapshot() {
            hub.publish(s);
        }
        for (w, c) in handled.iter().enumerate() {
            hub.processed[w].store(*c, Ordering::Release);
        }
        while let Some((request, reply)) = hub.requests.pop() {
            let _ = reply.try_send(baseline.control(&request));
        }
        if let Some(path) = &cfg.state_file {
            if save_every > 0 && baseline.now_us >= last_save.saturating_add(save_every) {
                if last_save > 0 {
                    if let Err(e) = baseline.save(path) {
                        baseline.report.state_save_failures += 1;
                        warn!(file = %path.display(), "saving baseline profiles: {e}");
                    }
                }
                last_save = baseline.now_us;
            }
        }
        if n == 0 {
            if stopping {
                break;
            }
            if hub.lockstep {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    if let Some(path) = &cfg.state_file {
        if let Err(e) = baseline.save(path) {
            baseline.report.state_save_failures += 1;
            baseline.report.state_save_error = Some(format!("{}: {e}", path.display()));
        }
    }
    let mut report = baseline.report.clone();
    report.hosts = baseline.len() as u64;
    report.dropped = hub.dropped.load(Ordering::Relaxed);
    report.profile_bytes = baseline.heap_bytes() as u64;
    report
}

/// The hub and the thread's state for `cfg`, with `hosts`, servers and enforced hosts
/// resolved through the rule variables.
pub fn prepare(
    cfg: &BaselineConfig,
    vars: &crate::rules::Vars,
    workers: usize,
) -> Result<(Arc<BaselineHub>, Baseline), String> {
    cfg.validate().map_err(|e| e.to_string())?;
    let hosts = vars
        .address(&cfg.hosts)
        .map_err(|e| format!("baseline.hosts: {e}"))?;
    let list = |key: &str, items: &[String]| -> Result<Option<AddrSpec>, String> {
        if items.is_empty() {
            return Ok(None);
        }
        vars.address(&format!("[{}]", items.join(",")))
            .map(Some)
            .map_err(|e| format!("baseline.{key}: {e}"))
    };
    let roles = Roles {
        hosts: hosts.clone(),
        servers: list("servers", &cfg.servers)?,
        enforce: list("enforce", &cfg.enforce)?,
    };
    Ok((
        BaselineHub::new(workers, cfg, hosts),
        Baseline::new(cfg.clone(), roles),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::NameBuf;
    use crate::decode::IpProto;

    fn packet(src: &str, dst: &str, dport: u16, ts_us: u64) -> PacketRef {
        PacketRef {
            packet: crate::events::PacketFields {
                ts_us,
                flow_id: 1,
                port: 0,
                src: (src.parse().unwrap(), 40000),
                dst: (dst.parse().unwrap(), dport),
                proto: IpProto::TCP,
                pcap_cnt: None,
            },
            blocked: false,
        }
    }

    fn baseline(cfg: BaselineConfig) -> (Arc<BaselineHub>, Baseline) {
        prepare(&cfg, &crate::rules::Vars::default(), 1).unwrap()
    }

    #[test]
    fn the_snapshot_holds_enforced_hosts_and_blocks_what_they_never_did() {
        let cfg = BaselineConfig {
            enabled: true,
            learning_secs: 10.0,
            enforce: vec!["10.0.0.5".into()],
            ..BaselineConfig::default()
        };
        let (_, mut b) = baseline(cfg);
        b.observe(&Observation::Connection(packet(
            "10.0.0.5", "10.0.0.9", 5432, 1,
        )));
        b.observe(&Observation::Connection(packet(
            "10.0.0.6", "1.1.1.1", 443, 1,
        )));
        let s = b
            .take_snapshot()
            .expect("the enforced host's filter changed");
        assert_eq!(s.len(), 1);
        let (src, db, evil) = (
            "10.0.0.5".parse().unwrap(),
            "10.0.0.9".parse().unwrap(),
            "10.10.10.31".parse().unwrap(),
        );
        assert!(
            !s.blocks_connection(src, evil, 9001, IpProto::TCP, 5_000_000),
            "still learning"
        );
        assert!(s.blocks_connection(src, evil, 9001, IpProto::TCP, 11_000_000));
        assert!(!s.blocks_connection(src, db, 5432, IpProto::TCP, 11_000_000));
        assert!(
            !s.blocks_query(src, b"x.example.com", 11_000_000),
            "domains not dropped by default"
        );
        assert!(b.take_snapshot().is_none(), "nothing changed since");
    }

    #[test]
    fn alerts_explain_the_signal_and_saved_profiles_load_back() {
        let cfg = BaselineConfig {
            enabled: true,
            learning_secs: 0.0,
            servers: vec!["10.0.0.0/24".into()],
            ..BaselineConfig::default()
        };
        let (_, mut b) = baseline(cfg.clone());
        let q = Observation::Dns {
            packet: packet("10.0.0.5", "10.0.0.53", 53, 5),
            response: false,
            rcode: 0,
            qtype: 1,
            name: NameBuf::new(b"www.example.org"),
        };
        let alerts = b.observe(&q);
        assert_eq!(alerts.len(), 1);
        let (p, host, s) = alerts.into_iter().next().unwrap();
        let e = alert(&p, host, s, true);
        let AlertSource::Builtin(bi) = &e.source else {
            panic!("builtin");
        };
        assert_eq!(bi.sid, 9_200_001);
        assert_eq!(bi.detail["signal"], "new_domain");
        assert_eq!(bi.detail["observed"]["registered_domain"], "example.org");
        assert_eq!(bi.detail["role"], "server");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profiles.bin");
        b.save(&path).unwrap();
        let (_, mut again) = baseline(cfg);
        assert_eq!(again.load(&path).unwrap(), 1);
        assert!(
            again.observe(&q).is_empty(),
            "the loaded profile knows the domain"
        );
        std::fs::write(&path, b"garbage!").unwrap();
        assert!(again.load(&path).is_err());
    }

    #[test]
    fn the_host_cap_holds() {
        let cfg = BaselineConfig {
            enabled: true,
            max_hosts: 2,
            ..BaselineConfig::default()
        };
        let (_, mut b) = baseline(cfg);
        for i in 1..=5 {
            let src = format!("10.0.0.{i}");
            b.observe(&Observation::Connection(packet(&src, "1.1.1.1", 443, 1)));
        }
        assert_eq!(b.len(), 2);
        assert_eq!(b.report.hosts_untracked, 3);
    }

    #[test]
    fn control_shows_and_resets_profiles() {
        let (_, mut b) = baseline(BaselineConfig {
            enabled: true,
            ..BaselineConfig::default()
        });
        b.observe(&Observation::Connection(packet(
            "10.0.0.1", "1.1.1.1", 443, 1,
        )));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let shown = b.control(&ControlRequest::Show(ip));
        assert_eq!(shown["profile"]["connections"], 1);
        assert_eq!(shown["profile"]["role"], "client");
        assert_eq!(b.control(&ControlRequest::Reset(ip))["ok"], true);
        assert_eq!(b.control(&ControlRequest::Show(ip))["ok"], false);
    }
}
