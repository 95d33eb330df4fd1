//! Rules: loading rule files, the language's parser, and address/port specifications.
//!
//! [`load`] reads files and directories of `.rules`, joins `\`-continued lines, skips
//! comments, and parses each rule; a rule that fails is reported with file:line, sid and
//! the keyword and skipped, while the rest load. Compilation into matchers is in
//! `crate::detect`.

pub mod ast;
pub mod classification;
pub mod netspec;
pub mod parse;

use std::path::{Path, PathBuf};

pub use ast::Rule;
pub use netspec::Vars;
pub use parse::{FlowbitNames, RuleError};

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
    let mut loaded = Loaded::default();
    for path in paths {
        for file in rule_files(path)? {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| LoadError(format!("{}: {e}", file.display())))?;
            load_text(&text, &file.display().to_string(), vars, &mut loaded);
            loaded.files.push(file);
        }
    }
    Ok(loaded)
}

/// Parses the rules in `text` (named `file` in errors) into `loaded`.
pub fn load_text(text: &str, file: &str, vars: &Vars, loaded: &mut Loaded) {
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
        match parse::parse_rule(&pending, origin, vars, &mut loaded.flowbits) {
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
