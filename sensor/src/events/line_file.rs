//! The EVE file as the writer thread keeps it: whole lines only, and never a failure that
//! stops the writer.
//!
//! Lines are gathered into a batch (up to 64 KiB) and appended with one `write_all` (the
//! file is opened for appending, so a file truncated under it, by `logrotate`'s
//! `copytruncate` say, is written from its new end, without a hole). When a write fails
//! (a full disk, a quota, an I/O error), the file is cut back to its length before that
//! write, the end of the last whole line, so a reader never sees half a record; the batch is dropped and
//! counted; and until a retry succeeds (one a second) each batch is dropped and counted
//! without touching the file. The first failure and the recovery are each logged once.
//! Workers are never affected: they only ever push to their queues.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use tracing::warn;

/// Largest batch gathered before it is written.
const BATCH_BYTES: usize = 64 * 1024;
/// How long after a failed write the next one is tried.
const RETRY: Duration = Duration::from_secs(1);

/// A file written in whole lines (see the module doc).
#[derive(Debug)]
pub struct LineFile {
    file: File,
    batch: Vec<u8>,
    batch_lines: u64,
    /// Since when writes fail, the next retry, and the losses counted before.
    failing: Option<(Instant, Instant, u64)>,
    written: u64,
    lost: u64,
}

impl LineFile {
    /// Creates (truncates) `path`, opened for appending.
    pub fn create(path: &Path) -> io::Result<LineFile> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        file.set_len(0)?;
        Ok(LineFile {
            file,
            batch: Vec::with_capacity(BATCH_BYTES),
            batch_lines: 0,
            failing: None,
            written: 0,
            lost: 0,
        })
    }

    /// Adds one line (without its newline); writes the batch once it is full.
    pub fn push_line(&mut self, line: &str) {
        self.batch.extend_from_slice(line.as_bytes());
        self.batch.push(b'\n');
        self.batch_lines += 1;
        if self.batch.len() >= BATCH_BYTES {
            self.flush();
        }
    }

    /// Writes the batch (or, while writes fail and no retry is due, drops and counts it).
    pub fn flush(&mut self) {
        if self.batch_lines == 0 {
            return;
        }
        let now = Instant::now();
        let retry_due = match self.failing {
            None => true,
            Some((_, retry_at, _)) => now >= retry_at,
        };
        if retry_due {
            let before = self.file.metadata().map(|m| m.len());
            match self.file.write_all(&self.batch) {
                Ok(()) => {
                    self.written += self.batch_lines;
                    if let Some((since, _, lost_before)) = self.failing.take() {
                        warn!(
                            "EVE: writing again after {:.1} s; {} events were not written",
                            since.elapsed().as_secs_f64(),
                            self.lost - lost_before
                        );
                    }
                }
                Err(e) => {
                    // Cut back a partly written batch: the file ends with a whole line.
                    if let Ok(len) = before {
                        let _ = self.file.set_len(len);
                    }
                    match &mut self.failing {
                        Some((_, retry_at, _)) => *retry_at = now + RETRY,
                        None => {
                            warn!(
                                "EVE: {e}; events are dropped and counted \
                                 (eve_dropped_write_failed) until a write works again \
                                 (retried every second)"
                            );
                            self.failing = Some((now, now + RETRY, self.lost));
                        }
                    }
                    self.lost += self.batch_lines;
                }
            }
        } else {
            self.lost += self.batch_lines;
        }
        self.batch.clear();
        self.batch_lines = 0;
    }

    /// Lines written.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Lines dropped because writing failed.
    pub fn lost(&self) -> u64 {
        self.lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_written_whole_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eve.json");
        let mut f = LineFile::create(&path).unwrap();
        for i in 0..10_000 {
            f.push_line(&format!("{{\"n\":{i}}}"));
        }
        f.flush();
        assert_eq!((f.written(), f.lost()), (10_000, 0));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 10_000);
        assert!(text.ends_with("{\"n\":9999}\n"));
    }

    #[test]
    fn a_failing_device_loses_counted_lines_and_never_a_partial_one() {
        // /dev/full fails every write with ENOSPC, as a full disk does.
        let mut f = LineFile {
            file: std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
            ..LineFile::create(&tempfile::tempdir().unwrap().path().join("x")).unwrap()
        };
        for _ in 0..3 {
            f.push_line("{}");
            f.flush();
        }
        assert_eq!((f.written(), f.lost()), (0, 3));
        assert!(f.failing.is_some());
    }
}
