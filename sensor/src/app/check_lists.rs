//! `sensor check-lists`: load domain lists, report entries, rejected lines, load time,
//! memory per name, and what a lookup costs.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use crate::names::domain_lists::{DomainLists, ListConfig};

/// The report `check-lists --json` prints.
#[derive(Debug, Serialize)]
pub struct ListsReport {
    /// Entries per list.
    pub lists: BTreeMap<String, usize>,
    /// Entries in all.
    pub entries: usize,
    /// Milliseconds to read and compile every list.
    pub load_ms: f64,
    /// Bytes held by the compiled lists.
    pub memory_bytes: usize,
    /// `memory_bytes / entries`.
    pub bytes_per_name: f64,
    /// Mean nanoseconds per lookup of a listed name's subdomain (a hit).
    pub lookup_hit_ns: f64,
    /// Mean nanoseconds per lookup of a name in no list (a miss).
    pub lookup_miss_ns: f64,
    /// Rejected lines: `file:line: reason`.
    pub errors: Vec<String>,
}

impl ListsReport {
    /// The text form.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (name, n) in &self.lists {
            s.push_str(&format!("list {name}: {n} entries\n"));
        }
        s.push_str(&format!(
            "entries {}, rejected lines {}, load {:.0} ms, {:.1} bytes per name, lookup {:.0} ns (hit) {:.0} ns (miss)\n",
            self.entries,
            self.errors.len(),
            self.load_ms,
            self.bytes_per_name,
            self.lookup_hit_ns,
            self.lookup_miss_ns
        ));
        for e in self.errors.iter().take(20) {
            s.push_str(&format!("rejected {e}\n"));
        }
        s
    }
}

/// Loads `lists` and measures lookups over names taken from the first list's lines.
pub fn check(lists: &BTreeMap<String, ListConfig>) -> Result<ListsReport, String> {
    let loaded = DomainLists::load(lists).map_err(|e| e.to_string())?;
    let mut probes: Vec<Vec<u8>> = Vec::new();
    for config in lists.values() {
        let text = std::fs::read_to_string(&config.path).unwrap_or_default();
        for line in text.lines() {
            let Some(name) = line.split_whitespace().last() else {
                continue;
            };
            let name = name.trim_start_matches("||").trim_end_matches('^');
            probes.push(format!(".www.{}", name.to_ascii_lowercase()).into_bytes());
            if probes.len() >= 200_000 {
                break;
            }
        }
    }
    let misses: Vec<Vec<u8>> = probes
        .iter()
        .map(|p| [p.as_slice(), b".invalid"].concat())
        .collect();
    let time = |names: &[Vec<u8>]| {
        let start = Instant::now();
        let mut found = 0usize;
        let mut hashes = Vec::new();
        for n in names {
            let n = std::hint::black_box(n);
            crate::names::suffix_set::SuffixSet::suffix_hashes(n, &mut hashes);
            found += usize::from(loaded.lookup_hashed(n, &hashes).is_some());
        }
        std::hint::black_box(found);
        start.elapsed().as_secs_f64() * 1e9 / names.len().max(1) as f64
    };
    let entries = loaded.len();
    Ok(ListsReport {
        lists: loaded
            .lists
            .iter()
            .map(|l| (l.name.clone(), l.entries))
            .collect(),
        entries,
        load_ms: loaded.load_ms,
        memory_bytes: loaded.memory_bytes(),
        bytes_per_name: loaded.memory_bytes() as f64 / entries.max(1) as f64,
        lookup_hit_ns: time(&probes),
        lookup_miss_ns: time(&misses),
        errors: loaded.rejected.iter().map(ToString::to_string).collect(),
    })
}
