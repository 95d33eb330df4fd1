//! Grouping rules and building their multi-pattern prefilters.
//!
//! Rules are grouped before any pattern is compiled: by transport (TCP, UDP, other), by
//! flow direction (a rule with `flow:to_server` or `to_client` under that direction only,
//! others under both; a packet scans its own direction's groups), by buffer, and by the
//! service port they name (a rule that names a short set of destination ports, or else
//! source ports, is filed under each; others under "any port"). Each (transport,
//! direction, buffer) has one multi-pattern matcher, Hyperscan (aho-corasick where
//! Hyperscan refuses the patterns; caseless, so one matcher serves `nocase` and exact patterns;
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
//! Groups with port-filed patterns also get [`Narrow`] matchers over parts of
//! the same patterns (the any-port ones; those and one priority port's), which packets on
//! ports that leave the rest out scan instead of the whole.
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

/// A multi-pattern matcher over one group's fast patterns (caseless): Hyperscan, or
/// aho-corasick where Hyperscan refuses the patterns (`build_matcher`;
/// `sensor/examples/prefilter_compare.rs` and BENCHMARKS.md compare the two).
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
    /// Calls `hit(pattern, end)` for every occurrence of every pattern in `data`, and
    /// returns whether the whole of `data` was scanned: `false` when Hyperscan had no
    /// scratch space or refused the scan (the caller counts it, so a matcher that stops
    /// working is seen, not silent). `scratch` must have been allocated for every
    /// Hyperscan database of the ruleset.
    #[inline]
    #[must_use]
    pub fn scan(
        &self,
        data: &[u8],
        scratch: Option<&hyperscan::Scratch>,
        mut hit: impl FnMut(usize, usize),
    ) -> bool {
        match self {
            Matcher::AhoCorasick(ac) => {
                for m in ac.find_overlapping_iter(data) {
                    hit(m.pattern().as_usize(), m.end());
                }
                true
            }
            Matcher::Hyperscan(db) => scratch.is_some_and(|scratch| {
                db.scan(
                    data,
                    scratch,
                    |id: u32, _from: u64, to: u64, _flags: u32| {
                        hit(id as usize, to as usize);
                        hyperscan::Matching::Continue
                    },
                )
                .is_ok()
            }),
        }
    }
}

/// One group: a matcher over fast patterns, and rules without one.
#[derive(Debug)]
pub struct Group {
    /// Matcher over the distinct fast patterns (None if there are none); shared with the
    /// next compile's groups of the same patterns.
    pub matcher: Option<Arc<Matcher>>,
    /// How far back from new data a scan of `matcher` starts: the longest content (0
    /// without a matcher) no longer than [`LONG_CONTENT`], or the longest of all when
    /// `long` is `None`. Every occurrence that ends in new data of a content this long
    /// starts in the bytes scanned.
    pub reach: usize,
    /// The contents longer than [`LONG_CONTENT`], when the group has some: their
    /// occurrences that start before `matcher`'s scan and end in new data.
    pub long: Option<Box<LongContents>>,
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
    /// Narrower matchers over parts of `matcher`'s patterns, for packets whose ports
    /// leave most port-filed patterns out (`None`: no port-filed patterns, or none worth a
    /// matcher of its own).
    pub narrow: Option<Box<Narrow>>,
}

/// Contents longer than this get a matcher of their own over the bytes before new data
/// (`Group::long`), so the group's matcher rescans at most this many bytes less one of
/// what earlier packets brought. ET Open's longest `file_data` content is 499 bytes and
/// its longest payload one 156, but only 2-3% of either are longer than 64: rescanning
/// 498 bytes before each body segment was about a quarter of what the body matcher read
/// on the realistic mix.
pub const LONG_CONTENT: usize = 64;

/// The long contents of a group (`Group::long`).
#[derive(Debug)]
pub struct LongContents {
    /// A matcher over their fast patterns (their first bytes).
    pub sub: SubMatcher,
    /// For each of `sub`'s patterns, how many bytes its longest content runs past the
    /// pattern: an occurrence found ending at `end` may end as late as `end + extra`.
    pub extra: Vec<u32>,
    /// The longest of them: how far back from new data its scan starts.
    pub longest: usize,
    /// The longest of their patterns: how far into new data its scan goes (an occurrence
    /// starting before `Group::reach` ends within it).
    pub longest_pattern: usize,
}

