//! Bad configuration: exit code 2 and a one-line reason on stderr.

// A test fails by panicking: unwrap, expect and panic are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use testkit::process::{run, test_eal_args, Finished};

const SENSOR: &str = env!("CARGO_BIN_EXE_sensor");

fn with_config(body: &str, extra: &[&str]) -> Finished {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sensor.toml");
    std::fs::write(&path, body).unwrap();
    let mut args = vec!["run", "--config", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(SENSOR, &args)
}

fn assert_usage_error(f: &Finished, needle: &str) {
    assert_eq!(
        f.code,
        Some(2),
        "stdout: {}\nstderr: {}",
        f.stdout,
        f.stderr
    );
    let reasons: Vec<&str> = f
        .stderr
        .lines()
        .filter(|l| l.starts_with("sensor: "))
        .collect();
    assert_eq!(reasons.len(), 1, "one reason line expected:\n{}", f.stderr);
    assert!(
        reasons[0].contains(needle),
        "{:?} does not mention {needle:?}",
        reasons[0]
    );
}

fn valid_base(port: &str) -> String {
    format!(
        "mode = \"detection\"\n[eal]\nargs = {}\n[ports]\nspan = [\"{port}\"]\n",
        test_eal_args(&["net_null0".to_string()])
    )
}

#[test]
fn unknown_key_is_named() {
    let f = with_config("[workers]\nburst = 32\n", &[]);
    assert_usage_error(&f, "workers.burst");
}

#[test]
fn unknown_key_from_set_is_named() {
    let f = with_config(&valid_base("net_null0"), &["--set", "ports.colour=blue"]);
    assert_usage_error(&f, "ports.colour");
}

#[test]
fn missing_port_is_named() {
    let f = with_config(&valid_base("net_pcap9"), &[]);
    assert_usage_error(&f, "port net_pcap9 not found");
}

#[test]
fn core_out_of_range_is_refused() {
    let f = with_config(&valid_base("net_null0"), &["--set", "workers.cores=[4096]"]);
    assert_usage_error(&f, "core 4096 is out of range");
}

#[test]
fn prevention_without_bridge_is_refused() {
    let f = with_config(&valid_base("net_null0"), &["--set", "mode=prevention"]);
    assert_usage_error(&f, "ports.bridge");
}

#[test]
fn malformed_toml_is_refused() {
    let f = with_config("mode = \n", &[]);
    assert_usage_error(&f, "sensor.toml");
}

#[test]
fn missing_capture_is_refused() {
    let f = run(SENSOR, &["replay", "--pcap", "/nonexistent/x.pcap"]);
    assert_usage_error(&f, "/nonexistent/x.pcap");
}

#[test]
fn numbers_out_of_their_range_are_refused_with_key_and_range() {
    // Each of these crashed, hung or was clamped silently before it was checked.
    for (set, key) in [
        ("control.reload_max_loss=1.5", "control.reload_max_loss"),
        ("control.reload_max_loss=nan", "control.reload_max_loss"),
        ("stats_interval_secs=1e300", "stats_interval_secs"),
        ("control.timeout_secs=inf", "control.timeout_secs"),
        ("control.timeout_secs=-1.0", "control.timeout_secs"),
        ("detect.flow_capacity=1000000000000", "detect.flow_capacity"),
        ("eve.queue_size=1000000000000", "eve.queue_size"),
        ("baseline.queue_size=1000000000000", "baseline.queue_size"),
        (
            "baseline.domain_filter_bytes=1000000000000",
            "baseline.domain_filter_bytes",
        ),
        (
            "workers.idle_sleep_us=9223372036854775807",
            "workers.idle_sleep_us",
        ),
    ] {
        let f = with_config(&valid_base("net_null0"), &["--set", set]);
        assert_usage_error(&f, key);
        assert!(f.stderr.contains("out of range"), "{set}: {}", f.stderr);
    }
}
