//! The detection engine's compiled form: rules grouped for prefiltering, address-only
//! rules indexed by host, and the exact verifier ([`content`]).
//!
//! Compilation happens off the data path ([`compiler`], checked by [`reload_guard`]); the
//! result is immutable and shared by workers ([`publish`]), and [`engine`] runs it per
//! packet. May use every stage below it: `decode`, `flow`, `proto`, `rules`, `names`,
//! `verdict`, `events`, `baseline`; never `config` (its settings are [`settings`]).

pub mod address_index;
pub mod compiler;
pub mod content;
pub mod engine;
pub mod prefilter;
pub mod publish;
pub mod reload_guard;
pub mod settings;

use std::net::IpAddr;
use std::sync::Arc;

use crate::rules::ast::{Buffer, PayloadView, Protocol, Rule};
use crate::rules::classification::Classifications;
use crate::rules::{FlowbitNames, Loaded, RuleError};

/// A compiled ruleset.
#[derive(Debug)]
pub struct Ruleset {
    /// Every loaded rule; indices are rule ids inside the engine.
    pub rules: Vec<Rule>,
    /// Rules that did not load.
    pub rejected: Vec<RuleError>,
    /// Files read.
    pub files: usize,
    /// Prefilter groups.
    pub groups: prefilter::GroupTable,
    /// Rules with no fast pattern that name positive networks on one side (IP reputation
    /// lists and the like), by the addresses those networks cover.
    pub by_address: address_index::AddressIndex,
    /// Flowbit names.
    pub flowbits: FlowbitNames,
    /// Class types.
    pub classifications: Classifications,
    /// Some rule inspects TCP payload, so the engine keeps stream windows.
    pub needs_stream: bool,
    /// Some rule uses HTTP (protocol or buffers), so the engine parses requests and
    /// responses.
    pub needs_http: bool,
    /// Some rule reads an HTTP body (`http.request_body`, `http.response_body`,
    /// `file_data`), so the engine keeps and decodes bodies.
    pub needs_body: bool,
    /// Some rule uses TLS (protocol `tls`, `tls.*`, `ja3.*`, `ja3s.*`), so the engine
    /// parses handshakes.
    pub needs_tls: bool,
    /// Some rule uses DNS (`dns.query`, `dns.opcode`, `dns.rrtype`, protocol `dns`), so
    /// the engine parses DNS messages.
    pub needs_dns: bool,
    /// Domain lists (empty unless configured); shared with the next ruleset when their
    /// files are unchanged.
    pub lists: Arc<crate::names::domain_lists::DomainLists>,
    /// Matches per rule (by rule index), counted by every worker.
    pub hits: Vec<std::sync::atomic::AtomicU64>,
    /// Milliseconds spent loading and compiling (set by the loader).
    pub compile_ms: f64,
}

impl crate::events::SignatureCatalog for Ruleset {
    fn signature(&self, index: u32) -> crate::events::Signature<'_> {
        let rule = &self.rules[index as usize];
        let (category, class_priority) = rule
            .classtype
            .as_deref()
            .and_then(|c| self.classifications.get(c))
            .unwrap_or(("", 3));
        crate::events::Signature {
            gid: rule.gid,
            sid: rule.sid,
            rev: rule.rev,
            msg: &rule.msg,
            category,
            severity: rule.priority.unwrap_or(class_priority),
        }
    }
}

/// The networks a rule with no fast pattern is indexed under: of its source and
/// destination sides, the one of positive networks that covers fewer addresses (so
/// `$HOME_NET -> [203.0.113.5]` is found by the one address, not by every home address),
/// or `None` when it has a fast pattern, names no positive network, or names a port and
/// its narrower side covers a /16 or more (it goes to its port's group). The rule is still
/// verified on both sides; the index only makes it a candidate.
pub fn address_index(rule: &Rule) -> Option<Vec<ipnet::IpNet>> {
    if prefilter::fast_pattern(rule).is_some() {
        return None;
    }
    // Addresses covered, as a power-of-two sum in f64 (IPv6 overflows integers).
    let size = |nets: &[ipnet::IpNet]| -> f64 {
        nets.iter()
            .map(|n| 2f64.powi(i32::from(n.max_prefix_len() - n.prefix_len())))
            .sum()
    };
    let nets = match (rule.src.positive_nets(), rule.dst.positive_nets()) {
        (Some(src), Some(dst)) if size(&dst) < size(&src) => dst,
        (Some(src), _) => src,
        (None, dst) => dst?,
    };
    // A rule that names a port and whose narrower side is still a large network
    // (`$HOME_NET any -> $EXTERNAL_NET 3389`) is found through its port's group instead:
    // on a sensor inside the network nearly every packet has a home address, few have
    // the port.
    let by_port = prefilter::port_keys(rule) != [prefilter::PortKey::Any];
    if by_port && size(&nets) >= LARGE_NETWORK {
        return None;
    }
    Some(nets)
}

/// Addresses (a /16's worth) from which a network is too common a key for the address
/// index when the rule also names a port.
const LARGE_NETWORK: f64 = 65536.0;

impl Ruleset {
    /// Address-only rules indexed under a network containing `ip`.
    #[inline]
    pub fn address_rules(&self, ip: IpAddr) -> &[u32] {
        self.by_address.lookup(ip)
    }

    /// What it protects with, for [`reload_guard::check`].
    pub fn coverage(&self) -> reload_guard::Coverage {
        reload_guard::Coverage {
            rules: self.rules.len(),
            list_entries: self.lists.len(),
        }
    }

    /// The same ruleset with `lists`.
    pub fn with_lists(mut self, lists: Arc<crate::names::domain_lists::DomainLists>) -> Ruleset {
        self.lists = lists;
        self
    }

