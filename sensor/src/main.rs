//! The `sensor` command line. Parsing only; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sensor::app::replay::{self, ReplayRequest};
use sensor::app::run::{self, ControlHooks};
use sensor::app::stdout;
use sensor::config::{Config, Mode};
use sensor::datapath::StopWhen;
use sensor::error::SensorError;

/// DPDK inline network sensor.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run on the configured ports until SIGINT or SIGTERM, then print final stats as JSON.
    Run {
        /// TOML configuration (see sensor.example.toml).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Domain list file (repeatable): adds `[lists.STEM]` with default settings, which
        /// `--set lists.STEM.action=...` can change.
        #[arg(long = "lists", value_name = "PATH")]
        lists: Vec<PathBuf>,
        /// Override one configuration key by its dotted path (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Replay a capture through the workers on DPDK's pcap devices; exits when every
    /// packet has been handled and prints final stats as JSON.
    Replay {
        /// Capture to replay (pcap or pcapng, Ethernet).
        #[arg(long, value_name = "FILE")]
        pcap: PathBuf,
        /// Where the bridge's forwarded packets are written (prevention).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Where packets the sensor sends back toward a sender are written.
        #[arg(long = "reply-out", value_name = "FILE")]
        reply_out: Option<PathBuf>,
        /// Detection or prevention (default: the configuration's mode).
        #[arg(long, value_enum)]
        mode: Option<CliMode>,
        /// Rule file or directory of `*.rules` (repeatable; added to detect.rules).
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        /// Domain list file (repeatable): adds `[lists.STEM]` with default settings, which
        /// `--set lists.STEM.action=...` can change.
        #[arg(long = "lists", value_name = "PATH")]
        lists: Vec<PathBuf>,
        /// Write alerts as EVE JSON to this file.
        #[arg(long, value_name = "FILE")]
        eve: Option<PathBuf>,
        /// TOML configuration (optional; defaults apply).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Override one configuration key by its dotted path (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Load and compile rule files; print loaded and rejected counts, the top rejection
    /// reasons by keyword, compile time and memory. Exit 1 if any rule was rejected.
    CheckRules {
        /// Rule files or directories of `*.rules`.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Print every rejected rule with file:line, sid, keyword and reason.
        #[arg(long)]
        verbose: bool,
        /// TOML configuration (for `vars`; optional).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Override one configuration key by its dotted path (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Send one command to a running sensor's control socket and print the reply; exit 1
    /// when the reply says `ok: false`.
    Ctl {
        /// The control socket (default: the configuration's control.socket).
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// TOML configuration to take control.socket from.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print the reply as one JSON line.
        #[arg(long)]
        json: bool,
        /// For `stats`: how many rules to list by hit count.
        #[arg(long)]
        top: Option<usize>,
        /// For `reload`: publish the new ruleset even where the reload guard refuses it
        /// (no rule or list entry loads, or more than control.reload_max_loss would go).
        #[arg(long)]
        force: bool,
        /// status, stats, ruleset-stats, rejected-rules, reload, baseline, baseline-reset,
        /// shutdown.
        command: String,
        /// For `baseline` and `baseline-reset`: the host's IP address.
        host: Option<String>,
    },
    /// Load domain lists (from the config and `--lists`); print entries, rejected lines,
    /// load time, memory per name and the cost of a lookup. Exit 1 if a line was rejected.
    CheckLists {
        /// List files (each as `[lists.STEM]`).
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// TOML configuration (its `[lists]`; optional).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Override one configuration key by its dotted path (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CliMode {
    Detection,
    Prevention,
}

impl From<CliMode> for Mode {
    fn from(m: CliMode) -> Mode {
        match m {
            CliMode::Detection => Mode::Detection,
            CliMode::Prevention => Mode::Prevention,
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    // A panic anywhere is a bug: say so and stop the whole process with a failure,
    // never leave the other threads running (or hanging) without the one that died.
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report_panic(info);
        eprintln!("sensor: stopping after a panic (a bug)");
        std::process::exit(1);
    }));
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sensor: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn stop_flag() -> Result<Arc<AtomicBool>, SensorError> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| SensorError::Runtime(format!("installing a signal handler: {e}")))?;
    }
    Ok(stop)
}

