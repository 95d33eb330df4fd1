//! Domain lists: plain, hosts, RPZ and AdBlock-style files compiled into one
//! [`SuffixSet`] over dotted names (`.` + labels), so matching is label-aligned.
//!
//! Formats (auto-detected from the first meaningful line unless configured):
//! - plain: one name per line (`#` comments); a name blocks itself and its subdomains;
//! - hosts: `0.0.0.0 name [name...]` (`localhost` and the like are skipped);
//! - RPZ zone files: `$ORIGIN`/`$TTL`, owner names relative to the origin; `name CNAME .`
//!   answers NXDOMAIN, `CNAME *.` NODATA, `CNAME rpz-drop.` drops, `CNAME rpz-passthru.`
//!   allows, `A`/`AAAA` records answer with that address (sinkhole); an owner `*.name`
//!   covers the subdomains only, a plain owner the name only; `<len>.<reversed
//!   address>.rpz-ip` owners trigger on an answer address inside that network;
//! - AdBlock: `||name^` blocks the name and its subdomains, `@@||name^` allows them.
//!
//! A name can match several entries: any allow entry wins; otherwise the most specific
//! (longest) entry decides, ties going to the earlier list. A bad line is reported with
//! file:line and skipped; a missing file is an error.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::names::suffix_set::{KeyKind, SuffixSet};

/// What a matching entry does to a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListAction {
    /// Alert only.
    Alert,
    /// Drop the query (the client times out).
    Drop,
    /// Answer NXDOMAIN.
    Nxdomain,
    /// Answer NOERROR with no records.
    Nodata,
    /// Answer with the sinkhole address.
    Sinkhole,
    /// Allow: no list action for this name, whatever other lists say.
    Allow,
}

impl ListAction {
    /// The name used in config and EVE.
    pub fn as_str(self) -> &'static str {
        match self {
            ListAction::Alert => "alert",
            ListAction::Drop => "drop",
            ListAction::Nxdomain => "nxdomain",
            ListAction::Nodata => "nodata",
            ListAction::Sinkhole => "sinkhole",
            ListAction::Allow => "allow",
        }
    }
}

/// File format of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ListFormat {
    /// Detect from the content.
    #[default]
    Auto,
    /// One name per line.
    Plain,
    /// Hosts file.
    Hosts,
    /// RPZ zone file.
    Rpz,
    /// AdBlock `||name^`.
    Adblock,
}

/// One list in the configuration (`[lists.NAME]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListConfig {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    #[serde(default)]
    pub format: ListFormat,
    /// The action for every entry (RPZ: overrides the entries' own actions when set).
    /// Unset: `nxdomain`, or the RPZ entry's action.
    #[serde(default)]
    pub action: Option<ListAction>,
    /// Address answered for A queries when the action is `sinkhole`.
    #[serde(default = "default_sinkhole_v4")]
    pub sinkhole_v4: Ipv4Addr,
    /// Address answered for AAAA queries when the action is `sinkhole`.
    #[serde(default = "default_sinkhole_v6")]
    pub sinkhole_v6: Ipv6Addr,
    /// Alert on matches but take no action.
    #[serde(default)]
    pub log_only: bool,
}

fn default_sinkhole_v4() -> Ipv4Addr {
    Ipv4Addr::UNSPECIFIED
}

fn default_sinkhole_v6() -> Ipv6Addr {
    Ipv6Addr::UNSPECIFIED
}

impl ListConfig {
    /// A list of `path` with every default.
    pub fn for_path(path: PathBuf) -> Self {
        ListConfig {
            path,
            format: ListFormat::Auto,
            action: None,
            sinkhole_v4: default_sinkhole_v4(),
            sinkhole_v6: default_sinkhole_v6(),
            log_only: false,
        }
    }
}

/// A line that did not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListLineError {
    /// File.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// Why.
    pub reason: String,
}

impl fmt::Display for ListLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
    }
}

/// A list's settings once loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct ListInfo {
    /// The list's name (its key in the config).
    pub name: String,
    /// `list NAME`, as the watchlist names why an address is watched.
    pub origin: std::sync::Arc<str>,
    /// Its settings.
    pub config: ListConfig,
    /// Entries loaded from it.
    pub entries: usize,
}

