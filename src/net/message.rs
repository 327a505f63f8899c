//! The host's owned message: what a handler's [`Request`](super::Request)
//! holds and what a [`Client`](super::Client) gets back, with its owned
//! kind ([`KindBuf`]) and payload ([`Payload`]). A small message is held
//! in place: no allocation.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, DerefMut};
use std::string::String;
use std::vec::Vec;

use crate::message::MAX_KIND_LEN;
use crate::{Error, Flags, Kind, Message};

/// An owned message: what async handlers receive, what a client gets back.
///
/// Its kind and (up to [`Payload::INLINE`] bytes) its payload are held in
/// place, so a small message costs no allocation. Both fields read like
/// the borrowed ones: the kind compares with a `&str`, the payload derefs
/// to `[u8]`.
///
/// ```
/// use msgwire::net::Frame;
/// use msgwire::{Kind, Message};
///
/// let f = Frame::from_message(&Message::new(Kind::ECHO, b"hi").with_id(7));
/// assert_eq!((f.kind.as_str(), f.id, &f.payload[..]), ("ECHO", 7, &b"hi"[..]));
/// assert_eq!(f, Frame::new(Kind::ECHO, "hi").with_id(7));
/// assert_eq!(f.payload.into_vec(), b"hi".to_vec());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The kind (valid: 1..=32 bytes of `A-Z a-z 0-9 _ . - /`).
    pub kind: KindBuf,
    /// The correlation id; 0 for none.
    pub id: u32,
    /// The flags.
    pub flags: Flags,
    /// The payload.
    pub payload: Payload,
}

impl Frame {
    /// A message of `kind` with `payload`, id 0 and no flags (see
    /// [`Frame::with_id`], [`Frame::with_flags`]).
    pub fn new(kind: Kind<'_>, payload: impl Into<Payload>) -> Frame {
        Frame {
            kind: KindBuf::from(kind),
            id: 0,
            flags: Flags::EMPTY,
            payload: payload.into(),
        }
    }

    /// The same message with correlation id `id`.
    #[must_use]
    pub fn with_id(mut self, id: u32) -> Frame {
        self.id = id;
        self
    }

    /// The same message with `flags`.
    #[must_use]
    pub fn with_flags(mut self, flags: Flags) -> Frame {
        self.flags = flags;
        self
    }

    /// Copies a borrowed message.
    pub fn from_message(m: &Message<'_>) -> Self {
        Frame {
            kind: KindBuf::from(m.kind),
            id: m.id,
            flags: m.flags,
            payload: Payload::from(m.payload),
        }
    }

    /// An empty frame (its kind empty, so never a message): the place an
    /// answer is copied into.
    pub(crate) fn placeholder() -> Frame {
        Frame {
            kind: KindBuf(heapless::String::new()),
            id: 0,
            flags: Flags::EMPTY,
            payload: Payload::default(),
        }
    }

    /// Overwrites this frame with a copy of `m`, in place (a frame built
    /// elsewhere and moved here right away is read back whole while its
    /// pieces are still being stored: a store-forwarding stall per copy).
    pub(crate) fn set(&mut self, m: &Message<'_>) {
        self.kind.0.clear();
        // A kind is at most MAX_KIND_LEN bytes: it fits.
        let _ = self.kind.0.push_str(m.kind.as_str());
        self.id = m.id;
        self.flags = m.flags;
        self.payload.set(m.payload);
    }

    /// A borrowed view of this message (to send it, say).
    pub fn as_message(&self) -> Message<'_> {
        Message::new(self.kind.kind(), &self.payload)
            .with_id(self.id)
            .with_flags(self.flags)
    }

    /// The payload as UTF-8 text, when it is.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }
}

