//! ClientHello and ServerHello, parsed with tls-parser: the server name, the versions,
//! the JA3 and JA3S fingerprints (as Salesforce defined them and Suricata computes them:
//! decimal fields joined by `-`, groups by `,`, GREASE values left out, MD5 in lowercase
//! hex) and the ClientHello's JA4 (FoxIO's definition, as Suricata 8 computes it).

use md5::Md5;
use sha2::Digest;
use tls_parser::{
    parse_tls_extension, parse_tls_handshake_client_hello, parse_tls_handshake_server_hello,
    TlsExtension,
};

/// A JA3 or JA3S fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The fields, e.g. `771,4865-4866,0-10-11,29-23,0`.
    pub string: String,
    /// Their MD5, 32 lowercase hex digits.
    pub hash: String,
}

impl Fingerprint {
    fn of(string: String) -> Self {
        let hash = Md5::digest(string.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Fingerprint { string, hash }
    }
}

/// What a ClientHello says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The first host name of its server_name extension, after a `.` (the `dotprefix`
    /// form; [`ClientHello::sni`] is the name alone).
    pub dotted_sni: Option<Vec<u8>>,
    /// Its legacy version field (0x0303 for TLS 1.2 and 1.3).
    pub version: u16,
    /// JA3.
    pub ja3: Fingerprint,
    /// JA4 (`t13d1516h2_8daaf6152771_02713d6af862`).
    pub ja4: String,
}

impl ClientHello {
    /// The server name, when it gave one.
    pub fn sni(&self) -> Option<&[u8]> {
        self.dotted_sni.as_deref().map(|d| &d[1..])
    }
}

/// What a ServerHello says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The version chosen: its supported_versions extension (TLS 1.3), else its version
    /// field.
    pub version: u16,
    /// JA3S.
    pub ja3s: Fingerprint,
}

/// GREASE values (RFC 8701): `0x?a?a` with both bytes equal.
fn grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// The extensions of a hello, in order: (type, data).
fn extensions(mut raw: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while raw.len() >= 4 {
        let kind = u16::from_be_bytes([raw[0], raw[1]]);
        let len = usize::from(u16::from_be_bytes([raw[2], raw[3]]));
        let Some(data) = raw.get(4..4 + len) else {
            break;
        };
        out.push((kind, data));
        raw = &raw[4 + len..];
    }
    out
}

/// Joins numbers with `-`.
fn dashed(values: impl Iterator<Item = u16>) -> String {
    values.map(|v| v.to_string()).collect::<Vec<_>>().join("-")
}

/// Parses a ClientHello message body; `None` when it is malformed.
pub fn client_hello(body: &[u8]) -> Option<ClientHello> {
    let (_, hello) = parse_tls_handshake_client_hello(body).ok()?;
    let exts = extensions(hello.ext.unwrap_or(&[]));
    let mut sni = None;
    let mut curves = String::new();
    let mut formats = String::new();
    for &(kind, data) in &exts {
        let mut raw = kind.to_be_bytes().to_vec();
        raw.extend_from_slice(&(data.len() as u16).to_be_bytes());
        raw.extend_from_slice(data);
        match parse_tls_extension(&raw) {
            Ok((_, TlsExtension::SNI(names))) if sni.is_none() => {
                sni = names.first().map(|(_, name)| [b".", *name].concat());
            }
            Ok((_, TlsExtension::EllipticCurves(groups))) => {
                curves = dashed(groups.iter().map(|g| g.0).filter(|&g| !grease(g)));
            }
            Ok((_, TlsExtension::EcPointFormats(f))) => {
                formats = dashed(f.iter().map(|&f| u16::from(f)));
            }
            _ => {}
        }
    }
    let ja3 = format!(
        "{},{},{},{},{}",
        hello.version.0,
        dashed(hello.ciphers.iter().map(|c| c.0).filter(|&c| !grease(c))),
        dashed(exts.iter().map(|e| e.0).filter(|&e| !grease(e))),
        curves,
        formats
    );
    let ja4 = ja4(&hello.ciphers, &exts, sni.is_some(), hello.version.0);
    Some(ClientHello {
        dotted_sni: sni,
        version: hello.version.0,
        ja3: Fingerprint::of(ja3),
        ja4,
    })
}

