//! What each rule keyword does to a whole engine's decisions, frame by frame: flow
//! options, stream views (`tcp-pkt`, `tcp-stream`, `only_stream`, `no_stream`), flags,
//! dsize, flowbits, thresholds, action order and the legacy HTTP modifiers.

use super::*;
use crate::rules::{load_text, Loaded, Vars};

const CLIENT: ([u8; 4], u16) = ([10, 1, 1, 1], 40000);
const SERVER: ([u8; 4], u16) = ([10, 2, 2, 2], 80);

/// A TCP segment between the test client and server: `flags` letters (`S`, `A`, `P`,
/// `F`, `R`) at sequence number `seq`.
pub(super) fn tcp(to_server: bool, flags: &str, seq: u32, payload: &[u8]) -> Vec<u8> {
    let (src, dst) = if to_server {
        (CLIENT, SERVER)
    } else {
        (SERVER, CLIENT)
    };
    let mut b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, seq, 65535);
    for c in flags.chars() {
        b = match c {
            'S' => b.syn(),
            'A' => b.ack(1),
            'P' => b.psh(),
            'F' => b.fin(),
            'R' => b.rst(),
            other => panic!("no TCP flag {other:?}"),
        };
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// A UDP datagram from the client to the server's port 9999.
fn udp(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(CLIENT.0, SERVER.0, 64)
        .udp(CLIENT.1, 9999)
        .write(&mut out, payload)
        .unwrap();
    out
}

const REQUEST: &[u8] =
    b"GET /index.html?q=1 HTTP/1.1\r\nHost: WWW.Example.COM\r\nUser-Agent: curl/8.1\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 0\r\n\r\n";

/// A whole conversation: handshake, a request, its response, FIN both ways.
fn conversation() -> Vec<Vec<u8>> {
    let req_end = 101 + REQUEST.len() as u32;
    let resp_end = 501 + RESPONSE.len() as u32;
    vec![
        tcp(true, "S", 100, b""),
        tcp(false, "SA", 500, b""),
        tcp(true, "A", 101, b""),
        tcp(true, "AP", 101, REQUEST),
        tcp(false, "AP", 501, RESPONSE),
        tcp(true, "AF", req_end, b""),
        tcp(false, "AF", resp_end, b""),
    ]
}

/// What one frame did.
#[derive(Debug)]
pub(super) struct Outcome {
    /// Sids that matched (alerting or not), ascending.
    pub(super) sids: Vec<u32>,
    /// Alerts raised.
    pub(super) alerts: u64,
    /// The decision.
    pub(super) verdict: Verdict,
}

/// An engine over `rules`, and the ruleset it runs (for its per-rule hit counters).
pub(super) struct Harness {
    pub(super) engine: Engine,
    ruleset: Arc<Ruleset>,
    hits: Vec<u64>,
    /// The engine's EVE queue, read by the test.
    pub(super) eve: EveQueue,
}

impl Harness {
    pub(super) fn new(rules: &str, mode: Mode) -> Harness {
        Harness::with_config(rules, EngineConfig::standalone(mode))
    }

    pub(super) fn with_config(rules: &str, config: EngineConfig) -> Harness {
        let mut loaded = Loaded::default();
        load_text(rules, "k.rules", &Vars::default(), &mut loaded);
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        let ruleset = Arc::new(Ruleset::compile(loaded));
        let eve = EveQueue::standalone(4096);
        let engine = Engine::new(Arc::clone(&ruleset), config, Some(eve.clone()), 0);
        let hits = vec![0; ruleset.rules.len()];
        Harness {
            engine,
            ruleset,
            hits,
            eve,
        }
    }

    /// The `anomaly` events queued so far, by name (other events are discarded).
    pub(super) fn anomalies(&self) -> Vec<&'static str> {
        std::iter::from_fn(|| self.eve.pop())
            .filter_map(|e| match e {
                EveEvent::Anomaly(a) => Some(a.event),
                _ => None,
            })
            .collect()
    }

    /// Decides `frame` at `ts_us`.
    pub(super) fn feed_at(&mut self, frame: &[u8], ts_us: u64) -> Outcome {
        let alerts = self.engine.counters.alerts;
        let ctx = PacketContext {
            port: 0,
            queue: 0,
            ts_us,
            pcap_cnt: None,
        };
        let verdict = self.engine.decide(frame, &ctx).verdict;
        let mut sids = Vec::new();
        for (i, h) in self.ruleset.hits.iter().enumerate() {
            let now = h.load(Ordering::Relaxed);
            if now != self.hits[i] {
                sids.push(self.ruleset.rules[i].sid);
                self.hits[i] = now;
            }
        }
        sids.sort_unstable();
        Outcome {
            sids,
            alerts: self.engine.counters.alerts - alerts,
            verdict,
        }
    }

    /// Decides `frames` a millisecond apart: each one's outcome.
    pub(super) fn feed(&mut self, frames: &[Vec<u8>]) -> Vec<Outcome> {
        frames
            .iter()
            .enumerate()
            .map(|(i, f)| self.feed_at(f, 1_000_000 + 1_000 * i as u64))
            .collect()
    }

    /// The sids each of `frames` matched, in detection mode.
    pub(super) fn sids(rules: &str, frames: &[Vec<u8>]) -> Vec<Vec<u32>> {
        let mut h = Harness::new(rules, Mode::Detection);
        h.feed(frames).into_iter().map(|o| o.sids).collect()
    }
}

