//! `msgwire pub`: publishes one event (protocol revision 1.2, §6).

use std::process::ExitCode;

use async_io::block_on;
use msgwire::net::{ClientConfig, ClientError, Spawner};

use crate::args::PubArgs;
use crate::common::open_client;
use crate::{Failure, Outcome};

pub fn run(a: PubArgs) -> Outcome {
    let m = &a.message;
    block_on(async {
        let client = open_client(&a.to, ClientConfig::default())
            .await?
            .start(&Spawner::global())?;
        // Says HELLO first: a peer before 1.2 would refuse the EVENT flag.
        client
            .publish(m.kind.as_str(), &m.data)
            .await
            .map_err(|e| match e {
                ClientError::NoEvents => Failure::Run(
                    "the peer speaks a revision before 1.2: it takes no events \
                     (it answered HELLO with ERROR unknown-kind); nothing was sent"
                        .into(),
                ),
                e => Failure::Run(format!("cannot publish: {e}")),
            })?;
        // `publish` only queues the event, and the program would end before
        // the client's connection loop writes it. The peer reads one
        // conversation in order (§4): its answer to a PING sent after the
        // event, whatever the answer, says that it has the event (and a
        // relaying server has handed it to its subscribers).
        match client.request("PING", b"").await {
            Ok(_) | Err(ClientError::Remote(_)) => {}
            Err(e) => {
                return Err(Failure::Run(format!(
                    "the event may not have reached the peer: {e}"
                )))
            }
        }
        client.close();
        Ok(ExitCode::SUCCESS)
    })
}
