//! `msgwire hello`: the handshake (protocol revision 1.2, §5), and what
//! the peer says of itself.

use std::process::ExitCode;

use futures_lite::future::block_on;
use msgwire::net::{ClientConfig, Handshake, Spawner};

use crate::args::HelloArgs;
use crate::common::open_client;
use crate::{Failure, Outcome};

pub fn run(a: HelloArgs) -> Outcome {
    block_on(async {
        let client = open_client(&a.to, ClientConfig::default())
            .await?
            .start(&Spawner::global())?;
        let got = client
            .hello()
            .await
            .map_err(|e| Failure::Run(format!("HELLO failed: {e}")))?;
        match (got, a.json) {
            (Handshake::Tokens(t), false) => println!("{t}"),
            (Handshake::Tokens(t), true) => println!(
                "{{\"rev\":\"{}.{}\",\"max\":{},\"app\":{},\"schema\":{}}}",
                t.rev.major,
                t.rev.minor,
                t.max.map_or("null".to_string(), |m| m.to_string()),
                t.app.map_or("null".to_string(), |s| format!("\"{s}\"")),
                t.schema
                    .map_or("null".to_string(), |s| format!("\"{s:016x}\"")),
            ),
            (Handshake::Before12, false) => {
                println!("the peer speaks a revision before 1.2 (no HELLO, no events)")
            }
            (Handshake::Before12, true) => println!("{{\"rev\":null}}"),
            (other, _) => println!("{other:?}"),
        }
        Ok(ExitCode::SUCCESS)
    })
}
