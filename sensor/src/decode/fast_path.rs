//! The flow fields of a frame of a common shape, read without the full decode.
//!
//! Tracking a packet's flow needs only its addresses, ports, protocol, outer VLAN and TCP
//! flags. [`read`] takes them straight from the bytes for the shapes that make up nearly
//! all traffic: Ethernet with up to two VLAN tags, then an unfragmented IPv4 datagram or
//! an IPv6 packet without extension headers. Everything else (fragments, IPv6 extension
//! headers, non-IP, anything [`crate::decode::decode`] would reject) is declined with
//! `None`, and the caller takes the full decode.
//!
//! The promise, checked by the tests against the full decoder on every shape, every
//! truncation and random mutations: when [`read`] accepts a frame, [`crate::decode::decode`]
//! accepts it too and yields the same addresses, ports, protocol, outer VLAN and TCP
//! flags. So a flow's packets land in the same flow whichever path reads them.
//!
//! Why a second reader: measured in place on the benchmark's mix (random shapes, 20,000
//! flows), the general decoder with the facts and flow key built from it cost 110-140
//! cycles per packet, this reader with the flow key 50-70 (BENCHMARKS.md). The engine
//! decodes in full only the packets something inspects.

use crate::decode::IpProto;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// A packet's flow fields. Addresses are in their IPv6 form (IPv4 mapped to
/// `::ffff:a.b.c.d`) as high and low 64-bit halves, which is how flow keys hold them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowHeader {
    /// Source address halves.
    pub src: [u64; 2],
    /// Destination address halves.
    pub dst: [u64; 2],
    /// Source port (0 without ports).
    pub sport: u16,
    /// Destination port (0 without ports).
    pub dport: u16,
    /// IP protocol number.
    pub proto: IpProto,
    /// Outermost VLAN id (0 without tags).
    pub vlan: u16,
    /// TCP flags, for TCP.
    pub tcp_flags: Option<u8>,
}

#[inline(always)]
fn be16(f: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]))
}

#[inline(always)]
fn be64(f: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(f.get(at..at + 8)?.try_into().ok()?))
}

#[inline(always)]
fn is_vlan(ethertype: u16) -> bool {
    matches!(ethertype, 0x8100 | 0x88a8 | 0x9100)
}