impl LongContents {
    /// The range of `len` bytes to scan for long contents that end past `seen` but start
    /// before `reach` bytes from it; `None` when there is nothing old to look back into.
    #[inline]
    pub fn window(&self, seen: usize, len: usize) -> Option<std::ops::Range<usize>> {
        (seen > 0 && len > seen).then(|| {
            let from = seen.saturating_sub(self.longest.saturating_sub(1));
            from..len.min(seen + self.longest_pattern)
        })
    }
}

/// A matcher over some of a group's patterns: its pattern `i` is the group's `ids[i]`.
#[derive(Debug)]
pub struct SubMatcher {
    /// The matcher.
    pub matcher: Arc<Matcher>,
    /// The group's pattern index of each of its patterns.
    pub ids: Vec<u32>,
}

/// Matchers that leave port-filed patterns out, as Suricata's per-port signature group
/// heads do. Hyperscan's speed falls with the number of literals (ET Open's TCP
/// to-client payload matcher: 0.72 GB/s over its 598 patterns on the realistic mix's
/// HTTP payloads, 1.30 GB/s over the 490 that any-port and port-80 rules use), so a
/// packet between ports that no port-filed pattern names scans the any-port patterns
/// alone, one on a port that has its own matcher scans that port's, and the rest (both
/// ports filed, or a port without its own matcher) scan the group's whole matcher.
#[derive(Debug, Default)]
pub struct Narrow {
    /// Every port some pattern is filed under, with the index of its own matcher in
    /// `ports` (`None`: it has none, and its packets scan the whole matcher).
    pub filed: rustc_hash::FxHashMap<u16, Option<u32>>,
    /// The any-port patterns (`None`: there are none).
    pub any: Option<SubMatcher>,
    /// The any-port patterns and one port's.
    pub ports: Vec<SubMatcher>,
}

/// What a packet scans in a group: a matcher and, for a narrower one, the group's pattern
/// index of each of its patterns.
pub type Scan<'a> = (&'a Matcher, Option<&'a [u32]>);

impl Group {
    /// The matcher a packet between `ports` (`None`: a protocol without ports) scans,
    /// `None` when no pattern of the group can concern it.
    #[inline]
    pub fn matcher_for<'a>(&'a self, ports: Option<(u16, u16)>) -> Option<Scan<'a>> {
        let whole = self.matcher.as_deref()?;
        let Some(n) = self.narrow.as_deref() else {
            return Some((whole, None));
        };
        let sub = |s: &'a SubMatcher| -> Scan<'a> { (&*s.matcher, Some(s.ids.as_slice())) };
        let (a, b) = match ports {
            Some((a, b)) => (n.filed.get(&a), n.filed.get(&b)),
            None => (None, None),
        };
        let own = match (a, b) {
            (None, None) => return n.any.as_ref().map(sub),
            (Some(p), None) | (None, Some(p)) => *p,
            (Some(p), Some(_)) if ports.is_some_and(|(x, y)| x == y) => *p,
            (Some(_), Some(_)) => None,
        };
        match own.and_then(|i| n.ports.get(i as usize)) {
            Some(s) => Some(sub(s)),
            None => Some((whole, None)),
        }
    }
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
        Protocol::Tcp | Protocol::TcpPkt | Protocol::TcpStream | Protocol::Http | Protocol::Tls => {
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
    present: [u64; 6],
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

    /// Every Hyperscan database, narrower ones included, for sizing a worker's scratch
    /// space.
    pub fn hyperscan_databases(&self) -> impl Iterator<Item = &hyperscan::BlockDatabase> {
        self.slots
            .iter()
            .flat_map(|g| g.any.iter().chain(g.by_port.values()))
            .flat_map(|g| {
                let narrow = g
                    .narrow
                    .iter()
                    .flat_map(|n| n.any.iter().chain(&n.ports).map(|s| s.matcher.as_ref()));
                let long = g.long.iter().map(|l| l.sub.matcher.as_ref());
                g.matcher.as_deref().into_iter().chain(narrow).chain(long)
            })
            .filter_map(|m| match m {
                Matcher::Hyperscan(db) => Some(db),
                Matcher::AhoCorasick(_) => None,
            })
    }
}

