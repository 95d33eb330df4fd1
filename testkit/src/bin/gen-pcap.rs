//! `gen-pcap mix PACKETS FLOWS OUT [SEED]`: writes a throughput mix (see `traffic::bench_mix`).
//! `gen-pcap fidelity PACKETS OUT [SEED]`: writes the bridge-fidelity mix.
//! `gen-pcap demo EXPLOIT_PCAP OUT`: the shipped demo capture: the first 40 packets of an
//! exploit capture (excerpt) interleaved with 800 frames of the fidelity mix.
//! `gen-pcap dns PACKETS BENIGN_NAMES LISTED_NAMES LISTED_PERCENT OUT [SEED]`: the DNS-only
//! mix (see `dns::mix`), names read one per line from the two files.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |s: &String| s.parse::<usize>().expect("a number");
    match args.first().map(String::as_str) {
        Some("mix") if args.len() >= 4 => {
            let seed = args.get(4).map_or(1, |s| num(s) as u64);
            let frames = testkit::traffic::bench_mix(num(&args[1]), num(&args[2]), seed);
            testkit::pcap::write(std::path::Path::new(&args[3]), &frames);
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
        _ => {
            eprintln!("usage: gen-pcap mix PACKETS FLOWS OUT [SEED] | gen-pcap fidelity PACKETS OUT [SEED] | gen-pcap demo EXPLOIT_PCAP OUT | gen-pcap dns PACKETS BENIGN LISTED PERCENT OUT [SEED]");
            std::process::exit(2);
        }
    }
}