#[test]
fn flow_options_follow_direction_and_handshake() {
    let rules = "alert tcp any any -> any any (flow:to_server; sid:1;)\n\
                 alert tcp any any -> any any (flow:to_client; sid:2;)\n\
                 alert tcp any any -> any any (flow:established; sid:3;)\n\
                 alert tcp any any -> any any (flow:not_established; sid:4;)\n\
                 alert tcp any any -> any any (flow:stateless; sid:5;)\n\
                 alert tcp any any -> any any (flow:established,from_server; sid:6;)\n\
                 alert tcp any any -> any any (flow:only_stream; sid:7;)\n\
                 alert tcp any any -> any any (flow:no_stream; sid:8;)";
    let got = Harness::sids(rules, &conversation());
    let want: Vec<Vec<u32>> = vec![
        vec![1, 4, 5, 8],       // SYN
        vec![2, 4, 5, 8],       // SYN-ACK
        vec![1, 3, 5, 8],       // ACK: the handshake is complete
        vec![1, 3, 5, 7, 8],    // request
        vec![2, 3, 5, 6, 7, 8], // response
        vec![1, 3, 5, 8],       // FIN from the client
        vec![2, 4, 5, 8],       // FIN from the server: closed, so no longer established
    ];
    assert_eq!(got, want);
}

#[test]
fn stream_views_decide_whether_a_split_content_matches() {
    let rules = "alert tcp any any -> any 80 (content:\"ABCDEF\"; sid:1;)\n\
                 alert tcp-stream any any -> any 80 (content:\"ABCDEF\"; sid:2;)\n\
                 alert tcp-pkt any any -> any 80 (content:\"ABCDEF\"; sid:3;)\n\
                 alert tcp any any -> any 80 (flow:no_stream; content:\"ABCDEF\"; sid:4;)\n\
                 alert tcp any any -> any 80 (flow:only_stream; content:\"ABCDEF\"; sid:5;)\n\
                 alert tcp-pkt any any -> any 80 (content:\"DEF\"; depth:3; sid:6;)\n\
                 alert tcp-pkt any any -> any 80 (content:\"ABC\"; depth:3; sid:7;)\n\
                 alert tcp any any -> any 80 (content:\"ABC\"; sid:8;)";
    let frames = [tcp(true, "AP", 1, b"ABC"), tcp(true, "AP", 4, b"DEF")];
    let got = Harness::sids(rules, &frames);
    // The stream views see "ABCDEF" on the second segment, and the first segment's "ABC"
    // is not matched again there; the packet views see each segment alone.
    assert_eq!(got, vec![vec![7, 8], vec![1, 2, 5, 6]]);
}

