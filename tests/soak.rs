//! A bounded soak of the real binary, everything at once: prevention at full rate
//! (`net_pcap` `infinite_rx` -> `net_null`) with reloads back to back, the domain list
//! rewritten before each, clients abusing the control socket, and EVE on a small tmpfs
//! that fills up, is freed and fills again. At the end: every packet received was
//! forwarded or dropped by a verdict, every alert was written or counted as lost, no mbuf
//! is left out of the pool, every EVE line is whole, and resident memory stayed flat.
//! `SOAK_SECS` sets the length (default 45 s; CI runs the default). Needs root (tmpfs).

// A test fails by panicking: unwrap, expect and panic are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use testkit::pcap;
use testkit::process::{require_root, test_eal_args, Running};

const SENSOR: &str = env!("CARGO_BIN_EXE_sensor");

/// ET Open's DNS rules plus a `drop` marker rule with `sid` for `marker.test`.
fn rules_text(sid: u32) -> String {
    let mut text = testkit::files::et_open_dns_rules();
    text.push_str(&format!(
        "drop dns any any -> any any (msg:\"marker {sid}\"; dns.query; content:\"marker.test\"; endswith; sid:{sid}; rev:1;)\n"
    ));
    text
}

/// One request on a fresh connection; `None` when the sensor refused or cut the client.
fn ask(socket: &Path, request: &[u8]) -> Option<serde_json::Value> {
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    serde_json::from_str(&line).ok()
}

