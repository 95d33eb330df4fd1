//! Building a reassembled datagram as one frame: the first fragment's link and IP
//! headers (IPv6: without the fragment header), then the payload with overlaps resolved
//! by the policy, the lengths and the IPv4 checksum made to fit.

use super::OverlapPolicy;
use crate::decode::{FragFields, Network, Packet};

/// The first fragment's bytes before its data, and where to patch them.
#[derive(Debug, Clone)]
pub(super) struct Head {
    bytes: Vec<u8>,
    l3: usize,
    /// IPv6: the fragment header's next header, and where the field that named the
    /// fragment header is (it names the payload's protocol in the datagram).
    ipv6: Option<(u8, usize)>,
}

impl Head {
    /// The head of `pkt`, a first fragment.
    pub(super) fn of(pkt: &Packet<'_>, frag: &FragFields) -> Head {
        match pkt.network {
            Network::Ipv6 { .. } => Head {
                bytes: pkt.frame[..frag.header_at].to_vec(),
                l3: pkt.l3_offset,
                ipv6: Some((pkt.frame[frag.header_at], frag.next_header_at)),
            },
            _ => Head {
                bytes: pkt.frame[..frag.data_at].to_vec(),
                l3: pkt.l3_offset,
                ipv6: None,
            },
        }
    }
}

/// How many bytes of fragment data `pkt` carries by its IP length (the frame may be
/// longer, padded, or shorter, cut by a capture).
pub(super) fn data_len(pkt: &Packet<'_>, frag: &FragFields) -> usize {
    let ip = &pkt.frame[pkt.l3_offset..];
    let end = match pkt.network {
        Network::Ipv6 { .. } => 40 + usize::from(u16::from_be_bytes([ip[4], ip[5]])),
        _ => usize::from(u16::from_be_bytes([ip[2], ip[3]])),
    };
    (pkt.l3_offset + end).saturating_sub(frag.data_at)
}

/// The reassembled frame, its buffers reused from datagram to datagram.
#[derive(Debug, Default)]
pub(super) struct Builder {
    frame: Vec<u8>,
    /// For each payload byte, the index of the piece whose data it holds.
    owner: Vec<u32>,
    /// Each piece's start and end.
    spans: Vec<(u32, u32)>,
}

const NONE: u32 = u32::MAX;

impl Builder {
    /// The frame last built.
    pub(super) fn frame(&self) -> &[u8] {
        &self.frame
    }

    /// Builds the datagram of `head` with `end` payload bytes from `pieces` (offset and
    /// data, in arrival order), which cover it.
    pub(super) fn build<'p>(
        &mut self,
        head: &Head,
        end: u32,
        pieces: impl Iterator<Item = (u32, &'p [u8])>,
        policy: OverlapPolicy,
    ) {
        let end = end as usize;
        let base = head.bytes.len();
        self.frame.clear();
        self.frame.extend_from_slice(&head.bytes);
        self.frame.resize(base + end, 0);
        self.owner.clear();
        self.owner.resize(end, NONE);
        self.spans.clear();
        for (i, (offset, data)) in pieces.enumerate() {
            let span = (offset, offset + data.len() as u32);
            self.spans.push(span);
            let from = offset as usize;
            for (p, &b) in (from..end).zip(data) {
                let o = self.owner[p];
                if o == NONE || policy.new_wins(span, self.spans[o as usize]) {
                    self.frame[base + p] = b;
                    self.owner[p] = i as u32;
                }
            }
        }
        let l3 = head.l3;
        match head.ipv6 {
            Some((next, next_at)) => {
                self.frame[next_at] = next;
                let len = (base - l3 - 40 + end) as u16;
                self.frame[l3 + 4..l3 + 6].copy_from_slice(&len.to_be_bytes());
            }
            None => {
                let ip = &mut self.frame[l3..base];
                let total = (ip.len() + end) as u16;
                ip[2..4].copy_from_slice(&total.to_be_bytes());
                // Keep "don't fragment"; clear "more fragments" and the offset.
                ip[6] &= 0x40;
                ip[7] = 0;
                ip[10] = 0;
                ip[11] = 0;
                let sum = checksum(ip);
                ip[10..12].copy_from_slice(&sum.to_be_bytes());
            }
        }
    }
}

/// The Internet checksum of `bytes`.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
