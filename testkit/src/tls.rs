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

/// DER: `tag`, its length, `content`.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    match len {
        0..=127 => out.push(len as u8),
        128..=255 => out.extend_from_slice(&[0x81, len as u8]),
        _ => {
            out.push(0x82);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(content);
    out
}

fn sequence(parts: &[Vec<u8>]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

/// A name of one common name: `CN=cn`.
fn common_name(cn: &str) -> Vec<u8> {
    let attribute = sequence(&[der(0x06, &[0x55, 0x04, 0x03]), der(0x0c, cn.as_bytes())]);
    sequence(&[der(0x31, &attribute)])
}

/// A DER X.509 v3 certificate for `host` (subject `CN=host`, issuer `CN=issuer`, valid
/// 2025-2027, a subjectAltName of `host`), with an ECDSA P-256 key and signature of
/// random bytes: what a parser reads of a real one, not a valid signature.
pub fn certificate(rng: &mut Rng, host: &str, issuer: &str) -> Vec<u8> {
    let random =
        |rng: &mut Rng, n: usize| -> Vec<u8> { (0..n).map(|_| rng.next_u64() as u8).collect() };
    let ecdsa_sha256 = sequence(&[der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])]);
    let mut serial = random(rng, 16);
    serial[0] &= 0x7f;
    let validity = sequence(&[der(0x17, b"250101000000Z"), der(0x17, b"270101000000Z")]);
    let mut point = vec![0, 4];
    point.extend(random(rng, 64));
    let key = sequence(&[
        sequence(&[
            der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
            der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
        ]),
        der(0x03, &point),
    ]);
    let san = sequence(&[der(0x82, host.as_bytes())]);
    let extensions = der(
        0xa3,
        &sequence(&[sequence(&[der(0x06, &[0x55, 0x1d, 0x11]), der(0x04, &san)])]),
    );
    let tbs = sequence(&[
        der(0xa0, &der(0x02, &[2])),
        der(0x02, &serial),
        ecdsa_sha256.clone(),
        common_name(issuer),
        validity,
        common_name(host),
        key,
        extensions,
    ]);
    let mut signature = vec![0];
    signature.extend(random(rng, 70));
    sequence(&[tbs, ecdsa_sha256, der(0x03, &signature)])
}

/// A Certificate handshake record carrying `chain` (DER certificates, the server's
/// first).
pub fn certificate_record(chain: &[Vec<u8>]) -> Vec<u8> {
    let u24 = |n: usize| (n as u32).to_be_bytes()[1..].to_vec();
    let mut list = Vec::new();
    for c in chain {
        list.extend(u24(c.len()));
        list.extend_from_slice(c);
    }
    let mut body = u24(list.len());
    body.extend(list);
    handshake_record(11, &body)
}
