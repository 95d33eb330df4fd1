//! The normalized request target rules read as `http.uri`, as libhtp's IDS personality
//! normalizes it under Suricata's settings (case kept): in the path, percent and `%u`
//! escapes decoded (`%2f` too), overlong UTF-8 forms of ASCII read as that character,
//! backslashes read as slashes, runs of slashes compressed, `.` and `..` segments
//! removed; in the query, percent escapes decoded (`%u` ones are kept, as Suricata 7.0.10
//! keeps them there). An invalid escape is kept as it is. `http.uri.raw` is the target
//! as sent.

/// Writes the normalized form of request target `raw` into `out`.
pub fn normalize(raw: &[u8], out: &mut Vec<u8>) {
    out.clear();
    // An absolute target (`http://host/path`, proxies) keeps its scheme and authority.
    let path_start = absolute_path_start(raw).unwrap_or(0);
    out.extend_from_slice(&raw[..path_start]);
    let rest = &raw[path_start..];
    let (path, query) = match memchr::memchr(b'?', rest) {
        Some(q) => (&rest[..q], Some(&rest[q + 1..])),
        None => (rest, None),
    };
    let base = out.len();
    decode(path, out, true);
    remove_dot_segments(out, base);
    if let Some(q) = query {
        out.push(b'?');
        decode(q, out, false);
    }
}

/// Where the path of an absolute target begins (after `scheme://authority`).
fn absolute_path_start(raw: &[u8]) -> Option<usize> {
    let scheme = raw.iter().position(|&b| b == b':')?;
    if scheme == 0 || !raw[..scheme].iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    let after = raw.get(scheme + 1..)?.strip_prefix(b"//")?;
    let authority_end = after
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(after.len());
    Some(scheme + 3 + authority_end)
}

/// Appends `s` percent-decoded to `out`; in a path (`path`), `%u` escapes decoded too,
/// backslashes read as slashes and overlong two-byte UTF-8 forms of ASCII as that
/// character.
fn decode(s: &[u8], out: &mut Vec<u8>, path: bool) {
    let start = out.len();
    let mut i = 0;
    while i < s.len() {
        let (b, used) = match s[i] {
            b'%' if !path && matches!(s.get(i + 1), Some(b'u' | b'U')) => (b'%', 1),
            b'%' => escape(&s[i..]),
            b => (b, 1),
        };
        i += used;
        match out.last() {
            // An overlong form (`%c0%af` for `/`): the character it spells.
            Some(&lead @ (0xc0 | 0xc1)) if path && b & 0xc0 == 0x80 && out.len() > start => {
                let last = out.len() - 1;
                out[last] = ((lead & 0x1f) << 6) | (b & 0x3f);
            }
            _ => out.push(if path && b == b'\\' { b'/' } else { b }),
        }
    }
}

/// The byte an escape at the start of `s` (`%XX` or `%uXXXX`) stands for and how many
/// bytes it takes; an invalid escape is its `%` alone.
fn escape(s: &[u8]) -> (u8, usize) {
    let hex = |i: usize| s.get(i).and_then(|c| (*c as char).to_digit(16));
    if matches!(s.get(1), Some(b'u' | b'U')) {
        if let (Some(a), Some(b), Some(c), Some(d)) = (hex(2), hex(3), hex(4), hex(5)) {
            let code = (a << 12) | (b << 8) | (c << 4) | d;
            return (best_fit(code), 6);
        }
        return (b'%', 1);
    }
    match (hex(1), hex(2)) {
        (Some(h), Some(l)) => (((h << 4) | l) as u8, 3),
        _ => (b'%', 1),
    }
}

/// The byte libhtp's best-fit mapping gives a `%u` code point: itself below 0x100, the
/// ASCII character a full-width form stands for, else `?`.
fn best_fit(code: u32) -> u8 {
    match code {
        0..=0xff => code as u8,
        0xff01..=0xff5e => (code - 0xff01 + 0x21) as u8,
        _ => b'?',
    }
}

/// Rewrites the path at `buf[base..]` in place with runs of slashes compressed and `.`
/// and `..` segments removed (RFC 3986's remove_dot_segments, never above the root).
/// The output never outgrows the input read so far, so it is written over it.
fn remove_dot_segments(buf: &mut Vec<u8>, base: usize) {
    let end = buf.len();
    let mut w = base;
    if buf.get(base) == Some(&b'/') {
        w += 1;
    }
    let root = w;
    let mut segments = 0usize;
    let mut trailing_slash;
    let mut i = base;
    loop {
        let j = memchr::memchr(b'/', &buf[i..end]).map_or(end, |k| i + k);
        let last = j == end;
        match &buf[i..j] {
            b"" => trailing_slash = last && i > base,
            b"." => trailing_slash = last,
            b".." => {
                if segments > 0 {
                    w = memchr::memrchr(b'/', &buf[root..w]).map_or(root, |k| root + k);
                    segments -= 1;
                }
                trailing_slash = last;
            }
            _ => {
                if segments > 0 {
                    buf[w] = b'/';
                    w += 1;
                }
                buf.copy_within(i..j, w);
                w += j - i;
                segments += 1;
                trailing_slash = false;
            }
        }
        if last {
            break;
        }
        i = j + 1;
    }
    buf.truncate(w);
    if trailing_slash && buf.len() > base && buf.last() != Some(&b'/') {
        buf.push(b'/');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> String {
        let mut out = Vec::new();
        normalize(raw.as_bytes(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn every_encoding_an_evader_uses_reads_as_the_server_reads_it() {
        // Percent-encoded `${jndi:` in the query.
        assert_eq!(norm("/?x=%24%7B%6a%6e%64%69%3a"), "/?x=${jndi:");
        // %u escapes, full-width forms by best fit.
        assert_eq!(norm("/%u0061dmin/%uff0e%uff0e/x"), "/x");
        assert_eq!(norm("/a?q=%u0024%u007b"), "/a?q=%u0024%u007b");
        // Dot segments, encoded or not, backslashes, doubled slashes.
        assert_eq!(norm("/a/b/../c/./d"), "/a/c/d");
        assert_eq!(norm("/a/%2e%2e/etc/passwd"), "/etc/passwd");
        assert_eq!(norm("/a\\..\\..\\etc\\passwd"), "/etc/passwd");
        assert_eq!(norm("//cgi-bin///x.cgi"), "/cgi-bin/x.cgi");
        assert_eq!(norm("/a%2f..%2fb"), "/b");
        // Overlong UTF-8 for `/` and `.`.
        assert_eq!(norm("/a/%c0%ae%c0%ae%c0%afetc"), "/etc");
        // Above the root stays at the root.
        assert_eq!(norm("/../../x"), "/x");
        // Case is kept; the query is decoded but not path-normalized; `+` stays.
        assert_eq!(norm("/Admin/?a=../b&c=d+e"), "/Admin/?a=../b&c=d+e");
    }

    #[test]
    fn invalid_escapes_and_absolute_targets_are_kept_as_sent() {
        assert_eq!(norm("/a%zz%4"), "/a%zz%4");
        assert_eq!(norm("/a%u12"), "/a%u12");
        assert_eq!(norm("http://Host:80/a/../b?x=%41"), "http://Host:80/b?x=A");
        assert_eq!(norm("/dir/"), "/dir/");
        assert_eq!(norm("/dir/."), "/dir/");
        assert_eq!(norm("*"), "*");
        assert_eq!(norm(""), "");
    }
}
