//! Keywords about the packet and its flow rather than its bytes: `dsize` and the size
//! checks like it, `stream_size`, `flow`, `flags`, `xbits`, `flowint`.

use super::*;

/// `10`, `<10`, `>10`, `!10`, `5<>10`.
pub(super) fn parse_size(v: &str) -> Result<SizeCheck, String> {
    let v = v.trim();
    let n = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("bad size {v:?}"))
    };
    if let Some((a, b)) = v.split_once("<>") {
        return Ok(SizeCheck::Between(n(a)?, n(b)?));
    }
    if let Some(r) = v.strip_prefix("<=") {
        return Ok(SizeCheck::Lt(n(r)? + 1));
    }
    if let Some(r) = v.strip_prefix(">=") {
        return Ok(SizeCheck::Gt(n(r)?.saturating_sub(1)));
    }
    if let Some(r) = v.strip_prefix('<') {
        return Ok(SizeCheck::Lt(n(r)?));
    }
    if let Some(r) = v.strip_prefix('>') {
        return Ok(SizeCheck::Gt(n(r)?));
    }
    if let Some(r) = v.strip_prefix('!') {
        return Ok(SizeCheck::Ne(n(r)?));
    }
    Ok(SizeCheck::Eq(n(v)?))
}

pub(super) fn parse_flow(v: &str) -> Result<FlowOptions, String> {
    let mut f = FlowOptions {
        given: true,
        ..FlowOptions::default()
    };
    for part in v.split(',').map(str::trim) {
        match part {
            "to_server" | "from_client" => f.to_server = Some(true),
            "to_client" | "from_server" => f.to_server = Some(false),
            "established" => f.established = Some(true),
            "not_established" => f.established = Some(false),
            "stateless" => {}
            "only_stream" => f.stream = Some(true),
            "no_stream" => f.stream = Some(false),
            other => return Err(format!("unsupported flow option {other:?}")),
        }
    }
    Ok(f)
}

pub(super) fn flag_bits(s: &str) -> Result<u8, String> {
    let mut bits = 0;
    for c in s.chars() {
        bits |= match c.to_ascii_uppercase() {
            'F' => 0x01,
            'S' => 0x02,
            'R' => 0x04,
            'P' => 0x08,
            'A' => 0x10,
            'U' => 0x20,
            'E' | '2' => 0x40,
            'C' | '1' => 0x80,
            '0' => 0,
            other => return Err(format!("unknown TCP flag {other:?}")),
        };
    }
    Ok(bits)
}

pub(super) fn parse_flags(v: &str) -> Result<FlagsCheck, String> {
    let (flags, ignore) = match v.split_once(',') {
        Some((f, m)) => (f.trim(), flag_bits(m.trim())?),
        None => (v.trim(), 0),
    };
    let mut mode = FlagsMode::Exact;
    let mut letters = String::new();
    for c in flags.chars() {
        match c {
            '+' => mode = FlagsMode::All,
            '*' => mode = FlagsMode::Any,
            '!' => mode = FlagsMode::Not,
            _ => letters.push(c),
        }
    }
    Ok(FlagsCheck {
        bits: flag_bits(&letters)?,
        ignore,
        mode,
    })
}

/// `stream_size:SIDE,OP,N` (SIDE `client`, `server`, `both` or `either`; OP one of
/// `< > = != <= >=`).
pub(super) fn parse_stream_size(v: &str) -> Result<StreamSize, String> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let [side, op, n] = parts[..] else {
        return Err(format!("expected side,operator,size, got {v:?}"));
    };
    let side = match side {
        "client" => StreamSide::Client,
        "server" => StreamSide::Server,
        "both" => StreamSide::Both,
        "either" => StreamSide::Either,
        other => return Err(format!("unknown side {other:?}")),
    };
    let op = match op {
        "=" => "",
        "!=" => "!",
        "<" | ">" | "<=" | ">=" => op,
        other => return Err(format!("unknown operator {other:?}")),
    };
    Ok(StreamSize {
        side,
        check: parse_size(&format!("{op}{n}"))?,
    })
}

/// `xbits:OP,NAME,track ip_src|ip_dst|ip_pair[,expire SECONDS]`.
pub(super) fn parse_xbits(v: &str) -> Result<Xbit, String> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let op = match parts.first().copied() {
        Some("set") => FlowbitOp::Set,
        Some("unset") => FlowbitOp::Unset,
        Some("toggle") => FlowbitOp::Toggle,
        Some("isset") => FlowbitOp::IsSet,
        Some("isnotset") => FlowbitOp::IsNotSet,
        other => return Err(format!("unsupported operation {other:?}")),
    };
    let name = match parts.get(1) {
        Some(n) if !n.is_empty() => *n,
        _ => return Err("a name is required".into()),
    };
    let mut track = None;
    let mut expire_secs = 30;
    for p in &parts[2..] {
        let (k, v) = p.split_once(char::is_whitespace).unwrap_or((p, ""));
        match (k, v.trim()) {
            ("track", "ip_src") => track = Some(XbitTrack::IpSrc),
            ("track", "ip_dst") => track = Some(XbitTrack::IpDst),
            ("track", "ip_pair") => track = Some(XbitTrack::IpPair),
            ("expire", n) => {
                expire_secs = n
                    .parse()
                    .ok()
                    .filter(|&s: &u32| s > 0)
                    .ok_or_else(|| format!("bad expire {n:?}"))?;
            }
            _ => return Err(format!("unsupported option {p:?}")),
        }
    }
    Ok(Xbit {
        op,
        name: name.into(),
        track: track.ok_or("track ip_src, ip_dst or ip_pair is required")?,
        expire_secs,
    })
}

/// `flowint:NAME,OP[,VALUE]`: OP `=`, `+`, `-` (with a value: change), `isset`,
/// `notset`/`isnotset`, or a comparison `==`, `!=`, `<`, `<=`, `>`, `>=` with a value.
pub(super) fn parse_flowint(v: &str) -> Result<Flowint, String> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let name = match parts.first() {
        Some(n) if !n.is_empty() => *n,
        _ => return Err("a name is required".into()),
    };
    let op = parts.get(1).copied().unwrap_or("");
    let value = || -> Result<u32, String> {
        parts
            .get(2)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("{op} needs a number"))
    };
    let op = match op {
        "=" => FlowintOp::Set(value()?),
        "+" => FlowintOp::Add(value()?),
        "-" => FlowintOp::Sub(value()?),
        "isset" => FlowintOp::IsSet,
        "notset" | "isnotset" => FlowintOp::NotSet,
        "==" => FlowintOp::Compare(Equal, true, value()?),
        "!=" => FlowintOp::Compare(Equal, false, value()?),
        "<" => FlowintOp::Compare(Less, true, value()?),
        ">=" => FlowintOp::Compare(Less, false, value()?),
        ">" => FlowintOp::Compare(Greater, true, value()?),
        "<=" => FlowintOp::Compare(Greater, false, value()?),
        other => return Err(format!("unsupported operation {other:?}")),
    };
    Ok(Flowint {
        name: name.into(),
        op,
    })
}
