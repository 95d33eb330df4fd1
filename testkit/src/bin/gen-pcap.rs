//! `gen-pcap mix PACKETS FLOWS OUT [SEED]`: writes a throughput mix (see `traffic::bench_mix`).
//! `gen-pcap fidelity PACKETS OUT [SEED]`: writes the bridge-fidelity mix.

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
        _ => {
            eprintln!("usage: gen-pcap mix PACKETS FLOWS OUT [SEED] | gen-pcap fidelity PACKETS OUT [SEED]");
            std::process::exit(2);
        }
    }
}
