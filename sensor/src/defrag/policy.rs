//! Which data the receiver keeps where two fragments overlap: the target-based policies
//! Suricata offers (`defrag.policy`), of which it uses `bsd` by default.

use serde::{Deserialize, Serialize};

/// How overlapping fragment data is resolved, as the receiving host's stack does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OverlapPolicy {
    /// The data already held wins, unless the new fragment begins before the held one
    /// and ends after it (Suricata's default, as Suricata 7.0.10 resolves it: a new
    /// fragment beginning earlier but ending with the held one does not replace it).
    #[default]
    Bsd,
    /// The new fragment wins where it covers the held one, beginning at or before it and
    /// ending at or after it.
    Linux,
    /// The data that came first always wins.
    First,
    /// The data that came last always wins.
    Last,
}

impl OverlapPolicy {
    /// Whether a fragment spanning `new` (start, end) replaces, where they overlap, the
    /// data of a fragment spanning `old` that arrived before it.
    pub fn new_wins(self, new: (u32, u32), old: (u32, u32)) -> bool {
        match self {
            OverlapPolicy::Bsd => new.0 < old.0 && new.1 > old.1,
            OverlapPolicy::Linux => new.0 <= old.0 && new.1 >= old.1,
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
        // The held fragment spans 8..16; the new one begins before it and ends after it,
        // begins before it and ends with it, begins with it, begins after it.
        let old = (8, 16);
        let cases = [(0, 24), (0, 16), (8, 16), (12, 24)];
        let wins = |p: OverlapPolicy| cases.map(|n| p.new_wins(n, old));
        assert_eq!(wins(OverlapPolicy::Bsd), [true, false, false, false]);
        assert_eq!(wins(OverlapPolicy::Linux), [true, true, true, false]);
        assert_eq!(wins(OverlapPolicy::First), [false, false, false, false]);
        assert_eq!(wins(OverlapPolicy::Last), [true, true, true, true]);
    }
}
