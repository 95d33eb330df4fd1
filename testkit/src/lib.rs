//! Helpers shared by the end-to-end tests (`tests/`) and the benchmark (`scripts/bench.sh`):
//! deterministic traffic generation ([`traffic`], [`conversation`]), pcap files ([`pcap`]), and running the
//! real `sensor` binary ([`process`]). Test support only; never linked into the sensor.

pub mod conversation;
pub mod dns;
pub mod evasion;
pub mod files;
pub mod fragments;
pub mod keyword_capture;
pub mod pcap;
pub mod process;
pub mod realistic;
pub mod tls;
pub mod traffic;
