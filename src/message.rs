//! Messages: the validated [`Kind`], the [`Flags`], the borrowed
//! [`Message`] view and the fixed-capacity [`OwnedMessage`].

use core::fmt;

use crate::Error;

/// Longest kind, in bytes (`docs/PROTOCOL.md` §1).
pub const MAX_KIND_LEN: usize = 32;

/// Whether `b` may appear in a kind: `A-Z a-z 0-9 _ . - /`.
///
/// Three range checks and no table (issue 16: the 256-byte table cost
/// flash on small targets): setting bit 5 maps `A-Z` onto `a-z` (and only
/// those), and `- . / 0-9` are the contiguous bytes `0x2D..=0x39`.
#[inline]
pub const fn is_kind_byte(b: u8) -> bool {
    (b | 0x20).wrapping_sub(b'a') < 26 || b.wrapping_sub(b'-') <= b'9' - b'-' || b == b'_'
}

/// A validated message kind: 1 to 32 bytes of `A-Z a-z 0-9 _ . - /`.
///
/// Case-sensitive. Holding a `Kind` proves the string is valid, so the
/// encoders never have to check it again.
///
/// # Examples
///
/// ```
/// use msgwire::{Error, Kind};
///
/// let k = Kind::new("sensor/temp")?;
/// assert_eq!(k.as_str(), "sensor/temp");
/// assert_eq!(Kind::new("no spaces"), Err(Error::InvalidKind));
/// assert_eq!(Kind::PING.as_str(), "PING");
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Kind<'a>(&'a str);

/// Builds a kind constant at compile time.
const fn constant(s: &'static str) -> Kind<'static> {
    match Kind::new(s) {
        Ok(k) => k,
        Err(_) => panic!("invalid kind constant"),
    }
}

impl<'a> Kind<'a> {
    /// `PING`: a request answered with [`Kind::PONG`] `ack`.
    pub const PING: Kind<'static> = constant("PING");
    /// `PONG`: the answer to [`Kind::PING`].
    pub const PONG: Kind<'static> = constant("PONG");
    /// `ECHO`: answered with the same kind and payload.
    pub const ECHO: Kind<'static> = constant("ECHO");
    /// `EXIT`: ends the conversation, with no answer.
    pub const EXIT: Kind<'static> = constant("EXIT");
    /// `ERROR`: a refused request; the payload is `<code>: <detail>`.
    pub const ERROR: Kind<'static> = constant("ERROR");
    /// `HELLO`: the handshake (revision 1.2, §5).
    pub const HELLO: Kind<'static> = constant("HELLO");
    /// `SUB`: subscribes to events (revision 1.2, §6).
    pub const SUB: Kind<'static> = constant("SUB");
    /// `UNSUB`: ends a subscription (revision 1.2, §6).
    pub const UNSUB: Kind<'static> = constant("UNSUB");
    /// `LAGGED`: the event that counts events a slow subscriber lost
    /// (revision 1.2, §6).
    pub const LAGGED: Kind<'static> = constant("LAGGED");

    /// Validates `s` as a kind.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKind`] when `s` is empty, longer than 32 bytes or has
    /// a byte outside `A-Z a-z 0-9 _ . - /`.
    pub const fn new(s: &'a str) -> Result<Self, Error> {
        if is_valid_kind(s.as_bytes()) {
            Ok(Kind(s))
        } else {
            Err(Error::InvalidKind)
        }
    }

    /// A kind from a literal, checked at compile time when it is used in a
    /// `const` (the usual way: one `const` per kind the application
    /// speaks). An invalid literal then fails to compile:
    ///
    /// ```
    /// use msgwire::Kind;
    ///
    /// const TEMP: Kind<'static> = Kind::lit("sensor/temp");
    /// assert_eq!(TEMP.as_str(), "sensor/temp");
    /// ```
    ///
    /// ```compile_fail
    /// const BAD: msgwire::Kind<'static> = msgwire::Kind::lit("no spaces");
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a `const`, at run time when `s` is not a valid kind (see
    /// [`Kind::new`] for a `Result`).
    pub const fn lit(s: &'static str) -> Kind<'static> {
        match Kind::new(s) {
            Ok(k) => k,
            Err(_) => panic!("not a msgwire kind: 1..=32 bytes of A-Z a-z 0-9 _ . - /"),
        }
    }

    /// Validates raw bytes as a kind, without copying them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKind`], as [`Kind::new`].
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, Error> {
        if !is_valid_kind(bytes) {
            return Err(Error::InvalidKind);
        }
        // Every kind byte is ASCII, so this cannot fail; map it anyway
        // rather than unwrap.
        utf8(bytes).map(Kind).ok_or(Error::InvalidKind)
    }

    /// A kind from a string validated before (a [`Kind`] kept as a
    /// `String`): no second check.
    #[cfg(feature = "std")]
    pub(crate) const fn from_checked(s: &'a str) -> Self {
        Kind(s)
    }

    /// A kind from bytes a decoder has already validated; never fails
    /// (an impossible invalid input gives an empty-looking `ERROR`).
    pub(crate) fn from_validated(bytes: &'a [u8]) -> Self {
        // The protocol's own kinds (most answers, the built-in requests)
        // are its constants, with no second look at each byte (`str`'s
        // UTF-8 check, ~60 instructions a message). The host build only
        // (`fast-crc`, its larger and faster tables): a firmware keeps the
        // smaller code.
        #[cfg(feature = "fast-crc")]
        if let Some(k) = Kind::builtin(bytes) {
            return k;
        }
        match utf8(bytes) {
            Some(s) if !s.is_empty() => Kind(s),
            _ => Kind::ERROR,
        }
    }

    /// The protocol's kind spelled `bytes`, if it is one.
    #[cfg(feature = "fast-crc")]
    #[inline]
    fn builtin(bytes: &[u8]) -> Option<Kind<'static>> {
        Some(match bytes {
            b"PING" => Kind::PING,
            b"PONG" => Kind::PONG,
            b"ECHO" => Kind::ECHO,
            b"EXIT" => Kind::EXIT,
            b"ERROR" => Kind::ERROR,
            b"HELLO" => Kind::HELLO,
            b"SUB" => Kind::SUB,
            b"UNSUB" => Kind::UNSUB,
            b"LAGGED" => Kind::LAGGED,
            _ => return None,
        })
    }

    /// The kind as a string slice.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// The kind's bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0.as_bytes()
    }

    /// Length in bytes (1..=32).
    #[allow(clippy::len_without_is_empty)] // a kind is never empty
    pub const fn len(&self) -> usize {
        self.0.len()
    }
}

/// `KIND_BYTES[b]`: whether `b` may appear in a kind, one lookup a byte.
/// Only with `fast-crc` (the host build's larger, faster tables): it is
/// ~1 ns a small frame faster than the ranges on x86-64, and 256 B of
/// flash that the small build does without (issue 16).
#[cfg(feature = "fast-crc")]
const KIND_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = is_kind_byte(i as u8);
        i += 1;
    }
    t
};

