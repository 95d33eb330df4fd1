//! The TLS record layer of one direction, on its in-order stream bytes: records split
//! across segments and several in one segment, and handshake messages split across
//! records, handed out whole ([`Records::feed`]). Reading stops at the first
//! ChangeCipherSpec or application-data record (what follows is encrypted), at a record
//! that is not TLS, or when a handshake message would pass [`MAX_HANDSHAKE`].

/// Largest record body TLS allows (2^14 plus the expansion a cipher may add).
const MAX_RECORD: usize = (1 << 14) + 2048;

/// Largest handshake message read (a certificate chain of a dozen large certificates);
/// a longer one stops the direction's parsing, so a hostile peer cannot make the worker
/// hold more than this per direction.
pub const MAX_HANDSHAKE: usize = 64 * 1024;

const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;
const HEARTBEAT: u8 = 24;

/// Why a direction is no longer read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Encryption began (ChangeCipherSpec or application data).
    Encrypted,
    /// A record header that is not TLS, or a record longer than TLS allows.
    NotTls,
    /// A handshake message longer than [`MAX_HANDSHAKE`].
    TooLong,
    /// The worker's memory cap: the direction's buffers were let go.
    Memcap,
}

/// One direction's record layer.
#[derive(Debug, Default)]
pub struct Records {
    /// The record cut by the end of the last segment: header and body bytes so far.
    record: Vec<u8>,
    /// Handshake bytes gathered from records, not yet a whole message.
    handshake: Vec<u8>,
    /// Set once the direction is no longer read.
    stopped: Option<Stop>,
    /// Whether its first bytes came.
    started: bool,
    /// Bytes of an SSL 2.0 ClientHello still to pass over.
    skip: usize,
}

impl Records {
    /// Why the direction is no longer read (`None`: it still is).
    pub fn stopped(&self) -> Option<Stop> {
        self.stopped
    }

    /// Bytes held (for the memory account).
    pub fn footprint(&self) -> usize {
        self.record.capacity() + self.handshake.capacity()
    }

    /// Reads `data`, the direction's next in-order bytes, and calls `message(type,
    /// body)` for each handshake message completed.
    pub fn feed(&mut self, mut data: &[u8], mut message: impl FnMut(u8, &[u8])) {
        // An SSL 2.0-compatible ClientHello opening the direction is passed over (in
        // however many segments it comes): TLS records follow it.
        if !self.started && !data.is_empty() {
            self.started = true;
            if crate::flow::sslv2_hello(data) {
                self.skip = 2 + usize::from(u16::from_be_bytes([data[0] & 0x7f, data[1]]));
            }
        }
        let skipped = self.skip.min(data.len());
        self.skip -= skipped;
        data = &data[skipped..];
        while !data.is_empty() && self.stopped.is_none() {
            // A record whole in `data` is read in place; a cut one is gathered.
            if self.record.is_empty() {
                match record_len(data) {
                    Ok(Some(len)) if data.len() >= len => {
                        self.record_done(&data[..len], &mut message);
                        data = &data[len..];
                        continue;
                    }
                    Ok(_) => {}
                    Err(stop) => {
                        self.stop(stop);
                        break;
                    }
                }
            }
            let need = match record_len(&self.record) {
                Ok(Some(len)) => len - self.record.len(),
                Ok(None) => 5 - self.record.len(),
                Err(stop) => {
                    self.stop(stop);
                    break;
                }
            };
            let take = need.min(data.len());
            self.record.extend_from_slice(&data[..take]);
            data = &data[take..];
            if let Ok(Some(len)) = record_len(&self.record) {
                if self.record.len() == len {
                    let record = std::mem::take(&mut self.record);
                    self.record_done(&record, &mut message);
                    self.record = record;
                    self.record.clear();
                }
            }
        }
    }

    /// Stops reading the direction and lets go of its buffers.
    pub fn stop(&mut self, why: Stop) {
        self.stopped = Some(why);
        self.record = Vec::new();
        self.handshake = Vec::new();
    }

    /// A whole record (header and body).
    fn record_done(&mut self, record: &[u8], message: &mut impl FnMut(u8, &[u8])) {
        let body = &record[5..];
        match record[0] {
            HANDSHAKE => {
                // Messages whole in this record, with nothing gathered before, are read
                // in place.
                let mut rest = body;
                if self.handshake.is_empty() {
                    while let Some(len) = message_len(rest).filter(|&l| rest.len() >= l) {
                        message(rest[0], &rest[4..len]);
                        rest = &rest[len..];
                    }
                }
                if rest.is_empty() {
                    return;
                }
                self.handshake.extend_from_slice(rest);
                while let Some(len) = message_len(&self.handshake) {
                    if len > MAX_HANDSHAKE {
                        self.stop(Stop::TooLong);
                        return;
                    }
                    if self.handshake.len() < len {
                        break;
                    }
                    message(self.handshake[0], &self.handshake[4..len]);
                    self.handshake.drain(..len);
                }
            }
            CHANGE_CIPHER_SPEC | APPLICATION_DATA => self.stop(Stop::Encrypted),
            _ => {}
        }
    }
}