/// Builds every group for `rules`, leaving out those `indexed_elsewhere` (the caller
/// indexes address-list rules by network).
pub fn build(rules: &[Rule], indexed_elsewhere: impl Fn(&Rule) -> bool + Sync) -> GroupTable {
    build_parallel(rules, indexed_elsewhere, &MatcherCache::default(), &[]).0
}

/// What a matcher is built from: the sorted patterns.
type MatcherKey = Vec<Vec<u8>>;

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
            let (group, matchers) = finish(draft, previous, &building);
            if !matchers.is_empty() {
                let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
                c.matchers.extend(matchers);
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
        table.present[way(key.transport, key.to_server)] |= 1u64 << (i % BUFFERS.len());
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
    /// Fast patterns (their first [`MAX_PREFILTER_PATTERN`] bytes, lowercased), with the
    /// rules that chose them and the longest of those rules' whole contents (the rescan
    /// of a stream must reach back over a whole content).
    patterns: HashMap<Vec<u8>, (Vec<FiledRule>, usize)>,
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
            None => fp.map_or(Buffer::Payload, |(b, _)| scanned_as(b)),
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
                        let prefix = &p[..p.len().min(MAX_PREFILTER_PATTERN)];
                        let entry = draft
                            .patterns
                            .entry(prefix.to_ascii_lowercase())
                            .or_default();
                        entry.0.push((i as u32, port));
                        entry.1 = entry.1.max(p.len());
                    }
                    None => draft.always.push(i as u32),
                }
            }
        }
    }
    drafts.into_iter().collect()
}

/// The buffer whose group a fast pattern in `buffer` is filed in. A request's body is
/// both `http.request_body` and `file_data`, and a response's both
/// `http.response_body` and `file_data` (a packet has a request only to the server and a
/// response only to the client), so the body rules share `file_data`'s groups: a body is
/// scanned once, not twice. Verification reads each rule's own buffer.
fn scanned_as(buffer: Buffer) -> Buffer {
    match buffer {
        Buffer::HttpRequestBody | Buffer::HttpResponseBody => Buffer::FileData,
        other => other,
    }
}

/// The matchers of the build in progress, one per engine and pattern set: groups with the
/// same patterns (both directions of rules that name none) share one, built once by
/// whichever thread gets there first while the others wait for it.
type Building = Mutex<HashMap<MatcherKey, Arc<OnceLock<Arc<Matcher>>>>>;

/// The group for `draft`, and its matchers with their cache keys (none without patterns).
/// Patterns are sorted, so the same set always gives the same pattern ids.
fn finish(
    d: Draft,
    previous: &MatcherCache,
    building: &Building,
) -> (Group, Vec<(MatcherKey, Arc<Matcher>)>) {
    let mut drafted: Vec<_> = d.patterns.into_iter().collect();
    drafted.sort_unstable();
    let mut patterns = Vec::with_capacity(drafted.len());
    let mut pattern_rules = Vec::with_capacity(drafted.len());
    let mut lengths = Vec::with_capacity(drafted.len());
    for (pattern, (rules, length)) in drafted {
        patterns.push(pattern);
        pattern_rules.push(rules);
        lengths.push(length);
    }
    let mut built = Vec::new();
    let mut matcher = |cache_key: Vec<Vec<u8>>| {
        let m = match previous.matchers.get(&cache_key) {
            Some(m) => Arc::clone(m),
            None => {
                let cell = Arc::clone(
                    building
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(cache_key.clone())
                        .or_default(),
                );
                let m = cell.get_or_init(|| Arc::new(build_matcher(&cache_key)));
                Arc::clone(m)
            }
        };
        built.push((cache_key, Arc::clone(&m)));
        m
    };
    let narrow = narrow(&patterns, &pattern_rules, &mut matcher);
    let (reach, long) = long_contents(&patterns, &lengths, &mut matcher);
    let whole = (!patterns.is_empty()).then(|| matcher(patterns));
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
        matcher: whole,
        reach,
        long,
        pattern_rules,
        always: d.always,
        names,
        name_rules,
        narrow,
    };
    (group, built)
}