#[test]
fn data_after_a_gap_is_held_not_joined_to_what_came_before() {
    let rules = "alert tcp any any -> any 80 (content:\"ABCDEF\"; sid:1;)";
    // The second segment does not follow the first: it is held until the gap fills.
    let frames = [tcp(true, "AP", 1, b"ABC"), tcp(true, "AP", 9, b"DEF")];
    assert!(Harness::sids(rules, &frames).iter().all(Vec::is_empty));
}

#[test]
fn flags_compare_exactly_unless_told_otherwise() {
    let rules = "alert tcp any any -> any any (flags:S; sid:1;)\n\
                 alert tcp any any -> any any (flags:SA; sid:2;)\n\
                 alert tcp any any -> any any (flags:S+; sid:3;)\n\
                 alert tcp any any -> any any (flags:FP*; sid:4;)\n\
                 alert tcp any any -> any any (flags:!S; sid:5;)\n\
                 alert tcp any any -> any any (tcp.flags:A,P; sid:6;)";
    let got = Harness::sids(rules, &conversation());
    let want: Vec<Vec<u32>> = vec![
        vec![1, 3],    // S
        vec![2, 3],    // SA
        vec![5, 6],    // A
        vec![4, 5, 6], // AP: `A,P` is A with P ignored
        vec![4, 5, 6], // AP
        vec![4, 5],    // AF
        vec![4, 5],    // AF
    ];
    assert_eq!(got, want);
}

#[test]
fn dsize_is_the_segment_size_not_the_stream_window() {
    let rules = "alert tcp any any -> any 80 (dsize:3; sid:1;)\n\
                 alert tcp any any -> any 80 (dsize:>3; sid:2;)\n\
                 alert tcp any any -> any 80 (dsize:0; sid:3;)\n\
                 alert tcp any any -> any 80 (content:\"BC\"; sid:4;)";
    let frames = [
        tcp(true, "A", 1, b""),
        tcp(true, "AP", 1, b"ABC"),
        tcp(true, "AP", 4, b"DEFG"),
    ];
    assert_eq!(
        Harness::sids(rules, &frames),
        vec![vec![3], vec![1, 4], vec![2]]
    );
}

#[test]
fn flowbits_set_test_unset_and_toggle_within_a_flow() {
    let rules = "alert tcp any any -> any 80 (content:\"LOGIN\"; flowbits:set,auth; flowbits:noalert; sid:1;)\n\
                 alert tcp any 80 -> any any (content:\"OK\"; flowbits:isset,auth; sid:2;)\n\
                 alert tcp any 80 -> any any (content:\"OK\"; flowbits:isnotset,auth; sid:3;)\n\
                 alert tcp any any -> any 80 (content:\"LOGOUT\"; flowbits:unset,auth; sid:4;)\n\
                 alert tcp any any -> any 80 (content:\"FLIP\"; flowbits:toggle,auth; flowbits:noalert; sid:5;)\n\
                 alert tcp any 80 -> any any (content:\"OK\"; flowbits:isset,other|auth; sid:6;)";
    let frames = [
        tcp(true, "AP", 1, b"LOGIN"),
        tcp(false, "AP", 1, b"OK"),
        tcp(true, "AP", 6, b"LOGOUT"),
        tcp(false, "AP", 3, b"OK"),
        tcp(true, "AP", 12, b"FLIP"),
        tcp(false, "AP", 5, b"OK"),
    ];
    let mut h = Harness::new(rules, Mode::Detection);
    let got: Vec<(Vec<u32>, u64)> = h
        .feed(&frames)
        .into_iter()
        .map(|o| (o.sids, o.alerts))
        .collect();
    let want: Vec<(Vec<u32>, u64)> = vec![
        (vec![1], 0), // noalert: sets the bit, raises nothing
        (vec![2, 6], 2),
        (vec![4], 1),
        (vec![3], 1),
        (vec![5], 0),
        (vec![2, 6], 2),
    ];
    assert_eq!(got, want);
    // Another flow starts with no bits set.
    let mut other = tcp(false, "AP", 1, b"OK");
    other[33] = 9; // to 10.1.1.9 instead (the engine does not check IPv4 checksums)
    assert_eq!(h.feed_at(&other, 2_000_000).sids, vec![3]);
}

