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

use crate::detect::prefilter::MatcherCache;
use crate::detect::Ruleset;
use crate::error::SensorError;
use crate::names::domain_lists::ListConfig;
use crate::names::domain_lists::{DomainLists, LoadedLists};
use crate::rules::{RegexCache, Vars};

/// What a compile reads: the configured rule paths, domain lists and rule variables.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// Rule files, or directories of `*.rules` (`detect.rules`).
    pub rules: &'a [std::path::PathBuf],
    /// Domain lists by name (`[lists]`).
    pub lists: &'a std::collections::BTreeMap<String, ListConfig>,
    /// Rule variables.
    pub vars: &'a Vars,
}

/// Why a compile produced no ruleset.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompileError {
    /// A rule path could not be read.
    #[error("detect.rules: {0}")]
    Rules(String),
    /// A list could not be read.
    #[error(transparent)]
    Lists(#[from] crate::names::domain_lists::ListsError),
    /// Rules are configured and every one was rejected.
    #[error("no rule loaded: all {rejected} rejected (first: {first})")]
    AllRejected {
        /// How many were rejected.
        rejected: usize,
        /// The first rejection, with file:line and reason.
        first: String,
    },
}

impl From<CompileError> for SensorError {
    fn from(e: CompileError) -> Self {
        SensorError::Usage(e.to_string())
    }
}

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

    /// Loads and compiles the rules and lists of `sources`. Fails when a path cannot be
    /// read, or when rules are configured and every one is rejected; the cache is then
    /// left as it was, so the next attempt still reuses the running ruleset's parts.
    pub fn compile(&mut self, sources: &Sources<'_>) -> Result<Ruleset, CompileError> {
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
                DomainLists::load_reusing(sources.lists, previous, lists_cpus)
            });
            let loaded =
                crate::rules::load_parallel(sources.rules, sources.vars, &self.regexes, rules_cpus);
            let lists = lists
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (loaded, lists)
        });
        let mut loaded = loaded.map_err(|e| CompileError::Rules(e.to_string()))?;
        let lists = lists.map_err(CompileError::Lists)?;
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
            return Err(CompileError::AllRejected {
                rejected: loaded.rejected.len(),
                first: loaded.rejected[0].to_string(),
            });
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
