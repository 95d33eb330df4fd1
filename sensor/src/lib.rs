//! The sensor: configuration, the datapath (ports, pinned workers, modes), and the packet
//! policy interface the detection engine plugs into.
//!
//! The way a packet travels: NIC queue -> worker ([`datapath::worker`]) -> policy
//! ([`policy::PacketPolicy`], which reads flow fields with [`flow_header`] and decodes with
//! [`decode`]) -> forward to the peer port
//! (prevention) or free (detection), with an optional refcounted copy to a mirror port.
//! Only [`datapath`] knows about mbufs; everything else works on `&[u8]`.

pub mod app;
pub mod baseline;
pub mod config;
pub mod control;
pub mod datapath;
pub mod decode;
pub mod detect;
pub mod error;
pub mod events;
pub mod files;
pub mod flow;
pub mod names;
pub mod proto;
pub mod rules;
pub mod verdict;
