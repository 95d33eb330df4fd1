//! Address and port specifications of a rule header, with variables resolved.
//!
//! Suricata's semantics: `any`; a single address, CIDR or port; a port range `a:b`
//! (open ends allowed); a list `[x, y, !z]` (matches if any positive member matches and no
//! negated member does; a list of only negations matches what none of them match);
//! `!x` negation; `$VAR` from the configured variables (nested vars and lists allowed).

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

/// An address specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrSpec {
    /// Matches every address.
    Any,
    /// A network (a single address is a /32 or /128).
    Net(IpNet),
    /// Matches what the inner spec does not.
    Not(Box<AddrSpec>),
    /// Any positive member and no negative member.
    List(Vec<AddrSpec>),
}

/// A port specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    /// Every port.
    Any,
    /// An inclusive range (a single port is `p..=p`).
    Range(u16, u16),
    /// Matches what the inner spec does not.
    Not(Box<PortSpec>),
    /// Any positive member and no negative member.
    List(Vec<PortSpec>),
}

impl AddrSpec {
    /// Whether `ip` matches.
    pub fn matches(&self, ip: IpAddr) -> bool {
        match self {
            AddrSpec::Any => true,
            AddrSpec::Net(n) => n.contains(&ip),
            AddrSpec::Not(inner) => !inner.matches(ip),
            AddrSpec::List(items) => list_matches(
                items,
                |i| i.matches(ip),
                |i| match i {
                    AddrSpec::Not(inner) => Some(inner.as_ref()),
                    _ => None,
                },
            ),
        }
    }

    /// The networks this spec is made of, if it is only positive networks (for the
    /// address-only rule index); `None` otherwise.
    pub fn positive_nets(&self) -> Option<Vec<IpNet>> {
        match self {
            AddrSpec::Net(n) => Some(vec![*n]),
            AddrSpec::List(items) => {
                let mut out = Vec::new();
                for i in items {
                    out.extend(i.positive_nets()?);
                }
                Some(out)
            }
            _ => None,
        }
    }
}

impl PortSpec {
    /// Whether `port` matches.
    pub fn matches(&self, port: u16) -> bool {
        match self {
            PortSpec::Any => true,
            PortSpec::Range(lo, hi) => (*lo..=*hi).contains(&port),
            PortSpec::Not(inner) => !inner.matches(port),
            PortSpec::List(items) => list_matches(
                items,
                |i| i.matches(port),
                |i| match i {
                    PortSpec::Not(inner) => Some(inner.as_ref()),
                    _ => None,
                },
            ),
        }
    }

    /// The individual ports, when the spec is a short positive set (for port grouping).
    pub fn small_set(&self, limit: usize) -> Option<Vec<u16>> {
        match self {
            PortSpec::Range(lo, hi) if usize::from(hi - lo) < limit => Some((*lo..=*hi).collect()),
            PortSpec::List(items) => {
                let mut out = Vec::new();
                for i in items {
                    out.extend(i.small_set(limit)?);
                    if out.len() > limit {
                        return None;
                    }
                }
                Some(out)
            }
            _ => None,
        }
    }
}

fn list_matches<T>(
    items: &[T],
    matches: impl Fn(&T) -> bool,
    negated: impl Fn(&T) -> Option<&T>,
) -> bool {
    let mut has_positive = false;
    let mut positive_hit = false;
    for item in items {
        match negated(item) {
            Some(inner) => {
                if matches(inner) {
                    return false;
                }
            }
            None => {
                has_positive = true;
                positive_hit |= matches(item);
            }
        }
    }
    !has_positive || positive_hit
}

/// An address specification flattened into sorted, disjoint inclusive ranges per address
/// family: what the data path tests. Equal to [`AddrSpec::matches`] for every address (a
/// unit test checks it), at a few comparisons instead of a walk of the spec's tree
/// (boxed negations, lists of networks) for every candidate rule of every packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddrSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl AddrSet {
    /// The addresses `spec` matches.
    pub fn of(spec: &AddrSpec) -> AddrSet {
        AddrSet {
            v4: ranges(spec, &|n| match n {
                IpNet::V4(n) => Some((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(_) => None,
            }),
            v6: ranges(spec, &|n| match n {
                IpNet::V6(n) => Some((u128::from(n.network()), u128::from(n.broadcast()))),
                IpNet::V4(_) => None,
            }),
        }
    }

    /// Whether `ip` is in the set.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => in_ranges(&self.v4, u32::from(a)),
            IpAddr::V6(a) => in_ranges(&self.v6, u128::from(a)),
        }
    }
}

