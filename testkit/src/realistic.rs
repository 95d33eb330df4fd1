//! The realistic benchmark mix (issue: throughput on real traffic): what a choke point of
//! an office or a small data centre carries, not random payloads on flows that never
//! did a handshake.
//!
//! Sessions, by share:
//! - 50% HTTP/1.1 over TCP: handshake, 1 to 4 requests per connection (browser header
//!   sets: user agent, accept lists, cookies, referers; URIs with paths and queries; one
//!   in ten a POST with a form body), each answered with a body of 300 B to 60 KB sent in
//!   1,448-byte segments, one in seven chunked and one in five gzip-compressed (real
//!   gzip of text); closed with FIN, one in seven with RST.
//! - 25% TLS over TCP port 443: a ClientHello with SNI, the server's ServerHello, a
//!   two-certificate chain (X.509 v3, subjectAltName) and ServerHelloDone, then 2 to 10
//!   application-data records of 100 B to 8 KB each way.
//! - 20% DNS query and answer pairs over UDP.
//! - 3% other UDP (NTP-sized pairs on port 123) and 2% ICMP echo and reply.
//!
//! One host in ten is IPv6. Up to [`CONCURRENT`] sessions are open at once and their
//! frames interleave, so the flow table holds many flows. Frame sizes follow from the
//! content (many 60-100-byte ACKs and requests, many full 1,514-byte segments), an IMIX
//! by construction. Flow reuse: `net_pcap`'s `infinite_rx` replays the same file, so each
//! pass reuses the same 5-tuples; every TCP session ends with FIN or RST, so a pass's
//! connection starts as a new one on the sensor (SYN after a close).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::conversation::TcpConversation;
use crate::tls::{
    certificate, certificate_record, client_hello, handshake_record, record, server_hello,
};
use crate::traffic::{build_with, FrameSpec, Rng, L4};

/// Sessions open at once while the mix is built.
pub const CONCURRENT: usize = 256;

const MSS: usize = 1448;

const WORDS: &[&str] = &[
    "the",
    "content",
    "function",
    "return",
    "window",
    "document",
    "class",
    "value",
    "account",
    "settings",
    "search",
    "results",
    "product",
    "customer",
    "invoice",
    "report",
    "update",
    "server",
    "request",
    "response",
    "session",
    "user",
    "data",
    "page",
    "items",
    "<div>",
    "</div>",
    "<span class=\"title\">",
    "</span>",
    "var",
    "const",
    "let",
    "=>",
];

const HOSTS: &[&str] = &[
    "www.example.com",
    "cdn.example.net",
    "api.shop.example",
    "intranet.corp.example",
    "mail.example.org",
    "static.news.example",
    "login.example.com",
    "updates.vendor.example",
];

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "curl/8.5.0",
    "Microsoft-Delivery-Optimization/10.0",
];

/// `n` sessions of the mix, seeded: the frames in the order they interleave.
pub fn mix(sessions: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let mut open: Vec<std::vec::IntoIter<Vec<u8>>> = Vec::new();
    let mut started = 0;
    let mut out = Vec::new();
    while started < sessions || !open.is_empty() {
        while open.len() < CONCURRENT && started < sessions {
            open.push(session(&mut rng, started).into_iter());
            started += 1;
        }
        let i = rng.range(0, open.len() - 1);
        match open[i].next() {
            Some(frame) => out.push(frame),
            None => {
                open.swap_remove(i);
            }
        }
    }
    out
}

fn session(rng: &mut Rng, n: usize) -> Vec<Vec<u8>> {
    let v6 = rng.range(0, 9) == 0;
    let client = host(rng, v6, true, n);
    let server = host(rng, v6, false, n);
    let sport = 1024 + (n % 60_000) as u16;
    match rng.range(0, 99) {
        0..=49 => http(
            rng,
            SocketAddr::new(client, sport),
            SocketAddr::new(server, 80),
        ),
        50..=74 => tls(
            rng,
            SocketAddr::new(client, sport),
            SocketAddr::new(server, 443),
        ),
        75..=94 => dns(rng, client, sport, n),
        95..=97 => ntp(rng, client, server, sport),
        _ => icmp(client, server),
    }
}