/// A message kind, owned: a [`Kind`]'s 1..=32 bytes held in place (no
/// allocation). It reads as a `&str` (it derefs to one) and compares with
/// strings and with [`Kind`]s.
///
/// ```
/// use msgwire::net::KindBuf;
/// use msgwire::Kind;
///
/// let k = KindBuf::new("sensor/temp")?;
/// assert_eq!(k, "sensor/temp");
/// assert_eq!(k.kind(), Kind::new("sensor/temp")?);
/// assert!(k.starts_with("sensor/"));
/// assert!(KindBuf::new("no spaces").is_err());
/// # Ok::<(), msgwire::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KindBuf(heapless::String<MAX_KIND_LEN, u8>);

impl KindBuf {
    /// Validates `s` as a kind and copies it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKind`], as [`Kind::new`].
    pub fn new(s: &str) -> Result<KindBuf, Error> {
        Kind::new(s).map(KindBuf::from)
    }

    /// The kind, borrowed.
    pub fn kind(&self) -> Kind<'_> {
        // Copied from a valid kind.
        Kind::from_checked(self.0.as_str())
    }

    /// The kind as a string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl From<Kind<'_>> for KindBuf {
    fn from(k: Kind<'_>) -> KindBuf {
        let mut s = heapless::String::new();
        // A kind is at most MAX_KIND_LEN bytes: it fits.
        let _ = s.push_str(k.as_str());
        KindBuf(s)
    }
}

impl TryFrom<&str> for KindBuf {
    type Error = Error;
    fn try_from(s: &str) -> Result<KindBuf, Error> {
        KindBuf::new(s)
    }
}

impl From<KindBuf> for String {
    fn from(k: KindBuf) -> String {
        k.as_str().into()
    }
}

impl Deref for KindBuf {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for KindBuf {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl Borrow<str> for KindBuf {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl Hash for KindBuf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As a `str`, so that `Borrow<str>` holds in a map.
        self.as_str().hash(state);
    }
}

impl fmt::Debug for KindBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for KindBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<str> for KindBuf {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for KindBuf {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for KindBuf {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Kind<'_>> for KindBuf {
    fn eq(&self, other: &Kind<'_>) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<KindBuf> for str {
    fn eq(&self, other: &KindBuf) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<KindBuf> for &str {
    fn eq(&self, other: &KindBuf) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<KindBuf> for Kind<'_> {
    fn eq(&self, other: &KindBuf) -> bool {
        self.as_str() == other.as_str()
    }
}

/// A message's payload, owned: up to [`Payload::INLINE`] bytes held in
/// place, a larger one in a `Vec<u8>`. It derefs to `[u8]` and compares
/// with byte slices, arrays and vectors, whichever way it is held.
///
/// ```
/// use msgwire::net::Payload;
///
/// let small = Payload::from(&b"21.5"[..]);
/// assert_eq!(small, b"21.5");
/// assert_eq!(small.len(), 4);
/// let large = Payload::from(vec![7u8; 1024]);
/// assert_eq!(large.into_vec(), vec![7u8; 1024]);
/// ```
#[derive(Clone, Default)]
pub struct Payload(Repr);

#[derive(Clone)]
enum Repr {
    Inline(heapless::Vec<u8, { Payload::INLINE }, u8>),
    Heap(Vec<u8>),
}

impl Default for Repr {
    fn default() -> Repr {
        Repr::Inline(heapless::Vec::new())
    }
}

impl Payload {
    /// Payloads up to this many bytes are held in place.
    pub const INLINE: usize = 64;

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(v) => v,
            Repr::Heap(v) => v,
        }
    }

    /// Holds a copy of `bytes` instead (in place up to [`Payload::INLINE`]
    /// bytes, reusing a vector it holds beyond).
    fn set(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            Repr::Inline(v) if bytes.len() <= Payload::INLINE => {
                v.clear();
                // It fits: checked just above.
                let _ = v.extend_from_slice(bytes);
            }
            Repr::Heap(v) if bytes.len() > Payload::INLINE => {
                v.clear();
                v.extend_from_slice(bytes);
            }
            _ => *self = Payload::from(bytes),
        }
    }

    /// The bytes, in a `Vec` (no copy when they are not held in place).
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Inline(v) => v.to_vec(),
            Repr::Heap(v) => v,
        }
    }
}

