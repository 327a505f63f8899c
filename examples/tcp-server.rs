//! A msgwire server with one handler of its own besides the built-ins.
//!
//! Run it with `cargo run --example tcp-server`, then talk to it:
//!
//! ```text
//! printf 'PING:hi\ntime:\nEXIT:\n' | nc 127.0.0.1 7878
//! cargo run --example tcp-client
//! ```
//!
//! (`EXIT:` ends the conversation, so netcat exits: netcat-openbsd does not
//! half-close at the end of its input and would wait for the idle timeout.)
//!
//! Ctrl-C stops it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use msgwire::net::{HandlerError, Reply, Request, Router, Server, ServerConfig, ServerEvent};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Built-ins (PING → PONG ack, ECHO, EXIT) plus `time`, which answers
    // the seconds since 1970 and fails, as an example, on a non-empty payload.
    let router = Router::new()
        .on("time", |req: Request| async move {
            if !req.payload().is_empty() {
                return Err(HandlerError::msg("time takes no payload"));
            }
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
            // The answer's kind: the request's own.
            Ok(Reply::new(req.kind(), now.to_string()))
        })?
        // Give up on handlers that take more than a second.
        .handler_timeout(Duration::from_secs(1));

    // Log connections and every ERROR answered.
    let config = ServerConfig {
        on_event: Some(std::sync::Arc::new(|e: &ServerEvent| println!("{e:?}"))),
        ..ServerConfig::default()
    };

    smol::block_on(async {
        let server = Server::bind_tcp("127.0.0.1:7878", router, config).await?;
        println!("listening on {}", server.listen_addr());
        // The whole server is one future, run here on this thread. For
        // connections served in parallel on a multi-threaded executor:
        // `server.start(&Spawner::new(|task| smol::spawn(task).detach()))`.
        server.run().await?;
        Ok(())
    })
}
