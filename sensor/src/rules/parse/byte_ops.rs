//! `byte_test` and `byte_jump` with Suricata's semantics: numbers read as binary or as
//! `string` digits, the operators, `relative`, `bitmask`, and the jump's options.

use super::*;

/// `byte_test:<bytes>,[!]<op>,<value>,<offset>[,<option>...]` with the options of
/// [`parse_byte_read`]. A value or offset named by `byte_extract` is not supported.
pub(super) fn parse_byte_test(v: &str) -> Result<ByteTest, String> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let [nbytes, op, value, offset, options @ ..] = parts.as_slice() else {
        return Err("expected bytes, operator, value and offset".into());
    };
    let (negated, op) = match op.strip_prefix('!') {
        Some("") => (true, "="),
        Some(rest) => (true, rest),
        None => (false, *op),
    };
    let op = match op {
        "<" => ByteOp::Lt,
        ">" => ByteOp::Gt,
        "=" => ByteOp::Eq,
        "<=" => ByteOp::Le,
        ">=" => ByteOp::Ge,
        "&" => ByteOp::And,
        "^" => ByteOp::Xor,
        other => return Err(format!("unknown operator {other:?}")),
    };
    let value = parse_u64(value).ok_or(format!(
        "value {value:?} is not a number (byte_extract variables are not supported)"
    ))?;
    let read = parse_byte_read(nbytes, offset, options, |o| {
        Err(format!("unsupported option {o:?}"))
    })?;
    Ok(ByteTest {
        read,
        op,
        negated,
        value,
    })
}

/// `byte_jump:<bytes>,<offset>[,<option>...]`: the options of [`parse_byte_read`] and
/// `multiplier N`, `align`, `from_beginning`, `from_end`, `post_offset N`.
pub(super) fn parse_byte_jump(v: &str) -> Result<ByteJump, String> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let [nbytes, offset, options @ ..] = parts.as_slice() else {
        return Err("expected bytes and offset".into());
    };
    let (mut multiplier, mut align, mut from, mut post_offset) =
        (1, false, JumpFrom::AfterNumber, 0);
    let read = parse_byte_read(nbytes, offset, options, |o| {
        let (name, n) = o.split_once(char::is_whitespace).unwrap_or((o, ""));
        let n = n.trim();
        match name {
            "align" => align = true,
            "from_beginning" => from = JumpFrom::Beginning,
            "from_end" => from = JumpFrom::End,
            "multiplier" => {
                multiplier = n
                    .parse()
                    .ok()
                    .filter(|&m| m > 0)
                    .ok_or(format!("bad multiplier {n:?}"))?
            }
            "post_offset" => {
                post_offset = n.parse().map_err(|_| format!("bad post_offset {n:?}"))?
            }
            _ => return Err(format!("unsupported option {o:?}")),
        }
        Ok(())
    })?;
    Ok(ByteJump {
        read,
        multiplier,
        align,
        from,
        post_offset,
    })
}

/// The number a `byte_test` or `byte_jump` reads: its byte count and offset, and the
/// options `relative`, `big`, `little`, `string`, `dec`, `hex`, `oct`, `bitmask N`;
/// any other option goes to `other` (`dce` and the rest are refused there).
pub(super) fn parse_byte_read(
    nbytes: &str,
    offset: &str,
    options: &[&str],
    mut other: impl FnMut(&str) -> Result<(), String>,
) -> Result<ByteRead, String> {
    let nbytes: u8 = nbytes
        .parse()
        .map_err(|_| format!("bad byte count {nbytes:?}"))?;
    let offset: i32 = offset.parse().map_err(|_| {
        format!("offset {offset:?} is not a number (byte_extract variables are not supported)")
    })?;
    let mut read = ByteRead {
        nbytes,
        offset,
        relative: false,
        little_endian: false,
        string_base: None,
        bitmask: None,
    };
    let (mut string, mut base) = (false, 10);
    for &o in options {
        match o {
            "relative" => read.relative = true,
            "big" => read.little_endian = false,
            "little" => read.little_endian = true,
            "string" => string = true,
            "dec" => base = 10,
            "hex" => base = 16,
            "oct" => base = 8,
            _ => match o.strip_prefix("bitmask") {
                Some(mask) => {
                    let mask = parse_u64(mask.trim())
                        .filter(|&m| m != 0)
                        .ok_or(format!("bad bitmask {o:?}"))?;
                    read.bitmask = Some(mask);
                }
                None => other(o)?,
            },
        }
    }
    read.string_base = string.then_some(base);
    let most = if string { 20 } else { 8 };
    if !(1..=most).contains(&nbytes) {
        return Err(format!("{nbytes} bytes: 1-{most} can be read here"));
    }
    Ok(read)
}

/// A decimal or `0x` hexadecimal number.
pub(super) fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}