/// `bytes` as a `&str`, `None` when they are not UTF-8: the host's
/// (`fast-crc`), `from_utf8`.
#[cfg(feature = "fast-crc")]
#[inline]
pub(crate) fn utf8(bytes: &[u8]) -> Option<&str> {
    core::str::from_utf8(bytes).ok()
}

/// `bytes` as a `&str`, `None` when they are not UTF-8: the small build's
/// (no `fast-crc`), where flash counts. `from_utf8` checks a word at a
/// time (~370 B on thumbv7em); the first chunk of `utf8_chunks`, a byte
/// at a time, is ~90 B less, with the same result. Kinds and filters are
/// a few ASCII bytes.
#[cfg(not(feature = "fast-crc"))]
pub(crate) fn utf8(bytes: &[u8]) -> Option<&str> {
    match bytes.utf8_chunks().next() {
        None => Some(""),
        Some(c) if c.invalid().is_empty() => Some(c.valid()),
        Some(_) => None,
    }
}

/// Whether two byte strings are equal, by a plain loop: for the short
/// strings a conversation compares (filters, `HELLO`'s names), a device
/// then links no `memcmp` (116 B of flash on thumbv7em).
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Whether `b` is 1..=32 bytes of the kind charset.
#[inline]
pub(crate) const fn is_valid_kind(b: &[u8]) -> bool {
    if b.is_empty() || b.len() > MAX_KIND_LEN {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        #[cfg(feature = "fast-crc")]
        let ok = KIND_BYTES[b[i] as usize];
        #[cfg(not(feature = "fast-crc"))]
        let ok = is_kind_byte(b[i]);
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

impl fmt::Debug for Kind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Kind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.0)
    }
}

impl<'a> TryFrom<&'a str> for Kind<'a> {
    type Error = Error;
    fn try_from(s: &'a str) -> Result<Self, Error> {
        Kind::new(s)
    }
}

