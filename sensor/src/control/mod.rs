//! The control plane: a Unix socket served by one thread (plus one per connected client),
//! one JSON request per line, one JSON reply per line.
//!
//! Requests: `{"command": "status" | "stats" | "ruleset-stats" | "rejected-rules" |
//! "reload" | "shutdown", "top": N, "force": true}` (`force`: a reload publishes what
//! the reload guard would refuse). Replies: `{"ok": true, ...}` or
//! `{"ok": false, "error": "..."}`. A request over 64 KiB, a line that is not JSON, an
//! unknown command, or a client that sends nothing for `control.timeout_secs` gets an
//! error (or is disconnected) without touching the data path or other clients: workers
//! never wait on this thread; they pick up a reloaded ruleset at a burst boundary
//! ([`crate::detect::publish`]). Uses `config`, `detect` and `baseline`.

pub mod client;
pub mod socket;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tracing::{info, warn};

use crate::config::Config;
use crate::detect::engine::LiveCounters;
use crate::detect::publish::RulesHandle;

/// Largest request line accepted.
pub const MAX_REQUEST: usize = 64 * 1024;

/// What the control thread can see and do.
pub struct ControlState<'a> {
    /// The running configuration (rule and list paths for reloads).
    pub config: &'a Config,
    /// Compiles reloads (one at a time: the lock serializes them), reusing the running
    /// ruleset's unchanged parts.
    pub compiler: std::sync::Mutex<crate::detect::compiler::Compiler>,
    /// The configuration file, if any.
    pub config_path: Option<PathBuf>,
    /// When the sensor started.
    pub started: Instant,
    /// The ruleset handle (absent without rules or lists).
    pub rules: Option<Arc<RulesHandle>>,
    /// Each worker's engine counters.
    pub live: Vec<Arc<LiveCounters>>,
    /// The datapath's current stats (ports, queues, workers).
    pub datapath_stats: &'a (dyn Fn() -> Value + Sync),
    /// Set to stop the sensor (`shutdown`).
    pub stop: &'a AtomicBool,
    /// Set by SIGHUP: reload at the next look.
    pub reload_signal: Option<Arc<AtomicBool>>,
    /// The baseline thread's hub (baselines on).
    pub baseline: Option<Arc<crate::baseline::BaselineHub>>,
}

fn error(msg: impl Into<String>) -> Value {
    json!({"ok": false, "error": msg.into()})
}