impl ListInfo {
    /// Whether a match of an entry with `action` on this list acts (blocks) in
    /// `prevention`: not in detection, not for a log-only list, not for `alert`.
    pub fn acts(&self, action: ListAction, prevention: bool) -> bool {
        prevention && !self.config.log_only && action != ListAction::Alert
    }

    /// The EVE `dns_list` object of a match of `entry` (the listed name) with `action`.
    pub fn hit_detail(&self, entry: &str, action: ListAction) -> serde_json::Value {
        serde_json::json!({
            "list": self.name,
            "entry": entry,
            "action": action.as_str(),
            "log_only": self.config.log_only,
        })
    }
}

/// One entry's meaning: 8 bytes per name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Index of the list in [`DomainLists::lists`].
    pub list: u16,
    /// The action.
    pub action: ListAction,
    /// Index into the local answers (RPZ A/AAAA data), or `u32::MAX`.
    pub local: u32,
}

/// The entry that decides for a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListMatch {
    /// The entry.
    pub entry: Entry,
    /// Where in the dotted name the matching key starts (the key is the rest).
    pub start: usize,
}

/// All loaded lists.
#[derive(Debug, Default)]
pub struct DomainLists {
    set: SuffixSet,
    entries: Vec<Entry>,
    local: Vec<(Option<Ipv4Addr>, Option<Ipv6Addr>)>,
    ip_triggers: Vec<(ipnet::IpNet, Entry)>,
    /// The lists, in load order.
    pub lists: Vec<ListInfo>,
    /// Lines that did not load.
    pub rejected: Vec<ListLineError>,
    /// Milliseconds spent loading.
    pub load_ms: f64,
}

/// Lists as loaded, with a fingerprint of what they were loaded from.
#[derive(Debug, Clone)]
pub struct LoadedLists {
    fingerprint: u64,
    /// The lists.
    pub lists: Arc<DomainLists>,
}

/// Why the configured lists could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListsError {
    /// A list file could not be read.
    #[error("list {list}: {path}: {reason}")]
    Read {
        /// The list's name (`[lists.NAME]`).
        list: String,
        /// Its file.
        path: std::path::PathBuf,
        /// What the system said.
        reason: String,
    },
}

/// A configured list's name, configuration and file contents.
type ListText<'a> = (&'a String, &'a ListConfig, Vec<u8>);

/// Each configured list's name, configuration and file contents, in key order.
fn read_lists(lists: &BTreeMap<String, ListConfig>) -> Result<Vec<ListText<'_>>, ListsError> {
    lists
        .iter()
        .map(|(name, config)| {
            crate::files::regular(&config.path)
                .and_then(|()| std::fs::read(&config.path))
                .map(|text| (name, config, text))
                .map_err(|e| ListsError::Read {
                    list: name.clone(),
                    path: config.path.clone(),
                    reason: e.to_string(),
                })
        })
        .collect()
}

impl DomainLists {
    /// Loads every list in `lists` (in key order). Fails only when a file cannot be read.
    pub fn load(lists: &BTreeMap<String, ListConfig>) -> Result<DomainLists, ListsError> {
        let started = std::time::Instant::now();
        DomainLists::from_texts(read_lists(lists)?, started, &[])
    }

    /// [`DomainLists::load`], or `previous` again when it was loaded from the same
    /// configuration and the same file contents (compared by a hash of both; reading the
    /// files costs a few milliseconds per million names, parsing them a second). Lines of
    /// plain, hosts and AdBlock lists are parsed on one thread per CPU in `cpus` (each
    /// pinned; none given: the calling thread alone); RPZ zones, whose lines depend on
    /// the ones before, on one.
    pub fn load_reusing(
        lists: &BTreeMap<String, ListConfig>,
        previous: Option<&LoadedLists>,
        cpus: &[usize],
    ) -> Result<LoadedLists, ListsError> {
        let started = std::time::Instant::now();
        let texts = read_lists(lists)?;
        let mut h = rustc_hash::FxHasher::default();
        for (name, config, text) in &texts {
            format!("{name}{config:?}").hash(&mut h);
            text.hash(&mut h);
        }
        let fingerprint = h.finish();
        if let Some(p) = previous.filter(|p| p.fingerprint == fingerprint) {
            return Ok(p.clone());
        }
        Ok(LoadedLists {
            fingerprint,
            lists: Arc::new(DomainLists::from_texts(texts, started, cpus)?),
        })
    }