#[test]
fn prevention_at_full_rate_with_reloads_list_edits_socket_abuse_and_a_full_disk() {
    require_root("the soak test (it mounts a small tmpfs for EVE)");
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(45);
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    assert!(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&disk)
        .status()
        .unwrap()
        .success());
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&disk);

    let benign: Vec<String> = (0..500).map(|i| format!("host{i}.example.org")).collect();
    let listed: Vec<String> = (0..50).map(|i| format!("bad{i}.example.net")).collect();
    let mut names = vec!["marker.test".to_owned()];
    names.extend(listed.iter().cloned());
    let capture = dir.path().join("dns.pcap");
    pcap::write(&capture, &testkit::dns::mix(4000, &benign, &names, 0.05, 7));
    let rules = dir.path().join("current.rules");
    std::fs::write(&rules, rules_text(1_000_001)).unwrap();
    let list = dir.path().join("blocked.txt");
    std::fs::write(&list, listed.join("\n")).unwrap();
    let socket = dir.path().join("sensor.sock");
    let eve = disk.join("eve.json");
    let filler = disk.join("filler");
    let config = dir.path().join("sensor.toml");
    std::fs::write(
        &config,
        format!(
            "mode = \"prevention\"\nstats_interval_secs = 0\n[eal]\nargs = {}\n[ports]\nbridge = [[\"net_pcap_in\", \"net_null_out\"]]\n\
             [detect]\nrules = [{rules:?}]\n[lists.blocked]\npath = {list:?}\naction = \"drop\"\n[eve]\npath = {eve:?}\n\
             [control]\nsocket = {socket:?}\ntimeout_secs = 1.0\nmax_clients = 8\n",
            test_eal_args(&[
                format!("net_pcap_in,rx_pcap={},infinite_rx=1", capture.display()),
                "net_null_out,no-rx=1".into(),
            ]),
        ),
    )
    .unwrap();
    let sensor = Running::start(SENSOR, &["run", "--config", config.to_str().unwrap()]);
    // Warmed up (flow table and buffers at their steady size); stats from the socket, so
    // every EVE record is an alert and the accounting below is exact.
    let deadline = Instant::now() + Duration::from_secs(60);
    while ask(&socket, b"{\"command\":\"stats\"}\n")
        .map_or(0, |s| s["datapath"]["ports"][0]["rx"].as_u64().unwrap_or(0))
        < 200_000
    {
        assert!(Instant::now() < deadline, "the sensor did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = sensor.pid();
    let rss_start = testkit::process::resident_kib(pid);
    let until = Instant::now() + Duration::from_secs(secs);
    let done = AtomicBool::new(false);
    let (reloads, abuse) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|s| {
        // Reloads back to back, rules and list edited before each.
        s.spawn(|| {
            let mut i = 0u32;
            while Instant::now() < until {
                std::fs::write(&rules, rules_text(1_000_001 + i % 2)).unwrap();
                let mut edited = listed.clone();
                edited.push(format!("edit{i}.example.net"));
                std::fs::write(&list, edited.join("\n")).unwrap();
                let reply = ask(&socket, b"{\"command\":\"reload\"}\n").expect("reload answered");
                assert_eq!(reply["ok"], true, "{reply}");
                reloads.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            done.store(true, Ordering::SeqCst);
        });
        // Clients that send garbage, oversized or half requests, or nothing, in parallel.
        for t in 0..3 {
            let (socket, done, abuse) = (&socket, &done, &abuse);
            s.spawn(move || {
                let mut k = 0usize;
                while !done.load(Ordering::SeqCst) {
                    match (k + t) % 4 {
                        0 => {
                            let r = ask(socket, b"not json at all\n");
                            assert!(r.is_none_or(|r| r["ok"] == false));
                        }
                        1 => {
                            let mut big = vec![b'x'; 70 * 1024];
                            big.push(b'\n');
                            let r = ask(socket, &big);
                            assert!(r.is_none_or(|r| r["ok"] == false));
                        }
                        2 => {
                            if let Ok(mut c) = UnixStream::connect(socket) {
                                let _ = c.write_all(b"{\"command\": \"sta");
                                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                                let mut sink = Vec::new();
                                let _ = c.read_to_end(&mut sink);
                            }
                        }
                        _ => {
                            let r = ask(socket, b"{\"command\":\"stats\"}\n");
                            assert!(r.is_none_or(|r| r["ok"] == true || r["error"].is_string()));
                        }
                    }
                    abuse.fetch_add(1, Ordering::Relaxed);
                    k += 1;
                }
            });
        }
        // The disk: full, freed, full again.
        s.spawn(|| {
            let mut freed = false;
            while !done.load(Ordering::SeqCst) {
                if freed {
                    let _ = std::fs::write(&filler, vec![0u8; 2 << 20]);
                } else {
                    let _ = std::fs::remove_file(&filler);
                }
                freed = !freed;
                std::thread::sleep(Duration::from_secs(3));
            }
        });
    });
    let rss_end = testkit::process::resident_kib(pid);
    let finished = sensor.terminate();
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);
    assert!(!finished.stderr.contains("panicked"), "{}", finished.stderr);
    let stats = finished.final_stats();
    let ports = stats["ports"].as_array().unwrap();
    let n = |v: &serde_json::Value| v.as_u64().unwrap();
    assert_eq!(
        n(&ports[0]["rx"]),
        n(&ports[1]["tx"]) + n(&ports[0]["policy_drops"]),
        "every packet received was forwarded or dropped by a verdict"
    );
    for p in ports {
        assert_eq!(
            (
                n(&p["tx_failures"]),
                n(&p["rx_nombuf"]),
                n(&p["stall_drops"])
            ),
            (0, 0, 0),
            "{p}"
        );
    }
    assert_eq!(stats["mempool"]["in_use"], 0);
    let engine = &stats["engine"];
    assert!(
        n(&engine["verdict_drops"]) > 0,
        "the marker and the list dropped"
    );
    assert_eq!(
        n(&engine["alerts"]),
        n(&engine["eve_written"])
            + n(&engine["eve_dropped_queue_full"])
            + n(&engine["eve_dropped_write_failed"]),
        "every alert written or counted: {engine}"
    );
    let text = std::fs::read_to_string(&eve).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'));
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    let growth = rss_end as f64 / rss_start as f64;
    eprintln!(
        "soak {secs} s: {} reloads, {} abusive clients, {} packets, RSS {rss_start} -> {rss_end} KiB, {} alerts ({} written, {} lost to a full disk)",
        reloads.load(Ordering::Relaxed),
        abuse.load(Ordering::Relaxed),
        n(&ports[0]["rx"]),
        n(&engine["alerts"]),
        n(&engine["eve_written"]),
        n(&engine["eve_dropped_write_failed"]),
    );
    assert!(reloads.load(Ordering::Relaxed) > 5);
    assert!(growth < 1.2, "resident memory {rss_start} -> {rss_end} KiB");
}