    /// Compiles loaded rules.
    pub fn compile(loaded: Loaded) -> Ruleset {
        Ruleset::compile_parallel(loaded, &prefilter::MatcherCache::default(), &[]).0
    }

    /// Compiles loaded rules building matchers on one thread per CPU in `cpus`, reusing
    /// those of `previous` whose patterns are unchanged; also returns this compile's
    /// matchers, for the next.
    pub fn compile_parallel(
        loaded: Loaded,
        previous: &prefilter::MatcherCache,
        cpus: &[usize],
    ) -> (Ruleset, prefilter::MatcherCache) {
        let (groups, matchers) = prefilter::build_parallel(
            &loaded.rules,
            |r| address_index(r).is_some(),
            previous,
            cpus,
        );
        let mut nets = Vec::new();
        for (i, rule) in loaded.rules.iter().enumerate() {
            for n in address_index(rule).into_iter().flatten() {
                nets.push((n, i as u32));
            }
        }
        let by_address = address_index::AddressIndex::build(&nets);
        let tcp = |r: &Rule| {
            matches!(
                r.protocol,
                Protocol::Ip
                    | Protocol::Tcp
                    | Protocol::TcpPkt
                    | Protocol::TcpStream
                    | Protocol::Http
                    | Protocol::Dns
                    | Protocol::Tls
            )
        };
        let needs_stream = loaded.rules.iter().any(|r| {
            tcp(r)
                && (r.stream_size.is_some()
                    || r.payload_view() != PayloadView::Packet
                        && r.buffers.iter().any(|b| b.buffer == Buffer::Payload))
        });
        let needs_http = loaded
            .rules
            .iter()
            .any(|r| r.protocol == Protocol::Http || r.buffers.iter().any(|b| b.buffer.is_http()));
        let needs_tls = loaded.rules.iter().any(|r| {
            r.protocol == Protocol::Tls || r.buffers.iter().any(|b| b.buffer.tls_parts() != 0)
        });
        let needs_body = loaded.rules.iter().any(|r| {
            r.buffers.iter().any(|b| {
                matches!(
                    b.buffer,
                    Buffer::HttpRequestBody | Buffer::HttpResponseBody | Buffer::FileData
                )
            })
        });
        let hits = (0..loaded.rules.len())
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect();
        let needs_dns = loaded.rules.iter().any(|r| {
            r.protocol == Protocol::Dns
                || r.dns.any()
                || r.buffers.iter().any(|b| b.buffer.is_dns())
        });
        let ruleset = Ruleset {
            needs_stream,
            needs_http,
            needs_body,
            needs_tls,
            needs_dns,
            rules: loaded.rules,
            rejected: loaded.rejected,
            files: loaded.files.len(),
            groups,
            by_address,
            flowbits: loaded.flowbits,
            classifications: Classifications::shipped(),
            lists: Default::default(),
            hits,
            compile_ms: 0.0,
        };
        (ruleset, matchers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{load_text, Vars};

    fn rule(text: &str) -> Rule {
        let mut loaded = Loaded::default();
        load_text(text, "t.rules", &Vars::default(), &mut loaded);
        loaded.rules.pop().expect("rule")
    }

    #[test]
    fn address_only_rules_are_indexed_by_their_narrower_side() {
        let nets = |r: &str| address_index(&rule(r)).map(|v| v.len());
        // $HOME_NET is three networks; the single address is narrower.
        assert_eq!(
            nets("alert ip $HOME_NET any -> [203.0.113.5] any (sid:1;)"),
            Some(1)
        );
        assert_eq!(
            nets("alert ip [203.0.113.5,203.0.113.6] any -> $HOME_NET any (sid:2;)"),
            Some(2)
        );
        assert_eq!(nets("alert ip any any -> $HOME_NET any (sid:3;)"), Some(3));
        assert_eq!(nets("alert ip any any -> any any (sid:4;)"), None);
        assert_eq!(
            nets("alert tcp $HOME_NET any -> 203.0.113.5 any (content:\"x\"; sid:5;)"),
            None
        );
    }

    #[test]
    fn port_rules_over_large_networks_go_to_their_port_group() {
        let indexed = |r: &str| address_index(&rule(r)).is_some();
        // ET SCAN style: a port, and $HOME_NET as the narrower side.
        let scan = "alert tcp $HOME_NET any -> $EXTERNAL_NET 3389 (flags:S; sid:1;)";
        assert!(!indexed(scan));
        // A small network keeps the address index, port or not.
        assert!(indexed(
            "alert tcp 203.0.113.0/24 any -> $HOME_NET 22 (sid:2;)"
        ));
        // A range of a few dozen ports counts as naming ports (ET's VNC scans).
        assert!(!indexed(
            "alert tcp $EXTERNAL_NET any -> $HOME_NET 5800:5820 (flags:S,12; sid:4;)"
        ));
        // A wide range is any port: the address index.
        assert!(indexed(
            "alert tcp $EXTERNAL_NET any -> $HOME_NET 1024: (flags:S; sid:5;)"
        ));
        // No port: the address index, however large the network.
        assert!(indexed(
            "alert tcp $HOME_NET any -> $EXTERNAL_NET any (sid:3;)"
        ));
        // The port group holds the scan rule as an always-candidate for port 3389 only.
        let rules = [rule(scan)];
        let table = prefilter::build(&rules, |r| address_index(r).is_some());
        let groups = table
            .get(prefilter::Transport::Tcp, true, Buffer::Payload)
            .expect("a payload group");
        assert!(groups.any.is_none());
        assert_eq!(groups.by_port[&3389].always, vec![0]);
    }
}