impl ControlState<'_> {
    /// Answers one request line.
    pub fn dispatch(&self, line: &[u8]) -> Value {
        let request: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => return error(format!("invalid JSON: {e}")),
        };
        let Some(command) = request.get("command").and_then(Value::as_str) else {
            return error("missing \"command\" (a string)");
        };
        let top = request
            .get("top")
            .and_then(Value::as_u64)
            .map_or(10, |n| n as usize);
        match command {
            "status" => self.status(),
            "stats" => self.stats(top),
            "ruleset-stats" => self.ruleset_stats(),
            "rejected-rules" => self.rejected_rules(),
            "reload" => self.reload(request.get("force").and_then(Value::as_bool) == Some(true)),
            "baseline" | "baseline-reset" => self.baseline(command, &request),
            "shutdown" => {
                info!("shutdown requested on the control socket");
                self.stop.store(true, Ordering::SeqCst);
                json!({"ok": true, "stopping": true})
            }
            other => error(format!(
                "unknown command {other:?}: status, stats, ruleset-stats, rejected-rules, reload, baseline, baseline-reset, shutdown"
            )),
        }
    }

    fn baseline(&self, command: &str, request: &Value) -> Value {
        let Some(hub) = &self.baseline else {
            return error("baselines are off (baseline.enabled = false)");
        };
        let Some(host) = request.get("host").and_then(Value::as_str) else {
            return error(format!("{command} needs \"host\": an IP address"));
        };
        let Ok(ip) = host.parse() else {
            return error(format!("{host:?} is not an IP address"));
        };
        let req = if command == "baseline" {
            crate::baseline::ControlRequest::Show(ip)
        } else {
            crate::baseline::ControlRequest::Reset(ip)
        };
        hub.ask(req, Duration::from_secs(5))
            .unwrap_or_else(|| error("the baseline thread did not answer"))
    }

    fn version(&self) -> Option<u64> {
        self.rules.as_ref().map(|h| h.version())
    }

    fn status(&self) -> Value {
        json!({
            "ok": true,
            "mode": self.config.mode.to_string(),
            "uptime_secs": self.started.elapsed().as_secs_f64(),
            "version": env!("CARGO_PKG_VERSION"),
            "config": self.config_path.as_ref().map(|p| p.display().to_string()),
            "ruleset_version": self.version(),
        })
    }

    fn stats(&self, top: usize) -> Value {
        let sum = |f: fn(&LiveCounters) -> &std::sync::atomic::AtomicU64| -> u64 {
            self.live.iter().map(|l| f(l).load(Ordering::Relaxed)).sum()
        };
        let mut out = json!({
            "ok": true,
            "datapath": (self.datapath_stats)(),
            "verdicts": {
                "alerts": sum(|l| &l.alerts),
                "verdict_drops": sum(|l| &l.verdict_drops),
                "pass_verdicts": sum(|l| &l.pass_verdicts),
                "rejects_sent": sum(|l| &l.rejects_sent),
                "dns_list_hits": sum(|l| &l.dns_list_hits),
                "dns_answers_forged": sum(|l| &l.dns_answers_forged),
            },
            "workers_ruleset_version": self.live.iter().map(|l| l.ruleset_version.load(Ordering::Relaxed)).collect::<Vec<_>>(),
        });
        if let Some(h) = &self.rules {
            let (version, rs) = h.current();
            let mut hits: Vec<(u64, usize)> = rs
                .hits
                .iter()
                .enumerate()
                .map(|(i, n)| (n.load(Ordering::Relaxed), i))
                .filter(|(n, _)| *n > 0)
                .collect();
            hits.sort_unstable_by(|a, b| b.cmp(a));
            out["rule_hits"] = hits
                .into_iter()
                .take(top)
                .map(|(n, i)| {
                    let r = &rs.rules[i];
                    json!({"sid": r.sid, "gid": r.gid, "msg": r.msg, "hits": n})
                })
                .collect();
            out["ruleset_version"] = json!(version);
        }
        out
    }

    fn ruleset_stats(&self) -> Value {
        let Some(h) = &self.rules else {
            return error("no rules or lists configured");
        };
        let (version, rs) = h.current();
        json!({
            "ok": true,
            "version": version,
            "loaded": rs.rules.len(),
            "rejected": rs.rejected.len(),
            "compile_ms": rs.compile_ms,
            "rule_files": rs.files,
            "list_entries": rs.lists.len(),
            "list_lines_rejected": rs.lists.rejected.len(),
        })
    }

    fn rejected_rules(&self) -> Value {
        let Some(h) = &self.rules else {
            return error("no rules or lists configured");
        };
        let (version, rs) = h.current();
        let rules: Vec<Value> = rs
            .rejected
            .iter()
            .map(|e| {
                json!({
                    "file": e.origin.file,
                    "line": e.origin.line,
                    "sid": e.sid,
                    "keyword": e.keyword,
                    "reason": e.reason,
                })
            })
            .collect();
        let lines: Vec<String> = rs.lists.rejected.iter().map(ToString::to_string).collect();
        json!({"ok": true, "version": version, "rejected": rules, "list_lines": lines})
    }

    /// Waits (up to a second) for every worker to run `version`, then frees the rulesets
    /// they dropped.
    fn free_old_rulesets(&self, version: u64) {
        let Some(h) = &self.rules else { return };
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline
            && self
                .live
                .iter()
                .any(|l| l.ruleset_version.load(Ordering::Relaxed) < version)
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        h.free_retired();
    }

    /// Compiles the configured rules and lists again and publishes them; on failure the
    /// running ruleset stays and the reply says why. A ruleset that would switch
    /// protection off ([`crate::detect::reload_guard`]) is refused unless `force`.
    /// Serialized with other reloads.
    pub fn reload(&self, force: bool) -> Value {
        let Some(h) = &self.rules else {
            return error("no rules or lists configured: nothing to reload");
        };
        let mut compiler = self.compiler.lock().unwrap_or_else(|e| e.into_inner());
        let running = h.version();
        let compiled = self.config.compile(&mut compiler).and_then(|rs| {
            let guard = crate::detect::reload_guard::check(
                self.config.configured_protection(),
                Some(h.current().1.coverage()),
                rs.coverage(),
                self.config.control.reload_max_loss,
            );
            match guard {
                Ok(()) => Ok(rs),
                Err(refusal) if force => {
                    warn!("reload forced past the guard: {refusal}");
                    Ok(rs)
                }
                Err(refusal) => Err(crate::error::SensorError::Check(format!(
                    "refused: {refusal}; reload with force to publish it anyway"
                ))),
            }
        });
        match compiled {
            Ok(rs) => {
                let (loaded, rejected, compile_ms) =
                    (rs.rules.len(), rs.rejected.len(), rs.compile_ms);
                let errors: Vec<String> = rs.rejected.iter().map(ToString::to_string).collect();
                let list_entries = rs.lists.len();
                let version = h.publish(rs);
                info!(version, loaded, rejected, compile_ms, "ruleset reloaded");
                self.free_old_rulesets(version);
                json!({
                    "ok": true,
                    "version": version,
                    "loaded": loaded,
                    "rejected": rejected,
                    "compile_ms": compile_ms,
                    "list_entries": list_entries,
                    "rejected_rules": errors,
                })
            }
            Err(e) => {
                warn!("reload failed, version {running} stays: {e}");
                error(format!(
                    "reload failed; the running ruleset (version {running}) stays: {e}"
                ))
            }
        }
    }
}

