//! The sensor, one module per stage of a packet's way (the README's architecture section
//! has the tree and who may import whom; `scripts/check-layout.py` enforces it).
//!
//! The way a packet travels: NIC queue -> worker ([`datapath::worker`]) -> policy
//! ([`verdict::PacketPolicy`]; the detection engine, [`detect::engine`], reads flow fields
//! with [`decode::fast_path`], decodes with [`decode`], tracks the flow in [`flow`] and
//! parses [`proto`]) -> forward to the peer port (prevention) or free (detection), with an
//! optional refcounted copy to a mirror port. Only [`datapath`] knows about mbufs;
//! everything else works on `&[u8]`. [`app`] wires the commands together.

pub mod app;
pub mod baseline;
pub mod config;
pub mod control;
pub mod datapath;
pub mod decode;
pub mod defrag;
pub mod detect;
pub mod error;
pub mod events;
pub mod files;
pub mod flow;
pub mod names;
pub mod proto;
pub mod rules;
pub mod verdict;