/// The flow fields of `frame`, or `None` where its shape needs the full decode (see the
/// module docs). Never panics, never reads out of bounds.
#[inline(always)]
pub fn read(frame: &[u8]) -> Option<FlowHeader> {
    let mut ethertype = be16(frame, 12)?;
    let mut at = 14;
    let mut vlan = 0;
    if is_vlan(ethertype) {
        vlan = be16(frame, 14)? & 0x0fff;
        ethertype = be16(frame, 16)?;
        at = 18;
        if is_vlan(ethertype) {
            ethertype = be16(frame, 20)?;
            at = 22;
        }
    }
    // (transport offset, end of the IP payload)
    let (src, dst, ip_proto, l4, end) = match ethertype {
        ETHERTYPE_IPV4 => {
            let ip = frame.get(at..at + 20)?;
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let fragmented = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
            if ip[0] >> 4 != 4 || ihl < 20 || total < ihl || fragmented || frame.len() < at + ihl {
                return None;
            }
            let mapped = |o: usize| {
                0x0000_ffff_0000_0000
                    | u64::from(u32::from_be_bytes([ip[o], ip[o + 1], ip[o + 2], ip[o + 3]]))
            };
            let end = (at + total).min(frame.len());
            ([0, mapped(12)], [0, mapped(16)], ip[9], at + ihl, end)
        }
        ETHERTYPE_IPV6 => {
            let ip = frame.get(at..at + 40)?;
            let next = ip[6];
            if ip[0] >> 4 != 6 || matches!(next, 0 | 43 | 44 | 51 | 60 | 135) {
                return None;
            }
            let src = [be64(ip, 8)?, be64(ip, 16)?];
            let dst = [be64(ip, 24)?, be64(ip, 32)?];
            let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            let end = (at + 40 + payload).min(frame.len());
            (src, dst, next, at + 40, end)
        }
        _ => return None,
    };
    let segment = frame.get(l4..end)?;
    let ip_proto = IpProto(ip_proto);
    let (sport, dport, tcp_flags) = match ip_proto {
        IpProto::TCP => {
            let data_offset = usize::from(*segment.get(12)? >> 4) * 4;
            if segment.len() < 20 || data_offset < 20 || segment.len() < data_offset {
                return None;
            }
            (be16(segment, 0)?, be16(segment, 2)?, Some(segment[13]))
        }
        IpProto::UDP if segment.len() >= 8 => (be16(segment, 0)?, be16(segment, 2)?, None),
        IpProto::ICMP | IpProto::ICMPV6 if segment.len() >= 4 => (0, 0, None),
        IpProto::UDP | IpProto::ICMP | IpProto::ICMPV6 => return None,
        _ => (0, 0, None),
    };
    Some(FlowHeader {
        src,
        dst,
        sport,
        dport,
        proto: ip_proto,
        vlan,
        tcp_flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, Packet, Transport};
    use etherparse::PacketBuilder;
    use std::net::IpAddr;

    fn halves(ip: IpAddr) -> [u64; 2] {
        let x = match ip {
            IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
            IpAddr::V6(v6) => u128::from(v6),
        };
        [(x >> 64) as u64, x as u64]
    }

    /// What the full decoder says of the same fields.
    fn from_decode(p: &Packet<'_>) -> Option<FlowHeader> {
        let (sport, dport) = p.ports().unwrap_or((0, 0));
        Some(FlowHeader {
            src: halves(p.src_ip()?),
            dst: halves(p.dst_ip()?),
            sport,
            dport,
            proto: p.ip_proto,
            vlan: p.vlan[0],
            tcp_flags: match p.transport {
                Transport::Tcp { flags, .. } => Some(flags),
                _ => None,
            },
        })
    }

    /// The promise: accepted frames decode to the same fields.
    fn check(frame: &[u8]) -> bool {
        let Some(h) = read(frame) else {
            return false;
        };
        let p = decode(frame)
            .unwrap_or_else(|e| panic!("accepted but decode fails: {e:?} {frame:02x?}"));
        assert_eq!(Some(h), from_decode(&p), "{frame:02x?}");
        true
    }

    /// Every common shape: 0-2 VLAN tags x IPv4/IPv6 x TCP (with and without payload),
    /// UDP, ICMP.
    fn frames() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for v6 in [false, true] {
            for l4 in 0..4 {
                let b = PacketBuilder::ethernet2([1; 6], [2; 6]);
                let mut f = Vec::new();
                let written = match (v6, l4) {
                    (false, 0) => b
                        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                        .tcp(40000, 443, 7, 1024)
                        .syn()
                        .write(&mut f, b"payload"),
                    (true, 0) => b
                        .ipv6([0xfd; 16], [0xfe; 16], 64)
                        .tcp(40000, 443, 7, 1024)
                        .ack(9)
                        .write(&mut f, b"payload"),
                    (false, 1) => b
                        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                        .udp(5353, 53)
                        .write(&mut f, b"dns"),
                    (true, 1) => b
                        .ipv6([0xfd; 16], [0xfe; 16], 64)
                        .udp(5353, 53)
                        .write(&mut f, b"dns"),
                    (false, 2) => b
                        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                        .icmpv4_echo_request(1, 2)
                        .write(&mut f, b"ping"),
                    (true, 2) => b
                        .ipv6([0xfd; 16], [0xfe; 16], 64)
                        .icmpv6_echo_request(1, 2)
                        .write(&mut f, b"ping"),
                    (false, _) => b
                        .ipv4([192, 168, 0, 1], [10, 0, 0, 2], 64)
                        .tcp(1, 2, 3, 4)
                        .write(&mut f, &[]),
                    (true, _) => b
                        .ipv6([0x20; 16], [0xfe; 16], 64)
                        .tcp(1, 2, 3, 4)
                        .write(&mut f, &[]),
                };
                written.unwrap();
                for tags in [&[][..], &[0x8100u16][..], &[0x88a8, 0x8100][..]] {
                    let mut tagged = f[..12].to_vec();
                    for (i, tpid) in tags.iter().enumerate() {
                        tagged.extend_from_slice(&tpid.to_be_bytes());
                        tagged.extend_from_slice(&(100 + i as u16).to_be_bytes());
                    }
                    tagged.extend_from_slice(&f[12..]);
                    out.push(tagged);
                }
            }
        }
        out
    }

    #[test]
    fn accepted_frames_decode_to_the_same_fields_on_every_shape_and_truncation() {
        for f in frames() {
            assert!(check(&f), "a common shape is accepted: {f:02x?}");
            for cut in 0..f.len() {
                check(&f[..cut]);
            }
        }
    }

    #[test]
    fn accepted_frames_decode_to_the_same_fields_under_random_mutation() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let base = frames();
        let (mut accepted, mut declined) = (0, 0);
        for _ in 0..100_000 {
            let mut f = base[next() as usize % base.len()].clone();
            for _ in 0..1 + next() % 3 {
                // Mostly the header bytes, where the decisions are.
                let at = next() as usize % f.len().min(80);
                f[at] = next() as u8;
            }
            if check(&f) {
                accepted += 1;
            } else {
                declined += 1;
            }
        }
        assert!(
            accepted > 10_000 && declined > 10_000,
            "{accepted} {declined}"
        );
    }

    #[test]
    fn fragments_extension_headers_and_non_ip_are_declined() {
        let mut f = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1, 2)
            .write(&mut f, b"x")
            .unwrap();
        let mut frag = f.clone();
        frag[14 + 6] = 0x20; // more fragments
        assert!(read(&frag).is_none());
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert!(read(&arp).is_none());
        let mut v6 = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv6([0xfd; 16], [0xfe; 16], 64)
            .udp(1, 2)
            .write(&mut v6, b"x")
            .unwrap();
        v6[14 + 6] = 0; // next header: hop-by-hop options
        assert!(read(&v6).is_none());
    }
}
