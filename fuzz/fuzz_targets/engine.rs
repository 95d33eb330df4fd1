//! Any bytes as a sequence of frames through the engine with a small ruleset that uses
//! every buffer: decode, flows, stream window, HTTP parsing and verification never panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use sensor::config::Mode;
use sensor::detect::engine::{Engine, EngineConfig};
use sensor::detect::Ruleset;
use sensor::verdict::{PacketContext, PacketPolicy};

const RULES: &str = r#"
alert tcp any any -> any any (msg:"a"; content:"GET"; depth:3; content:"/x"; distance:0; sid:1;)
alert http any any -> any any (http.uri; content:"jndi"; nocase; http.header_names; content:"Host"; sid:2;)
reject tcp any any -> any any (msg:"r"; content:"evil"; pcre:"/e[v]il\d+/R"; sid:3;)
alert udp any any -> any 53 (content:"|00 01|"; offset:4; depth:2; isdataat:10,relative; sid:4;)
alert ip [10.0.0.0/8,!10.1.0.0/16] any -> any any (flowbits:set,x; flowbits:noalert; sid:5;)
alert tcp any any -> any any (flowbits:isset,x; file_data; content:"MZ"; http.stat_code; content:"200"; sid:6;)
"#;

fn ruleset() -> Arc<Ruleset> {
    static RS: OnceLock<Arc<Ruleset>> = OnceLock::new();
    RS.get_or_init(|| {
        let mut loaded = sensor::rules::Loaded::default();
        sensor::rules::load_text(
            RULES,
            "fuzz.rules",
            &sensor::rules::Vars::default(),
            &mut loaded,
        );
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        Arc::new(Ruleset::compile(loaded))
    })
    .clone()
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The first byte's low bit picks how the (tiny) full flow table behaves.
    let refuse = data.first().is_some_and(|b| b & 1 == 1);
    let config = EngineConfig {
        flow_capacity: 8,
        flow_exception_policy: if refuse {
            sensor::detect::settings::FlowExceptionPolicy::DropPacket
        } else {
            sensor::detect::settings::FlowExceptionPolicy::EvictOldest
        },
        stream_window: 64,
        mirror_alerted_flows: true,
        ..EngineConfig::standalone(Mode::Prevention)
    };
    let mut engine = Engine::new(ruleset(), config, None, 0);
    // Frames are length-prefixed (one byte) so one input is a short conversation.
    let mut rest = data;
    let mut n = 0u64;
    while let Some((&len, tail)) = rest.split_first() {
        let take = usize::from(len).min(tail.len());
        let (frame, next) = tail.split_at(take);
        n += 1;
        let ctx = PacketContext {
            port: 0,
            queue: 0,
            ts_us: n * 1000,
            pcap_cnt: Some(n),
        };
        let _ = engine.decide(frame, &ctx);
        engine.drain_replies(&mut |_, _| {});
        rest = next;
    }
});
