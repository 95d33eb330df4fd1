//! The sensor's error type and the exit codes it maps to.

use std::fmt;

/// Why the sensor stops with a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SensorError {
    /// Bad usage or configuration (exit code 2).
    Usage(String),
    /// Something failed while running (exit code 1).
    Runtime(String),
    /// A check found problems, e.g. rejected rules (exit code 1).
    Check(String),
}

impl SensorError {
    /// The process exit code: 2 for usage or configuration, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            SensorError::Usage(_) => 2,
            SensorError::Runtime(_) | SensorError::Check(_) => 1,
        }
    }
}

impl fmt::Display for SensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SensorError::Usage(m) | SensorError::Runtime(m) | SensorError::Check(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for SensorError {}
