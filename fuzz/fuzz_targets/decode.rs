//! Any bytes as a frame: decode must never panic or read out of bounds.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sensor::decode::decode(data);
});
