//! Any text as a configuration file, its lines after the first blank one as `--set`
//! overrides: loaded, refused with a one-line reason, or validated, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (file, sets) = text.split_once("\n\n").unwrap_or((&text, ""));
    let Ok(mut table) = file.parse::<toml::Table>() else {
        return;
    };
    for set in sets.lines() {
        if sensor::config::apply_override(&mut table, set).is_err() {
            return;
        }
    }
    if let Ok(config) = sensor::config::Config::from_table(table) {
        if let Err(e) = config.validate(&[0, 1]) {
            assert!(!e.0.contains('\n'), "a reason is one line: {}", e.0);
        }
    }
});
