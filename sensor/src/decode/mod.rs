//! Zero-copy decoding of a frame from Ethernet to the transport header.
//!
//! [`decode`] walks Ethernet, up to two VLAN tags (802.1Q, 802.1ad/QinQ), IPv4 (options
//! skipped, fragments recognised), IPv6 (extension headers walked), and TCP, UDP, ICMP or
//! ICMPv6. It borrows the frame, allocates nothing, never indexes out of bounds and never
//! panics: a frame that cannot be read is a [`DecodeError`] whose [`DecodeError::reason`]
//! is a stable counter name. Non-first fragments are never read as transport headers.
//! Cost: a few bounds checks per header. [`fast_path`] reads the flow fields of the common
//! shapes without the full decode. Uses nothing else of the sensor's.

pub mod fast_path;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

/// An IP protocol number, as IPv4's protocol field and IPv6's next header carry it: the
/// one type every stage uses for it (the decoder names the ones it reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(transparent)]
pub struct IpProto(pub u8);

impl IpProto {
    /// ICMP.
    pub const ICMP: IpProto = IpProto(1);
    /// TCP.
    pub const TCP: IpProto = IpProto(6);
    /// UDP.
    pub const UDP: IpProto = IpProto(17);
    /// ICMPv6.
    pub const ICMPV6: IpProto = IpProto(58);

    /// TCP or UDP: the protocols with ports.
    #[inline]
    pub fn has_ports(self) -> bool {
        self == IpProto::TCP || self == IpProto::UDP
    }

    /// ICMP or ICMPv6.
    #[inline]
    pub fn is_icmp(self) -> bool {
        self == IpProto::ICMP || self == IpProto::ICMPV6
    }
}

/// Why a frame could not be decoded. Each variant is a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// Shorter than an Ethernet header.
    TruncatedEthernet,
    /// A VLAN tag cut short.
    TruncatedVlan,
    /// More than two VLAN tags.
    TooManyVlans,
    /// IPv4 header cut short or its header length is impossible.
    TruncatedIpv4,
    /// IPv4 version field is not 4.
    BadIpv4Version,
    /// IPv4 total length shorter than its header.
    BadIpv4Length,
    /// IPv6 header cut short.
    TruncatedIpv6,
    /// IPv6 version field is not 6.
    BadIpv6Version,
    /// An IPv6 extension header cut short.
    TruncatedIpv6Extension,
    /// TCP header cut short or data offset impossible.
    TruncatedTcp,
    /// UDP header cut short.
    TruncatedUdp,
    /// ICMP or ICMPv6 header cut short.
    TruncatedIcmp,
}

impl DecodeError {
    /// Stable snake_case name, used as the counter's name in stats.
    pub fn reason(self) -> &'static str {
        match self {
            DecodeError::TruncatedEthernet => "truncated_ethernet",
            DecodeError::TruncatedVlan => "truncated_vlan",
            DecodeError::TooManyVlans => "too_many_vlans",
            DecodeError::TruncatedIpv4 => "truncated_ipv4",
            DecodeError::BadIpv4Version => "bad_ipv4_version",
            DecodeError::BadIpv4Length => "bad_ipv4_length",
            DecodeError::TruncatedIpv6 => "truncated_ipv6",
            DecodeError::BadIpv6Version => "bad_ipv6_version",
            DecodeError::TruncatedIpv6Extension => "truncated_ipv6_extension",
            DecodeError::TruncatedTcp => "truncated_tcp",
            DecodeError::TruncatedUdp => "truncated_udp",
            DecodeError::TruncatedIcmp => "truncated_icmp",
        }
    }

    /// Position in [`DecodeError::ALL`], for per-reason counter arrays.
    pub fn index(self) -> usize {
        DecodeError::ALL
            .iter()
            .position(|e| *e == self)
            .unwrap_or(0)
    }

    /// Every variant, for stats tables.
    pub const ALL: [DecodeError; 12] = [
        DecodeError::TruncatedEthernet,
        DecodeError::TruncatedVlan,
        DecodeError::TooManyVlans,
        DecodeError::TruncatedIpv4,
        DecodeError::BadIpv4Version,
        DecodeError::BadIpv4Length,
        DecodeError::TruncatedIpv6,
        DecodeError::BadIpv6Version,
        DecodeError::TruncatedIpv6Extension,
        DecodeError::TruncatedTcp,
        DecodeError::TruncatedUdp,
        DecodeError::TruncatedIcmp,
    ];
}

/// The network layer of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// IPv4 header facts.
    Ipv4 {
        /// Source.
        src: Ipv4Addr,
        /// Destination.
        dst: Ipv4Addr,
        /// Time to live.
        ttl: u8,
    },
    /// IPv6 header facts.
    Ipv6 {
        /// Source.
        src: Ipv6Addr,
        /// Destination.
        dst: Ipv6Addr,
        /// Hop limit.
        hop_limit: u8,
    },
    /// Not IP; the EtherType after any VLAN tags.
    Other(u16),
}