impl AsRef<str> for Kind<'_> {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl PartialEq<str> for Kind<'_> {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Kind<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// The flags byte of a binary frame. Bits 0..=2 are defined (`CHECKSUM`,
/// `RESPONSE`, `EVENT`); a value of this type never has a reserved bit
/// (3..=7) set.
///
/// # Examples
///
/// ```
/// use msgwire::{Error, Flags};
///
/// let f = Flags::CHECKSUM | Flags::RESPONSE;
/// assert_eq!(f.bits(), 3);
/// assert!(f.contains(Flags::RESPONSE));
/// assert_eq!(Flags::from_bits(0x80), Err(Error::ReservedFlags));
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Flags(u8);

impl Flags {
    /// No flag set.
    pub const EMPTY: Flags = Flags(0);
    /// Bit 0: a CRC-32 trailer follows the payload.
    pub const CHECKSUM: Flags = Flags(1);
    /// Bit 1: this frame answers the request with the same id.
    pub const RESPONSE: Flags = Flags(2);
    /// Bit 2: this frame is an event (revision 1.2, §6): published to
    /// subscribers, never answered.
    pub const EVENT: Flags = Flags(4);
    /// The bits a version-1 frame may set (revision 1.2: bits 0..=2).
    pub const KNOWN: u8 = 0b111;

    /// Flags from a raw byte.
    ///
    /// # Errors
    ///
    /// [`Error::ReservedFlags`] when any of bits 3..=7 is set.
    pub const fn from_bits(bits: u8) -> Result<Flags, Error> {
        if bits & !Self::KNOWN == 0 {
            Ok(Flags(bits))
        } else {
            Err(Error::ReservedFlags)
        }
    }

    /// The raw byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the bits of `other` added.
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// `self` with the bits of `other` removed.
    pub const fn difference(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

impl core::ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        *self = self.union(rhs);
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        f.write_str("Flags(")?;
        for (flag, name) in [
            (Flags::CHECKSUM, "CHECKSUM"),
            (Flags::RESPONSE, "RESPONSE"),
            (Flags::EVENT, "EVENT"),
        ] {
            if self.contains(flag) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

/// A borrowed message: what the decoders hand out (pointing into their
/// buffers, no copy) and what the encoders take.
///
/// # Examples
///
/// ```
/// use msgwire::{Flags, Kind, Message};
///
/// let m = Message::new(Kind::PING, b"hello").with_id(7).with_flags(Flags::CHECKSUM);
/// assert_eq!(m.kind, "PING");
/// assert_eq!((m.id, m.payload), (7, &b"hello"[..]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Message<'a> {
    /// What the message is.
    pub kind: Kind<'a>,
    /// Correlation id; 0 means none.
    pub id: u32,
    /// Flag bits (binary framing only).
    pub flags: Flags,
    /// Opaque payload bytes.
    pub payload: &'a [u8],
}

impl<'a> Message<'a> {
    /// A message with id 0 and no flags.
    pub const fn new(kind: Kind<'a>, payload: &'a [u8]) -> Self {
        Message {
            kind,
            id: 0,
            flags: Flags::EMPTY,
            payload,
        }
    }

    /// The same message with another id.
    pub const fn with_id(mut self, id: u32) -> Self {
        self.id = id;
        self
    }

    /// The same message with other flags.
    pub const fn with_flags(mut self, flags: Flags) -> Self {
        self.flags = flags;
        self
    }

    /// Whether the `RESPONSE` flag is set.
    pub const fn is_response(&self) -> bool {
        self.flags.contains(Flags::RESPONSE)
    }
}

/// A message that owns its bytes, in fixed-capacity `heapless` storage:
/// keep one past the next call to a decoder, or queue it, without an
/// allocator. `N` is the payload capacity.
///
/// # Examples
///
/// ```
/// use msgwire::{Kind, Message, OwnedMessage};
///
/// let owned: OwnedMessage<16> = OwnedMessage::from_message(&Message::new(Kind::ECHO, b"hi"))?;
/// assert_eq!(owned.as_message().payload, b"hi");
/// # Ok::<(), msgwire::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnedMessage<const N: usize> {
    kind: heapless::String<MAX_KIND_LEN>,
    id: u32,
    flags: Flags,
    payload: heapless::Vec<u8, N>,
}

impl<const N: usize> OwnedMessage<N> {
    /// Copies a borrowed message.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] when the payload is longer than `N`.
    pub fn from_message(m: &Message<'_>) -> Result<Self, Error> {
        let payload = heapless::Vec::from_slice(m.payload).map_err(|_| Error::TooLarge)?;
        let mut kind = heapless::String::new();
        // A valid kind is at most MAX_KIND_LEN bytes, so this always fits.
        kind.push_str(m.kind.as_str())
            .map_err(|_| Error::InvalidKind)?;
        Ok(OwnedMessage {
            kind,
            id: m.id,
            flags: m.flags,
            payload,
        })
    }