/// The first 12 hex digits of the SHA-256 of `text`, or 12 zeros for no text.
fn truncated_sha256(text: &str) -> String {
    if text.is_empty() {
        return "000000000000".into();
    }
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// JA4 of a ClientHello with `ciphers`, extensions `exts` (type, data, in order), a server
/// name or not, and legacy version `legacy`: `t`, the highest version offered (its
/// supported_versions, else `legacy`), `d` with a server name (`i` without), the counts
/// of ciphers and extensions, the first and last characters of the first ALPN value;
/// then the truncated SHA-256 of the sorted ciphers; then that of the sorted extensions
/// (server name and ALPN left out) followed by the signature algorithms in their order.
/// GREASE values are left out everywhere.
fn ja4(
    ciphers: &[tls_parser::TlsCipherSuiteID],
    exts: &[(u16, &[u8])],
    sni: bool,
    legacy: u16,
) -> String {
    let u16s = |d: &[u8]| -> Vec<u16> {
        d.chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .filter(|&v| !grease(v))
            .collect()
    };
    let ext = |kind: u16| exts.iter().find(|e| e.0 == kind).map(|e| e.1);
    let offered = ext(43)
        .and_then(|d| d.get(1..))
        .and_then(|d| u16s(d).into_iter().max());
    let version = match offered.unwrap_or(legacy) {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0200 => "s2",
        _ => "00",
    };
    let alpn = ext(16)
        .and_then(|d| d.get(2..))
        .and_then(|d| d.split_first())
        .and_then(|(&len, rest)| rest.get(..usize::from(len)))
        .filter(|v| !v.is_empty());
    let alpn = match alpn {
        Some(v) => {
            let (first, last) = (v[0], v[v.len() - 1]);
            if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
                format!("{}{}", first as char, last as char)
            } else {
                // Not printable: the first hex digit of the first byte, the last of the
                // last byte.
                let hex = format!("{first:02x}{last:02x}");
                format!("{}{}", &hex[..1], &hex[3..])
            }
        }
        None => "00".into(),
    };
    let mut cs: Vec<u16> = ciphers
        .iter()
        .map(|c| c.0)
        .filter(|&c| !grease(c))
        .collect();
    let kinds: Vec<u16> = exts.iter().map(|e| e.0).filter(|&e| !grease(e)).collect();
    let a = format!(
        "t{version}{}{:02}{:02}{alpn}",
        if sni { 'd' } else { 'i' },
        cs.len().min(99),
        kinds.len().min(99)
    );
    cs.sort_unstable();
    let hex = |v: &[u16]| -> String {
        v.iter()
            .map(|x| format!("{x:04x}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut sorted: Vec<u16> = kinds.into_iter().filter(|&e| e != 0 && e != 16).collect();
    sorted.sort_unstable();
    let algorithms = ext(13)
        .and_then(|d| d.get(2..))
        .map(u16s)
        .unwrap_or_default();
    let c = if algorithms.is_empty() || sorted.is_empty() {
        hex(&sorted)
    } else {
        format!("{}_{}", hex(&sorted), hex(&algorithms))
    };
    format!(
        "{a}_{}_{}",
        truncated_sha256(&hex(&cs)),
        truncated_sha256(&c)
    )
}

/// Parses a ServerHello message body; `None` when it is malformed.
pub fn server_hello(body: &[u8]) -> Option<ServerHello> {
    let (_, hello) = parse_tls_handshake_server_hello(body).ok()?;
    let exts = extensions(hello.ext.unwrap_or(&[]));
    // supported_versions (43) in a ServerHello: the two bytes of the version chosen.
    let chosen = exts
        .iter()
        .find(|(kind, data)| *kind == 43 && data.len() == 2)
        .map(|(_, d)| u16::from_be_bytes([d[0], d[1]]));
    let ja3s = format!(
        "{},{},{}",
        hello.version.0,
        hello.cipher.0,
        dashed(exts.iter().map(|e| e.0).filter(|&e| !grease(e)))
    );
    Some(ServerHello {
        version: chosen.unwrap_or(hello.version.0),
        ja3s: Fingerprint::of(ja3s),
    })
}

/// A version as Suricata writes it in EVE (`TLS 1.2`, `TLSv1`, `SSLv3`, ...).
pub fn version_name(v: u16) -> String {
    match v {
        0x0200 => "SSLv2".into(),
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        other => format!("0x{other:04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease_values_are_told_apart() {
        assert!(grease(0x0a0a) && grease(0xfafa) && grease(0x3a3a));
        assert!(!grease(0x0a1a) && !grease(0x1301) && !grease(0x000a));
    }
}