#[test]
fn thresholds_and_detection_filters_count_matches_per_track() {
    let cases = [
        (
            "threshold:type limit, track by_src, count 2, seconds 60;",
            [1, 1, 0, 0, 0, 0, 1],
        ),
        (
            "threshold:type threshold, track by_src, count 3, seconds 60;",
            [0, 0, 1, 0, 0, 1, 0],
        ),
        (
            "threshold:type both, track by_rule, count 2, seconds 60;",
            [0, 1, 0, 0, 0, 0, 0],
        ),
        (
            "detection_filter:track by_dst, count 2, seconds 60;",
            [0, 0, 1, 1, 1, 1, 0],
        ),
    ];
    for (option, want) in cases {
        let rule = format!("alert udp any any -> any 9999 (content:\"x\"; {option} sid:1;)");
        let mut h = Harness::new(&rule, Mode::Detection);
        // Six matches a millisecond apart, then one after the 60-second window.
        let times = [0, 1, 2, 3, 4, 5, 61_000].map(|ms: u64| 1_000_000 + ms * 1_000);
        let got: Vec<u64> = times
            .iter()
            .map(|&t| {
                let o = h.feed_at(&udp(b"x"), t);
                assert_eq!(o.sids, vec![1], "{option}: every packet matches");
                o.alerts
            })
            .collect();
        assert_eq!(got, want, "{option}");
    }
}

#[test]
fn pass_wins_over_drop_and_covers_the_rest_of_the_flow() {
    let rules = "drop tcp any any -> any 80 (content:\"GET\"; sid:1;)\n\
                 pass tcp any any -> any 80 (content:\"index\"; sid:2;)\n\
                 alert tcp any 80 -> any any (content:\"200\"; sid:3;)";
    let mut h = Harness::new(rules, Mode::Prevention);
    let out = h.feed(&conversation());
    assert!(out
        .iter()
        .all(|o| o.verdict == Verdict::Pass && o.alerts == 0));
    // The pass rule is the only one counted; the response would alert, but the flow
    // was passed before it came.
    let sids: Vec<Vec<u32>> = out.into_iter().map(|o| o.sids).collect();
    assert_eq!(sids[3], vec![2]);
    assert!(sids.iter().enumerate().all(|(i, s)| i == 3 || s.is_empty()));
    assert_eq!(h.engine.counters.pass_verdicts, 4);
}

#[test]
fn drop_discards_the_rest_of_the_flow_in_prevention_and_only_alerts_in_detection() {
    let rules = "drop tcp any any -> any 80 (content:\"GET\"; sid:1;)\n\
                 alert tcp any 80 -> any any (content:\"200\"; sid:3;)";
    let mut prevention = Harness::new(rules, Mode::Prevention);
    let verdicts: Vec<Verdict> = prevention
        .feed(&conversation())
        .into_iter()
        .map(|o| o.verdict)
        .collect();
    let (p, d) = (Verdict::Pass, Verdict::Drop);
    assert_eq!(verdicts, vec![p, p, p, d, d, d, d]);
    // Dropped without inspection: the response's rule never ran.
    assert_eq!(prevention.engine.counters.alerts, 1);

    let mut detection = Harness::new(rules, Mode::Detection);
    let out = detection.feed(&conversation());
    assert!(out.iter().all(|o| o.verdict == Verdict::Pass));
    let sids: Vec<Vec<u32>> = out.into_iter().map(|o| o.sids).collect();
    assert_eq!(sids[3..5], [vec![1], vec![3]]);
}

