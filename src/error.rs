//! The crate's error type and the decode error event.

use core::fmt;

/// Everything that can go wrong when decoding or encoding msgwire frames.
///
/// The decode variants are the error codes of the protocol
/// (`docs/PROTOCOL.md` §2.1 and §3); [`Error::code`] returns the stable,
/// machine-readable string. The encoder refuses a message with the same
/// variant the decoder would report for it, so there is one source of truth
/// for the limits.
///
/// "Need more bytes" is never an error: the decoders report it as
/// `None` / [`Status::Partial`](crate::Status::Partial).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The 14-byte header's CRC-16 does not match (`header-checksum`).
    HeaderChecksum,
    /// The header's version byte is not 1 (`unsupported-version`).
    UnsupportedVersion,
    /// A reserved flag bit (3..=7) is set (`reserved-flags`).
    ReservedFlags,
    /// The kind length is 0 or more than 32 (`invalid-kind-length`).
    InvalidKindLength,
    /// The payload is longer than the receiver's maximum (`too-large`).
    TooLarge,
    /// The CRC-32 trailer does not match (`payload-checksum`).
    PayloadChecksum,
    /// The kind is empty, too long or has a byte outside
    /// `A-Z a-z 0-9 _ . - /` (`invalid-kind`).
    InvalidKind,
    /// A text line has no `:` (`missing-separator`).
    MissingSeparator,
    /// A text line is longer than the maximum line length (`line-too-long`).
    LineTooLong,
    /// Encoding only: the output buffer is too small (`buffer-too-small`).
    BufferTooSmall,
    /// Encoding only: a text payload contains `\n`, or ends with `\r`, which
    /// the text decoder would strip (`invalid-text-payload`).
    InvalidTextPayload,
    /// The capacity asked of a decoder is more than its buffer can hold
    /// (`capacity`).
    Capacity,
}

impl Error {
    /// The stable, machine-readable code of this error, as written in the
    /// protocol (`"header-checksum"`, `"too-large"`, …).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(msgwire::Error::TooLarge.code(), "too-large");
    /// ```
    pub const fn code(self) -> &'static str {
        match self {
            Error::HeaderChecksum => "header-checksum",
            Error::UnsupportedVersion => "unsupported-version",
            Error::ReservedFlags => "reserved-flags",
            Error::InvalidKindLength => "invalid-kind-length",
            Error::TooLarge => "too-large",
            Error::PayloadChecksum => "payload-checksum",
            Error::InvalidKind => "invalid-kind",
            Error::MissingSeparator => "missing-separator",
            Error::LineTooLong => "line-too-long",
            Error::BufferTooSmall => "buffer-too-small",
            Error::InvalidTextPayload => "invalid-text-payload",
            Error::Capacity => "capacity",
        }
    }

    /// A short sentence for people, used by `Display` after the code.
    #[inline]
    pub(crate) fn detail(self) -> &'static str {
        text(2 * self as usize + 1)
    }

    /// [`Error::code`], read from the same texts as [`Error::detail`]: a
    /// device that answers `ERROR <code>: <detail>` links one string of
    /// them, not two tables of pointers and lengths (`code` stays a
    /// `const fn`).
    pub(crate) fn code_text(self) -> &'static str {
        text(2 * self as usize)
    }

    /// Index of this error among the decode errors counted by the decoders'
    /// statistics, or `None` for encode-only errors.
    pub(crate) const fn stat_index(self) -> Option<usize> {
        match self {
            Error::HeaderChecksum => Some(0),
            Error::UnsupportedVersion => Some(1),
            Error::ReservedFlags => Some(2),
            Error::InvalidKindLength => Some(3),
            Error::TooLarge => Some(4),
            Error::PayloadChecksum => Some(5),
            Error::InvalidKind => Some(6),
            Error::MissingSeparator => Some(7),
            Error::LineTooLong => Some(8),
            Error::BufferTooSmall | Error::InvalidTextPayload | Error::Capacity => None,
        }
    }
}

/// Number of decode error variants counted in [`Stats`](crate::Stats).
pub(crate) const DECODE_ERRORS: usize = 9;

