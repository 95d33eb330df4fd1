//! TLS record framing of one TCP flow, followed on its in-order data: whether both sides
//! speak TLS, and whether encrypted application data has begun.
//!
//! This reads record headers only (type, version, length), never their contents, so it
//! costs a few comparisons per record. Suricata 7 stops inspecting a TLS flow's payload
//! with `content` rules once application data is seen (its default `encryption-handling`);
//! the engine does the same with [`TlsFraming::encrypted`], and unlike Suricata it starts
//! inspecting again when a record header breaks the framing (plaintext sent after a
//! handshake is inspected).
//!
//! A direction's first data must be a handshake record (an alert too, from the server),
//! else the flow is not TLS and stays inspected. A gap in a direction's sequence numbers
//! stops following that direction; the flow's state stays what it was.

/// Largest record body TLS allows (2^14 plus the expansion a cipher may add).
const MAX_RECORD: u32 = (1 << 14) + 2048;

/// Record types.
const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;
const HEARTBEAT: u8 = 24;

/// What the framing says of the flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsState {
    /// No data seen yet.
    #[default]
    Unknown,
    /// Both sides' data so far are TLS records; the handshake is in clear.
    Handshake,
    /// Application data followed a server handshake: the rest is encrypted.
    Encrypted,
    /// Not TLS, or its framing broke: inspected as any other flow.
    NotTls,
}

/// A direction has sent data.
const STARTED: u8 = 1;
/// A gap in a direction: its records are no longer followed.
const LOST: u8 = 2;

/// TLS record framing of a flow, both directions (index 0 to the server). Laid out as
/// arrays per field so that it takes 24 bytes of the flow's slot.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsFraming {
    /// Sequence number of each direction's next in-order byte (valid once started).
    next_seq: [u32; 2],
    /// Body bytes of the current record still to come or, while `have` is not 0, the
    /// header bytes gathered so far (a segment boundary cut the header).
    value: [u32; 2],
    /// Header bytes gathered (0-4).
    have: [u8; 2],
    /// `STARTED`, `LOST`.
    flags: [u8; 2],
    state: TlsState,
    server_handshake: bool,
}

impl TlsFraming {
    /// The flow's state.
    pub fn state(&self) -> TlsState {
        self.state
    }

    /// Whether the flow's application data has begun (its payload is ciphertext).
    pub fn encrypted(&self) -> bool {
        self.state == TlsState::Encrypted
    }

    /// Follows `segment`, a TCP payload at `seq` to the server (`to_server`) or the client,
    /// and returns whether it is ciphertext to leave uninspected: the flow was encrypted
    /// before it and still is after it. The segment that starts the application data is
    /// inspected, and so is one whose bytes break the framing.
    pub fn observe(&mut self, to_server: bool, seq: u32, segment: &[u8]) -> bool {
        let before = self.encrypted();
        self.follow(to_server, seq, segment);
        before && self.encrypted()
    }

    fn follow(&mut self, to_server: bool, seq: u32, segment: &[u8]) {
        if segment.is_empty() || self.state == TlsState::NotTls {
            return;
        }
        let d = usize::from(!to_server);
        let mut pos = 0;
        if self.flags[d] & STARTED == 0 {
            let first = segment[0];
            let v2 = to_server && sslv2_hello(segment);
            let opens = first == HANDSHAKE || !to_server && first == ALERT || v2;
            if !opens {
                self.state = TlsState::NotTls;
                return;
            }
            if v2 {
                // Its 2-byte header read, its body to pass over.
                self.value[d] = u32::from(u16::from_be_bytes([first & 0x7f, segment[1]]));
                pos = 2;
            }
            self.flags[d] |= STARTED;
            self.next_seq[d] = seq;
            if self.state == TlsState::Unknown {
                self.state = TlsState::Handshake;
            }
        }
        if self.flags[d] & LOST != 0 {
            return;
        }
        if seq != self.next_seq[d] {
            // Old data again (a retransmission) changes nothing; a gap loses the framing.
            if (self.next_seq[d].wrapping_sub(seq) as i32) <= 0 {
                self.flags[d] |= LOST;
            }
            return;
        }
        self.next_seq[d] = seq.wrapping_add(segment.len() as u32);
        while pos < segment.len() {
            if self.have[d] == 0 && self.value[d] > 0 {
                let skip = (self.value[d] as usize).min(segment.len() - pos);
                self.value[d] -= skip as u32;
                pos += skip;
                continue;
            }
            let mut header = [0u8; 5];
            let have = usize::from(self.have[d]);
            header[..4].copy_from_slice(&self.value[d].to_le_bytes());
            let take = (5 - have).min(segment.len() - pos);
            header[have..have + take].copy_from_slice(&segment[pos..pos + take]);
            pos += take;
            if have + take < 5 {
                let mut partial = [0u8; 4];
                partial.copy_from_slice(&header[..4]);
                self.value[d] = u32::from_le_bytes(partial);
                self.have[d] = (have + take) as u8;
                break;
            }
            self.have[d] = 0;
            let [kind, major, minor, hi, lo] = header;
            let length = u32::from(u16::from_be_bytes([hi, lo]));
            let valid = (CHANGE_CIPHER_SPEC..=HEARTBEAT).contains(&kind)
                && major == 3
                && minor <= 4
                && length <= MAX_RECORD;
            if !valid {
                self.state = TlsState::NotTls;
                return;
            }
            if kind == HANDSHAKE && !to_server {
                self.server_handshake = true;
            }
            if kind == APPLICATION_DATA && self.server_handshake {
                self.state = TlsState::Encrypted;
            }
            self.value[d] = length;
        }
    }
}