#[test]
fn reject_drops_and_resets_both_ends() {
    let rules = "reject tcp any any -> any 80 (content:\"GET\"; sid:1;)";
    let mut h = Harness::new(rules, Mode::Prevention);
    let frames = conversation();
    let out = h.feed(&frames[..4]);
    assert_eq!(out[3].verdict, Verdict::Drop);
    let mut resets = Vec::new();
    h.engine.drain_replies(&mut |dir, frame| {
        let p = etherparse::SlicedPacket::from_ethernet(frame).unwrap();
        let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
            panic!("a reset is TCP");
        };
        assert!(t.rst());
        resets.push((dir, t.destination_port()));
    });
    resets.sort_by_key(|&(_, port)| port);
    assert_eq!(resets.len(), 2, "one reset to each end");
    assert_eq!(resets[0].1, SERVER.1);
    assert_eq!(resets[1].1, CLIENT.1);
    assert_eq!(h.engine.counters.rejects_sent, 2);
}

#[test]
fn legacy_http_modifiers_match_the_parsed_request() {
    let rules = "alert http any any -> any any (content:\"/index.html\"; http_uri; sid:1;)\n\
                 alert http any any -> any any (content:\"GET\"; http_method; sid:2;)\n\
                 alert http any any -> any any (content:\"www.example.com\"; http_host; sid:3;)\n\
                 alert http any any -> any any (content:\"curl/\"; http_user_agent; sid:4;)\n\
                 alert http any any -> any any (content:\"User-Agent|3a| curl\"; http_header; sid:5;)\n\
                 alert http any any -> any any (content:\"curl\"; http_uri; sid:6;)\n\
                 alert http any any -> any any (content:\"POST\"; http_method; sid:7;)\n\
                 alert http any any -> any any (http.uri; content:\"q=1\"; endswith; sid:9;)";
    let got = Harness::sids(rules, &conversation());
    // Only the request carries these buffers. The host buffer is lowercased as in
    // Suricata (a content in capitals, or with nocase, is rejected when the rule loads).
    assert_eq!(got[3], vec![1, 2, 3, 4, 5, 9]);
    assert!(got.iter().enumerate().all(|(i, s)| i == 3 || s.is_empty()));
}

#[test]
fn ip_only_rules_are_checked_on_the_first_packet_each_way_as_in_suricata() {
    let rules = "alert ip 10.1.1.1 any -> any any (sid:1;)\n\
                 alert tcp any any -> any any (sid:2;)\n\
                 alert tcp any any -> any 80 (sid:3;)\n\
                 alert ip any any -> any any (flow:stateless; sid:4;)\n\
                 alert ip any any -> any any (flowbits:set,x; sid:5;)\n\
                 alert ip any any -> any any (flowbits:isset,x; sid:6;)";
    let got = Harness::sids(rules, &conversation());
    let want: Vec<Vec<u32>> = vec![
        vec![1, 2, 3, 4, 5], // first packet to the server
        vec![2, 4, 5, 6],    // first packet to the client
        vec![3, 4, 6],
        vec![3, 4, 6],
        vec![4, 6],
        vec![3, 4, 6],
        vec![4, 6],
    ];
    assert_eq!(got, want);
}