/// The reach of a group's matcher over `patterns` whose longest contents are `lengths`,
/// and the matcher of its contents longer than [`LONG_CONTENT`] (built through
/// `matcher`), if it has such.
fn long_contents(
    patterns: &[Vec<u8>],
    lengths: &[usize],
    matcher: &mut impl FnMut(Vec<Vec<u8>>) -> Arc<Matcher>,
) -> (usize, Option<Box<LongContents>>) {
    let longest = lengths.iter().copied().max().unwrap_or(0);
    if longest <= LONG_CONTENT {
        return (longest, None);
    }
    let ids: Vec<u32> = (0..lengths.len() as u32)
        .filter(|&i| lengths[i as usize] > LONG_CONTENT)
        .collect();
    let reach = lengths
        .iter()
        .copied()
        .filter(|&l| l <= LONG_CONTENT)
        .max()
        .unwrap_or(0);
    let extra = ids
        .iter()
        .map(|&i| (lengths[i as usize] - patterns[i as usize].len()) as u32)
        .collect();
    let longest_pattern = ids
        .iter()
        .map(|&i| patterns[i as usize].len())
        .max()
        .unwrap_or(0);
    let sub = SubMatcher {
        matcher: matcher(ids.iter().map(|&i| patterns[i as usize].clone()).collect()),
        ids,
    };
    let long = LongContents {
        sub,
        extra,
        longest,
        longest_pattern,
    };
    (reach, Some(Box::new(long)))
}

/// Ports given a matcher of their own in one group, at most. Each is one more database
/// to compile and hold: with 16 ports (the most patterns first), ET Open compiled in
/// 3.4 s instead of 0.57 s on this machine.
const NARROW_PORTS: usize = 4;

/// The ports that may get a matcher of their own, first first: the services that carry
/// most traffic in clear or most attacks (Suricata's `detect.grouping` whitelists,
/// reordered by traffic, with SMTP). Packets on other ports scan the any-port matcher
/// when no pattern is filed under their port, else the whole one.
const PRIORITY_PORTS: [u16; 14] = [
    80, 443, 53, 445, 8080, 139, 25, 3389, 1433, 3306, 5060, 135, 6666, 6667,
];

/// The narrower matchers of a group whose patterns (sorted, with their rules) include
/// port-filed ones, built through `matcher`; `None` when none is filed under a port.
fn narrow(
    patterns: &[Vec<u8>],
    pattern_rules: &[Vec<FiledRule>],
    matcher: &mut impl FnMut(Vec<Vec<u8>>) -> Arc<Matcher>,
) -> Option<Box<Narrow>> {
    let mut any = Vec::new();
    let mut own: HashMap<u16, Vec<u32>> = HashMap::new();
    for (i, rules) in pattern_rules.iter().enumerate() {
        if rules.iter().any(|(_, p)| *p == PortKey::Any) {
            any.push(i as u32);
            continue;
        }
        let mut ports: Vec<u16> = rules
            .iter()
            .filter_map(|(_, p)| match p {
                PortKey::Port(p) => Some(*p),
                PortKey::Any => None,
            })
            .collect();
        ports.sort_unstable();
        ports.dedup();
        for p in ports {
            own.entry(p).or_default().push(i as u32);
        }
    }
    if own.is_empty() {
        return None;
    }
    let mut by_priority: Vec<(u16, Vec<u32>)> = own.into_iter().collect();
    by_priority.sort_unstable_by_key(|(port, _)| {
        let rank = PRIORITY_PORTS.iter().position(|p| p == port);
        (rank.unwrap_or(usize::MAX), *port)
    });
    let mut sub = |ids: Vec<u32>| SubMatcher {
        matcher: matcher(ids.iter().map(|&i| patterns[i as usize].clone()).collect()),
        ids,
    };
    // A narrower matcher is built only where it leaves out at least an eighth of the
    // patterns: ET Open's file_data group files 2 of its 1,669 patterns under ports, and
    // three near-copies of it would cost compile time and memory for nothing.
    let worth = |n: usize| n * 8 <= patterns.len() * 7;
    let mut n = Narrow::default();
    for (port, ids) in by_priority {
        let size = any.len() + ids.len();
        let eligible = PRIORITY_PORTS.contains(&port) && n.ports.len() < NARROW_PORTS;
        if !eligible || !worth(size) {
            n.filed.insert(port, None);
            continue;
        }
        let mut ids: Vec<u32> = any.iter().copied().chain(ids).collect();
        ids.sort_unstable();
        n.filed.insert(port, Some(n.ports.len() as u32));
        n.ports.push(sub(ids));
    }
    if any.is_empty() {
        n.any = None;
    } else if worth(any.len()) {
        n.any = Some(sub(any));
    } else if n.ports.is_empty() {
        // Nothing narrower than the whole matcher is worth having.
        return None;
    } else {
        // Packets on ports no pattern names scan the whole matcher: its few port-filed
        // patterns are left to the port check after a hit.
        n.any = Some(SubMatcher {
            matcher: matcher(patterns.to_vec()),
            ids: (0..patterns.len() as u32).collect(),
        });
    }
    Some(Box::new(n))
}

