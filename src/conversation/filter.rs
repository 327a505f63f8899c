//! Subscription filters (`docs/PROTOCOL.md` §6) and the fixed table of
//! them a conversation keeps.

use crate::message::{is_kind_byte, same, MAX_KIND_LEN};
use crate::Kind;

/// A subscription filter: a kind, which matches that kind exactly, or a
/// prefix of 0..=31 kind characters followed by `*`, which matches every
/// kind that starts with it (`*` alone matches every kind).
///
/// # Examples
///
/// ```
/// use msgwire::conversation::Filter;
/// use msgwire::Kind;
///
/// let sensors = Filter::parse(b"sensor/*")?;
/// assert!(sensors.matches(Kind::new("sensor/temp")?));
/// assert!(!sensors.matches(Kind::new("tick")?));
/// assert!(Filter::parse(b"tick")?.matches(Kind::new("tick")?));
/// assert!(Filter::parse(b"*")?.matches(Kind::PING));
/// assert!(Filter::parse(b"a*b").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Filter<'a>(&'a str);

/// Why a payload is not a filter (`ERROR bad-filter: <detail>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BadFilter {
    /// No byte at all (`SUB` needs a filter; an empty `UNSUB` means all).
    Empty,
    /// A kind over 32 bytes, or a prefix over 31 before its `*`.
    TooLong,
    /// A byte outside the kind charset, or a `*` anywhere but last.
    BadByte,
}

impl BadFilter {
    /// The detail of the `bad-filter` answer.
    pub const fn detail(self) -> &'static str {
        match self {
            BadFilter::Empty => "empty filter",
            BadFilter::TooLong => "a kind of 1..=32 bytes, or a prefix of 0..=31 and '*'",
            BadFilter::BadByte => "bytes of A-Z a-z 0-9 _ . - / and one final '*' only",
        }
    }
}

impl core::fmt::Display for BadFilter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "bad-filter: {}", self.detail())
    }
}

impl core::error::Error for BadFilter {}

impl<'a> Filter<'a> {
    /// The filter `bytes` spell, if they spell one.
    ///
    /// # Errors
    ///
    /// [`BadFilter`] says why they do not.
    #[inline]
    pub fn parse(bytes: &'a [u8]) -> Result<Filter<'a>, BadFilter> {
        let (prefix, star) = match bytes.split_last() {
            None => return Err(BadFilter::Empty),
            Some((b'*', prefix)) => (prefix, true),
            Some(_) => (bytes, false),
        };
        let limit = if star { MAX_KIND_LEN - 1 } else { MAX_KIND_LEN };
        if prefix.len() > limit {
            return Err(BadFilter::TooLong);
        }
        if !prefix.iter().all(|&b| is_kind_byte(b)) {
            return Err(BadFilter::BadByte);
        }
        // Kind bytes and `*` are ASCII.
        crate::message::utf8(bytes)
            .map(Filter)
            .ok_or(BadFilter::BadByte)
    }

    /// Whether an event of `kind` matches.
    pub fn matches(&self, kind: Kind<'_>) -> bool {
        let kind = kind.as_bytes();
        match self.0.as_bytes().split_last() {
            Some((b'*', prefix)) => kind.get(..prefix.len()).is_some_and(|k| same(k, prefix)),
            _ => same(kind, self.0.as_bytes()),
        }
    }

    /// The filter as written.
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// The longest filter: a 32-byte kind, or a 31-byte prefix and `*`.
const MAX_FILTER_LEN: usize = MAX_KIND_LEN;

/// The filters of one conversation, at most `F` of them, in a fixed table
/// (no allocator).
#[derive(Clone, Debug, Default)]
pub struct Filters<const F: usize> {
    held: heapless::Vec<heapless::String<MAX_FILTER_LEN>, F>,
}

/// [`Filters::add`] found the table full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TooMany;

impl<const F: usize> Filters<F> {
    /// No filter.
    pub const fn new() -> Self {
        Filters {
            held: heapless::Vec::new(),
        }
    }

    /// Adds `filter`; one already held changes nothing (`Ok(false)`).
    ///
    /// # Errors
    ///
    /// [`TooMany`] when `F` filters are held already.
    pub fn add(&mut self, filter: Filter<'_>) -> Result<bool, TooMany> {
        if self.find(filter).is_some() {
            return Ok(false);
        }
        // An empty string pushed, then filled where it stays.
        self.held
            .push(heapless::String::new())
            .map_err(|_| TooMany)?;
        if let Some(held) = self.held.last_mut() {
            // At most 32 bytes: it fits.
            let _ = held.push_str(filter.as_str());
        }
        Ok(true)
    }

    /// Where `filter` is held.
    fn find(&self, filter: Filter<'_>) -> Option<usize> {
        self.held
            .iter()
            .position(|f| same(f.as_bytes(), filter.0.as_bytes()))
    }

    /// Removes `filter` if it is held; whether it was.
    pub fn remove(&mut self, filter: Filter<'_>) -> bool {
        let Some(at) = self.find(filter) else {
            return false;
        };
        // The last filter's text takes the removed one's place, copied as
        // bytes: moving the element itself (`swap_remove`, `swap`, even
        // through a local) links `memmove`, 1.5 KiB of flash on a device.
        if let Some(last) = self.held.pop() {
            if let Some(slot) = self.held.get_mut(at) {
                slot.clear();
                // Both hold at most the same 32 bytes: it fits.
                let _ = slot.push_str(&last);
            }
        }
        true
    }

    /// Removes every filter.
    pub fn clear(&mut self) {
        self.held.clear();
    }

    /// Whether some filter matches `kind` (an event matching several is
    /// still one event).
    pub fn matches(&self, kind: Kind<'_>) -> bool {
        self.held.iter().any(|f| Filter(f.as_str()).matches(kind))
    }

    /// How many filters are held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether no filter is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The filters held, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = Filter<'_>> {
        self.held.iter().map(|f| Filter(f.as_str()))
    }
}