#[test]
fn a_request_line_cut_by_a_segment_boundary_is_inspected_once_whole() {
    let rules = "alert http any any -> any any (content:\"GET\"; http_method; sid:1;)\n\
                 alert http any any -> any any (http.uri; content:\"/index.html\"; sid:2;)\n\
                 alert http any any -> any any (http.host; content:\"a.example\"; sid:3;)";
    let head = b"GET /ind";
    let rest = b"ex.html HTTP/1.1\r\nHost: a.example\r\n\r\n";
    let next = 1 + head.len() as u32;
    let in_order = [tcp(true, "AP", 1, head), tcp(true, "AP", next, rest)];
    assert_eq!(Harness::sids(rules, &in_order), vec![vec![], vec![1, 2, 3]]);
    // A gap between the two: the second segment is not a request of its own.
    let gap = [tcp(true, "AP", 1, head), tcp(true, "AP", next + 5, rest)];
    assert!(Harness::sids(rules, &gap).iter().all(Vec::is_empty));
}

#[test]
fn a_content_longer_than_the_prefilter_takes_matches_only_whole() {
    // The matcher holds the content's first MAX_PREFILTER_PATTERN bytes; verification
    // the whole of it.
    let long: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let rules = format!(
        "alert udp any any -> any any (content:\"{}\"; sid:1;)",
        String::from_utf8(long.clone()).unwrap()
    );
    let mut prefix_only = long[..600].to_vec();
    prefix_only.extend_from_slice(b"zzzz");
    let mut whole = b"xx".to_vec();
    whole.extend_from_slice(&long);
    assert_eq!(
        Harness::sids(&rules, &[udp(&prefix_only), udp(&whole)]),
        vec![vec![], vec![1]]
    );
}

#[test]
fn a_request_with_a_raw_space_in_its_uri_is_still_inspected() {
    // httparse refuses such a request line; libhtp (Suricata) parses it, so must we.
    let rules =
        "alert tcp any any -> any 80 (http.user_agent; content:\"curl/\"; startswith; sid:1;)\n\
                 alert tcp any any -> any 80 (http.uri; content:\"<span class\"; sid:2;)";
    let request: &[u8] =
        b"GET /q=<span class=\"t\"> HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5.0\r\n\r\n";
    let frames = [
        tcp(true, "S", 100, b""),
        tcp(false, "SA", 500, b""),
        tcp(true, "A", 101, b""),
        tcp(true, "AP", 101, request),
    ];
    assert_eq!(Harness::sids(rules, &frames)[3], vec![1, 2]);
}

/// A TLS session that carries "secret" in every record, then plaintext after the last
/// record: handshake, the client's and server's hellos, the client's first application
/// data, two more application records, then bytes that are no record header.
fn tls_session() -> Vec<Vec<u8>> {
    let hello = testkit::tls::record(22, b"client hello secret");
    let server = testkit::tls::record(22, b"server hello certificate secret");
    let first = testkit::tls::record(23, b"first record secret");
    let second = testkit::tls::record(23, b"ciphertext secret");
    let third = testkit::tls::record(23, b"ciphertext secret too");
    let mut c = 101;
    let mut next = |len: usize| {
        let at = c;
        c += len as u32;
        at
    };
    let (h, f, s2, t) = (
        next(hello.len()),
        next(first.len()),
        next(second.len()),
        next(third.len()),
    );
    vec![
        tcp(true, "S", 100, b""),
        tcp(false, "SA", 500, b""),
        tcp(true, "A", 101, b""),
        tcp(true, "AP", h, &hello),
        tcp(false, "AP", 501, &server),
        tcp(true, "AP", f, &first),
        tcp(true, "AP", s2, &second),
        tcp(
            false,
            "AP",
            501 + server.len() as u32,
            &testkit::tls::record(23, b"reply from the server secret"),
        ),
        tcp(true, "AP", t, &third),
        tcp(true, "AP", c, b"GET /secret HTTP/1.1\r\n\r\n"),
    ]
}

