//! The load mix's payloads: sizes, contents, and the reproducible random
//! numbers behind them.

/// xorshift64*: reproducible pseudo-random numbers.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    pub fn percent(&mut self) -> u64 {
        self.next() % 100
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

/// The payload size distribution of the load mix (stated in
/// RELIABILITY.md): 50 % 0–32 B, 30 % 33–512 B, 15 % 513 B–4 KiB, 4 %
/// 4–16 KiB, 1 % 16–64 KiB (mean ≈ 1.25 KiB). Text clients draw from the
/// two small buckets only.
pub fn payload_size(rng: &mut Rng, text: bool) -> usize {
    let p = rng.percent();
    if text {
        return if p < 62 {
            rng.range(0, 32)
        } else {
            rng.range(33, 512)
        };
    }
    match p {
        0..=49 => rng.range(0, 32),
        50..=79 => rng.range(33, 512),
        80..=94 => rng.range(513, 4096),
        95..=98 => rng.range(4097, 16 * 1024),
        _ => rng.range(16 * 1024 + 1, 64 * 1024),
    }
}

const TEXT_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,;";

/// A payload of `size` bytes that starts with `tag` (which names the
/// connection and request, so a misrouted answer cannot match), then
/// random bytes (text-safe ones for text clients).
pub fn make_payload(rng: &mut Rng, size: usize, tag: &str, text: bool) -> Vec<u8> {
    let mut p = vec![0u8; size];
    rng.fill(&mut p);
    if text {
        for b in p.iter_mut() {
            *b = TEXT_ALPHABET[(*b as usize) % TEXT_ALPHABET.len()];
        }
    }
    let t = tag.as_bytes();
    let n = t.len().min(size);
    p[..n].copy_from_slice(&t[..n]);
    p
}

/// FNV-1a 64 of the payload, in hex: the `HASH` handler's answer.
pub fn fnv_hex(data: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
