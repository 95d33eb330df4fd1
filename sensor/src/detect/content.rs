//! Exact verification of one buffer's conditions, with Suricata's semantics.
//!
//! Absolute contents search `[offset, offset + depth)`; relative ones (`distance`,
//! `within`) search `[prev_end + distance, prev_end + distance + within)` where `prev_end`
//! is the end of the previous condition's match. When a later condition fails, earlier
//! contents are retried at their next occurrence (backtracking), bounded by a budget so a
//! hostile payload cannot make inspection explode. Negated contents succeed when the
//! pattern is absent from their region and do not move `prev_end`. `byte_test` reads a
//! number (binary or digits) and compares it without moving `prev_end`; `byte_jump`
//! reads one and moves `prev_end` by it, as Suricata's do.

use crate::rules::ast::{
    BufferConditions, ByteJump, ByteOp, ByteRead, ByteTest, Condition, Content, JumpFrom,
};

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
            match p.regex.find_end(&buf[start..]) {
                Some(end) if !p.negated => step(rest, buf, start + end, budget),
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
        Condition::ByteTest(t) => byte_test(t, buf, prev_end) && step(rest, buf, prev_end, budget),
        Condition::ByteJump(j) => {
            byte_jump(j, buf, prev_end).is_some_and(|to| step(rest, buf, to, budget))
        }
    }
}

/// Suricata's `byte_test`: false when the bytes are not all there or do not read as a
/// number.
fn byte_test(t: &ByteTest, buf: &[u8], prev_end: usize) -> bool {
    let Some((_, n)) = read_number(&t.read, buf, prev_end) else {
        return false;
    };
    let v = t.value;
    let holds = match t.op {
        ByteOp::Lt => n < v,
        ByteOp::Gt => n > v,
        ByteOp::Eq => n == v,
        ByteOp::Le => n <= v,
        ByteOp::Ge => n >= v,
        ByteOp::And => n & v != 0,
        ByteOp::Xor => n ^ v != 0,
    };
    holds != t.negated
}

/// Suricata's `byte_jump`: where relative conditions continue from, or `None` when the
/// number cannot be read or the jump lands past the buffer's end (a jump before its
/// start lands on the start).
fn byte_jump(j: &ByteJump, buf: &[u8], prev_end: usize) -> Option<usize> {
    let (end_of_number, n) = read_number(&j.read, buf, prev_end)?;
    let mut n = n.checked_mul(u64::from(j.multiplier))?;
    if j.align && n % 4 != 0 {
        n = n.checked_add(4 - n % 4)?;
    }
    let n = i64::try_from(n)
        .ok()?
        .checked_add(i64::from(j.post_offset))?;
    let from = match j.from {
        JumpFrom::AfterNumber => end_of_number as i64,
        JumpFrom::Beginning => 0,
        JumpFrom::End => buf.len() as i64,
    };
    let to = from.checked_add(n)?.max(0);
    (to <= buf.len() as i64).then_some(to as usize)
}

/// The number `r` reads: where the bytes it used end, and its value (masked).
fn read_number(r: &ByteRead, buf: &[u8], prev_end: usize) -> Option<(usize, u64)> {
    let base = if r.relative { prev_end as i64 } else { 0 };
    let start = base + i64::from(r.offset);
    let end = start + i64::from(r.nbytes);
    if start < 0 || end > buf.len() as i64 {
        return None;
    }
    let start = start as usize;
    let bytes = &buf[start..end as usize];
    let (used, mut n) = match r.string_base {
        Some(radix) => digits(bytes, radix)?,
        None if r.little_endian => (
            bytes.len(),
            bytes.iter().rev().fold(0, |n, &b| n << 8 | u64::from(b)),
        ),
        None => (
            bytes.len(),
            bytes.iter().fold(0, |n, &b| n << 8 | u64::from(b)),
        ),
    };
    if let Some(mask) = r.bitmask {
        n = (n & mask) >> mask.trailing_zeros();
    }
    Some((start + used, n))
}