/// Where this packet sits in a fragmented datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragment {
    /// Not fragmented.
    None,
    /// The first fragment (offset 0, more to come): its transport header is readable.
    First,
    /// A later fragment: no transport header; its payload is an L4 continuation.
    Later,
}

/// TCP header flag FIN.
pub const TCP_FIN: u8 = 0x01;
/// TCP header flag SYN.
pub const TCP_SYN: u8 = 0x02;
/// TCP header flag RST.
pub const TCP_RST: u8 = 0x04;
/// TCP header flag ACK.
pub const TCP_ACK: u8 = 0x10;

/// A fragment's place in its datagram, as defragmentation needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragFields {
    /// The datagram's identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// Where this fragment's data goes in the datagram's payload, in bytes.
    pub offset: u32,
    /// More fragments follow (the MF flag).
    pub more: bool,
    /// Where the fragment's data begins in the frame.
    pub data_at: usize,
    /// IPv6: where the fragment header begins in the frame (IPv4: 0).
    pub header_at: usize,
    /// IPv6: where the next-header field naming the fragment header is (IPv4: 0).
    pub next_header_at: usize,
}

/// The transport layer of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP with its ports, flags, sequence numbers.
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgement number.
        ack: u32,
        /// Flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80).
        flags: u8,
    },
    /// UDP with its ports.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// ICMP or ICMPv6 type and code.
    Icmp {
        /// Type.
        icmp_type: u8,
        /// Code.
        code: u8,
    },
    /// Another protocol, a later fragment, or not IP.
    Other,
}

/// A decoded frame: views and offsets into the borrowed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The whole frame.
    pub frame: &'a [u8],
    /// VLAN ids, outermost first (0 where absent).
    pub vlan: [u16; 2],
    /// Number of VLAN tags (0 to 2).
    pub vlan_count: u8,
    /// Offset of the network header.
    pub l3_offset: usize,
    /// Network layer.
    pub network: Network,
    /// IP protocol number (the last next-header for IPv6); 0 for non-IP.
    pub ip_proto: IpProto,
    /// Fragment position.
    pub fragment: Fragment,
    /// A fragment's identification and offset (`None` when not fragmented).
    pub frag: Option<FragFields>,
    /// Transport layer.
    pub transport: Transport,
    /// The transport payload (bounded by the IP length, so Ethernet padding is excluded).
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Source address, for IP packets.
    pub fn src_ip(&self) -> Option<IpAddr> {
        match self.network {
            Network::Ipv4 { src, .. } => Some(IpAddr::V4(src)),
            Network::Ipv6 { src, .. } => Some(IpAddr::V6(src)),
            Network::Other(_) => None,
        }
    }

    /// Destination address, for IP packets.
    pub fn dst_ip(&self) -> Option<IpAddr> {
        match self.network {
            Network::Ipv4 { dst, .. } => Some(IpAddr::V4(dst)),
            Network::Ipv6 { dst, .. } => Some(IpAddr::V6(dst)),
            Network::Other(_) => None,
        }
    }

    /// Source and destination ports for TCP and UDP.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.transport {
            Transport::Tcp {
                src_port, dst_port, ..
            }
            | Transport::Udp { src_port, dst_port } => Some((src_port, dst_port)),
            _ => None,
        }
    }
}

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

#[inline]
fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Decodes a frame. Never panics; see the module docs.
pub fn decode(frame: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let mut ethertype = be16(frame, 12).ok_or(DecodeError::TruncatedEthernet)?;
    if frame.len() < 14 {
        return Err(DecodeError::TruncatedEthernet);
    }
    let mut offset = 14;
    let mut vlan = [0u16; 2];
    let mut vlan_count = 0u8;
    while matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    ) {
        if usize::from(vlan_count) == vlan.len() {
            return Err(DecodeError::TooManyVlans);
        }
        let tci = be16(frame, offset).ok_or(DecodeError::TruncatedVlan)?;
        ethertype = be16(frame, offset + 2).ok_or(DecodeError::TruncatedVlan)?;
        vlan[usize::from(vlan_count)] = tci & 0x0fff;
        vlan_count += 1;
        offset += 4;
    }
    let mut packet = Packet {
        frame,
        vlan,
        vlan_count,
        l3_offset: offset,
        network: Network::Other(ethertype),
        ip_proto: IpProto(0),
        fragment: Fragment::None,
        frag: None,
        transport: Transport::Other,
        payload: &frame[offset..],
    };
    let (l4, l4_end) = match ethertype {
        ETHERTYPE_IPV4 => decode_ipv4(frame, offset, &mut packet)?,
        ETHERTYPE_IPV6 => decode_ipv6(frame, offset, &mut packet)?,
        _ => return Ok(packet),
    };
    let segment = &frame[l4..l4_end];
    if packet.fragment == Fragment::Later {
        packet.payload = segment;
        return Ok(packet);
    }
    if packet.fragment == Fragment::First {
        // A first fragment may end inside its transport header (the tiny-fragment
        // evasion): it is still a fragment to reassemble, not a decode error.
        let mut first = packet;
        first.payload = segment;
        if decode_transport(segment, &mut first).is_err() {
            first = packet;
            first.payload = segment;
        }
        return Ok(first);
    }
    decode_transport(segment, &mut packet)?;
    Ok(packet)
}

