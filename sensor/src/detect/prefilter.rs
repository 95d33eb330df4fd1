//! Grouping rules and building their multi-pattern prefilters.
//!
//! Rules are grouped before any pattern is compiled: by transport (TCP, UDP, other), by
//! flow direction (a rule with `flow:to_server` or `to_client` under that direction only,
//! others under both; a packet scans its own direction's groups), by buffer, and by the
//! service port they name (a rule that names a short set of destination ports, or else
//! source ports, is filed under each; others under "any port"). Each (transport,
//! direction, buffer) has one multi-pattern matcher, Hyperscan or
//! Aho-Corasick by buffer (caseless, so one matcher serves `nocase` and exact patterns;
//! exact case is checked in verification), over one fast pattern per rule: the explicit
//! `fast_pattern`, else the longest positive content, ties broken toward more distinct
//! bytes. Unlike Suricata, which builds one matcher per port group with the any-port
//! patterns copied into each, the port-filed patterns share the any-port matcher and a
//! hit carries the port its rule is filed under, checked against the packet's ports: one
//! scan per buffer and packet for most packets, and no copies to compile. Port-filed
//! patterns shorter than 4 bytes keep a matcher of their port's own (they would slow the
//! shared one), and rules with no usable pattern are kept per port group as
//! always-candidates, so neither costs anything on other ports.
//!
//! DNS names are kept out of the automata: a `dns.query` rule whose content must end the
//! name (`endswith`, `isdataat:!1,relative`) or be all of it (`bsize` of its length, or
//! `startswith` too) is filed in the group's [`SuffixSet`] under that content, as an exact
//! name or a suffix (label-aligned when `dotprefix` put a dot in front); a name then costs
//! one pass and a few probes whatever the number of such rules.
//!
//! Building the matchers is most of a ruleset's compile time. [`build_parallel`] builds
//! groups on several threads, largest first, and takes a group's matcher from a
//! [`MatcherCache`] (the previous compile's) when its engine and pattern set are the same,
//! so a reload rebuilds only the groups whose patterns changed; within one build, groups
//! with the same pattern set (both directions of rules that name none) share one matcher.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::names::suffix_set::{KeyKind, SuffixSet};
use crate::rules::ast::{Buffer, Condition, Protocol, Rule, SizeCheck};

/// Transport class of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// Anything else (ICMP, other IP protocols).
    Other,
}

/// The port a group is filed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortKey {
    /// Rules for any port.
    Any,
    /// Rules naming this port.
    Port(u16),
}

/// Identifies one prefilter group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    /// Transport.
    pub transport: Transport,
    /// Direction of the packets scanned: to the server (else to the client).
    pub to_server: bool,
    /// Buffer scanned.
    pub buffer: Buffer,
    /// Port.
    pub port: PortKey,
}

/// A multi-pattern matcher over one group's fast patterns (caseless). Payload and body
/// groups use Hyperscan, which measured 3-8x faster than aho-corasick's DFA on them; the
/// short HTTP header buffers use aho-corasick, which measured as fast there
/// (`sensor/examples/prefilter_compare.rs`, BENCHMARKS.md).
pub enum Matcher {
    /// aho-corasick.
    AhoCorasick(AhoCorasick),
    /// A Hyperscan block-mode database (scanned with the worker's own scratch).
    Hyperscan(hyperscan::BlockDatabase),
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Matcher::AhoCorasick(_) => "AhoCorasick",
            Matcher::Hyperscan(_) => "Hyperscan",
        })
    }
}

impl Matcher {
    /// Calls `hit(pattern, end)` for every occurrence of every pattern in `data`.
    /// `scratch` must have been allocated for every Hyperscan database of the ruleset.
    #[inline]
    pub fn scan(
        &self,
        data: &[u8],
        scratch: Option<&hyperscan::Scratch>,
        mut hit: impl FnMut(usize, usize),
    ) {
        match self {
            Matcher::AhoCorasick(ac) => {
                for m in ac.find_overlapping_iter(data) {
                    hit(m.pattern().as_usize(), m.end());
                }
            }
            Matcher::Hyperscan(db) => {
                if let Some(scratch) = scratch {
                    let _ = db.scan(
                        data,
                        scratch,
                        |id: u32, _from: u64, to: u64, _flags: u32| {
                            hit(id as usize, to as usize);
                            hyperscan::Matching::Continue
                        },
                    );
                }
            }
        }
    }
}

