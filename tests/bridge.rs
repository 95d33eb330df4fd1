//! Bridge fidelity on the real sensor binary over DPDK's `net_pcap` devices: prevention
//! forwards every frame unchanged and in order, detection transmits nothing, the address
//! policy drops exactly one host's packets, both directions of a bridge work at once, and
//! mirroring sends refcounted copies without disturbing the forwarded stream.

// A test fails by panicking: unwrap, expect and panic are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use etherparse::{NetSlice, SlicedPacket};
use testkit::process::{port_sum, replay, test_eal_args, Running};
use testkit::{pcap, traffic};

const SENSOR: &str = env!("CARGO_BIN_EXE_sensor");
const PACKETS: usize = 12_000;

fn addresses(frame: &[u8]) -> Option<(IpAddr, IpAddr)> {
    let sliced = SlicedPacket::from_ethernet(frame).ok()?;
    match sliced.net? {
        NetSlice::Ipv4(v4) => Some((
            v4.header().source_addr().into(),
            v4.header().destination_addr().into(),
        )),
        NetSlice::Ipv6(v6) => Some((
            v6.header().source_addr().into(),
            v6.header().destination_addr().into(),
        )),
    }
}

fn involves(frame: &[u8], host: IpAddr) -> bool {
    addresses(frame).is_some_and(|(s, d)| s == host || d == host)
}

#[test]
fn prevention_forwards_every_frame_unchanged_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in.pcap"), dir.path().join("out.pcap"));
    let frames = traffic::fidelity_mix(PACKETS, 42);
    assert!(
        frames.iter().filter(|f| addresses(f).is_none()).count() > 10,
        "mix has malformed frames"
    );
    pcap::write(&input, &frames);

    let run = replay(SENSOR, &input, "prevention", &out, &[]);
    let forwarded = pcap::read(&out);
    assert_eq!(forwarded.len(), frames.len());
    for (i, (got, want)) in forwarded.iter().zip(&frames).enumerate() {
        assert_eq!(got, want, "frame {i} differs");
    }
    let stats = run.final_stats();
    assert_eq!(stats["ports"][0]["rx"], PACKETS as u64);
    assert_eq!(stats["ports"][1]["tx"], PACKETS as u64);
    assert_eq!(stats["ports"][1]["device_opackets"], PACKETS as u64);
    assert_eq!(port_sum(&stats, "tx_failures"), 0);
    assert_eq!(stats["mempool"]["in_use"], 0);
}

#[test]
fn detection_transmits_nothing_and_counters_match() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in.pcap"), dir.path().join("out.pcap"));
    let reply = dir.path().join("reply.pcap");
    pcap::write(&input, &traffic::fidelity_mix(PACKETS, 43));

    let run = replay(
        SENSOR,
        &input,
        "detection",
        &out,
        &["--reply-out", reply.to_str().unwrap()],
    );
    assert!(pcap::read(&out).is_empty());
    assert!(pcap::read(&reply).is_empty());
    let stats = run.final_stats();
    assert_eq!(stats["mode"], "detection");
    assert_eq!(port_sum(&stats, "rx"), PACKETS as u64);
    assert_eq!(port_sum(&stats, "device_ipackets"), PACKETS as u64);
    assert_eq!(port_sum(&stats, "tx"), 0);
    assert_eq!(port_sum(&stats, "device_opackets"), 0);
    assert_eq!(stats["workers"][0]["packets"], PACKETS as u64);
    assert_eq!(stats["mempool"]["in_use"], 0);
}

#[test]
fn drop_by_address_drops_exactly_the_listed_host() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in.pcap"), dir.path().join("out.pcap"));
    let frames = traffic::fidelity_mix(PACKETS, 44);
    pcap::write(&input, &frames);
    let host: IpAddr = "10.0.0.7".parse().unwrap();
    let expected: Vec<&Vec<u8>> = frames.iter().filter(|f| !involves(f, host)).collect();
    let dropped = frames.len() - expected.len();
    assert!(
        dropped > 50,
        "the mix must exercise the host ({dropped} packets)"
    );

    let run = replay(
        SENSOR,
        &input,
        "prevention",
        &out,
        &["--set", "policy.drop_addresses=[\"10.0.0.7\"]"],
    );
    let forwarded = pcap::read(&out);
    assert_eq!(forwarded.len(), expected.len());
    assert!(forwarded.iter().zip(&expected).all(|(a, b)| a == *b));
    assert_eq!(
        run.final_stats()["ports"][0]["policy_drops"],
        dropped as u64
    );
}

