//! Reading and writing classic pcap files (Ethernet link type).

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::DataLink;

/// Writes `frames` as a pcap file, one microsecond apart starting at `start_secs`.
pub fn write(path: &Path, frames: &[Vec<u8>]) {
    write_at(path, frames, 1_700_000_000);
}

/// Like [`write`] with an explicit first timestamp (seconds since the epoch).
pub fn write_at(path: &Path, frames: &[Vec<u8>], start_secs: u64) {
    let mut w = create(path);
    for (i, f) in frames.iter().enumerate() {
        let ts = Duration::from_secs(start_secs) + Duration::from_micros(i as u64);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .expect("write packet");
    }
}

/// Reads every frame of a pcap file, in order.
pub fn read(path: &Path) -> Vec<Vec<u8>> {
    read_timed(path).into_iter().map(|(_, f)| f).collect()
}

/// Reads every frame of a pcap file with its time (microseconds since the epoch).
pub fn read_timed(path: &Path) -> Vec<(u64, Vec<u8>)> {
    let file =
        BufReader::new(File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    let mut r = PcapReader::new(file).expect("pcap header");
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.expect("pcap record");
        out.push((p.timestamp.as_micros() as u64, p.data.into_owned()));
    }
    out
}

/// Reads a capture as Ethernet frames with their times: a raw-IP capture's packets
/// (link types RAW, IPV4, IPV6, as suricata-verify's are) get an Ethernet header carrying
/// their IP version's EtherType, so `net_pcap` and the engine read them.
pub fn read_as_ethernet(path: &Path) -> Vec<(u64, Vec<u8>)> {
    let file =
        BufReader::new(File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    let r = PcapReader::new(file).expect("pcap header");
    let raw = matches!(
        r.header().datalink,
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6
    );
    let frames = read_timed(path);
    if !raw {
        return frames;
    }
    frames
        .into_iter()
        .map(|(us, ip)| {
            let ethertype: [u8; 2] = if ip.first().is_some_and(|b| b >> 4 == 6) {
                [0x86, 0xdd]
            } else {
                [0x08, 0x00]
            };
            let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
            f.extend_from_slice(&ethertype);
            f.extend_from_slice(&ip);
            (us, f)
        })
        .collect()
}

/// Writes `(time in microseconds since the epoch, frame)` pairs as a pcap file.
pub fn write_timed(path: &Path, frames: &[(u64, Vec<u8>)]) {
    let mut w = create(path);
    for (us, f) in frames {
        w.write_packet(&PcapPacket::new(
            Duration::from_micros(*us),
            f.len() as u32,
            f,
        ))
        .expect("write packet");
    }
}

/// A new Ethernet pcap file at `path` with its header written. Its snap length is
/// libpcap's largest for Ethernet, so tests can write frames longer than 65,535 bytes
/// (as captures taken with receive offloads hold).
fn create(path: &Path) -> PcapWriter<BufWriter<File>> {
    let file = BufWriter::new(File::create(path).expect("create pcap"));
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        snaplen: 262_144,
        ..Default::default()
    };
    PcapWriter::with_header(file, header).expect("pcap header")
}
