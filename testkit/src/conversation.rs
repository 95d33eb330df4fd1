//! Whole TCP conversations as frames: the handshake, data either way with the peer's
//! acknowledgement, out-of-order data, the close; over IPv4 or IPv6, with or without an
//! 802.1Q tag. Sequence numbers, acknowledgements and checksums are right, so a
//! reassembling IDS (Suricata) reads the stream the sensor reads.

use std::net::{IpAddr, SocketAddr};

use etherparse::{PacketBuilder, VlanId};

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// A TCP conversation being built, frame by frame.
pub struct TcpConversation {
    client: SocketAddr,
    server: SocketAddr,
    vlan: Option<u16>,
    /// Next sequence number of the client and of the server.
    next: [u32; 2],
    frames: Vec<Vec<u8>>,
}

impl TcpConversation {
    /// Opens a connection from `client` to `server` (both v4 or both v6), tagged with
    /// `vlan` if given: SYN, SYN-ACK, ACK.
    pub fn open(client: SocketAddr, server: SocketAddr, vlan: Option<u16>) -> Self {
        let mut c = TcpConversation {
            client,
            server,
            vlan,
            next: [101, 501],
            frames: Vec::new(),
        };
        c.push(true, SYN, 100);
        c.push(false, SYN | ACK, 500);
        c.push(true, ACK, 101);
        c
    }

    /// A data segment (PSH, ACK) from the client (`to_server`) or the server, then the
    /// peer's acknowledgement of it.
    pub fn send(mut self, to_server: bool, payload: &[u8]) -> Self {
        let seq = self.next[side(to_server)];
        self.data(to_server, seq, payload);
        self.next[side(to_server)] = seq.wrapping_add(payload.len() as u32);
        self.push(!to_server, ACK, self.next[side(!to_server)]);
        self
    }

    /// `first` and `second` as two segments sent in the wrong order (`second` first, a
    /// gap before it), then the peer's acknowledgement of both.
    pub fn send_out_of_order(mut self, to_server: bool, first: &[u8], second: &[u8]) -> Self {
        let seq = self.next[side(to_server)];
        self.data(to_server, seq.wrapping_add(first.len() as u32), second);
        self.data(to_server, seq, first);
        self.next[side(to_server)] = seq.wrapping_add((first.len() + second.len()) as u32);
        self.push(!to_server, ACK, self.next[side(!to_server)]);
        self
    }

    /// `payload` from the client (`to_server`) or the server as segments of at most
    /// `mss` bytes, the peer acknowledging every second one and the last (delayed ACKs).
    pub fn send_stream(mut self, to_server: bool, payload: &[u8], mss: usize) -> Self {
        for (i, chunk) in payload.chunks(mss.max(1)).enumerate() {
            let seq = self.next[side(to_server)];
            self.data(to_server, seq, chunk);
            self.next[side(to_server)] = seq.wrapping_add(chunk.len() as u32);
            let last = (i + 1) * mss.max(1) >= payload.len();
            if i % 2 == 1 || last {
                self.push(!to_server, ACK, self.next[side(!to_server)]);
            }
        }
        self
    }

    /// `payload` from the client (`to_server`) or the server cut into `n`-byte segments
    /// sent in `order` (indices of the pieces; a piece may repeat, one may be left out),
    /// then the peer's acknowledgement of the whole.
    pub fn send_reordered(
        mut self,
        to_server: bool,
        payload: &[u8],
        n: usize,
        order: &[usize],
    ) -> Self {
        let start = self.next[side(to_server)];
        let pieces: Vec<&[u8]> = payload.chunks(n.max(1)).collect();
        for &i in order {
            let seq = start.wrapping_add((i * n.max(1)) as u32);
            self.data(to_server, seq, pieces[i]);
        }
        self.next[side(to_server)] = start.wrapping_add(payload.len() as u32);
        self.push(!to_server, ACK, self.next[side(!to_server)]);
        self
    }

    /// A data segment carrying `payload` at `offset` bytes past the next sequence number
    /// of the client (`to_server`) or the server, without moving it (data sent again,
    /// overlapping, or other bytes where some were already sent).
    pub fn send_at(mut self, to_server: bool, offset: i64, payload: &[u8]) -> Self {
        let seq = (i64::from(self.next[side(to_server)]) + offset) as u32;
        self.data(to_server, seq, payload);
        self
    }

