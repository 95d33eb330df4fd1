//! `sensor check-rules`: counts, reasons by keyword, JSON shape, exit codes, and the real
//! ET Open set from ../shared/data loading without a panic.

// A test fails by panicking: unwrap, expect and panic are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use testkit::process::run;

const SENSOR: &str = env!("CARGO_BIN_EXE_sensor");

fn json(paths: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut args = vec!["check-rules", "--json"];
    args.extend_from_slice(paths);
    let f = run(SENSOR, &args);
    let v = serde_json::from_str(f.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", f.stdout));
    (f.code, v)
}

#[test]
fn good_rules_exit_0_and_a_bad_one_exits_1_with_its_keyword() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.rules");
    std::fs::write(
        &good,
        "alert tcp any any -> any 80 (msg:\"x\"; content:\"GET\"; sid:1; rev:1;)\n\
         alert http any any -> any any (http.uri; content:\"/a\"; sid:2;)\n",
    )
    .unwrap();
    let (code, v) = json(&[good.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert_eq!(v["loaded"], 2);
    assert_eq!(v["rejected"], 0);
    assert!(v["compile_ms"].as_f64().is_some());

    let bad = dir.path().join("bad.rules");
    std::fs::write(
        &bad,
        "alert tcp any any -> any any (content:\"x\"; byte_math:bytes 1,offset 0,oper +,rvalue 1,result r; sid:9;)\n",
    )
    .unwrap();
    let (code, v) = json(&[good.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert_eq!(v["loaded"], 2);
    assert_eq!(v["rejected"], 1);
    assert_eq!(v["rejected_by_keyword"]["byte_math"], 1);
    let err = v["errors"][0].as_str().unwrap();
    assert!(err.contains("bad.rules:1 sid 9: byte_math"), "{err}");
}

#[test]
fn missing_path_is_a_usage_error() {
    let f = run(SENSOR, &["check-rules", "/nonexistent.rules"]);
    assert_eq!(f.code, Some(2), "{}", f.stderr);
}

#[test]
fn et_open_loads_without_panic() {
    let et = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/et-open");
    assert!(
        et.is_dir(),
        "{} is missing: CI must have ../shared beside the clone",
        et.display()
    );
    let (code, v) = json(&[et.to_str().unwrap()]);
    assert_eq!(
        code,
        Some(1),
        "ET Open has rules outside the supported subset"
    );
    let loaded = v["loaded"].as_u64().unwrap();
    let rejected = v["rejected"].as_u64().unwrap();
    assert!(
        loaded > 24_500,
        "regression: only {loaded} ET Open rules load"
    );
    assert_eq!(
        v["rejected_by_keyword"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>(),
        rejected
    );
}

#[test]
fn shipped_rules_load_without_rejections() {
    let rules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let (code, v) = json(&[rules.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{v}");
    assert!(v["loaded"].as_u64().unwrap() >= 6);
}

#[test]
fn a_ten_megabyte_content_compiles_without_stalling() {
    // The prefilter takes the content's first bytes: before, such a rule took minutes.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("huge.rules");
    std::fs::write(
        &rules,
        format!(
            "alert tcp any any -> any any (msg:\"huge\"; content:\"{}\"; sid:1; rev:1;)\n",
            "A".repeat(10_000_000)
        ),
    )
    .unwrap();
    let f = run(SENSOR, &["check-rules", "--json", rules.to_str().unwrap()]);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let report: serde_json::Value = serde_json::from_str(&f.stdout).unwrap();
    assert_eq!(report["loaded"], 1);
}
