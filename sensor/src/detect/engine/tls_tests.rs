//! TLS handshakes on a whole engine: a ClientHello cut anywhere is read once whole, a
//! rule on the handshake is decided when a part it reads completes (once), prevention
//! drops the packet that completes the match and then the flow, and flows that are not
//! TLS get no TLS state.

use super::keyword_tests::{tcp, Harness};
use super::*;
use testkit::tls::{certificate, certificate_record, client_hello, record, server_hello};
use testkit::traffic::Rng;

/// The test connection's handshake, then `hello` from the client in segments cut at
/// `cuts`, the server's hello, and one application-data record each way.
fn session(hello: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut frames = vec![
        tcp(true, "S", 100, b""),
        tcp(false, "SA", 500, b""),
        tcp(true, "A", 101, b""),
    ];
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied().filter(|&c| c > 0 && c < hello.len()));
    bounds.push(hello.len());
    for w in bounds.windows(2) {
        frames.push(tcp(true, "AP", 101 + w[0] as u32, &hello[w[0]..w[1]]));
    }
    let server = server_hello(&mut Rng::new(2), 0xc02f);
    frames.push(tcp(false, "AP", 501, &server));
    let data = record(23, b"encrypted evil.example");
    frames.push(tcp(true, "AP", 101 + hello.len() as u32, &data));
    frames.push(tcp(false, "AP", 501 + server.len() as u32, &data));
    frames
}

fn hello() -> Vec<u8> {
    client_hello(&mut Rng::new(1), "www.evil.example")
}

#[test]
fn a_client_hello_cut_anywhere_is_read_once_whole() {
    let rules = "alert tls any any -> any any (tls.sni; content:\"evil.example\"; endswith; sid:1;)\n\
                 alert tls any any -> any any (tls.sni; dotprefix; content:\".evil.example\"; endswith; sid:2;)";
    let hello = hello();
    for cut in 1..hello.len() {
        let sids = Harness::sids(rules, &session(&hello, &[cut]));
        let completing = 3 + 1;
        assert_eq!(sids[completing], [1, 2], "cut at {cut}");
        assert_eq!(sids.concat(), [1, 2], "cut at {cut}");
    }
    // One byte per segment.
    let cuts: Vec<usize> = (1..hello.len()).collect();
    let sids = Harness::sids(rules, &session(&hello, &cuts));
    assert_eq!(sids.concat(), [1, 2]);
}

#[test]
fn a_rule_is_decided_when_a_part_it_reads_completes_once() {
    // sid 1 reads the ClientHello, sid 2 the ServerHello, sid 3 both: each alerts once,
    // on the packet that completed the last part it reads.
    let rules = "alert tls any any -> any any (tls.sni; content:\"evil\"; sid:1;)\n\
                 alert tls any any -> any any (ja3s.string; content:\"771,49199,\"; sid:2;)\n\
                 alert tls any any -> any any (tls.sni; content:\"evil\"; ja3s.string; content:\"771,\"; sid:3;)\n\
                 alert tls any any -> any any (ja3.string; content:\"771,4865-4866-4867\"; sid:4;)";
    let sids = Harness::sids(rules, &session(&hello(), &[]));
    assert_eq!(sids[3], [1, 4]);
    assert_eq!(sids[4], [2, 3]);
    assert_eq!(sids.concat(), [1, 4, 2, 3]);
}

#[test]
fn prevention_drops_the_hello_that_matches_and_then_the_flow() {
    let rules = "drop tls any any -> any any (tls.sni; content:\"evil.example\"; sid:1;)";
    let hello = hello();
    let mut h = Harness::new(rules, Mode::Prevention);
    let verdicts: Vec<Verdict> = h
        .feed(&session(&hello, &[40]))
        .iter()
        .map(|o| o.verdict)
        .collect();
    assert_eq!(&verdicts[..4], [Verdict::Pass; 4]);
    assert!(
        verdicts[4..].iter().all(|v| *v == Verdict::Drop),
        "{verdicts:?}"
    );
}

#[test]
fn flows_that_are_not_tls_get_no_tls_state() {
    // An HTTP request naming the same host, and a "TLS" rule on its payload.
    let rules = "alert tls any any -> any any (content:\"evil\"; sid:1;)\n\
                 alert tls any any -> any any (tls.sni; content:\"evil\"; sid:2;)";
    let frames = vec![
        tcp(true, "S", 100, b""),
        tcp(false, "SA", 500, b""),
        tcp(true, "A", 101, b""),
        tcp(
            true,
            "AP",
            101,
            b"GET / HTTP/1.1\r\nHost: www.evil.example\r\n\r\n",
        ),
    ];
    let mut h = Harness::new(rules, Mode::Detection);
    let got: Vec<u32> = h
        .feed(&frames)
        .iter()
        .flat_map(|o| o.sids.clone())
        .collect();
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(h.engine.counters.tls.client_hellos, 0);
    assert_eq!(h.engine.counters.tls.memuse, 0);
}

#[test]
fn a_certificate_chain_cut_anywhere_is_read_once_whole() {
    let rules = "alert tls any any -> any any (tls.cert_subject; content:\"CN=www.evil.example\"; sid:1;)\n\
                 alert tls any any -> any any (tls.cert_issuer; content:\"Bad CA\"; sid:2;)\n\
                 alert tls any any -> any any (tls.subjectaltname; content:\"www.evil.example\"; sid:3;)\n\
                 alert tls any any -> any any (tls.certs; content:\"Bad Root\"; sid:4;)\n\
                 alert tls any any -> any any (tls.cert_fingerprint; content:\":\"; sid:5;)";
    let mut rng = Rng::new(3);
    let chain = [
        certificate(&mut rng, "www.evil.example", "Bad CA"),
        certificate(&mut rng, "Bad CA", "Bad Root"),
    ];
    let mut flight = server_hello(&mut rng, 0xc02f);
    flight.extend(certificate_record(&chain));
    let hello = hello();
    for mss in [1, 7, 100, 536, 1460, flight.len()] {
        let mut frames = vec![
            tcp(true, "S", 100, b""),
            tcp(false, "SA", 500, b""),
            tcp(true, "A", 101, b""),
            tcp(true, "AP", 101, &hello),
        ];
        for (i, part) in flight.chunks(mss).enumerate() {
            frames.push(tcp(false, "AP", 501 + (i * mss) as u32, part));
        }
        let sids = Harness::sids(rules, &frames);
        assert_eq!(sids.last().unwrap(), &[1, 2, 3, 4, 5], "mss {mss}");
        assert_eq!(sids.concat(), [1, 2, 3, 4, 5], "mss {mss}");
    }
}

#[test]
fn tls_version_is_decided_on_the_hellos() {
    // The ClientHello says 1.2 (its legacy field), the ServerHello chooses 1.2.
    let rules = "alert tls any any -> any any (flow:to_client; tls.version:1.2; sid:1;)\n\
                 alert tls any any -> any any (flow:to_server; tls.version:1.2; sid:2;)\n\
                 alert tls any any -> any any (tls.version:1.3; sid:3;)";
    let sids = Harness::sids(rules, &session(&hello(), &[]));
    assert_eq!(sids.concat(), [2, 1]);
    assert_eq!(sids[3], [2]);
    assert_eq!(sids[4], [1]);
}