/// Returns (transport offset, end of IP payload) and fills the network fields.
fn decode_ipv4(frame: &[u8], at: usize, p: &mut Packet<'_>) -> Result<(usize, usize), DecodeError> {
    let ip = frame.get(at..at + 20).ok_or(DecodeError::TruncatedIpv4)?;
    if ip[0] >> 4 != 4 {
        return Err(DecodeError::BadIpv4Version);
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ihl < 20 || frame.len() < at + ihl {
        return Err(DecodeError::TruncatedIpv4);
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if total < ihl {
        return Err(DecodeError::BadIpv4Length);
    }
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    let more = frag & 0x2000 != 0;
    let offset = frag & 0x1fff;
    p.fragment = match (offset, more) {
        (0, false) => Fragment::None,
        (0, true) => Fragment::First,
        _ => Fragment::Later,
    };
    if p.fragment != Fragment::None {
        p.frag = Some(FragFields {
            id: u32::from(u16::from_be_bytes([ip[4], ip[5]])),
            offset: u32::from(offset) * 8,
            more,
            data_at: at + ihl,
            header_at: 0,
            next_header_at: 0,
        });
    }
    p.ip_proto = IpProto(ip[9]);
    p.network = Network::Ipv4 {
        src: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
        dst: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
        ttl: ip[8],
    };
    // A capture may cut the datagram short (snaplen): read what is there.
    let end = (at + total).min(frame.len());
    Ok((at + ihl, end))
}

fn decode_ipv6(frame: &[u8], at: usize, p: &mut Packet<'_>) -> Result<(usize, usize), DecodeError> {
    let ip = frame.get(at..at + 40).ok_or(DecodeError::TruncatedIpv6)?;
    if ip[0] >> 4 != 6 {
        return Err(DecodeError::BadIpv6Version);
    }
    let payload_len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&ip[8..24]);
    dst.copy_from_slice(&ip[24..40]);
    p.network = Network::Ipv6 {
        src: Ipv6Addr::from(src),
        dst: Ipv6Addr::from(dst),
        hop_limit: ip[7],
    };
    let end = (at + 40 + payload_len).min(frame.len());
    let mut next = ip[6];
    let mut offset = at + 40;
    // Where the field holding `next` is.
    let mut next_at = at + 6;
    loop {
        let header_at = offset;
        match next {
            // Hop-by-hop, routing, destination options, mobility: length in 8-octet units.
            0 | 43 | 60 | 135 => {
                let hdr = frame
                    .get(offset..offset + 2)
                    .ok_or(DecodeError::TruncatedIpv6Extension)?;
                next = hdr[0];
                offset += (usize::from(hdr[1]) + 1) * 8;
            }
            // Authentication header: length in 4-octet units, minus 2.
            51 => {
                let hdr = frame
                    .get(offset..offset + 2)
                    .ok_or(DecodeError::TruncatedIpv6Extension)?;
                next = hdr[0];
                offset += (usize::from(hdr[1]) + 2) * 4;
            }
            // Fragment header: fixed 8 octets.
            44 => {
                let hdr = frame
                    .get(offset..offset + 8)
                    .ok_or(DecodeError::TruncatedIpv6Extension)?;
                next = hdr[0];
                let frag = u16::from_be_bytes([hdr[2], hdr[3]]);
                p.fragment = match (frag >> 3, frag & 1 != 0) {
                    (0, false) => Fragment::None,
                    (0, true) => Fragment::First,
                    _ => Fragment::Later,
                };
                offset += 8;
                // An atomic fragment (offset 0, no more) is a whole datagram (RFC 6946).
                if p.fragment != Fragment::None {
                    p.frag = Some(FragFields {
                        id: u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]),
                        offset: u32::from(frag >> 3) * 8,
                        more: frag & 1 != 0,
                        data_at: offset,
                        header_at,
                        next_header_at: next_at,
                    });
                }
                // A later fragment's data is no header.
                if p.fragment == Fragment::Later {
                    if offset > end {
                        return Err(DecodeError::TruncatedIpv6Extension);
                    }
                    break;
                }
            }
            _ => break,
        }
        next_at = header_at;
        if offset > end {
            return Err(DecodeError::TruncatedIpv6Extension);
        }
    }
    p.ip_proto = IpProto(next);
    Ok((offset, end))
}

