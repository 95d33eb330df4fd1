//! Per-host baselines on the real binary: the Log4Shell server's new outbound
//! destinations (alerted, and dropped for an enforced host in prevention), the iodine and
//! dns2tcp tunnels, NXDOMAIN bursts of every DGA family, silence on the benign name sets
//! replayed by many hosts, and profiles saved at exit and loaded at start.

// A test fails by panicking: unwrap, expect and panic are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use etherparse::{SlicedPacket, TransportSlice};
use testkit::dns::{message, udp};
use testkit::files::{eve_events, shared};
use testkit::pcap;
use testkit::process::{replay, Finished};

const SENSOR: &str = env!("CARGO_BIN_EXE_sensor");
const SEC: u64 = 1_000_000;
const NEW_DESTINATION: u64 = 9_200_002;
const NXDOMAIN_BURST: u64 = 9_200_004;
const TUNNEL: u64 = 9_200_005;

fn run(
    input: &Path,
    mode: &str,
    dir: &Path,
    sets: &[&str],
) -> (Finished, Vec<serde_json::Value>, PathBuf) {
    let (out, eve) = (dir.join("out.pcap"), dir.join("eve.json"));
    let mut args = vec![
        "--eve",
        eve.to_str().unwrap(),
        "--set",
        "baseline.enabled=true",
    ];
    for s in sets {
        args.push("--set");
        args.push(s);
    }
    let f = replay(SENSOR, input, mode, &out, &args);
    (f, eve_events(&eve, "alert"), out)
}

fn sid(a: &serde_json::Value) -> u64 {
    a["alert"]["signature_id"].as_u64().unwrap()
}

fn log4shell() -> PathBuf {
    shared("pcaps/log4shell-exploit-chain.pcap")
}

/// The Log4Shell server learns for 5 ms from its first packet: that ends after the
/// attacker's SYN and before the exploit request.
const LOG4SHELL_SERVER: [&str; 2] = [
    "baseline.learning_secs=0.005",
    "baseline.servers=[\"172.16.238.10\"]",
];

