//! Fixed-size summaries a host profile is built from: a Bloom filter that forgets (two
//! generations), a capped distinct counter, and Shannon entropy of a label.
//!
//! Everything here has a size fixed when it is created, so a host's memory is bounded
//! whatever it does.

use std::io::{self, Read, Write};

use super::persist::{read_u32, read_u64, write_u32, write_u64};

/// A Bloom filter of 64-bit hashes with two generations: insertions go to the current
/// one, lookups see both, and [`AgingBloom::rotate`] drops the older. An item not seen
/// for two aging periods is forgotten, so a baseline absorbs slow change. False
/// positives (an item never inserted reported as known) make a detection miss, never
/// raise an alert; they stay near 1% until about `bits / 10` items per generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgingBloom {
    generations: [Box<[u64]>; 2],
    current: usize,
    /// Items inserted that neither generation knew.
    items: u32,
    /// When the current generation started (packet time, microseconds).
    started_us: u64,
}

const HASHES: u64 = 4;

impl AgingBloom {
    /// A filter of `bytes` bytes per generation (rounded up to 8, at least 64).
    pub fn new(bytes: usize, now_us: u64) -> Self {
        let words = bytes.div_ceil(8).max(8);
        AgingBloom {
            generations: [
                vec![0; words].into_boxed_slice(),
                vec![0; words].into_boxed_slice(),
            ],
            current: 0,
            items: 0,
            started_us: now_us,
        }
    }

    fn bits(&self) -> u64 {
        self.generations[0].len() as u64 * 64
    }

    fn positions(&self, hash: u64) -> impl Iterator<Item = (usize, u64)> {
        let m = self.bits();
        let h2 = hash.rotate_left(32) | 1;
        (0..HASHES).map(move |i| {
            let bit = hash.wrapping_add(i.wrapping_mul(h2)) % m;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    fn in_generation(&self, g: usize, hash: u64) -> bool {
        self.positions(hash)
            .all(|(w, mask)| self.generations[g][w] & mask != 0)
    }

    /// Whether `hash` was inserted in this generation or the previous one.
    pub fn contains(&self, hash: u64) -> bool {
        self.in_generation(self.current, hash) || self.in_generation(1 - self.current, hash)
    }

    /// Inserts `hash` into the current generation; returns true when neither generation
    /// knew it.
    pub fn insert(&mut self, hash: u64) -> bool {
        let new = !self.contains(hash);
        let g = self.current;
        let mut positions = [(0, 0); HASHES as usize];
        for (slot, p) in positions.iter_mut().zip(self.positions(hash)) {
            *slot = p;
        }
        for (w, mask) in positions {
            self.generations[g][w] |= mask;
        }
        if new {
            self.items = self.items.saturating_add(1);
        }
        new
    }

    /// Starts a new generation when the current one is `period_us` old, dropping the
    /// older. Returns whether it rotated.
    pub fn rotate(&mut self, now_us: u64, period_us: u64) -> bool {
        if period_us == 0 || now_us < self.started_us.saturating_add(period_us) {
            return false;
        }
        self.current = 1 - self.current;
        self.generations[self.current].fill(0);
        self.started_us = now_us;
        self.items = self.approx_items(1 - self.current);
        true
    }

    /// Items inserted new since the filter was created (after a rotation: an estimate of
    /// the surviving generation's items).
    pub fn items(&self) -> u32 {
        self.items
    }

    fn approx_items(&self, g: usize) -> u32 {
        // Swamidass & Baldi: n = -(m / k) ln(1 - X / m), X = bits set.
        let m = self.bits() as f64;
        let set: u32 = self.generations[g].iter().map(|w| w.count_ones()).sum();
        let fill = (f64::from(set) / m).min(0.999_999);
        (-(m / HASHES as f64) * (1.0 - fill).ln()).round() as u32
    }

    /// Bytes of memory the filter holds.
    pub fn heap_bytes(&self) -> usize {
        self.generations[0].len() * 16
    }

    /// Writes the filter.
    pub fn save(&self, w: &mut impl Write) -> io::Result<()> {
        write_u32(w, self.generations[0].len() as u32)?;
        write_u32(w, self.current as u32)?;
        write_u32(w, self.items)?;
        write_u64(w, self.started_us)?;
        for g in &self.generations {
            for word in g.iter() {
                write_u64(w, *word)?;
            }
        }
        Ok(())
    }

    /// Reads a filter written by [`AgingBloom::save`] for filters of `bytes` bytes per
    /// generation (as [`AgingBloom::new`] takes them); a filter of another size is refused,
    /// since it would keep answering with the old size's error rate and memory.
    pub fn load(r: &mut impl Read, bytes: usize) -> io::Result<Self> {
        let words = read_u32(r)? as usize;
        let expected = bytes.div_ceil(8).max(8);
        if words != expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a filter of {} bytes where the configuration asks for {}",
                    words * 8,
                    expected * 8
                ),
            ));
        }
        let current = (read_u32(r)? as usize).min(1);
        let items = read_u32(r)?;
        let started_us = read_u64(r)?;
        let mut gen = || -> io::Result<Box<[u64]>> { (0..words).map(|_| read_u64(r)).collect() };
        let generations = [gen()?, gen()?];
        Ok(AgingBloom {
            generations,
            current,
            items,
            started_us,
        })
    }
}