impl From<&[u8]> for Payload {
    fn from(bytes: &[u8]) -> Payload {
        match heapless::Vec::from_slice(bytes) {
            Ok(v) => Payload(Repr::Inline(v)),
            Err(_) => Payload(Repr::Heap(bytes.to_vec())),
        }
    }
}

impl<const N: usize> From<&[u8; N]> for Payload {
    fn from(bytes: &[u8; N]) -> Payload {
        Payload::from(&bytes[..])
    }
}

impl<const N: usize> From<[u8; N]> for Payload {
    fn from(bytes: [u8; N]) -> Payload {
        Payload::from(&bytes[..])
    }
}

impl From<Vec<u8>> for Payload {
    /// Takes the vector as it is (no copy).
    fn from(v: Vec<u8>) -> Payload {
        Payload(Repr::Heap(v))
    }
}

impl From<&str> for Payload {
    fn from(s: &str) -> Payload {
        Payload::from(s.as_bytes())
    }
}

impl From<String> for Payload {
    fn from(s: String) -> Payload {
        Payload::from(s.into_bytes())
    }
}

impl From<Payload> for Vec<u8> {
    fn from(p: Payload) -> Vec<u8> {
        p.into_vec()
    }
}

impl Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for Payload {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Repr::Inline(v) => v,
            Repr::Heap(v) => v,
        }
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for Payload {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Payload {}

impl Hash for Payload {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl PartialOrd for Payload {
    fn partial_cmp(&self, other: &Payload) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Payload {
    fn cmp(&self, other: &Payload) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl PartialEq<[u8]> for Payload {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<&[u8]> for Payload {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Payload {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.as_slice() == other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Payload {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.as_slice() == *other
    }
}

impl PartialEq<Vec<u8>> for Payload {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl PartialEq<Payload> for [u8] {
    fn eq(&self, other: &Payload) -> bool {
        self == other.as_slice()
    }
}

impl PartialEq<Payload> for &[u8] {
    fn eq(&self, other: &Payload) -> bool {
        *self == other.as_slice()
    }
}

impl PartialEq<Payload> for Vec<u8> {
    fn eq(&self, other: &Payload) -> bool {
        self.as_slice() == other.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::{format, vec};

    #[test]
    fn a_payload_is_in_place_up_to_inline_and_the_same_either_way() {
        let at = vec![1u8; Payload::INLINE];
        let over = vec![1u8; Payload::INLINE + 1];
        assert!(matches!(Payload::from(&at[..]).0, Repr::Inline(_)));
        assert!(matches!(Payload::from(&over[..]).0, Repr::Heap(_)));
        // Held either way, the same bytes are the same payload.
        let inline = Payload::from(&at[..]);
        let heap = Payload::from(at.clone());
        assert_eq!(inline, heap);
        let set: HashSet<Payload> = [inline.clone()].into();
        assert!(set.contains(&heap));
        assert!(set.contains(&at[..]));
        assert_eq!(inline.cmp(&heap), std::cmp::Ordering::Equal);
        let (zero, one) = (Payload::from(&[0u8][..]), Payload::from(&[1u8][..]));
        assert!(zero < one);
        assert_eq!(inline.clone().into_vec(), at);
        assert_eq!(Payload::from(over.clone()).into_vec(), over);
        assert_eq!(Vec::from(Payload::from("ab")), b"ab".to_vec());
        assert_eq!(format!("{:?}", Payload::from("ab")), "[97, 98]");
        let mut p = Payload::from(&b"ab"[..]);
        p[0] = b'x';
        assert_eq!(p, b"xb");
        let mut p = Payload::from(b"ab".to_vec());
        p[1] = b'y';
        assert_eq!(p, *b"ay");
        assert!(Payload::default().is_empty());
    }

    /// Every comparison says equal for the same bytes and unequal for
    /// others, both ways round; the conversions keep the bytes.
    #[test]
    fn kinds_and_payloads_compare_and_convert_by_their_bytes() {
        let k = KindBuf::from(Kind::PONG);
        let (same, other) = ("PONG", "PING");
        assert_eq!(AsRef::<str>::as_ref(&k), same);
        assert!(k == *same && k != *other);
        assert!(k == same && k != other);
        let (same_owned, other_owned) = (String::from(same), String::from(other));
        assert!(k == same_owned && k != other_owned);
        assert!(k == Kind::PONG && k != Kind::PING);
        assert!(*same == k && *other != k);
        assert!(same == k && other != k);
        assert!(Kind::PONG == k && Kind::PING != k);

        let p = Payload::from(&b"ab"[..]);
        let (same, other): (&[u8], &[u8]) = (b"ab", b"ax");
        assert_eq!(AsRef::<[u8]>::as_ref(&p), same);
        assert!(p == *same && p != *other);
        assert!(p == same && p != other);
        assert!(p == *b"ab" && p != *b"ax");
        assert!(p == b"ab" && p != b"ax");
        assert!(p == same.to_vec() && p != other.to_vec());
        assert!(*same == p && *other != p);
        assert!(same == p && other != p);
        assert!(same.to_vec() == p && other.to_vec() != p);
        assert_eq!(Payload::from(*b"ab"), p);
        assert_eq!(Payload::from(b"ab"), p);
        assert_eq!(Payload::from(std::string::String::from("ab")), p);
        assert_eq!(Payload::from("ab"), p);
    }

    /// A payload held in a vector and set to `INLINE` bytes or fewer is
    /// held in place again.
    #[test]
    fn a_payload_set_to_inline_bytes_is_held_in_place() {
        let mut p = Payload::from(vec![1u8; Payload::INLINE + 1]);
        p.set(&[2u8; Payload::INLINE]);
        assert!(matches!(p.0, Repr::Inline(_)));
        assert_eq!(p, [2u8; Payload::INLINE]);
        p.set(&[3u8; Payload::INLINE + 1]);
        assert!(matches!(p.0, Repr::Heap(_)));
        assert_eq!(p, vec![3u8; Payload::INLINE + 1]);
    }

    /// A frame overwritten in place is the copy of the new message,
    /// whatever it held before, and a payload over `INLINE` reuses the
    /// vector it held.
    #[test]
    fn a_frame_set_in_place_is_the_new_message() {
        let big = vec![7u8; Payload::INLINE + 10];
        let bigger = vec![8u8; 2 * Payload::INLINE];
        let kinds = [
            Kind::ECHO,
            Kind::lit("a-much-longer/kind.name_0123456"),
            Kind::PING,
        ];
        let mut f = Frame::placeholder();
        for (i, payload) in [&b"hi"[..], &bigger, &big, b"", &big]
            .into_iter()
            .enumerate()
        {
            let m = Message::new(kinds[i % 3], payload)
                .with_id(i as u32)
                .with_flags(Flags::RESPONSE);
            let held = f.payload.as_slice().as_ptr();
            let was_heap = matches!(f.payload.0, Repr::Heap(_));
            f.set(&m);
            assert_eq!(f, Frame::from_message(&m), "{i}");
            let heap = payload.len() > Payload::INLINE;
            assert_eq!(matches!(f.payload.0, Repr::Heap(_)), heap, "{i}");
            if i == 2 {
                assert!(was_heap);
                assert_eq!(f.payload.as_slice().as_ptr(), held, "the vector is reused");
            }
        }
    }

    #[test]
    fn a_kind_buf_reads_and_hashes_as_its_str() {
        let k = KindBuf::new("sensor/temp").expect("kind");
        assert_eq!(k, "sensor/temp");
        assert_eq!("sensor/temp", k);
        assert_eq!(k, Kind::lit("sensor/temp"));
        assert_eq!(format!("{k:?} {k:>12}"), "\"sensor/temp\"  sensor/temp");
        let set: HashSet<KindBuf> = [k.clone()].into();
        assert!(set.contains("sensor/temp"));
        assert_eq!(KindBuf::new(""), Err(Error::InvalidKind));
        assert_eq!(String::from(k), "sensor/temp");
    }
}
