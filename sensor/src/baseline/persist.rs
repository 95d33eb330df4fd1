//! Saving and loading profiles: a versioned little-endian binary file, written to a
//! temporary name and renamed, so a crash mid-save leaves the previous file intact.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// First bytes of a profile file.
pub const MAGIC: &[u8; 8] = b"SNSRBL01";

/// Writes a `u32`.
pub fn write_u32(w: &mut impl Write, v: u32) -> io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

/// Writes a `u64`.
pub fn write_u64(w: &mut impl Write, v: u64) -> io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

/// Writes an `f64`.
pub fn write_f64(w: &mut impl Write, v: f64) -> io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

/// Reads a `u32`.
pub fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// Reads a `u64`.
pub fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Reads an `f64`.
pub fn read_f64(r: &mut impl Read) -> io::Result<f64> {
    let mut b = [0; 8];
    r.read_exact(&mut b)?;
    Ok(f64::from_le_bytes(b))
}

/// Writes a length-prefixed string.
pub fn write_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    write_u32(w, s.len() as u32)?;
    w.write_all(s.as_bytes())
}

/// Reads a length-prefixed string of at most 4 KiB.
pub fn read_str(r: &mut impl Read) -> io::Result<String> {
    let n = read_u32(r)? as usize;
    if n > 4096 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "string length"));
    }
    let mut b = vec![0; n];
    r.read_exact(&mut b)?;
    String::from_utf8(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "utf-8"))
}

/// Writes `path` atomically: `write` fills a buffered temporary file beside it, which is
/// then renamed over `path`.
pub fn save_file(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    crate::files::regular_or_absent(path)?;
    let tmp = path.with_extension("tmp");
    crate::files::regular_or_absent(&tmp)?;
    let saved = File::create(&tmp).and_then(|f| {
        let mut w = BufWriter::new(f);
        w.write_all(MAGIC)?;
        write(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    });
    if saved.is_err() {
        // A failed save (a full disk) leaves the last good file and no half-written one.
        let _ = std::fs::remove_file(&tmp);
    }
    saved
}

/// Opens `path` for [`save_file`]'s format; `Ok(None)` when it does not exist.
pub fn open_file(path: &Path) -> io::Result<Option<BufReader<File>>> {
    let f = match crate::files::regular(path).and_then(|()| File::open(path)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut r = BufReader::new(f);
    let mut magic = [0; 8];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a sensor baseline file (or another version)",
        ));
    }
    Ok(Some(r))
}
