//! Any bytes as a control-socket request line: answered with `ok` or an error, never a
//! panic (the reload, shutdown and baseline paths included, on a sensor with no rules).
#![no_main]

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use sensor::config::Config;
use sensor::control::ControlState;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    let stop = AtomicBool::new(false);
    let datapath = || serde_json::json!({"ports": []});
    let state = ControlState {
        config: &config,
        compiler: std::sync::Mutex::new(sensor::detect::compiler::Compiler::default()),
        config_path: None,
        started: Instant::now(),
        rules: None,
        live: Vec::new(),
        datapath_stats: &datapath,
        stop: &stop,
        reload_signal: None,
        baseline: None,
    };
    let reply = state.dispatch(data);
    assert!(reply["ok"].is_boolean(), "{reply}");
});