/// Each error's code and detail, in the order of [`Error`]'s variants,
/// each followed by a NUL.
const TEXTS: &str = "header-checksum\0header CRC-16 does not match\0\
    unsupported-version\0frame version is not 1\0\
    reserved-flags\0a reserved flag bit is set\0\
    invalid-kind-length\0kind length is not in 1..=32\0\
    too-large\0payload is longer than the maximum\0\
    payload-checksum\0payload CRC-32 does not match\0\
    invalid-kind\0kind is empty, too long or has a byte outside A-Z a-z 0-9 _ . - /\0\
    missing-separator\0text line has no ':'\0\
    line-too-long\0text line is longer than the maximum\0\
    buffer-too-small\0output buffer is too small\0\
    invalid-text-payload\0text payload contains '\\n' or ends with '\\r'\0\
    capacity\0limit is larger than the decoder's buffer allows\0";

/// The `n`-th text of [`TEXTS`] (NULs are ASCII: every piece is a `&str`).
fn text(n: usize) -> &'static str {
    let (mut start, mut seen) = (0, 0);
    for (at, &b) in TEXTS.as_bytes().iter().enumerate() {
        if b == 0 {
            if seen == n {
                return TEXTS.get(start..at).unwrap_or_default();
            }
            seen += 1;
            start = at + 1;
        }
    }
    ""
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.detail())
    }
}

impl core::error::Error for Error {}

/// An error event from a decoder: what was wrong, and the frame's id when
/// its header was trusted (§2.1 step 3), so a server can answer the
/// sender's request.
///
/// The offending bytes have already been consumed (or, for a frame too large
/// to buffer, will be skipped as they arrive) when this is returned: keep
/// decoding and the stream goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DecodeError {
    /// What was wrong.
    pub error: Error,
    /// The id of the refused frame if its header was trusted, else `None`.
    /// Always `None` in text mode, which carries no ids.
    pub id: Option<u32>,
}

impl DecodeError {
    pub(crate) const fn new(error: Error, id: Option<u32>) -> Self {
        DecodeError { error, id }
    }

    /// The stable code of the error, as [`Error::code`].
    pub const fn code(&self) -> &'static str {
        self.error.code()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(f, "{} (frame id {id})", self.error),
            None => fmt::Display::fmt(&self.error, f),
        }
    }
}

impl core::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Error {
        e.error
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    /// Every error's code and detail, read from the one string of texts:
    /// the code is `code()`'s, and each detail is its own sentence.
    #[test]
    fn codes_and_details_are_read_in_order() {
        let all = [
            (Error::HeaderChecksum, "header CRC-16 does not match"),
            (Error::UnsupportedVersion, "frame version is not 1"),
            (Error::ReservedFlags, "a reserved flag bit is set"),
            (Error::InvalidKindLength, "kind length is not in 1..=32"),
            (Error::TooLarge, "payload is longer than the maximum"),
            (Error::PayloadChecksum, "payload CRC-32 does not match"),
            (
                Error::InvalidKind,
                "kind is empty, too long or has a byte outside A-Z a-z 0-9 _ . - /",
            ),
            (Error::MissingSeparator, "text line has no ':'"),
            (Error::LineTooLong, "text line is longer than the maximum"),
            (Error::BufferTooSmall, "output buffer is too small"),
            (
                Error::InvalidTextPayload,
                "text payload contains '\\n' or ends with '\\r'",
            ),
            (
                Error::Capacity,
                "limit is larger than the decoder's buffer allows",
            ),
        ];
        for (e, detail) in all {
            assert_eq!(e.code_text(), e.code(), "{e:?}");
            assert_eq!(e.detail(), detail, "{e:?}");
        }
        // Nothing after the last text.
        assert_eq!(super::text(2 * all.len()), "");
    }

    /// The decode errors are the first variants, in the counters' order:
    /// `Stats::count_refused` indexes the counters with the variant.
    #[test]
    fn a_decode_errors_counter_is_its_variant() {
        for e in [
            Error::HeaderChecksum,
            Error::UnsupportedVersion,
            Error::ReservedFlags,
            Error::InvalidKindLength,
            Error::TooLarge,
            Error::PayloadChecksum,
            Error::InvalidKind,
            Error::MissingSeparator,
            Error::LineTooLong,
            Error::BufferTooSmall,
            Error::InvalidTextPayload,
            Error::Capacity,
        ] {
            let i = e as usize;
            assert_eq!(
                e.stat_index(),
                (i < super::DECODE_ERRORS).then_some(i),
                "{e:?}"
            );
        }
    }
}
