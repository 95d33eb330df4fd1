//! A software model of the Toeplitz hash NICs use for RSS.
//!
//! The NIC's hash cannot be observed on virtual devices, so this model shows what the
//! symmetric key promises: with the key 0x6D5A repeated, swapping source and destination
//! (addresses and ports) leaves the hash unchanged, so both directions of a flow land on
//! the same queue and the same worker.

/// Toeplitz hash of `input` under `key` (the key must be at least `input.len() + 4` bytes).
pub fn hash(key: &[u8], input: &[u8]) -> u32 {
    assert!(key.len() >= input.len() + 4, "RSS key too short for input");
    let mut result = 0u32;
    let mut window = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
    for (&byte, &next_key_byte) in input.iter().zip(&key[4..]) {
        for bit in (0..8).rev() {
            if byte & (1 << bit) != 0 {
                result ^= window;
            }
            window <<= 1;
            if next_key_byte & (1 << bit) != 0 {
                window |= 1;
            }
        }
    }
    result
}

/// The RSS input for IPv4 with ports: source address, destination address, source port,
/// destination port, all big-endian, as NICs feed it.
pub fn ipv4_tuple(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..4].copy_from_slice(&src);
    out[4..8].copy_from_slice(&dst);
    out[8..10].copy_from_slice(&sport.to_be_bytes());
    out[10..].copy_from_slice(&dport.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::SYMMETRIC_RSS_KEY;

    /// Microsoft's RSS verification key and vectors.
    const MS_KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    #[test]
    fn matches_microsoft_verification_vectors() {
        let input = ipv4_tuple([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766);
        assert_eq!(hash(&MS_KEY, &input), 0x51cc_c178);
        assert_eq!(hash(&MS_KEY, &input[..8]), 0x323e_8fc2);
        let input = ipv4_tuple([199, 92, 111, 2], [65, 69, 140, 83], 14230, 4739);
        assert_eq!(hash(&MS_KEY, &input), 0xc626_b0ea);
    }

    #[test]
    fn symmetric_key_hashes_both_directions_alike() {
        let flows = [
            ([10, 0, 0, 1], [192, 168, 1, 20], 40000, 443),
            ([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766),
            ([172, 16, 238, 10], [172, 16, 238, 11], 8080, 1389),
        ];
        for (a, b, pa, pb) in flows {
            let forward = hash(&SYMMETRIC_RSS_KEY, &ipv4_tuple(a, b, pa, pb));
            let reverse = hash(&SYMMETRIC_RSS_KEY, &ipv4_tuple(b, a, pb, pa));
            assert_eq!(forward, reverse, "{a:?}:{pa} <-> {b:?}:{pb}");
        }
    }

    #[test]
    fn the_standard_key_is_not_symmetric() {
        let forward = hash(&MS_KEY, &ipv4_tuple([10, 0, 0, 1], [10, 0, 0, 2], 1000, 80));
        let reverse = hash(&MS_KEY, &ipv4_tuple([10, 0, 0, 2], [10, 0, 0, 1], 80, 1000));
        assert_ne!(forward, reverse);
    }
}