/// Hyperscan when it compiles the patterns, else aho-corasick. Every buffer gets
/// Hyperscan: on the payload and bodies it measured 3-8x faster than aho-corasick's DFA;
/// on the HTTP header buffers the two measured alike on the random mix, but on whole
/// sessions (the realistic mix, where a request fills a dozen header buffers) the
/// aho-corasick DFAs, several MB each and cold for each request, cost 11-14% more of the
/// engine's time and 38 MiB more memory with ET Open (BENCHMARKS.md).
fn build_matcher(patterns: &[Vec<u8>]) -> Matcher {
    if let Some(db) = hyperscan_database(patterns) {
        return Matcher::Hyperscan(db);
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
        // TCP payload's whole matcher (port 80's own has the same patterns: shared) and
        // its any-port one, UDP payload, the URI.
        assert_eq!(cache.len(), 4);
        // TCP payload gains a rule on port 80; UDP and the URI group keep their patterns.
        let v2 = rules(
            "alert tcp any any -> any 80 (content:\"alpha\"; sid:1;)\n\
             alert tcp any any -> any 80 (content:\"delta\"; sid:4;)\n\
             alert tcp any any -> any any (content:\"bravo\"; sid:2;)\n\
             alert udp any any -> any any (content:\"charlie\"; sid:3;)\n\
             alert tcp any any -> any any (http.uri; content:\"/echo\"; sid:5;)",
        );
        let (t2, cache2) = build_parallel(&v2, |_| false, &cache, &[0]);
        assert_eq!(cache2.len(), 4);
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

    /// The patterns a packet between `ports` scans in the TCP to-server payload group,
    /// by the group's pattern ids ("whole" when it scans the whole matcher).
    fn scanned(t: &GroupTable, ports: Option<(u16, u16)>) -> Option<Vec<String>> {
        scanned_over(t, ports, b"alpha bravo charlie delta")
    }

    /// [`scanned`], checking that the matcher finds something in `text`.
    fn scanned_over(t: &GroupTable, ports: Option<(u16, u16)>, text: &[u8]) -> Option<Vec<String>> {
        let g = t.get(Transport::Tcp, true, Buffer::Payload).unwrap();
        let group = g.any.as_ref().unwrap();
        let (m, ids) = group.matcher_for(ports)?;
        let all: Vec<usize> = match ids {
            Some(ids) => ids.iter().map(|&i| i as usize).collect(),
            None => return Some(vec!["whole".into()]),
        };
        // The sub-matcher finds its own patterns, reported as the group's.
        let mut names = Vec::new();
        for &i in &all {
            let rule = group.pattern_rules[i][0].0;
            names.push(format!("sid{}", rule + 1));
        }
        let mut found = 0;
        let scratch = match m {
            Matcher::Hyperscan(db) => Some(db.alloc_scratch().unwrap()),
            Matcher::AhoCorasick(_) => None,
        };
        assert!(m.scan(text, scratch.as_ref(), |_, _| found += 1));
        assert!(found >= 1, "{names:?}");
        Some(names)
    }

    #[test]
    fn packets_scan_only_the_patterns_their_ports_can_concern() {
        let r = rules(
            "alert tcp any any -> any any (content:\"alpha\"; sid:1;)\n\
             alert tcp any any -> any 80 (content:\"bravo\"; sid:2;)\n\
             alert tcp any any -> any 21 (content:\"charlie\"; sid:3;)",
        );
        let t = build(&r, |_| false);
        let v = |x: &[&str]| Some(x.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        // On port 80: the any-port pattern and port 80's, not port 21's.
        assert_eq!(scanned(&t, Some((40000, 80))), v(&["sid1", "sid2"]));
        assert_eq!(scanned(&t, Some((80, 40000))), v(&["sid1", "sid2"]));
        assert_eq!(scanned(&t, Some((80, 80))), v(&["sid1", "sid2"]));
        // On a port no rule names, or without ports: the any-port pattern alone.
        assert_eq!(scanned(&t, Some((40000, 5555))), v(&["sid1"]));
        assert_eq!(scanned(&t, None), v(&["sid1"]));
        // Between two filed ports: everything.
        assert_eq!(scanned(&t, Some((21, 80))), v(&["whole"]));
        // With no any-port pattern, a packet on other ports scans nothing.
        let only = build(
            &rules("alert tcp any any -> any 80 (content:\"bravo\"; sid:2;)"),
            |_| false,
        );
        assert_eq!(scanned(&only, Some((40000, 5555))), None);
        assert_eq!(scanned(&only, Some((40000, 80))).unwrap().len(), 1);
    }

    #[test]
    fn only_the_first_priority_ports_get_matchers_of_their_own() {
        // Every priority port, and two others.
        let ports: Vec<u16> = PRIORITY_PORTS.iter().copied().chain([1000, 1001]).collect();
        let text: String = ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                format!(
                    "alert tcp any any -> any {port} (flow:to_server; content:\"pattern{i}\"; sid:{};)\n",
                    i + 1
                )
            })
            .collect();
        let t = build(&rules(&text), |_| false);
        let g = t.get(Transport::Tcp, true, Buffer::Payload).unwrap();
        let n = g.any.as_ref().unwrap().narrow.as_ref().unwrap();
        assert_eq!(n.ports.len(), NARROW_PORTS);
        assert_eq!(n.filed.len(), ports.len());
        // The first priority ports have their own; later ones and the others do not.
        let own: Vec<u16> = ports
            .iter()
            .copied()
            .filter(|p| n.filed[p].is_some())
            .collect();
        assert_eq!(own, PRIORITY_PORTS[..NARROW_PORTS]);
        for port in [PRIORITY_PORTS[NARROW_PORTS], 1000] {
            assert_eq!(
                scanned(&t, Some((40000, port))),
                Some(vec!["whole".to_string()])
            );
        }
        assert_eq!(
            scanned_over(&t, Some((40000, 80)), b"pattern0"),
            Some(vec!["sid1".to_string()])
        );
        // Every database is counted for the workers' scratch space.
        assert_eq!(t.hyperscan_databases().count(), 1 + NARROW_PORTS);
    }

    #[test]
    fn a_scan_without_scratch_space_says_so() {
        let m = build_matcher(&[b"alpha".to_vec()]);
        assert!(matches!(m, Matcher::Hyperscan(_)));
        let mut hits = 0;
        assert!(!m.scan(b"alpha", None, |_, _| hits += 1));
        assert_eq!(hits, 0);
    }

    #[test]
    fn body_rules_share_the_file_data_groups() {
        let r = rules(
            "alert tcp any any -> any any (flow:to_server; http.request_body; content:\"upload\"; sid:1;)\n\
             alert tcp any any -> any any (flow:to_client; http.response_body; content:\"download\"; sid:2;)\n\
             alert tcp any any -> any any (flow:to_client; file_data; content:\"document\"; sid:3;)",
        );
        let t = build(&r, |_| false);
        for to_server in [true, false] {
            let buffers: Vec<Buffer> = t.buffers(Transport::Tcp, to_server).collect();
            assert_eq!(buffers, vec![Buffer::FileData]);
        }
        let g = t.get(Transport::Tcp, false, Buffer::FileData).unwrap();
        assert_eq!(g.any.as_ref().unwrap().pattern_rules.len(), 2);
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
