//! Any bytes as a DNS message over UDP and as DNS-over-TCP data, and as a domain list
//! line in every format: parsing, answer reading, forging and list loading must never
//! panic.
#![no_main]

use sensor::proto::dns;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut arena = Vec::new();
    let mut answers = Vec::new();
    let mut each = |msg: &[u8]| {
        if let Some(m) = dns::parse(msg, &mut arena) {
            dns::read_answers(msg, &m, 64, &mut arena, &mut answers);
            let _ = dns::forge_answer(msg, &m, dns::Forged::Nxdomain, 60);
            let _ = dns::forge_answer(msg, &m, dns::Forged::Address([10, 0, 0, 1].into()), 60);
        }
    };
    each(data);
    dns::tcp_messages(data, each);
    let text = String::from_utf8_lossy(data);
    let mut set = sensor::names::suffix_set::SuffixSet::default();
    for line in text.lines() {
        set.insert(line.as_bytes(), sensor::names::suffix_set::KeyKind::Suffix, 1);
        set.for_each_match(line.as_bytes(), |_, _| {});
    }
});