fn execute(command: Command) -> Result<(), SensorError> {
    match command {
        Command::CheckRules {
            paths,
            json,
            verbose,
            config,
            set,
        } => {
            let config = Config::load(config.as_deref(), &set)?;
            let vars = config.rule_vars()?;
            let report = sensor::app::check_rules::check(
                &paths,
                &vars,
                &sensor::datapath::ports::allowed_cpus(),
            )
            .map_err(SensorError::Usage)?;
            if json {
                stdout::line(
                    &serde_json::to_string(&report)
                        .map_err(|e| SensorError::Runtime(format!("report: {e}")))?,
                );
            } else {
                if verbose {
                    for e in &report.errors {
                        if !stdout::line(&e.to_string()) {
                            break;
                        }
                    }
                }
                stdout::print(&report.summary(15));
            }
            if report.rejected > 0 {
                return Err(SensorError::Check(format!(
                    "{} rules rejected",
                    report.rejected
                )));
            }
            Ok(())
        }
        Command::Ctl {
            socket,
            config,
            json,
            top,
            force,
            command,
            host,
        } => {
            let socket = match socket {
                Some(s) => s,
                None => Config::load(config.as_deref(), &[])?
                    .control
                    .socket
                    .ok_or_else(|| {
                        SensorError::Usage(
                            "no --socket and no control.socket in the configuration".into(),
                        )
                    })?,
            };
            let reply = sensor::control::client::request(
                &socket,
                &command,
                sensor::control::client::Options {
                    top,
                    host: host.as_deref(),
                    force,
                },
            )?;
            if json {
                stdout::line(&reply.to_string());
            } else {
                stdout::print(&sensor::control::client::readable(&reply));
            }
            if reply["ok"] != serde_json::Value::Bool(true) {
                return Err(SensorError::Check(
                    reply["error"]
                        .as_str()
                        .unwrap_or("request failed")
                        .to_owned(),
                ));
            }
            Ok(())
        }
        Command::CheckLists {
            paths,
            json,
            config,
            set,
        } => {
            let config = Config::load_with_lists(config.as_deref(), &paths, &set)?;
            let report =
                sensor::app::check_lists::check(&config.lists).map_err(SensorError::Usage)?;
            if json {
                stdout::line(
                    &serde_json::to_string(&report)
                        .map_err(|e| SensorError::Runtime(format!("report: {e}")))?,
                );
            } else {
                stdout::print(&report.summary());
            }
            if !report.errors.is_empty() {
                return Err(SensorError::Check(format!(
                    "{} list lines rejected",
                    report.errors.len()
                )));
            }
            Ok(())
        }
        Command::Run {
            config: path,
            lists,
            set,
        } => {
            let config = Config::load_with_lists(Some(&path), &lists, &set)?;
            let stop = stop_flag()?;
            let reload = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reload))
                .map_err(|e| SensorError::Runtime(format!("installing a signal handler: {e}")))?;
            let hooks = ControlHooks {
                config_path: Some(path),
                reload_signal: Some(reload),
            };
            let report = run::run(&config, &config.eal.args, StopWhen::Signal, &stop, &hooks)?;
            stdout::line(&report.to_json_line());
            Ok(())
        }
        Command::Replay {
            pcap,
            out,
            reply_out,
            mode,
            rules,
            lists,
            eve,
            config,
            set,
        } => {
            let config_path = config.clone();
            let mut config = Config::load_with_lists(config.as_deref(), &lists, &set)?;
            config.detect.rules.extend(rules);
            if eve.is_some() {
                config.eve.path = eve;
            }
            let request = ReplayRequest {
                pcap,
                out,
                reply_out,
                mode: mode.map(Mode::from),
            };
            let plan = replay::plan(config, &request)?;
            let stop = stop_flag()?;
            let hooks = ControlHooks {
                config_path: config_path.clone(),
                reload_signal: None,
            };
            let report = run::run(&plan.config, &plan.eal_args, plan.stop_when, &stop, &hooks)?;
            stdout::line(&report.to_json_line());
            let input = &report.ports[0];
            let forwarded: u64 = report.ports.iter().skip(1).map(|p| p.tx).sum();
            let alerts = report.engine.as_ref().map_or(0, |e| e.counters.alerts);
            eprintln!(
                "sensor: replayed {} packets in {} mode: {} forwarded, {} dropped by policy, {} alerts",
                input.rx, report.mode, forwarded, input.policy_drops, alerts
            );
            // net_pcap does not report a failed write (a full disk): count what is there.
            if let Some(out) = &request.out {
                replay::check_written(out, forwarded)?;
            }
            if let Some(replies) = &request.reply_out {
                replay::check_written(replies, input.tx)?;
            }
            Ok(())
        }
    }
}
