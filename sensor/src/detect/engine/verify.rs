//! Verification: every condition of a candidate rule other than its fast pattern,
//! checked on this packet's facts, flow and buffers.

use super::*;

/// Every condition of `rule` other than the prefilter, for this packet.
pub(super) fn verify(
    rule: &Rule,
    m: &PacketFacts,
    to_server: bool,
    flow: &Flow,
    b: &Buffers<'_>,
) -> bool {
    // A rule on the TLS handshake is decided when a part it reads completes, once.
    let hellos = crate::proto::tls::part::CLIENT_HELLO | crate::proto::tls::part::SERVER_HELLO;
    let parts = rule.buffers.iter().fold(0, |p, c| p | c.buffer.tls_parts())
        | if rule.tls_version.is_some() {
            hellos
        } else {
            0
        };
    if parts != 0 && parts & b.tls_new == 0 {
        return false;
    }
    let view = rule.payload_view();
    if view == PayloadView::StreamOnly && !(m.proto == IpProto::TCP && b.segment_len > 0) {
        return false;
    }
    let proto_ok = match rule.protocol {
        Protocol::Ip => true,
        Protocol::Tcp | Protocol::TcpPkt | Protocol::TcpStream => m.proto == IpProto::TCP,
        Protocol::Http => m.proto == IpProto::TCP && flow.is_http,
        Protocol::Udp => m.proto == IpProto::UDP,
        Protocol::Icmp => m.proto.is_icmp(),
        Protocol::Dns => b.dns_msg.is_some(),
        Protocol::Tls => b.tls.is_some(),
    };
    if !proto_ok {
        return false;
    }
    let side = |a: (IpAddr, u16), b: (IpAddr, u16)| {
        rule.src_set.contains(a.0)
            && rule.dst_set.contains(b.0)
            && (!m.has_ports || rule.src_ports.matches(a.1) && rule.dst_ports.matches(b.1))
    };
    if !(side(m.src, m.dst) || rule.bidirectional && side(m.dst, m.src)) {
        return false;
    }
    if rule.ip_only && flow.packets[usize::from(!to_server)] != 1 {
        return false;
    }
    if let Some(ts) = rule.flow.to_server {
        if ts != to_server {
            return false;
        }
    }
    if let Some(est) = rule.flow.established {
        if est != (flow.state == FlowState::Established) {
            return false;
        }
    }
    if let Some(f) = rule.flags {
        match m.tcp_flags {
            Some(flags) if f.check(flags) => {}
            _ => return false,
        }
    }
    if let Some(d) = rule.dsize {
        if !d.check(b.segment_len) {
            return false;
        }
    }
    if rule.icmp_type.is_some() || rule.icmp_code.is_some() {
        let Some((t, c)) = b.icmp else {
            return false;
        };
        if rule.icmp_type.is_some_and(|s| !s.check(usize::from(t)))
            || rule.icmp_code.is_some_and(|s| !s.check(usize::from(c)))
        {
            return false;
        }
    }
    if let Some(v) = rule.tls_version {
        // The version of the side that sent the packet, else the other side's.
        let Some(h) = b.tls else {
            return false;
        };
        let client = h.client.as_ref().map(|c| c.version);
        let server = h.server.as_ref().map(|s| s.version);
        let version = if to_server {
            client.or(server)
        } else {
            server.or(client)
        };
        if version != Some(v) {
            return false;
        }
    }
    if let Some(size) = rule.stream_size {
        if m.proto != IpProto::TCP || !size.check(flow.streams[0].size(), flow.streams[1].size()) {
            return false;
        }
    }
    for fb in &rule.flowbits {
        let check = |bit: &u16| flow.bit(*bit);
        let ok = match fb.op {
            FlowbitOp::IsSet if fb.any => fb.bits.iter().any(check),
            FlowbitOp::IsSet => fb.bits.iter().all(check),
            FlowbitOp::IsNotSet if fb.any => !fb.bits.iter().all(check),
            FlowbitOp::IsNotSet => !fb.bits.iter().any(check),
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    if !rule.xbits.is_empty() && !b.xbits.hold(&rule.xbits, m.src.0, m.dst.0, m.now_us) {
        return false;
    }
    for fi in &rule.flowints {
        let v = flow.int(&fi.name);
        let ok = match fi.op {
            FlowintOp::IsSet => v.is_some(),
            FlowintOp::NotSet => v.is_none(),
            // `>=` is "not less", `<=` "not greater".
            FlowintOp::Compare(ord, holds, n) => v.is_some_and(|v| (v.cmp(&n) == ord) == holds),
            FlowintOp::Set(_) | FlowintOp::Add(_) | FlowintOp::Sub(_) => true,
        };
        if !ok {
            return false;
        }
    }
    if rule.dns.any() {
        let Some(msg) = b.dns_msg else {
            return false;
        };
        if rule
            .dns
            .opcode
            .is_some_and(|c| !c.check(u16::from(msg.opcode)))
            || rule.dns.rrtype.is_some_and(|c| !c.check(msg.rrtype))
        {
            return false;
        }
    }
    rule.buffers.iter().all(|conds| match conds.buffer {
        Buffer::Payload if view == PayloadView::Packet => {
            b.segment().is_some_and(|d| content::matches(conds, d))
        }
        // Several instances (header lines, certificates, names): the conditions hold
        // within one of them.
        other => b.any(other, |d| content::matches(conds, d)),
    })
}
