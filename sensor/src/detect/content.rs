//! Exact verification of one buffer's conditions, with Suricata's semantics.
//!
//! Absolute contents search `[offset, offset + depth)`; relative ones (`distance`,
//! `within`) search `[prev_end + distance, prev_end + distance + within)` where `prev_end`
//! is the end of the previous condition's match. When a later condition fails, earlier
//! contents are retried at their next occurrence (backtracking), bounded by a budget so a
//! hostile payload cannot make inspection explode. Negated contents succeed when the
//! pattern is absent from their region and do not move `prev_end`.

use crate::rules::ast::{BufferConditions, Condition, Content};

/// Most occurrences tried per buffer inspection (Suricata uses a similar recursion limit).
const BUDGET: u32 = 3000;

/// Whether `buf` satisfies every condition of `conds`.
pub fn matches(conds: &BufferConditions, buf: &[u8]) -> bool {
    if let Some(size) = conds.bsize {
        if !size.check(buf.len()) {
            return false;
        }
    }
    let mut budget = BUDGET;
    step(&conds.conditions, buf, 0, &mut budget)
}

fn step(conds: &[Condition], buf: &[u8], prev_end: usize, budget: &mut u32) -> bool {
    let Some((first, rest)) = conds.split_first() else {
        return true;
    };
    match first {
        Condition::Content(c) if c.negated => {
            let (lo, hi) = region(c, buf.len(), prev_end);
            let found = lo <= hi && find_all(c, buf, lo, hi).next().is_some();
            !found && step(rest, buf, prev_end, budget)
        }
        Condition::Content(c) => {
            let (lo, hi) = region(c, buf.len(), prev_end);
            if lo > hi {
                return false;
            }
            for end in find_all(c, buf, lo, hi) {
                if *budget == 0 {
                    return false;
                }
                *budget -= 1;
                if c.endswith && end != buf.len() {
                    continue;
                }
                if step(rest, buf, end, budget) {
                    return true;
                }
            }
            false
        }
        Condition::Pcre(p) => {
            // Like Suricata, a relative expression runs on the rest of the buffer, so `^`
            // anchors at the previous match's end.
            let start = if p.relative {
                prev_end.min(buf.len())
            } else {
                0
            };
            match p.regex.find(&buf[start..]) {
                Some(m) if !p.negated => step(rest, buf, start + m.end(), budget),
                None if p.negated => step(rest, buf, prev_end, budget),
                _ => false,
            }
        }
        Condition::IsDataAt {
            pos,
            relative,
            negated,
        } => {
            let at = *pos as usize + if *relative { prev_end } else { 0 };
            (at < buf.len()) != *negated && step(rest, buf, prev_end, budget)
        }
    }
}

/// The byte window `[lo, hi)` in which the content must lie entirely.
fn region(c: &Content, len: usize, prev_end: usize) -> (usize, usize) {
    let mut lo;
    let mut hi = len;
    if c.is_relative() {
        let base = prev_end as i64 + i64::from(c.distance.unwrap_or(0));
        lo = base.max(0) as usize;
        if let Some(w) = c.within {
            hi = hi.min((base + i64::from(w)).max(0) as usize);
        }
    } else {
        lo = c.offset.unwrap_or(0) as usize;
        if let Some(d) = c.depth {
            hi = hi.min(lo + d as usize);
        }
    }
    if c.startswith {
        lo = 0;
        hi = hi.min(c.pattern.len());
    }
    (lo.min(len), hi)
}