/// The whole length of the record starting `data` (header included), `None` while its
/// header is incomplete; an error when the header is not TLS.
fn record_len(data: &[u8]) -> Result<Option<usize>, Stop> {
    let Some(&kind) = data.first() else {
        return Ok(None);
    };
    if !matches!(
        kind,
        CHANGE_CIPHER_SPEC | ALERT | HANDSHAKE | APPLICATION_DATA | HEARTBEAT
    ) {
        return Err(Stop::NotTls);
    }
    if data.len() >= 2 && data[1] != 3 {
        return Err(Stop::NotTls);
    }
    if data.len() < 5 {
        return Ok(None);
    }
    let len = usize::from(u16::from_be_bytes([data[3], data[4]]));
    if len > MAX_RECORD {
        return Err(Stop::NotTls);
    }
    Ok(Some(5 + len))
}

/// The whole length of the handshake message starting `data` (its 4-byte header
/// included), `None` while the header is incomplete.
fn message_len(data: &[u8]) -> Option<usize> {
    (data.len() >= 4).then(|| {
        4 + (usize::from(data[1]) << 16 | usize::from(data[2]) << 8 | usize::from(data[3]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![kind, 3, 3];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        m.extend_from_slice(body);
        m
    }

    fn read(chunks: &[&[u8]]) -> (Vec<(u8, Vec<u8>)>, Option<Stop>) {
        let mut r = Records::default();
        let mut got = Vec::new();
        for c in chunks {
            r.feed(c, |t, b| got.push((t, b.to_vec())));
        }
        (got, r.stopped())
    }

    #[test]
    fn messages_are_whole_however_records_and_segments_cut_them() {
        let hello = message(1, &[7u8; 300]);
        let cert = message(11, &[9u8; 5000]);
        let mut both = hello.clone();
        both.extend_from_slice(&cert);
        // One record with both; two records; the certificate over three records.
        let one = record(HANDSHAKE, &both);
        let mut two = record(HANDSHAKE, &hello);
        two.extend_from_slice(&record(HANDSHAKE, &cert));
        let mut three = record(HANDSHAKE, &hello);
        for part in cert.chunks(2000) {
            three.extend_from_slice(&record(HANDSHAKE, part));
        }
        let expected = vec![(1, vec![7u8; 300]), (11, vec![9u8; 5000])];
        for stream in [one, two, three] {
            for cut in [1, 3, 5, 7, 299, 1448, stream.len()] {
                let chunks: Vec<&[u8]> = stream.chunks(cut).collect();
                assert_eq!(read(&chunks), (expected.clone(), None), "cut {cut}");
            }
        }
    }

    #[test]
    fn an_sslv2_client_hello_is_passed_over_however_it_is_cut() {
        let mut v2 = vec![0x80, 46, 1, 3, 1];
        v2.extend_from_slice(&[0u8; 43]);
        let mut stream = v2.clone();
        stream.extend_from_slice(&record(HANDSHAKE, &message(1, b"after")));
        let expected = (vec![(1, b"after".to_vec())], None);
        // Its first five bytes tell it apart, so they come in the first segment (a
        // shorter first segment makes the flow not TLS, as in the flow's framing).
        for cut in [5, 6, 47, 48, 49, stream.len()] {
            let chunks: Vec<&[u8]> = stream.chunks(cut).collect();
            assert_eq!(read(&chunks), expected, "cut {cut}");
        }
    }

    #[test]
    fn reading_stops_at_encryption_at_non_tls_and_at_an_oversized_message() {
        let mut s = record(HANDSHAKE, &message(2, b"hello"));
        s.extend_from_slice(&record(CHANGE_CIPHER_SPEC, &[1]));
        s.extend_from_slice(&record(HANDSHAKE, &message(20, b"encrypted finished")));
        assert_eq!(
            read(&[&s]),
            (vec![(2, b"hello".to_vec())], Some(Stop::Encrypted))
        );
        assert_eq!(read(&[b"GET / HTTP/1.1\r\n"]).1, Some(Stop::NotTls));
        let mut huge = vec![11u8];
        huge.extend_from_slice(&((MAX_HANDSHAKE + 1) as u32).to_be_bytes()[1..]);
        huge.extend_from_slice(&[0; 100]);
        assert_eq!(read(&[&record(HANDSHAKE, &huge)]).1, Some(Stop::TooLong));
    }
}
