//! DNS on the real binary: `dns.query` rules (dotprefix, endswith, bsize, rrtype),
//! domain lists in every format with their actions (forged NXDOMAIN, NODATA and sinkhole
//! answers out of the ingress port, drops, TCP resets, allow entries, log-only lists),
//! detection alerting only, the answer watchlist, TCP framing, the shared DNS captures, and
//! the shipped rules on the iodine and dns2tcp tunnels.

// A test fails by panicking: unwrap, expect and panic are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RData;
use hickory_proto::serialize::binary::BinDecodable;
use testkit::dns::{message, tcp, udp};
use testkit::files::{eve_events, rules_file, shared};
use testkit::pcap;
use testkit::process::{replay, Finished};

const SENSOR: &str = env!("CARGO_BIN_EXE_sensor");

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    udp(
        ip("10.0.0.5"),
        40000 + id,
        ip("10.0.0.53"),
        53,
        &[],
        &message(id, false, 0, name, qtype, &[], 0),
    )
}

/// Writes the lists used below into `dir`; returns the `--lists` arguments and `--set`s.
fn lists(dir: &Path) -> Vec<String> {
    let write = |name: &str, text: &str| -> String {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let mut args = Vec::new();
    for (file, text) in [
        ("block.txt", "# plain list\nblocked.test\n"),
        ("allow.txt", "||ok.blocked.test^\n"),
        ("sink.hosts", "0.0.0.0 sink.test\n"),
        ("drop.txt", "drop.test\n"),
        ("logged.txt", "logged.test\n"),
        (
            "policy.rpz",
            "$TTL 60\n$ORIGIN rpz.local.\n@ SOA ns.rpz.local. admin.rpz.local. 1 3600 600 86400 60\n\
             nx.rpz.test CNAME .\n*.wild.rpz.test CNAME *.\n",
        ),
    ] {
        args.push("--lists".to_owned());
        args.push(write(file, text));
    }
    for set in [
        "lists.allow.action=\"allow\"",
        "lists.sink.action=\"sinkhole\"",
        "lists.sink.sinkhole_v4=\"10.66.66.66\"",
        "lists.sink.sinkhole_v6=\"fd00::66\"",
        "lists.drop.action=\"drop\"",
        "lists.logged.log_only=true",
    ] {
        args.push("--set".to_owned());
        args.push(set.to_owned());
    }
    args
}

fn run(
    dir: &Path,
    input: &Path,
    mode: &str,
    extra: &[String],
) -> (Finished, PathBuf, PathBuf, PathBuf) {
    let (out, replies, eve) = (
        dir.join("out.pcap"),
        dir.join("replies.pcap"),
        dir.join("eve.json"),
    );
    let mut args: Vec<String> = vec![
        "--reply-out".into(),
        replies.to_string_lossy().into_owned(),
        "--eve".into(),
        eve.to_string_lossy().into_owned(),
    ];
    args.extend_from_slice(extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (replay(SENSOR, input, mode, &out, &args), out, replies, eve)
}

/// The DNS message, addresses, ports and VLAN count of a UDP frame.
fn dns_of(frame: &[u8]) -> (Message, IpAddr, u16, IpAddr, u16, usize) {
    let s = SlicedPacket::from_ethernet(frame).unwrap();
    let (src, dst) = match &s.net {
        Some(NetSlice::Ipv4(v4)) => (
            IpAddr::from(v4.header().source()),
            IpAddr::from(v4.header().destination()),
        ),
        Some(NetSlice::Ipv6(v6)) => (
            IpAddr::from(v6.header().source()),
            IpAddr::from(v6.header().destination()),
        ),
        None => panic!("not IP"),
    };
    let Some(TransportSlice::Udp(u)) = &s.transport else {
        panic!("not UDP")
    };
    let vlans = match &s.vlan {
        Some(etherparse::VlanSlice::SingleVlan(_)) => 1,
        Some(etherparse::VlanSlice::DoubleVlan(_)) => 2,
        None => 0,
    };
    (
        Message::from_bytes(u.payload()).unwrap(),
        src,
        u.source_port(),
        dst,
        u.destination_port(),
        vlans,
    )
}

fn list_traffic() -> Vec<Vec<u8>> {
    let client6 = ip("fd00::5");
    let resolver6 = ip("fd00::53");
    let mut frames = vec![
        query(1, "www.Blocked.test", 1), // 1 nxdomain
        udp(
            client6,
            40002,
            resolver6,
            53,
            &[7],
            &message(2, false, 0, "x.sink.test", 28, &[], 0),
        ), // 2 sinkhole v6, VLAN
        query(3, "drop.test", 1),        // 3 dropped
        query(4, "notblocked.test", 1),  // 4 forwarded
        query(5, "a.ok.blocked.test", 1), // 5 allowed
        query(6, "logged.test", 1),      // 6 log only
        query(7, "nx.rpz.test", 1),      // 7 nxdomain (rpz)
        query(8, "a.wild.rpz.test", 1),  // 8 nodata (rpz)
        query(9, "wild.rpz.test", 1),    // 9 forwarded
        query(10, "sink.test", 1),       // 10 sinkhole v4
    ];
    // 11-14: a DNS query over TCP for a blocked name, after the handshake.
    let (c, s) = (ip("10.0.0.5"), ip("10.0.0.53"));
    let msg = message(11, false, 0, "tcp.blocked.test", 1, &[], 0);
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&msg);
    frames.push(tcp((c, 45000), (s, 53), 100, 0, "S", &[]));
    frames.push(tcp((s, 53), (c, 45000), 500, 101, "SA", &[]));
    frames.push(tcp((c, 45000), (s, 53), 101, 501, "A", &[]));
    frames.push(tcp((c, 45000), (s, 53), 101, 501, "PA", &framed));
    frames
}

#[test]
fn list_actions_in_prevention_answer_drop_reset_and_allow() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("dns.pcap");
    let frames = list_traffic();
    pcap::write(&input, &frames);
    let (run, out, replies, eve) = run(dir.path(), &input, "prevention", &lists(dir.path()));
    let stats = run.final_stats();
    let forwarded = pcap::read(&out);
    let expect: Vec<Vec<u8>> = [4, 5, 6, 9, 11, 12, 13]
        .iter()
        .map(|&i| frames[i - 1].clone())
        .collect();
    assert_eq!(
        forwarded[..expect.len()],
        expect,
        "only the allowed queries and the TCP handshake go through"
    );
    let reset = SlicedPacket::from_ethernet(&forwarded[expect.len()]).unwrap();
    assert!(
        matches!(&reset.transport, Some(TransportSlice::Tcp(t)) if t.rst() && t.destination_port() == 53),
        "then the reset toward the server"
    );
    assert_eq!(forwarded.len(), expect.len() + 1);

    let replies = pcap::read(&replies);
    let udp_replies: Vec<_> = replies
        .iter()
        .filter(|f| {
            SlicedPacket::from_ethernet(f)
                .is_ok_and(|s| matches!(s.transport, Some(TransportSlice::Udp(_))))
        })
        .collect();
    let resets = replies.len() - udp_replies.len();
    assert_eq!(
        resets, 1,
        "the TCP query is reset toward the client (the server's reset goes out the other port)"
    );
    let answers: Vec<_> = udp_replies.iter().map(|f| dns_of(f)).collect();
    let by_id = |id: u16| {
        answers
            .iter()
            .find(|a| a.0.id() == id)
            .unwrap_or_else(|| panic!("no answer to query {id}"))
    };
    let (nx, src, sport, dst, dport, _) = by_id(1);
    assert_eq!(nx.response_code(), ResponseCode::NXDomain);
    assert_eq!(
        nx.queries()[0].name().to_ascii(),
        "www.Blocked.test.",
        "the question is copied as asked"
    );
    assert!(nx.recursion_available() && nx.answers().is_empty());
    assert_eq!(
        (*src, *sport, *dst, *dport),
        (ip("10.0.0.53"), 53, ip("10.0.0.5"), 40001)
    );
    let (sink6, src, _, _, _, vlans) = by_id(2);
    assert_eq!(
        (*src, *vlans),
        (ip("fd00::53"), 1),
        "IPv6 answer keeps the VLAN tag"
    );
    assert_eq!(
        sink6.answers()[0].data(),
        Some(&RData::AAAA(
            "fd00::66".parse::<std::net::Ipv6Addr>().unwrap().into()
        ))
    );
    let (sink4, ..) = by_id(10);
    assert_eq!(
        sink4.answers()[0].data(),
        Some(&RData::A(
            "10.66.66.66".parse::<std::net::Ipv4Addr>().unwrap().into()
        ))
    );
    assert_eq!(by_id(7).0.response_code(), ResponseCode::NXDomain);
    let (nodata, ..) = by_id(8);
    assert_eq!(
        (nodata.response_code(), nodata.answers().len()),
        (ResponseCode::NoError, 0)
    );
    assert_eq!(
        answers.len(),
        5,
        "no answer for the dropped or allowed queries"
    );

    let alerts = eve_events(&eve, "alert");
    let listed: Vec<(String, String, String)> = alerts
        .iter()
        .map(|a| {
            assert_eq!(a["alert"]["signature_id"], 9100001);
            (
                a["dns_list"]["list"].as_str().unwrap().to_owned(),
                a["dns"]["query"][0]["rrname"].as_str().unwrap().to_owned(),
                a["alert"]["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("block", "www.blocked.test", "blocked"),
        ("sink", "x.sink.test", "blocked"),
        ("drop", "drop.test", "blocked"),
        ("logged", "logged.test", "allowed"),
        ("policy", "nx.rpz.test", "blocked"),
        ("policy", "a.wild.rpz.test", "blocked"),
        ("sink", "sink.test", "blocked"),
        ("block", "tcp.blocked.test", "blocked"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(listed, expected);
    assert_eq!(stats["engine"]["dns_answers_forged"], 5);
    assert_eq!(stats["engine"]["dns_list_allowed"], 1);
}

#[test]
fn detection_alerts_on_listed_names_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("dns.pcap");
    pcap::write(&input, &list_traffic());
    let (run, _, replies, eve) = run(dir.path(), &input, "detection", &lists(dir.path()));
    assert!(pcap::read(&replies).is_empty());
    let alerts = eve_events(&eve, "alert");
    assert_eq!(alerts.len(), 8);
    assert!(alerts.iter().all(|a| a["alert"]["action"] == "allowed"));
    assert_eq!(run.final_stats()["engine"]["verdict_drops"], 0);
}

#[test]
fn answers_for_a_listed_name_are_watched_for_their_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("watch.txt");
    std::fs::write(&list, "c2.test\n").unwrap();
    let (client, resolver, other, c2) = (
        ip("10.0.0.5"),
        ip("10.0.0.53"),
        ip("10.0.0.9"),
        ip("192.0.2.99"),
    );
    let t0 = 1_700_000_000_000_000u64;
    let frames = vec![
        (
            t0,
            udp(
                client,
                40000,
                resolver,
                53,
                &[],
                &message(1, false, 0, "beacon.c2.test", 1, &[], 0),
            ),
        ),
        (
            t0 + 1_000,
            udp(
                resolver,
                53,
                client,
                40000,
                &[],
                &message(1, true, 0, "beacon.c2.test", 1, &[c2], 300),
            ),
        ),
        // Another host (resolved some other way) connects within the TTL...
        (
            t0 + 5_000_000,
            tcp((other, 50000), (c2, 443), 1, 0, "S", &[]),
        ),
        // ...and again after it expired.
        (
            t0 + 400_000_000,
            tcp((other, 50001), (c2, 443), 1, 0, "S", &[]),
        ),
    ];
    let input = dir.path().join("watch.pcap");
    pcap::write_timed(&input, &frames);
    let args: Vec<String> = [
        "--lists",
        list.to_str().unwrap(),
        "--set",
        "lists.watch.action=\"alert\"",
        "--set",
        "dns.watch_drop=true",
    ]
    .map(String::from)
    .to_vec();
    let (run, out, _, eve) = run(dir.path(), &input, "prevention", &args);
    let alerts = eve_events(&eve, "alert");
    let watch: Vec<_> = alerts
        .iter()
        .filter(|a| a["alert"]["signature_id"] == 9100002)
        .collect();
    assert_eq!(watch.len(), 1, "{alerts:?}");
    assert_eq!(watch[0]["src_ip"], "10.0.0.9");
    assert_eq!(watch[0]["dns_watch"]["name"], "beacon.c2.test");
    assert_eq!(watch[0]["dns_watch"]["origin"], "list watch");
    assert_eq!(watch[0]["alert"]["action"], "blocked");
    let forwarded = pcap::read(&out);
    assert_eq!(
        forwarded.len(),
        3,
        "the watched connection is dropped; the expired one is not"
    );
    assert_eq!(run.final_stats()["engine"]["watched_addresses"], 1);
}

#[test]
fn dns_query_rules_match_names_with_dotprefix_endswith_bsize_and_rrtype() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(
        dir.path(),
        "dns",
        "alert dns $HOME_NET any -> any any (msg:\"evil domain\"; dns.query; dotprefix; content:\".evil.com\"; nocase; endswith; sid:1000010; rev:1;)\n\
         alert dns any any -> any 53 (msg:\"legacy\"; dns_query; content:\"tunnel\"; sid:1000011; rev:1;)\n\
         alert dns any any -> any any (msg:\"byte suffix\"; dns.query; content:\"bad.org\"; endswith; sid:1000012; rev:1;)\n\
         alert dns any any -> any any (msg:\"exact\"; dns.query; content:\"exact.net\"; nocase; bsize:9; sid:1000013; rev:1;)\n\
         alert dns any any -> any any (msg:\"txt\"; dns.rrtype:TXT; sid:1000014; rev:1;)\n",
    );
    let names = [
        ("a.evil.com", 1),
        ("notevil.com", 1),
        ("EVIL.COM", 1),
        ("evil.com.example", 1),
        ("x.tunnel.org", 1),
        ("notbad.org", 1),
        ("exact.net", 1),
        ("a.exact.net", 16),
    ];
    let frames: Vec<Vec<u8>> = names
        .iter()
        .enumerate()
        .map(|(i, (n, t))| query(i as u16, n, *t))
        .collect();
    let input = dir.path().join("dns.pcap");
    pcap::write(&input, &frames);
    let (_, _, _, eve) = run(
        dir.path(),
        &input,
        "detection",
        &["--rules".into(), rules.to_string_lossy().into_owned()],
    );
    let hits: Vec<(u64, u64)> = eve_events(&eve, "alert")
        .iter()
        .map(|a| {
            (
                a["pcap_cnt"].as_u64().unwrap(),
                a["alert"]["signature_id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        hits,
        vec![
            (1, 1000010),
            (3, 1000010),
            (5, 1000011),
            (6, 1000012),
            (7, 1000013),
            (8, 1000014)
        ]
    );
}

#[test]
fn tcp_messages_split_across_segments_and_several_per_segment_all_match() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(dir.path(), "dns", "alert dns any any -> any any (msg:\"name\"; dns.query; content:\"target\"; sid:1000020; rev:1;)\n");
    let (c, s) = (ip("10.0.0.5"), ip("10.0.0.53"));
    let mut stream = Vec::new();
    for (id, name) in [
        (1, "one.target.test"),
        (2, "two.target.test"),
        (3, "three.target.test"),
    ] {
        let m = message(id, false, 0, name, 1, &[], 0);
        stream.extend_from_slice(&(m.len() as u16).to_be_bytes());
        stream.extend_from_slice(&m);
    }
    let cut = stream.len() - 10;
    let frames = vec![
        tcp((c, 45000), (s, 53), 100, 0, "S", &[]),
        tcp((s, 53), (c, 45000), 500, 101, "SA", &[]),
        tcp((c, 45000), (s, 53), 101, 501, "A", &[]),
        tcp((c, 45000), (s, 53), 101, 501, "PA", &stream[..cut]),
        tcp(
            (c, 45000),
            (s, 53),
            101 + cut as u32,
            501,
            "PA",
            &stream[cut..],
        ),
    ];
    let input = dir.path().join("tcp.pcap");
    pcap::write(&input, &frames);
    let (run, _, _, eve) = run(
        dir.path(),
        &input,
        "detection",
        &["--rules".into(), rules.to_string_lossy().into_owned()],
    );
    assert_eq!(run.final_stats()["engine"]["dns_messages"], 3);
    let at: Vec<u64> = eve_events(&eve, "alert")
        .iter()
        .map(|a| a["pcap_cnt"].as_u64().unwrap())
        .collect();
    assert_eq!(
        at,
        vec![4, 5],
        "two messages in the first segment (one alert), the split third in the second"
    );
}

#[test]
fn every_shared_dns_capture_is_processed_and_malformed_ones_counted() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(
        dir.path(),
        "dns",
        "alert dns any any -> any any (msg:\"any name\"; dns.query; content:\".\"; sid:1000012;)\n",
    );
    let mut malformed = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(shared("pcaps")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("dns-") {
            continue;
        }
        let extra: Vec<String> = [
            "--rules",
            rules.to_str().unwrap(),
            "--set",
            "dns.extra_ports=[1053]",
            "--set",
            "eve.dns_events=true",
        ]
        .map(String::from)
        .to_vec();
        let (run, ..) = run(dir.path(), &path, "detection", &extra);
        malformed.insert(
            name,
            run.final_stats()["engine"]["dns_malformed"]
                .as_u64()
                .unwrap(),
        );
    }
    for capture in [
        "dns-malformed-forward-pointer.pcap",
        "dns-malformed-corrupt-additionals.pcap",
        "dns-malformed-truncated-rname.pcap",
    ] {
        assert!(
            malformed[capture] > 0,
            "{capture} counted as malformed: {malformed:?}"
        );
    }
    for (capture, n) in &malformed {
        if !capture.starts_with("dns-malformed") {
            assert_eq!(*n, 0, "{capture} is well-formed");
        }
    }
}

#[test]
fn dns_events_log_queries_and_answers_with_records() {
    let dir = tempfile::tempdir().unwrap();
    let (run, _, _, eve) = run(
        dir.path(),
        &shared("pcaps/dns-udp-nxdomain-soa.pcap"),
        "detection",
        &[
            "--set".into(),
            "eve.dns_events=true".into(),
            "--lists".into(),
            {
                let p = dir.path().join("none.txt");
                std::fs::write(&p, "nothing.invalid\n").unwrap();
                p.to_string_lossy().into_owned()
            },
        ],
    );
    let events = eve_events(&eve, "dns");
    assert_eq!(
        events.len() as u64,
        run.final_stats()["engine"]["dns_events"].as_u64().unwrap()
    );
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["dns"]["type"], "query");
    assert_eq!(events[1]["dns"]["type"], "answer");
    assert_eq!(events[1]["dns"]["rcode"], "NXDOMAIN");
    assert_eq!(events[1]["dns"]["version"], 2);
}

#[test]
fn shipped_rules_flag_the_iodine_and_dns2tcp_tunnels() {
    let rules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules");
    for (capture, expected) in [
        (
            "dns-tunnel-iodine.pcap",
            [9000100u64, 9000101, 9000102].as_slice(),
        ),
        (
            "dns-tunnel-dns2tcp.pcap",
            &[9000101, 9000102, 9000103, 9000104],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (_, _, _, eve) = run(
            dir.path(),
            &shared(&format!("pcaps/{capture}")),
            "detection",
            &["--rules".into(), rules.to_string_lossy().into_owned()],
        );
        let mut sids: Vec<u64> = eve_events(&eve, "alert")
            .iter()
            .map(|a| a["alert"]["signature_id"].as_u64().unwrap())
            .collect();
        sids.sort_unstable();
        sids.dedup();
        assert_eq!(sids, expected, "{capture}");
    }
}
