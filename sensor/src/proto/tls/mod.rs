//! TLS handshakes on the reassembled streams of a flow: the ClientHello (server name,
//! JA3), the ServerHello (version, JA3S) and the server's certificate chain (subject,
//! issuer, serial, fingerprint, validity, subjectAltName), as Suricata's `tls.*`,
//! `ja3.*` and `ja3s.*` keywords read them. Records and handshake messages may be split
//! or packed any way ([`records`]); parsing stops where encryption begins.

pub mod cert;
pub mod hello;
pub mod records;

pub use cert::CertInfo;
pub use hello::{ClientHello, Fingerprint, ServerHello};
use records::Records;

/// The `[tls]` table of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Bytes of handshake state (record and message buffers, certificate chains until
    /// inspected, names and fingerprints) a worker holds at most; past it new TLS flows
    /// are not parsed (counted).
    pub memcap: usize,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig { memcap: 64 << 20 }
    }
}

const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const CERTIFICATE: u8 = 11;

/// Which parts of the handshake a packet completed (bits of [`Handshake::feed`]'s
/// result).
pub mod part {
    /// The ClientHello.
    pub const CLIENT_HELLO: u8 = 1;
    /// The ServerHello.
    pub const SERVER_HELLO: u8 = 2;
    /// The server's certificate chain.
    pub const CERTIFICATE: u8 = 4;
}

/// What a flow's handshake said so far.
#[derive(Debug, Default)]
pub struct Handshake {
    /// Records to the server, then to the client.
    dirs: [Records; 2],
    /// The ClientHello.
    pub client: Option<ClientHello>,
    /// The ServerHello.
    pub server: Option<ServerHello>,
    /// The server's certificates as sent (DER), its own first.
    pub chain: Vec<Vec<u8>>,
    /// The first certificate parsed (`None`: none yet, or not a certificate).
    pub cert: Option<CertInfo>,
    /// Bytes of certificates held.
    chain_bytes: usize,
}

impl Handshake {
    /// Reads `data`, the next in-order bytes to the server (`to_server`) or the client,
    /// and returns which parts of the handshake they completed ([`part`] bits).
    pub fn feed(&mut self, to_server: bool, data: &[u8]) -> u8 {
        let mut done = 0;
        let Handshake {
            dirs,
            client,
            server,
            chain,
            cert,
            chain_bytes,
        } = self;
        dirs[usize::from(!to_server)].feed(data, |kind, body| match (kind, to_server) {
            (CLIENT_HELLO, true) if client.is_none() => {
                *client = hello::client_hello(body);
                done |= part::CLIENT_HELLO;
            }
            (SERVER_HELLO, false) if server.is_none() => {
                *server = hello::server_hello(body);
                done |= part::SERVER_HELLO;
            }
            (CERTIFICATE, false) if chain.is_empty() => {
                if let Ok((_, tls_parser::TlsMessageHandshake::Certificate(c))) =
                    tls_parser::parse_tls_handshake_msg_certificate(body)
                {
                    chain.extend(c.cert_chain.iter().map(|c| c.data.to_vec()));
                    *chain_bytes = chain.iter().map(Vec::len).sum();
                    *cert = chain.first().and_then(|der| cert::parse(der));
                    done |= part::CERTIFICATE;
                }
            }
            _ => {}
        });
        done
    }

    /// Whether neither direction is read any more.
    pub fn finished(&self) -> bool {
        self.dirs.iter().all(|d| d.stopped().is_some())
    }

    /// Stops reading both directions and lets go of their buffers and the certificates
    /// (the memory cap); what was parsed so far stays.
    pub fn abandon(&mut self) {
        self.dirs
            .iter_mut()
            .filter(|d| d.stopped().is_none())
            .for_each(|d| d.stop(records::Stop::Memcap));
        self.release_chain();
    }

    /// Lets go of the certificates as sent (what was parsed of the first stays).
    pub fn release_chain(&mut self) {
        self.chain = Vec::new();
        self.chain_bytes = 0;
    }

    /// Bytes held (for the memory account), roughly: buffers, certificates, strings.
    pub fn footprint(&self) -> usize {
        let strings = self.client.as_ref().map_or(0, |c| {
            c.dotted_sni.as_ref().map_or(0, Vec::len) + c.ja3.string.len() + c.ja3.hash.len()
        }) + self
            .server
            .as_ref()
            .map_or(0, |s| s.ja3s.string.len() + s.ja3s.hash.len())
            + self.cert.as_ref().map_or(0, |c| {
                c.subject.len()
                    + c.issuer.len()
                    + c.serial.len()
                    + c.fingerprint.len()
                    + c.alt_names.iter().map(String::len).sum::<usize>()
            });
        self.dirs.iter().map(Records::footprint).sum::<usize>() + self.chain_bytes + strings
    }
}
