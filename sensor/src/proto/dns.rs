//! DNS messages for the engine, parsed with hickory-proto.
//!
//! [`parse`] reads the header and the first question of one message (UDP payload, or a
//! TCP message without its length prefix; [`tcp_messages`] does the framing) and writes
//! the question name into a caller's arena as `.` + labels, lowercased, no trailing dot:
//! the `dns.query; dotprefix` buffer, with `dns.query` the same bytes after the dot.
//! Answers (A, AAAA, CNAME with TTLs; other types by type and TTL only) are read on
//! demand with [`read_answers`], so the query path never pays for them. Names up to 32
//! bytes parse without a heap allocation (hickory keeps short names inline).

use std::net::IpAddr;
use std::ops::Range;

use hickory_proto::op::{Header, MessageType, Query};
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

/// Header and first question of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    /// Message id.
    pub id: u16,
    /// True for a response (QR set).
    pub response: bool,
    /// Opcode (0 = query).
    pub opcode: u8,
    /// Response code (the header's four bits).
    pub rcode: u8,
    /// The raw flags word (bytes 2-3 of the header).
    pub flags: u16,
    /// Where `.` + the first question's name lies in the arena (empty range: no question).
    pub name: Range<usize>,
    /// The first question's type (0 when there is none).
    pub rrtype: u16,
    /// The first question's class.
    pub class: u16,
    /// Bytes of the message up to the end of the first question (for forging answers).
    pub question_end: usize,
    /// Whether the message has exactly one question (forged answers copy it).
    pub single_question: bool,
    /// Answer records announced in the header.
    pub answer_count: u16,
    /// Authority and additional records announced in the header.
    pub other_count: u32,
    /// Offset of the answer section (valid when the message has one question).
    pub answers_at: usize,
}

impl DnsMessage {
    /// Whether the message carries a question.
    pub fn has_question(&self) -> bool {
        !self.name.is_empty()
    }
}

/// One answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Where `.` + the record's owner name lies in the arena.
    pub name: Range<usize>,
    /// Record type.
    pub rrtype: u16,
    /// TTL in seconds.
    pub ttl: u32,
    /// The data, for the types the sensor uses.
    pub data: AnswerData,
}

/// Data of an answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerData {
    /// An address (A or AAAA).
    Addr(IpAddr),
    /// A CNAME target: `.` + name in the arena.
    Cname(Range<usize>),
    /// Any other type (not decoded).
    Other,
}