    /// Opens a connection whose SYN carries `payload` (TCP Fast Open): SYN with data,
    /// SYN-ACK acknowledging it, ACK.
    pub fn open_fast(client: SocketAddr, server: SocketAddr, payload: &[u8]) -> Self {
        let mut c = TcpConversation {
            client,
            server,
            vlan: None,
            next: [101 + payload.len() as u32, 501],
            frames: Vec::new(),
        };
        let syn = c.segment(true, SYN, 100, payload);
        c.frames.push(syn);
        c.push(false, SYN | ACK, 500);
        c.push(true, ACK, c.next[0]);
        c
    }

    /// Aborts with a RST from the client (`from_client`) or the server that carries
    /// `payload`.
    pub fn reset_with(mut self, from_client: bool, payload: &[u8]) -> Self {
        let seq = self.next[side(from_client)];
        let frame = self.segment(from_client, RST | ACK, seq, payload);
        self.frames.push(frame);
        self
    }

    /// Aborts: a RST from the client (`from_client`) or the server.
    pub fn reset(mut self, from_client: bool) -> Self {
        let seq = self.next[side(from_client)];
        let frame = self.segment(from_client, RST, seq, &[]);
        self.frames.push(frame);
        self
    }

    /// Closes: FIN from the client, FIN-ACK from the server, the client's last ACK.
    pub fn close(mut self) -> Self {
        self.push(true, FIN | ACK, self.next[0]);
        self.next[0] = self.next[0].wrapping_add(1);
        self.push(false, FIN | ACK, self.next[1]);
        self.next[1] = self.next[1].wrapping_add(1);
        self.push(true, ACK, self.next[0]);
        self
    }

    /// The frames, in order.
    pub fn frames(self) -> Vec<Vec<u8>> {
        self.frames
    }

    fn data(&mut self, to_server: bool, seq: u32, payload: &[u8]) {
        let frame = self.segment(to_server, PSH | ACK, seq, payload);
        self.frames.push(frame);
    }

    fn push(&mut self, to_server: bool, flags: u8, seq: u32) {
        let frame = self.segment(to_server, flags, seq, &[]);
        self.frames.push(frame);
    }

    fn segment(&self, to_server: bool, flags: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
        let (src, dst) = if to_server {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let ack = self.next[side(!to_server)];
        let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let mut out = Vec::new();
        macro_rules! finish {
            ($ip:expr) => {{
                let mut t = $ip.tcp(src.port(), dst.port(), seq, 65535);
                if flags & SYN != 0 {
                    t = t.syn();
                }
                if flags & FIN != 0 {
                    t = t.fin();
                }
                if flags & RST != 0 {
                    t = t.rst();
                }
                if flags & PSH != 0 {
                    t = t.psh();
                }
                if flags & ACK != 0 {
                    t = t.ack(ack);
                }
                t.write(&mut out, payload).expect("build segment");
            }};
        }
        let vlan = self.vlan.map(|v| VlanId::try_new(v).expect("vlan id"));
        match (src.ip(), dst.ip(), vlan) {
            (IpAddr::V4(a), IpAddr::V4(b), None) => finish!(eth.ipv4(a.octets(), b.octets(), 64)),
            (IpAddr::V4(a), IpAddr::V4(b), Some(v)) => {
                finish!(eth.single_vlan(v).ipv4(a.octets(), b.octets(), 64))
            }
            (IpAddr::V6(a), IpAddr::V6(b), None) => finish!(eth.ipv6(a.octets(), b.octets(), 64)),
            (IpAddr::V6(a), IpAddr::V6(b), Some(v)) => {
                finish!(eth.single_vlan(v).ipv6(a.octets(), b.octets(), 64))
            }
            _ => panic!("client and server must be of one address family"),
        }
        out
    }
}

/// Index of a direction's sender in `next`.
fn side(to_server: bool) -> usize {
    usize::from(!to_server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_and_acknowledgement_numbers_follow_the_data() {
        let c: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let s: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let frames = TcpConversation::open(c, s, Some(3))
            .send(true, b"abc")
            .send_out_of_order(false, b"de", b"f")
            .close()
            .frames();
        let tcp: Vec<(u32, u32, usize)> = frames
            .iter()
            .map(|f| {
                let p = etherparse::SlicedPacket::from_ethernet(f).unwrap();
                let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
                    panic!("TCP")
                };
                (
                    t.sequence_number(),
                    t.acknowledgment_number(),
                    t.payload().len(),
                )
            })
            .collect();
        assert_eq!(
            tcp,
            vec![
                (100, 0, 0),
                (500, 101, 0),
                (101, 501, 0),
                (101, 501, 3),
                (501, 104, 0),
                (503, 104, 1),
                (501, 104, 2),
                (104, 504, 0),
                (104, 504, 0),
                (504, 105, 0),
                (105, 505, 0),
            ]
        );
    }
}