fn decode_transport<'a>(segment: &'a [u8], p: &mut Packet<'a>) -> Result<(), DecodeError> {
    match p.ip_proto {
        IpProto::TCP => {
            let h = segment.get(..20).ok_or(DecodeError::TruncatedTcp)?;
            let data_offset = usize::from(h[12] >> 4) * 4;
            if data_offset < 20 || segment.len() < data_offset {
                return Err(DecodeError::TruncatedTcp);
            }
            p.transport = Transport::Tcp {
                src_port: u16::from_be_bytes([h[0], h[1]]),
                dst_port: u16::from_be_bytes([h[2], h[3]]),
                seq: be32(h, 4).ok_or(DecodeError::TruncatedTcp)?,
                ack: be32(h, 8).ok_or(DecodeError::TruncatedTcp)?,
                flags: h[13],
            };
            p.payload = &segment[data_offset..];
        }
        IpProto::UDP => {
            let h = segment.get(..8).ok_or(DecodeError::TruncatedUdp)?;
            p.transport = Transport::Udp {
                src_port: u16::from_be_bytes([h[0], h[1]]),
                dst_port: u16::from_be_bytes([h[2], h[3]]),
            };
            p.payload = &segment[8..];
        }
        IpProto::ICMP | IpProto::ICMPV6 => {
            let h = segment.get(..4).ok_or(DecodeError::TruncatedIcmp)?;
            p.transport = Transport::Icmp {
                icmp_type: h[0],
                code: h[1],
            };
            p.payload = &segment[4..];
        }
        _ => p.payload = segment,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn udp4(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(5353, 53);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn decodes_ipv4_udp_and_trims_ethernet_padding() {
        let mut f = udp4(b"hi");
        f.extend_from_slice(&[0; 16]); // padding to 60 bytes
        let p = decode(&f).unwrap();
        assert_eq!(p.src_ip(), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(p.ports(), Some((5353, 53)));
        assert_eq!(p.payload, b"hi");
    }

    #[test]
    fn decodes_qinq_ipv6_tcp() {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .double_vlan(
                etherparse::VlanId::try_new(100).unwrap(),
                etherparse::VlanId::try_new(200).unwrap(),
            )
            .ipv6([0xfd; 16], [0xfe; 16], 64)
            .tcp(40000, 443, 7, 1024)
            .syn();
        let mut f = Vec::new();
        b.write(&mut f, b"payload").unwrap();
        let p = decode(&f).unwrap();
        assert_eq!(p.vlan_count, 2);
        assert_eq!(p.vlan, [100, 200]);
        assert!(
            matches!(p.transport, Transport::Tcp { dst_port: 443, flags, seq: 7, .. } if flags & 0x02 != 0)
        );
        assert_eq!(p.payload, b"payload");
    }

    #[test]
    fn later_fragments_are_never_read_as_transport() {
        let mut f = udp4(b"0123456789abcdef");
        // Set fragment offset 8 (in 8-byte units) on the IPv4 header.
        f[14 + 6] = 0x00;
        f[14 + 7] = 0x08;
        let p = decode(&f).unwrap();
        assert_eq!(p.fragment, Fragment::Later);
        assert_eq!(p.transport, Transport::Other);
        assert_eq!(p.payload.len(), 8 + 16);
    }

    #[test]
    fn every_truncation_is_an_error_never_a_panic() {
        let full = udp4(b"some payload bytes");
        for len in 0..full.len() {
            let _ = decode(&full[..len]);
        }
        assert_eq!(decode(&full[..10]), Err(DecodeError::TruncatedEthernet));
        assert_eq!(decode(&full[..30]), Err(DecodeError::TruncatedIpv4));
        assert_eq!(decode(&full[..38]), Err(DecodeError::TruncatedUdp));
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x1234_5678_u32;
        for _ in 0..20_000 {
            let len = (seed % 200) as usize;
            let mut f = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                f.push(seed as u8);
            }
            if f.len() > 13 {
                f[12] = [0x08, 0x86, 0x81][(seed % 3) as usize];
                f[13] = [0x00, 0xdd, 0x00][(seed % 3) as usize];
            }
            let _ = decode(&f);
        }
    }

    #[test]
    fn non_ip_is_other() {
        let mut f = vec![0u8; 60];
        f[12] = 0x08;
        f[13] = 0x06; // ARP
        let p = decode(&f).unwrap();
        assert_eq!(p.network, Network::Other(0x0806));
        assert_eq!(p.src_ip(), None);
    }
}
