//! Why [`serve`](super::serve) or a [`Client`](super::Client) could not go
//! on: [`IoError`] for the transport and the buffer, [`ClientError`] for a
//! request.

use core::fmt;

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
    /// The peer closed the stream (a read gave 0 bytes) before the answer
    /// came: a [`Client`](super::Client)'s account; [`serve`](super::serve)
    /// ends with [`Ended::Closed`](super::Ended::Closed) instead.
    Closed,
    /// [`serve_with_events`](super::serve_with_events): another
    /// conversation holds the [`Events`](super::Events) queue.
    Busy,
}

impl<E: fmt::Debug> fmt::Display for IoError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoError::Io(e) => write!(f, "transport failed: {e:?}"),
            IoError::WriteZero => f.write_str("transport wrote no byte"),
            IoError::Capacity => f.write_str("buffer too small for the limits"),
            IoError::Closed => f.write_str("the peer closed the stream"),
            IoError::Busy => f.write_str("the events queue serves another conversation"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for IoError<E> {}

/// Why a [`Client`](super::Client) request failed: the conversation
/// core's [`ClientError`](crate::conversation::ClientError), the same
/// variants as the host's, with the transport's account an [`IoError`]
/// (`Closed(IoError::Closed)`: the peer closed the stream before
/// answering). `ConnectionLost` and `NotStarted` are the host's; a device
/// client never gives them.
pub type ClientError<E> = crate::conversation::ClientError<IoError<E>>;

impl<E> From<IoError<E>> for ClientError<E> {
    fn from(e: IoError<E>) -> Self {
        crate::conversation::ClientError::Closed(e)
    }
}
