//! `gen-pcap mix PACKETS FLOWS OUT [SEED]`: writes a throughput mix (see `traffic::bench_mix`).
//! `gen-pcap fidelity PACKETS OUT [SEED]`: writes the bridge-fidelity mix.
//! `gen-pcap demo EXPLOIT_PCAP OUT`: the shipped demo capture: the first 40 packets of an
//! exploit capture (excerpt) interleaved with 800 frames of the fidelity mix, then DNS:
//! queries and answers for ordinary names, queries for names on the demo block list
//! (`scripts/demo-blocklist.txt`), and tunnel-shaped NULL queries with long names.
//! `gen-pcap dns PACKETS BENIGN_NAMES LISTED_NAMES LISTED_PERCENT OUT [SEED]`: the DNS-only
//! mix (see `dns::mix`), names read one per line from the two files.
//! `gen-pcap hosts HOSTS OUT`: per host (10.64.0.0 upward) a DNS lookup answered by a
//! resolver and a TCP SYN to a web server, for sizing per-host baselines.
//! `gen-pcap keywords OUT`: the keyword capture of the Suricata comparison
//! (`testkit::keyword_capture`).
//! `gen-pcap evasion DIR`: the evasion corpus (`testkit::evasion`), one capture per case
//! (`DIR/NAME.pcap`) and its rules (`DIR/evasion.rules`).
//! `gen-pcap realistic SESSIONS OUT [SEED]`: the realistic benchmark mix (whole HTTP, TLS,
//! DNS sessions; see `testkit::realistic`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |s: &String| s.parse::<usize>().expect("a number");
    match args.first().map(String::as_str) {
        Some("mix") if args.len() >= 4 => {
            let seed = args.get(4).map_or(1, |s| num(s) as u64);
            let frames = testkit::traffic::bench_mix(num(&args[1]), num(&args[2]), seed);
            testkit::pcap::write(std::path::Path::new(&args[3]), &frames);
        }
        Some("realistic") if args.len() >= 3 => {
            let seed = args.get(3).map_or(1, |s| num(s) as u64);
            let frames = testkit::realistic::mix(num(&args[1]), seed);
            testkit::pcap::write(std::path::Path::new(&args[2]), &frames);
        }
        Some("fidelity") if args.len() >= 3 => {
            let seed = args.get(3).map_or(1, |s| num(s) as u64);
            let frames = testkit::traffic::fidelity_mix(num(&args[1]), seed);
            testkit::pcap::write(std::path::Path::new(&args[2]), &frames);
        }
        Some("demo") if args.len() >= 3 => {
            let excerpt = testkit::pcap::read(std::path::Path::new(&args[1]));
            let background = testkit::traffic::fidelity_mix(800, 7);
            let mut frames = Vec::new();
            let mut exploit = excerpt.into_iter().take(40);
            for (i, f) in background.into_iter().enumerate() {
                frames.push(f);
                if i % 20 == 19 {
                    frames.extend(exploit.next());
                }
            }
            frames.extend(exploit);
            frames.extend(demo_dns());
            testkit::pcap::write(std::path::Path::new(&args[2]), &frames);
        }
        Some("dns") if args.len() >= 6 => {
            let names = |p: &String| -> Vec<String> {
                std::fs::read_to_string(p)
                    .expect("a names file")
                    .lines()
                    .filter_map(|l| l.split([',', ' ', '\t']).find(|t| t.contains('.')))
                    .map(str::to_owned)
                    .collect()
            };
            let seed = args.get(6).map_or(1, |s| num(s) as u64);
            let share = num(&args[4]) as f64 / 100.0;
            let frames = testkit::dns::mix(
                num(&args[1]),
                &names(&args[2]),
                &names(&args[3]),
                share,
                seed,
            );
            testkit::pcap::write(std::path::Path::new(&args[5]), &frames);
        }
        Some("hosts") if args.len() >= 3 => {
            testkit::pcap::write(std::path::Path::new(&args[2]), &hosts(num(&args[1])));
        }
        Some("evasion") if args.len() >= 2 => {
            let dir = std::path::Path::new(&args[1]);
            std::fs::create_dir_all(dir).expect("create the directory");
            for (name, frames) in testkit::evasion::cases() {
                testkit::pcap::write(&dir.join(format!("{name}.pcap")), &frames);
            }
            std::fs::write(dir.join("evasion.rules"), testkit::evasion::RULES)
                .expect("write the rules");
        }
        Some("keywords") if args.len() >= 2 => {
            let frames = testkit::keyword_capture::frames();
            testkit::pcap::write_timed(std::path::Path::new(&args[1]), &frames);
        }
        _ => {
            eprintln!("usage: gen-pcap mix PACKETS FLOWS OUT [SEED] | gen-pcap fidelity PACKETS OUT [SEED] | gen-pcap demo EXPLOIT_PCAP OUT | gen-pcap dns PACKETS BENIGN LISTED PERCENT OUT [SEED] | gen-pcap hosts HOSTS OUT | gen-pcap keywords OUT | gen-pcap evasion DIR | gen-pcap realistic SESSIONS OUT [SEED]");
            std::process::exit(2);
        }
    }
}