/// A config for two pcap ports bridged to each other, plus an optional mirror.
fn bridge_config(
    dir: &Path,
    a_in: &Path,
    b_in: &Path,
    mirror: bool,
    extra: &str,
) -> std::path::PathBuf {
    let empty = dir.join("empty.pcap");
    pcap::write(&empty, &[]);
    let mut vdevs = vec![
        format!(
            "net_pcap_a,rx_pcap={},tx_pcap={}",
            a_in.display(),
            dir.join("a_out.pcap").display()
        ),
        format!(
            "net_pcap_b,rx_pcap={},tx_pcap={}",
            b_in.display(),
            dir.join("b_out.pcap").display()
        ),
    ];
    if mirror {
        vdevs.push(format!(
            "net_pcap_m,rx_pcap={},tx_pcap={}",
            empty.display(),
            dir.join("mirror.pcap").display()
        ));
    }
    let config = format!(
        "mode = \"prevention\"\nstats_interval_secs = 0.05\n[eal]\nargs = {}\n[ports]\nbridge = [[\"net_pcap_a\", \"net_pcap_b\"]]\n{}\n{extra}\n",
        test_eal_args(&vdevs),
        if mirror { "mirror = \"net_pcap_m\"" } else { "" },
    );
    let path = dir.join("sensor.toml");
    std::fs::write(&path, config).unwrap();
    path
}

fn run_until_consumed(config: &Path, a: u64, b: u64) -> serde_json::Value {
    let mut sensor = Running::start(SENSOR, &["run", "--config", config.to_str().unwrap()]);
    sensor.wait_for_stats(Duration::from_secs(60), |s| {
        s["ports"][0]["rx"] == a && s["ports"][1]["rx"] == b
    });
    let done = sensor.terminate();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    done.final_stats()
}

#[test]
fn both_directions_each_output_equals_the_other_input() {
    let dir = tempfile::tempdir().unwrap();
    let (a_in, b_in) = (dir.path().join("a_in.pcap"), dir.path().join("b_in.pcap"));
    let a_frames = traffic::fidelity_mix(3000, 1);
    let b_frames = traffic::fidelity_mix(2000, 2);
    pcap::write(&a_in, &a_frames);
    pcap::write(&b_in, &b_frames);
    let config = bridge_config(dir.path(), &a_in, &b_in, false, "");

    let stats = run_until_consumed(&config, 3000, 2000);
    assert_eq!(pcap::read(&dir.path().join("b_out.pcap")), a_frames);
    assert_eq!(pcap::read(&dir.path().join("a_out.pcap")), b_frames);
    assert_eq!(stats["ports"][0]["tx"], 2000);
    assert_eq!(stats["ports"][1]["tx"], 3000);
    assert_eq!(stats["mempool"]["in_use"], 0);
}

/// Runs `frames` through a bridge that mirrors 10.0.0.9's packets; checks that the
/// bridge forwarded every frame and the mirror got exactly 10.0.0.9's, byte for byte, and
/// that every mbuf came back. Returns the mirrored frames and the final stats.
fn mirror_host_9(frames: &[Vec<u8>]) -> (Vec<Vec<u8>>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let (a_in, b_in) = (dir.path().join("a_in.pcap"), dir.path().join("b_in.pcap"));
    pcap::write(&a_in, frames);
    pcap::write(&b_in, &[]);
    let host: IpAddr = "10.0.0.9".parse().unwrap();
    let flagged: Vec<Vec<u8>> = frames
        .iter()
        .filter(|f| involves(f, host))
        .cloned()
        .collect();
    assert!(!flagged.is_empty());
    let config = bridge_config(
        dir.path(),
        &a_in,
        &b_in,
        true,
        "[policy]\nmirror_addresses = [\"10.0.0.9\"]",
    );

    let stats = run_until_consumed(&config, frames.len() as u64, 0);
    assert_eq!(pcap::read(&dir.path().join("b_out.pcap")), frames);
    assert_eq!(pcap::read(&dir.path().join("mirror.pcap")), flagged);
    assert_eq!(stats["ports"][2]["role"], "mirror");
    assert_eq!(stats["ports"][2]["tx"], flagged.len() as u64);
    assert_eq!(port_sum(&stats, "tx_failures"), 0);
    assert_eq!(stats["mempool"]["in_use"], 0, "shared mbufs all returned");
    (flagged, stats)
}

