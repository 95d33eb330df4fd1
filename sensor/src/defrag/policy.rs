//! Which data the receiver keeps where two fragments overlap: the target-based policies
//! Suricata offers (`defrag.policy`), of which it uses `bsd` by default.

use serde::{Deserialize, Serialize};

/// How overlapping fragment data is resolved, as the receiving host's stack does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OverlapPolicy {
    /// The data already held wins, unless the new fragment begins before the held one
    /// (BSD stacks; Suricata's default).
    #[default]
    Bsd,
    /// As `bsd`, and a new fragment beginning where the held one begins wins too (Linux).
    Linux,
    /// The data that came first always wins.
    First,
    /// The data that came last always wins.
    Last,
}

impl OverlapPolicy {
    /// Whether a fragment starting at `new` replaces, where they overlap, the data of a
    /// fragment that arrived before it starting at `old`.
    pub fn new_wins(self, new: u32, old: u32) -> bool {
        match self {
            OverlapPolicy::Bsd => new < old,
            OverlapPolicy::Linux => new <= old,
            OverlapPolicy::First => false,
            OverlapPolicy::Last => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_policy_keeps_the_data_its_stacks_keep() {
        // (new start, old start): before, same, after.
        let cases = [(0, 8), (8, 8), (16, 8)];
        let wins = |p: OverlapPolicy| cases.map(|(n, o)| p.new_wins(n, o));
        assert_eq!(wins(OverlapPolicy::Bsd), [true, false, false]);
        assert_eq!(wins(OverlapPolicy::Linux), [true, true, false]);
        assert_eq!(wins(OverlapPolicy::First), [false, false, false]);
        assert_eq!(wins(OverlapPolicy::Last), [true, true, true]);
    }
}
