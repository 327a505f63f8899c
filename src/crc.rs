//! The two checksums of the wire format, with the table size chosen by the
//! `fast-crc` feature. Both choices compute identical values.
//!
//! - CRC-16/IBM-3740 (poly 0x1021, init 0xFFFF, not reflected) over the
//!   12 header bytes. With `fast-crc`: slicing-by-12, one table per header
//!   byte (12 × 512 B = 6 KiB), twelve independent lookups and no loop-carried
//!   dependency. Without: a 16-entry table (32 B), two lookups a byte, out of
//!   line (issue 16: 12 header bytes a frame do not need 512 B of flash).
//! - CRC-32/ISO-HDLC (zlib's crc32) over the frame. With `fast-crc`:
//!   `crc32fast` (SIMD where the CPU has it). Without: byte-at-a-time table
//!   (1 KiB), one out-of-line copy of the loop.
//!
//! The tables are computed at compile time.

/// Header bytes covered by the header CRC.
pub(crate) const HEADER_CRC_LEN: usize = 12;

const CRC16_POLY: u16 = 0x1021;

/// The CRC-16 (zero init) of the top `bits` bits of `c`: one table entry.
const fn crc16_shift(mut c: u16, bits: u32) -> u16 {
    let mut bit = 0;
    while bit < bits {
        c = if c & 0x8000 != 0 {
            (c << 1) ^ CRC16_POLY
        } else {
            c << 1
        };
        bit += 1;
    }
    c
}

/// `T[0]`: the CRC-16 of one byte `x` as the top byte (zero init).
#[cfg(any(test, feature = "fast-crc"))]
const fn crc16_table0() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = crc16_shift((i as u16) << 8, 8);
        i += 1;
    }
    t
}

/// `T[k][x]`: the CRC-16 of byte `x` followed by `k` zero bytes.
#[cfg(feature = "fast-crc")]
const fn crc16_tables() -> [[u16; 256]; HEADER_CRC_LEN] {
    let t0 = crc16_table0();
    let mut t = [[0u16; 256]; HEADER_CRC_LEN];
    t[0] = t0;
    let mut k = 1;
    while k < HEADER_CRC_LEN {
        let mut x = 0;
        while x < 256 {
            let prev = t[k - 1][x];
            t[k][x] = (prev << 8) ^ t0[(prev >> 8) as usize];
            x += 1;
        }
        k += 1;
    }
    t
}

#[cfg(feature = "fast-crc")]
static CRC16_TABLES: [[u16; 256]; HEADER_CRC_LEN] = crc16_tables();

/// CRC-16/IBM-3740 of the 12 header bytes.
#[cfg(feature = "fast-crc")]
#[inline]
pub(crate) fn crc16_header(b: &[u8; HEADER_CRC_LEN]) -> u16 {
    // The init value 0xFFFF meets the first two bytes; after that every
    // byte's contribution is independent (the CRC is linear).
    let t = &CRC16_TABLES;
    t[11][usize::from(b[0] ^ 0xFF)]
        ^ t[10][usize::from(b[1] ^ 0xFF)]
        ^ t[9][usize::from(b[2])]
        ^ t[8][usize::from(b[3])]
        ^ t[7][usize::from(b[4])]
        ^ t[6][usize::from(b[5])]
        ^ t[5][usize::from(b[6])]
        ^ t[4][usize::from(b[7])]
        ^ t[3][usize::from(b[8])]
        ^ t[2][usize::from(b[9])]
        ^ t[1][usize::from(b[10])]
        ^ t[0][usize::from(b[11])]
}

/// CRC-16/IBM-3740 of the 12 header bytes.
#[cfg(not(feature = "fast-crc"))]
#[inline]
pub(crate) fn crc16_header(b: &[u8; HEADER_CRC_LEN]) -> u16 {
    crc16(b)
}

/// `T4[x]`: the CRC-16 of one nibble `x` as the top nibble (zero init): the
/// small build's table, 16 entries (32 B instead of 512 B).
#[cfg(any(test, not(feature = "fast-crc")))]
const fn crc16_nibble_table() -> [u16; 16] {
    let mut t = [0u16; 16];
    let mut i = 0;
    while i < 16 {
        t[i] = crc16_shift((i as u16) << 12, 4);
        i += 1;
    }
    t
}

#[cfg(any(test, not(feature = "fast-crc")))]
static CRC16_T4: [u16; 16] = crc16_nibble_table();

/// CRC-16/IBM-3740 of any bytes, two lookups in the 16-entry table per
/// byte (it runs over 12 header bytes a frame).
#[cfg(any(test, not(feature = "fast-crc")))]
#[cfg_attr(not(feature = "fast-crc"), inline(never))]
pub(crate) fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        crc = (crc << 4) ^ CRC16_T4[usize::from(crc >> 12)];
        crc = (crc << 4) ^ CRC16_T4[usize::from(crc >> 12)];
    }
    crc
}

