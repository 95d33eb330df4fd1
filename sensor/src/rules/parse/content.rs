//! `content` and the quoted strings of options: quotes, escapes and `|hex|` runs.

use super::*;

/// Removes the quotes of a string option and its escapes.
pub(super) fn unquote(v: &str, key: &str) -> Result<String, Fail> {
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e) => out.push(e),
                None => return fail(key, "dangling backslash"),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// `"abc|0d 0a|def"` with `\"`, `\;`, `\\`, `\:` escapes into bytes.
pub fn parse_content(v: &str) -> Result<Vec<u8>, String> {
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or("pattern must be quoted")?;
    let mut out = Vec::with_capacity(inner.len());
    let bytes = inner.as_bytes();
    let mut i = 0;
    let mut hex = false;
    let mut nibble: Option<u8> = None;
    while i < bytes.len() {
        let c = bytes[i];
        if hex {
            match c {
                b'|' => {
                    if nibble.is_some() {
                        return Err("odd number of hex digits".into());
                    }
                    hex = false;
                }
                b' ' => {}
                _ => {
                    let d = (c as char)
                        .to_digit(16)
                        .ok_or(format!("bad hex digit {:?}", c as char))?
                        as u8;
                    match nibble.take() {
                        Some(h) => out.push(h << 4 | d),
                        None => nibble = Some(d),
                    }
                }
            }
        } else {
            match c {
                b'|' => hex = true,
                b'\\' => {
                    i += 1;
                    let e = *bytes.get(i).ok_or("dangling backslash")?;
                    out.push(e);
                }
                b'"' | b';' => return Err(format!("unescaped {:?} in pattern", c as char)),
                _ => out.push(c),
            }
        }
        i += 1;
    }
    if hex {
        return Err("unterminated |hex| block".into());
    }
    Ok(out)
}
