//! Running the real `sensor` binary and reading what it printed.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// What a finished sensor process left behind.
#[derive(Debug)]
pub struct Finished {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

impl Finished {
    /// The final stats object (the last JSON line on stdout with `"final": true`).
    pub fn final_stats(&self) -> serde_json::Value {
        self.stdout
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["final"] == true)
            .unwrap_or_else(|| {
                panic!(
                    "no final stats on stdout:\n{}\nstderr:\n{}",
                    self.stdout, self.stderr
                )
            })
    }
}

impl From<Output> for Finished {
    fn from(o: Output) -> Self {
        Finished {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `sensor` with `args` to completion.
pub fn run(sensor: &str, args: &[&str]) -> Finished {
    Command::new(sensor)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("starting {sensor}: {e}"))
        .into()
}

/// `sensor replay --pcap input [--mode mode] --out out` plus `extra` arguments; asserts it
/// exited 0 and returns what it printed.
pub fn replay(sensor: &str, input: &Path, mode: &str, out: &Path, extra: &[&str]) -> Finished {
    let mut args = vec![
        "replay",
        "--pcap",
        input.to_str().expect("utf-8 path"),
        "--mode",
        mode,
        "--out",
        out.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    let f = run(sensor, &args);
    assert_eq!(f.code, Some(0), "sensor replay failed:\n{}", f.stderr);
    f
}

/// Resident memory of process `pid` in KiB (`VmRSS`).
pub fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("process status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

/// Sum of `field` over the ports of a stats object.
pub fn port_sum(stats: &serde_json::Value, field: &str) -> u64 {
    stats["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| p[field].as_u64().expect("counter"))
        .sum()
}

/// Fails the test with a reason when not running as root (never a silent pass).
pub fn require_root(what: &str) {
    // SAFETY-free check: /proc/self/status carries the effective uid.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or("");
    assert_eq!(
        euid, "0",
        "{what} needs root (network namespaces, DPDK); run the suite as root (CI does)"
    );
}

/// A `sensor run` in the background, its stdout and stderr collected as they come.
pub struct Running {
    child: std::process::Child,
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn collect(
    pipe: impl std::io::Read + Send + 'static,
) -> (
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    std::thread::JoinHandle<()>,
) {
    use std::io::BufRead;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&lines);
    let handle = std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            sink.lock().expect("lines").push(line);
        }
    });
    (lines, handle)
}

impl Running {
    /// Starts `sensor` with `args`.
    pub fn start(sensor: &str, args: &[&str]) -> Running {
        Running::start_with_env(sensor, args, &[])
    }

    /// Starts `sensor` with `args` and the environment variables `env` added.
    pub fn start_with_env(sensor: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut child = Command::new(sensor)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {sensor}: {e}"));
        let (stdout, out_reader) = collect(child.stdout.take().expect("stdout"));
        let (stderr, err_reader) = collect(child.stderr.take().expect("stderr"));
        Running {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    /// Waits (up to `timeout`) for a periodic stats line satisfying `done`; panics with
    /// the process's output otherwise.
    pub fn wait_for_stats(
        &mut self,
        timeout: std::time::Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let last = self
                .stdout
                .lock()
                .expect("lines")
                .iter()
                .rev()
                .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
            if let Some(stats) = last {
                if done(&stats) {
                    return stats;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "sensor exited early ({status}):\n{}",
                    self.stderr.lock().expect("lines").join("\n")
                );
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "no matching stats within {timeout:?}; stdout:\n{}\nstderr:\n{}",
                    self.stdout.lock().expect("lines").join("\n"),
                    self.stderr.lock().expect("lines").join("\n")
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Whether a line the process wrote to stderr so far contains `needle`.
    pub fn stderr_contains(&self, needle: &str) -> bool {
        self.stderr
            .lock()
            .expect("lines")
            .iter()
            .any(|l| l.contains(needle))
    }

    /// What the process left behind if it has exited, else `None` (it keeps running).
    pub fn try_finish(&mut self) -> Option<Finished> {
        let status = self.child.try_wait().expect("poll sensor")?;
        for r in self.readers.drain(..) {
            r.join().expect("reader thread");
        }
        let join =
            |l: &std::sync::Arc<std::sync::Mutex<Vec<String>>>| l.lock().expect("lines").join("\n");
        Some(Finished {
            code: status.code(),
            stdout: join(&self.stdout),
            stderr: join(&self.stderr),
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(self) -> Finished {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -TERM {pid} failed");
        self.wait()
    }

    /// Waits for the process to exit on its own.
    pub fn wait(mut self) -> Finished {
        let status = self.child.wait().expect("wait for sensor");
        for r in self.readers.drain(..) {
            r.join().expect("reader thread");
        }
        let join =
            |l: &std::sync::Arc<std::sync::Mutex<Vec<String>>>| l.lock().expect("lines").join("\n");
        Finished {
            code: status.code(),
            stdout: join(&self.stdout),
            stderr: join(&self.stderr),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// EAL arguments for tests: no hugepages, no PCI, quiet, plus `--vdev` for each device.
pub fn test_eal_args(vdevs: &[String]) -> String {
    let mut args: Vec<String> = [
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level=lib.eal:warning",
    ]
    .iter()
    .map(|s| format!("{s:?}"))
    .collect();
    for v in vdevs {
        args.push("\"--vdev\"".into());
        args.push(format!("{v:?}"));
    }
    format!("[{}]", args.join(", "))
}
