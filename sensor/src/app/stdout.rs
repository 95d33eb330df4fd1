//! Writing the commands' output to stdout when its reader may be gone (`sensor run |
//! head`, `check-rules --verbose | head`): a closed pipe ends the printing, quietly and
//! once, never the process (a running sensor keeps forwarding and inspecting).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` as it is; false once stdout cannot be written (closed pipe, full disk),
/// which is said once on stderr.
pub fn print(text: &str) -> bool {
    if CLOSED.load(Ordering::Relaxed) {
        return false;
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => true,
        Err(e) => {
            if !CLOSED.swap(true, Ordering::Relaxed) && e.kind() != std::io::ErrorKind::BrokenPipe {
                eprintln!("sensor: stdout: {e}; no more output there");
            }
            false
        }
    }
}

/// [`print`] with a newline after `line`.
pub fn line(line: &str) -> bool {
    print(&format!("{line}\n"))
}
