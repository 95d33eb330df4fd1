//! The network-namespace lab (scripts/lab.sh): `client` reaches `server` only through the
//! sensor's net_af_packet bridge. Ping and a 10 MB TCP transfer succeed while the sensor
//! runs; with the sensor stopped both fail. Needs root: fails (never skips) without it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::process::{require_root, Running};

const SENSOR: &str = env!("CARGO_BIN_EXE_sensor");
const BYTES: usize = 10 * 1024 * 1024;

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts")
}

/// The lab for the duration of a test; torn down on drop.
struct Lab;

impl Lab {
    fn up() -> Lab {
        let status = Command::new("bash")
            .arg(scripts().join("lab.sh"))
            .arg("up")
            .status()
            .expect("running scripts/lab.sh");
        assert!(status.success(), "scripts/lab.sh up failed");
        Lab
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
