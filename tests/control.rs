//! The control socket on the real binary: socket hygiene (mode 0600, a second instance
//! refused, garbage, oversized and silent clients answered with errors while another
//! client's `stats` still answers), 100 reloads under load in prevention with nothing lost
//! and the alerts switching sids and memory flat, failed and partly bad reloads, SIGHUP.

// A test fails by panicking: unwrap, expect and panic are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::files::{eve_events, shared};
use testkit::pcap;
use testkit::process::{run, test_eal_args, Running};

const SENSOR: &str = env!("CARGO_BIN_EXE_sensor");

/// A DNS capture in which 1% of the queries (and their answers) are for `marker.test`.
fn capture(dir: &Path) -> PathBuf {
    let benign: Vec<String> = (0..500).map(|i| format!("host{i}.example.org")).collect();
    let frames = testkit::dns::mix(4000, &benign, &["marker.test".to_owned()], 0.01, 5);
    let path = dir.join("dns.pcap");
    pcap::write(&path, &frames);
    path
}

/// ET Open's DNS rules (a ruleset of realistic size) plus a marker rule with `sid`.
fn ruleset_text(sid: u32) -> String {
    let mut text = testkit::files::et_open_dns_rules();
    text.push_str(&format!(
        "alert dns any any -> any any (msg:\"marker {sid}\"; dns.query; content:\"marker.test\"; endswith; sid:{sid}; rev:1;)\n"
    ));
    text
}

struct Sensor {
    running: Running,
    socket: PathBuf,
    rules: PathBuf,
    eve: PathBuf,
    config: PathBuf,
}

fn start(dir: &Path, first_rules: &str) -> Sensor {
    let pcap = capture(dir);
    let rules = dir.join("current.rules");
    std::fs::write(&rules, first_rules).unwrap();
    let socket = dir.join("sensor.sock");
    let eve = dir.join("eve.json");
    let eal = test_eal_args(&[
        format!("net_pcap_in,rx_pcap={},infinite_rx=1", pcap.display()),
        "net_null_out,no-rx=1".into(),
    ]);
    let config = dir.join("sensor.toml");
    std::fs::write(
        &config,
        format!(
            "mode = \"prevention\"\nstats_interval_secs = 0.2\n[eal]\nargs = {eal}\n[ports]\nbridge = [[\"net_pcap_in\", \"net_null_out\"]]\n\
             [detect]\nrules = [{rules:?}]\n[eve]\npath = {eve:?}\n[control]\nsocket = {socket:?}\ntimeout_secs = 1.0\n"
        ),
    )
    .unwrap();
    let mut running = Running::start(SENSOR, &["run", "--config", config.to_str().unwrap()]);
    // Past the warm-up (flow table and buffers at their steady size).
    running.wait_for_stats(Duration::from_secs(60), |s| {
        s["ports"][0]["rx"].as_u64().unwrap_or(0) > 200_000
    });
    Sensor {
        running,
        socket,
        rules,
        eve,
        config,
    }
}

