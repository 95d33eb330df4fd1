//! Faults a careless operator or a full machine causes, on the real binary: a full disk
//! under EVE, `--out` and the baseline state file (tmpfs mounts of a few KiB, so these
//! need root, as CI has); FIFOs and devices given as inputs or outputs; a control socket
//! path naming a file; a closed stdout; SIGTERM while a replay compiles its rules.
//! Nothing may hang, panic, cut a record in half or lose an event without counting it.

// A test fails by panicking: unwrap, expect and panic are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::files::{rules_file, shared};
use testkit::process::{require_root, test_eal_args, Finished, Running};
use testkit::{pcap, traffic};

const SENSOR: &str = env!("CARGO_BIN_EXE_sensor");

/// A tmpfs of `kib` KiB mounted on a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(kib: u32) -> SmallDisk {
        require_root("a full-disk test (it mounts a small tmpfs)");
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount tmpfs failed");
        SmallDisk { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Fills the disk to the last block with a file `name`.
    fn fill(&self, name: &str) {
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=4096"])
            .arg(format!("of={}", self.path(name).display()))
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Runs `sensor args`; fails the test if it has not ended within `limit`.
fn run_within(limit: Duration, args: &[&str]) -> Finished {
    let mut running = Running::start(SENSOR, args);
    let deadline = Instant::now() + limit;
    loop {
        if let Some(done) = running.try_finish() {
            return done;
        }
        assert!(
            Instant::now() < deadline,
            "sensor {args:?} still running after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `sensor replay --pcap input --mode prevention --out out`, within a minute.
fn replay_prevention(input: &Path, out: &Path) -> Finished {
    run_within(
        Duration::from_secs(60),
        &[
            "replay",
            "--pcap",
            input.to_str().unwrap(),
            "--mode",
            "prevention",
            "--out",
            out.to_str().unwrap(),
        ],
    )
}

/// A detection config spanning `net_null0`, with `extra` appended (top-level keys first).
fn null_span_config(extra: &str) -> String {
    let (top, tables) = match extra.find('[') {
        Some(i) => extra.split_at(i),
        None => (extra, ""),
    };
    format!(
        "mode = \"detection\"\n{top}[eal]\nargs = {}\n[ports]\nspan = [\"net_null0\"]\n{tables}",
        test_eal_args(&["net_null0".to_string()])
    )
}

/// Every line of an EVE file is a whole JSON object.
fn eve_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "a cut last line");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// Rules that alert on every TCP and UDP packet with a payload.
fn every_packet_rule(dir: &Path) -> PathBuf {
    rules_file(
        dir,
        "every",
        "alert udp any any -> any any (msg:\"every udp\"; dsize:>0; sid:1; rev:1;)\n\
         alert tcp any any -> any any (msg:\"every tcp\"; dsize:>0; sid:2; rev:1;)\n",
    )
}

#[test]
fn eve_on_a_full_disk_counts_what_it_loses_and_resumes_when_space_returns() {
    let disk = SmallDisk::mount(512);
    std::fs::write(disk.path("filler"), vec![0u8; 256 * 1024]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("mix.pcap");
    pcap::write(&capture, &traffic::fidelity_mix(2000, 9));
    let eve = disk.path("eve.json");
    let config = dir.path().join("sensor.toml");
    std::fs::write(
        &config,
        format!(
            "mode = \"prevention\"\nstats_interval_secs = 0\n[eal]\nargs = {}\n[ports]\nbridge = [[\"net_pcap_in\", \"net_null_out\"]]\n[detect]\nrules = [{:?}]\n[eve]\npath = {eve:?}\n",
            test_eal_args(&[
                format!("net_pcap_in,rx_pcap={},infinite_rx=1", capture.display()),
                "net_null_out,no-rx=1".into(),
            ]),
            every_packet_rule(dir.path()),
        ),
    )
    .unwrap();
    let sensor = Running::start(SENSOR, &["run", "--config", config.to_str().unwrap()]);
    // The alerts fill the disk...
    let deadline = Instant::now() + Duration::from_secs(60);
    while !sensor.stderr_contains("events are dropped and counted") {
        assert!(Instant::now() < deadline, "the disk never filled");
        std::thread::sleep(Duration::from_millis(50));
    }
    let full = eve_lines(&eve).len();
    // ...then space returns and writing resumes.
    std::fs::remove_file(disk.path("filler")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sensor.stderr_contains("EVE: writing again") {
        assert!(Instant::now() < deadline, "writing never resumed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let done = sensor.terminate();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let stats = done.final_stats();
    let engine = &stats["engine"];
    let n = |k: &str| engine[k].as_u64().unwrap();
    assert!(full > 100 && n("eve_dropped_write_failed") > 0, "{engine}");
    assert_eq!(
        n("eve_dropped"),
        n("eve_dropped_queue_full") + n("eve_dropped_write_failed")
    );
    assert_eq!(
        n("alerts"),
        n("eve_written") + n("eve_dropped_queue_full") + n("eve_dropped_write_failed"),
        "every alert written or counted as dropped"
    );
    assert!(
        !eve_lines(&eve).is_empty(),
        "written again after space returned"
    );
    let ports = stats["ports"].as_array().unwrap();
    assert_eq!(
        ports[0]["rx"].as_u64(),
        ports[1]["tx"].as_u64(),
        "forwarding never stopped"
    );
}

#[test]
fn replay_out_on_a_full_disk_fails_with_the_count_it_wrote() {
    let disk = SmallDisk::mount(64);
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("mix.pcap");
    pcap::write(&capture, &traffic::fidelity_mix(3000, 10));
    let done = replay_prevention(&capture, &disk.path("out.pcap"));
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains("whole frames written of 3000 sent"),
        "{}",
        done.stderr
    );
    assert_eq!(done.final_stats()["ports"][1]["tx"], 3000);
}

#[test]
fn a_failed_baseline_save_fails_the_run_and_leaves_no_half_file() {
    let disk = SmallDisk::mount(64);
    disk.fill("filler");
    let dir = tempfile::tempdir().unwrap();
    let state = disk.path("baselines.bin");
    let done = run_within(
        Duration::from_secs(60),
        &[
            "replay",
            "--pcap",
            shared("pcaps/log4shell-exploit-chain.pcap")
                .to_str()
                .unwrap(),
            "--out",
            dir.path().join("out.pcap").to_str().unwrap(),
            "--mode",
            "prevention",
            "--set",
            "baseline.enabled=true",
            "--set",
            &format!("baseline.state_file={state:?}"),
        ],
    );
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains("baseline profiles not saved"),
        "{}",
        done.stderr
    );
    let stats = done.final_stats();
    assert!(stats["engine"]["baseline"]["state_save_failures"].as_u64() >= Some(1));
    assert!(!state.exists() && !state.with_extension("tmp").exists());
}

#[test]
fn fifos_and_devices_are_refused_as_inputs_and_outputs_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let f = fifo.to_str().unwrap();
    let capture = dir.path().join("mix.pcap");
    pcap::write(&capture, &traffic::fidelity_mix(50, 11));
    let c = capture.to_str().unwrap();
    let out = dir.path().join("out.pcap");
    let o = out.to_str().unwrap();
    let lists = format!("lists.x.path={f:?}");
    let state = format!("baseline.state_file={f:?}");
    let cases: Vec<Vec<&str>> = vec![
        vec!["replay", "--pcap", f],
        vec!["replay", "--pcap", c, "--rules", f],
        vec!["replay", "--pcap", c, "--set", &lists],
        vec!["replay", "--pcap", c, "--config", f],
        vec!["replay", "--pcap", c, "--out", f],
        vec!["replay", "--pcap", c, "--out", "/dev/null"],
        vec!["replay", "--pcap", c, "--out", o, "--rules", "/dev/zero"],
        vec!["check-rules", f],
    ];
    for args in &cases {
        let done = run_within(Duration::from_secs(30), args);
        assert!(
            matches!(done.code, Some(1 | 2)) && done.stderr.contains("not a regular file"),
            "{args:?}: {:?}\n{}",
            done.code,
            done.stderr
        );
    }
    // The EVE file and the baseline state are outputs: refused the same way.
    for set in [format!("eve.path={f:?}"), state] {
        let rules = every_packet_rule(dir.path());
        let done = run_within(
            Duration::from_secs(30),
            &[
                "replay",
                "--pcap",
                c,
                "--rules",
                rules.to_str().unwrap(),
                "--set",
                &set,
                "--set",
                "baseline.enabled=true",
            ],
        );
        assert!(matches!(done.code, Some(1 | 2)), "{set}: {}", done.stderr);
        assert!(
            done.stderr.contains("not a regular file"),
            "{set}: {}",
            done.stderr
        );
    }
}

#[test]
fn the_control_socket_path_never_replaces_a_file_or_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("precious.txt");
    std::fs::write(&file, "keep me").unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for path in [&file, &fifo] {
        let config = dir.path().join("sensor.toml");
        std::fs::write(
            &config,
            null_span_config(&format!("[control]\nsocket = {path:?}\n")),
        )
        .unwrap();
        let done = run_within(
            Duration::from_secs(30),
            &["run", "--config", config.to_str().unwrap()],
        );
        assert_eq!(done.code, Some(2), "{}", done.stderr);
        assert!(done.stderr.contains("is not a socket"), "{}", done.stderr);
        assert!(path.exists());
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

#[test]
fn a_closed_stdout_ends_the_output_quietly_never_the_sensor() {
    // check-rules on all of ET Open prints thousands of rejected rules; its reader leaves
    // after the first byte.
    let mut child = Command::new(SENSOR)
        .args(["check-rules", "--verbose"])
        .arg(shared("et-open"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A running sensor whose stdout reader is gone keeps forwarding and stops on SIGTERM.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sensor.toml");
    std::fs::write(&config, null_span_config("stats_interval_secs = 0.05\n")).unwrap();
    let mut child = Command::new(SENSOR)
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    std::thread::sleep(Duration::from_secs(2));
    assert!(child.try_wait().unwrap().is_none(), "the sensor stopped");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn sigterm_while_a_replay_compiles_fails_it_with_what_it_handled() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("mix.pcap");
    pcap::write(&capture, &traffic::fidelity_mix(500, 12));
    let sensor = Running::start(
        SENSOR,
        &[
            "replay",
            "--pcap",
            capture.to_str().unwrap(),
            "--rules",
            shared("et-open").to_str().unwrap(),
        ],
    );
    // ET Open takes a second or more to compile: the signal lands during it.
    std::thread::sleep(Duration::from_millis(300));
    let done = sensor.terminate();
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(done.stderr.contains("interrupted after"), "{}", done.stderr);
    done.final_stats();
}

/// A classic pcap file (Ethernet, `snaplen`) of `(captured, original length)` records, the
/// last cut to `last_cut` bytes of its captured length when given.
fn handmade_pcap(path: &Path, snaplen: u32, records: &[(u32, u32)], last_cut: Option<u32>) {
    let mut out = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, snaplen, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (i, &(caplen, len)) in records.iter().enumerate() {
        for v in [1_700_000_000u32, i as u32, caplen, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        frame.resize(caplen as usize, 0x45);
        if i + 1 == records.len() {
            if let Some(cut) = last_cut {
                frame.truncate(cut as usize);
            }
        }
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn replay_takes_a_short_snap_length_and_refuses_a_truncated_capture() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.pcap");
    let replay = |input: &Path| replay_prevention(input, &out);
    // Captured with a 96-byte snap length: every frame cut, as valid captures are.
    let short = dir.path().join("short.pcap");
    handmade_pcap(&short, 96, &[(96, 200); 5], None);
    let done = replay(&short);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(done.final_stats()["ports"][1]["tx"], 5);
    assert_eq!(pcap::read(&out).len(), 5);
    // The last record says 1,000 bytes and the file ends 900 bytes early.
    let cut = dir.path().join("cut.pcap");
    handmade_pcap(
        &cut,
        65_535,
        &[(100, 100), (100, 100), (1000, 1000)],
        Some(100),
    );
    let done = replay(&cut);
    assert_eq!(done.code, Some(2), "{}", done.stderr);
    assert!(
        done.stderr
            .contains("packet 3: the file ends inside this record (a truncated capture)"),
        "{}",
        done.stderr
    );
}

/// Runs a bridge (`net_pcap_a` -> `net_pcap_b`) over `frames` whose worker stalls after
/// about 1,000 packets (fault injection), with `policy`; returns what came out of the
/// bridge, the final stats and stderr.
fn stalled_bridge(frames: &[Vec<u8>], policy: &str) -> (Vec<Vec<u8>>, serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let (a_in, b_in, empty) = (
        dir.path().join("a_in.pcap"),
        dir.path().join("b_in.pcap"),
        dir.path().join("empty.pcap"),
    );
    pcap::write(&a_in, frames);
    pcap::write(&b_in, &[]);
    pcap::write(&empty, &[]);
    let b_out = dir.path().join("b_out.pcap");
    let config = dir.path().join("sensor.toml");
    std::fs::write(
        &config,
        format!(
            "mode = \"prevention\"\nstats_interval_secs = 0.05\n[eal]\nargs = {}\n[ports]\nbridge = [[\"net_pcap_a\", \"net_pcap_b\"]]\n[workers]\nstall_timeout_secs = 0.5\nstall_policy = \"{policy}\"\n",
            test_eal_args(&[
                format!(
                    "net_pcap_a,rx_pcap={},tx_pcap={}",
                    a_in.display(),
                    dir.path().join("a_out.pcap").display()
                ),
                format!("net_pcap_b,rx_pcap={},tx_pcap={}", b_in.display(), b_out.display()),
            ]),
        ),
    )
    .unwrap();
    let mut sensor = Running::start_with_env(
        SENSOR,
        &["run", "--config", config.to_str().unwrap()],
        &[("SENSOR_FAULT_STALL_WORKER", "0:1000")],
    );
    // Everything but the burst the stuck worker holds (at most 32 packets) is handled.
    let total = frames.len() as u64;
    sensor.wait_for_stats(Duration::from_secs(60), |s| {
        s["workers"][0]["stalled"] == true && s["ports"][0]["rx"].as_u64().unwrap() + 32 >= total
    });
    let done = sensor.terminate();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    (pcap::read(&b_out), done.final_stats(), done.stderr)
}

#[test]
fn a_stalled_worker_is_detected_and_its_queue_follows_the_stall_policy() {
    let frames = traffic::fidelity_mix(3000, 13);
    let n = |v: &serde_json::Value| v.as_u64().unwrap();
    // Fail-open: the worker inspected and forwarded the first ~1,000; the burst it was
    // deciding when it stalled is dropped when it finds its queues gone; everything after
    // is forwarded uninspected, in order.
    let (out, stats, stderr) = stalled_bridge(&frames, "fail-open");
    assert!(stderr.contains("worker 0 made no progress"), "{stderr}");
    assert_eq!(stats["workers"][0]["stalled"], true);
    let port = &stats["ports"][0];
    let (inspected, passed, held) = (
        n(&stats["workers"][0]["packets"]),
        n(&port["stall_passed"]),
        n(&port["stall_drops"]),
    );
    assert!(inspected >= 960 && passed > 0 && held <= 32, "{stats}");
    assert_eq!(n(&port["rx"]), 3000);
    assert_eq!(inspected + held + passed, 3000);
    let mut expected = frames[..inspected as usize].to_vec();
    expected.extend_from_slice(&frames[(inspected + held) as usize..]);
    let first_difference = out.iter().zip(&expected).position(|(a, b)| a != b);
    assert!(
        out.len() == expected.len() && first_difference.is_none(),
        "{} frames out, {} expected, first difference at {first_difference:?}: {stats}",
        out.len(),
        expected.len()
    );
    assert_eq!(stats["mempool"]["in_use"], 0);
    // Fail-closed: nothing the worker did not inspect passes; every drop is counted.
    let (out, stats, _) = stalled_bridge(&frames, "fail-closed");
    let port = &stats["ports"][0];
    assert!(
        out == frames[..out.len()],
        "{} frames out: {stats}",
        out.len()
    );
    assert_eq!(out.len() as u64 + n(&port["stall_drops"]), 3000, "{stats}");
    assert_eq!((n(&port["rx"]), n(&port["stall_passed"])), (3000, 0));
    assert_eq!(stats["mempool"]["in_use"], 0);
}

#[test]
fn a_panicking_worker_stops_the_whole_process_with_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("mix.pcap");
    pcap::write(&capture, &traffic::fidelity_mix(2000, 14));
    let config = dir.path().join("sensor.toml");
    std::fs::write(
        &config,
        format!(
            "mode = \"prevention\"\n[eal]\nargs = {}\n[ports]\nbridge = [[\"net_pcap_in\", \"net_null_out\"]]\n",
            test_eal_args(&[
                format!("net_pcap_in,rx_pcap={},infinite_rx=1", capture.display()),
                "net_null_out,no-rx=1".into(),
            ]),
        ),
    )
    .unwrap();
    let mut sensor = Running::start_with_env(
        SENSOR,
        &["run", "--config", config.to_str().unwrap()],
        &[("SENSOR_FAULT_PANIC_WORKER", "0:5000")],
    );
    // Without the panic hook the other threads ran on without the worker, and the process
    // never ended by itself.
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        if let Some(done) = sensor.try_finish() {
            break done;
        }
        assert!(
            Instant::now() < deadline,
            "the sensor kept running after a panic"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains("fault injected: worker 0 panics")
            && done.stderr.contains("sensor: stopping after a panic"),
        "{}",
        done.stderr
    );
}
