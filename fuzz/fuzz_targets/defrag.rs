//! IPv4 defragmentation under any fragment order: the fuzzer picks a payload, a fragment
//! size, an order (with repeats) and a memory cap. When the datagram completes it must
//! be the original payload; held memory never passes the cap.
#![no_main]

use sensor::decode::decode;
use sensor::defrag::{Defrag, DefragConfig, Outcome};

/// An Ethernet + IPv4 fragment (protocol 253, experimental) of datagram `id` carrying
/// `data` at byte `offset`.
fn fragment(id: u16, offset: usize, data: &[u8], more: bool) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
    let total = (20 + data.len()) as u16;
    let flags = if more { 0x2000 } else { 0 } | (offset / 8) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(&flags.to_be_bytes());
    f.extend_from_slice(&[64, 253, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(data);
    f
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let (ctl, payload) = data.split_at(4);
    let size = 8 * (usize::from(ctl[0] % 8) + 1);
    let key = u64::from(ctl[1]);
    let memcap = if ctl[2] & 1 == 0 { 1 << 30 } else { 65_536 };
    let mut d = Defrag::new(DefragConfig {
        memcap,
        ..DefragConfig::default()
    });
    let chunks: Vec<(usize, &[u8])> = payload.chunks(size).enumerate().collect();
    let last = chunks.len() - 1;
    let mut order: Vec<usize> = (0..chunks.len()).chain(0..usize::from(ctl[3] % 4)).collect();
    order.sort_by_key(|&i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ key);
    let mut done = false;
    for (t, i) in order.into_iter().enumerate() {
        let (n, bytes) = chunks[i.min(last)];
        let frame = fragment(7, n * size, bytes, n != last);
        let pkt = decode(&frame).expect("a well-formed fragment");
        let Some(frag) = pkt.frag else {
            // A single fragment at offset 0 with no more to come is a whole datagram.
            return;
        };
        let got = d.insert(&pkt, &frag, t as u64);
        assert!(d.counters.memuse as usize <= memcap);
        if got.outcome == Outcome::Complete {
            let whole = decode(d.datagram()).expect("the datagram decodes");
            assert_eq!(whole.payload, payload);
            done = true;
            break;
        }
    }
    assert!(done || memcap != 1 << 30, "every fragment came: the datagram completes");
});