    fn from_texts(
        texts: Vec<ListText<'_>>,
        started: std::time::Instant,
        cpus: &[usize],
    ) -> Result<DomainLists, ListsError> {
        let mut out = DomainLists::default();
        let lines: usize = texts
            .iter()
            .map(|t| t.2.iter().filter(|&&b| b == b'\n').count() + 1)
            .sum();
        out.set = SuffixSet::with_capacity(lines);
        for (i, (name, config, text)) in texts.into_iter().enumerate() {
            let text = String::from_utf8_lossy(&text);
            let before = out.set.len() + out.ip_triggers.len();
            out.add_text(i as u16, config, &text, cpus);
            out.lists.push(ListInfo {
                origin: format!("list {name}").into(),
                name: name.clone(),
                config: config.clone(),
                entries: out.set.len() + out.ip_triggers.len() - before,
            });
        }
        out.set.shrink();
        out.entries.shrink_to_fit();
        out.load_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(out)
    }

    /// Number of entries (names and address triggers).
    pub fn len(&self) -> usize {
        self.set.len() + self.ip_triggers.len()
    }

    /// Whether no list has an entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of memory held by the compiled lists.
    pub fn memory_bytes(&self) -> usize {
        self.set.memory_bytes()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.local.capacity() * std::mem::size_of::<(Option<Ipv4Addr>, Option<Ipv6Addr>)>()
    }

    fn add_text(&mut self, list: u16, config: &ListConfig, text: &str, cpus: &[usize]) {
        let format = match config.format {
            ListFormat::Auto => detect_format(&config.path, text),
            f => f,
        };
        let default = config.action.unwrap_or(ListAction::Nxdomain);
        let mut add = |n: usize, parsed: Result<Vec<Item>, String>| {
            let items = match parsed {
                Ok(items) => items,
                Err(reason) => {
                    self.rejected.push(ListLineError {
                        file: config.path.clone(),
                        line: n + 1,
                        reason,
                    });
                    return;
                }
            };
            for item in items {
                let action = match (item.action, config.action) {
                    (Some(ListAction::Allow), _) => ListAction::Allow,
                    (_, Some(a)) => a,
                    (Some(a), None) => a,
                    (None, None) => default,
                };
                let local = match item.local {
                    Some(addr) if action == ListAction::Sinkhole => {
                        self.local.push(match addr {
                            IpAddr::V4(v4) => (Some(v4), None),
                            IpAddr::V6(v6) => (None, Some(v6)),
                        });
                        (self.local.len() - 1) as u32
                    }
                    _ => u32::MAX,
                };
                let entry = Entry {
                    list,
                    action,
                    local,
                };
                match item.key {
                    Key::Name(name, kind) => self.insert(&name, kind, entry),
                    Key::Net(net) => self.ip_triggers.push((net, entry)),
                }
            }
        };
        match format {
            ListFormat::Rpz => {
                let mut origin = String::new();
                for (n, raw) in text.lines().enumerate() {
                    add(n, rpz_line(raw.trim(), &mut origin));
                }
            }
            _ => parse_lines(
                text,
                cpus,
                move |line| match format {
                    ListFormat::Hosts => hosts_line(line),
                    ListFormat::Adblock => adblock_line(line),
                    _ => plain_line(line),
                },
                add,
            ),
        }
    }

    fn insert(&mut self, dotted: &[u8], kind: KeyKind, entry: Entry) {
        let id = self.entries.len() as u32;
        match self.set.insert(dotted, kind, id) {
            Some(existing) if existing == id => self.entries.push(entry),
            Some(existing) => {
                let e = &mut self.entries[existing as usize];
                if entry.action == ListAction::Allow {
                    *e = entry;
                } else if let Some((v4, v6)) = (entry.local != u32::MAX && e.local != u32::MAX)
                    .then(|| self.local[entry.local as usize])
                {
                    // Two local-data records (A and AAAA) for one RPZ owner: merge.
                    let mine = &mut self.local[e.local as usize];
                    mine.0 = mine.0.or(v4);
                    mine.1 = mine.1.or(v6);
                }
            }
            None => {}
        }
    }

