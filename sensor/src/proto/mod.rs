//! Application-layer parsers over the bytes of a packet or stream: [`dns`] (hickory-proto
//! parsing, forged answers) and [`http`] (request and response heads, normalized buffers).
//! They may use `decode` and `flow`; nothing here decides about a packet.

pub mod dns;
pub mod http;
