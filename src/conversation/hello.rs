//! The handshake's tokens (`docs/PROTOCOL.md` §5): reading a `HELLO`
//! payload and writing one, without `core::fmt` or an allocator.

use super::server::ErrorText;
use crate::message::{is_valid_kind, same, utf8};

/// A protocol revision, `MAJOR.MINOR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rev {
    /// The major revision (this text: 1).
    pub major: u32,
    /// The minor revision (this text: 2).
    pub minor: u32,
}

impl Rev {
    /// The revision this crate implements: 1.2.
    pub const THIS: Rev = Rev { major: 1, minor: 2 };

    /// The first revision with events and subscriptions: 1.2.
    pub const EVENTS: Rev = Rev { major: 1, minor: 2 };
}

/// What a `HELLO` says: the tokens of §5 this revision knows (a receiver
/// ignores the others).
///
/// # Examples
///
/// ```
/// use msgwire::conversation::{Hello, Rev};
///
/// let h = Hello::parse(b"rev=1.2 max=256 app=thermo future=x")?;
/// assert_eq!((h.rev, h.max, h.app, h.schema), (Rev::THIS, Some(256), Some("thermo"), None));
/// assert!(Hello::parse(b"max=256").is_err()); // no rev
/// # Ok::<(), msgwire::conversation::BadHello>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hello<'a> {
    /// `rev`: the highest revision the sender implements (in a request),
    /// the revision both sides speak (in an answer).
    pub rev: Rev,
    /// `max`: the largest payload the sender accepts (a value beyond
    /// `u32::MAX` reads as `u32::MAX`).
    pub max: Option<u32>,
    /// `app`: the sender's application (kind charset, 1..=32 bytes).
    pub app: Option<&'a str>,
    /// `schema`: an opaque 64-bit hash of the application's messages.
    pub schema: Option<u64>,
}

/// Why a `HELLO` payload breaks §5's rules (`ERROR bad-hello: <detail>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BadHello(&'static str);

impl BadHello {
    /// The detail of the `bad-hello` answer.
    pub const fn detail(self) -> &'static str {
        self.0
    }
}

impl core::fmt::Display for BadHello {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "bad-hello: {}", self.0)
    }
}

impl core::error::Error for BadHello {}

/// Longest token name and value (§5).
const MAX_NAME: usize = 16;
const MAX_VALUE: usize = 64;
/// The names this revision reads: `rev`, `max`, `app`, `schema`.
const KNOWN: [&[u8]; 4] = [b"rev", b"max", b"app", b"schema"];
/// Most tokens this side reads in one `HELLO`.
const MAX_TOKENS: usize = 32;

/// Decimal digits, saturating at `u32::MAX`; `None` if not all digits.
pub(super) fn decimal(v: &[u8]) -> Option<u32> {
    if v.is_empty() {
        return None;
    }
    let mut n: u32 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.saturating_mul(10).saturating_add(u32::from(b - b'0'));
    }
    Some(n)
}

/// The first token of `rest` and what follows its space (`None` after
/// the last token).
fn next_token(rest: &[u8]) -> (&[u8], Option<&[u8]>) {
    match rest.iter().position(|&b| b == b' ') {
        Some(at) => (
            rest.get(..at).unwrap_or_default(),
            Some(rest.get(at + 1..).unwrap_or_default()),
        ),
        None => (rest, None),
    }
}

/// Whether `v` has 1..=`max` bytes, all in `lo..=hi`.
fn within(v: &[u8], max: usize, lo: u8, hi: u8) -> bool {
    (1..=max).contains(&v.len()) && v.iter().all(|b| (lo..=hi).contains(b))
}

/// A `schema` value: 16 lowercase hex digits, read by hand (no
/// `from_str_radix` on a device).
fn schema(v: &[u8]) -> Option<u64> {
    if v.len() != 16 {
        return None;
    }
    let mut hash: u64 = 0;
    for &b in v {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        hash = (hash << 4) | u64::from(digit);
    }
    Some(hash)
}

/// `v` split at its first `sep` (a token's name and value at `=`, a
/// revision's numbers at `.`).
fn split_once(v: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let at = v.iter().position(|&b| b == sep)?;
    Some((v.get(..at)?, v.get(at + 1..)?))
}

