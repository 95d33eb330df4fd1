//! The detection engine's compiled form: rules grouped for prefiltering, address-only
//! rules indexed by host, and the exact verifier ([`content`]).
//!
//! Compilation happens off the data path; the result is immutable and shared by workers.

pub mod content;
pub mod prefilter;

use std::collections::HashMap;
use std::net::IpAddr;

use crate::rules::ast::Rule;
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
    pub groups: HashMap<prefilter::GroupKey, prefilter::Group>,
    /// Address-only rules (no content, no flow or TCP conditions) by the single hosts
    /// they name on either side.
    pub by_host: HashMap<IpAddr, Vec<u32>>,
    /// Address-only rules that name networks rather than hosts.
    pub address_scan: Vec<u32>,
    /// Flowbit names.
    pub flowbits: FlowbitNames,
    /// Class types.
    pub classifications: Classifications,
}

/// Whether a rule decides on addresses (and ports) alone.
pub fn is_address_only(rule: &Rule) -> bool {
    rule.buffers.is_empty()
        && rule.flags.is_none()
        && rule.dsize.is_none()
        && rule.flowbits.is_empty()
        && rule.flow == Default::default()
}

impl Ruleset {
    /// Compiles loaded rules.
    pub fn compile(loaded: Loaded) -> Ruleset {
        let groups = prefilter::build(&loaded.rules, is_address_only);
        let mut by_host: HashMap<IpAddr, Vec<u32>> = HashMap::new();
        let mut address_scan = Vec::new();
        for (i, rule) in loaded.rules.iter().enumerate() {
            if !is_address_only(rule) {
                continue;
            }
            let hosts = match (rule.src.positive_hosts(), rule.dst.positive_hosts()) {
                (Some(h), _) | (None, Some(h)) => h,
                (None, None) => {
                    address_scan.push(i as u32);
                    continue;
                }
            };
            for h in hosts {
                by_host.entry(h).or_default().push(i as u32);
            }
        }
        Ruleset {
            rules: loaded.rules,
            rejected: loaded.rejected,
            files: loaded.files.len(),
            groups,
            by_host,
            address_scan,
            flowbits: loaded.flowbits,
            classifications: Classifications::shipped(),
        }
    }
}
