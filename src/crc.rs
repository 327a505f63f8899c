//! The two checksums of the wire format, with the table size chosen by the
//! `fast-crc` feature. Both choices compute identical values.
//!
//! - CRC-16/IBM-3740 (poly 0x1021, init 0xFFFF, not reflected) over the
//!   12 header bytes. With `fast-crc`: slicing-by-12, one table per header
//!   byte (12 × 512 B = 6 KiB), twelve independent lookups and no loop-carried
//!   dependency. Without: the classic byte-at-a-time table (512 B).
//! - CRC-32/ISO-HDLC (zlib's crc32) over the frame. With `fast-crc`:
//!   `crc32fast` (SIMD where the CPU has it). Without: byte-at-a-time table
//!   (1 KiB).
//!
//! The tables are computed at compile time.

/// Header bytes covered by the header CRC.
pub(crate) const HEADER_CRC_LEN: usize = 12;

const CRC16_POLY: u16 = 0x1021;

/// `T[0]`: the CRC-16 of one byte `x` as the top byte (zero init).
const fn crc16_table0() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 0x8000 != 0 {
                (c << 1) ^ CRC16_POLY
            } else {
                c << 1
            };
            bit += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

#[cfg(any(test, not(feature = "fast-crc")))]
static CRC16_T0: [u16; 256] = crc16_table0();

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

/// CRC-16/IBM-3740 of any bytes, one table lookup per byte.
#[cfg(any(test, not(feature = "fast-crc")))]
#[inline]
pub(crate) fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &b in bytes {
        crc = (crc << 8) ^ CRC16_T0[usize::from((crc >> 8) as u8 ^ b)];
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

/// CRC-32/ISO-HDLC of `bytes`.
#[inline]
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
