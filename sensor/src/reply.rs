//! Packets the sensor sends itself: TCP resets and ICMP port-unreachable for `reject`,
//! and UDP datagrams carrying forged DNS answers.
//!
//! Built from the offending frame with etherparse (off the data path's common case: only
//! when a reject rule fires). Ethernet addresses and VLAN tags are kept (swapped toward the
//! sender), IP and ports swapped as needed, checksums computed.

use etherparse::{
    icmpv4, icmpv6, Icmpv4Type, Icmpv6Type, LinkSlice, NetSlice, PacketBuilder, SlicedPacket,
    TransportSlice, VlanId,
};

/// Where a reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyDirection {
    /// Back to the packet's sender, out of the port it came in on.
    ToSender,
    /// On to the packet's receiver, out of the peer port.
    ToReceiver,
}

/// TCP RST|ACK frames toward both ends of the connection the frame belongs to; for UDP, an
/// ICMP (or ICMPv6) port unreachable toward the sender. Empty for anything else.
pub fn reject(frame: &[u8]) -> Vec<(ReplyDirection, Vec<u8>)> {
    let Ok(p) = SlicedPacket::from_ethernet(frame) else {
        return Vec::new();
    };
    let Some(LinkSlice::Ethernet2(eth)) = &p.link else {
        return Vec::new();
    };
    let (src_mac, dst_mac) = (eth.source(), eth.destination());
    let vlans = vlan_ids(&p);
    let (src, dst, ip_bytes): (Ip, Ip, &[u8]) = match &p.net {
        Some(NetSlice::Ipv4(v4)) => (
            Ip::V4(v4.header().source()),
            Ip::V4(v4.header().destination()),
            v4.header().slice(),
        ),
        Some(NetSlice::Ipv6(v6)) => (
            Ip::V6(v6.header().source()),
            Ip::V6(v6.header().destination()),
            v6.header().slice(),
        ),
        None => return Vec::new(),
    };
    match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            let data = t.payload().len() as u32 + u32::from(t.syn()) + u32::from(t.fin());
            let end_seq = t.sequence_number().wrapping_add(data);
            let to_sender = Endpoints {
                macs: (dst_mac, src_mac),
                ips: (dst, src),
                ports: (t.destination_port(), t.source_port()),
            };
            let to_receiver = Endpoints {
                macs: (src_mac, dst_mac),
                ips: (src, dst),
                ports: (t.source_port(), t.destination_port()),
            };
            vec![
                (
                    ReplyDirection::ToSender,
                    tcp_rst(&vlans, &to_sender, t.acknowledgment_number(), end_seq),
                ),
                (
                    ReplyDirection::ToReceiver,
                    tcp_rst(&vlans, &to_receiver, end_seq, t.acknowledgment_number()),
                ),
            ]
        }
        Some(TransportSlice::Udp(u)) => {
            // The ICMP error quotes the offending IP header and the first 8 bytes after it.
            let mut quoted = ip_bytes.to_vec();
            quoted.extend_from_slice(&u.slice()[..8.min(u.slice().len())]);
            let eth = PacketBuilder::ethernet2(dst_mac, src_mac);
            let mut out = Vec::new();
            let built = match (src, dst, vlans.as_slice()) {
                (Ip::V4(s), Ip::V4(d), []) => eth
                    .ipv4(d, s, 64)
                    .icmpv4(port_unreachable_v4())
                    .write(&mut out, &quoted),
                (Ip::V4(s), Ip::V4(d), [v]) => eth
                    .single_vlan(*v)
                    .ipv4(d, s, 64)
                    .icmpv4(port_unreachable_v4())
                    .write(&mut out, &quoted),
                (Ip::V4(s), Ip::V4(d), [a, b, ..]) => eth
                    .double_vlan(*a, *b)
                    .ipv4(d, s, 64)
                    .icmpv4(port_unreachable_v4())
                    .write(&mut out, &quoted),
                (Ip::V6(s), Ip::V6(d), []) => eth
                    .ipv6(d, s, 64)
                    .icmpv6(port_unreachable_v6())
                    .write(&mut out, &quoted),
                (Ip::V6(s), Ip::V6(d), [v]) => eth
                    .single_vlan(*v)
                    .ipv6(d, s, 64)
                    .icmpv6(port_unreachable_v6())
                    .write(&mut out, &quoted),
                (Ip::V6(s), Ip::V6(d), [a, b, ..]) => eth
                    .double_vlan(*a, *b)
                    .ipv6(d, s, 64)
                    .icmpv6(port_unreachable_v6())
                    .write(&mut out, &quoted),
                _ => return Vec::new(),
            };
            match built {
                Ok(()) => vec![(ReplyDirection::ToSender, out)],
                Err(_) => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

/// A UDP frame carrying `payload` in reply to the UDP packet `frame`: toward its sender
/// (MACs, addresses and ports swapped) or on toward its receiver (same endpoints, as if the
/// receiver's peer had sent `payload`). VLAN tags are kept; checksums computed. `None`
/// when `frame` is not UDP over Ethernet.
pub fn udp_reply(frame: &[u8], payload: &[u8], direction: ReplyDirection) -> Option<Vec<u8>> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(LinkSlice::Ethernet2(eth)) = &p.link else {
        return None;
    };
    let Some(TransportSlice::Udp(u)) = &p.transport else {
        return None;
    };
    let vlans = vlan_ids(&p);
    let (src, dst) = ip_pair(&p)?;
    let (macs, ips, ports) = match direction {
        ReplyDirection::ToSender => (
            (eth.destination(), eth.source()),
            (dst, src),
            (u.destination_port(), u.source_port()),
        ),
        ReplyDirection::ToReceiver => (
            (eth.source(), eth.destination()),
            (src, dst),
            (u.source_port(), u.destination_port()),
        ),
    };
    let eth = PacketBuilder::ethernet2(macs.0, macs.1);
    let mut out = Vec::new();
    macro_rules! finish {
        ($ip:expr) => {
            $ip.udp(ports.0, ports.1).write(&mut out, payload)
        };
    }
    let built = match (ips, vlans.as_slice()) {
        ((Ip::V4(s), Ip::V4(d)), []) => finish!(eth.ipv4(s, d, 64)),
        ((Ip::V4(s), Ip::V4(d)), [v]) => finish!(eth.single_vlan(*v).ipv4(s, d, 64)),
        ((Ip::V4(s), Ip::V4(d)), [a, b, ..]) => finish!(eth.double_vlan(*a, *b).ipv4(s, d, 64)),
        ((Ip::V6(s), Ip::V6(d)), []) => finish!(eth.ipv6(s, d, 64)),
        ((Ip::V6(s), Ip::V6(d)), [v]) => finish!(eth.single_vlan(*v).ipv6(s, d, 64)),
        ((Ip::V6(s), Ip::V6(d)), [a, b, ..]) => finish!(eth.double_vlan(*a, *b).ipv6(s, d, 64)),
        _ => return None,
    };
    built.ok()?;
    if out.len() < 60 {
        out.resize(60, 0);
    }
    Some(out)
}

fn vlan_ids(p: &SlicedPacket<'_>) -> Vec<VlanId> {
    match &p.vlan {
        Some(etherparse::VlanSlice::SingleVlan(v)) => vec![v.vlan_identifier()],
        Some(etherparse::VlanSlice::DoubleVlan(d)) => {
            vec![d.outer().vlan_identifier(), d.inner().vlan_identifier()]
        }
        None => vec![],
    }
}

fn ip_pair(p: &SlicedPacket<'_>) -> Option<(Ip, Ip)> {
    match &p.net {
        Some(NetSlice::Ipv4(v4)) => Some((
            Ip::V4(v4.header().source()),
            Ip::V4(v4.header().destination()),
        )),
        Some(NetSlice::Ipv6(v6)) => Some((
            Ip::V6(v6.header().source()),
            Ip::V6(v6.header().destination()),
        )),
        None => None,
    }
}

#[derive(Clone, Copy)]
enum Ip {
    V4([u8; 4]),
    V6([u8; 16]),
}

struct Endpoints {
    macs: ([u8; 6], [u8; 6]),
    ips: (Ip, Ip),
    ports: (u16, u16),
}

fn port_unreachable_v4() -> Icmpv4Type {
    Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Port)
}