/// An unsigned address type's bounds and steps.
trait Bound: Copy + Ord {
    const MIN: Self;
    const MAX: Self;
    fn next(self) -> Self;
    fn prev(self) -> Self;
}

macro_rules! bound {
    ($($t:ty),*) => {$(
        impl Bound for $t {
            const MIN: Self = 0;
            const MAX: Self = <$t>::MAX;
            fn next(self) -> Self {
                self + 1
            }
            fn prev(self) -> Self {
                self - 1
            }
        }
    )*};
}

bound!(u32, u128);

#[inline]
fn in_ranges<T: Bound>(ranges: &[(T, T)], x: T) -> bool {
    if ranges.len() <= 8 {
        return ranges.iter().any(|&(lo, hi)| lo <= x && x <= hi);
    }
    let i = ranges.partition_point(|&(lo, _)| lo <= x);
    i > 0 && x <= ranges[i - 1].1
}

/// The ranges of one family that `spec` matches (`net` gives a network's range in that
/// family, `None` for the other family).
fn ranges<T: Bound>(spec: &AddrSpec, net: &impl Fn(&IpNet) -> Option<(T, T)>) -> Vec<(T, T)> {
    match spec {
        AddrSpec::Any => vec![(T::MIN, T::MAX)],
        AddrSpec::Net(n) => net(n).into_iter().collect(),
        AddrSpec::Not(inner) => complement(&ranges(inner, net)),
        AddrSpec::List(items) => {
            let (mut pos, mut neg, mut has_positive) = (Vec::new(), Vec::new(), false);
            for item in items {
                match item {
                    AddrSpec::Not(inner) => neg.extend(ranges(inner, net)),
                    other => {
                        has_positive = true;
                        pos.extend(ranges(other, net));
                    }
                }
            }
            let pos = if has_positive {
                normalize(pos)
            } else {
                vec![(T::MIN, T::MAX)]
            };
            intersect(&pos, &complement(&normalize(neg)))
        }
    }
}

/// Sorted, merged (touching ranges joined).
fn normalize<T: Bound>(mut v: Vec<(T, T)>) -> Vec<(T, T)> {
    v.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if last.1 == T::MAX || lo <= last.1.next() => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// What sorted, disjoint `v` leaves out.
fn complement<T: Bound>(v: &[(T, T)]) -> Vec<(T, T)> {
    let v = normalize(v.to_vec());
    let mut out = Vec::with_capacity(v.len() + 1);
    let mut start = Some(T::MIN);
    for &(lo, hi) in &v {
        if let Some(s) = start {
            if s < lo {
                out.push((s, lo.prev()));
            }
        }
        start = (hi != T::MAX).then(|| hi.next());
    }
    if let Some(s) = start {
        out.push((s, T::MAX));
    }
    out
}

/// Both sorted, disjoint.
fn intersect<T: Bound>(a: &[(T, T)], b: &[(T, T)]) -> Vec<(T, T)> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Variables for rule headers: `HOME_NET` and friends (addresses) and `HTTP_PORTS` and
/// friends (ports), as raw spec strings. Defaults are Suricata's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    /// Name (without `$`) to spec text.
    pub values: HashMap<String, String>,
}

impl Default for Vars {
    fn default() -> Self {
        let mut values = HashMap::new();
        let home = "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]";
        values.insert("HOME_NET".into(), home.into());
        values.insert("EXTERNAL_NET".into(), "!$HOME_NET".into());
        for server in [
            "HTTP_SERVERS",
            "SMTP_SERVERS",
            "SQL_SERVERS",
            "DNS_SERVERS",
            "TELNET_SERVERS",
            "AIM_SERVERS",
            "DC_SERVERS",
            "DNP3_SERVER",
            "DNP3_CLIENT",
            "MODBUS_CLIENT",
            "MODBUS_SERVER",
            "ENIP_CLIENT",
            "ENIP_SERVER",
        ] {
            values.insert(server.into(), "$HOME_NET".into());
        }
        for (name, ports) in [
            ("HTTP_PORTS", "80"),
            ("SHELLCODE_PORTS", "!80"),
            ("ORACLE_PORTS", "1521"),
            ("SSH_PORTS", "22"),
            ("DNP3_PORTS", "20000"),
            ("MODBUS_PORTS", "502"),
            ("FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"),
            ("FTP_PORTS", "21"),
            ("GENEVE_PORTS", "6081"),
            ("VXLAN_PORTS", "4789"),
            ("TEREDO_PORTS", "3544"),
        ] {
            values.insert(name.into(), ports.into());
        }
        Vars { values }
    }
}