    /// The entry that decides for `dotted` (`.` + labels, lowercased), if any.
    pub fn lookup(&self, dotted: &[u8]) -> Option<ListMatch> {
        let mut hashes = Vec::new();
        SuffixSet::suffix_hashes(dotted, &mut hashes);
        self.lookup_hashed(dotted, &hashes)
    }

    /// [`DomainLists::lookup`] with the name's suffix hashes given
    /// ([`SuffixSet::suffix_hashes`]).
    #[inline]
    pub fn lookup_hashed(&self, dotted: &[u8], hashes: &[u64]) -> Option<ListMatch> {
        let mut best: Option<ListMatch> = None;
        self.set.for_each_match_hashed(dotted, hashes, |id, start| {
            let entry = self.entries[id as usize];
            let better = match best {
                None => true,
                Some(b) if b.entry.action == ListAction::Allow => false,
                Some(b) => {
                    entry.action == ListAction::Allow
                        || start < b.start
                        || start == b.start && entry.list < b.entry.list
                }
            };
            if better {
                best = Some(ListMatch { entry, start });
            }
        });
        best
    }

    /// The first address trigger (`rpz-ip`) covering `addr`.
    pub fn lookup_address(&self, addr: IpAddr) -> Option<(ipnet::IpNet, Entry)> {
        self.ip_triggers
            .iter()
            .find(|(net, _)| net.contains(&addr))
            .copied()
    }

    /// Whether some list has address triggers.
    pub fn has_address_triggers(&self) -> bool {
        !self.ip_triggers.is_empty()
    }

    /// The address to answer for a sinkhole entry: its own (RPZ local data) or its list's.
    pub fn sinkhole(&self, entry: &Entry, v6: bool) -> Option<IpAddr> {
        if entry.local != u32::MAX {
            let (a, aaaa) = self.local[entry.local as usize];
            return if v6 {
                aaaa.map(IpAddr::V6)
            } else {
                a.map(IpAddr::V4)
            };
        }
        let c = &self.lists.get(usize::from(entry.list))?.config;
        Some(if v6 {
            IpAddr::V6(c.sinkhole_v6)
        } else {
            IpAddr::V4(c.sinkhole_v4)
        })
    }
}

/// What one line adds.
/// Hands each line of `text` (numbered from 0) through `parse` to `add`, in line order;
/// parses on one thread per CPU in `cpus` (each taking a run of whole lines) when there
/// are several and the text is large, else line by line on the calling thread.
fn parse_lines(
    text: &str,
    cpus: &[usize],
    parse: impl Fn(&str) -> Result<Vec<Item>, String> + Sync,
    mut add: impl FnMut(usize, Result<Vec<Item>, String>),
) {
    // Below this size a thread costs more than it saves.
    if cpus.len() < 2 || text.len() < 1 << 20 {
        for (n, raw) in text.lines().enumerate() {
            add(n, parse(raw.trim()));
        }
        return;
    }
    let one = |first: usize, part: &str| -> Vec<_> {
        part.lines()
            .enumerate()
            .map(|(n, raw)| (first + n, parse(raw.trim())))
            .collect()
    };
    let mut parts = Vec::with_capacity(cpus.len());
    let (mut start, mut first_line) = (0, 0);
    for i in 1..=cpus.len() {
        let mut end = (text.len() * i / cpus.len()).max(start);
        if i < cpus.len() {
            end = text.as_bytes()[end..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(text.len(), |p| end + p + 1);
        } else {
            end = text.len();
        }
        let part = &text[start..end];
        parts.push((first_line, part));
        first_line += part.lines().count();
        start = end;
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .zip(cpus)
            .map(|((first, part), &id)| {
                let one = &one;
                scope.spawn(move || {
                    core_affinity::set_for_current(core_affinity::CoreId { id });
                    one(first, part)
                })
            })
            .collect();
        for h in handles {
            for (n, parsed) in h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)) {
                add(n, parsed);
            }
        }
    })
}

struct Item {
    key: Key,
    action: Option<ListAction>,
    local: Option<IpAddr>,
}