/// One group: a matcher over fast patterns, and rules without one.
#[derive(Debug)]
pub struct Group {
    /// Matcher over the distinct fast patterns (None if there are none); shared with the
    /// next compile's groups of the same patterns.
    pub matcher: Option<Arc<Matcher>>,
    /// The longest matcher pattern's length (0 without a matcher): how far back from new
    /// data a scan must start to find every occurrence that ends in it.
    pub longest: usize,
    /// For each matcher pattern, the rules (indices) that chose it, each with the port
    /// it is filed under: a hit makes the rule a candidate when that port is the
    /// packet's source or destination port (or it is filed under any port).
    pub pattern_rules: Vec<Vec<FiledRule>>,
    /// Rules with no fast pattern in this buffer: candidates for every packet of the group.
    pub always: Vec<u32>,
    /// DNS-name rules by exact name or suffix (value: index into `name_rules`).
    pub names: Option<SuffixSet>,
    /// For each name key, the rules filed under it.
    pub name_rules: Vec<Vec<u32>>,
}

/// Groups with more patterns than this use the (slower, smaller) contiguous NFA.
const DFA_PATTERN_LIMIT: usize = 50_000;

/// The most bytes of a fast pattern the matchers take: its first bytes (a match of the
/// content contains them, and verification checks the whole content). Building an
/// automaton costs at least its patterns' total length times the alphabet, so without a
/// bound one 40,000-byte content took 7 s to compile and a 10 MB one minutes, at start and
/// on every reload.
pub const MAX_PREFILTER_PATTERN: usize = 255;

/// Patterns of port-filed rules at least this long share the any-port matcher.
const SHARED_PATTERN_MIN: usize = 4;

/// Ports a rule is filed under (at most this many individual ports per rule). 64 files
/// ET's port ranges of a few dozen ports (`5800:5820`, VNC scans) under their ports: with
/// no content and a home network as their narrower side, they were otherwise indexed
/// under `$HOME_NET` and a candidate for nearly every TCP packet (1.73 candidates per
/// packet of the benchmark mix with 16, 0.23 with 64; compile time and memory alike).
const PORT_SET_LIMIT: usize = 64;

/// The transports a rule's protocol covers.
pub fn transports(p: Protocol) -> &'static [Transport] {
    match p {
        Protocol::Tcp | Protocol::TcpPkt | Protocol::TcpStream | Protocol::Http => {
            &[Transport::Tcp]
        }
        Protocol::Udp => &[Transport::Udp],
        Protocol::Dns => &[Transport::Tcp, Transport::Udp],
        Protocol::Icmp => &[Transport::Other],
        Protocol::Ip => &[Transport::Tcp, Transport::Udp, Transport::Other],
    }
}

/// The fast pattern of a rule: (buffer, pattern bytes), or `None` when no positive content.
pub fn fast_pattern(rule: &Rule) -> Option<(Buffer, &[u8])> {
    // Explicit choice first, then length, then distinct bytes.
    type Score = (bool, usize, usize);
    let mut best: Option<(Buffer, &[u8], Score)> = None;
    for b in &rule.buffers {
        for c in &b.conditions {
            let Condition::Content(c) = c else { continue };
            if c.negated {
                continue;
            }
            let distinct = {
                let mut seen = [false; 256];
                c.pattern
                    .iter()
                    .filter(|&&x| !std::mem::replace(&mut seen[x as usize], true))
                    .count()
            };
            let score = (c.fast_pattern, c.pattern.len(), distinct);
            if best.as_ref().is_none_or(|(_, _, s)| score > *s) {
                best = Some((b.buffer, &c.pattern, score));
            }
        }
    }
    best.map(|(b, p, _)| (b, p))
}

