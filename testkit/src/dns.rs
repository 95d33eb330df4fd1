//! DNS traffic for tests and benchmarks: wire-format messages and the frames that carry
//! them over UDP and TCP.

use std::net::IpAddr;

use etherparse::PacketBuilder;

use crate::traffic::{build_with, FrameSpec, Rng, L4};

/// A DNS message: one question for `name` of type `qtype`; a response (`rcode`, with an
/// A or AAAA record of `ttl` per address in `answers`) when `response`.
pub fn message(
    id: u16,
    response: bool,
    rcode: u8,
    name: &str,
    qtype: u16,
    answers: &[IpAddr],
    ttl: u32,
) -> Vec<u8> {
    let flags: u16 = if response {
        0x8180 | u16::from(rcode & 0xf)
    } else {
        0x0100
    };
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    for a in answers {
        let (t, rdata) = match a {
            IpAddr::V4(v4) => (1u16, v4.octets().to_vec()),
            IpAddr::V6(v6) => (28u16, v6.octets().to_vec()),
        };
        m.extend_from_slice(&[0xc0, 12]);
        m.extend_from_slice(&t.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(&rdata);
    }
    m
}

/// A UDP frame from `src:sport` to `dst:dport` (VLAN ids outermost first) carrying `payload`.
pub fn udp(
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    vlans: &[u16],
    payload: &[u8],
) -> Vec<u8> {
    let header = 14
        + 4 * vlans.len()
        + if src.is_ipv4() && dst.is_ipv4() {
            20
        } else {
            40
        }
        + 8;
    let spec = FrameSpec {
        vlans: vlans.to_vec(),
        src,
        dst,
        l4: L4::Udp,
        sport,
        dport,
        size: header + payload.len(),
    };
    let mut frame = build_with(&spec, |_| payload.to_vec());
    // Short frames are padded to 60 bytes; the IP and UDP lengths keep the payload exact.
    if frame.len() < 60 {
        frame.resize(60, 0);
    }
    frame
}

/// A TCP segment from `src:sport` to `dst:dport` with `flags` (`S`, `SA`, `A`, `PA`, `FA`...) and `payload`.
pub fn tcp(
    (src, sport): (IpAddr, u16),
    (dst, dport): (IpAddr, u16),
    seq: u32,
    ack: u32,
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2([0x02, 0, 0, 0, 0, 1], [0x02, 0, 0, 0, 0, 2]);
    let step = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), 64),
        _ => panic!("mixed address families"),
    };
    let mut b = step.tcp(sport, dport, seq, 65535);
    for f in flags.chars() {
        b = match f {
            'S' => b.syn(),
            'A' => b.ack(ack),
            'P' => b.psh(),
            'F' => b.fin(),
            'R' => b.rst(),
            _ => b,
        };
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).expect("tcp frame");
    if out.len() < 60 {
        out.resize(60, 0);
    }
    out
}

/// A DNS-only mix of `n` frames: queries and their answers (alternating) from many clients
/// to four resolvers, for names drawn from `listed` with probability `listed_share` and
/// from `benign` otherwise; each answer carries one address.
pub fn mix(
    n: usize,
    benign: &[String],
    listed: &[String],
    listed_share: f64,
    seed: u64,
) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let resolvers: Vec<IpAddr> = (1..=4).map(|i| IpAddr::from([10, 53, 0, i])).collect();
    let mut frames = Vec::with_capacity(n);
    while frames.len() < n {
        let pick_listed =
            !listed.is_empty() && (rng.next_u64() % 10_000) as f64 / 10_000.0 < listed_share;
        let names = if pick_listed || benign.is_empty() {
            listed
        } else {
            benign
        };
        let name = &names[rng.range(0, names.len() - 1)];
        let client = IpAddr::from([
            10,
            1 + rng.range(0, 15) as u8,
            rng.range(0, 255) as u8,
            rng.range(1, 254) as u8,
        ]);
        let server = resolvers[rng.range(0, resolvers.len() - 1)];
        let sport = 1024 + rng.range(0, 60_000) as u16;
        let id = rng.next_u64() as u16;
        let qtype = if rng.range(0, 9) == 0 { 28 } else { 1 };
        frames.push(udp(
            client,
            sport,
            server,
            53,
            &[],
            &message(id, false, 0, name, qtype, &[], 0),
        ));
        let answer: IpAddr = if qtype == 28 {
            IpAddr::from([
                0x20,
                0x01,
                0x0d,
                0xb8,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                rng.range(0, 255) as u8,
                rng.range(1, 254) as u8,
            ])
        } else {
            IpAddr::from([198, 51, rng.range(0, 255) as u8, rng.range(1, 254) as u8])
        };
        frames.push(udp(
            server,
            53,
            client,
            sport,
            &[],
            &message(id, true, 0, name, qtype, &[answer], 300),
        ));
    }
    frames.truncate(n);
    frames
}
