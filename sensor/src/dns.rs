//! DNS messages for the rule engine, parsed with hickory-proto.
//!
//! For now: the first question of a query or response over UDP, or over TCP with its
//! two-byte length prefix, as the `dns.query` buffer (lowercased, no trailing dot) with a
//! leading dot kept in front for `dotprefix`. A message that does not parse yields no
//! buffer (the caller counts it). Parsing allocates (hickory builds owned names).

use hickory_proto::op::Message;
use hickory_proto::serialize::binary::BinDecodable;

/// Facts of one parsed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsFacts {
    /// Message id.
    pub id: u16,
    /// True for a response.
    pub response: bool,
    /// The first question's type.
    pub rrtype: u16,
}

/// Parses a DNS message (`tcp`: with its length prefix) and writes `.` plus the first
/// question's name, lowercased and without the trailing dot, into `out`.
pub fn parse_query(payload: &[u8], tcp: bool, out: &mut Vec<u8>) -> Option<DnsFacts> {
    let body = if tcp {
        let len = usize::from(u16::from_be_bytes([*payload.first()?, *payload.get(1)?]));
        payload.get(2..2 + len).or_else(|| payload.get(2..))?
    } else {
        payload
    };
    let msg = Message::from_bytes(body).ok()?;
    let q = msg.queries().first()?;
    out.clear();
    out.push(b'.');
    let name = q.name().to_ascii();
    let name = name.strip_suffix('.').unwrap_or(&name);
    out.extend(name.bytes().map(|b| b.to_ascii_lowercase()));
    Some(DnsFacts {
        id: msg.id(),
        response: msg.message_type() == hickory_proto::op::MessageType::Response,
        rrtype: u16::from(q.query_type()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` (type A) in wire format.
    fn query(name: &str) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        m
    }

    #[test]
    fn udp_and_tcp_queries_give_the_lowercased_name_with_a_leading_dot() {
        let mut out = Vec::new();
        let f = parse_query(&query("WWW.Evil.com"), false, &mut out).unwrap();
        assert_eq!(out, b".www.evil.com");
        assert_eq!((f.id, f.response, f.rrtype), (0x1234, false, 1));
        let q = query("a.b");
        let mut tcp = (q.len() as u16).to_be_bytes().to_vec();
        tcp.extend_from_slice(&q);
        parse_query(&tcp, true, &mut out).unwrap();
        assert_eq!(out, b".a.b");
    }

    #[test]
    fn malformed_messages_yield_nothing() {
        let mut out = Vec::new();
        assert!(parse_query(&[0u8; 5], false, &mut out).is_none());
        let mut q = query("abc.def");
        q[12] = 0xc0; // a compression pointer to itself
        q[13] = 12;
        let _ = parse_query(&q, false, &mut out);
    }
}
