//! Measures the detection engine alone, without DPDK: the benchmark mix (the frames
//! `scripts/bench.sh` replays) decided in bursts of 32, pass after pass, as a worker
//! decides them. Each burst is first copied into one reused buffer, as `net_pcap` copies
//! frames into mbufs, so the engine reads frames that are in cache, as it does there.
//! Prints the time per packet of each pass and the best and median, less the copy's own
//! time (measured alone first), for the engine with no rules or with the rules given.
//! The datapath's cost (the device, mbufs, tx) is not in these figures: they isolate
//! the engine's per-packet work, and are steadier on a shared machine than the
//! end-to-end rate. Then it times two stages of the burst alone, the same way: decode,
//! and decode with the packet's facts and flow key and hash (`engine::locate`).
//!
//! With `TWO_WAY=1`, every second frame is turned around (MACs, addresses and ports
//! swapped, which keeps every checksum) so that half the packets go to the client, as
//! in real two-way traffic; the mix `scripts/bench.sh` replays sends every packet to the
//! server.
//!
//! With `MIX=realistic`, the frames are `SESSIONS` (default 4,000) whole sessions of
//! `testkit::realistic` instead (the `MIX=realistic` capture of `scripts/bench.sh`;
//! `PACKETS` and `FLOWS` are then unused). `ENCRYPTED=inspect` reads TLS ciphertext too
//! (`detect.encrypted_payload = "inspect"`). `BODY_LIMIT=N` keeps N decoded bytes of
//! each HTTP body (`http.request_body_limit` and `http.response_body_limit`).
//!
//!   cargo run --release -p sensor --example engine_rate -- [RULES...]
//!   PACKETS=100000 FLOWS=20000 PASSES=20 STREAM_WINDOW=1024 TWO_WAY=1 cargo run --release -p sensor --example engine_rate
//!   MIX=realistic SESSIONS=4000 cargo run --release -p sensor --example engine_rate -- RULES...

