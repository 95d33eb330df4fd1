//! TLS on the real binary (`sensor replay` over `net_pcap`): suricata-verify's TLS cases
//! with the alerts their `test.yaml` expects, the `tls` object of an alert as Suricata
//! writes it, and JA3/JA3S as Suricata 7.0.10 computed them on the same captures.

// A test fails by panicking: unwrap, expect and panic are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use testkit::files::{eve_events, rules_file, shared};
use testkit::process::{replay, Finished};

const SENSOR: &str = env!("CARGO_BIN_EXE_sensor");

/// Replays `pcap` in detection with `rules` and `extra` arguments: the run and its EVE
/// file.
fn detect(dir: &Path, pcap: &Path, rules: &Path, extra: &[&str]) -> (Finished, PathBuf) {
    let eve = dir.join("eve.json");
    let mut args = vec![
        "--rules",
        rules.to_str().unwrap(),
        "--eve",
        eve.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let run = replay(SENSOR, pcap, "detection", &dir.join("out.pcap"), &args);
    (run, eve)
}

/// Replays `pcap` in detection with `rules`: the run and its EVE alerts.
fn alerts(dir: &Path, pcap: &Path, rules: &Path) -> (Finished, Vec<serde_json::Value>) {
    let (run, eve) = detect(dir, pcap, rules, &[]);
    (run, eve_events(&eve, "alert"))
}

/// The alert counts a suricata-verify `test.yaml` expects: (signature id, count) for
/// each filter on `alert.signature_id`.
fn expected_counts(yaml: &str) -> Vec<(u64, usize)> {
    let mut out = Vec::new();
    let mut count = None;
    for line in yaml.lines().map(str::trim) {
        if let Some(c) = line.strip_prefix("count:") {
            count = Some(c.trim().parse().unwrap());
        }
        if let Some(sid) = line.strip_prefix("alert.signature_id:") {
            out.push((sid.trim().parse().unwrap(), count.unwrap()));
        }
    }
    out
}

#[test]
fn suricata_verify_tls_cases_raise_the_alerts_their_test_yaml_expects() {
    // A ClientHello cut over 300-byte segments (tls.sni); a certificate chain matched
    // certificate by certificate (tls.certs); the issuer of four sessions (the legacy
    // tls_cert_issuer); the fingerprint by keyword and by buffer, in mixed case; a
    // subjectAltName behind an SSL 2.0-compatible ClientHello (Glupteba).
    let cases = [
        (
            "tls_tls-client-hello-frag-01",
            "dump_mtu300.pcap",
            "test.rules",
        ),
        ("tls_tls-certs-alert", "input.pcap", "test.rules"),
        ("tls_tls-cert-issuer", "tls.pcap", "tls.rules"),
        ("tls_tls-fingerprint-alert", "input.pcap", "test.rules"),
        ("tls_tls-glupteba", "input.pcap", "test.rules"),
    ];
    for (case, pcap_name, rules) in cases {
        let case_dir = shared(&format!("suricata-verify/{case}"));
        let yaml = std::fs::read_to_string(case_dir.join("test.yaml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (run, got) = alerts(dir.path(), &case_dir.join(pcap_name), &case_dir.join(rules));
        let expected = expected_counts(&yaml);
        assert!(!expected.is_empty(), "{case}");
        for (sid, count) in expected {
            let n = got
                .iter()
                .filter(|a| a["alert"]["signature_id"] == sid)
                .count();
            assert_eq!(n, count, "{case}: sid {sid}");
        }
        assert!(got.iter().all(|a| a["app_proto"] == "tls"), "{case}");
        let tls = &run.final_stats()["engine"]["tls"];
        assert_eq!(tls["parse_errors"], 0, "{case}: {tls}");
    }
}

#[test]
fn an_alert_carries_the_tls_object_suricata_writes() {
    // The Glupteba case's test.yaml lists Suricata's `tls` event for that session.
    let case_dir = shared("suricata-verify/tls_tls-glupteba");
    let dir = tempfile::tempdir().unwrap();
    let (_, got) = alerts(
        dir.path(),
        &case_dir.join("input.pcap"),
        &case_dir.join("test.rules"),
    );
    let tls = &got[0]["tls"];
    assert_eq!(
        tls["fingerprint"],
        "e9:a0:69:50:ba:18:dc:ac:d3:a7:fe:58:22:4a:1f:42:5b:bc:96:b0"
    );
    assert_eq!(tls["issuerdn"], "C=US, O=Let's Encrypt, CN=R3");
    assert_eq!(tls["subject"], "CN=xn--j1ahhq.xn--p1ai");
    assert_eq!(
        tls["serial"],
        "03:DE:23:89:7E:97:FB:86:8E:7C:C5:53:09:FE:AE:D0:AE:20"
    );
    assert_eq!(tls["notbefore"], "2022-12-01T06:47:31");
    assert_eq!(tls["notafter"], "2023-03-01T06:47:30");
    assert_eq!(tls["version"], "TLSv1");
}

#[test]
fn ja3_ja3s_and_dotted_server_names_agree_with_suricata() {
    // Hashes Suricata 7.0.10 logged for these captures (ja3-fingerprints on); its alerts
    // with these rules were the same, one per session.
    let rules = "\
alert tls any any -> any any (ja3.hash; content:\"1fe4c7a3544eb27afec2adfb3a3dbf60\"; sid:11;)
alert tls any any -> any any (ja3s.hash; content:\"5d79edf64e03689ff559a54e9d9487bc\"; sid:12;)
alert tls any any -> any any (ja3.hash; content:\"a64c29923906f2a1be278be1da0714fa\"; sid:13;)
alert tls any any -> any any (ja3s.hash; content:\"a27e76e64afe9199440ad714848966f8\"; sid:14;)
alert tls any any -> any any (ja3.hash; content:\"308b0bd904abbef5e0034a1ff7a78920\"; sid:15;)
alert tls any any -> any any (ja3_hash; content:\"17f35db704ac47c259abb89f8387bbae\"; sid:16;)
alert tls any any -> any any (ja3s.hash; content:\"ccc514751b175866924439bdbb5bba34\"; sid:17;)
alert tls any any -> any any (tls.sni; dotprefix; content:\".google.com\"; endswith; sid:18;)
alert tls any any -> any any (tls_sni; content:\"GOOGLE.com\"; isdataat:!1,relative; nocase; sid:19;)
";
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(dir.path(), "ja3", rules);
    for (case, pcap_name, want) in [
        ("tls_tls-certs-alert", "input.pcap", vec![11, 12]),
        (
            "tls_tls-client-hello-frag-01",
            "dump_mtu300.pcap",
            vec![13, 14, 18, 19],
        ),
        (
            "tls_tls-cert-issuer",
            "tls.pcap",
            vec![15, 15, 15, 15, 16, 17, 17, 17, 17],
        ),
    ] {
        let case_dir = shared(&format!("suricata-verify/{case}"));
        let run_dir = tempfile::tempdir().unwrap();
        let (_, got) = alerts(run_dir.path(), &case_dir.join(pcap_name), &rules);
        let mut sids: Vec<u64> = got
            .iter()
            .map(|a| a["alert"]["signature_id"].as_u64().unwrap())
            .collect();
        sids.sort_unstable();
        assert_eq!(sids, want, "{case}");
    }
}

#[test]
fn a_server_name_on_a_domain_list_is_blocked_in_prevention_and_its_address_watched() {
    // No rules: the list alone. The ClientHello (cut over 300-byte segments) names
    // www.google.com; the list holds google.com. The packet that completes the hello is
    // dropped, the connection reset both ways, and nothing of it after that reaches the
    // server.
    let case_dir = shared("suricata-verify/tls_tls-client-hello-frag-01");
    let input = case_dir.join("dump_mtu300.pcap");
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("block.txt");
    std::fs::write(&list, "google.com\n").unwrap();
    let eve = dir.path().join("eve.json");
    let out = dir.path().join("out.pcap");
    let run = replay(
        SENSOR,
        &input,
        "prevention",
        &out,
        &[
            "--lists",
            list.to_str().unwrap(),
            "--eve",
            eve.to_str().unwrap(),
        ],
    );
    let alerts = eve_events(&eve, "alert");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["alert"]["signature_id"], 9_100_004);
    assert_eq!(a["alert"]["action"], "blocked");
    assert_eq!(a["app_proto"], "tls");
    assert_eq!(a["tls"]["sni"], "www.google.com");
    assert_eq!(a["dns_list"]["entry"], "google.com");
    assert_eq!(a["dns_list"]["seen_in"], "tls.sni");
    let stats = run.final_stats();
    assert_eq!(stats["engine"]["tls"]["sni_list_hits"], 1);
    assert_eq!(stats["engine"]["rejects_sent"], 2);
    assert_eq!(stats["engine"]["watched_addresses"], 1);
    // Forwarded of the capture: the packets before the one completing the hello (the
    // rest of `out` is the sensor's resets).
    let hello_end = a["pcap_cnt"].as_u64().unwrap() as usize;
    let forwarded = testkit::pcap::read(&out);
    let input_frames = testkit::pcap::read(&input);
    let passed: Vec<&Vec<u8>> = forwarded
        .iter()
        .filter(|f| input_frames.contains(f))
        .collect();
    assert_eq!(
        passed,
        input_frames[..hello_end - 1].iter().collect::<Vec<_>>()
    );
}

/// Replays `pcap` with a rule that never matches and `eve.tls_events` on: its `tls`
/// events.
fn tls_events(dir: &Path, pcap: &Path) -> Vec<serde_json::Value> {
    let rules = rules_file(
        dir,
        "none",
        "alert tcp any any -> any any (content:\"-never-\"; sid:1;)\n",
    );
    let (_, eve) = detect(dir, pcap, &rules, &["--set", "eve.tls_events=true"]);
    eve_events(&eve, "tls")
}

#[test]
fn tls_events_carry_what_suricata_logs_ja4_included() {
    // ja4-tls: the JA4 its test.yaml expects. Glupteba: the fields of Suricata's event
    // (from the server's certificate; its SSL 2.0 hello has no server name), the client
    // as source. cert-issuer: one event per session, five, as Suricata's app_layer.flow.tls.
    let dir = tempfile::tempdir().unwrap();
    let ja4 = tls_events(dir.path(), &shared("suricata-verify/ja4-tls/input.pcap"));
    assert_eq!(ja4.len(), 1);
    assert_eq!(ja4[0]["tls"]["ja4"], "t12i1810s1_27d4652c4487_06a4338d0495");

    let dir = tempfile::tempdir().unwrap();
    let g = tls_events(
        dir.path(),
        &shared("suricata-verify/tls_tls-glupteba/input.pcap"),
    );
    assert_eq!(g.len(), 1);
    let e = &g[0];
    assert_eq!(e["src_ip"], "192.168.134.106");
    assert_eq!(e["dest_port"], 443);
    assert_eq!(e["tls"]["issuerdn"], "C=US, O=Let's Encrypt, CN=R3");
    assert_eq!(e["tls"]["version"], "TLSv1");

    let dir = tempfile::tempdir().unwrap();
    let sessions = tls_events(
        dir.path(),
        &shared("suricata-verify/tls_tls-cert-issuer/tls.pcap"),
    );
    assert_eq!(sessions.len(), 5);
    let with_serial = sessions
        .iter()
        .filter(|e| e["tls"]["serial"] == "00:97:E6:47:09:8E:EA:C9:B4")
        .count();
    assert_eq!(with_serial, 4);
}
