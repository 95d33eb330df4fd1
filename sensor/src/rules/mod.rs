//! Rules: loading rule files, the language's parser, and address/port specifications.
//!
//! [`load`] reads files and directories of `.rules`, joins `\`-continued lines, skips
//! comments, and parses each rule; a rule that fails is reported with file:line, sid and
//! the keyword and skipped, while the rest load. Compilation into matchers is in
//! `crate::detect`. [`load_parallel`] parses files on several threads and reuses an earlier
//! load's compiled `pcre` expressions (reloads). Uses `proto` alone (DNS record-type names).

pub mod ast;
pub mod classification;
pub mod netspec;
pub mod parse;

use std::path::{Path, PathBuf};

pub use ast::Rule;
pub use netspec::Vars;
pub use parse::{FlowbitNames, ParseState, RegexCache, RuleError};

/// Everything loaded from a set of paths.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Rules that parsed.
    pub rules: Vec<Rule>,
    /// Rules that did not, with the reason.
    pub rejected: Vec<RuleError>,
    /// Flowbit names interned while parsing.
    pub flowbits: FlowbitNames,
    /// Files read.
    pub files: Vec<PathBuf>,
    /// The `pcre` expressions of the loaded rules (for the next load to reuse).
    pub regexes: RegexCache,
}

/// Why a set of rule paths could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Loads every rule in `paths` (files, or directories whose `*.rules` files are read in
/// name order). A missing path is an error; a bad rule is not.
pub fn load(paths: &[PathBuf], vars: &Vars) -> Result<Loaded, LoadError> {
    load_parallel(paths, vars, &RegexCache::default(), &[])
}

