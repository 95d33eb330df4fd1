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
    let mut flags_on = Flags::default();
    let mut relative = false;
    let mut buffer = None;
    for f in flags.chars() {
        match f {
            'i' => flags_on.caseless = true,
            's' => flags_on.dotall = true,
            'm' => flags_on.multi_line = true,
            'x' => flags_on.extended = true,
            'R' => relative = true,
            'U' => buffer = Some(Buffer::HttpUri),
            'M' => buffer = Some(Buffer::HttpMethod),
            'H' => buffer = Some(Buffer::HttpHeader),
            'V' => buffer = Some(Buffer::HttpUserAgent),
            'W' => buffer = Some(Buffer::HttpHost),
            'I' => buffer = Some(Buffer::HttpUriRaw),
            'D' => buffer = Some(Buffer::HttpHeaderRaw),
            'C' => buffer = Some(Buffer::HttpCookie),
            'P' => buffer = Some(Buffer::HttpRequestBody),
            'Q' => buffer = Some(Buffer::HttpResponseBody),
            'S' => buffer = Some(Buffer::HttpStatCode),
            'Y' => buffer = Some(Buffer::HttpStatMsg),
            // `B` (rawbytes) and the greedy/once flags change nothing here.
            'B' | 'G' | 'O' => {}
            other => return Err(format!("unsupported flag {other:?}")),
        }
    }
    let regex = state.regex(source, || compile(&expr, flags_on))?;
    Ok((
        buffer,
        Pcre {
            regex,
            negated,
            relative,
        },
    ))
}

/// The expression flags of a `pcre`.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    caseless: bool,
    dotall: bool,
    multi_line: bool,
    extended: bool,
}

/// Suricata's default `pcre.match-limit` and `pcre.match-limit-recursion`: the most
/// backtracking steps and nesting one PCRE2 match may take before it gives up.
const MATCH_LIMIT: u32 = 3500;
const DEPTH_LIMIT: u32 = 1500;

/// Compiles `expr` with the regex crate (linear time) when it can express it, else with
/// PCRE2 under [`MATCH_LIMIT`] and [`DEPTH_LIMIT`], JIT-compiled where available.
fn compile(expr: &str, f: Flags) -> Result<PcreProgram, String> {
    let mut builder = regex::bytes::RegexBuilder::new(expr);
    builder
        .unicode(false)
        .size_limit(1 << 22)
        .case_insensitive(f.caseless)
        .dot_matches_new_line(f.dotall)
        .multi_line(f.multi_line)
        .ignore_whitespace(f.extended);
    if let Ok(r) = builder.build() {
        return Ok(PcreProgram::Regex(r));
    }
    // The limits go in front of the pattern (PCRE2's own syntax): they can only lower
    // the library's defaults, which the pattern cannot raise again.
    let limited = format!("(*LIMIT_MATCH={MATCH_LIMIT})(*LIMIT_DEPTH={DEPTH_LIMIT}){expr}");
    pcre2::bytes::RegexBuilder::new()
        .caseless(f.caseless)
        .dotall(f.dotall)
        .multi_line(f.multi_line)
        .extended(f.extended)
        .jit_if_available(true)
        .build(&limited)
        .map(|r| PcreProgram::Pcre2(std::sync::Arc::new(r)))
        .map_err(|e| format!("PCRE2 cannot compile it: {e}"))
}