#[test]
fn payload_rules_skip_tls_ciphertext_and_resume_when_the_framing_breaks() {
    let rules = "alert tcp any any -> any any (content:\"secret\"; sid:1;)\n\
                 alert tcp any any -> any any (flow:established; dsize:>20; sid:2;)";
    let mut h = Harness::new(rules, Mode::Detection);
    let got: Vec<Vec<u32>> = h.feed(&tls_session()).into_iter().map(|o| o.sids).collect();
    let want: Vec<Vec<u32>> = vec![
        vec![],
        vec![],
        vec![],
        vec![1, 2], // ClientHello: the handshake is in clear
        vec![1, 2], // the server's hello and certificate
        vec![1, 2], // the segment that starts the application data is still read
        vec![2],    // ciphertext: rules that read no payload still run
        vec![2],
        vec![2],
        vec![1, 2], // no record header where one belongs: inspected again
    ];
    assert_eq!(got, want);
    assert_eq!(h.engine.counters.encrypted_uninspected, 3);
}

#[test]
fn encrypted_payload_inspect_reads_ciphertext_too() {
    let rules = "alert tcp any any -> any any (content:\"secret\"; sid:1;)";
    let config = EngineConfig {
        encrypted_payload: EncryptedPayload::Inspect,
        ..EngineConfig::standalone(Mode::Detection)
    };
    let mut h = Harness::with_config(rules, config);
    let alerts: u64 = h.feed(&tls_session()).iter().map(|o| o.alerts).sum();
    assert_eq!(alerts, 7);
    assert_eq!(h.engine.counters.encrypted_uninspected, 0);
}

#[test]
fn body_buffers_read_the_bodies_of_their_own_direction() {
    // The body rules share file_data's prefilter groups; each still reads its own buffer.
    let rules = "alert tcp any any -> any 80 (http.request_body; content:\"upload\"; sid:1;)\n\
                 alert tcp any 80 -> any any (http.response_body; content:\"download\"; sid:2;)\n\
                 alert tcp any any -> any any (file_data; content:\"upload\"; sid:3;)\n\
                 alert tcp any any -> any any (file_data; content:\"download\"; sid:4;)\n\
                 alert tcp any any -> any any (http.response_body; content:\"upload\"; sid:5;)";
    let request: &[u8] = b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\nupload, please";
    let response: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\ndownload, thanks";
    let frames = [
        tcp(true, "S", 100, b""),
        tcp(false, "SA", 500, b""),
        tcp(true, "A", 101, b""),
        tcp(true, "AP", 101, request),
        tcp(false, "AP", 501, response),
    ];
    let mut h = Harness::new(rules, Mode::Detection);
    let got: Vec<Vec<u32>> = h.feed(&frames).into_iter().map(|o| o.sids).collect();
    assert_eq!(got[3], vec![1, 3]);
    assert_eq!(got[4], vec![2, 4]);
    assert_eq!(h.engine.counters.prefilter_failures, 0);
}

#[test]
fn stream_size_compares_what_each_side_sent_as_suricata_counts_it() {
    // Suricata counts a side's sequence numbers since its SYN: the data and one for the
    // SYN. After the request (77 bytes) the client has sent 78, the server 1.
    let rules = "alert tcp any any -> any any (stream_size:client,>,78; sid:1;)\n\
                 alert tcp any any -> any any (stream_size:client,=,78; sid:2;)\n\
                 alert tcp any any -> any any (stream_size:server,<,5; sid:3;)\n\
                 alert tcp any any -> any any (stream_size:both,>=,2; sid:4;)\n\
                 alert tcp any any -> any any (stream_size:either,!=,1; sid:5;)";
    assert_eq!((REQUEST.len(), RESPONSE.len()), (77, 53));
    let got = Harness::sids(rules, &conversation()[..5]);
    assert_eq!(got[3], [2, 3, 5], "after the request");
    // After the response: the server has sent 54.
    assert_eq!(got[4], [2, 4, 5], "after the response");
}