/// Appends `.` + each label of `name`, lowercased (the root name gives `.`).
fn push_name(name: &Name, arena: &mut Vec<u8>) -> Range<usize> {
    let start = arena.len();
    if name.num_labels() == 0 {
        arena.push(b'.');
    }
    for label in name.iter() {
        arena.push(b'.');
        arena.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    start..arena.len()
}

/// Whether [`parse`] may accept `msg`: a whole header and, when it announces questions, a
/// first question name whose labels (up to a compression pointer, which the full parser
/// judges) stay inside the message and are followed by a type and a class. Never false
/// for a message the full parser accepts; turns away most payload that is not DNS (random
/// bytes to port 53) in a few instructions, where the full parser's errors allocate.
fn may_parse(msg: &[u8]) -> bool {
    const HEADER: usize = 12;
    if msg.len() < HEADER {
        return false;
    }
    if msg[4] == 0 && msg[5] == 0 {
        return true;
    }
    let mut at = HEADER;
    loop {
        let Some(&len) = msg.get(at) else {
            return false;
        };
        match len & 0xc0 {
            0x00 if len == 0 => {
                at += 1;
                break;
            }
            0x00 => at += 1 + usize::from(len),
            0xc0 => {
                at += 2;
                break;
            }
            // The reserved label types 01 and 10.
            _ => return false,
        }
    }
    at + 4 <= msg.len()
}

/// Parses one DNS message's header and first question, appending the question name to
/// `arena`. `None` when the message is malformed (short header, bad name, truncated
/// question).
pub fn parse(msg: &[u8], arena: &mut Vec<u8>) -> Option<DnsMessage> {
    if !may_parse(msg) {
        return None;
    }
    parse_full(msg, arena)
}

/// [`parse`] without the quick check: the full parser alone.
fn parse_full(msg: &[u8], arena: &mut Vec<u8>) -> Option<DnsMessage> {
    let mut d = BinDecoder::new(msg);
    let header = Header::read(&mut d).ok()?;
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    let mut out = DnsMessage {
        id: header.id(),
        response: header.message_type() == MessageType::Response,
        opcode: u8::from(header.op_code()),
        rcode: (flags & 0x000f) as u8,
        flags,
        name: arena.len()..arena.len(),
        rrtype: 0,
        class: 0,
        question_end: Header::len(),
        single_question: header.query_count() == 1,
        answer_count: header.answer_count(),
        other_count: u32::from(header.name_server_count()) + u32::from(header.additional_count()),
        answers_at: Header::len(),
    };
    if header.query_count() > 0 {
        let q = Query::read(&mut d).ok()?;
        out.name = push_name(q.name(), arena);
        out.rrtype = u16::from(q.query_type());
        out.class = u16::from(q.query_class());
        out.question_end = d.index();
        out.answers_at = d.index();
    }
    Some(out)
}

/// Reads up to `max` answer records of a parsed single-question message into `answers`
/// (names into `arena`), then checks that every announced record (answer, authority,
/// additional) parses. Returns false when one does not: the message is malformed past its
/// question (what was read before the bad record is kept).
pub fn read_answers(
    msg: &[u8],
    parsed: &DnsMessage,
    max: usize,
    arena: &mut Vec<u8>,
    answers: &mut Vec<Answer>,
) -> bool {
    if !parsed.single_question || parsed.answers_at > msg.len() {
        return false;
    }
    let mut d = BinDecoder::new(msg);
    if d.read_slice(parsed.answers_at).is_err() {
        return false;
    }
    let count = usize::from(parsed.answer_count);
    for i in 0..count + parsed.other_count as usize {
        let Ok(record) = Record::read(&mut d) else {
            return false;
        };
        if i >= count.min(max) {
            continue;
        }
        let data = match record.data() {
            Some(RData::A(a)) => AnswerData::Addr(IpAddr::V4(a.0)),
            Some(RData::AAAA(a)) => AnswerData::Addr(IpAddr::V6(a.0)),
            Some(RData::CNAME(c)) => AnswerData::Cname(push_name(&c.0, arena)),
            _ => AnswerData::Other,
        };
        answers.push(Answer {
            name: push_name(record.name(), arena),
            rrtype: u16::from(record.record_type()),
            ttl: record.ttl(),
            data,
        });
    }
    true
}

/// Splits DNS-over-TCP data into messages: calls `each` with every whole message (without
/// its two-byte length prefix) at the front of `data` and returns the bytes consumed; the
/// rest is an incomplete message to be completed by the next segment.
pub fn tcp_messages<'a>(data: &'a [u8], mut each: impl FnMut(&'a [u8])) -> usize {
    let mut at = 0;
    while let Some(prefix) = data.get(at..at + 2) {
        let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
        let Some(msg) = data.get(at + 2..at + 2 + len) else {
            break;
        };
        each(msg);
        at += 2 + len;
    }
    at
}

/// What a forged answer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forged {
    /// NXDOMAIN, no records.
    Nxdomain,
    /// NOERROR, no records.
    Nodata,
    /// NOERROR with this address as the answer when the question's type is its family's
    /// (A for IPv4, AAAA for IPv6); NODATA for any other type.
    Address(IpAddr),
}