/// The number the leading digits of `bytes` spell in `radix`, as C's `strtoull` reads them
/// (leading spaces, a `+`, `0x` in hexadecimal), with the count of bytes it used; `None`
/// without a digit or on overflow.
fn digits(bytes: &[u8], radix: u32) -> Option<(usize, u64)> {
    let mut s = bytes.trim_ascii_start();
    s = s.strip_prefix(b"+").unwrap_or(s);
    if radix == 16 {
        s = s
            .strip_prefix(b"0x")
            .or_else(|| s.strip_prefix(b"0X"))
            .unwrap_or(s);
    }
    let skipped = bytes.len() - s.len();
    let len = s
        .iter()
        .take_while(|b| char::from(**b).is_digit(radix))
        .count();
    if len == 0 {
        return None;
    }
    let n = s[..len].iter().try_fold(0u64, |n, &b| {
        let d = char::from(b).to_digit(radix)?;
        n.checked_mul(u64::from(radix))?.checked_add(u64::from(d))
    })?;
    Some((skipped + len, n))
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
    fn pcre_the_regex_crate_cannot_express_runs_on_pcre2() {
        // A back-reference, look-ahead and look-behind, Perl's inline flags; relative.
        assert!(m("pcre:\"/(ab)c\\1/\";", "xxabcab"));
        assert!(!m("pcre:\"/(ab)c\\1/\";", "xxabcba"));
        assert!(m("pcre:\"/foo(?=bar)/\";", "foobar"));
        assert!(!m("pcre:\"/(?<!x)foo/\";", "xfoo"));
        assert!(m("pcre:\"/(?i)GET(?-i)x/\";", "getx"));
        assert!(m("content:\"id=\"; pcre:\"/^(\\d)\\1/R\";", "id=33"));
        assert!(!m("content:\"id=\"; pcre:\"/^(\\d)\\1/R\";", "id=34"));
        assert!(m("pcre:!\"/(a)\\1/\";", "abab"), "negated, and no repeat");
        let linear = conds("pcre:\"/a+b/\";");
        let Condition::Pcre(p) = &linear.conditions[0] else {
            panic!("a pcre")
        };
        assert!(matches!(p.regex, crate::rules::ast::PcreProgram::Regex(_)));
    }

    #[test]
    fn a_pcre2_expression_gives_up_at_its_match_limit() {
        // The look-ahead sends it to PCRE2. On "aab" it matches in a few steps; on 24
        // a's then b, PCRE2 without a limit finds the same match after trying the first
        // branch every way (measured: 1.7 ms, 25 bytes), under Suricata's limit it stops:
        // no match, in microseconds.
        let expr = "pcre:\"/(?=a)(?:a|aa)*c|b$/\";";
        assert!(m(expr, "aab"));
        assert!(!m(expr, &format!("{}b", "a".repeat(24))));
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
    fn byte_test_reads_binary_and_string_numbers_as_suricata_does() {
        let b = |options: &str, buf: &[u8]| matches(&conds(options), buf);
        assert!(b("byte_test:1,&,64,2;", b"\x00\x00\x40"));
        assert!(!b("byte_test:1,&,64,2;", b"\x00\x00\x3f"));
        assert!(b("byte_test:2,=,1001,0;", b"\x03\xe9"));
        assert!(!b("byte_test:2,=,1001,0;", b"\xe9\x03"));
        assert!(b("byte_test:2,=,1001,0,little;", b"\xe9\x03"));
        assert!(b("byte_test:2,>,1000,0;", b"\x03\xe9"));
        assert!(b("byte_test:8,=,1,0;", b"\0\0\0\0\0\0\0\x01"));
        assert!(b(
            "content:\"ab\"; byte_test:2,=,0x0102,0,relative;",
            b"xxab\x01\x02"
        ));
        assert!(b(
            "content:\"xyz\"; byte_test:1,=,120,-3,relative;",
            b"..xyz"
        ));
        assert!(b("byte_test:3,>=,100,0,string,dec;", b"150"));
        assert!(!b("byte_test:3,>=,100,0,string,dec;", b"12a"), "12 < 100");
        assert!(!b("byte_test:3,>=,0,0,string,dec;", b"abc"), "no digit");
        assert!(b("byte_test:2,=,255,0,string,hex;", b"ff"));
        assert!(b("byte_test:3,=,8,0,string,oct;", b"010"));
        assert!(!b("byte_test:1,!,1,0;", b"\x01"));
        assert!(b("byte_test:1,!=,1,0;", b"\x02"));
        assert!(b("byte_test:1,^,1,0;", b"\x03"));
        assert!(b("byte_test:2,=,3,0,bitmask 0x0f00;", b"\x03\xff"));
        assert!(!b("byte_test:4,>,0,2;", b"abc"), "bytes past the end");
        assert!(
            !b("byte_test:1,!,0,5;", b"abc"),
            "past the end is never a match"
        );
    }

    #[test]
    fn byte_jump_moves_where_relative_conditions_continue() {
        let b = |options: &str, buf: &[u8]| matches(&conds(options), buf);
        let then_x = "content:\"X\"; within:1;";
        assert!(b(&format!("byte_jump:1,0; {then_x}"), b"\x02abX"));
        assert!(!b(&format!("byte_jump:1,0; {then_x}"), b"\x01abX"));
        assert!(b(
            &format!("byte_jump:1,0,from_beginning; {then_x}"),
            b"\x03abX"
        ));
        assert!(b(
            &format!("byte_jump:1,0,multiplier 2; {then_x}"),
            b"\x01abX"
        ));
        assert!(b(&format!("byte_jump:1,0,align; {then_x}"), b"\x01abcdX"));
        assert!(b(
            &format!("byte_jump:1,0,post_offset -1; {then_x}"),
            b"\x03abXc"
        ));
        assert!(b(
            &format!("byte_jump:1,0,from_end,post_offset -1; {then_x}"),
            b"\x00abX"
        ));
        assert!(b(&format!("byte_jump:2,0,string,dec; {then_x}"), b"03abcX"));
        assert!(b(
            &format!("content:\"ab\"; byte_jump:1,0,relative; {then_x}"),
            b"ab\x01cX"
        ));
        assert!(
            !b("byte_jump:1,0; content:\"a\";", b"\x09ab"),
            "a jump past the end fails"
        );
        assert!(
            b(
                "byte_jump:1,1,post_offset -10; content:\"a\"; within:1;",
                b"a\x00"
            ),
            "a jump before the start lands on it"
        );
        assert!(
            b("byte_jump:1,0; isdataat:!1,relative;", b"\x02ab"),
            "the end is a place"
        );
        assert!(
            !b(
                "byte_jump:8,0,align; content:\"a\";",
                b"\xff\xff\xff\xff\xff\xff\xff\xffa"
            ),
            "a jump too large to count fails"
        );
    }

    #[test]
    fn pcre_absolute_relative_and_negated() {
        assert!(m("pcre:\"/^GET\\s+\\/x/i\";", "get /x"));
        assert!(m("content:\"id=\"; pcre:\"/^[0-9]+/R\";", "?id=42"));
        assert!(!m("content:\"id=\"; pcre:\"/^[0-9]+/R\";", "?id=x42"));
        assert!(m("pcre:!\"/evil/\";", "good"));
    }
}
