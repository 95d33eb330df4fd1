//! TCP reassembly under any segment order: the fuzzer picks a payload, a segment size, an
//! order (with repeats: data sent again) and a memory cap. Delivered in-order bytes must
//! always be a prefix of the payload (never other bytes, never twice); with room to hold
//! everything they must be the whole payload; held memory never passes the cap.
#![no_main]

use sensor::flow::stream::{Held, Reassembler, StreamConfig, StreamDir};
use sensor::flow::Segment;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (ctl, payload) = data.split_at(8);
    let size = usize::from(ctl[0] % 16) + 1;
    let isn = u32::from_le_bytes([ctl[1], ctl[2], ctl[3], ctl[4]]);
    let key = u64::from(ctl[5]) << 8 | u64::from(ctl[6]);
    let memcap = if ctl[7] & 1 == 0 { 1 << 30 } else { 256 + usize::from(ctl[7]) * 4 };
    let mut r = Reassembler::new(StreamConfig {
        memcap,
        ..StreamConfig::default()
    });
    let (mut dir, mut held, mut out) = (StreamDir::default(), Vec::<Held>::new(), Vec::new());
    let syn = Segment {
        seq: isn,
        syn: true,
        payload: &[],
    };
    r.take(&mut dir, &mut held, syn, 64, &mut out);
    let chunks: Vec<(usize, &[u8])> = payload.chunks(size).enumerate().collect();
    let mut order: Vec<usize> = (0..chunks.len()).chain(0..chunks.len() / 3).collect();
    order.sort_by_key(|&i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ key);
    let mut delivered = Vec::new();
    for i in order {
        let (n, bytes) = chunks[i];
        let seg = Segment {
            seq: isn.wrapping_add(1).wrapping_add((n * size) as u32),
            syn: false,
            payload: bytes,
        };
        let t = r.take(&mut dir, &mut held, seg, 64, &mut out);
        assert!(!t.conflict, "the same bytes sent again are no conflict");
        delivered.extend_from_slice(&out[t.seen..t.seen + t.new]);
        assert!(r.counters.memuse as usize <= memcap);
    }
    assert_eq!(delivered, payload[..delivered.len()]);
    if memcap == 1 << 30 {
        assert_eq!(delivered, payload);
        assert_eq!(r.counters.memuse, 0);
    }
});
