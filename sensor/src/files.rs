//! The check every stage applies to a path an operator gives it: rules, lists, the
//! configuration and a capture are read whole, EVE and the baseline state are written,
//! and a FIFO, socket or device there would block the reader forever (or never end)
//! without a word. Such a path is refused with an error that says what it is. A stat
//! per file opened; never on the packet path. Uses nothing else of the sensor's.

use std::io;
use std::path::Path;

/// Fails unless `path` names a regular file (symbolic links followed).
pub fn regular(path: &Path) -> io::Result<()> {
    let kind = std::fs::metadata(path)?.file_type();
    if kind.is_file() {
        Ok(())
    } else {
        Err(not_regular(kind))
    }
}

/// Fails if `path` exists and is not a regular file (an output about to be created or
/// replaced).
pub fn regular_or_absent(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(m) => Err(not_regular(m.file_type())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn not_regular(kind: std::fs::FileType) -> io::Error {
    use std::os::unix::fs::FileTypeExt;
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}, not a regular file (refused: reading or writing it could block forever)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_devices_and_directories_are_refused_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(regular(&file).is_ok());
        assert!(regular_or_absent(&file).is_ok());
        assert!(regular_or_absent(&dir.path().join("absent")).is_ok());
        assert!(regular(&dir.path().join("absent")).is_err());
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        for e in [regular(&fifo), regular_or_absent(&fifo)] {
            assert!(e.unwrap_err().to_string().starts_with("a FIFO"));
        }
        let null = Path::new("/dev/null");
        assert!(regular(null)
            .unwrap_err()
            .to_string()
            .starts_with("a device"));
        assert!(regular(dir.path())
            .unwrap_err()
            .to_string()
            .starts_with("a directory"));
    }
}