#[cfg(not(feature = "fast-crc"))]
const fn crc32_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
            bit += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

#[cfg(not(feature = "fast-crc"))]
static CRC32_T: [u32; 256] = crc32_table();

/// Incremental CRC-32/ISO-HDLC (zlib's crc32), for the payload trailer.
pub(crate) struct Crc32 {
    #[cfg(feature = "fast-crc")]
    inner: crc32fast::Hasher,
    #[cfg(not(feature = "fast-crc"))]
    state: u32,
}

impl Crc32 {
    #[inline]
    pub(crate) fn new() -> Self {
        Crc32 {
            #[cfg(feature = "fast-crc")]
            inner: crc32fast::Hasher::new(),
            #[cfg(not(feature = "fast-crc"))]
            state: 0xFFFF_FFFF,
        }
    }

    #[inline]
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        #[cfg(feature = "fast-crc")]
        self.inner.update(bytes);
        #[cfg(not(feature = "fast-crc"))]
        for &b in bytes {
            self.state = (self.state >> 8) ^ CRC32_T[usize::from(self.state as u8 ^ b)];
        }
    }

    #[inline]
    pub(crate) fn finalize(self) -> u32 {
        #[cfg(feature = "fast-crc")]
        return self.inner.finalize();
        #[cfg(not(feature = "fast-crc"))]
        return self.state ^ 0xFFFF_FFFF;
    }
}

/// CRC-32/ISO-HDLC of `bytes`. Out of line in the small build: the decoder
/// and the encoder share one copy of the loop.
#[cfg_attr(feature = "fast-crc", inline)]
#[cfg_attr(not(feature = "fast-crc"), inline(never))]
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(bytes);
    c.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        let mut c = Crc32::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.finalize(), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    /// CRC-16 (poly 0x1021, not reflected) one bit at a time from `crc`.
    fn crc16_bitwise_from(mut crc: u16, bytes: &[u8]) -> u16 {
        for &b in bytes {
            crc ^= u16::from(b) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ CRC16_POLY
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    /// CRC-16/IBM-3740 one bit at a time: the reference for the tables.
    fn crc16_bitwise(bytes: &[u8]) -> u16 {
        crc16_bitwise_from(0xFFFF, bytes)
    }

    /// The small build's 16-entry table against the bit-at-a-time
    /// reference: every input of one and two bytes, and many of 1 to 40.
    #[test]
    fn crc16_matches_bitwise() {
        // Under Miri (which looks for undefined behaviour, not for a wrong
        // table entry) a sample: every pair and 5,000 rounds take minutes.
        let (step, rounds) = if cfg!(miri) { (51, 40) } else { (1, 5_000) };
        for a in (0..=255u8).step_by(step) {
            assert_eq!(crc16(&[a]), crc16_bitwise(&[a]), "{a}");
            for b in (0..=255u8).step_by(step) {
                assert_eq!(crc16(&[a, b]), crc16_bitwise(&[a, b]), "{a} {b}");
            }
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut buf = [0u8; 40];
        for round in 0..rounds {
            for b in &mut buf {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            let n = 1 + round % buf.len();
            assert_eq!(
                crc16(&buf[..n]),
                crc16_bitwise(&buf[..n]),
                "{:?}",
                &buf[..n]
            );
        }
    }

    /// Both tables against the reference: entry `x` is the CRC, from 0,
    /// of `x` as the top bits.
    #[test]
    fn tables_match_bitwise() {
        for (x, &t) in crc16_table0().iter().enumerate() {
            assert_eq!(t, crc16_bitwise_from(0, &[x as u8]), "T0[{x}]");
        }
        for (x, &t) in crc16_nibble_table().iter().enumerate() {
            // A nibble as the top 4 bits, then 4 zero bits shifted back out.
            let mut c = (x as u16) << 12;
            for _ in 0..4 {
                c = if c & 0x8000 != 0 {
                    (c << 1) ^ CRC16_POLY
                } else {
                    c << 1
                };
            }
            assert_eq!(t, c, "T4[{x}]");
            assert_eq!(
                crc16_bitwise_from(0, &[(x as u8) << 4]),
                (t << 4) ^ CRC16_T4[usize::from((t >> 12) as u8)],
                "T4[{x}] then a zero nibble"
            );
        }
    }

    /// The header path agrees with the bytewise one on many headers.
    #[test]
    fn header_crc_matches_bytewise() {
        let mut x = 0x1234_5678_9ABC_DEF0u64;
        for _ in 0..20_000 {
            let mut h = [0u8; HEADER_CRC_LEN];
            for b in &mut h {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            assert_eq!(crc16_header(&h), crc16(&h), "{h:?}");
        }
        assert_eq!(crc16_header(&[0; 12]), crc16(&[0; 12]));
        assert_eq!(crc16_header(&[0xFF; 12]), crc16(&[0xFF; 12]));
    }
}