impl<'a> Hello<'a> {
    /// Reads a `HELLO` payload.
    ///
    /// # Errors
    ///
    /// [`BadHello`] when a token breaks the rules (a name of 1..=16 `a-z`,
    /// `=`, a value of 1..=64 bytes of `0x21..=0x7E`, one space between
    /// tokens, a name at most once), `rev` is missing, or a known name's
    /// value is not of its form.
    pub fn parse(payload: &'a [u8]) -> Result<Hello<'a>, BadHello> {
        let mut hello = Hello {
            rev: Rev { major: 0, minor: 0 },
            max: None,
            app: None,
            schema: None,
        };
        match hello.read(payload) {
            Ok(true) => Ok(hello),
            Ok(false) => Err(BadHello("rev is required")),
            Err(e) => Err(BadHello(e)),
        }
    }

    /// Reads the tokens of `payload` into `self`, in order; whether `rev`
    /// was one of them, or why the payload breaks §5's rules.
    fn read(&mut self, payload: &'a [u8]) -> Result<bool, &'static str> {
        let mut rev = false;
        // §5 sets no number of tokens; this side reads at most
        // `MAX_TOKENS` (a longer payload is `bad-hello`), so the search
        // for a name that comes twice, through the tokens before it,
        // stays bounded.
        let mut n = 0;
        let mut rest = Some(payload);
        while let Some(here) = rest {
            let (token, after) = next_token(here);
            rest = after;
            let (name, value) =
                split_once(token, b'=').ok_or("a token is name=value, one space apart")?;
            if !within(name, MAX_NAME, b'a', b'z') {
                return Err("a name is 1..=16 of a-z");
            }
            if !within(value, MAX_VALUE, 0x21, 0x7E) {
                return Err("a value is 1..=64 bytes of 0x21..=0x7E");
            }
            // The tokens before this one, all valid.
            let mut before = payload;
            for _ in 0..n {
                let (earlier, after) = next_token(before);
                if split_once(earlier, b'=').is_some_and(|(seen, _)| same(seen, name)) {
                    return Err("a name appears twice");
                }
                before = after.unwrap_or_default();
            }
            if n == MAX_TOKENS {
                return Err("more than 32 tokens");
            }
            n += 1;
            // Found by a loop over the names this revision knows: no
            // comparison of each written out.
            match KNOWN.iter().position(|known| same(known, name)) {
                Some(0) => {
                    let numbers = split_once(value, b'.')
                        .and_then(|(major, minor)| Some((decimal(major)?, decimal(minor)?)));
                    let (major, minor) = numbers.ok_or("rev is MAJOR.MINOR, in decimal")?;
                    self.rev = Rev { major, minor };
                    rev = true;
                }
                Some(1) => self.max = Some(decimal(value).ok_or("max is decimal")?),
                Some(2) => {
                    // A kind: 1..=32 bytes of its charset (ASCII).
                    if !is_valid_kind(value) {
                        return Err("app is 1..=32 bytes of the kind charset");
                    }
                    self.app = utf8(value);
                }
                Some(3) => {
                    self.schema = Some(schema(value).ok_or("schema is 16 lowercase hex digits")?);
                }
                _ => {} // a later revision's: ignored
            }
        }
        Ok(rev)
    }

    /// Writes the tokens in §5's order (`rev`, `max`, `app`, `schema`) to
    /// `text` (at most 101 bytes: they fit).
    pub(super) fn write_text(&self, text: &mut ErrorText) {
        text.push_str("rev=");
        text.push_dec(self.rev.major);
        text.push_str(".");
        text.push_dec(self.rev.minor);
        if let Some(max) = self.max {
            text.push_str(" max=");
            text.push_dec(max);
        }
        if let Some(app) = self.app {
            text.push_str(" app=");
            text.push_str(app);
        }
        if let Some(schema) = self.schema {
            text.push_str(" schema=");
            text.push_hex(schema);
        }
    }

    /// Writes the tokens in §5's order (`rev`, `max`, `app`, `schema`) to
    /// `out`; `false` if they did not fit (then nothing is written).
    pub fn write<const N: usize>(&self, out: &mut heapless::String<N>) -> bool {
        let mut text = ErrorText::empty();
        self.write_text(&mut text);
        out.push_str(text.as_str()).is_ok()
    }
}

/// `n` in decimal, written at the end of `buf` (a `u32` has at most 10
/// digits): the digits.
pub(super) fn dec(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut at = buf.len();
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        at -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.get(at..).unwrap_or_default()
}