    /// A borrowed view of this message.
    pub fn as_message(&self) -> Message<'_> {
        Message {
            // The string was copied from a valid kind.
            kind: Kind(self.kind.as_str()),
            id: self.id,
            flags: self.flags,
            payload: &self.payload,
        }
    }

    /// The kind.
    pub fn kind(&self) -> Kind<'_> {
        Kind(self.kind.as_str())
    }

    /// The id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The flags.
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

impl<'a, const N: usize> TryFrom<&Message<'a>> for OwnedMessage<N> {
    type Error = Error;
    fn try_from(m: &Message<'a>) -> Result<Self, Error> {
        OwnedMessage::from_message(m)
    }
}

#[cfg(test)]
mod charset_tests {
    use super::{is_kind_byte, is_valid_kind, utf8, Kind, MAX_KIND_LEN};

    /// `utf8` (whichever build's) is `from_utf8`: every string of one and
    /// two bytes, and valid or broken sequences of three and four around
    /// ASCII.
    #[test]
    fn utf8_is_from_utf8() {
        use std::{vec, vec::Vec};
        let mut inputs: Vec<Vec<u8>> = vec![vec![]];
        // Under Miri, every 17th second byte.
        let step = if cfg!(miri) { 17 } else { 1 };
        for a in 0..=255u8 {
            inputs.push(vec![a]);
            for b in (0..=255u8).step_by(step) {
                inputs.push(vec![a, b]);
            }
        }
        for s in ["é", "€", "𝄞", "kind/é", "a€b", "𝄞z"] {
            let b = s.as_bytes();
            inputs.push(b.to_vec());
            for cut in 1..b.len() {
                inputs.push(b[..cut].to_vec());
                inputs.push([&b[..cut], b"x"].concat());
            }
        }
        // A surrogate, a code point past U+10FFFF, a cut sequence.
        inputs.extend([&b"\xed\xa0\x80"[..], b"\xf4\x90\x80\x80", b"ab\xc3"].map(<[u8]>::to_vec));
        for b in &inputs {
            assert_eq!(utf8(b), core::str::from_utf8(b).ok(), "{b:?}");
        }
    }

    /// A decoded kind reads as its bytes, whether it is one of the
    /// protocol's (given as its constant) or not.
    #[test]
    fn a_validated_kind_is_its_bytes() {
        for s in [
            "PING",
            "PONG",
            "ECHO",
            "EXIT",
            "ERROR",
            "HELLO",
            "SUB",
            "UNSUB",
            "LAGGED",
            "PINGS",
            "PIN",
            "ping",
            "ECHO/x",
            "E",
            "sensor/temp",
        ] {
            let k = Kind::from_validated(s.as_bytes());
            assert_eq!((k.as_str(), k), (s, Kind::new(s).expect("kind")));
        }
        assert_eq!(Kind::from_validated(b""), Kind::ERROR);
    }

    /// The range arithmetic accepts exactly `A-Z a-z 0-9 _ . - /`
    /// (`docs/PROTOCOL.md` §1), checked on all 256 bytes.
    #[test]
    fn kind_byte_is_the_charset() {
        for b in 0..=255u8 {
            let want = b.is_ascii_alphanumeric() || b"_.-/".contains(&b);
            assert_eq!(is_kind_byte(b), want, "byte {b:#04x}");
        }
    }

    #[test]
    fn valid_kind_lengths_and_bytes() {
        assert!(!is_valid_kind(b""));
        assert!(is_valid_kind(&[b'a'; MAX_KIND_LEN]));
        assert!(!is_valid_kind(&[b'a'; MAX_KIND_LEN + 1]));
        assert!(is_valid_kind(b"sensor/temp-1.raw_Z9"));
        for b in (0..=255u8).filter(|&b| !is_kind_byte(b)) {
            assert!(!is_valid_kind(&[b'P', b, b'G']), "byte {b:#04x}");
        }
    }
}
