//! Creating the control socket: a stale socket from a crashed run is replaced, a socket a
//! running sensor answers on is refused, anything else at the path (a file, a FIFO, a
//! link) is refused and left alone, the file gets the configured mode and group, and
//! it is removed when the sensor stops.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use crate::config::ControlConfig;
use crate::error::SensorError;

/// The bound socket; the file is removed on drop.
#[derive(Debug)]
pub struct BoundSocket {
    /// The listener.
    pub listener: UnixListener,
    path: PathBuf,
}

impl Drop for BoundSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds the configured socket (`None` when none is configured).
pub fn bind(config: &ControlConfig) -> Result<Option<BoundSocket>, SensorError> {
    let Some(path) = &config.socket else {
        return Ok(None);
    };
    let fail =
        |what: String| SensorError::Usage(format!("control.socket {}: {what}", path.display()));
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        // Only a socket is ever replaced: a file, FIFO or link there is someone else's.
        if !meta.file_type().is_socket() {
            return Err(fail(
                "exists and is not a socket (refusing to replace it; pick another path)".into(),
            ));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(fail(
                "in use by a running sensor (stop it, or pick another path)".into(),
            ));
        }
        std::fs::remove_file(path).map_err(|e| fail(format!("removing the stale socket: {e}")))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| fail(e.to_string()))?;
    let bound = BoundSocket {
        listener,
        path: path.clone(),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(config.mode & 0o777))
        .map_err(|e| fail(format!("setting mode {:o}: {e}", config.mode)))?;
    if let Some(group) = &config.group {
        let gid = group_id(group).ok_or_else(|| fail(format!("no group {group:?}")))?;
        std::os::unix::fs::chown(path, None, Some(gid))
            .map_err(|e| fail(format!("chown to group {group}: {e}")))?;
    }
    Ok(Some(bound))
}

/// A group's id from its number or its name in /etc/group.
fn group_id(group: &str) -> Option<u32> {
    if let Ok(n) = group.parse() {
        return Some(n);
    }
    let text = std::fs::read_to_string(Path::new("/etc/group")).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == group).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_socket_is_replaced_and_a_live_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let config = ControlConfig {
            socket: Some(path.clone()),
            ..ControlConfig::default()
        };
        // A stale file: a socket nobody listens on.
        drop(UnixListener::bind(&path).unwrap());
        let live = bind(&config).unwrap().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = bind(&config).unwrap_err().to_string();
        assert!(err.contains("in use"), "{err}");
        drop(live);
        assert!(!path.exists(), "removed on drop");
    }

    #[test]
    fn groups_by_number_or_name() {
        assert_eq!(group_id("0"), Some(0));
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(group_id("no-such-group-here"), None);
    }
}
