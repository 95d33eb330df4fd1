//! Measures aho-corasick (what the engine runs) against Hyperscan on the engine's real
//! prefilter groups: the fast patterns of the loadable ET Open rules, grouped as the
//! engine groups them, scanned over the benchmark mix's payloads (payload groups) and its
//! HTTP request URIs (URI groups). Caseless; every pattern hit is counted (Hyperscan
//! reports each pattern once per scan, as a prefilter needs).
//!
//!   cargo run --release -p sensor --example prefilter_compare -- ../shared/data/et-open [GROUPS]

use std::collections::HashMap;
use std::time::Instant;

use aho_corasick::{AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use hyperscan::prelude::*;
use sensor::detect::prefilter::{self, GroupKey, Transport};
use sensor::rules::ast::Buffer;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .map_or("../shared/data/et-open", String::as_str);
    let top: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(6);
    let loaded =
        sensor::rules::load(&[path.into()], &sensor::rules::Vars::default()).expect("rules");
    let mut groups: HashMap<GroupKey, Vec<Vec<u8>>> = HashMap::new();
    for rule in &loaded.rules {
        if sensor::detect::address_index(rule).is_some() {
            continue;
        }
        let Some((buffer, pattern)) = prefilter::fast_pattern(rule) else {
            continue;
        };
        for &transport in prefilter::transports(rule.protocol) {
            for port in prefilter::port_keys(rule) {
                let list = groups
                    .entry(GroupKey {
                        transport,
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
    let uris: Vec<&[u8]> = payloads
        .iter()
        .filter_map(|p| sensor::http::parse_request(p).map(|r| r.uri))
        .collect();
    let mut sizes: Vec<(&GroupKey, &Vec<Vec<u8>>)> = groups
        .iter()
        .filter(|(k, _)| {
            matches!(k.buffer, Buffer::Payload | Buffer::HttpUri) && k.transport != Transport::Other
        })
        .collect();
    sizes.sort_by_key(|(_, p)| std::cmp::Reverse(p.len()));
    println!(
        "{:<44} {:>8} {:>12} {:>12} {:>8} {:>10} {:>10}",
        "group", "patterns", "ac_MB/s", "hs_MB/s", "hs/ac", "ac_hits", "hs_hits"
    );
    for (key, patterns) in sizes.into_iter().take(top) {
        let data: &[&[u8]] = if key.buffer == Buffer::HttpUri {
            &uris
        } else {
            &payloads
        };
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
            for d in data {
                ac_hits += ac.find_overlapping_iter(*d).count();
            }
        }
        let ac_rate = 3.0 * bytes as f64 / start.elapsed().as_secs_f64() / 1e6;

        let hs_patterns: Patterns = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let expr: String = p.iter().map(|b| format!("\\x{b:02x}")).collect();
                let mut pat =
                    Pattern::with_flags(expr, CompileFlags::CASELESS | CompileFlags::SINGLEMATCH)
                        .expect("pattern");
                pat.id = Some(i);
                pat
            })
            .collect();
        let db: BlockDatabase = hs_patterns.build().expect("hyperscan compile");
        let scratch = db.alloc_scratch().expect("scratch");
        let start = Instant::now();
        let mut hs_hits = 0usize;
        for _ in 0..3 {
            for d in data {
                db.scan(*d, &scratch, |_, _, _, _| {
                    hs_hits += 1;
                    Matching::Continue
                })
                .expect("scan");
            }
        }
        let hs_rate = 3.0 * bytes as f64 / start.elapsed().as_secs_f64() / 1e6;
        println!(
            "{:<44} {:>8} {:>12.0} {:>12.0} {:>8.2} {:>10} {:>10}",
            format!("{:?}/{:?}/{:?}", key.transport, key.buffer, key.port),
            patterns.len(),
            ac_rate,
            hs_rate,
            hs_rate / ac_rate,
            ac_hits / 3,
            hs_hits / 3
        );
    }
}