fn host(rng: &mut Rng, v6: bool, inside: bool, n: usize) -> IpAddr {
    let low = (n % 250) as u8 + 1;
    let mid = rng.range(0, 63) as u8;
    match (v6, inside) {
        (false, true) => IpAddr::V4(Ipv4Addr::new(10, 20, mid, low)),
        (false, false) => IpAddr::V4(Ipv4Addr::new(203, 0, 113, mid.wrapping_add(low))),
        (true, true) => IpAddr::V6(Ipv6Addr::new(
            0xfd00,
            0x20,
            0,
            0,
            0,
            0,
            u16::from(mid),
            u16::from(low),
        )),
        (true, false) => IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0,
            0,
            0,
            0,
            0x100,
            u16::from(mid),
        )),
    }
}

fn pick<'a>(rng: &mut Rng, from: &[&'a str]) -> &'a str {
    from[rng.range(0, from.len() - 1)]
}

/// `len` bytes of text from the word list (compresses about as HTML and scripts do).
fn text(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        out.extend_from_slice(pick(rng, WORDS).as_bytes());
        out.push(if rng.range(0, 9) == 0 { b'\n' } else { b' ' });
    }
    out.truncate(len);
    out
}

fn uri(rng: &mut Rng) -> String {
    let id = rng.next_u64();
    match rng.range(0, 4) {
        0 => format!("/static/js/app.{:08x}.js", id as u32),
        1 => format!(
            "/api/v1/items?id={}&page={}&sort=price",
            id % 100_000,
            id % 20
        ),
        2 => format!("/images/{:012x}.png", id & 0xffff_ffff_ffff),
        3 => format!(
            "/search?q={}+{}&lang=en",
            pick(rng, WORDS),
            pick(rng, WORDS)
        ),
        _ => "/index.html".to_owned(),
    }
}

fn http(rng: &mut Rng, client: SocketAddr, server: SocketAddr) -> Vec<Vec<u8>> {
    let host = pick(rng, HOSTS);
    let agent = pick(rng, USER_AGENTS);
    let mut c = TcpConversation::open(client, server, None);
    for _ in 0..rng.range(1, 4) {
        let post = rng.range(0, 9) == 0;
        let form = format!(
            "user=u{}&item={}&qty={}",
            rng.range(1, 999),
            rng.range(1, 99_999),
            rng.range(1, 9)
        );
        let mut request = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\nUser-Agent: {agent}\r\n\
             Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
             Accept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n\
             Referer: https://{host}/\r\nCookie: session={:016x}; prefs=compact\r\n",
            if post { "POST" } else { "GET" },
            uri(rng),
            rng.next_u64(),
        );
        if post {
            request.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
                form.len()
            ));
        } else {
            request.push_str("\r\n");
        }
        c = c.send_stream(true, request.as_bytes(), MSS);
        let size = match rng.range(0, 99) {
            0..=29 => rng.range(200, 400),
            30..=59 => rng.range(1_000, 3_000),
            60..=84 => rng.range(8_000, 20_000),
            _ => rng.range(40_000, 60_000),
        };
        let body = text(rng, size);
        let mut response = b"HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\n\
            Date: Mon, 07 Dec 2026 10:00:00 GMT\r\nContent-Type: text/html; charset=utf-8\r\n\
            Cache-Control: max-age=3600\r\nConnection: keep-alive\r\n"
            .to_vec();
        match rng.range(0, 34) {
            0..=4 => {
                response.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for chunk in body.chunks(4096) {
                    response.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    response.extend_from_slice(chunk);
                    response.extend_from_slice(b"\r\n");
                }
                response.extend_from_slice(b"0\r\n\r\n");
            }
            5..=11 => {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(&body).expect("gzip in memory");
                let zipped = gz.finish().expect("gzip in memory");
                response.extend_from_slice(
                    format!(
                        "Content-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                        zipped.len()
                    )
                    .as_bytes(),
                );
                response.extend_from_slice(&zipped);
            }
            _ => {
                response.extend_from_slice(
                    format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
                );
                response.extend_from_slice(&body);
            }
        }
        c = c.send_stream(false, &response, MSS);
    }
    if rng.range(0, 6) == 0 {
        c.reset(rng.range(0, 1) == 0).frames()
    } else {
        c.close().frames()
    }
}