/// Why an address or port spec does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A network in CIDR form that does not parse.
    #[error("bad network {0:?}")]
    BadNetwork(String),
    /// An address that does not parse.
    #[error("bad address {0:?}")]
    BadAddress(String),
    /// A port or range that does not parse.
    #[error("bad port {0:?}")]
    BadPort(String),
    /// Variables that name each other more than 16 deep (or in a loop).
    #[error("variables nest too deeply")]
    NestedTooDeeply,
    /// A `$NAME` with no value.
    #[error("undefined variable ${0}")]
    UndefinedVariable(String),
    /// A `[` without its `]`, or the other way round.
    #[error("unbalanced brackets in {0:?}")]
    UnbalancedBrackets(String),
    /// `[]`.
    #[error("empty list")]
    EmptyList,
}

impl Vars {
    /// Parses an address spec, resolving variables.
    pub fn address(&self, text: &str) -> Result<AddrSpec, SpecError> {
        self.parse(
            text,
            0,
            &|t| {
                if t == "any" {
                    return Ok(AddrSpec::Any);
                }
                let net = if t.contains('/') {
                    t.parse::<IpNet>()
                        .map_err(|_| SpecError::BadNetwork(t.to_owned()))?
                } else {
                    IpNet::from(
                        t.parse::<IpAddr>()
                            .map_err(|_| SpecError::BadAddress(t.to_owned()))?,
                    )
                };
                Ok(AddrSpec::Net(net.trunc()))
            },
            AddrSpec::Not,
            AddrSpec::List,
        )
    }

    /// Parses a port spec, resolving variables.
    pub fn ports(&self, text: &str) -> Result<PortSpec, SpecError> {
        self.parse(
            text,
            0,
            &|t| {
                if t == "any" {
                    return Ok(PortSpec::Any);
                }
                let num = |s: &str, default: u16| -> Result<u16, SpecError> {
                    if s.is_empty() {
                        Ok(default)
                    } else {
                        s.parse().map_err(|_| SpecError::BadPort(t.to_owned()))
                    }
                };
                match t.split_once(':') {
                    Some((lo, hi)) => Ok(PortSpec::Range(num(lo, 0)?, num(hi, u16::MAX)?)),
                    None => {
                        let p = num(t, 0)?;
                        Ok(PortSpec::Range(p, p))
                    }
                }
            },
            PortSpec::Not,
            PortSpec::List,
        )
    }

    fn parse<T>(
        &self,
        text: &str,
        depth: usize,
        leaf: &dyn Fn(&str) -> Result<T, SpecError>,
        not: fn(Box<T>) -> T,
        list: fn(Vec<T>) -> T,
    ) -> Result<T, SpecError> {
        if depth > 16 {
            return Err(SpecError::NestedTooDeeply);
        }
        let t = text.trim();
        if let Some(rest) = t.strip_prefix('!') {
            return Ok(not(Box::new(self.parse(
                rest,
                depth + 1,
                leaf,
                not,
                list,
            )?)));
        }
        if let Some(name) = t.strip_prefix('$') {
            let value = self
                .values
                .get(name)
                .ok_or_else(|| SpecError::UndefinedVariable(name.to_owned()))?;
            return self.parse(value, depth + 1, leaf, not, list);
        }
        if let Some(inner) = t.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| SpecError::UnbalancedBrackets(t.to_owned()))?;
            let items = split_top_level(inner)?
                .into_iter()
                .map(|i| self.parse(i, depth + 1, leaf, not, list))
                .collect::<Result<Vec<_>, _>>()?;
            if items.is_empty() {
                return Err(SpecError::EmptyList);
            }
            return Ok(list(items));
        }
        leaf(t)
    }
}

