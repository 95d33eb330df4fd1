//! `pcre`: the expression, its flags (Suricata's buffer flags included) and negation.

use super::*;

/// `"/expr/flags"` (optionally `!` before the quotes) into a regex and its buffer.
pub(super) fn parse_pcre(
    v: &str,
    state: &mut ParseState<'_>,
) -> Result<(Option<Buffer>, Pcre), String> {
    let source = v;
    let (negated, v) = match v.strip_prefix('!') {
        Some(r) => (true, r.trim()),
        None => (false, v),
    };
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or("expression must be quoted")?;
    let inner = inner
        .strip_prefix('/')
        .ok_or("expression must start with '/'")?;
    let end = inner.rfind('/').ok_or("expression must end with '/'")?;
    let (expr, flags) = (&inner[..end], &inner[end + 1..]);
    let expr = expr.replace("\\;", ";").replace("\\\"", "\"");
    let mut builder = regex::bytes::RegexBuilder::new(&expr);
    builder.unicode(false).size_limit(1 << 22);
    let mut relative = false;
    let mut buffer = None;
    for f in flags.chars() {
        match f {
            'i' => {
                builder.case_insensitive(true);
            }
            's' => {
                builder.dot_matches_new_line(true);
            }
            'm' => {
                builder.multi_line(true);
            }
            'x' => {
                builder.ignore_whitespace(true);
            }
            'R' => relative = true,
            'U' => buffer = Some(Buffer::HttpUri),
            'M' => buffer = Some(Buffer::HttpMethod),
            'H' => buffer = Some(Buffer::HttpHeader),
            'V' => buffer = Some(Buffer::HttpUserAgent),
            'W' => buffer = Some(Buffer::HttpHost),
            'G' | 'O' => {}
            other => return Err(format!("unsupported flag {other:?}")),
        }
    }
    let regex = state.regex(source, || {
        builder.build().map_err(|e| {
            let msg = e.to_string();
            let last = msg
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_owned();
            format!("the regex crate cannot compile it: {last}")
        })
    })?;
    Ok((
        buffer,
        Pcre {
            regex,
            negated,
            relative,
        },
    ))
}