#[test]
fn log4shell_new_outbound_destinations_of_the_server_alert_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let (_, alerts, _) = run(&log4shell(), "detection", dir.path(), &LOG4SHELL_SERVER);
    let got: Vec<(u64, String, String)> = alerts
        .iter()
        .map(|a| {
            (
                sid(a),
                a["src_ip"].as_str().unwrap().to_owned(),
                a["baseline"]["observed"]["destination"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let server = "172.16.238.10".to_owned();
    assert_eq!(
        got,
        [
            (
                NEW_DESTINATION,
                server.clone(),
                "172.16.238.11:1389/tcp".to_owned()
            ),
            (
                NEW_DESTINATION,
                server.clone(),
                "172.16.238.11:80/tcp".to_owned()
            ),
            (NEW_DESTINATION, server, "10.10.10.31:9001/tcp".to_owned()),
        ],
        "the LDAP callback, the class fetch and the reverse shell, once each"
    );
    let b = &alerts[0]["baseline"];
    assert_eq!(b["signal"], "new_destination");
    assert_eq!(b["role"], "server");
    assert_eq!(b["baseline"]["destinations_known"], 0);
    assert_eq!(b["observed"]["port_new_to_host"], true);
    assert_eq!(alerts[0]["alert"]["action"], "allowed");
}

fn touches_port(frame: &[u8], port: u16) -> bool {
    match SlicedPacket::from_ethernet(frame)
        .ok()
        .and_then(|p| p.transport)
    {
        Some(TransportSlice::Tcp(t)) => t.source_port() == port || t.destination_port() == port,
        _ => false,
    }
}

#[test]
fn log4shell_in_prevention_an_enforced_server_cannot_reach_new_destinations() {
    let dir = tempfile::tempdir().unwrap();
    let (f, alerts, out) = run(
        &log4shell(),
        "prevention",
        dir.path(),
        &[
            "baseline.learning_secs=0.005",
            "baseline.enforce=[\"172.16.238.10\"]",
        ],
    );
    assert!(!alerts.is_empty());
    assert!(alerts
        .iter()
        .all(|a| sid(a) == NEW_DESTINATION && a["alert"]["action"] == "blocked"));
    let forwarded = pcap::read(&out);
    for port in [1389, 9001] {
        assert!(
            !forwarded.iter().any(|fr| touches_port(fr, port)),
            "nothing of the :{port} flows is forwarded"
        );
    }
    assert!(
        forwarded.iter().any(|fr| touches_port(fr, 8080)),
        "the rest of the capture (the inbound request) is forwarded"
    );
    assert!(
        f.final_stats()["engine"]["baseline_blocked"]
            .as_u64()
            .unwrap()
            >= 3
    );
}

#[test]
fn iodine_and_dns2tcp_alert_as_tunnels() {
    for (capture, host) in [
        ("pcaps/dns-tunnel-iodine.pcap", "10.0.2.30"),
        ("pcaps/dns-tunnel-dns2tcp.pcap", "172.17.0.3"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (_, alerts, _) = run(&shared(capture), "detection", dir.path(), &[]);
        let tunnels: Vec<_> = alerts.iter().filter(|a| sid(a) == TUNNEL).collect();
        assert!(
            !tunnels.is_empty(),
            "{capture}: no tunnel alert in {alerts:?}"
        );
        let b = &tunnels[0]["baseline"];
        assert_eq!(b["host"], host, "{capture}");
        assert!(
            b["observed"]["distinct_names"].as_u64().unwrap() > 30,
            "{capture}: {b}"
        );
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn names(rel: &str) -> Vec<String> {
    let text = std::fs::read_to_string(shared(rel)).unwrap();
    let csv = rel.ends_with(".csv");
    text.lines()
        .skip(usize::from(csv))
        .filter_map(|l| {
            let name = if csv { l.split_once(',')?.1 } else { l };
            let name = name.trim().trim_end_matches('.');
            (!name.is_empty()).then(|| name.to_owned())
        })
        .collect()
}

/// Queries from `host` for `names` one `every` microseconds from `start`, each answered
/// (NXDOMAIN when `nx`, else one A record) by the resolver 10.0.0.53.
fn lookups(
    host: IpAddr,
    names: &[String],
    start: u64,
    every: u64,
    nx: bool,
    out: &mut Vec<(u64, Vec<u8>)>,
) {
    let resolver = ip("10.0.0.53");
    for (i, name) in names.iter().enumerate() {
        let t = start + i as u64 * every;
        let id = (i % 60_000) as u16;
        let sport = 20_000 + id;
        out.push((
            t,
            udp(
                host,
                sport,
                resolver,
                53,
                &[],
                &message(id, false, 0, name, 1, &[], 0),
            ),
        ));
        let (rcode, answers) = if nx {
            (3, vec![])
        } else {
            (0, vec![ip("192.0.2.80")])
        };
        out.push((
            t + 2_000,
            udp(
                resolver,
                53,
                host,
                sport,
                &[],
                &message(id, true, rcode, name, 1, &answers, 300),
            ),
        ));
    }
}

const DGA_FAMILIES: [&str; 9] = [
    "alexa",
    "conficker",
    "cryptolocker",
    "matsnu",
    "pushdo",
    "ramdo",
    "rovnix",
    "tinba",
    "zeus",
];
const HOSTS_PER_FAMILY: usize = 20;

#[test]
fn dga_names_answered_nxdomain_alert_as_bursts_for_every_family() {
    let dir = tempfile::tempdir().unwrap();
    let mut frames = Vec::new();
    let start = 1_700_000_000 * SEC;
    for (f, family) in DGA_FAMILIES.iter().enumerate() {
        let list = names(&format!("domains/dga/{family}_1000.txt"));
        for (h, chunk) in list
            .chunks(list.len() / HOSTS_PER_FAMILY)
            .take(HOSTS_PER_FAMILY)
            .enumerate()
        {
            let host = ip(&format!("10.50.{f}.{}", h + 1));
            // One lookup every 2 s, as a bot cycling through its candidates does.
            lookups(
                host,
                chunk,
                start + h as u64 * 7_000,
                2 * SEC,
                true,
                &mut frames,
            );
        }
    }
    frames.sort_by_key(|(t, _)| *t);
    let input = dir.path().join("dga.pcap");
    pcap::write_timed(&input, &frames);
    let (_, alerts, _) = run(
        &input,
        "detection",
        dir.path(),
        &["baseline.learning_secs=60"],
    );
    assert!(
        alerts.iter().all(|a| sid(a) == NXDOMAIN_BURST),
        "{alerts:?}"
    );
    let mut report = Vec::new();
    for (f, family) in DGA_FAMILIES.iter().enumerate() {
        let prefix = format!("10.50.{f}.");
        let mut hosts: Vec<&str> = alerts
            .iter()
            .filter_map(|a| a["dest_ip"].as_str())
            .filter(|h| h.starts_with(&prefix))
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        let rate = hosts.len() as f64 / HOSTS_PER_FAMILY as f64;
        report.push(format!("{family} {rate:.2}"));
        assert!(
            rate >= 0.9,
            "{family}: {} of {HOSTS_PER_FAMILY} hosts alerted",
            hosts.len()
        );
    }
    eprintln!(
        "DGA detection rate per family (hosts alerted): {}",
        report.join(", ")
    );
    let b = &alerts[0]["baseline"];
    assert_eq!(b["signal"], "nxdomain_burst");
    assert_eq!(b["threshold"]["distinct_registered_domains"], 10);
}

#[test]
fn benign_names_replayed_by_many_hosts_raise_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = names("domains/benign-opendns-top-10k.txt");
    all.extend(names("domains/benign-opendns-random-10k.txt"));
    let plain: Vec<String> = std::fs::read_to_string(shared("domains/tunnel-qnames/plain.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| {
            l.strip_prefix("0,")
                .map(|n| n.trim_end_matches('.').to_owned())
        })
        .collect();
    all.extend(plain);
    let hosts = 200;
    let mut frames = Vec::new();
    let start = 1_700_000_000 * SEC;
    for h in 0..hosts {
        let mine: Vec<String> = all.iter().skip(h).step_by(hosts).cloned().collect();
        let host = ip(&format!("10.60.{}.{}", h / 200, h % 200 + 1));
        // About one lookup every 3 s per host, each answered.
        lookups(
            host,
            &mine,
            start + h as u64 * 13_000,
            3 * SEC,
            false,
            &mut frames,
        );
    }
    frames.sort_by_key(|(t, _)| *t);
    let input = dir.path().join("benign.pcap");
    pcap::write_timed(&input, &frames);
    let (f, alerts, _) = run(
        &input,
        "detection",
        dir.path(),
        &["baseline.learning_secs=60"],
    );
    let stats = f.final_stats();
    let b = &stats["engine"]["baseline"];
    assert_eq!(
        b["hosts"],
        hosts as u64 + 1,
        "every client and the resolver"
    );
    assert_eq!(b["dropped"], 0);
    eprintln!(
        "benign: {} queries from {hosts} hosts, {} alerts",
        all.len(),
        alerts.len()
    );
    assert!(alerts.is_empty(), "false alerts: {alerts:?}");
}

fn alert_keys(alerts: &[serde_json::Value]) -> Vec<(u64, String, String, String)> {
    alerts
        .iter()
        .map(|a| {
            (
                sid(a),
                a["timestamp"].as_str().unwrap().to_owned(),
                a["src_ip"].as_str().unwrap().to_owned(),
                a["dest_ip"].to_string(),
            )
        })
        .collect()
}

#[test]
fn profiles_saved_at_exit_carry_a_restart_mid_capture() {
    let dir = tempfile::tempdir().unwrap();
    let frames = pcap::read_timed(&log4shell());
    // Split after the first exploit chain, before the second exploit request.
    let cut = 200;
    let (first, second) = (
        dir.path().join("first.pcap"),
        dir.path().join("second.pcap"),
    );
    pcap::write_timed(&first, &frames[..cut]);
    pcap::write_timed(&second, &frames[cut..]);
    let state = dir.path().join("profiles.bin");
    let with_state = format!("baseline.state_file=\"{}\"", state.display());
    let sets = [
        LOG4SHELL_SERVER[0],
        LOG4SHELL_SERVER[1],
        with_state.as_str(),
    ];

    let whole = tempfile::tempdir().unwrap();
    let (_, uninterrupted, _) = run(&log4shell(), "detection", whole.path(), &LOG4SHELL_SERVER);
    let a = tempfile::tempdir().unwrap();
    let (_, before, _) = run(&first, "detection", a.path(), &sets);
    assert!(state.exists(), "saved at exit");
    let b = tempfile::tempdir().unwrap();
    let (_, after, _) = run(&second, "detection", b.path(), &sets);
    let mut resumed = before.clone();
    resumed.extend(after);
    assert_eq!(alert_keys(&resumed), alert_keys(&uninterrupted));

    // Without the saved profiles the second half relearns and alerts again: the file is
    // what carries the baseline.
    let c = tempfile::tempdir().unwrap();
    let (_, fresh, _) = run(&second, "detection", c.path(), &LOG4SHELL_SERVER);
    assert!(!fresh.is_empty());
}

#[test]
fn a_corrupt_state_file_is_reported_and_the_sensor_learns_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("profiles.bin");
    std::fs::write(&state, b"not a baseline file").unwrap();
    let with_state = format!("baseline.state_file=\"{}\"", state.display());
    let (f, alerts, _) = run(
        &log4shell(),
        "detection",
        dir.path(),
        &[LOG4SHELL_SERVER[0], LOG4SHELL_SERVER[1], &with_state],
    );
    assert!(
        f.stderr.contains("baseline profiles not loaded"),
        "{}",
        f.stderr
    );
    assert_eq!(alerts.len(), 3);
}

#[test]
fn a_state_file_of_other_filter_sizes_is_kept_aside_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("profiles.bin");
    let with_state = format!("baseline.state_file=\"{}\"", state.display());
    let (first, _, _) = run(
        &log4shell(),
        "detection",
        dir.path(),
        &[LOG4SHELL_SERVER[0], LOG4SHELL_SERVER[1], &with_state],
    );
    assert!(state.exists(), "{}", first.stderr);
    let saved = std::fs::read(&state).unwrap();
    let (f, alerts, _) = run(
        &log4shell(),
        "detection",
        dir.path(),
        &[
            LOG4SHELL_SERVER[0],
            LOG4SHELL_SERVER[1],
            &with_state,
            "baseline.domain_filter_bytes=4096",
        ],
    );
    assert!(
        f.stderr
            .contains("a filter of 2048 bytes where the configuration asks for 4096"),
        "{}",
        f.stderr
    );
    assert_eq!(alerts.len(), 3, "learned afresh");
    assert_eq!(
        std::fs::read(state.with_extension("unloaded")).unwrap(),
        saved
    );
}

#[test]
fn ipv6_hosts_are_profiled_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut frames = Vec::new();
    let host = ip("fd00::5");
    let resolver = ip("fd00::53");
    let start = 1_700_000_000 * SEC;
    for i in 0..40u64 {
        let name = format!(
            "{:016x}{i:04}.exfil.example",
            i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
        frames.push((
            start + i * SEC,
            udp(
                host,
                30_000,
                resolver,
                53,
                &[],
                &message(i as u16, false, 0, &name, 16, &[], 0),
            ),
        ));
    }
    let input = dir.path().join("v6.pcap");
    pcap::write_timed(&input, &frames);
    let (_, alerts, _) = run(
        &input,
        "detection",
        dir.path(),
        &["baseline.hosts=\"fd00::/8\""],
    );
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(sid(&alerts[0]), TUNNEL);
    assert_eq!(
        alerts[0]["src_ip"], "fd00:0000:0000:0000:0000:0000:0000:0005",
        "Suricata's spelling of an IPv6 address"
    );
}
