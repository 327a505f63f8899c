//! Why [`serve`](super::serve) or a [`Client`](super::Client) could not go
//! on: [`IoError`] for the transport and the buffer, [`ClientError`] for a
//! request.

use core::fmt;

use crate::conversation::ErrorText;
use crate::DecodeError;

/// Why [`serve`](super::serve) or a [`Client`](super::Client) could not go
/// on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum IoError<E> {
    /// The transport failed.
    Io(E),
    /// The transport's `write` accepted no byte.
    WriteZero,
    /// The buffer cannot hold a frame at the configured limits.
    Capacity,
}

impl<E: fmt::Debug> fmt::Display for IoError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoError::Io(e) => write!(f, "transport failed: {e:?}"),
            IoError::WriteZero => f.write_str("transport wrote no byte"),
            IoError::Capacity => f.write_str("buffer too small for the limits"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for IoError<E> {}

/// Why a [`Client`](super::Client) request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ClientError<E> {
    /// The transport failed, accepted no byte, or closed.
    Io(IoError<E>),
    /// The peer closed the stream before answering.
    Closed,
    /// No answer before the timeout.
    Timeout,
    /// The request cannot be encoded (a text payload with `\n` …).
    Encode(crate::Error),
    /// The server answered `ERROR <code>: <detail>` (the text, cut at
    /// [`crate::conversation::MAX_ERROR_LEN`] bytes).
    Remote(ErrorText),
    /// This side's decoder refused the answer (too large for the buffer …).
    BadAnswer(DecodeError),
}

impl<E: fmt::Debug> fmt::Display for ClientError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => fmt::Display::fmt(e, f),
            ClientError::Closed => f.write_str("connection closed"),
            ClientError::Timeout => f.write_str("request timed out"),
            ClientError::Encode(e) => write!(f, "cannot encode request: {e}"),
            ClientError::Remote(t) => write!(f, "server answered ERROR {t}"),
            ClientError::BadAnswer(e) => write!(f, "answer refused: {e}"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for ClientError<E> {}

impl<E> From<IoError<E>> for ClientError<E> {
    fn from(e: IoError<E>) -> Self {
        ClientError::Io(e)
    }
}