/// The name key of a `dns.query` rule: (buffer, lowercased content, exact or suffix), when
/// one positive content of the rule must end (or be all of) the name.
pub fn name_key(rule: &Rule) -> Option<(Buffer, Vec<u8>, KeyKind)> {
    let mut best: Option<(Buffer, Vec<u8>, KeyKind)> = None;
    for b in &rule.buffers {
        if !matches!(b.buffer, Buffer::DnsQuery | Buffer::DnsQueryDotted) {
            continue;
        }
        let conds = &b.conditions;
        for (i, c) in conds.iter().enumerate() {
            let Condition::Content(c) = c else { continue };
            if c.negated || c.pattern.is_empty() || c.pattern.len() > 255 {
                continue;
            }
            // `isdataat:!1,relative` right after a content is `endswith`.
            let ends = c.endswith
                || matches!(
                    conds.get(i + 1),
                    Some(Condition::IsDataAt {
                        pos: 1,
                        relative: true,
                        negated: true
                    })
                );
            let whole = b.bsize == Some(SizeCheck::Eq(c.pattern.len() as u32));
            let starts = !c.is_relative()
                && (c.startswith
                    || c.offset.unwrap_or(0) == 0 && c.depth == Some(c.pattern.len() as u32));
            let kind = if whole || ends && starts {
                KeyKind::Exact
            } else if ends {
                KeyKind::Suffix
            } else {
                continue;
            };
            let better = best.as_ref().is_none_or(|(_, p, k)| {
                (kind == KeyKind::Exact, c.pattern.len()) > (*k == KeyKind::Exact, p.len())
            });
            if better {
                best = Some((b.buffer, c.pattern.to_ascii_lowercase(), kind));
            }
        }
    }
    best
}

/// A caseless Hyperscan database over literal patterns (each byte escaped), pattern id =
/// index; `None` if Hyperscan refuses them (the caller falls back to aho-corasick).
fn hyperscan_database(patterns: &[Vec<u8>]) -> Option<hyperscan::BlockDatabase> {
    use hyperscan::prelude::*;
    let mut list = Vec::with_capacity(patterns.len());
    for (i, p) in patterns.iter().enumerate() {
        let expr: String = p.iter().map(|b| format!("\\x{b:02x}")).collect();
        let mut pattern = Pattern::with_flags(expr, CompileFlags::CASELESS).ok()?;
        pattern.id = Some(i);
        list.push(pattern);
    }
    let patterns: Patterns = list.into_iter().collect();
    patterns.build().ok()
}

/// The directions a rule is filed under: its `flow:` direction, or both. Verification
/// checks the same direction, so a packet scans only the groups of its own.
pub fn directions(rule: &Rule) -> &'static [bool] {
    match rule.flow.to_server {
        Some(true) => &[true],
        Some(false) => &[false],
        None => &[true, false],
    }
}

/// The ports a rule is filed under.
pub fn port_keys(rule: &Rule) -> Vec<PortKey> {
    let mut keys = Vec::new();
    let mut add = |spec: &crate::rules::netspec::PortSpec| match spec.small_set(PORT_SET_LIMIT) {
        Some(ports) => {
            keys.extend(ports.into_iter().map(PortKey::Port));
            true
        }
        None => false,
    };
    let filed = add(&rule.dst_ports) || add(&rule.src_ports);
    if rule.bidirectional && filed {
        add(&rule.src_ports);
    }
    if keys.is_empty() {
        keys.push(PortKey::Any);
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The groups of one (transport, buffer): the any-port group and the per-port ones.
#[derive(Debug, Default)]
pub struct PortGroups {
    /// Rules for any port.
    pub any: Option<Group>,
    /// Rules filed under a port.
    pub by_port: rustc_hash::FxHashMap<u16, Group>,
}

/// Every group, addressed without hashing by transport, direction and buffer.
#[derive(Debug, Default)]
pub struct GroupTable {
    slots: Vec<PortGroups>,
    /// Per transport and direction, the buffers (bit = index in `Buffer::ALL`) that have
    /// groups.
    present: [u32; 6],
}

const BUFFERS: [Buffer; Buffer::ALL.len()] = Buffer::ALL;

/// Index of a (transport, direction) pair.
fn way(transport: Transport, to_server: bool) -> usize {
    transport as usize * 2 + usize::from(!to_server)
}

fn slot(transport: Transport, to_server: bool, buffer: Buffer) -> usize {
    let b = BUFFERS.iter().position(|x| *x == buffer).unwrap_or(0);
    way(transport, to_server) * BUFFERS.len() + b
}

impl GroupTable {
    /// The groups of `transport`, direction `to_server` and `buffer`, if any rule uses
    /// them.
    #[inline]
    pub fn get(
        &self,
        transport: Transport,
        to_server: bool,
        buffer: Buffer,
    ) -> Option<&PortGroups> {
        self.slots
            .get(slot(transport, to_server, buffer))
            .filter(|g| g.any.is_some() || !g.by_port.is_empty())
    }

    /// The buffers with groups for `transport` and direction `to_server`, in `Buffer::ALL`
    /// order: a packet looks only at these (a bit test rather than a cache line per
    /// buffer).
    #[inline]
    pub fn buffers(
        &self,
        transport: Transport,
        to_server: bool,
    ) -> impl Iterator<Item = Buffer> + '_ {
        let mut bits = self.present[way(transport, to_server)];
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                BUFFERS[i]
            })
        })
    }

    /// Whether any group exists for `transport` and direction `to_server`.
    #[inline]
    pub fn has(&self, transport: Transport, to_server: bool) -> bool {
        self.present[way(transport, to_server)] != 0
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.slots
            .iter()
            .map(|g| usize::from(g.any.is_some()) + g.by_port.len())
            .sum()
    }

    /// Whether there is no group.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every Hyperscan database, for sizing a worker's scratch space.
    pub fn hyperscan_databases(&self) -> impl Iterator<Item = &hyperscan::BlockDatabase> {
        self.slots
            .iter()
            .flat_map(|g| g.any.iter().chain(g.by_port.values()))
            .filter_map(|g| match g.matcher.as_deref() {
                Some(Matcher::Hyperscan(db)) => Some(db),
                _ => None,
            })
    }
}

