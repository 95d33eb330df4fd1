//! `sensor ctl`: sends one request to the control socket and prints the reply.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::error::SensorError;

/// What a request may carry beside its command.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// For `stats`: how many rules to list by hit count.
    pub top: Option<usize>,
    /// For `baseline` and `baseline-reset`: the host.
    pub host: Option<&'a str>,
    /// For `reload`: publish what the reload guard would refuse.
    pub force: bool,
}

/// Sends `command` with its `options` to the socket at `path`; returns the reply.
pub fn request(path: &Path, command: &str, options: Options<'_>) -> Result<Value, SensorError> {
    let fail =
        |e: std::io::Error| SensorError::Runtime(format!("control socket {}: {e}", path.display()));
    let mut stream = UnixStream::connect(path).map_err(fail)?;
    // A reload of a large ruleset takes seconds; nothing else takes long.
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(fail)?;
    let mut req = json!({"command": command});
    if let Some(n) = options.top {
        req["top"] = json!(n);
    }
    if let Some(h) = options.host {
        req["host"] = json!(h);
    }
    if options.force {
        req["force"] = json!(true);
    }
    writeln!(stream, "{req}").map_err(fail)?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).map_err(fail)?;
    serde_json::from_str(&line)
        .map_err(|e| SensorError::Runtime(format!("reply is not JSON ({e}): {line}")))
}

/// The reply as people read it: `key: value` lines, nested objects indented.
pub fn readable(reply: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, reply, 0);
    out
}

fn write_value(out: &mut String, v: &Value, depth: usize) {
    let pad = "  ".repeat(depth);
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::Object(_) => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        write_value(out, v, depth + 1);
                    }
                    Value::Array(items) if items.iter().any(|i| i.is_object()) => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        for item in items {
                            out.push_str(&format!("{pad}  - {}\n", item));
                        }
                    }
                    other => out.push_str(&format!("{pad}{k}: {}\n", scalar(other))),
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_output_indents_objects() {
        let v = json!({"ok": true, "mode": "prevention", "verdicts": {"alerts": 3}});
        assert_eq!(
            readable(&v),
            "mode: prevention\nok: true\nverdicts:\n  alerts: 3\n"
        );
    }
}