// A measuring tool, not the product: it stops with a message on a broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use sensor::config::Mode;
use sensor::decode::decode;
use sensor::decode::fast_path;
use sensor::detect::engine::{packet_facts, Engine, EngineConfig};
use sensor::detect::settings::EncryptedPayload;
use sensor::detect::Ruleset;
use sensor::flow::FlowLookup;
use sensor::rules::{self, Vars};
use sensor::verdict::{Decision, PacketContext, PacketPolicy};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let packets = env("PACKETS", 100_000);
    let flows = env("FLOWS", 20_000);
    let passes = env("PASSES", 20).max(1);
    let paths: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let realistic = std::env::var("MIX").is_ok_and(|m| m == "realistic");
    let mut frames = if realistic {
        testkit::realistic::mix(env("SESSIONS", 4000), 1)
    } else {
        testkit::traffic::bench_mix(packets, flows, 1)
    };
    if env("TWO_WAY", 0) == 1 {
        frames.iter_mut().skip(1).step_by(2).for_each(turn_around);
    }
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let ctxs: Vec<PacketContext> = (0..refs.len())
        .map(|i| PacketContext {
            port: 0,
            queue: 0,
            ts_us: 1_700_000_000_000_000 + i as u64,
            pcap_cnt: None,
        })
        .collect();
    let loaded = if paths.is_empty() {
        rules::Loaded::default()
    } else {
        rules::load(&paths, &Vars::default()).expect("rules")
    };
    println!("{} frames, {} rules", refs.len(), loaded.rules.len());
    let config = EngineConfig {
        stream_window: env(
            "STREAM_WINDOW",
            EngineConfig::standalone(Mode::Prevention).stream_window,
        ),
        encrypted_payload: if std::env::var("ENCRYPTED").is_ok_and(|v| v == "inspect") {
            EncryptedPayload::Inspect
        } else {
            EncryptedPayload::Skip
        },
        http: {
            let default = sensor::proto::http::messages::HttpConfig::default();
            sensor::proto::http::messages::HttpConfig {
                request_body_limit: env("BODY_LIMIT", default.request_body_limit),
                response_body_limit: env("BODY_LIMIT", default.response_body_limit),
                ..default
            }
        },
        ..EngineConfig::standalone(Mode::Prevention)
    };
    let mut engine = Engine::new(Arc::new(Ruleset::compile(loaded)), config, None, 0);
    let mut out = [Decision::PASS; 32];
    let mut staging = vec![[0u8; 2048]; 32];
    // Copies a burst into the staging buffers and returns them as frames.
    let stage = |staging: &mut Vec<[u8; 2048]>, frames: &[&[u8]]| -> usize {
        for (buf, f) in staging.iter_mut().zip(frames) {
            buf[..f.len()].copy_from_slice(f);
        }
        frames.len()
    };
    let copy_ns = {
        let start = Instant::now();
        for frames in refs.chunks(32) {
            std::hint::black_box(stage(&mut staging, frames));
        }
        start.elapsed().as_nanos() as f64 / refs.len() as f64
    };
    println!("copy alone: {copy_ns:.1} ns/packet (subtracted below)");
    let mut times = Vec::with_capacity(passes);
    for pass in 0..passes {
        let start = Instant::now();
        for (frames, ctxs) in refs.chunks(32).zip(ctxs.chunks(32)) {
            let n = stage(&mut staging, frames);
            let staged: Vec<&[u8]> = staging[..n]
                .iter()
                .zip(frames)
                .map(|(buf, f)| &buf[..f.len()])
                .collect();
            engine.decide_burst(&staged, ctxs, &mut out[..n]);
        }
        let ns = start.elapsed().as_nanos() as f64 / refs.len() as f64 - copy_ns;
        println!("pass {pass:2}: {ns:7.1} ns/packet");
        // The first pass creates the flows; the rest find them, as in the benchmark.
        if pass > 0 {
            times.push(ns);
        }
    }
    let decided = (refs.len() * passes) as f64;
    println!(
        "candidates per packet {:.2}, alerts per packet {:.4}",
        engine.counters.candidates as f64 / decided,
        engine.counters.alerts as f64 / decided
    );
    times.sort_by(f64::total_cmp);
    if let (Some(best), Some(median)) = (times.first(), times.get(times.len() / 2)) {
        println!("engine: best {best:.1} ns/packet, median {median:.1} ns/packet");
    }
    // The burst's first stages alone, best of the passes, less the copy.
    let stage_ns = |staging: &mut Vec<[u8; 2048]>, work: &dyn Fn(&[u8], &PacketContext)| {
        let mut best = f64::MAX;
        for _ in 0..passes {
            let start = Instant::now();
            for (frames, ctxs) in refs.chunks(32).zip(ctxs.chunks(32)) {
                stage(staging, frames);
                for ((buf, f), ctx) in staging.iter().zip(frames).zip(ctxs) {
                    work(&buf[..f.len()], ctx);
                }
            }
            best = best.min(start.elapsed().as_nanos() as f64 / refs.len() as f64 - copy_ns);
        }
        best
    };
    let decode_ns = stage_ns(&mut staging, &|frame, _| {
        let _ = black_box(decode(frame));
    });
    let locate_ns = stage_ns(&mut staging, &|frame, ctx| {
        if let Ok(p) = decode(frame) {
            black_box(packet_facts(&p, ctx.ts_us).map(|f| FlowLookup::of(&f)));
        }
    });
    let header_ns = stage_ns(&mut staging, &|frame, _| {
        black_box(fast_path::read(frame).map(|h| FlowLookup::of_header(&h)));
    });
    println!(
        "stages: decode {decode_ns:.1} ns/packet, decode and flow key {locate_ns:.1} ns/packet, \
         header fast path and flow key {header_ns:.1} ns/packet"
    );
}

/// Swaps a frame's MACs, IP addresses and (for TCP and UDP) ports in place: the same flow
/// the other way. Sums are commutative, so the IP and transport checksums stay valid.
fn turn_around(frame: &mut Vec<u8>) {
    let Ok(p) = decode(frame) else { return };
    let l3 = p.l3_offset;
    let (addr, len, l4) = match p.network {
        sensor::decode::Network::Ipv4 { .. } => {
            (l3 + 12, 4, l3 + usize::from(frame[l3] & 0x0f) * 4)
        }
        sensor::decode::Network::Ipv6 { .. } => (l3 + 8, 16, l3 + 40),
        sensor::decode::Network::Other(_) => return,
    };
    let has_ports = p.ports().is_some();
    let swap = |f: &mut Vec<u8>, at: usize, len: usize| {
        let (a, b) = f[at..at + 2 * len].split_at_mut(len);
        a.swap_with_slice(b);
    };
    swap(frame, 0, 6);
    swap(frame, addr, len);
    if has_ports {
        swap(frame, l4, 2);
    }
}