/// [`load`] on one thread per CPU in `cpus` (each pinned to its CPU; none given: the
/// calling thread alone), taking `pcre` expressions from `previous` where their text is
/// unchanged. The result is the same as [`load`]'s: rules in file and line order, flowbit
/// names interned once for the whole set.
pub fn load_parallel(
    paths: &[PathBuf],
    vars: &Vars,
    previous: &RegexCache,
    cpus: &[usize],
) -> Result<Loaded, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        for file in rule_files(path)? {
            let text = crate::files::regular(&file)
                .and_then(|()| std::fs::read_to_string(&file))
                .map_err(|e| LoadError(format!("{}: {e}", file.display())))?;
            files.push((file, text));
        }
    }
    let chunks = split_by_size(&files, cpus.len().max(1));
    let parts: Vec<Loaded> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| {
                let cpu = cpus.get(i).copied();
                scope.spawn(move || {
                    if let Some(id) = cpu {
                        core_affinity::set_for_current(core_affinity::CoreId { id });
                    }
                    let mut part = Loaded::default();
                    for (file, text) in *chunk {
                        load_text_with(
                            text,
                            &file.display().to_string(),
                            vars,
                            previous,
                            &mut part,
                        );
                        part.files.push(file.clone());
                    }
                    part
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut loaded = Loaded::default();
    for part in parts {
        loaded.merge(part);
    }
    loaded.reject_duplicate_sids();
    Ok(loaded)
}

/// `files` in at most `n` consecutive runs of about equal total size (order kept).
fn split_by_size(files: &[(PathBuf, String)], n: usize) -> Vec<&[(PathBuf, String)]> {
    let total: usize = files.iter().map(|f| f.1.len()).sum();
    let target = total.div_ceil(n.max(1)).max(1);
    let mut chunks = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, f) in files.iter().enumerate() {
        size += f.1.len();
        if size >= target && chunks.len() + 1 < n {
            chunks.push(&files[start..=i]);
            (start, size) = (i + 1, 0);
        }
    }
    if start < files.len() {
        chunks.push(&files[start..]);
    }
    chunks
}

impl Loaded {
    /// Keeps one rule per gid and sid, as Suricata does: a later rule with the same ids
    /// replaces the earlier one when its rev is higher, else it is rejected; either way
    /// the one that goes is listed as rejected, naming the other's place.
    fn reject_duplicate_sids(&mut self) {
        let mut kept: std::collections::HashMap<(u32, u32), usize> =
            std::collections::HashMap::with_capacity(self.rules.len());
        let mut gone = vec![false; self.rules.len()];
        for i in 0..self.rules.len() {
            let key = (self.rules[i].gid, self.rules[i].sid);
            let Some(&j) = kept.get(&key) else {
                kept.insert(key, i);
                continue;
            };
            let (loser, winner) = if self.rules[i].rev > self.rules[j].rev {
                kept.insert(key, i);
                (j, i)
            } else {
                (i, j)
            };
            gone[loser] = true;
            let (w, l) = (&self.rules[winner], &self.rules[loser]);
            self.rejected.push(RuleError {
                origin: l.origin.clone(),
                sid: Some(l.sid),
                keyword: "sid".into(),
                reason: format!(
                    "duplicate of gid {} sid {} at {}:{} (rev {} kept over rev {})",
                    w.gid, w.sid, w.origin.file, w.origin.line, w.rev, l.rev
                ),
            });
        }
        let mut index = 0;
        self.rules.retain(|_| {
            index += 1;
            !gone[index - 1]
        });
    }

    /// Appends `other` (parsed separately, after `self`'s files), renumbering its
    /// flowbits into this load's names.
    fn merge(&mut self, other: Loaded) {
        let mut renumber = vec![0u16; other.flowbits.len()];
        for (name, i) in other.flowbits.iter() {
            // A name `other` interned fits: both sets together had to fit to parse.
            renumber[usize::from(i)] = self.flowbits.intern(name).unwrap_or(u16::MAX);
        }
        for mut rule in other.rules {
            for fb in &mut rule.flowbits {
                for bit in &mut fb.bits {
                    *bit = renumber[usize::from(*bit)];
                }
            }
            self.rules.push(rule);
        }
        self.rejected.extend(other.rejected);
        self.files.extend(other.files);
        self.regexes.extend(other.regexes);
    }
}

/// Parses the rules in `text` (named `file` in errors) into `loaded`.
pub fn load_text(text: &str, file: &str, vars: &Vars, loaded: &mut Loaded) {
    load_text_with(text, file, vars, &RegexCache::default(), loaded);
}

fn load_text_with(text: &str, file: &str, vars: &Vars, previous: &RegexCache, loaded: &mut Loaded) {
    let mut state = ParseState {
        flowbits: &mut loaded.flowbits,
        previous,
        used: &mut loaded.regexes,
    };
    let mut pending = String::new();
    let mut start_line = 0;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if pending.is_empty() {
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            start_line = i + 1;
        }
        if let Some(cont) = trimmed.strip_suffix('\\') {
            pending.push_str(cont);
            continue;
        }
        pending.push_str(trimmed);
        let origin = ast::Origin {
            file: file.to_owned(),
            line: start_line,
        };
        match parse::parse_rule(&pending, origin, vars, &mut state) {
            Ok(rule) => loaded.rules.push(rule),
            Err(e) => loaded.rejected.push(e),
        }
        pending.clear();
    }
}