/// End offsets of every occurrence of the pattern inside `[lo, hi)`, in order.
fn find_all<'a>(
    c: &'a Content,
    buf: &'a [u8],
    lo: usize,
    hi: usize,
) -> impl Iterator<Item = usize> + 'a {
    let n = c.pattern.len();
    let hay = if hi >= lo + n {
        &buf[lo..hi]
    } else {
        &buf[0..0]
    };
    let finder = memchr::memmem::Finder::new(&c.pattern);
    let nocase = c.nocase;
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if nocase {
            while pos + n <= hay.len() {
                let at = pos;
                pos += 1;
                if hay[at..at + n].eq_ignore_ascii_case(&c.pattern) {
                    return Some(lo + at + n);
                }
            }
            None
        } else {
            let at = pos + finder.find(hay.get(pos..)?)?;
            pos = at + 1;
            Some(lo + at + n)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::ast::{Buffer, SizeCheck};
    use crate::rules::{load_text, Loaded, Vars};

    /// Parses the options of a payload rule and returns its payload conditions.
    fn conds(options: &str) -> BufferConditions {
        let mut loaded = Loaded::default();
        load_text(
            &format!("alert tcp any any -> any any ({options} sid:1;)"),
            "t.rules",
            &Vars::default(),
            &mut loaded,
        );
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        let rule = loaded.rules.pop().unwrap();
        rule.buffers
            .into_iter()
            .find(|b| b.buffer == Buffer::Payload)
            .unwrap_or(BufferConditions {
                buffer: Buffer::Payload,
                conditions: vec![],
                bsize: None,
            })
    }

    fn m(options: &str, buf: &str) -> bool {
        matches(&conds(options), buf.as_bytes())
    }

    #[test]
    fn plain_and_hex_content() {
        assert!(m("content:\"GET\";", "xxGETxx"));
        assert!(m("content:\"|47 45|T\";", "GET"));
        assert!(!m("content:\"get\";", "GET"));
        assert!(m("content:\"get\"; nocase;", "GET"));
        assert!(
            m("content:\"|41|b\"; nocase;", "aB"),
            "nocase applies to hex bytes too"
        );
    }

    #[test]
    fn offset_and_depth() {
        assert!(m("content:\"abc\"; offset:2; depth:3;", "xxabc"));
        assert!(!m("content:\"abc\"; offset:3;", "xxabcx"));
        assert!(!m("content:\"abc\"; depth:4;", "xxabc"));
    }

    #[test]
    fn distance_and_within_are_relative_to_the_previous_match() {
        assert!(m(
            "content:\"a\"; content:\"b\"; distance:1; within:2;",
            "axb"
        ));
        assert!(!m(
            "content:\"a\"; content:\"b\"; distance:1; within:1;",
            "axxb"
        ));
        assert!(!m(
            "content:\"a\"; content:\"b\"; distance:0; within:1;",
            "axb"
        ));
        assert!(m(
            "content:\"ab\"; content:\"a\"; distance:-2; within:1;",
            "ab"
        ));
    }

    #[test]
    fn backtracking_tries_later_occurrences() {
        // The first "a" is followed by "c", the second by "b".
        assert!(m("content:\"a\"; content:\"b\"; within:1;", "acab"));
    }

    #[test]
    fn negated_content() {
        assert!(m("content:\"GET\"; content:!\"evil\";", "GET /"));
        assert!(!m("content:\"GET\"; content:!\"evil\";", "GET /evil"));
        assert!(m(
            "content:\"GET\"; content:!\"evil\"; distance:0; within:4;",
            "GET /a/evil"
        ));
        assert!(!m(
            "content:\"GET\"; content:!\"evil\"; distance:0; within:8;",
            "GET /a/evil"
        ));
    }

    #[test]
    fn startswith_endswith_isdataat_bsize() {
        assert!(m("content:\"ab\"; startswith;", "abc"));
        assert!(!m("content:\"bc\"; startswith;", "abc"));
        assert!(m("content:\"bc\"; endswith;", "abc"));
        assert!(!m("content:\"ab\"; endswith;", "abc"));
        assert!(m("content:\"a\"; isdataat:2,relative;", "abcd"));
        assert!(!m("content:\"a\"; isdataat:3,relative;", "abc"));
        assert!(m("content:\"a\"; isdataat:!3,relative;", "abc"));
        let mut c = conds("content:\"a\";");
        c.bsize = Some(SizeCheck::Eq(3));
        assert!(matches(&c, b"abc") && !matches(&c, b"abcd"));
    }

    #[test]
    fn pcre_absolute_relative_and_negated() {
        assert!(m("pcre:\"/^GET\\s+\\/x/i\";", "get /x"));
        assert!(m("content:\"id=\"; pcre:\"/^[0-9]+/R\";", "?id=42"));
        assert!(!m("content:\"id=\"; pcre:\"/^[0-9]+/R\";", "?id=x42"));
        assert!(m("pcre:!\"/evil/\";", "good"));
    }
}