/// One request on a fresh connection.
fn ask(socket: &Path, request: &str) -> Value {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    writeln!(s, "{request}").unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

/// Waits until every worker runs ruleset `version`.
fn wait_for_version(socket: &Path, version: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = ask(socket, r#"{"command":"stats"}"#);
        if stats["workers_ruleset_version"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v == version)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "workers did not switch to {version}: {stats}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn socket_hygiene_and_bad_clients_never_block_others() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), &ruleset_text(1));
    let mode = std::fs::metadata(&s.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket created 0600");

    let second = run(SENSOR, &["run", "--config", s.config.to_str().unwrap()]);
    assert_eq!(second.code, Some(2), "{}", second.stderr);
    assert!(second.stderr.contains("in use"), "{}", second.stderr);

    // A slow client holding half a request, a garbage one and an oversized one...
    let mut slow = UnixStream::connect(&s.socket).unwrap();
    slow.write_all(br#"{"command": "sta"#).unwrap();
    let garbage = ask(&s.socket, "this is not json");
    assert_eq!(garbage["ok"], false);
    assert!(garbage["error"].as_str().unwrap().contains("invalid JSON"));
    let unknown = ask(&s.socket, r#"{"command":"format-disk"}"#);
    assert!(unknown["error"]
        .as_str()
        .unwrap()
        .contains("unknown command"));
    let mut big = UnixStream::connect(&s.socket).unwrap();
    big.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = big.write_all(&vec![b'x'; 70 * 1024]);
    let mut line = String::new();
    BufReader::new(big).read_line(&mut line).unwrap();
    assert!(line.contains("over 64 KiB"), "{line}");
    // ...while another client's stats still answer.
    let stats = ask(&s.socket, r#"{"command":"stats"}"#);
    assert_eq!(stats["ok"], true);
    assert!(stats["datapath"]["ports"][0]["rx"].as_u64().unwrap() > 0);
    let status = ask(&s.socket, r#"{"command":"status"}"#);
    assert_eq!(
        (status["mode"].as_str(), status["ruleset_version"].as_u64()),
        (Some("prevention"), Some(1))
    );
    // The silent client is cut off after control.timeout_secs.
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(slow).read_line(&mut line).unwrap();
    assert!(line.contains("timed out"), "{line}");

    let ctl = run(
        SENSOR,
        &["ctl", "--socket", s.socket.to_str().unwrap(), "shutdown"],
    );
    assert_eq!(ctl.code, Some(0), "{}", ctl.stderr);
    let done = s.running.wait();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(!s.socket.exists(), "socket removed at exit");
}

#[test]
fn a_hundred_reloads_under_load_lose_nothing_and_switch_sids() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), &ruleset_text(1_000_001));
    let texts = [ruleset_text(1_000_002), ruleset_text(1_000_001)];
    let mut rss_first = 0;
    let mut times = Vec::new();
    for i in 0..100 {
        std::fs::write(&s.rules, &texts[i % 2]).unwrap();
        let reply = ask(&s.socket, r#"{"command":"reload"}"#);
        assert_eq!(reply["ok"], true, "{reply}");
        assert_eq!(reply["version"], i as u64 + 2);
        assert_eq!(reply["rejected"], 0);
        times.push(reply["compile_ms"].as_f64().unwrap());
        if i == 0 {
            wait_for_version(&s.socket, 2);
            rss_first = testkit::process::resident_kib(s.running.pid());
        }
    }
    wait_for_version(&s.socket, 101);
    let rss_last = testkit::process::resident_kib(s.running.pid());
    // Reload 100 (i = 99) published texts[1]: sid 1000001. Let its alerts reach EVE.
    std::thread::sleep(Duration::from_millis(300));
    let done = s.running.terminate();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let stats = done.final_stats();
    let ports = stats["ports"].as_array().unwrap();
    let rx = ports[0]["rx"].as_u64().unwrap();
    assert!(rx > 100_000, "the data path ran under load: {rx}");
    assert_eq!(
        rx,
        ports[1]["tx"].as_u64().unwrap() + ports[0]["policy_drops"].as_u64().unwrap(),
        "every packet received was forwarded or dropped by a verdict"
    );
    for p in ports {
        assert_eq!(
            (
                p["imissed"].as_u64(),
                p["tx_failures"].as_u64(),
                p["rx_nombuf"].as_u64()
            ),
            (Some(0), Some(0), Some(0)),
            "{p}"
        );
    }
    assert_eq!(stats["mempool"]["in_use"], 0);
    let sids: Vec<u64> = eve_events(&s.eve, "alert")
        .iter()
        .map(|a| a["alert"]["signature_id"].as_u64().unwrap())
        .collect();
    assert!(
        sids.contains(&1_000_001) && sids.contains(&1_000_002),
        "alerts came from both rulesets"
    );
    assert_eq!(
        sids.last(),
        Some(&1_000_001),
        "the last alerts are the last ruleset's"
    );
    let growth = rss_last as f64 / rss_first as f64;
    assert!(
        growth < 1.10,
        "resident memory after the last reload {rss_last} KiB vs {rss_first} KiB after the first"
    );
    eprintln!(
        "reload compile ms: min {:.0} max {:.0}; RSS {rss_first} -> {rss_last} KiB",
        times.iter().cloned().fold(f64::MAX, f64::min),
        times.iter().cloned().fold(0.0, f64::max)
    );
}

#[test]
fn failed_and_partly_bad_reloads_and_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), &ruleset_text(1_000_001));
    // A missing file: the running ruleset stays.
    std::fs::remove_file(&s.rules).unwrap();
    let reply = ask(&s.socket, r#"{"command":"reload"}"#);
    assert_eq!(reply["ok"], false);
    assert!(
        reply["error"].as_str().unwrap().contains("current.rules"),
        "{reply}"
    );
    // Every rule broken: refused too.
    std::fs::write(
        &s.rules,
        "alert dns any any -> any any (msg:\"x\"; frobnicate; sid:5;)\n",
    )
    .unwrap();
    let reply = ask(&s.socket, r#"{"command":"reload"}"#);
    assert_eq!(reply["ok"], false, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("no rule loaded"),
        "{reply}"
    );
    let stats = ask(&s.socket, r#"{"command":"ruleset-stats"}"#);
    assert_eq!(stats["version"], 1, "{stats}");
    let before = eve_events(&s.eve, "alert").len();
    std::thread::sleep(Duration::from_millis(500));
    let after: Vec<Value> = eve_events(&s.eve, "alert");
    assert!(
        after.len() > before
            && after
                .iter()
                .all(|a| a["alert"]["signature_id"] == 1_000_001)
    );

    // One bad rule among good ones: the good ones load, the bad one is listed.
    let mut text = ruleset_text(1_000_002);
    text.push_str("alert dns any any -> any any (msg:\"bad\"; frobnicate; sid:6;)\n");
    std::fs::write(&s.rules, &text).unwrap();
    let reply = ask(&s.socket, r#"{"command":"reload"}"#);
    assert_eq!(
        (
            reply["ok"].as_bool(),
            reply["version"].as_u64(),
            reply["rejected"].as_u64()
        ),
        (Some(true), Some(2), Some(1)),
        "{reply}"
    );
    let rejected = ask(&s.socket, r#"{"command":"rejected-rules"}"#);
    let list = rejected["rejected"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0]["sid"].as_u64(), list[0]["keyword"].as_str()),
        (Some(6), Some("frobnicate"))
    );
    assert_eq!(list[0]["line"].as_u64(), Some(text.lines().count() as u64));

    // SIGHUP reloads too.
    let kill = std::process::Command::new("kill")
        .args(["-HUP", &s.running.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while ask(&s.socket, r#"{"command":"ruleset-stats"}"#)["version"] != 3 {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(50));
    }
    let done = s.running.terminate();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
}

/// Policy drops so far, from the control socket.
fn policy_drops(socket: &Path) -> u64 {
    ask(socket, r#"{"command":"stats"}"#)["datapath"]["ports"][0]["policy_drops"]
        .as_u64()
        .unwrap()
}

/// Waits until policy drops pass `floor`: the running ruleset still drops.
fn wait_for_drops_past(socket: &Path, floor: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while policy_drops(socket) <= floor {
        assert!(Instant::now() < deadline, "drops stopped at {floor}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_truncated_or_half_written_rules_file_never_switches_prevention_off() {
    let dir = tempfile::tempdir().unwrap();
    // The marker rule drops: prevention is on while its drops keep rising.
    let full = ruleset_text(1_000_001).replace(
        "alert dns any any -> any any (msg:\"marker",
        "drop dns any any -> any any (msg:\"marker",
    );
    assert!(full.contains("drop dns"));
    let s = start(dir.path(), &full);
    let loaded = ask(&s.socket, r#"{"command":"ruleset-stats"}"#)["loaded"]
        .as_u64()
        .unwrap();
    assert!(loaded > 1000, "{loaded}");
    wait_for_drops_past(&s.socket, 0);
    let version = |socket: &Path| ask(socket, r#"{"command":"ruleset-stats"}"#)["version"].clone();

    // Truncated to nothing: refused, the running ruleset keeps dropping.
    std::fs::write(&s.rules, "").unwrap();
    let reply = ask(&s.socket, r#"{"command":"reload"}"#);
    assert_eq!(reply["ok"], false, "{reply}");
    let error = reply["error"].as_str().unwrap();
    assert!(
        error.contains("no rule loaded") && error.contains("version 1) stays"),
        "{reply}"
    );
    assert_eq!(version(&s.socket), 1);
    wait_for_drops_past(&s.socket, policy_drops(&s.socket));

    // Half-written, cut in the middle of a rule (the marker rule, last, is gone): a loss
    // of more than control.reload_max_loss is refused, by the socket and by SIGHUP.
    let half = &full[..full.len() / 2];
    std::fs::write(&s.rules, half).unwrap();
    let reply = ask(&s.socket, r#"{"command":"reload"}"#);
    assert_eq!(reply["ok"], false, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("a loss of"),
        "{reply}"
    );
    let kill = std::process::Command::new("kill")
        .args(["-HUP", &s.running.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    // The control thread reloads on SIGHUP before it accepts the next client: once two
    // requests have been answered after the signal, the reload has run.
    ask(&s.socket, r#"{"command":"status"}"#);
    assert_eq!(version(&s.socket), 1, "SIGHUP published the half file");
    wait_for_drops_past(&s.socket, policy_drops(&s.socket));

    // Forced, the half file is published as the operator asked.
    let forced = run(
        SENSOR,
        &[
            "ctl",
            "--socket",
            s.socket.to_str().unwrap(),
            "--json",
            "reload",
            "--force",
        ],
    );
    assert_eq!(forced.code, Some(0), "{}{}", forced.stdout, forced.stderr);
    let reply: Value = serde_json::from_str(&forced.stdout).unwrap();
    assert_eq!(reply["version"], 2, "{reply}");
    assert!(
        reply["loaded"].as_u64().unwrap() < loaded / 2 + 1,
        "{reply}"
    );
    // And a full file again grows back without force.
    std::fs::write(&s.rules, &full).unwrap();
    let reply = ask(&s.socket, r#"{"command":"reload"}"#);
    assert_eq!(
        (reply["ok"].as_bool(), reply["loaded"].as_u64()),
        (Some(true), Some(loaded)),
        "{reply}"
    );
    wait_for_version(&s.socket, 3);
    wait_for_drops_past(&s.socket, policy_drops(&s.socket));

    let done = s.running.terminate();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let refusals = done
        .stderr
        .lines()
        .filter(|l| l.contains("reload failed") && l.contains("refused"))
        .count();
    assert_eq!(refusals, 3, "each refusal is on stderr:\n{}", done.stderr);
    assert!(
        done.stderr.contains("reload forced past the guard"),
        "{}",
        done.stderr
    );
}

#[test]
fn the_socket_answers_while_a_sighup_reload_compiles() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), &ruleset_text(1_000_001));
    // All of ET Open: its compile takes a second or more on this machine.
    let mut text = ruleset_text(1_000_001);
    for entry in std::fs::read_dir(shared("et-open")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rules") {
            text.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    std::fs::write(&s.rules, text).unwrap();
    let kill = std::process::Command::new("kill")
        .args(["-HUP", &s.running.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    // Answered at once, from the running ruleset: the reload runs off the accept loop.
    let status = ask(&s.socket, r#"{"command":"status"}"#);
    assert_eq!(status["ruleset_version"], 1, "{status}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while ask(&s.socket, r#"{"command":"ruleset-stats"}"#)["version"] != 2 {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(50));
    }
    let done = s.running.terminate();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
}

#[test]
fn baseline_profiles_are_shown_and_reset_over_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sensor.sock");
    let eal = test_eal_args(&[
        format!(
            "net_pcap_in,rx_pcap={},infinite_rx=1",
            shared("pcaps/log4shell-exploit-chain.pcap").display()
        ),
        "net_null_out,no-rx=1".into(),
    ]);
    let config = dir.path().join("sensor.toml");
    std::fs::write(
        &config,
        format!(
            "mode = \"prevention\"\nstats_interval_secs = 0.2\n[eal]\nargs = {eal}\n[ports]\nbridge = [[\"net_pcap_in\", \"net_null_out\"]]\n\
             [control]\nsocket = {socket:?}\n[baseline]\nenabled = true\nservers = [\"172.16.238.10\"]\n"
        ),
    )
    .unwrap();
    let mut running = Running::start(SENSOR, &["run", "--config", config.to_str().unwrap()]);
    running.wait_for_stats(Duration::from_secs(60), |s| {
        s["ports"][0]["rx"].as_u64().unwrap_or(0) > 10_000
    });
    let shown = ask(&socket, r#"{"command":"baseline","host":"172.16.238.10"}"#);
    assert_eq!(shown["ok"], true, "{shown}");
    assert_eq!(shown["profile"]["role"], "server");
    assert_eq!(shown["profile"]["learning"], true);
    assert!(
        shown["profile"]["destinations_known"].as_u64().unwrap() >= 1,
        "{shown}"
    );
    let reset = ask(
        &socket,
        r#"{"command":"baseline-reset","host":"172.16.238.10"}"#,
    );
    assert_eq!(reset["ok"], true, "{reset}");
    for bad in [
        r#"{"command":"baseline","host":"192.0.2.99"}"#,
        r#"{"command":"baseline","host":"not-an-address"}"#,
        r#"{"command":"baseline"}"#,
    ] {
        let r = ask(&socket, bad);
        assert_eq!(r["ok"], false, "{bad}: {r}");
        assert!(r["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let ctl = run(
        SENSOR,
        &[
            "ctl",
            "--socket",
            socket.to_str().unwrap(),
            "baseline",
            "172.16.238.11",
        ],
    );
    assert_eq!(ctl.code, Some(0), "{}", ctl.stderr);
    assert!(ctl.stdout.contains("role: client"), "{}", ctl.stdout);
    let missing = run(
        SENSOR,
        &[
            "ctl",
            "--socket",
            socket.to_str().unwrap(),
            "baseline",
            "192.0.2.99",
        ],
    );
    assert_eq!(missing.code, Some(1));
    running.terminate();
}
