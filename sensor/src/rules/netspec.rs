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

impl Vars {
    /// Parses an address spec, resolving variables.
    pub fn address(&self, text: &str) -> Result<AddrSpec, String> {
        self.parse(
            text,
            0,
            &|t| {
                if t == "any" {
                    return Ok(AddrSpec::Any);
                }
                let net = if t.contains('/') {
                    t.parse::<IpNet>()
                        .map_err(|_| format!("bad network {t:?}"))?
                } else {
                    IpNet::from(
                        t.parse::<IpAddr>()
                            .map_err(|_| format!("bad address {t:?}"))?,
                    )
                };
                Ok(AddrSpec::Net(net.trunc()))
            },
            AddrSpec::Not,
            AddrSpec::List,
        )
    }

    /// Parses a port spec, resolving variables.
    pub fn ports(&self, text: &str) -> Result<PortSpec, String> {
        self.parse(
            text,
            0,
            &|t| {
                if t == "any" {
                    return Ok(PortSpec::Any);
                }
                let num = |s: &str, default: u16| -> Result<u16, String> {
                    if s.is_empty() {
                        Ok(default)
                    } else {
                        s.parse().map_err(|_| format!("bad port {t:?}"))
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
        leaf: &dyn Fn(&str) -> Result<T, String>,
        not: fn(Box<T>) -> T,
        list: fn(Vec<T>) -> T,
    ) -> Result<T, String> {
        if depth > 16 {
            return Err("variables nest too deeply".into());
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
                .ok_or_else(|| format!("undefined variable ${name}"))?;
            return self.parse(value, depth + 1, leaf, not, list);
        }
        if let Some(inner) = t.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| format!("unbalanced brackets in {t:?}"))?;
            let items = split_top_level(inner)?
                .into_iter()
                .map(|i| self.parse(i, depth + 1, leaf, not, list))
                .collect::<Result<Vec<_>, _>>()?;
            if items.is_empty() {
                return Err("empty list".into());
            }
            return Ok(list(items));
        }
        leaf(t)
    }
}

/// Splits `a, [b, c], d` at top-level commas.
fn split_top_level(s: &str) -> Result<Vec<&str>, String> {
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
            return Err(format!("unbalanced brackets in {s:?}"));
        }
    }
    out.push(&s[start..]);
    Ok(out.into_iter().filter(|p| !p.trim().is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(v.address("$NOPE").unwrap_err().contains("$NOPE"));
        assert!(v.address("[1.2.3.4").is_err());
        assert!(v.ports("99999").is_err());
    }
}