/// Splits `a, [b, c], d` at top-level commas.
fn split_top_level(s: &str) -> Result<Vec<&str>, SpecError> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(SpecError::UnbalancedBrackets(s.to_owned()));
        }
    }
    out.push(&s[start..]);
    Ok(out.into_iter().filter(|p| !p.trim().is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_sets_agree_with_the_specs_they_flatten() {
        let v = Vars::default();
        let specs = [
            "any",
            "!any",
            "$HOME_NET",
            "$EXTERNAL_NET",
            "[10.0.0.0/8,![10.0.0.5,10.0.0.6]]",
            "![10.0.0.0/8,!10.1.0.0/16]",
            "[!192.168.1.1]",
            "[$HOME_NET,8.8.8.8,fd00::/8,!fd00::1]",
            "!fd00::/8",
            "[0.0.0.0/0,!255.255.255.255]",
            "[1.2.3.4,1.2.3.5,1.2.3.6,1.2.3.7,1.2.3.8,1.2.3.9,1.2.3.10,2.0.0.0/8,3.0.0.0/8,4.4.4.4]",
        ];
        let mut probes: Vec<IpAddr> = [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.4",
            "10.0.0.5",
            "10.0.0.6",
            "10.0.0.7",
            "10.1.2.3",
            "10.255.255.255",
            "11.0.0.0",
            "172.16.0.0",
            "172.31.255.255",
            "172.32.0.0",
            "192.168.1.1",
            "192.168.1.2",
            "8.8.8.8",
            "1.2.3.6",
            "1.2.3.11",
            "2.255.0.1",
            "4.4.4.4",
            "4.4.4.5",
            "::",
            "::1",
            "fd00::",
            "fd00::1",
            "fd00::2",
            "fdff:ffff::1",
            "fe00::",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            probes.push(IpAddr::from(x.to_be_bytes()));
        }
        for text in specs {
            let spec = v.address(text).unwrap();
            let set = AddrSet::of(&spec);
            for &ip in &probes {
                assert_eq!(set.contains(ip), spec.matches(ip), "{text} at {ip}");
            }
        }
    }

    #[test]
    fn home_and_external_net_defaults() {
        let v = Vars::default();
        let home = v.address("$HOME_NET").unwrap();
        let ext = v.address("$EXTERNAL_NET").unwrap();
        for (ip, inside) in [("10.1.2.3", true), ("172.20.0.1", true), ("8.8.8.8", false)] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(home.matches(ip), inside);
            assert_eq!(ext.matches(ip), !inside);
        }
    }

    #[test]
    fn lists_with_negation_and_nesting() {
        let v = Vars::default();
        let a = v.address("[10.0.0.0/8,![10.0.0.5,10.0.0.6]]").unwrap();
        assert!(a.matches("10.0.0.4".parse().unwrap()));
        assert!(!a.matches("10.0.0.5".parse().unwrap()));
        assert!(!a.matches("11.0.0.1".parse().unwrap()));
        let only_neg = v.address("[!1.2.3.4]").unwrap();
        assert!(only_neg.matches("1.2.3.5".parse().unwrap()));
        assert!(!only_neg.matches("1.2.3.4".parse().unwrap()));
        let v6 = v.address("[2001:db8::/32, 1.1.1.1]").unwrap();
        assert!(v6.matches("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn port_ranges_lists_negation_and_vars() {
        let v = Vars::default();
        let p = v.ports("[80,8000:8080,!8008]").unwrap();
        assert!(p.matches(80) && p.matches(8000) && !p.matches(8008) && !p.matches(81));
        assert!(v.ports("1024:").unwrap().matches(65535));
        assert!(!v.ports("$SHELLCODE_PORTS").unwrap().matches(80));
        assert!(v.ports("$FILE_DATA_PORTS").unwrap().matches(143));
        assert_eq!(
            v.ports("[80,443]").unwrap().small_set(16),
            Some(vec![80, 443])
        );
    }

    #[test]
    fn errors_are_explained() {
        let v = Vars::default();
        assert_eq!(
            v.address("$NOPE").unwrap_err(),
            SpecError::UndefinedVariable("NOPE".into())
        );
        assert!(v
            .address("$NOPE")
            .unwrap_err()
            .to_string()
            .contains("$NOPE"));
        assert!(v.address("[1.2.3.4").is_err());
        assert!(v.ports("99999").is_err());
    }
}
