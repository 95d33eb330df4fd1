//! Measures aho-corasick (what the engine runs) against Hyperscan on the engine's real
//! prefilter groups: the fast patterns of the loadable ET Open rules, grouped as the
//! engine groups them, scanned over the benchmark mix's payloads (payload groups) and the
//! buffers of its HTTP requests (URI, User-Agent, header block, body: the HTTP groups).
//! Caseless, every match reported, as the engine scans. Prints throughput and the time
//! per scan: the engine picks Hyperscan or aho-corasick per buffer from these figures.
//!
//!   cargo run --release -p sensor --example prefilter_compare -- ../shared/data/et-open

// A measuring tool, not the product: it stops with a message on a broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::Instant;

use aho_corasick::{AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use hyperscan::prelude::*;
use sensor::detect::prefilter::{self, GroupKey, Transport};
use sensor::rules::ast::Buffer;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/et-open".into());
    let loaded = sensor::rules::load(&[path.as_str().into()], &sensor::rules::Vars::default())
        .expect("rules");
    let mut groups: HashMap<GroupKey, Vec<Vec<u8>>> = HashMap::new();
    for rule in &loaded.rules {
        if sensor::detect::address_index(rule).is_some() {
            continue;
        }
        let Some((buffer, pattern)) = prefilter::fast_pattern(rule) else {
            continue;
        };
        // As the engine files them: by transport and flow direction, patterns of 4 bytes
        // or more in the (transport, direction, buffer)'s any-port matcher whatever ports
        // the rule names, shorter ones under their ports.
        let ways = prefilter::transports(rule.protocol)
            .iter()
            .flat_map(|&t| prefilter::directions(rule).iter().map(move |&d| (t, d)));
        for (transport, to_server) in ways {
            let ports = if pattern.len() >= 4 {
                vec![prefilter::PortKey::Any]
            } else {
                prefilter::port_keys(rule)
            };
            for port in ports {
                let list = groups
                    .entry(GroupKey {
                        transport,
                        to_server,
                        buffer,
                        port,
                    })
                    .or_default();
                let p = pattern.to_ascii_lowercase();
                if !list.contains(&p) {
                    list.push(p);
                }
            }
        }
    }
    let mix = testkit::traffic::bench_mix(100_000, 20_000, 1);
    let payloads: Vec<&[u8]> = mix
        .iter()
        .filter_map(|f| sensor::decode::decode(f).ok().map(|p| p.payload))
        .filter(|p| !p.is_empty())
        .collect();
    let requests: Vec<sensor::proto::http::Request> = payloads
        .iter()
        .filter_map(|p| sensor::proto::http::parse_request(p))
        .collect();
    let inputs = |buffer: Buffer| -> Vec<&[u8]> {
        match buffer {
            Buffer::Payload => payloads.clone(),
            Buffer::HttpUri => requests.iter().map(|r| r.uri).collect(),
            Buffer::HttpUserAgent => requests.iter().filter_map(|r| r.user_agent).collect(),
            Buffer::HttpHeader => requests.iter().map(|r| r.headers).collect(),
            _ => requests.iter().map(|r| r.body).collect(),
        }
    };
    let measured = [
        Buffer::Payload,
        Buffer::HttpUri,
        Buffer::HttpUserAgent,
        Buffer::HttpHeader,
        Buffer::HttpRequestBody,
        Buffer::FileData,
    ];
    let mut sizes: Vec<(&GroupKey, &Vec<Vec<u8>>)> = groups
        .iter()
        .filter(|(k, _)| {
            measured.contains(&k.buffer)
                && k.transport != Transport::Other
                && k.port == prefilter::PortKey::Any
        })
        .collect();
    sizes.sort_by_key(|(_, p)| std::cmp::Reverse(p.len()));
    sizes.sort_by_key(|(k, p)| (k.buffer != Buffer::Payload, std::cmp::Reverse(p.len())));
    println!(
        "{:<44} {:>8} {:>9} {:>10} {:>10} {:>10} {:>10} {:>7}",
        "group", "patterns", "avg_bytes", "ac_MB/s", "hs_MB/s", "ac_ns/scan", "hs_ns/scan", "hs/ac"
    );
    for (key, patterns) in sizes {
        let data = inputs(key.buffer);
        let scans = (3 * data.len().max(1)) as f64;
        let bytes: usize = data.iter().map(|d| d.len()).sum();
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(patterns)
            .expect("aho-corasick");
        let start = Instant::now();
        let mut ac_hits = 0usize;
        for _ in 0..3 {
            for d in &data {
                ac_hits += ac.find_overlapping_iter(*d).count();
            }
        }
        let ac_time = start.elapsed().as_secs_f64();

        let hs_patterns: Patterns = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let expr: String = p.iter().map(|b| format!("\\x{b:02x}")).collect();
                let mut pat = Pattern::with_flags(expr, CompileFlags::CASELESS).expect("pattern");
                pat.id = Some(i);
                pat
            })
            .collect();
        let db: BlockDatabase = hs_patterns.build().expect("hyperscan compile");
        let scratch = db.alloc_scratch().expect("scratch");
        let start = Instant::now();
        let mut hs_hits = 0usize;
        for _ in 0..3 {
            for d in &data {
                db.scan(*d, &scratch, |_, _, _, _| {
                    hs_hits += 1;
                    Matching::Continue
                })
                .expect("scan");
            }
        }
        let hs_time = start.elapsed().as_secs_f64();
        assert_eq!(ac_hits, hs_hits, "both engines report every match");
        println!(
            "{:<44} {:>8} {:>9} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>7.2}",
            format!(
                "{:?}/{}/{:?}/{:?}",
                key.transport,
                if key.to_server {
                    "ToServer"
                } else {
                    "ToClient"
                },
                key.buffer,
                key.port
            ),
            patterns.len(),
            bytes / data.len().max(1),
            3.0 * bytes as f64 / ac_time / 1e6,
            3.0 * bytes as f64 / hs_time / 1e6,
            ac_time * 1e9 / scans,
            hs_time * 1e9 / scans,
            ac_time / hs_time
        );
    }
}
