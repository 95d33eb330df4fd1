//! Any bytes as a frame: decode and the header fast path must never panic or read out of
//! bounds, and where the fast path reads a frame, decode must read the same flow fields.
#![no_main]

use sensor::decode::{decode, Transport};
use std::net::IpAddr;

fn halves(ip: IpAddr) -> [u64; 2] {
    let x = match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    };
    [(x >> 64) as u64, x as u64]
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let full = decode(data);
    let Some(h) = sensor::decode::fast_path::read(data) else {
        return;
    };
    let p = full.expect("the fast path read a frame decode rejects");
    let (sport, dport) = p.ports().unwrap_or((0, 0));
    let flags = match p.transport {
        Transport::Tcp { flags, .. } => Some(flags),
        _ => None,
    };
    assert_eq!(Some(h.src), p.src_ip().map(halves));
    assert_eq!(Some(h.dst), p.dst_ip().map(halves));
    assert_eq!(
        (h.sport, h.dport, h.proto, h.vlan, h.tcp_flags),
        (sport, dport, p.ip_proto, p.vlan[0], flags)
    );
});
