//! Application-layer parsers over the bytes of a packet or stream: [`dns`] (hickory-proto
//! parsing, forged answers), [`http`] (request and response heads, normalized buffers)
//! and [`tls`] (handshakes: server name, JA3/JA3S, certificates).
//! They may use `decode` and `flow`; nothing here decides about a packet.

pub mod dns;
pub mod http;
pub mod tls;
