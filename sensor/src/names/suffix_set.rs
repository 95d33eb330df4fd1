//! A set of byte strings matched against the ends of names, in one pass.
//!
//! Each key is stored once in a byte arena and indexed by an open-addressing table of
//! 16-byte slots. A key matches a name either as the whole name ([`KeyKind::Exact`]), as
//! any suffix including the whole name ([`KeyKind::Suffix`]), or as a proper suffix only
//! ([`KeyKind::ProperSuffix`]). The hash of every suffix of a name falls out of one
//! right-to-left pass (FNV-1a over the reversed bytes), and the table is probed only at
//! positions whose suffix length and first byte some key has (two 256-bit maps: for keys
//! that all start with `.`, only at label boundaries), so a lookup costs one pass over the
//! name plus a probe per plausible suffix.
//!
//! Used for domain names written as `.` + labels: a key `.evil.com` of kind `Suffix`
//! matches `evil.com` and every name under it, never `notevil.com` (label-aligned), while
//! a key `evil.com` matches any name ending in those bytes (Suricata's `endswith`).

const EMPTY: u32 = u32::MAX;

/// How a key matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// The whole name only.
    Exact,
    /// The whole name or any suffix of it.
    Suffix,
    /// A suffix shorter than the name only.
    ProperSuffix,
}

