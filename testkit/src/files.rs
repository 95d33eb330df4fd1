//! Files the end-to-end tests share: the `../shared/data` material, rule files, EVE output.

use std::path::{Path, PathBuf};

/// A path under `../shared/data` (beside the clone); panics with the reason when missing.
pub fn shared(rel: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel);
    assert!(
        p.exists(),
        "{} is missing: CI must have ../shared beside the clone",
        p.display()
    );
    p
}

/// Writes `text` as `dir/name.rules` and returns its path.
pub fn rules_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{name}.rules"));
    std::fs::write(&path, text).expect("write rules");
    path
}

/// The EVE records of `event_type` in `eve`, in order.
pub fn eve_events(eve: &Path, event_type: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(eve)
        .unwrap_or_else(|e| panic!("{}: {e}", eve.display()))
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("EVE line is JSON"))
        .filter(|e| e["event_type"] == event_type)
        .collect()
}

/// Every `alert dns` rule of the shared ET Open snapshot, one per line: a ruleset of
/// realistic size (about 4,000 rules) for reload and soak tests.
pub fn et_open_dns_rules() -> String {
    let mut text = String::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared("et-open"))
        .expect("et-open")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    files.sort();
    for path in files {
        for line in std::fs::read_to_string(&path).expect("rules").lines() {
            if line.starts_with("alert dns") {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}