/// Whether `segment` starts with an SSL 2.0-compatible ClientHello (a 2-byte record
/// header with its top bit set, then message type 1 and a 3.x version), which old
/// clients still send to open TLS 1.0 connections.
pub fn sslv2_hello(segment: &[u8]) -> bool {
    segment.len() >= 5 && segment[0] & 0x80 != 0 && segment[2] == 1 && segment[3] == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u8, body: usize) -> Vec<u8> {
        let mut r = vec![kind, 3, 3];
        r.extend_from_slice(&(body as u16).to_be_bytes());
        r.extend(std::iter::repeat_n(0xab, body));
        r
    }

    /// A handshake: ClientHello, then the server's hello flight.
    fn handshake(f: &mut TlsFraming) -> (u32, u32) {
        let hello = record(HANDSHAKE, 200);
        assert!(!f.observe(true, 1000, &hello));
        let server = [record(HANDSHAKE, 90), record(HANDSHAKE, 2000)].concat();
        assert!(!f.observe(false, 5000, &server));
        assert_eq!(f.state(), TlsState::Handshake);
        (1000 + hello.len() as u32, 5000 + server.len() as u32)
    }

    #[test]
    fn application_data_after_the_server_handshake_is_encrypted_from_the_next_segment() {
        let mut f = TlsFraming::default();
        let (c, _) = handshake(&mut f);
        let data = [record(CHANGE_CIPHER_SPEC, 1), record(APPLICATION_DATA, 300)].concat();
        // The segment that starts the application data is itself still inspected.
        assert!(!f.observe(true, c, &data));
        assert!(f.encrypted());
        assert!(f.observe(true, c + data.len() as u32, &record(APPLICATION_DATA, 50)));
    }

    #[test]
    fn records_and_headers_cut_by_segment_boundaries_are_followed() {
        let mut f = TlsFraming::default();
        let (mut c, _) = handshake(&mut f);
        let stream = [
            record(APPLICATION_DATA, 3000),
            record(APPLICATION_DATA, 10),
            record(APPLICATION_DATA, 700),
        ]
        .concat();
        // Segments of 7 bytes cut every header somewhere.
        for piece in stream.chunks(7) {
            f.observe(true, c, piece);
            c += piece.len() as u32;
        }
        assert!(f.encrypted());
        // Plaintext where the next header belongs breaks the framing: that segment and
        // the rest are inspected.
        assert!(!f.observe(true, c, b"GET /x HTTP/1.1\r\n\r\n"));
        assert_eq!(f.state(), TlsState::NotTls);
        assert!(!f.observe(true, c + 19, b"more"));
    }

    #[test]
    fn a_flow_that_does_not_open_with_a_handshake_is_not_tls() {
        let mut f = TlsFraming::default();
        assert!(!f.observe(true, 1, b"GET / HTTP/1.1\r\n\r\n"));
        assert_eq!(f.state(), TlsState::NotTls);
        // Picked up mid-session: application data first.
        let mut g = TlsFraming::default();
        g.observe(true, 1, &record(APPLICATION_DATA, 40));
        assert_eq!(g.state(), TlsState::NotTls);
        // A server that answers in plaintext.
        let mut h = TlsFraming::default();
        h.observe(true, 1, &record(HANDSHAKE, 40));
        h.observe(false, 1, b"HTTP/1.1 400 Bad Request\r\n\r\n");
        assert_eq!(h.state(), TlsState::NotTls);
    }

    #[test]
    fn application_data_before_any_server_handshake_is_not_taken_as_encrypted() {
        let mut f = TlsFraming::default();
        let hello = record(HANDSHAKE, 100);
        f.observe(true, 1, &hello);
        f.observe(true, 1 + hello.len() as u32, &record(APPLICATION_DATA, 100));
        assert_eq!(f.state(), TlsState::Handshake);
    }

    #[test]
    fn it_fits_its_place_in_the_flow_slot() {
        assert_eq!(std::mem::size_of::<TlsFraming>(), 24);
    }

    #[test]
    fn retransmissions_change_nothing_and_a_gap_stops_following_the_direction() {
        let mut f = TlsFraming::default();
        let (c, s) = handshake(&mut f);
        f.observe(true, c, &record(APPLICATION_DATA, 100));
        assert!(f.encrypted());
        // The same segment again: still encrypted, framing intact.
        assert!(f.observe(true, c, &record(APPLICATION_DATA, 100)));
        // A gap on the server side: its records are no longer read, so even bytes that
        // are no header there cannot break the framing.
        assert!(f.observe(false, s + 10, b"not a header"));
        assert!(f.observe(false, s + 22, b"still not one"));
        assert!(f.encrypted());
    }
}
