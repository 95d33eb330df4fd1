//! Rules with no fast pattern that name networks (IP reputation lists and the like),
//! found by address.
//!
//! The networks are cut into disjoint intervals at every network boundary; each interval
//! lists the rules whose networks cover it, so a lookup is one binary search over the
//! interval starts, whatever the number of networks or prefix lengths. For IPv4 a
//! directory of /16s comes first: a bitmap of the /16s any network touches (8 KiB)
//! answers the addresses no list names with one bit test, and for the others gives (by
//! the bit's rank) the few interval starts inside that /16, so the search runs over those
//! alone (a home network's /16 usually has none: one load decides). (The first index
//! probed a hash map once per prefix length present, for both addresses of every packet:
//! about a quarter of the cycles with ET Open; a binary search over all the starts was
//! still 7%.)

use std::net::IpAddr;

use ipnet::IpNet;

/// Rule ids by the addresses their networks cover.
#[derive(Debug, Default)]
pub struct AddressIndex {
    v4: Intervals<u32>,
    v6: Intervals<u128>,
    /// Bit `a >> 16` set when some IPv4 network overlaps that /16.
    v4_slash16: Vec<u64>,
    /// Set bits of `v4_slash16` before each of its words.
    v4_rank: Vec<u32>,
    /// For each set /16 in order, the interval starts inside it: `v4.starts[lo..hi]`.
    v4_inside: Vec<(u32, u32)>,
    len: usize,
}

#[derive(Debug, Default)]
struct Intervals<T> {
    /// Start of each interval, ascending; an interval runs to the next one's start.
    starts: Vec<T>,
    /// For each interval, its rules in `rules` (start, end).
    spans: Vec<(u32, u32)>,
    rules: Vec<u32>,
}