#[test]
fn mirror_copies_flagged_packets_and_forwards_everything() {
    mirror_host_9(&traffic::fidelity_mix(4000, 3));
}

/// Frames from and to `host` of each size in `sizes`, TCP and UDP in turn. A size past
/// what an IP packet can hold is a 65,000-byte frame padded to it.
fn frames_of_host(host: &str, sizes: &[usize]) -> Vec<Vec<u8>> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let (src, dst) = if i % 2 == 0 {
                (host, "10.0.0.1")
            } else {
                ("10.0.0.1", host)
            };
            let spec = traffic::FrameSpec {
                vlans: if i % 3 == 0 { vec![7] } else { vec![] },
                src: src.parse().unwrap(),
                dst: dst.parse().unwrap(),
                l4: if i % 2 == 0 {
                    traffic::L4::Tcp
                } else {
                    traffic::L4::Udp
                },
                sport: 40_000 + i as u16,
                dport: 80,
                size: size.min(65_000),
            };
            let mut frame =
                traffic::build_with(&spec, |len| (0..len).map(|b| (b * 7 + i) as u8).collect());
            frame.resize(size, 0xab);
            frame
        })
        .collect()
}

#[test]
fn mirroring_chained_jumbo_frames_copies_them_whole_and_returns_every_mbuf() {
    // net_pcap chains a frame longer than the 2 KiB data room over several mbufs; the
    // mirror's reference must hold every segment, or freeing the chain twice crashes.
    let jumbo = frames_of_host("10.0.0.9", &[9000, 9018, 4000, 16_128, 2200, 9000]);
    let mut frames = Vec::new();
    for (i, f) in traffic::fidelity_mix(3000, 5).into_iter().enumerate() {
        frames.push(f);
        if i % 10 == 0 {
            frames.push(jumbo[i / 10 % jumbo.len()].clone());
        }
    }
    let (flagged, _) = mirror_host_9(&frames);
    assert!(flagged.iter().filter(|f| f.len() > 8000).count() > 100);
}

#[test]
fn replay_refuses_frames_net_pcap_cannot_carry_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.pcap");
    let replay_of = |sizes: &[usize], mode: &str| {
        let input = dir.path().join("in.pcap");
        pcap::write(&input, &frames_of_host("10.0.0.9", sizes));
        testkit::process::run(
            SENSOR,
            &[
                "replay",
                "--pcap",
                input.to_str().unwrap(),
                "--mode",
                mode,
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };
    let refused = |f: &testkit::process::Finished, needle: &str| {
        assert_eq!(f.code, Some(2), "{}", f.stderr);
        assert!(f.stderr.contains(needle), "{}", f.stderr);
        assert!(f.stdout.is_empty(), "nothing replayed: {}", f.stdout);
    };
    // Longer than net_pcap reads whole: refused in either mode (it crashed in transmit).
    for mode in ["prevention", "detection"] {
        refused(
            &replay_of(&[100, 67_700, 100], mode),
            "packet 2 is 67700 bytes; DPDK's net_pcap reads frames of at most 65535",
        );
    }
    // Longer than net_pcap writes whole: the bridge could not forward it as read.
    refused(
        &replay_of(&[100, 200, 20_000], "prevention"),
        "packet 3 is 20000 bytes; DPDK's net_pcap writes at most 16128",
    );
    // Detection transmits nothing, so such a frame is inspected as usual.
    let f = replay_of(&[100, 200, 20_000], "detection");
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert_eq!(f.final_stats()["ports"][0]["rx"], 3);
    // The largest frame net_pcap writes whole is forwarded byte for byte.
    let frames = frames_of_host("10.0.0.9", &[16_128, 60, 9000]);
    let input = dir.path().join("max.pcap");
    pcap::write(&input, &frames);
    replay(SENSOR, &input, "prevention", &out, &[]);
    assert_eq!(pcap::read(&out), frames);
}