enum Key {
    Name(Vec<u8>, KeyKind),
    Net(ipnet::IpNet),
}

fn detect_format(path: &Path, text: &str) -> ListFormat {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if matches!(ext, "rpz" | "zone") {
        return ListFormat::Rpz;
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    if first.starts_with("||")
        || first.starts_with("@@")
        || first.starts_with('[')
        || first.starts_with('!')
    {
        ListFormat::Adblock
    } else if first.starts_with('$') || first.starts_with(';') || first.contains(" SOA ") {
        ListFormat::Rpz
    } else if first
        .split_whitespace()
        .next()
        .is_some_and(|t| t.parse::<IpAddr>().is_ok())
    {
        ListFormat::Hosts
    } else {
        ListFormat::Plain
    }
}

/// `name` as a dotted, lowercased key: `.` + labels, no trailing dot.
fn dotted(name: &str) -> Result<Vec<u8>, String> {
    let name = name.trim_end_matches('.');
    if name.is_empty() {
        return Err("empty name".into());
    }
    if name.len() > 253 {
        return Err(format!("name longer than 253 bytes: {name:.40}..."));
    }
    if name.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err(format!("bad label in {name:?}"));
    }
    if name
        .bytes()
        .any(|b| !b.is_ascii_graphic() || matches!(b, b'/' | b':' | b'|' | b'^' | b'$'))
    {
        return Err(format!("not a domain name: {name:?}"));
    }
    let mut key = Vec::with_capacity(name.len() + 1);
    key.push(b'.');
    key.extend(name.bytes().map(|b| b.to_ascii_lowercase()));
    Ok(key)
}

fn name_item(name: &str, kind: KeyKind, action: Option<ListAction>) -> Result<Item, String> {
    Ok(Item {
        key: Key::Name(dotted(name)?, kind),
        action,
        local: None,
    })
}

fn plain_line(line: &str) -> Result<Vec<Item>, String> {
    let line = line.split('#').next().unwrap_or("").trim();
    if line.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![name_item(line, KeyKind::Suffix, None)?])
}

const HOSTS_SKIP: [&str; 8] = [
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "0.0.0.0",
];

fn hosts_line(line: &str) -> Result<Vec<Item>, String> {
    let line = line.split('#').next().unwrap_or("").trim();
    let mut tokens = line.split_whitespace();
    let Some(addr) = tokens.next() else {
        return Ok(Vec::new());
    };
    if addr.parse::<IpAddr>().is_err() {
        return Err(format!(
            "hosts line does not start with an address: {addr:?}"
        ));
    }
    tokens
        .filter(|n| !HOSTS_SKIP.contains(n) && !n.starts_with("ip6-"))
        .map(|n| name_item(n, KeyKind::Suffix, None))
        .collect()
}

fn adblock_line(line: &str) -> Result<Vec<Item>, String> {
    if line.is_empty() || line.starts_with('!') || line.starts_with('[') || line.starts_with('#') {
        return Ok(Vec::new());
    }
    let (allow, rest) = match line.strip_prefix("@@") {
        Some(r) => (true, r),
        None => (false, line),
    };
    let body = rest
        .strip_prefix("||")
        .ok_or_else(|| format!("not an ||name^ rule: {line:?}"))?;
    let (name, tail) = body
        .split_once('^')
        .ok_or_else(|| format!("no ^ after the name: {line:?}"))?;
    // Options that only narrow a browser rule (`$important`, `$all`) are harmless; others
    // change what the rule means for a browser and are not DNS rules.
    if !tail.is_empty() && !matches!(tail, "$important" | "$all" | "|") {
        return Err(format!("options other than $important: {line:?}"));
    }
    let action = allow.then_some(ListAction::Allow);
    Ok(vec![name_item(name, KeyKind::Suffix, action)?])
}

