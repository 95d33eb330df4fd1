//! Deterministic synthetic traffic.
//!
//! [`fidelity_mix`] covers what a bridge must carry unchanged: every frame size from 60 to
//! 1514 bytes, untagged, 802.1Q and QinQ, IPv4 and IPv6, TCP, UDP, ICMP and ICMPv6, plus a
//! few malformed frames. [`bench_mix`] is a realistic mix for throughput (about 290-byte
//! average frames, many flows).

use etherparse::{PacketBuilder, VlanId};

/// A small xorshift generator: the same seed gives the same traffic everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (a zero seed is replaced by a constant).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `[lo, hi]`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}

/// Layer-4 protocol of a generated frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (ICMPv6 over IPv6).
    Icmp,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct FrameSpec {
    /// VLAN ids, outermost first (0, 1 or 2 of them).
    pub vlans: Vec<u16>,
    /// Source address (v4 if both are v4).
    pub src: std::net::IpAddr,
    /// Destination address.
    pub dst: std::net::IpAddr,
    /// Protocol.
    pub l4: L4,
    /// Source port (TCP/UDP).
    pub sport: u16,
    /// Destination port (TCP/UDP).
    pub dport: u16,
    /// Total frame size wanted (at least the headers; padded to 60).
    pub size: usize,
}

/// Builds one well-formed frame to `spec`; the payload is filled with `fill`.
pub fn build(spec: &FrameSpec, fill: u8) -> Vec<u8> {
    build_with(spec, |len| vec![fill; len])
}

/// Builds one well-formed frame to `spec` with the payload `payload(len)` returns for the
/// length the size leaves.
pub fn build_with(spec: &FrameSpec, payload: impl FnOnce(usize) -> Vec<u8>) -> Vec<u8> {
    use etherparse::{IpHeaders, IpNumber, Ipv4Header, Ipv6Header};
    use std::net::IpAddr;
    let v6 = |a: IpAddr| match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    };
    let ip = match (spec.src, spec.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => IpHeaders::Ipv4(
            Ipv4Header::new(0, 64, IpNumber::UDP, s.octets(), d.octets()).expect("ipv4 header"),
            Default::default(),
        ),
        (s, d) => IpHeaders::Ipv6(
            Ipv6Header {
                hop_limit: 64,
                source: v6(s),
                destination: v6(d),
                ..Default::default()
            },
            Default::default(),
        ),
    };
    let v4 = matches!(ip, IpHeaders::Ipv4(..));
    let header_len = 14
        + 4 * spec.vlans.len().min(2)
        + if v4 { 20 } else { 40 }
        + match spec.l4 {
            L4::Tcp => 20,
            L4::Udp | L4::Icmp => 8,
        };
    let payload = payload(spec.size.max(60).saturating_sub(header_len));
    let eth = PacketBuilder::ethernet2([0x02, 0, 0, 0, 0, 1], [0x02, 0, 0, 0, 0, 2]);
    let vlan = |id: u16| VlanId::try_new(id).expect("vlan id");
    let step = match spec.vlans.as_slice() {
        [] => eth.ip(ip),
        [a] => eth.single_vlan(vlan(*a)).ip(ip),
        [a, b, ..] => eth.double_vlan(vlan(*a), vlan(*b)).ip(ip),
    };
    let mut out = Vec::with_capacity(header_len + payload.len());
    match (spec.l4, v4) {
        (L4::Tcp, _) => step
            .tcp(spec.sport, spec.dport, 1, 65535)
            .ack(1)
            .write(&mut out, &payload),
        (L4::Udp, _) => step.udp(spec.sport, spec.dport).write(&mut out, &payload),
        (L4::Icmp, true) => step.icmpv4_echo_request(1, 1).write(&mut out, &payload),
        (L4::Icmp, false) => step.icmpv6_echo_request(1, 1).write(&mut out, &payload),
    }
    .expect("build frame");
    out
}

/// Frames that no decoder can read as valid IP: truncated headers, bad versions, runts.
pub fn malformed(rng: &mut Rng) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    match rng.range(0, 3) {
        0 => {
            f.extend_from_slice(&[0x08, 0x00, 0x45, 0x00, 0x00]); // IPv4 cut after 3 bytes
        }
        1 => {
            f.extend_from_slice(&[0x86, 0xdd, 0x40]); // IPv6 header cut short
            f.resize(60, 0xee);
        }
        2 => {
            f.extend_from_slice(&[0x08, 0x00, 0x75, 0, 0, 20]); // IPv4 with version 7
            f.resize(60, 0xaa);
        }
        _ => {
            f.extend_from_slice(&[0x81, 0x00, 0x00]); // VLAN tag cut short
        }
    }
    f
}

