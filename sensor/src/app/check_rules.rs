//! `sensor check-rules`: load and compile rule files, report what loaded and why the rest
//! did not, with compile time and memory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::rules::{self, Vars};

/// The report `check-rules --json` prints.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// Files read.
    pub files: usize,
    /// Rules that loaded.
    pub loaded: usize,
    /// Rules rejected.
    pub rejected: usize,
    /// Rejections per keyword, most frequent first in the text output.
    pub rejected_by_keyword: BTreeMap<String, usize>,
    /// Parse and compile time.
    pub compile_ms: f64,
    /// Threads that parsed and compiled (one per allowed CPU).
    pub threads: usize,
    /// Resident memory growth while loading and compiling, in KiB (from /proc).
    pub memory_kib: u64,
    /// Rules filed in exact-name / suffix sets rather than run as content matches (the
    /// `dns.query; content; endswith|bsize|dotprefix` shape).
    pub dns_name_set_rules: usize,
    /// Every rejected rule: `file:line sid N: keyword: reason`.
    pub errors: Vec<String>,
}

/// Loads and compiles `paths` with `vars`, on one thread per CPU in `cpus` (as a sensor
/// does at start).
pub fn check(paths: &[PathBuf], vars: &Vars, cpus: &[usize]) -> Result<CheckReport, String> {
    let rss_before = resident_kib();
    let start = Instant::now();
    let loaded =
        rules::load_parallel(paths, vars, &rules::RegexCache::default(), cpus).map_err(|e| e.0)?;
    let (compiled, _) = crate::detect::Ruleset::compile_parallel(loaded, &Default::default(), cpus);
    let compile_ms = start.elapsed().as_secs_f64() * 1000.0;
    let memory_kib = resident_kib().saturating_sub(rss_before);
    let mut by_keyword = BTreeMap::new();
    for e in &compiled.rejected {
        *by_keyword.entry(e.keyword.clone()).or_insert(0) += 1;
    }
    Ok(CheckReport {
        files: compiled.files,
        loaded: compiled.rules.len(),
        rejected: compiled.rejected.len(),
        rejected_by_keyword: by_keyword,
        compile_ms,
        threads: cpus.len().max(1),
        memory_kib,
        dns_name_set_rules: compiled
            .rules
            .iter()
            .filter(|r| crate::detect::prefilter::name_key(r).is_some())
            .count(),
        errors: compiled.rejected.iter().map(ToString::to_string).collect(),
    })
}

impl CheckReport {
    /// The human-readable summary: counts, top reasons, time and memory.
    pub fn summary(&self, top: usize) -> String {
        let mut out = format!(
            "{} rules loaded, {} rejected, from {} files; compiled in {:.0} ms on {} threads, {} KiB\n",
            self.loaded, self.rejected, self.files, self.compile_ms, self.threads, self.memory_kib
        );
        if self.dns_name_set_rules > 0 {
            out.push_str(&format!(
                "{} dns.query rules compiled into exact-name and suffix sets\n",
                self.dns_name_set_rules
            ));
        }
        let mut reasons: Vec<_> = self.rejected_by_keyword.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        if !reasons.is_empty() {
            out.push_str("rejected by keyword:\n");
            for (k, n) in reasons.into_iter().take(top) {
                out.push_str(&format!("  {n:>6}  {k}\n"));
            }
        }
        out
    }
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
