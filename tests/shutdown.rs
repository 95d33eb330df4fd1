//! Lifecycle on the real binary: SIGTERM mid-run exits 0 with final stats and every mbuf
//! back in its pool; two workers on two queues keep counters that add up to the port's.

// A test fails by panicking: unwrap, expect and panic are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use testkit::process::{test_eal_args, Running};
use testkit::{pcap, traffic};

const SENSOR: &str = env!("CARGO_BIN_EXE_sensor");

fn write_config(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("sensor.toml");
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn sigterm_mid_run_exits_0_with_final_stats_and_no_mbuf_out_of_pool() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("loop.pcap");
    pcap::write(&input, &traffic::bench_mix(2000, 200, 5));
    // infinite_rx keeps the whole capture in mbufs until the port is closed, so this also
    // proves the close path returns them.
    let eal = test_eal_args(&[
        format!("net_pcap_loop,rx_pcap={},infinite_rx=1", input.display()),
        "net_null_sink".to_string(),
    ]);
    let config = write_config(
        dir.path(),
        &format!(
            "mode = \"prevention\"\nstats_interval_secs = 0.1\n[eal]\nargs = {eal}\n[ports]\nbridge = [[\"net_pcap_loop\", \"net_null_sink\"]]\n"
        ),
    );
    let mut sensor = Running::start(SENSOR, &["run", "--config", config.to_str().unwrap()]);
    sensor.wait_for_stats(Duration::from_secs(30), |s| {
        s["ports"][1]["tx"].as_u64().unwrap_or(0) > 100_000
    });
    let done = sensor.terminate();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let stats = done.final_stats();
    let rx = stats["ports"][0]["rx"].as_u64().unwrap();
    let forwarded = stats["ports"][1]["tx"].as_u64().unwrap();
    let failed = stats["ports"][1]["tx_failures"].as_u64().unwrap();
    assert_eq!(
        rx,
        forwarded + failed,
        "every packet received was sent or counted"
    );
    assert_eq!(stats["mempool"]["in_use"], 0, "mbufs left out of the pool");
}

#[test]
fn two_workers_on_two_queues_add_up_to_the_port() {
    let dir = tempfile::tempdir().unwrap();
    let eal = test_eal_args(&["net_null_span".to_string()]);
    let config = write_config(
        dir.path(),
        &format!(
            "mode = \"detection\"\nstats_interval_secs = 0.1\n[eal]\nargs = {eal}\n[ports]\nspan = [\"net_null_span\"]\nqueues = 2\n"
        ),
    );
    let mut sensor = Running::start(SENSOR, &["run", "--config", config.to_str().unwrap()]);
    sensor.wait_for_stats(Duration::from_secs(30), |s| {
        s["workers"]
            .as_array()
            .is_some_and(|w| w.len() == 2 && w.iter().all(|w| w["packets"].as_u64() > Some(10_000)))
    });
    let stats = sensor.terminate().final_stats();
    let port = &stats["ports"][0];
    let queues = port["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 2);
    let workers = stats["workers"].as_array().unwrap();
    let sum = |items: &[serde_json::Value], f: &str| -> u64 {
        items.iter().map(|v| v[f].as_u64().unwrap()).sum()
    };
    let rx = port["rx"].as_u64().unwrap();
    assert_eq!(sum(queues, "rx"), rx);
    assert_eq!(sum(workers, "packets"), rx);
    assert_eq!(port["device_ipackets"].as_u64().unwrap(), rx);
    assert_eq!(sum(queues, "device_ipackets"), rx);
    for (q, w) in queues.iter().zip(workers) {
        assert_eq!(q["rx"], w["packets"], "queue q is served by worker q alone");
        assert_eq!(q["device_ipackets"], q["rx"]);
    }
    assert_ne!(workers[0]["core"], serde_json::Value::Null);
    assert_eq!(stats["mempool"]["in_use"], 0);
}