/// `n` frames for the bridge-fidelity test: sizes 60-1514, all encapsulations and
/// protocols, about 1 in 200 malformed. Addresses come from `hosts` hosts per family.
pub fn fidelity_mix(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            if rng.range(0, 199) == 0 {
                return malformed(&mut rng);
            }
            let size = rng_size(&mut rng, i);
            let spec = random_spec(&mut rng, 64, size);
            build(&spec, i as u8)
        })
        .collect()
}

fn rng_size(rng: &mut Rng, i: usize) -> usize {
    // Walk every size once in a while so both extremes are always present.
    if i.is_multiple_of(7) {
        60 + (i / 7) % (1514 - 60 + 1)
    } else {
        rng.range(60, 1514)
    }
}

/// A random frame spec over `hosts` hosts per address family.
pub fn random_spec(rng: &mut Rng, hosts: u32, size: usize) -> FrameSpec {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let v6 = rng.range(0, 3) == 0;
    let host = |rng: &mut Rng| rng.range(1, hosts as usize) as u32;
    let (src, dst) = if v6 {
        let a = |h: u32| {
            IpAddr::V6(Ipv6Addr::new(
                0xfd00,
                0,
                0,
                0,
                0,
                0,
                (h >> 16) as u16,
                h as u16,
            ))
        };
        (a(host(rng)), a(host(rng) + 0x8000))
    } else {
        let a = |h: u32| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + h));
        (a(host(rng)), a(host(rng) + 0x10000))
    };
    let vlans = match rng.range(0, 5) {
        0 => vec![100],
        1 => vec![200, 300],
        _ => vec![],
    };
    let l4 = match rng.range(0, 9) {
        0 => L4::Icmp,
        1..=4 => L4::Tcp,
        _ => L4::Udp,
    };
    FrameSpec {
        vlans,
        src,
        dst,
        l4,
        sport: rng.range(1024, 65535) as u16,
        dport: [53u16, 80, 443, 8080, 22, 123][rng.range(0, 5)],
        size,
    }
}

/// A throughput mix: `n` frames over about `flows` flows, frame sizes drawn from an IMIX-like
/// distribution averaging about 290 bytes. Payloads are random bytes (as encrypted
/// traffic looks), except that a third of TCP packets to port 80 carry an HTTP request.
pub fn bench_mix(n: usize, flows: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let specs: Vec<FrameSpec> = (0..flows.max(1))
        .map(|_| random_spec(&mut rng, 1 << 20, 60))
        .collect();
    (0..n)
        .map(|i| {
            let mut spec = specs[rng.range(0, specs.len() - 1)].clone();
            spec.size = match rng.range(0, 99) {
                0..=57 => rng.range(60, 80),
                58..=87 => rng.range(250, 500),
                _ => rng.range(900, 1514),
            };
            let http = spec.l4 == L4::Tcp && spec.dport == 80 && rng.range(0, 2) == 0;
            let seed = rng.next_u64();
            build_with(&spec, |len| payload(len, http, i, seed))
        })
        .collect()
}

fn payload(len: usize, http: bool, i: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    if http {
        out.extend_from_slice(
            format!(
                "GET /static/{i}/page.html?id={seed} HTTP/1.1\r\nHost: www.example{}.com\r\n\
                 User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\n\r\n",
                seed % 1000
            )
            .as_bytes(),
        );
    }
    let mut rng = Rng::new(seed);
    while out.len() < len {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fidelity_mix_covers_the_size_range_and_is_deterministic() {
        let a = fidelity_mix(2000, 7);
        assert_eq!(a, fidelity_mix(2000, 7));
        let sizes: Vec<usize> = a.iter().map(Vec::len).collect();
        assert!(sizes.contains(&60));
        assert!(sizes.iter().all(|&s| s <= 1514 + 8));
    }

    #[test]
    fn bench_mix_averages_near_290_bytes() {
        let m = bench_mix(20_000, 1000, 1);
        let avg = m.iter().map(Vec::len).sum::<usize>() / m.len();
        assert!((220..360).contains(&avg), "{avg}");
    }
}
