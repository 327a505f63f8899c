//! The two checksums of PROTOCOL.md §2, written out bit by bit from the
//! parameters the spec gives (no tables: the checker is not fast, it is
//! obviously right).

/// CRC-16/IBM-3740: poly 0x1021, init 0xFFFF, not reflected, xorout 0.
/// Check value of "123456789" = 0x29B1 (§2, `header_crc`).
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// CRC-32/ISO-HDLC (zlib's crc32): reflected poly 0xEDB88320, init and
/// xorout 0xFFFFFFFF. Check value of "123456789" = 0xCBF43926 (§2, trailer).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xFFFF_FFFF;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values_from_the_spec() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