fn random_bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

fn tls(rng: &mut Rng, client: SocketAddr, server: SocketAddr) -> Vec<Vec<u8>> {
    let sni = pick(rng, HOSTS);
    let mut c = TcpConversation::open(client, server, None);
    c = c.send_stream(true, &client_hello(rng, sni), MSS);
    let mut flight = server_hello(rng, 0xc02f);
    let chain = [
        certificate(rng, sni, "Example Issuing CA"),
        certificate(rng, "Example Issuing CA", "Example Root CA"),
    ];
    flight.extend_from_slice(&certificate_record(&chain));
    flight.extend_from_slice(&handshake_record(14, &[]));
    flight.extend_from_slice(&record(0x14, &[1]));
    c = c.send_stream(false, &flight, MSS);
    c = c.send_stream(true, &record(0x14, &[1]), MSS);
    for _ in 0..rng.range(2, 10) {
        let to_server = rng.range(0, 2) == 0;
        let len = rng.range(100, 8_000);
        c = c.send_stream(to_server, &record(0x17, &random_bytes(rng, len)), MSS);
    }
    c.close().frames()
}

fn dns(rng: &mut Rng, client: IpAddr, sport: u16, n: usize) -> Vec<Vec<u8>> {
    let resolver = match client {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(10, 20, 0, 53)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(0xfd00, 0x20, 0, 0, 0, 0, 0, 0x53)),
    };
    let name = format!(
        "{}{}",
        ["www.", "api.", "cdn.", ""][n % 4],
        pick(rng, HOSTS)
    );
    let id = (n & 0xffff) as u16;
    let answer = IpAddr::V4(Ipv4Addr::new(198, 51, 100, (n % 250) as u8 + 1));
    vec![
        crate::dns::udp(
            client,
            sport,
            resolver,
            53,
            &[],
            &crate::dns::message(id, false, 0, &name, 1, &[], 0),
        ),
        crate::dns::udp(
            resolver,
            53,
            client,
            sport,
            &[],
            &crate::dns::message(id, true, 0, &name, 1, &[answer], 300),
        ),
    ]
}

fn ntp(rng: &mut Rng, client: IpAddr, server: IpAddr, sport: u16) -> Vec<Vec<u8>> {
    let packet = |src, sp, dst, dp, rng: &mut Rng| {
        crate::dns::udp(src, sp, dst, dp, &[], &random_bytes(rng, 48))
    };
    vec![
        packet(client, sport, server, 123, rng),
        packet(server, 123, client, sport, rng),
    ]
}

fn icmp(client: IpAddr, server: IpAddr) -> Vec<Vec<u8>> {
    [(client, server), (server, client)]
        .iter()
        .map(|&(src, dst)| {
            let spec = FrameSpec {
                vlans: Vec::new(),
                src,
                dst,
                l4: L4::Icmp,
                sport: 0,
                dport: 0,
                size: 98,
            };
            build_with(&spec, |len| vec![0x61; len])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_has_whole_sessions_of_every_kind_and_is_deterministic() {
        let a = mix(400, 3);
        assert_eq!(a, mix(400, 3));
        let text: Vec<&[u8]> = a.iter().map(|f| f.as_slice()).collect();
        let has = |needle: &[u8]| {
            text.iter()
                .any(|f| f.windows(needle.len()).any(|w| w == needle))
        };
        assert!(has(b"GET /") && has(b"HTTP/1.1 200 OK") && has(b"Transfer-Encoding: chunked"));
        assert!(has(b"Content-Encoding: gzip") && has(b"www.example.com"));
        let sizes: Vec<usize> = a.iter().map(Vec::len).collect();
        assert!(sizes.iter().any(|&s| s < 100) && sizes.iter().any(|&s| s >= 1500));
        let syns = a
            .iter()
            .filter(|f| {
                let p = etherparse::SlicedPacket::from_ethernet(f).unwrap();
                matches!(p.transport, Some(etherparse::TransportSlice::Tcp(t)) if t.syn() && !t.ack())
            })
            .count();
        assert!(syns > 250, "{syns} TCP sessions of 400");
    }
}