/// Counts distinct 32-bit hashes exactly up to a cap, then stops growing: enough to tell
/// whether a threshold was crossed, in at most `cap * 4` bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CappedDistinct {
    seen: Vec<u32>,
}

impl CappedDistinct {
    /// Adds `hash` unless `cap` distinct ones are already held; returns the count.
    pub fn add(&mut self, hash: u32, cap: usize) -> usize {
        if self.seen.len() < cap && !self.seen.contains(&hash) {
            self.seen.push(hash);
        }
        self.seen.len()
    }

    /// Distinct hashes held.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Forgets everything (keeps the allocation).
    pub fn clear(&mut self) {
        self.seen.clear();
    }

    /// Writes the set.
    pub fn save(&self, w: &mut impl Write) -> io::Result<()> {
        write_u32(w, self.seen.len() as u32)?;
        for h in &self.seen {
            write_u32(w, *h)?;
        }
        Ok(())
    }

    /// Reads a set written by [`CappedDistinct::save`], keeping at most `cap`.
    pub fn load(r: &mut impl Read, cap: usize) -> io::Result<Self> {
        let n = read_u32(r)? as usize;
        if n > 1 << 20 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "set size"));
        }
        let mut seen = Vec::with_capacity(n.min(cap));
        for _ in 0..n {
            let h = read_u32(r)?;
            if seen.len() < cap {
                seen.push(h);
            }
        }
        Ok(CappedDistinct { seen })
    }
}

/// Shannon entropy of `bytes` in bits per character (0 for an empty slice).
pub fn entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u16; 256];
    for &b in bytes {
        counts[usize::from(b)] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// A 64-bit hash of `bytes` (FxHash; stable across runs, so saved profiles stay valid).
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(bytes);
    // Fx mixes weakly in the low bits; finish with a multiply-xorshift.
    let x = h.finish();
    let x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bloom_knows_what_was_inserted_and_forgets_after_two_rotations() {
        let mut b = AgingBloom::new(1024, 0);
        assert!(b.insert(42));
        assert!(!b.insert(42));
        assert!(b.contains(42));
        assert!(!b.contains(43));
        assert!(b.rotate(10, 10));
        assert!(b.contains(42), "the previous generation is still consulted");
        assert!(b.rotate(20, 10));
        assert!(!b.contains(42), "forgotten after two periods unseen");
        assert!(!b.rotate(25, 10));
    }

    #[test]
    fn bloom_refreshed_items_survive_rotation() {
        let mut b = AgingBloom::new(1024, 0);
        b.insert(7);
        b.rotate(10, 10);
        assert!(!b.insert(7), "known from the previous generation");
        b.rotate(20, 10);
        assert!(b.contains(7));
    }

    #[test]
    fn bloom_false_positive_rate_stays_low_at_a_tenth_of_its_bits() {
        let mut b = AgingBloom::new(1024, 0);
        for i in 0..800u64 {
            b.insert(hash_bytes(&i.to_le_bytes()));
        }
        let fp = (10_000..20_000u64)
            .filter(|i| b.contains(hash_bytes(&i.to_le_bytes())))
            .count();
        assert!(fp < 300, "{fp} false positives in 10,000");
    }

    #[test]
    fn bloom_and_set_round_trip_through_save_and_load() {
        let mut b = AgingBloom::new(256, 5);
        b.insert(1);
        b.insert(99);
        let mut bytes = Vec::new();
        b.save(&mut bytes).unwrap();
        assert_eq!(AgingBloom::load(&mut bytes.as_slice(), 256).unwrap(), b);
        let other = AgingBloom::load(&mut bytes.as_slice(), 512).unwrap_err();
        assert!(other
            .to_string()
            .contains("256 bytes where the configuration asks for 512"));
        let mut s = CappedDistinct::default();
        s.add(3, 10);
        s.add(4, 10);
        let mut bytes = Vec::new();
        s.save(&mut bytes).unwrap();
        assert_eq!(CappedDistinct::load(&mut bytes.as_slice(), 10).unwrap(), s);
        assert!(AgingBloom::load(&mut [0u8; 3].as_slice(), 256).is_err());
    }

    #[test]
    fn capped_distinct_counts_up_to_its_cap() {
        let mut s = CappedDistinct::default();
        for h in [1, 2, 2, 3, 4, 5] {
            s.add(h, 4);
        }
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn entropy_of_random_labels_is_higher_than_of_words() {
        assert_eq!(entropy(b""), 0.0);
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert!((entropy(b"ab") - 1.0).abs() < 1e-9);
        assert!(entropy(b"q8z0anwaba4kx2jf9") > entropy(b"facebook"));
    }
}
