//! Turning the configured rule and list files into a [`Ruleset`]: at start and on every
//! reload, off the data path.
//!
//! A [`Compiler`] parses rule files and builds prefilter matchers on helper threads, one
//! per CPU it was given (at start every allowed CPU; once workers run, only CPUs no worker
//! is pinned to); the domain lists load beside the rules, on the other half of the CPUs. It keeps what
//! the last compile built: `pcre` expressions by their text, matchers by engine and
//! pattern set, and the lists by a hash of their configuration and contents. A reload
//! takes those unchanged and rebuilds only what changed, the way Suricata 8 caches its
//! Hyperscan databases; every rule is still parsed and checked again. The cache holds the
//! last compile's parts alone, which the running ruleset shares, so it costs little
//! memory and never grows across reloads.

use std::time::Instant;

use tracing::{info, warn};

use crate::config::Config;
use crate::detect::prefilter::MatcherCache;
use crate::detect::Ruleset;
use crate::domain_lists::{DomainLists, LoadedLists};
use crate::error::SensorError;
use crate::rules::RegexCache;

/// Compiles rulesets, reusing the previous compile's parts that did not change.
#[derive(Debug, Default)]
pub struct Compiler {
    cpus: Vec<usize>,
    regexes: RegexCache,
    matchers: MatcherCache,
    lists: Option<LoadedLists>,
}

impl Compiler {
    /// A compiler whose helper threads run on `cpus` (empty: the calling thread alone).
    pub fn new(cpus: Vec<usize>) -> Compiler {
        Compiler {
            cpus,
            ..Compiler::default()
        }
    }

    /// Moves later compiles' helper threads to `cpus` (empty: the calling thread alone).
    pub fn set_cpus(&mut self, cpus: Vec<usize>) {
        self.cpus = cpus;
    }

    /// Loads and compiles the rules and lists `config` names. Fails when a path cannot be
    /// read, or when rules are configured and none loads; the cache is then left as it
    /// was, so the next attempt still reuses the running ruleset's parts.
    pub fn compile(&mut self, config: &Config) -> Result<Ruleset, SensorError> {
        let vars = config.rule_vars()?;
        let started = Instant::now();
        // Rules on the first half of the CPUs, lists on the rest, at the same time.
        let (rules_cpus, lists_cpus) = match self.cpus.len() {
            0 | 1 => (&self.cpus[..], &[][..]),
            n => self.cpus.split_at(n / 2),
        };
        let (loaded, lists) = std::thread::scope(|scope| {
            let previous = self.lists.as_ref();
            let lists = scope.spawn(move || {
                if let Some(&id) = lists_cpus.first() {
                    core_affinity::set_for_current(core_affinity::CoreId { id });
                }
                DomainLists::load_reusing(&config.lists, previous, lists_cpus)
            });
            let loaded =
                crate::rules::load_parallel(&config.detect.rules, &vars, &self.regexes, rules_cpus);
            let lists = lists
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (loaded, lists)
        });
        let mut loaded = loaded.map_err(|e| SensorError::Usage(format!("detect.rules: {e}")))?;
        let lists = lists.map_err(SensorError::Usage)?;
        if let Some(first) = lists.lists.rejected.first() {
            warn!(
                "{} list lines rejected (first: {first}); `sensor check-lists` lists them",
                lists.lists.rejected.len()
            );
        }
        info!(
            entries = lists.lists.len(),
            ms = lists.lists.load_ms as u64,
            "domain lists loaded"
        );
        if loaded.rules.is_empty() && !loaded.rejected.is_empty() {
            return Err(SensorError::Usage(format!(
                "no rule loaded: all {} rejected (first: {})",
                loaded.rejected.len(),
                loaded.rejected[0]
            )));
        }
        let regexes = std::mem::take(&mut loaded.regexes);
        let (ruleset, matchers) = Ruleset::compile_parallel(loaded, &self.matchers, &self.cpus);
        let mut ruleset = ruleset.with_lists(std::sync::Arc::clone(&lists.lists));
        self.regexes = regexes;
        self.matchers = matchers;
        self.lists = Some(lists);
        if !ruleset.rejected.is_empty() {
            warn!(
                "{} rules rejected (first: {}); `sensor check-rules --verbose` lists them",
                ruleset.rejected.len(),
                ruleset.rejected[0]
            );
        }
        ruleset.compile_ms = started.elapsed().as_secs_f64() * 1e3;
        info!(
            loaded = ruleset.rules.len(),
            rejected = ruleset.rejected.len(),
            ms = ruleset.compile_ms as u64,
            "rules compiled"
        );
        Ok(ruleset)
    }
}
