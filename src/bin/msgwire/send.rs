//! `msgwire send`: one message, and the answer printed.

use std::process::ExitCode;
use std::time::Duration;

use async_io::block_on;
use futures_lite::FutureExt;
use msgwire::conversation::Framing;
use msgwire::net::{Framed, FramedConfig, RecvError};
use msgwire::{Kind, Message};

use crate::args::SendArgs;
use crate::common::{open_stream, payload_text};
use crate::{Failure, Outcome};

/// How long `send` waits for the answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(a: SendArgs) -> Outcome {
    let m = &a.message;
    let framing = if m.text {
        Framing::Text
    } else {
        Framing::Binary
    };
    block_on(async {
        let stream = open_stream(&a.to).await?;
        let mut conn = Framed::new(stream, framing, FramedConfig::default());
        let msg = Message::new(m.kind, &m.data)
            .with_id(m.id)
            .with_flags(m.flags);
        conn.send(&msg)
            .await
            .map_err(|e| Failure::Usage(format!("cannot send: {e}")))?;
        conn.flush().await?;
        if m.kind == Kind::EXIT {
            println!("sent EXIT (no answer is expected)");
            return Ok(ExitCode::SUCCESS);
        }
        let answer = async { Some(conn.recv().await) }
            .or(async {
                async_io::Timer::after(ANSWER_TIMEOUT).await;
                None
            })
            .await;
        let reply = match answer {
            None => return Err(Failure::Run("no answer within 5 s".into())),
            Some(Err(RecvError::Closed)) => {
                return Err(Failure::Run("the server closed the connection".into()))
            }
            Some(Err(e)) => return Err(Failure::Run(format!("bad answer: {e}"))),
            Some(Ok(reply)) => reply,
        };
        match framing {
            Framing::Binary => println!(
                "{} id={} {}",
                reply.kind,
                reply.id,
                payload_text(reply.payload)
            ),
            Framing::Text => println!("{} {}", reply.kind, payload_text(reply.payload)),
        }
        Ok(if reply.kind == Kind::ERROR {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}