fn port_unreachable_v6() -> Icmpv6Type {
    Icmpv6Type::DestinationUnreachable(icmpv6::DestUnreachableCode::Port)
}

fn tcp_rst(vlans: &[VlanId], e: &Endpoints, seq: u32, ack: u32) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(e.macs.0, e.macs.1);
    let mut out = Vec::new();
    macro_rules! finish {
        ($ip:expr) => {
            $ip.tcp(e.ports.0, e.ports.1, seq, 0)
                .rst()
                .ack(ack)
                .write(&mut out, &[])
        };
    }
    let result = match (e.ips, vlans) {
        ((Ip::V4(s), Ip::V4(d)), []) => finish!(eth.ipv4(s, d, 64)),
        ((Ip::V4(s), Ip::V4(d)), [v]) => finish!(eth.single_vlan(*v).ipv4(s, d, 64)),
        ((Ip::V4(s), Ip::V4(d)), [a, b, ..]) => finish!(eth.double_vlan(*a, *b).ipv4(s, d, 64)),
        ((Ip::V6(s), Ip::V6(d)), []) => finish!(eth.ipv6(s, d, 64)),
        ((Ip::V6(s), Ip::V6(d)), [v]) => finish!(eth.single_vlan(*v).ipv6(s, d, 64)),
        ((Ip::V6(s), Ip::V6(d)), [a, b, ..]) => finish!(eth.double_vlan(*a, *b).ipv6(s, d, 64)),
        _ => return Vec::new(),
    };
    // Frames shorter than 60 bytes are padded by the NIC; pad here so captures match.
    if result.is_ok() && out.len() < 60 {
        out.resize(60, 0);
    }
    if result.is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_frame(flags_syn: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .single_vlan(VlanId::try_new(9).unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1000, 65535)
            .ack(5000);
        if flags_syn {
            b = b.syn();
        }
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn tcp_reset_both_ways_with_the_right_sequence_numbers() {
        let replies = reject(&tcp_frame(false, b"GET / HTTP/1.1\r\n\r\n"));
        assert_eq!(replies.len(), 2);
        let (dir, to_sender) = &replies[0];
        assert_eq!(*dir, ReplyDirection::ToSender);
        let s = SlicedPacket::from_ethernet(to_sender).unwrap();
        let Some(LinkSlice::Ethernet2(eth)) = &s.link else {
            panic!()
        };
        assert_eq!(eth.destination(), [1; 6], "back to the sender's MAC");
        assert!(s.vlan.is_some(), "VLAN tag kept");
        let Some(NetSlice::Ipv4(ip)) = &s.net else {
            panic!()
        };
        assert_eq!(ip.header().destination(), [10, 0, 0, 1]);
        let Some(TransportSlice::Tcp(t)) = &s.transport else {
            panic!()
        };
        assert!(t.rst() && t.ack());
        assert_eq!((t.source_port(), t.destination_port()), (80, 40000));
        assert_eq!(t.sequence_number(), 5000);
        assert_eq!(t.acknowledgment_number(), 1000 + 18);
        let expected = t
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), &[])
            .unwrap();
        assert_eq!(t.checksum(), expected);

        let s = SlicedPacket::from_ethernet(&replies[1].1).unwrap();
        let Some(TransportSlice::Tcp(t)) = &s.transport else {
            panic!()
        };
        assert_eq!(replies[1].0, ReplyDirection::ToReceiver);
        assert_eq!((t.source_port(), t.destination_port()), (40000, 80));
        assert_eq!(t.sequence_number(), 1000 + 18);
    }

    #[test]
    fn udp_gets_a_port_unreachable_quoting_the_datagram() {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv6([0xfd; 16], [0xfe; 16], 64)
            .udp(5000, 53)
            .write(&mut frame, b"query")
            .unwrap();
        let replies = reject(&frame);
        assert_eq!(replies.len(), 1);
        let s = SlicedPacket::from_ethernet(&replies[0].1).unwrap();
        let Some(NetSlice::Ipv6(ip)) = &s.net else {
            panic!()
        };
        assert_eq!(ip.header().destination(), [0xfd; 16]);
        assert!(matches!(s.transport, Some(TransportSlice::Icmpv6(_))));
    }

    #[test]
    fn udp_replies_swap_endpoints_keep_vlans_and_checksum() {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .double_vlan(VlanId::try_new(10).unwrap(), VlanId::try_new(20).unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 53], 64)
            .udp(40000, 53)
            .write(&mut frame, b"question")
            .unwrap();
        let reply = udp_reply(&frame, b"answer", ReplyDirection::ToSender).unwrap();
        let s = SlicedPacket::from_ethernet(&reply).unwrap();
        assert!(matches!(s.vlan, Some(etherparse::VlanSlice::DoubleVlan(_))));
        let Some(NetSlice::Ipv4(ip)) = &s.net else {
            panic!()
        };
        assert_eq!(ip.header().source(), [10, 0, 0, 53]);
        let Some(TransportSlice::Udp(u)) = &s.transport else {
            panic!()
        };
        assert_eq!((u.source_port(), u.destination_port()), (53, 40000));
        assert_eq!(u.payload(), b"answer");
        let expected = u
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), b"answer")
            .unwrap();
        assert_eq!(u.checksum(), expected);
        let on = udp_reply(&frame, b"x", ReplyDirection::ToReceiver).unwrap();
        let s = SlicedPacket::from_ethernet(&on).unwrap();
        let Some(TransportSlice::Udp(u)) = &s.transport else {
            panic!()
        };
        assert_eq!((u.source_port(), u.destination_port()), (40000, 53));
        assert!(udp_reply(&[0u8; 64], b"x", ReplyDirection::ToSender).is_none());
    }

    #[test]
    fn garbage_gets_no_reply() {
        assert!(reject(&[0u8; 10]).is_empty());
        assert!(reject(&[0u8; 64]).is_empty());
    }
}