/// The answer to `msg` (parsed as `parsed`, a single-question query, or a response being
/// replaced): same id, opcode, RD and question (copied byte for byte, so the name's case
/// survives); QR and RA set. `None` when the message has not exactly one question.
pub fn forge_answer(msg: &[u8], parsed: &DnsMessage, what: Forged, ttl: u32) -> Option<Vec<u8>> {
    if !parsed.single_question || parsed.question_end > msg.len() {
        return None;
    }
    let record: Option<(u16, Vec<u8>)> = match what {
        Forged::Address(IpAddr::V4(a)) if parsed.rrtype == 1 => Some((1, a.octets().to_vec())),
        Forged::Address(IpAddr::V6(a)) if parsed.rrtype == 28 => Some((28, a.octets().to_vec())),
        _ => None,
    };
    let rcode = if what == Forged::Nxdomain { 3 } else { 0 };
    let flags = 0x8000 | (parsed.flags & 0x7900) | 0x0080 | rcode;
    let mut out = Vec::with_capacity(parsed.question_end + 32);
    out.extend_from_slice(&parsed.id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, u8::from(record.is_some()), 0, 0, 0, 0]);
    out.extend_from_slice(&msg[12..parsed.question_end]);
    if let Some((rrtype, rdata)) = record {
        out.extend_from_slice(&[0xc0, 12]);
        out.extend_from_slice(&rrtype.to_be_bytes());
        out.extend_from_slice(&parsed.class.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Some(out)
}

/// The mnemonic of a record type (`A`, `AAAA`, `NULL`...), or its number in decimal.
pub fn rrtype_name(t: u16) -> String {
    let name = hickory_proto::rr::RecordType::from(t).to_string();
    if name.starts_with("Unknown") {
        t.to_string()
    } else {
        name
    }
}

/// The record type for a mnemonic (case-insensitive) or a decimal number.
pub fn rrtype_from_str(s: &str) -> Option<u16> {
    if let Ok(n) = s.parse::<u16>() {
        return Some(n);
    }
    let t: hickory_proto::rr::RecordType = s.to_ascii_uppercase().parse().ok()?;
    Some(u16::from(t))
}

/// The name of a response code (`NOERROR`, `NXDOMAIN`...).
pub fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "OTHER",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn the_quick_check_never_turns_away_what_the_full_parser_accepts() {
        // Random bytes, and real messages cut short and with bytes changed at random: the
        // quick check may let through what the full parser rejects, never the reverse.
        let mut rng = testkit::traffic::Rng::new(0);
        let mut next = move || rng.next_u64();
        let real = [
            message(7, 0x0100, "www.example.com", 1, &[]),
            message(9, 0x8180, "a.b.c", 1, &[(1, 60, vec![1, 2, 3, 4])]),
            message(3, 0x0100, "", 1, &[]),
        ];
        let (mut accepted, mut turned_away, mut arena) = (0, 0, Vec::new());
        for i in 0..200_000 {
            let mut m = if i % 2 == 0 {
                let n = (next() % 64) as usize;
                (0..n).map(|_| next() as u8).collect::<Vec<u8>>()
            } else {
                real[i % real.len()].clone()
            };
            if i % 2 == 1 {
                for _ in 0..next() % 4 {
                    if !m.is_empty() {
                        let at = (next() as usize) % m.len();
                        m[at] = next() as u8;
                    }
                }
                let keep = m.len() - (next() as usize % 4).min(m.len());
                m.truncate(keep);
            }
            // Random messages with one question, so the name check is what decides.
            if i % 4 == 0 && m.len() >= 6 {
                m[4] = 0;
                m[5] = 1;
            }
            let full = parse_full(&m, &mut arena).is_some();
            if !may_parse(&m) {
                assert!(!full, "turned away a message the parser accepts: {m:02x?}");
                turned_away += 1;
            }
            accepted += usize::from(full);
            arena.clear();
        }
        assert!(
            accepted > 10_000 && turned_away > 10_000,
            "{accepted} {turned_away}"
        );
    }

    /// A message with header `id`/`flags`, one question for `name` of type `qtype`, and
    /// `answers` (name pointer to the question, type, ttl, rdata).
    pub(crate) fn message(
        id: u16,
        flags: u16,
        name: &str,
        qtype: u16,
        answers: &[(u16, u32, Vec<u8>)],
    ) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&flags.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        for label in name.split('.').filter(|l| !l.is_empty()) {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        for (t, ttl, rdata) in answers {
            m.extend_from_slice(&[0xc0, 12]);
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&[0, 1]);
            m.extend_from_slice(&ttl.to_be_bytes());
            m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            m.extend_from_slice(rdata);
        }
        m
    }

    /// A query for `name` (type A) in wire format.
    pub(crate) fn query(name: &str) -> Vec<u8> {
        message(0x1234, 0x0100, name, 1, &[])
    }

    fn name_of(arena: &[u8], m: &DnsMessage) -> String {
        String::from_utf8_lossy(&arena[m.name.clone()]).into_owned()
    }

    #[test]
    fn queries_give_id_flags_and_the_lowercased_dotted_name() {
        let mut arena = Vec::new();
        let m = parse(&query("WWW.Evil.com"), &mut arena).unwrap();
        assert_eq!(name_of(&arena, &m), ".www.evil.com");
        assert_eq!((m.id, m.response, m.rrtype, m.class), (0x1234, false, 1, 1));
        assert_eq!((m.opcode, m.rcode, m.flags), (0, 0, 0x0100));
        assert!(m.single_question);
    }

    #[test]
    fn responses_give_a_aaaa_and_cname_answers_with_ttls() {
        let cname = {
            let mut v = vec![3];
            v.extend_from_slice(b"cdn");
            v.extend_from_slice(&[0xc0, 12]);
            v
        };
        let msg = message(
            7,
            0x8183,
            "x.example.org",
            1,
            &[
                (5, 30, cname),
                (1, 60, vec![192, 0, 2, 1]),
                (28, 90, [0x20, 0x01, 0x0d, 0xb8].repeat(4)),
                (16, 5, b"\x03abc".to_vec()),
            ],
        );
        let mut arena = Vec::new();
        let m = parse(&msg, &mut arena).unwrap();
        assert!(m.response);
        assert_eq!(rcode_name(m.rcode), "NXDOMAIN");
        let mut answers = Vec::new();
        assert!(read_answers(&msg, &m, 16, &mut arena, &mut answers));
        assert_eq!(answers.len(), 4);
        let AnswerData::Cname(target) = &answers[0].data else {
            panic!("not a cname: {:?}", answers[0])
        };
        assert_eq!(&arena[target.clone()], b".cdn.x.example.org");
        assert_eq!(answers[0].ttl, 30);
        assert_eq!(
            answers[1].data,
            AnswerData::Addr("192.0.2.1".parse().unwrap())
        );
        assert_eq!(answers[1].ttl, 60);
        assert_eq!(
            answers[2].data,
            AnswerData::Addr("2001:db8:2001:db8:2001:db8:2001:db8".parse().unwrap())
        );
        assert_eq!(
            (answers[3].rrtype, &answers[3].data),
            (16, &AnswerData::Other)
        );
        assert_eq!(&arena[answers[1].name.clone()], b".x.example.org");
    }

    #[test]
    fn a_corrupt_additional_record_makes_the_message_malformed() {
        let mut msg = message(7, 0x8180, "x.example", 1, &[(1, 60, vec![192, 0, 2, 1])]);
        msg[11] = 1; // one additional record announced...
        msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0]); // ...cut short
        let mut arena = Vec::new();
        let m = parse(&msg, &mut arena).unwrap();
        let mut answers = Vec::new();
        assert!(!read_answers(&msg, &m, 16, &mut arena, &mut answers));
        assert_eq!(answers.len(), 1, "the answer before it is kept");
    }

    #[test]
    fn the_root_name_and_zero_length_labels() {
        let mut arena = Vec::new();
        let m = parse(&message(1, 0, "", 2, &[]), &mut arena).unwrap();
        assert_eq!(name_of(&arena, &m), ".");
        // An empty label inside a name ends it early: the rest is read as the type.
        let mut msg = query("a.b");
        msg[14] = 0; // "a" then a zero-length label where "b" began
        let _ = parse(&msg, &mut arena);
    }

    #[test]
    fn compression_loops_and_forward_pointers_are_malformed() {
        let mut arena = Vec::new();
        let mut looped = query("abc.def");
        looped[12] = 0xc0; // a pointer to itself
        looped[13] = 12;
        assert!(parse(&looped, &mut arena).is_none());
        let mut forward = query("abc.def");
        forward[12] = 0xc0; // a pointer past itself
        forward[13] = 20;
        assert!(parse(&forward, &mut arena).is_none());
    }

    #[test]
    fn truncated_messages_are_malformed() {
        let mut arena = Vec::new();
        assert!(parse(&[0u8; 5], &mut arena).is_none());
        let q = query("truncated.example.com");
        for cut in 12..q.len() {
            assert!(parse(&q[..cut], &mut arena).is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn names_up_to_255_bytes_parse_and_longer_ones_do_not() {
        let label = "a".repeat(63);
        // 4 labels of 63 + 1 of 61: 4*64 + 62 + 1 = 319 wire bytes: too long.
        let long = [label.as_str(); 4].join(".") + "." + &"b".repeat(61);
        let mut arena = Vec::new();
        assert!(parse(&message(1, 0, &long, 1, &[]), &mut arena).is_none());
        // 3 labels of 63 + 1 of 61: 3*64 + 62 + 1 = 255 wire bytes: the maximum.
        let max = [label.as_str(); 3].join(".") + "." + &"b".repeat(61);
        let m = parse(&message(1, 0, &max, 1, &[]), &mut arena).unwrap();
        assert_eq!(m.name.len(), 254);
    }

    #[test]
    fn tcp_framing_splits_several_messages_and_keeps_a_partial_one() {
        let (a, b) = (query("a.example"), query("b.example"));
        let mut data = Vec::new();
        for m in [&a, &b] {
            data.extend_from_slice(&(m.len() as u16).to_be_bytes());
            data.extend_from_slice(m);
        }
        let whole = data.len();
        data.extend_from_slice(&(a.len() as u16).to_be_bytes());
        data.extend_from_slice(&a[..5]);
        let mut seen = Vec::new();
        let used = tcp_messages(&data, |m| seen.push(m.to_vec()));
        assert_eq!(seen, vec![a.clone(), b]);
        assert_eq!(used, whole);
        assert_eq!(tcp_messages(&[0], |_| panic!("no message")), 0);
    }

    #[test]
    fn forged_answers_parse_with_hickory_and_keep_the_question() {
        use hickory_proto::op::{Message, ResponseCode};
        let q = message(0xbeef, 0x0120, "Sink.Example.com", 1, &[]);
        let mut arena = Vec::new();
        let parsed = parse(&q, &mut arena).unwrap();
        let a = forge_answer(
            &q,
            &parsed,
            Forged::Address("10.9.9.9".parse().unwrap()),
            60,
        )
        .unwrap();
        let m = Message::from_bytes(&a).unwrap();
        assert_eq!(m.id(), 0xbeef);
        assert_eq!(m.message_type(), MessageType::Response);
        assert!(m.recursion_desired() && m.recursion_available());
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert_eq!(m.queries()[0].name().to_ascii(), "Sink.Example.com.");
        assert_eq!(m.answers().len(), 1);
        assert_eq!(m.answers()[0].ttl(), 60);
        assert_eq!(
            m.answers()[0].data(),
            Some(&RData::A(
                "10.9.9.9".parse::<std::net::Ipv4Addr>().unwrap().into()
            ))
        );
        // A v4 sinkhole for an AAAA question: NODATA.
        let q6 = message(1, 0x0100, "x.example", 28, &[]);
        let p6 = parse(&q6, &mut arena).unwrap();
        let a6 = forge_answer(&q6, &p6, Forged::Address("10.9.9.9".parse().unwrap()), 60).unwrap();
        let m6 = Message::from_bytes(&a6).unwrap();
        assert_eq!(
            (m6.response_code(), m6.answers().len()),
            (ResponseCode::NoError, 0)
        );
        let nx = forge_answer(&q, &parsed, Forged::Nxdomain, 60).unwrap();
        let m = Message::from_bytes(&nx).unwrap();
        assert_eq!(
            (m.response_code(), m.answers().len()),
            (ResponseCode::NXDomain, 0)
        );
        let two = [&q[..5], &[2], &q[6..]].concat();
        let p2 = parse(&two, &mut arena);
        assert!(p2.is_none_or(|p| forge_answer(&two, &p, Forged::Nodata, 60).is_none()));
    }

    #[test]
    fn record_type_names_round_trip() {
        assert_eq!(rrtype_from_str("null"), Some(10));
        assert_eq!(rrtype_from_str("TXT"), Some(16));
        assert_eq!(rrtype_from_str("65280"), Some(65280));
        assert_eq!(rrtype_name(28), "AAAA");
        assert_eq!(rrtype_name(10), "NULL");
        assert!(rrtype_from_str("nonsense").is_none());
    }
}