/// Builds every group for `rules`, leaving out those `indexed_elsewhere` (the caller
/// indexes address-list rules by network).
pub fn build(rules: &[Rule], indexed_elsewhere: impl Fn(&Rule) -> bool + Sync) -> GroupTable {
    build_parallel(rules, indexed_elsewhere, &MatcherCache::default(), &[]).0
}

/// What a matcher is built from: Hyperscan (else aho-corasick), and the sorted patterns.
type MatcherKey = (bool, Vec<Vec<u8>>);

/// Matchers by engine and pattern set, from one compile to the next.
#[derive(Debug, Default)]
pub struct MatcherCache {
    matchers: HashMap<MatcherKey, Arc<Matcher>>,
}

impl MatcherCache {
    /// Number of matchers held.
    pub fn len(&self) -> usize {
        self.matchers.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.matchers.is_empty()
    }
}

/// [`build`] on one thread per CPU in `cpus` (each pinned; none given: the calling thread
/// alone), reusing the matchers of `previous` whose engine and patterns are unchanged.
/// Returns the groups and the cache of this build's matchers (for the next one).
pub fn build_parallel(
    rules: &[Rule],
    indexed_elsewhere: impl Fn(&Rule) -> bool + Sync,
    previous: &MatcherCache,
    cpus: &[usize],
) -> (GroupTable, MatcherCache) {
    let mut table = GroupTable {
        slots: (0..6 * BUFFERS.len())
            .map(|_| PortGroups::default())
            .collect(),
        present: [0; 6],
    };
    let mut drafts = drafts(rules, indexed_elsewhere);
    // Largest first, so the last thread to finish is not the one that took the biggest.
    drafts.sort_by_key(|(_, d)| std::cmp::Reverse(d.patterns.len()));
    let next = AtomicUsize::new(0);
    let building = Building::default();
    let built = Mutex::new(Vec::with_capacity(drafts.len()));
    let cache = Mutex::new(MatcherCache::default());
    let drafts: Vec<Mutex<Option<(GroupKey, Draft)>>> =
        drafts.into_iter().map(|d| Mutex::new(Some(d))).collect();
    let work = |cpu: Option<usize>| {
        if let Some(id) = cpu {
            core_affinity::set_for_current(core_affinity::CoreId { id });
        }
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = drafts.get(i) else { break };
            let Some((key, draft)) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() else {
                continue;
            };
            let (group, matcher) = finish(key, draft, previous, &building);
            if let Some(m) = matcher {
                let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
                c.matchers.insert(m.0, m.1);
            }
            built
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((key, group));
        }
    };
    std::thread::scope(|scope| {
        for &cpu in cpus.iter().skip(1) {
            let work = &work;
            scope.spawn(move || work(Some(cpu)));
        }
        work(cpus.first().copied());
    });
    for (key, group) in built.into_inner().unwrap_or_else(|e| e.into_inner()) {
        let i = slot(key.transport, key.to_server, key.buffer);
        table.present[way(key.transport, key.to_server)] |= 1 << (i % BUFFERS.len());
        let groups = &mut table.slots[i];
        match key.port {
            PortKey::Any => groups.any = Some(group),
            PortKey::Port(p) => {
                groups.by_port.insert(p, group);
            }
        }
    }
    (table, cache.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// A rule (index) and the port it is filed under.
pub type FiledRule = (u32, PortKey);

/// A group's rules before its matcher is built.
struct Draft {
    patterns: HashMap<Vec<u8>, Vec<FiledRule>>,
    /// The longest whole fast pattern (the rescan of a stream window must reach back
    /// over a whole content, whose first bytes alone are in `patterns`).
    longest: usize,
    always: Vec<u32>,
    names: HashMap<(Vec<u8>, KeyKind), Vec<u32>>,
}

fn drafts(rules: &[Rule], indexed_elsewhere: impl Fn(&Rule) -> bool) -> Vec<(GroupKey, Draft)> {
    let mut drafts: HashMap<GroupKey, Draft> = HashMap::new();
    for (i, rule) in rules.iter().enumerate() {
        if indexed_elsewhere(rule) {
            continue;
        }
        let name = name_key(rule);
        let fp = fast_pattern(rule);
        let buffer = match &name {
            Some((b, _, _)) => *b,
            None => fp.map_or(Buffer::Payload, |(b, _)| b),
        };
        let ways = transports(rule.protocol)
            .iter()
            .flat_map(|&t| directions(rule).iter().map(move |&d| (t, d)));
        for (transport, to_server) in ways {
            for port in port_keys(rule) {
                // Patterns go to the any-port group's matcher, with their port: one scan
                // per buffer, whatever the packet's ports. Short ones stay in their port's
                // own matcher: a one- or two-byte literal hits often in any data, and in
                // the shared matcher it would slow every packet's scan (ET Open's merged
                // TCP payload matcher ran at half speed with them).
                let filed = match fp {
                    Some((_, p)) if name.is_none() && p.len() >= SHARED_PATTERN_MIN => PortKey::Any,
                    _ => port,
                };
                let draft = drafts
                    .entry(GroupKey {
                        transport,
                        to_server,
                        buffer,
                        port: filed,
                    })
                    .or_insert_with(|| Draft {
                        patterns: HashMap::new(),
                        longest: 0,
                        always: Vec::new(),
                        names: HashMap::new(),
                    });
                if let Some((_, key, kind)) = &name {
                    draft
                        .names
                        .entry((key.clone(), *kind))
                        .or_default()
                        .push(i as u32);
                    continue;
                }
                match fp {
                    Some((_, p)) => {
                        draft.longest = draft.longest.max(p.len());
                        let prefix = &p[..p.len().min(MAX_PREFILTER_PATTERN)];
                        draft
                            .patterns
                            .entry(prefix.to_ascii_lowercase())
                            .or_default()
                            .push((i as u32, port));
                    }
                    None => draft.always.push(i as u32),
                }
            }
        }
    }
    drafts.into_iter().collect()
}

/// The matchers of the build in progress, one per engine and pattern set: groups with the
/// same patterns (both directions of rules that name none) share one, built once by
/// whichever thread gets there first while the others wait for it.
type Building = Mutex<HashMap<MatcherKey, Arc<OnceLock<Arc<Matcher>>>>>;

/// The group for `draft`, and its matcher with the matcher's cache key (`None`: no
/// patterns). Patterns are sorted, so the same set always gives the same pattern ids.
fn finish(
    key: GroupKey,
    d: Draft,
    previous: &MatcherCache,
    building: &Building,
) -> (Group, Option<(MatcherKey, Arc<Matcher>)>) {
    let mut patterns: Vec<(Vec<u8>, Vec<FiledRule>)> = d.patterns.into_iter().collect();
    patterns.sort_unstable();
    let (patterns, pattern_rules): (Vec<Vec<u8>>, Vec<Vec<FiledRule>>) =
        patterns.into_iter().unzip();
    let longest = if patterns.is_empty() { 0 } else { d.longest };
    let cached = (!patterns.is_empty()).then(|| {
        let hyperscan = uses_hyperscan(key.buffer);
        let cache_key = (hyperscan, patterns);
        let matcher = match previous.matchers.get(&cache_key) {
            Some(m) => Arc::clone(m),
            None => {
                let cell = Arc::clone(
                    building
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(cache_key.clone())
                        .or_default(),
                );
                let m = cell.get_or_init(|| Arc::new(build_matcher(hyperscan, &cache_key.1)));
                Arc::clone(m)
            }
        };
        (cache_key, matcher)
    });
    let mut name_rules = Vec::with_capacity(d.names.len());
    let names = (!d.names.is_empty()).then(|| {
        let mut set = SuffixSet::with_capacity(d.names.len());
        for ((name, kind), rules) in d.names {
            if set.insert(&name, kind, name_rules.len() as u32).is_some() {
                name_rules.push(rules);
            }
        }
        set
    });
    let group = Group {
        matcher: cached.as_ref().map(|c| Arc::clone(&c.1)),
        longest,
        pattern_rules,
        always: d.always,
        names,
        name_rules,
    };
    (group, cached)
}

/// Whether a buffer's groups get Hyperscan (else aho-corasick): the long buffers, the
/// payload and message bodies, where Hyperscan measured 3-8x faster than aho-corasick's
/// DFA on the real groups. On the short header buffers the two measured alike.
fn uses_hyperscan(buffer: Buffer) -> bool {
    matches!(
        buffer,
        Buffer::Payload | Buffer::HttpRequestBody | Buffer::HttpResponseBody | Buffer::FileData
    )
}

/// Hyperscan when asked and it compiles, else aho-corasick.
fn build_matcher(hyperscan: bool, patterns: &[Vec<u8>]) -> Matcher {
    if hyperscan {
        if let Some(db) = hyperscan_database(patterns) {
            return Matcher::Hyperscan(db);
        }
    }
    let preferred = if patterns.len() <= DFA_PATTERN_LIMIT {
        AhoCorasickKind::DFA
    } else {
        AhoCorasickKind::ContiguousNFA
    };
    let build = |kind| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(kind))
            .build(patterns)
    };
    // The noncontiguous NFA, the fallback, fails only past 2^31 states: the memory such
    // a pattern set needs runs out first.
    #[allow(clippy::expect_used)]
    let ac = build(preferred)
        .or_else(|_| build(AhoCorasickKind::NoncontiguousNFA))
        .expect("a literal pattern set under 2^31 states builds");
    Matcher::AhoCorasick(ac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{load_text, Loaded, Vars};

    fn rules(text: &str) -> Vec<Rule> {
        let mut loaded = Loaded::default();
        load_text(text, "t.rules", &Vars::default(), &mut loaded);
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        loaded.rules
    }

    fn matcher(
        t: &GroupTable,
        transport: Transport,
        buffer: Buffer,
        port: PortKey,
    ) -> Arc<Matcher> {
        let g = t.get(transport, true, buffer).expect("groups");
        let group = match port {
            PortKey::Any => g.any.as_ref(),
            PortKey::Port(p) => g.by_port.get(&p),
        };
        Arc::clone(group.and_then(|g| g.matcher.as_ref()).expect("matcher"))
    }

    #[test]
    fn unchanged_groups_reuse_their_matchers_and_changed_ones_are_rebuilt() {
        let v1 = rules(
            "alert tcp any any -> any 80 (content:\"alpha\"; sid:1;)\n\
             alert tcp any any -> any any (content:\"bravo\"; sid:2;)\n\
             alert udp any any -> any any (content:\"charlie\"; sid:3;)\n\
             alert tcp any any -> any any (http.uri; content:\"/echo\"; sid:5;)",
        );
        let (t1, cache) = build_parallel(&v1, |_| false, &MatcherCache::default(), &[0, 0]);
        assert_eq!(cache.len(), 3);
        // TCP payload gains a rule on port 80; UDP and the URI group keep their patterns.
        let v2 = rules(
            "alert tcp any any -> any 80 (content:\"alpha\"; sid:1;)\n\
             alert tcp any any -> any 80 (content:\"delta\"; sid:4;)\n\
             alert tcp any any -> any any (content:\"bravo\"; sid:2;)\n\
             alert udp any any -> any any (content:\"charlie\"; sid:3;)\n\
             alert tcp any any -> any any (http.uri; content:\"/echo\"; sid:5;)",
        );
        let (t2, cache2) = build_parallel(&v2, |_| false, &cache, &[0]);
        assert_eq!(cache2.len(), 3);
        let same = |t: Transport, b: Buffer| {
            Arc::ptr_eq(
                &matcher(&t1, t, b, PortKey::Any),
                &matcher(&t2, t, b, PortKey::Any),
            )
        };
        assert!(same(Transport::Udp, Buffer::Payload));
        assert!(same(Transport::Tcp, Buffer::HttpUri));
        // Rules that name no direction fill both directions' groups alike: one matcher.
        let to = |to_server: bool| {
            let g = t1.get(Transport::Udp, to_server, Buffer::Payload).unwrap();
            Arc::clone(g.any.as_ref().unwrap().matcher.as_ref().unwrap())
        };
        assert!(Arc::ptr_eq(&to(true), &to(false)));
        assert!(!same(Transport::Tcp, Buffer::Payload));
        // Pattern ids follow the sorted patterns, whatever the build.
        let g = t2.get(Transport::Tcp, true, Buffer::Payload).unwrap();
        let port80 = PortKey::Port(80);
        assert_eq!(
            g.any.as_ref().unwrap().pattern_rules,
            vec![
                vec![(0, port80)],
                vec![(2, PortKey::Any)],
                vec![(1, port80)]
            ]
        );
    }

    #[test]
    fn port_filed_patterns_share_the_any_port_matcher_and_always_rules_stay_per_port() {
        let r = rules(
            "alert tcp any any -> any [80,8080] (content:\"alpha\"; sid:1;)\n\
             alert tcp any any -> any 22 (flags:S; sid:2;)\n\
             alert tcp any any -> any any (content:\"alpha\"; sid:3;)\n\
             alert tcp any any -> any 445 (content:\"|00 01|\"; sid:4;)",
        );
        let t = build(&r, |_| false);
        let g = t.get(Transport::Tcp, true, Buffer::Payload).unwrap();
        let any = g.any.as_ref().unwrap();
        assert_eq!(
            any.pattern_rules,
            vec![vec![
                (0, PortKey::Port(80)),
                (0, PortKey::Port(8080)),
                (2, PortKey::Any)
            ]]
        );
        assert_eq!(g.by_port.len(), 2);
        assert!(g.by_port[&22].matcher.is_none());
        assert_eq!(g.by_port[&22].always, vec![1]);
        // A two-byte pattern keeps its port's own matcher.
        let smb = &g.by_port[&445];
        assert!(smb.matcher.is_some());
        assert_eq!(smb.pattern_rules, vec![vec![(3, PortKey::Port(445))]]);
    }

    #[test]
    fn rules_are_filed_under_their_flow_direction_or_both() {
        let r = rules(
            "alert tcp any any -> any any (flow:to_server; content:\"request\"; sid:1;)\n\
             alert tcp any any -> any any (flow:established,to_client; content:\"answer\"; sid:2;)\n\
             alert tcp any any -> any any (content:\"either\"; sid:3;)\n\
             alert udp any any -> any any (flow:to_server; content:\"query\"; sid:4;)",
        );
        let t = build(&r, |_| false);
        let rules_of = |to_server: bool| {
            let g = t.get(Transport::Tcp, to_server, Buffer::Payload).unwrap();
            let mut v: Vec<u32> = g
                .any
                .as_ref()
                .unwrap()
                .pattern_rules
                .iter()
                .flatten()
                .map(|&(r, _)| r)
                .collect();
            v.sort();
            v
        };
        assert_eq!(rules_of(true), vec![0, 2]);
        assert_eq!(rules_of(false), vec![1, 2]);
        // UDP has a group to the server only.
        assert!(t.has(Transport::Udp, true));
        assert!(!t.has(Transport::Udp, false));
        assert!(t.get(Transport::Udp, false, Buffer::Payload).is_none());
    }

    #[test]
    fn parallel_and_single_thread_builds_agree() {
        let text: String = (0..200)
            .map(|i| {
                format!(
                    "alert tcp any any -> any {} (content:\"pattern{i}\"; sid:{};)\n",
                    1000 + i % 7,
                    i + 1
                )
            })
            .collect();
        let r = rules(&text);
        let one = build(&r, |_| false);
        let (four, _) = build_parallel(&r, |_| false, &MatcherCache::default(), &[0, 0, 0, 0]);
        assert_eq!(one.len(), four.len());
        let any = |t: &GroupTable| {
            let g = t.get(Transport::Tcp, true, Buffer::Payload).unwrap();
            g.any.as_ref().unwrap().pattern_rules.clone()
        };
        assert_eq!(any(&one), any(&four));
        assert_eq!(any(&one).len(), 200);
    }
}