/// Serves `listener` until `state.stop` is set.
pub fn serve(
    listener: UnixListener,
    state: &ControlState<'_>,
    max_clients: usize,
    timeout: Duration,
) {
    if let Err(e) = listener.set_nonblocking(true) {
        warn!("control socket: {e}");
        return;
    }
    let active = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        while !state.stop.load(Ordering::SeqCst) {
            if let Some(h) = &state.rules {
                h.free_retired();
            }
            if let Some(flag) = &state.reload_signal {
                if flag.swap(false, Ordering::SeqCst) {
                    // Off the accept loop: the socket keeps answering while it compiles
                    // (reloads are serialized by the compiler's lock).
                    info!("SIGHUP: reloading");
                    let spawned = std::thread::Builder::new()
                        .name("reload".into())
                        .spawn_scoped(scope, move || {
                            let _ = state.reload(false);
                        });
                    if let Err(e) = spawned {
                        warn!("SIGHUP: spawning the reload: {e}");
                    }
                }
            }
            match listener.accept() {
                Ok((stream, _)) => {
                    if active.load(Ordering::SeqCst) >= max_clients {
                        let mut s = stream;
                        let _ = writeln!(s, "{}", error("too many clients; try again"));
                        continue;
                    }
                    active.fetch_add(1, Ordering::SeqCst);
                    let active = &active;
                    let spawned = std::thread::Builder::new()
                        .name("control-client".into())
                        .spawn_scoped(scope, move || {
                            client_session(stream, state, timeout);
                            active.fetch_sub(1, Ordering::SeqCst);
                        });
                    if let Err(e) = spawned {
                        warn!("control socket: spawning a client thread: {e}");
                        active.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    warn!("control socket: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    });
}

/// One client: requests until it hangs up, sends an oversized request, stays silent past
/// `timeout`, or the sensor stops.
fn client_session(stream: UnixStream, state: &ControlState<'_>, timeout: Duration) {
    let poll = Duration::from_millis(200);
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(poll)).is_err()
        || stream.set_write_timeout(Some(timeout)).is_err()
    {
        return;
    }
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let mut waiting_since = Instant::now();
    loop {
        if state.stop.load(Ordering::SeqCst) && line.is_empty() {
            return;
        }
        let room = (MAX_REQUEST + 1).saturating_sub(line.len()) as u64;
        match reader.by_ref().take(room).read_until(b'\n', &mut line) {
            Ok(0) if line.is_empty() => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if waiting_since.elapsed() > timeout {
                    let _ = writeln!(writer, "{}", error("timed out waiting for a request line"));
                    return;
                }
                continue;
            }
            Err(_) => return,
        }
        let complete = line.last() == Some(&b'\n');
        if line.len() > MAX_REQUEST {
            let _ = writeln!(
                writer,
                "{}",
                error(format!("request over {} KiB", MAX_REQUEST / 1024))
            );
            return;
        }
        if !complete {
            // End of input without a newline: answer what came, then stop.
            let reply = state.dispatch(&line);
            let _ = writeln!(writer, "{reply}");
            return;
        }
        let text = line.trim_ascii();
        if !text.is_empty() {
            let reply = state.dispatch(text);
            if writeln!(writer, "{reply}").is_err() {
                return;
            }
        }
        line.clear();
        waiting_since = Instant::now();
    }
}
