//! TLS handshakes and certificates from hostile bytes: the fuzzer's data is fed as both
//! directions of a flow, whole and cut into pieces at fuzzer-chosen sizes, and as a DER
//! certificate. Nothing panics, and however the bytes are cut the handshake reads the
//! same (records and messages are reassembled, not read per segment).
#![no_main]

use sensor::proto::tls::{cert, Handshake};

/// What a handshake said, comparable.
fn said(h: &Handshake) -> String {
    format!("{:?} {:?} {:?} {:?}", h.client, h.server, h.cert, h.chain.len())
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&ctl, bytes)) = data.split_first() else {
        return;
    };
    let _ = cert::parse(bytes);
    let size = usize::from(ctl % 64) + 1;
    let to_server = ctl & 0x80 != 0;
    let mut whole = Handshake::default();
    let done_whole = whole.feed(to_server, bytes);
    let mut cut = Handshake::default();
    let mut done_cut = 0;
    for piece in bytes.chunks(size) {
        done_cut |= cut.feed(to_server, piece);
    }
    assert_eq!(done_whole, done_cut);
    assert_eq!(said(&whole), said(&cut));
    assert_eq!(whole.finished(), cut.finished());
});
