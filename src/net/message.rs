//! The host's owned message: what a handler's [`Request`](super::Request)
//! holds and what a [`Client`](super::Client) gets back.

use std::string::{String, ToString};
use std::vec::Vec;

use crate::{Flags, Message};

/// An owned message: what async handlers receive, what a client gets back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The kind (valid: 1..=32 bytes of `A-Z a-z 0-9 _ . - /`).
    pub kind: String,
    /// The correlation id; 0 for none.
    pub id: u32,
    /// The flags.
    pub flags: Flags,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// Copies a borrowed message.
    pub fn from_message(m: &Message<'_>) -> Self {
        Frame {
            kind: m.kind.as_str().to_string(),
            id: m.id,
            flags: m.flags,
            payload: m.payload.to_vec(),
        }
    }

    /// The payload as UTF-8 text, when it is.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }
}