fn rpz_line(line: &str, origin: &mut String) -> Result<Vec<Item>, String> {
    let line = line.split(';').next().unwrap_or("").trim();
    if line.is_empty() || line.starts_with('(') || line.starts_with(')') || line.ends_with(')') {
        return Ok(Vec::new());
    }
    if let Some(o) = line.strip_prefix("$ORIGIN") {
        *origin = o.trim().trim_end_matches('.').to_ascii_lowercase();
        return Ok(Vec::new());
    }
    if line.starts_with('$') {
        return Ok(Vec::new());
    }
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let rtype_at = tokens
        .iter()
        .position(|t| {
            matches!(
                t.to_ascii_uppercase().as_str(),
                "CNAME" | "A" | "AAAA" | "SOA" | "NS" | "TXT"
            )
        })
        .ok_or_else(|| format!("no record type: {line:?}"))?;
    let rtype = tokens[rtype_at].to_ascii_uppercase();
    if rtype_at == 0 || matches!(rtype.as_str(), "SOA" | "NS") || tokens[0] == "@" {
        return Ok(Vec::new());
    }
    let owner = tokens[0].to_ascii_lowercase();
    let rdata = tokens.get(rtype_at + 1).copied().unwrap_or("");
    // An absolute owner inside the zone loses the origin; a relative one is the trigger.
    let owner = match owner.strip_suffix('.') {
        Some(abs) => abs
            .strip_suffix(origin.as_str())
            .and_then(|o| o.strip_suffix('.'))
            .unwrap_or(abs)
            .to_owned(),
        None => owner,
    };
    if let Some(ip) = owner.strip_suffix(".rpz-ip") {
        let net = rpz_ip(ip).ok_or_else(|| format!("bad rpz-ip trigger {owner:?}"))?;
        let action = rpz_action(&rtype, rdata)?;
        return Ok(vec![Item {
            key: Key::Net(net),
            action: Some(action.0),
            local: action.1,
        }]);
    }
    if owner.ends_with(".rpz-nsdname")
        || owner.ends_with(".rpz-nsip")
        || owner.ends_with(".rpz-client-ip")
    {
        return Err(format!("unsupported RPZ trigger {owner:?}"));
    }
    let (name, kind) = match owner.strip_prefix("*.") {
        Some(n) => (n, KeyKind::ProperSuffix),
        None => (owner.as_str(), KeyKind::Exact),
    };
    let (action, local) = rpz_action(&rtype, rdata)?;
    Ok(vec![Item {
        key: Key::Name(dotted(name)?, kind),
        action: Some(action),
        local,
    }])
}

/// The action of an RPZ record.
fn rpz_action(rtype: &str, rdata: &str) -> Result<(ListAction, Option<IpAddr>), String> {
    match (rtype, rdata) {
        ("CNAME", ".") => Ok((ListAction::Nxdomain, None)),
        ("CNAME", "*.") => Ok((ListAction::Nodata, None)),
        ("CNAME", "rpz-drop.") => Ok((ListAction::Drop, None)),
        ("CNAME", "rpz-passthru.") => Ok((ListAction::Allow, None)),
        ("A" | "AAAA", addr) => addr
            .parse::<IpAddr>()
            .map(|a| (ListAction::Sinkhole, Some(a)))
            .map_err(|_| format!("bad address {addr:?}")),
        (t, d) => Err(format!("unsupported RPZ action {t} {d}")),
    }
}