fn rule_files(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let meta =
        std::fs::metadata(path).map_err(|e| LoadError(format!("{}: {e}", path.display())))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| LoadError(format!("{}: {e}", path.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }

    #[test]
    fn parallel_load_equals_sequential_and_shares_flowbit_names() {
        let scratch = tempfile::tempdir().unwrap();
        write(
            scratch.path(),
            &[
                ("a.rules", "alert tcp any any -> any any (flowbits:set,x; flowbits:set,y; sid:1;)\nalert tcp any any -> any any (nosuch; sid:2;)\n"),
                ("b.rules", "alert tcp any any -> any any (flowbits:isset,y; pcre:\"/a+b/i\"; sid:3;)\n"),
                ("c.rules", "alert tcp any any -> any any (flowbits:isset,x; pcre:\"/a+b/i\"; sid:4;)\n"),
            ],
        );
        let paths = [scratch.path().to_owned()];
        let one = load(&paths, &Vars::default()).unwrap();
        let three =
            load_parallel(&paths, &Vars::default(), &RegexCache::default(), &[0, 0, 0]).unwrap();
        let sids = |l: &Loaded| l.rules.iter().map(|r| r.sid).collect::<Vec<_>>();
        assert_eq!(sids(&one), vec![1, 3, 4]);
        assert_eq!(sids(&three), sids(&one));
        assert_eq!(three.rejected.len(), 1);
        assert_eq!(three.files, one.files);
        assert_eq!(three.flowbits.len(), 2);
        assert_eq!(three.regexes.len(), 1);
        // Each name keeps one number across the files parsed apart.
        let bits = |l: &Loaded, i: usize| l.rules[i].flowbits[0].bits.clone();
        let set_x = three.rules[0].flowbits[0].bits[0];
        let set_y = three.rules[0].flowbits[1].bits[0];
        assert_ne!(set_x, set_y);
        assert_eq!(bits(&three, 1), vec![set_y]);
        assert_eq!(bits(&three, 2), vec![set_x]);
    }

    #[test]
    fn a_reload_reuses_compiled_expressions_by_their_text() {
        let mut previous = Loaded::default();
        load_text(
            "alert tcp any any -> any any (pcre:\"/x+y/\"; sid:1;)",
            "old.rules",
            &Vars::default(),
            &mut previous,
        );
        let mut reloaded = Loaded::default();
        load_text_with(
            "alert tcp any any -> any any (pcre:\"/x+y/\"; sid:9;)\nalert tcp any any -> any any (pcre:\"/z/\"; sid:10;)",
            "new.rules",
            &Vars::default(),
            &previous.regexes,
            &mut reloaded,
        );
        let regex = |l: &Loaded, i: usize| match &l.rules[i].buffers[0].conditions[0] {
            ast::Condition::Pcre(p) => match &p.regex {
                ast::PcreProgram::Regex(r) => r.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        // The same compiled object (its shared internals), not a recompile.
        assert_eq!(
            format!("{:p}", regex(&previous, 0).as_str()),
            format!("{:p}", regex(&reloaded, 0).as_str())
        );
        assert_eq!(regex(&reloaded, 1).as_str(), "z");
        assert_eq!(reloaded.regexes.len(), 2);
    }

    #[test]
    fn split_keeps_order_and_balances_size() {
        let f = |n: usize| (PathBuf::from(n.to_string()), "x".repeat(n));
        let files = vec![f(10), f(10), f(10), f(30)];
        let chunks = split_by_size(&files, 2);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].len() + chunks[1].len(), 4);
        assert_eq!(chunks[1].last().unwrap().1.len(), 30);
        assert_eq!(split_by_size(&files, 8).len(), 4);
        assert!(split_by_size(&[], 3).is_empty());
    }

    #[test]
    fn a_sid_loads_once_and_the_highest_rev_wins() {
        let dir = tempfile::tempdir().unwrap();
        let rule = |sid: u32, rev: u32, msg: &str| {
            format!("alert tcp any any -> any any (msg:\"{msg}\"; content:\"x\"; sid:{sid}; rev:{rev};)\n")
        };
        let a = dir.path().join("a.rules");
        let b = dir.path().join("b.rules");
        std::fs::write(&a, rule(7, 1, "old") + &rule(8, 2, "first 8")).unwrap();
        std::fs::write(
            &b,
            rule(7, 3, "new") + &rule(8, 2, "second 8") + &rule(9, 1, "9"),
        )
        .unwrap();
        let loaded = load(&[a, b], &Vars::default()).unwrap();
        let msgs: Vec<&str> = loaded.rules.iter().map(|r| r.msg.as_str()).collect();
        assert_eq!(msgs, ["first 8", "new", "9"]);
        let reasons: Vec<(Option<u32>, u32, &str)> = loaded
            .rejected
            .iter()
            .map(|e| (e.sid, e.origin.line as u32, e.keyword.as_str()))
            .collect();
        assert_eq!(reasons, [(Some(7), 1, "sid"), (Some(8), 2, "sid")]);
        assert!(loaded.rejected[0]
            .reason
            .contains("b.rules:1 (rev 3 kept over rev 1)"));
    }
}
