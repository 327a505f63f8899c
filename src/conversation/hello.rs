//! The handshake's tokens (`docs/PROTOCOL.md` §5): reading a `HELLO`
//! payload and writing one, without `core::fmt` or an allocator.

use crate::message::MAX_KIND_LEN;
use crate::Kind;

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
        let mut rev = None;
        let mut max = None;
        let mut app = None;
        let mut schema = None;
        // The names read so far, to refuse one that comes twice. §5 sets no
        // number of tokens; this side reads at most `MAX_TOKENS` (a longer
        // payload is `bad-hello`), so the check stays linear.
        let mut seen: [&[u8]; MAX_TOKENS] = [&[]; MAX_TOKENS];
        for (n_seen, token) in payload.split(|&b| b == b' ').enumerate() {
            let Some(eq) = token.iter().position(|&b| b == b'=') else {
                return Err(BadHello("a token is name=value, one space apart"));
            };
            let (name, value) = (&token[..eq], &token[eq + 1..]);
            if name.is_empty() || name.len() > MAX_NAME || !name.iter().all(u8::is_ascii_lowercase)
            {
                return Err(BadHello("a name is 1..=16 of a-z"));
            }
            if value.is_empty()
                || value.len() > MAX_VALUE
                || !value.iter().all(|b| (0x21..=0x7E).contains(b))
            {
                return Err(BadHello("a value is 1..=64 bytes of 0x21..=0x7E"));
            }
            if seen[..n_seen].iter().any(|s| crate::message::same(s, name)) {
                return Err(BadHello("a name appears twice"));
            }
            let Some(slot) = seen.get_mut(n_seen) else {
                return Err(BadHello("more than 32 tokens"));
            };
            *slot = name;
            match name {
                b"rev" => {
                    let dot = value.iter().position(|&b| b == b'.');
                    let parsed = dot.and_then(|d| {
                        Some(Rev {
                            major: decimal(&value[..d])?,
                            minor: decimal(&value[d + 1..])?,
                        })
                    });
                    rev = Some(parsed.ok_or(BadHello("rev is MAJOR.MINOR, in decimal"))?);
                }
                b"max" => max = Some(decimal(value).ok_or(BadHello("max is decimal"))?),
                b"app" => {
                    if value.len() > MAX_KIND_LEN {
                        return Err(BadHello("app is 1..=32 bytes of the kind charset"));
                    }
                    let kind = Kind::from_bytes(value)
                        .map_err(|_| BadHello("app is 1..=32 bytes of the kind charset"))?;
                    app = Some(kind.as_str());
                }
                b"schema" => {
                    // 16 lowercase hex digits, read by hand (no
                    // `from_str_radix` on a device).
                    let mut n: u64 = 0;
                    for &b in value {
                        let digit = match b {
                            b'0'..=b'9' => b - b'0',
                            b'a'..=b'f' => b - b'a' + 10,
                            _ => return Err(BadHello("schema is 16 lowercase hex digits")),
                        };
                        n = (n << 4) | u64::from(digit);
                    }
                    if value.len() != 16 {
                        return Err(BadHello("schema is 16 lowercase hex digits"));
                    }
                    schema = Some(n);
                }
                _ => {} // a later revision's: ignored
            }
        }
        Ok(Hello {
            rev: rev.ok_or(BadHello("rev is required"))?,
            max,
            app,
            schema,
        })
    }

    /// Writes the tokens in §5's order (`rev`, `max`, `app`, `schema`) to
    /// `out`; `false` if they did not fit.
    pub fn write<const N: usize>(&self, out: &mut heapless::String<N>) -> bool {
        let mut digits = [0u8; 20];
        let mut ok = out.push_str("rev=").is_ok()
            && out.push_str(dec(self.rev.major, &mut digits)).is_ok()
            && out.push('.').is_ok()
            && out.push_str(dec(self.rev.minor, &mut digits)).is_ok();
        if let Some(max) = self.max {
            ok = ok && out.push_str(" max=").is_ok() && out.push_str(dec(max, &mut digits)).is_ok();
        }
        if let Some(app) = self.app {
            ok = ok && out.push_str(" app=").is_ok() && out.push_str(app).is_ok();
        }
        if let Some(schema) = self.schema {
            ok = ok && out.push_str(" schema=").is_ok();
            for shift in (0..16).rev() {
                let nibble = ((schema >> (shift * 4)) & 0xF) as u8;
                let c = if nibble < 10 {
                    b'0' + nibble
                } else {
                    b'a' + nibble - 10
                };
                ok = ok && out.push(char::from(c)).is_ok();
            }
        }
        ok
    }
}

/// `n` in decimal, written at the end of `buf`.
pub(super) fn dec(mut n: u32, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    crate::message::utf8(&buf[at..]).unwrap_or("0")
}
