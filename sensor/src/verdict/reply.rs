//! Packets the sensor sends itself: TCP resets and ICMP port-unreachable for `reject`,
//! and UDP datagrams carrying forged DNS answers.
//!
//! Built from the offending frame with etherparse (off the data path's common case: only
//! when a reject rule fires). Ethernet addresses and VLAN tags are kept (swapped toward the
//! sender), IP and ports swapped as needed, checksums computed.

use etherparse::{
    icmpv4, icmpv6, Icmpv4Type, Icmpv6Type, IpHeaders, Ipv4Header, Ipv6Header, LinkSlice, NetSlice,
    PacketBuilder, PacketBuilderStep, SlicedPacket, TransportSlice, VlanId,
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
            let Some(step) = ip_step(&vlans, (dst_mac, src_mac), (dst, src)) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            let built = match dst {
                Ip::V4(_) => step.icmpv4(port_unreachable_v4()).write(&mut out, &quoted),
                Ip::V6(_) => step.icmpv6(port_unreachable_v6()).write(&mut out, &quoted),
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
    let mut out = Vec::new();
    ip_step(&vlans, macs, ips)?
        .udp(ports.0, ports.1)
        .write(&mut out, payload)
        .ok()?;
    pad(&mut out);
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
    let mut out = Vec::new();
    let built = ip_step(vlans, e.macs, e.ips).map(|step| {
        step.tcp(e.ports.0, e.ports.1, seq, 0)
            .rst()
            .ack(ack)
            .write(&mut out, &[])
    });
    match built {
        Some(Ok(())) => pad(&mut out),
        _ => out.clear(),
    }
    out
}

/// A frame from `macs.0` to `macs.1` with `vlans` (none, one, or outer and inner) and an
/// IP header from `ips.0` to `ips.1` (TTL or hop limit 64), ready for its transport;
/// `None` when the two addresses are not of one family.
fn ip_step(
    vlans: &[VlanId],
    macs: ([u8; 6], [u8; 6]),
    ips: (Ip, Ip),
) -> Option<PacketBuilderStep<IpHeaders>> {
    let ip = match ips {
        (Ip::V4(source), Ip::V4(destination)) => IpHeaders::Ipv4(
            Ipv4Header {
                source,
                destination,
                time_to_live: 64,
                ..Default::default()
            },
            Default::default(),
        ),
        (Ip::V6(source), Ip::V6(destination)) => IpHeaders::Ipv6(
            Ipv6Header {
                source,
                destination,
                hop_limit: 64,
                ..Default::default()
            },
            Default::default(),
        ),
        _ => return None,
    };
    let eth = PacketBuilder::ethernet2(macs.0, macs.1);
    Some(match vlans {
        [] => eth.ip(ip),
        [v] => eth.single_vlan(*v).ip(ip),
        [outer, inner, ..] => eth.double_vlan(*outer, *inner).ip(ip),
    })
}

/// Frames shorter than 60 bytes are padded by the NIC; pad here so captures match.
fn pad(frame: &mut Vec<u8>) {
    if frame.len() < 60 {
        frame.resize(60, 0);
    }
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

    #[test]
    fn every_family_and_tag_count_gets_replies_with_its_tags_and_swapped_endpoints() {
        use testkit::traffic::{build, FrameSpec, L4};
        for vlans in [&[][..], &[100], &[200, 300]] {
            for (src, dst) in [("10.0.0.1", "192.0.2.9"), ("fd00::1", "2001:db8::9")] {
                for l4 in [L4::Tcp, L4::Udp] {
                    let spec = FrameSpec {
                        vlans: vlans.to_vec(),
                        src: src.parse().unwrap(),
                        dst: dst.parse().unwrap(),
                        l4,
                        sport: 40000,
                        dport: 53,
                        size: 100,
                    };
                    let frame = build(&spec, 7);
                    let mut replies = reject(&frame);
                    assert_eq!(replies.len(), if l4 == L4::Tcp { 2 } else { 1 }, "{spec:?}");
                    if l4 == L4::Udp {
                        replies.push((
                            ReplyDirection::ToReceiver,
                            udp_reply(&frame, b"answer", ReplyDirection::ToReceiver).unwrap(),
                        ));
                    }
                    for (direction, reply) in replies {
                        let sent = crate::decode::decode(&frame).unwrap();
                        let got = crate::decode::decode(&reply).unwrap();
                        assert_eq!(got.vlan, sent.vlan, "{spec:?}");
                        assert_eq!(got.vlan_count, sent.vlan_count);
                        let (from, to) = match direction {
                            ReplyDirection::ToSender => (sent.dst_ip(), sent.src_ip()),
                            ReplyDirection::ToReceiver => (sent.src_ip(), sent.dst_ip()),
                        };
                        assert_eq!((got.src_ip(), got.dst_ip()), (from, to), "{spec:?}");
                        assert!(reply.len() >= 60);
                    }
                }
            }
        }
    }
}