impl KeyKind {
    fn bits(self) -> u8 {
        match self {
            KeyKind::Exact => 0,
            KeyKind::Suffix => 1,
            KeyKind::ProperSuffix => 2,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u32,
    offset: u32,
    len: u8,
    kind: u8,
    value: u32,
}

const VACANT: Slot = Slot {
    hash: 0,
    offset: 0,
    len: 0,
    kind: 0,
    value: EMPTY,
};

/// Keys of up to 255 bytes, each with a `u32` value.
#[derive(Debug, Clone)]
pub struct SuffixSet {
    slots: Vec<Slot>,
    arena: Vec<u8>,
    lengths: [u64; 4],
    first_bytes: [u64; 4],
    /// One bit per (32-bit hash of a) key, 8 bits per slot: most probes of suffixes that
    /// are no key stop here, in a map a small set keeps in L1.
    filter: Vec<u64>,
    len: usize,
}

impl Default for SuffixSet {
    fn default() -> Self {
        SuffixSet::with_capacity(0)
    }
}

#[inline]
fn step(h: u64, b: u8) -> u64 {
    (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;

fn hash_of(key: &[u8]) -> u64 {
    key.iter().rev().fold(SEED, |h, &b| step(h, b))
}

impl SuffixSet {
    /// An empty set sized for about `n` keys.
    pub fn with_capacity(n: usize) -> Self {
        let slots = (n * 2).next_power_of_two().max(16);
        SuffixSet {
            filter: vec![0; slots / 8],
            slots: vec![VACANT; slots],
            arena: Vec::new(),
            lengths: [0; 4],
            first_bytes: [0; 4],
            len: 0,
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set has no key.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of memory held.
    pub fn memory_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.arena.capacity()
            + self.filter.capacity() * 8
    }

    #[inline]
    fn index(&self, h: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
    }

    #[inline]
    fn filter_bit(&self, hash32: u32) -> (usize, u64) {
        let bits = (self.filter.len() * 64).trailing_zeros();
        let i = (hash32.wrapping_mul(0x9e37_79b1) >> (32 - bits)) as usize;
        (i >> 6, 1 << (i & 63))
    }

    fn key(&self, s: &Slot) -> &[u8] {
        &self.arena[s.offset as usize..s.offset as usize + usize::from(s.len)]
    }

    /// Inserts `key` (1 to 255 bytes) of `kind` with `value`; when the same key and kind
    /// is there already, returns its value and keeps it. Longer or empty keys are refused
    /// (`None`).
    pub fn insert(&mut self, key: &[u8], kind: KeyKind, value: u32) -> Option<u32> {
        if key.is_empty() || key.len() > 255 || value == EMPTY {
            return None;
        }
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let h = hash_of(key);
        let mask = self.slots.len() - 1;
        let mut i = self.index(h);
        loop {
            let s = self.slots[i];
            if s.value == EMPTY {
                break;
            }
            if s.hash == h as u32 && s.kind == kind.bits() && self.key(&s) == key {
                return Some(s.value);
            }
            i = (i + 1) & mask;
        }
        let offset = u32::try_from(self.arena.len()).ok()?;
        self.arena.extend_from_slice(key);
        self.slots[i] = Slot {
            hash: h as u32,
            offset,
            len: key.len() as u8,
            kind: kind.bits(),
            value,
        };
        let (word, bit) = self.filter_bit(h as u32);
        self.filter[word] |= bit;
        self.lengths[key.len() >> 6] |= 1 << (key.len() & 63);
        self.first_bytes[usize::from(key[0] >> 6)] |= 1 << (key[0] & 63);
        self.len += 1;
        Some(value)
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![VACANT; size]);
        self.filter = vec![0; size / 8];
        let mask = self.slots.len() - 1;
        for s in old.into_iter().filter(|s| s.value != EMPTY) {
            let key = &self.arena[s.offset as usize..s.offset as usize + usize::from(s.len)];
            let mut i = self.index(hash_of(key));
            while self.slots[i].value != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
            let (word, bit) = self.filter_bit(s.hash);
            self.filter[word] |= bit;
        }
    }

    /// Releases spare arena capacity after loading.
    pub fn shrink(&mut self) {
        self.arena.shrink_to_fit();
    }

    /// The hash of every suffix of `name` (`out[i]` for `name[i..]`), computed once so
    /// several sets over the same name (or over it without its first byte) can share it.
    pub fn suffix_hashes(name: &[u8], out: &mut Vec<u64>) {
        out.clear();
        Self::append_suffix_hashes(name, out);
    }

    /// [`SuffixSet::suffix_hashes`] appended to `out` (several names in one vector).
    pub fn append_suffix_hashes(name: &[u8], out: &mut Vec<u64>) {
        let at = out.len();
        out.resize(at + name.len(), 0);
        let mut h = SEED;
        for i in (0..name.len()).rev() {
            h = step(h, name[i]);
            out[at + i] = h;
        }
    }

    /// Calls `hit(value, start)` for every key matching `name`, where `start` is where the
    /// matching suffix begins (0: the whole name), shortest suffix first.
    #[inline]
    pub fn for_each_match(&self, name: &[u8], mut hit: impl FnMut(u32, usize)) {
        if self.len == 0 || name.is_empty() {
            return;
        }
        let mut h = SEED;
        for start in (0..name.len()).rev() {
            h = step(h, name[start]);
            self.probe(name, start, h, &mut hit);
        }
    }

    /// [`SuffixSet::for_each_match`] with the suffix hashes of `name` given
    /// ([`SuffixSet::suffix_hashes`]; `hashes.len() == name.len()`).
    #[inline]
    pub fn for_each_match_hashed(
        &self,
        name: &[u8],
        hashes: &[u64],
        mut hit: impl FnMut(u32, usize),
    ) {
        if self.len == 0 || name.len() != hashes.len() {
            return;
        }
        for start in (0..name.len()).rev() {
            self.probe(name, start, hashes[start], &mut hit);
        }
    }

    #[inline(always)]
    fn probe(&self, name: &[u8], start: usize, h: u64, hit: &mut impl FnMut(u32, usize)) {
        let n = name.len() - start;
        let b = name[start];
        if n > 255
            || self.lengths[n >> 6] & (1 << (n & 63)) == 0
            || self.first_bytes[usize::from(b >> 6)] & (1 << (b & 63)) == 0
        {
            return;
        }
        let (word, bit) = self.filter_bit(h as u32);
        if self.filter[word] & bit == 0 {
            return;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.index(h);
        loop {
            let s = &self.slots[i];
            if s.value == EMPTY {
                return;
            }
            if s.hash == h as u32 && usize::from(s.len) == n && self.key(s) == &name[start..] {
                let ok = match s.kind {
                    0 => start == 0,
                    1 => true,
                    _ => start > 0,
                };
                if ok {
                    hit(s.value, start);
                }
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(set: &SuffixSet, name: &str) -> Vec<u32> {
        let mut v = Vec::new();
        set.for_each_match(name.as_bytes(), |x, _| v.push(x));
        v
    }

    #[test]
    fn dotted_suffix_keys_are_label_aligned() {
        let mut s = SuffixSet::default();
        s.insert(b".evil.com", KeyKind::Suffix, 1);
        assert_eq!(matches(&s, ".evil.com"), [1]);
        assert_eq!(matches(&s, ".a.b.evil.com"), [1]);
        assert!(matches(&s, ".notevil.com").is_empty());
        assert!(matches(&s, ".evil.com.au").is_empty());
    }

    #[test]
    fn byte_suffixes_exact_names_and_proper_suffixes() {
        let mut s = SuffixSet::default();
        s.insert(b"evil.com", KeyKind::Suffix, 1);
        s.insert(b".exact.org", KeyKind::Exact, 2);
        s.insert(b".wild.net", KeyKind::ProperSuffix, 3);
        assert_eq!(matches(&s, ".notevil.com"), [1]);
        assert_eq!(matches(&s, ".exact.org"), [2]);
        assert!(matches(&s, ".a.exact.org").is_empty());
        assert!(matches(&s, ".wild.net").is_empty());
        assert_eq!(matches(&s, ".x.wild.net"), [3]);
    }

    #[test]
    fn several_keys_match_shortest_first_and_duplicates_keep_the_first_value() {
        let mut s = SuffixSet::default();
        assert_eq!(s.insert(b".com", KeyKind::Suffix, 1), Some(1));
        assert_eq!(s.insert(b".b.com", KeyKind::Suffix, 2), Some(2));
        assert_eq!(s.insert(b".b.com", KeyKind::Suffix, 9), Some(2));
        assert_eq!(s.insert(b".b.com", KeyKind::Exact, 3), Some(3));
        let mut hits = Vec::new();
        s.for_each_match(b".a.b.com", |v, at| hits.push((v, at)));
        assert_eq!(hits, [(1, 4), (2, 2)]);
        assert_eq!(s.len(), 3);
        assert!(s.insert(b"", KeyKind::Suffix, 1).is_none());
        assert!(s.insert(&[b'a'; 256], KeyKind::Suffix, 1).is_none());
    }

    #[test]
    fn shared_hashes_give_the_same_matches() {
        let mut s = SuffixSet::default();
        s.insert(b".evil.com", KeyKind::Suffix, 1);
        s.insert(b"il.com", KeyKind::Suffix, 2);
        let name = b".a.evil.com";
        let mut hashes = Vec::new();
        SuffixSet::suffix_hashes(name, &mut hashes);
        let mut a = Vec::new();
        let mut b = Vec::new();
        s.for_each_match(name, |v, at| a.push((v, at)));
        s.for_each_match_hashed(name, &hashes, |v, at| b.push((v, at)));
        assert_eq!(a, b);
        assert_eq!(a, [(2, 5), (1, 2)]);
        let mut c = Vec::new();
        s.for_each_match_hashed(&name[1..], &hashes[1..], |v, at| c.push((v, at)));
        assert_eq!(c, [(2, 4), (1, 1)]);
    }

    #[test]
    fn growing_keeps_every_key() {
        let mut s = SuffixSet::with_capacity(1);
        for i in 0..10_000u32 {
            s.insert(format!(".n{i}.example").as_bytes(), KeyKind::Suffix, i);
        }
        for i in (0..10_000u32).step_by(97) {
            assert_eq!(matches(&s, &format!(".www.n{i}.example")), [i]);
        }
        assert!(matches(&s, ".n10000.example").is_empty());
        s.shrink();
        assert!(s.memory_bytes() < 10_000 * 80);
    }
}