impl AddressIndex {
    /// An index of `entries`: (network, rule id).
    pub fn build(entries: &[(IpNet, u32)]) -> AddressIndex {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut v4_slash16 = vec![0u64; 1024];
        for &(net, rule) in entries {
            match net.trunc() {
                IpNet::V4(n) => {
                    let (lo, hi) = (u32::from(n.network()), u32::from(n.broadcast()));
                    for b in (lo >> 16)..=(hi >> 16) {
                        v4_slash16[(b >> 6) as usize] |= 1 << (b & 63);
                    }
                    v4.push((lo, hi, rule));
                }
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()), rule)),
            }
        }
        let v4 = Intervals::build(v4, u32::MAX);
        let mut v4_rank = Vec::with_capacity(v4_slash16.len());
        let mut v4_inside = Vec::new();
        for (w, &word) in v4_slash16.iter().enumerate() {
            v4_rank.push(v4_inside.len() as u32);
            for bit in (0..64).filter(|b| word & (1 << b) != 0) {
                let base = ((w * 64 + bit) as u32) << 16;
                let lo = v4.starts.partition_point(|&s| s < base);
                let hi = v4.starts.partition_point(|&s| s <= base | 0xffff);
                v4_inside.push((lo as u32, hi as u32));
            }
        }
        AddressIndex {
            len: entries.len(),
            v4,
            v6: Intervals::build(v6, u128::MAX),
            v4_slash16,
            v4_rank,
            v4_inside,
        }
    }

    /// The rules whose networks contain `ip` (each once, ascending).
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> &[u32] {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                let b = a >> 16;
                let (w, bit) = ((b >> 6) as usize, b & 63);
                let word = self.v4_slash16[w];
                if word & (1 << bit) == 0 {
                    return &[];
                }
                let k = self.v4_rank[w] + (word & ((1 << bit) - 1)).count_ones();
                let (lo, hi) = self.v4_inside[k as usize];
                let inside = &self.v4.starts[lo as usize..hi as usize];
                // The interval holding `a` starts inside this /16 or, when no start
                // there is at or below `a`, is the one running into it.
                self.v4
                    .at(lo as usize + inside.partition_point(|&s| s <= a))
            }
            IpAddr::V6(a) => self.v6.lookup(u128::from(a)),
        }
    }

    /// Number of (network, rule) entries indexed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<T: Copy + Ord + std::ops::Add<Output = T> + From<u8>> Intervals<T> {
    fn build(mut nets: Vec<(T, T, u32)>, max: T) -> Intervals<T> {
        if nets.is_empty() {
            return Intervals {
                starts: Vec::new(),
                spans: Vec::new(),
                rules: Vec::new(),
            };
        }
        let one = T::from(1);
        let mut starts: Vec<T> = Vec::with_capacity(nets.len() * 2);
        for &(lo, hi, _) in &nets {
            starts.push(lo);
            if hi != max {
                starts.push(hi + one);
            }
        }
        starts.sort_unstable();
        starts.dedup();
        // Rules per interval: each network adds its rule to the intervals it spans.
        nets.sort_unstable_by_key(|n| (n.0, n.2));
        let mut per: Vec<Vec<u32>> = vec![Vec::new(); starts.len()];
        for &(lo, hi, rule) in &nets {
            let first = starts.partition_point(|&s| s < lo);
            let mut i = first;
            while i < starts.len() && starts[i] <= hi {
                per[i].push(rule);
                i += 1;
            }
        }
        let mut spans = Vec::with_capacity(starts.len());
        let mut rules = Vec::new();
        for mut r in per {
            r.sort_unstable();
            r.dedup();
            let start = rules.len() as u32;
            rules.extend(r);
            spans.push((start, rules.len() as u32));
        }
        Intervals {
            starts,
            spans,
            rules,
        }
    }

    #[inline]
    fn lookup(&self, x: T) -> &[u32] {
        self.at(self.starts.partition_point(|&s| s <= x))
    }

    /// The rules of the interval before start `i` (none for `i == 0`).
    #[inline]
    fn at(&self, i: usize) -> &[u32] {
        let Some(&(a, b)) = i.checked_sub(1).and_then(|i| self.spans.get(i)) else {
            return &[];
        };
        &self.rules[a as usize..b as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(entries: &[(IpNet, u32)], ip: IpAddr) -> Vec<u32> {
        let mut v: Vec<u32> = entries
            .iter()
            .filter(|(n, _)| n.contains(&ip))
            .map(|e| e.1)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn lookups_equal_a_scan_of_every_network() {
        let nets = [
            ("10.0.0.0/8", 1),
            ("10.1.0.0/16", 2),
            ("10.1.2.3/32", 3),
            ("10.1.2.3/32", 4),
            ("10.1.2.0/24", 3),
            ("192.0.2.0/24", 5),
            ("0.0.0.0/0", 6),
            ("255.255.255.255/32", 7),
            ("2001:db8::/32", 8),
            ("2001:db8::1/128", 9),
            ("::/0", 10),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 11),
        ];
        let entries: Vec<(IpNet, u32)> =
            nets.iter().map(|(n, r)| (n.parse().unwrap(), *r)).collect();
        // Without the catch-all networks too, so the /16 bitmap's empty answer is tested.
        let narrow: Vec<(IpNet, u32)> = entries
            .iter()
            .copied()
            .filter(|(n, _)| n.prefix_len() > 0)
            .collect();
        let mut probes: Vec<IpAddr> = [
            "0.0.0.0",
            "9.255.255.255",
            "10.0.0.0",
            "10.1.2.2",
            "10.1.2.3",
            "10.1.2.4",
            "10.1.255.255",
            "10.2.0.0",
            "192.0.2.255",
            "192.0.3.0",
            "255.255.255.254",
            "255.255.255.255",
            "::",
            "2001:db8::",
            "2001:db8::1",
            "2001:db8::2",
            "2001:db9::",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let mut x: u32 = 7;
        for _ in 0..3000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            probes.push(IpAddr::from((x & 0x0aff_ffff).to_be_bytes()));
        }
        for set in [&entries, &narrow] {
            let index = AddressIndex::build(set);
            assert_eq!(index.len(), set.len());
            for &ip in &probes {
                assert_eq!(index.lookup(ip), naive(set, ip).as_slice(), "{ip}");
            }
        }
        assert!(AddressIndex::build(&[])
            .lookup("1.2.3.4".parse().unwrap())
            .is_empty());
    }
}