/// `32.1.2.0.192` (prefix length, then the address's labels reversed; IPv6 with `zz` for
/// the run of zeros) as a network.
fn rpz_ip(s: &str) -> Option<ipnet::IpNet> {
    let mut parts = s.split('.');
    let len: u8 = parts.next()?.parse().ok()?;
    let labels: Vec<&str> = parts.collect();
    if labels.len() == 4 && labels.iter().all(|l| l.parse::<u8>().is_ok()) {
        let text = labels.iter().rev().copied().collect::<Vec<_>>().join(".");
        let addr: Ipv4Addr = text.parse().ok()?;
        return ipnet::IpNet::new(IpAddr::V4(addr), len)
            .ok()
            .map(|n| n.trunc());
    }
    let text = labels
        .iter()
        .rev()
        .map(|l| if *l == "zz" { "" } else { l })
        .collect::<Vec<_>>()
        .join(":");
    let text = if text.starts_with(':') {
        format!(":{text}")
    } else {
        text
    };
    let text = if text.ends_with(':') {
        format!("{text}:")
    } else {
        text
    };
    let addr: Ipv6Addr = text.parse().ok()?;
    ipnet::IpNet::new(IpAddr::V6(addr), len)
        .ok()
        .map(|n| n.trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str, Option<ListAction>)]) -> DomainLists {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let mut map = BTreeMap::new();
        for (i, (name, text, action)) in files.iter().enumerate() {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            let mut c = ListConfig::for_path(path);
            c.action = *action;
            map.insert(format!("{i}-{name}"), c);
        }
        DomainLists::load(&map).unwrap()
    }

    fn action(l: &DomainLists, name: &str) -> Option<ListAction> {
        l.lookup(format!(".{name}").as_bytes())
            .map(|m| m.entry.action)
    }

    #[test]
    fn unchanged_lists_are_reused_and_changed_ones_reloaded() {
        let scratch = tempfile::tempdir().unwrap();
        let path = scratch.path().join("block.txt");
        std::fs::write(&path, "evil.com\n").unwrap();
        let mut map = BTreeMap::new();
        map.insert("block".to_string(), ListConfig::for_path(path.clone()));
        let first = DomainLists::load_reusing(&map, None, &[]).unwrap();
        let again = DomainLists::load_reusing(&map, Some(&first), &[]).unwrap();
        assert!(Arc::ptr_eq(&first.lists, &again.lists));
        // A changed setting or a changed file loads again.
        map.get_mut("block").unwrap().log_only = true;
        let setting = DomainLists::load_reusing(&map, Some(&again), &[]).unwrap();
        assert!(!Arc::ptr_eq(&again.lists, &setting.lists));
        std::fs::write(&path, "evil.com\nworse.net\n").unwrap();
        let file = DomainLists::load_reusing(&map, Some(&setting), &[]).unwrap();
        assert_eq!(file.lists.len(), 2);
        assert!(DomainLists::load_reusing(
            &BTreeMap::from([(
                "gone".to_string(),
                ListConfig::for_path(scratch.path().join("missing"))
            )]),
            Some(&file),
            &[]
        )
        .is_err());
    }

    #[test]
    fn lines_parsed_on_several_threads_keep_their_numbers_and_order() {
        // Over 1 MiB, so the parallel path runs; multi-byte names land near the splits.
        let text: String = (0..60_000)
            .map(|i| match i % 1000 {
                7 => "bad name with spaces\n".to_string(),
                _ => format!("host-{i}.é-example.org\n"),
            })
            .collect();
        assert!(text.len() > 1 << 20);
        let parse = |l: &str| plain_line(l);
        let run = |cpus: &[usize]| {
            let mut out = Vec::new();
            parse_lines(&text, cpus, parse, |n, r| out.push((n, r)));
            out
        };
        let (one, four) = (run(&[]), run(&[0, 0, 0, 0]));
        assert_eq!(one.len(), 60_000);
        assert_eq!(four.len(), one.len());
        for ((n1, r1), (n4, r4)) in one.iter().zip(&four) {
            assert_eq!(n1, n4);
            assert_eq!(r1.is_ok(), r4.is_ok());
        }
        assert!(four[7].1.is_err() && four[59_007].1.is_err());
    }

    #[test]
    fn plain_lists_are_label_aligned() {
        let l = load(&[(
            "plain.txt",
            "# comment\nevil.com\n\nBad.Example.ORG.\n",
            None,
        )]);
        assert_eq!(action(&l, "evil.com"), Some(ListAction::Nxdomain));
        assert_eq!(action(&l, "a.b.evil.com"), Some(ListAction::Nxdomain));
        assert_eq!(action(&l, "notevil.com"), None);
        assert_eq!(action(&l, "x.bad.example.org"), Some(ListAction::Nxdomain));
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn hosts_files_skip_localhost() {
        let l = load(&[(
            "hosts",
            "127.0.0.1 localhost\n0.0.0.0 ads.example tracker.example # two\n::1 ip6-localhost\nnot-an-address x.example\n",
            Some(ListAction::Sinkhole),
        )]);
        assert_eq!(l.len(), 2);
        assert_eq!(action(&l, "ads.example"), Some(ListAction::Sinkhole));
        assert_eq!(action(&l, "localhost"), None);
        assert_eq!(l.rejected.len(), 1);
        assert_eq!(l.rejected[0].line, 4);
    }

    #[test]
    fn adblock_rules_and_allow_entries_win() {
        let l = load(&[
            ("block.txt", "[Adblock Plus 2.0]\n! comment\n||ads.example^\n||cdn.example^$important\n||x.example^$third-party\n/regex/\n", Some(ListAction::Drop)),
            ("allow.txt", "||ok.ads.example^\n", Some(ListAction::Allow)),
            ("mixed.txt", "||cdn.example^\n@@||good.cdn.example^\n", None),
        ]);
        assert_eq!(action(&l, "ads.example"), Some(ListAction::Drop));
        assert_eq!(action(&l, "a.ok.ads.example"), Some(ListAction::Allow));
        assert_eq!(action(&l, "good.cdn.example"), Some(ListAction::Allow));
        assert_eq!(action(&l, "bad.cdn.example"), Some(ListAction::Drop));
        assert_eq!(l.rejected.len(), 2);
    }

    #[test]
    fn rpz_triggers_and_actions() {
        let zone = "$TTL 300\n$ORIGIN rpz.local.\n@ IN SOA ns.rpz.local. admin.rpz.local. ( 1 3600 600 86400 300 )\n  IN NS ns.rpz.local.\n\
nx.example CNAME .\n*.nx.example CNAME .\nnodata.example CNAME *.\ndrop.example.rpz.local. CNAME rpz-drop.\n\
ok.nx.example CNAME rpz-passthru.\nsink.example A 10.0.0.66\nsink.example AAAA fd00::66\n\
24.0.2.0.192.rpz-ip CNAME .\nns.example.rpz-nsdname CNAME .\nweird.example MX 10 mail.\n";
        let l = load(&[("policy.rpz", zone, None)]);
        assert_eq!(action(&l, "nx.example"), Some(ListAction::Nxdomain));
        assert_eq!(action(&l, "a.nx.example"), Some(ListAction::Nxdomain));
        assert_eq!(action(&l, "ok.nx.example"), Some(ListAction::Allow));
        assert_eq!(action(&l, "nodata.example"), Some(ListAction::Nodata));
        assert_eq!(
            action(&l, "a.nodata.example"),
            None,
            "no wildcard: the name only"
        );
        assert_eq!(action(&l, "drop.example"), Some(ListAction::Drop));
        let m = l.lookup(b".sink.example").unwrap();
        assert_eq!(m.entry.action, ListAction::Sinkhole);
        assert_eq!(
            l.sinkhole(&m.entry, false),
            Some("10.0.0.66".parse().unwrap())
        );
        assert_eq!(
            l.sinkhole(&m.entry, true),
            Some("fd00::66".parse().unwrap())
        );
        let (net, e) = l.lookup_address("192.0.2.77".parse().unwrap()).unwrap();
        assert_eq!(
            (net.to_string().as_str(), e.action),
            ("192.0.2.0/24", ListAction::Nxdomain)
        );
        assert!(l.lookup_address("192.0.3.1".parse().unwrap()).is_none());
        let reasons: Vec<&str> = l.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
    }

    #[test]
    fn the_most_specific_block_entry_decides() {
        let l = load(&[
            ("a.txt", "example.com\n", Some(ListAction::Alert)),
            ("b.txt", "bad.example.com\n", Some(ListAction::Sinkhole)),
        ]);
        assert_eq!(action(&l, "x.example.com"), Some(ListAction::Alert));
        assert_eq!(action(&l, "x.bad.example.com"), Some(ListAction::Sinkhole));
        let m = l.lookup(b".x.bad.example.com").unwrap();
        assert_eq!(&b".x.bad.example.com"[m.start..], b".bad.example.com");
    }

    #[test]
    fn rpz_ip_labels_for_v6() {
        assert_eq!(
            rpz_ip("48.zz.1.db8.2001").unwrap().to_string(),
            "2001:db8:1::/48"
        );
        assert_eq!(rpz_ip("32.1.2.0.192").unwrap().to_string(), "192.0.2.1/32");
        assert!(rpz_ip("x.1.2.3.4").is_none());
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let mut map = BTreeMap::new();
        map.insert(
            "gone".to_owned(),
            ListConfig::for_path("/nonexistent/list".into()),
        );
        assert!(DomainLists::load(&map)
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/list"));
    }
}
