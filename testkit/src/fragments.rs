//! IP fragments of whole frames, for the evasion corpus: a datagram cut at chosen
//! offsets, and single fragments carrying other data (overlaps).

/// The layout of an Ethernet + IPv4 or IPv6 frame without VLAN tags or IPv6 extension
/// headers: its IP header and its IP payload.
fn layout(frame: &[u8]) -> (bool, &[u8], &[u8]) {
    let ip = &frame[14..];
    if ip[0] >> 4 == 6 {
        let len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
        (true, &ip[..40], &ip[40..40 + len])
    } else {
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        (false, &ip[..ihl], &ip[ihl..total])
    }
}

/// The fragments of `frame`'s datagram (identification `id`), cut at the payload
/// offsets `cuts` (ascending multiples of 8), in order.
pub fn split(frame: &[u8], cuts: &[usize], id: u32) -> Vec<Vec<u8>> {
    let (_, _, payload) = layout(frame);
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied().filter(|&c| c > 0 && c < payload.len()));
    bounds.push(payload.len());
    bounds
        .windows(2)
        .map(|w| {
            let more = w[1] < payload.len();
            piece(frame, w[0], &payload[w[0]..w[1]], more, id)
        })
        .collect()
}

/// The fragments of `frame`'s datagram in pieces of `size` bytes (a multiple of 8).
pub fn split_every(frame: &[u8], size: usize, id: u32) -> Vec<Vec<u8>> {
    let (_, _, payload) = layout(frame);
    let cuts: Vec<usize> = (1..=payload.len() / size).map(|i| i * size).collect();
    split(frame, &cuts, id)
}

/// One fragment of `frame`'s datagram (identification `id`) carrying `data` at payload
/// offset `offset` (a multiple of 8), with `more` fragments to follow or not.
pub fn piece(frame: &[u8], offset: usize, data: &[u8], more: bool, id: u32) -> Vec<u8> {
    let (ipv6, header, _) = layout(frame);
    let mut out = frame[..14].to_vec();
    let field = (offset / 8) as u16;
    if ipv6 {
        let mut h = header.to_vec();
        let next = h[6];
        h[6] = 44;
        h[4..6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(&[next, 0]);
        out.extend_from_slice(&((field << 3) | u16::from(more)).to_be_bytes());
        out.extend_from_slice(&id.to_be_bytes());
    } else {
        let mut h = header.to_vec();
        let total = (h.len() + data.len()) as u16;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&(id as u16).to_be_bytes());
        h[6..8].copy_from_slice(&(if more { 0x2000 } else { 0 } | field).to_be_bytes());
        h[10..12].copy_from_slice(&[0, 0]);
        let sum = checksum(&h);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        out.extend_from_slice(&h);
    }
    out.extend_from_slice(data);
    out
}

/// The IP payload of a whole (unfragmented) frame.
pub fn payload(frame: &[u8]) -> &[u8] {
    layout(frame).2
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
