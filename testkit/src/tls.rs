//! TLS records and handshake messages for tests and benchmark mixes: a ClientHello naming
//! a server, a ServerHello, records of any type.

use crate::traffic::Rng;

/// A TLS 1.2/1.3 ClientHello record naming `sni`.
pub fn client_hello(rng: &mut Rng, sni: &str) -> Vec<u8> {
    let mut ext = Vec::new();
    let name = sni.as_bytes();
    // server_name
    ext.extend_from_slice(&[0x00, 0x00]);
    ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
    ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name);
    // supported_groups, ec_point_formats, signature_algorithms, supported_versions
    ext.extend_from_slice(&[
        0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18,
    ]);
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    ext.extend_from_slice(&[
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01,
    ]);
    ext.extend_from_slice(&[0x00, 0x2b, 0x00, 0x05, 0x04, 0x03, 0x04, 0x03, 0x03]);
    let mut body = vec![0x03, 0x03];
    for _ in 0..4 {
        body.extend_from_slice(&rng.next_u64().to_be_bytes());
    }
    body.push(32);
    for _ in 0..4 {
        body.extend_from_slice(&rng.next_u64().to_be_bytes());
    }
    let suites: [u16; 8] = [
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0x009c,
    ];
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[0x01, 0x00]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    handshake_record(1, &body)
}

/// A handshake record carrying one message of type `kind`.
pub fn handshake_record(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut hs = vec![kind];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(body);
    record(0x16, &hs)
}

/// A TLS 1.2 record of `content_type`.
pub fn record(content_type: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 0x03, 0x03];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// A TLS 1.2 ServerHello record choosing `cipher`, with the renegotiation_info extension.
pub fn server_hello(rng: &mut Rng, cipher: u16) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    for _ in 0..4 {
        body.extend_from_slice(&rng.next_u64().to_be_bytes());
    }
    body.push(0);
    body.extend_from_slice(&cipher.to_be_bytes());
    body.push(0);
    let ext = [0xff, 0x01, 0x00, 0x01, 0x00];
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    handshake_record(2, &body)
}