/// An ICMP (or ICMPv6) message of `kind` and `code` from the client.
fn icmp(v6: bool, kind: u8, code: u8) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut out = Vec::new();
    if v6 {
        let mut src = [0u8; 16];
        src[15] = 1;
        b.ipv6(src, [0xfe; 16], 64)
            .icmpv6(etherparse::Icmpv6Type::Unknown {
                type_u8: kind,
                code_u8: code,
                bytes5to8: [0; 4],
            })
            .write(&mut out, b"ping")
            .unwrap();
    } else {
        b.ipv4(CLIENT.0, SERVER.0, 64)
            .icmpv4(etherparse::Icmpv4Type::Unknown {
                type_u8: kind,
                code_u8: code,
                bytes5to8: [0; 4],
            })
            .write(&mut out, b"ping")
            .unwrap();
    }
    out
}

#[test]
fn itype_and_icode_read_icmp_and_icmpv6_headers() {
    let rules = "alert icmp any any -> any any (itype:8; sid:1;)\n\
                 alert icmp any any -> any any (itype:>7; icode:0; sid:2;)\n\
                 alert icmp any any -> any any (itype:3<>10; sid:3;)\n\
                 alert icmp any any -> any any (icode:3; sid:4;)\n\
                 alert icmp any any -> any any (itype:134; sid:5;)";
    let frames = [icmp(false, 8, 0), icmp(false, 3, 3), icmp(true, 134, 0)];
    assert_eq!(
        Harness::sids(rules, &frames),
        [vec![1, 2, 3], vec![4], vec![2, 5]]
    );
}

#[test]
fn xbits_carry_a_host_s_state_from_one_flow_to_another() {
    // A flow from the client sets the bit for its address; a later flow from the same
    // client (another port) sees it; the bit expires after 10 s.
    let rules = "alert tcp any any -> any any (content:\"login\"; xbits:set,seen,track ip_src,expire 10; noalert; sid:1;)\n\
                 alert tcp any any -> any any (content:\"steal\"; xbits:isset,seen,track ip_src; sid:2;)";
    let mut h = Harness::new(rules, Mode::Detection);
    // Each from its own client port: a new flow.
    let other = |port: u16| {
        let mut out = Vec::new();
        etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(CLIENT.0, SERVER.0, 64)
            .tcp(port, 80, 1, 65535)
            .ack(1)
            .psh()
            .write(&mut out, b"steal")
            .unwrap();
        out
    };
    assert!(h.feed_at(&other(40001), 1_000_000).sids.is_empty());
    assert_eq!(
        h.feed_at(&tcp(true, "AP", 1, b"login"), 2_000_000).sids,
        [1]
    );
    assert_eq!(h.feed_at(&other(40002), 3_000_000).sids, [2]);
    assert!(h.feed_at(&other(40003), 13_000_000).sids.is_empty());
}

#[test]
fn flowint_counts_per_flow_and_compares() {
    // Each "GET" adds one; the third alerts; "reset" sets it back to 0.
    let rules = "alert tcp any any -> any any (content:\"GET\"; flowint:gets,+,1; noalert; sid:1;)\n\
                 alert tcp any any -> any any (content:\"GET\"; flowint:gets,isset; flowint:gets,>=,2; sid:2;)\n\
                 alert tcp any any -> any any (content:\"reset\"; flowint:gets,=,0; noalert; sid:3;)\n\
                 alert tcp any any -> any any (content:\"x\"; flowint:other,notset; sid:4;)";
    let mut seq = 1;
    let mut seg = |p: &[u8]| {
        let f = tcp(true, "AP", seq, p);
        seq += p.len() as u32;
        f
    };
    let frames = [
        seg(b"GET"),
        seg(b"GET"),
        seg(b"GET"),
        seg(b"reset"),
        seg(b"GET"),
        seg(b"x"),
    ];
    // Conditions see the variable as earlier packets left it.
    assert_eq!(
        Harness::sids(rules, &frames),
        [vec![1], vec![1], vec![1, 2], vec![3], vec![1], vec![4]]
    );
}
