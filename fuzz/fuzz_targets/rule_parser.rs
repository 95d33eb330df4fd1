//! Any text as a rules file: every line is parsed or rejected with a reason, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut loaded = sensor::rules::Loaded::default();
    sensor::rules::load_text(
        &text,
        "fuzz.rules",
        &sensor::rules::Vars::default(),
        &mut loaded,
    );
    let _ = sensor::detect::Ruleset::compile(loaded);
});
