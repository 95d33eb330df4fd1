//! The network-namespace lab (scripts/lab.sh): `client` reaches `server` only through the
//! sensor's net_af_packet bridge. Ping and a 10 MB TCP transfer succeed while the sensor
//! runs; with the sensor stopped both fail. With dnsmasq serving in `server` and domain
//! lists loaded, `dig` from `client` gets the real answer for an allowed name, the
//! sensor's NXDOMAIN or sinkhole address for a blocked one, a timeout for a dropped one,
//! and a reset over TCP. Needs root: fails (never skips) without it.

// A test fails by panicking: unwrap, expect and panic are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::process::{require_root, Running};

const SENSOR: &str = env!("CARGO_BIN_EXE_sensor");
const BYTES: usize = 10 * 1024 * 1024;

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts")
}

/// One lab at a time: the tests of this file share the namespaces' names.
static LAB: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The lab for the duration of a test; torn down on drop.
struct Lab {
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

impl Lab {
    fn up() -> Lab {
        let guard = LAB.lock().unwrap_or_else(|e| e.into_inner());
        let status = Command::new("bash")
            .arg(scripts().join("lab.sh"))
            .arg("up")
            .status()
            .expect("running scripts/lab.sh");
        assert!(status.success(), "scripts/lab.sh up failed");
        Lab {
            _one_at_a_time: guard,
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(scripts().join("lab.sh"))
            .arg("down")
            .status();
    }
}

fn in_ns(ns: &str, cmd: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).args(cmd);
    c
}

fn ping_ok(count: &str) -> bool {
    in_ns(
        "client",
        &["ping", "-c", count, "-W", "1", "-i", "0.2", "10.77.0.2"],
    )
    .stdout(Stdio::null())
    .status()
    .expect("ping")
    .success()
}

const SERVER: &str = "import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('10.77.0.2', 9000)); s.listen(1); s.settimeout(30)
c,_=s.accept(); c.settimeout(30); n=0
while True:
    d=c.recv(1<<16)
    if not d: break
    n+=len(d)
print(n)";

const CLIENT: &str = "import socket,sys,time
n=int(sys.argv[1]); deadline=time.time()+float(sys.argv[2])
while True:
    try:
        c=socket.create_connection(('10.77.0.2', 9000), timeout=2); break
    except OSError:
        if time.time()>deadline: sys.exit('connect failed')
        time.sleep(0.2)
c.settimeout(30); c.sendall(bytes(i % 251 for i in range(n))); c.close()";

fn tcp_transfer(bytes: usize, connect_within_secs: &str) -> Option<usize> {
    let server = in_ns("server", &["python3", "-c", SERVER])
        .stdout(Stdio::piped())
        .spawn()
        .expect("server");
    let client_ok = in_ns(
        "client",
        &[
            "python3",
            "-c",
            CLIENT,
            &bytes.to_string(),
            connect_within_secs,
        ],
    )
    .status()
    .expect("client")
    .success();
    if !client_ok {
        let mut server = server;
        let _ = server.kill();
        let _ = server.wait();
        return None;
    }
    let out = server.wait_with_output().expect("server output");
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[test]
fn ping_and_tcp_cross_the_sensor_and_fail_without_it() {
    require_root("the namespace lab");
    let _lab = Lab::up();
    let config = scripts().join("lab.toml");
    let mut sensor = Running::start(
        SENSOR,
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--set",
            "stats_interval_secs=0.2",
        ],
    );
    sensor.wait_for_stats(Duration::from_secs(30), |s| s["event"] == "stats");

    assert!(ping_ok("5"), "ping through the running sensor failed");
    assert_eq!(
        tcp_transfer(BYTES, "10"),
        Some(BYTES),
        "10 MB over TCP through the sensor"
    );

    let done = sensor.terminate();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let stats = done.final_stats();
    assert!(
        stats["ports"][1]["tx"].as_u64().unwrap() > 7000,
        "the transfer crossed the bridge"
    );
    assert_eq!(stats["mempool"]["in_use"], 0);

    assert!(
        !ping_ok("2"),
        "ping succeeded with the sensor stopped: the lab leaks"
    );
    assert_eq!(
        tcp_transfer(1000, "2"),
        None,
        "TCP connected with the sensor stopped"
    );
}

/// dnsmasq answering for the lab's names in `server`; killed on drop.
struct Dnsmasq(std::process::Child);

impl Dnsmasq {
    fn start() -> Dnsmasq {
        let child = in_ns(
            "server",
            &[
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=10.77.0.2",
                "--pid-file=",
                "--user=root",
                "--address=/allowed.lab/10.77.0.50",
                "--address=/blocked.lab/10.77.0.51",
                "--address=/sink.lab/10.77.0.52",
                "--address=/dropped.lab/10.77.0.53",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dnsmasq (package dnsmasq-base; scripts/setup.sh installs it)");
        Dnsmasq(child)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `dig @server name` from `client` with `extra` options: (exit status, output).
fn dig(name: &str, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["dig", "@10.77.0.2", name, "+time=2", "+tries=1"];
    args.extend_from_slice(extra);
    let out = in_ns("client", &args)
        .output()
        .expect("dig (package bind9-dnsutils)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn dig_through_the_sensor_gets_real_forged_dropped_and_reset_answers() {
    require_root("the namespace lab");
    let _lab = Lab::up();
    let _dns = Dnsmasq::start();
    let dir = tempfile::tempdir().unwrap();
    let list = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let (blocked, sink, dropped) = (
        list("blocked.txt", "blocked.lab\n"),
        list("sink.txt", "sink.lab\n"),
        list("dropped.txt", "dropped.lab\n"),
    );
    let config = scripts().join("lab.toml");
    let eve = dir.path().join("eve.json");
    let mut sensor = Running::start(
        SENSOR,
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--lists",
            &blocked,
            "--lists",
            &sink,
            "--lists",
            &dropped,
            "--set",
            "lists.sink.action=\"sinkhole\"",
            "--set",
            "lists.sink.sinkhole_v4=\"10.66.66.66\"",
            "--set",
            "lists.dropped.action=\"drop\"",
            "--set",
            &format!("eve.path=\"{}\"", eve.display()),
            "--set",
            "stats_interval_secs=0.2",
        ],
    );
    sensor.wait_for_stats(Duration::from_secs(30), |s| s["event"] == "stats");
    // The first query also waits for ARP and dnsmasq's start: allow a few tries.
    let mut allowed = dig("www.allowed.lab", &["+short"]);
    for _ in 0..10 {
        if allowed.1.trim() == "10.77.0.50" {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        allowed = dig("www.allowed.lab", &["+short"]);
    }
    assert_eq!(
        allowed.1.trim(),
        "10.77.0.50",
        "the real answer through the sensor"
    );

    let (code, text) = dig("x.blocked.lab", &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("status: NXDOMAIN"),
        "the sensor's NXDOMAIN: {text}"
    );
    let (_, text) = dig("a.sink.lab", &["+short"]);
    assert_eq!(text.trim(), "10.66.66.66", "the sinkhole address");
    let (code, text) = dig("dropped.lab", &[]);
    assert_ne!(code, 0, "a dropped query times out: {text}");
    assert!(text.contains("timed out"), "{text}");
    let (code, text) = dig("x.blocked.lab", &["+tcp"]);
    assert!(
        code != 0 && !text.contains("NXDOMAIN") && !text.contains("10.77.0.51"),
        "the TCP query is reset: {text}"
    );

    let done = sensor.terminate();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let engine = &done.final_stats()["engine"];
    assert_eq!(engine["dns_answers_forged"], 2, "{engine}");
    assert!(engine["dns_list_hits"].as_u64().unwrap() >= 4, "{engine}");
}