/// The DNS part of the demo capture.
fn demo_dns() -> Vec<Vec<u8>> {
    use testkit::dns::{message, udp};
    let client: std::net::IpAddr = [10, 0, 5, 23].into();
    let resolver: std::net::IpAddr = [10, 0, 0, 53].into();
    let mut frames = Vec::new();
    let mut exchange = |id: u16, name: &str, qtype: u16, answer: Option<[u8; 4]>| {
        let port = 30000 + id;
        frames.push(udp(
            client,
            port,
            resolver,
            53,
            &[],
            &message(id, false, 0, name, qtype, &[], 0),
        ));
        if let Some(a) = answer {
            let answers = [std::net::IpAddr::from(a)];
            frames.push(udp(
                resolver,
                53,
                client,
                port,
                &[],
                &message(id, true, 0, name, qtype, &answers, 300),
            ));
        }
    };
    for (i, name) in [
        "www.debian.org",
        "deb.debian.org",
        "github.com",
        "crates.io",
    ]
    .iter()
    .enumerate()
    {
        exchange(i as u16 + 1, name, 1, Some([192, 0, 2, 10 + i as u8]));
    }
    // On the demo block list: answered NXDOMAIN by the sensor in prevention.
    exchange(11, "update.malware-c2.example", 1, None);
    exchange(12, "x7kq2.dga-demo.test", 1, None);
    // Tunnel-shaped: NULL records, data in long labels.
    for i in 0..3u16 {
        let mut label = format!(
            "{:016x}",
            0x1234_5678_9abc_def0u64.wrapping_mul(u64::from(i) + 7)
        )
        .repeat(4);
        label.truncate(60);
        exchange(
            20 + i,
            &format!("{label}.{label}.t.tunnel-demo.test"),
            10,
            None,
        );
    }
    frames
}

/// `n` hosts, each resolving a name and opening a connection.
fn hosts(n: usize) -> Vec<Vec<u8>> {
    use testkit::dns::{message, tcp, udp};
    let resolver: std::net::IpAddr = [10, 0, 0, 53].into();
    let mut frames = Vec::with_capacity(3 * n);
    for i in 0..n {
        let host = std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0a40_0000 + i as u32));
        let name = format!("www.site{}.example", i % 5000);
        let id = (i % 60_000) as u16;
        frames.push(udp(
            host,
            20_000 + id,
            resolver,
            53,
            &[],
            &message(id, false, 0, &name, 1, &[], 0),
        ));
        let web: std::net::IpAddr = [192, 0, 2, (i % 250) as u8 + 1].into();
        frames.push(udp(
            resolver,
            53,
            host,
            20_000 + id,
            &[],
            &message(id, true, 0, &name, 1, &[web], 300),
        ));
        frames.push(tcp((host, 40_000), (web, 443), 1, 0, "S", &[]));
    }
    frames
}
