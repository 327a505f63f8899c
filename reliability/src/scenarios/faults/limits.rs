//! Requests and answers over the limits are refused with the right error,
//! and the connection goes on; a closed client fails at once. The server
//! (in this process) accepts 128 KiB payloads, the client only 64 KiB.

use std::time::{Duration, Instant};

use msgwire::net::{Client, ClientError, FramedConfig, Router, ServerConfig};

use crate::exec::{run, within};
use crate::harness::report::violation;
use crate::peers::connect_client;

pub fn check() {
    let r = run(async {
        let config = ServerConfig {
            framed: FramedConfig {
                max_payload: 128 * 1024,
                ..FramedConfig::default()
            },
            ..ServerConfig::default()
        };
        let (server, addr) = super::start_server(Router::new(), config).await?;
        let c = connect_client(addr).await?;
        let mut notes = over_the_limits(&c).await?;
        notes.push(closed_fails_at_once(&c).await?);
        server.shutdown(Duration::from_secs(2)).await;
        Ok::<_, String>(notes)
    });
    match r {
        Ok(notes) => println!(
            "faults: limits: {}; the connection went on",
            notes.join(", ")
        ),
        Err(e) => violation(format!("faults: limits: {e}")),
    }
}

/// A request over the server's limit is answered `too-large`, an answer
/// over the client's is `BadAnswer(too-large)`; after each, `PING`, and a
/// 60 KiB `ECHO` at the end, work on the same connection.
async fn over_the_limits(c: &Client) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    match c.request("ECHO", &vec![1u8; 200 * 1024]).await {
        Err(ClientError::Remote(e)) if e.code() == "too-large" => {
            notes.push("a 200 KiB request: ERROR too-large".to_string())
        }
        other => return Err(format!("a 200 KiB request: {other:?}")),
    }
    c.ping()
        .await
        .map_err(|e| format!("PING after too-large: {e}"))?;
    match c.request("ECHO", &vec![2u8; 100 * 1024]).await {
        Err(ClientError::BadAnswer(e)) if e.code() == "too-large" => {
            notes.push("a 100 KiB answer: refused by the client (too-large)".to_string())
        }
        other => return Err(format!("a 100 KiB answer: {other:?}")),
    }
    c.ping()
        .await
        .map_err(|e| format!("PING after a refused answer: {e}"))?;
    let echo = c
        .request("ECHO", &vec![3u8; 60 * 1024])
        .await
        .map_err(|e| format!("ECHO 60 KiB after: {e}"))?;
    if echo.payload.len() != 60 * 1024 {
        return Err("ECHO 60 KiB after: wrong answer".into());
    }
    Ok(notes)
}

/// After `close`, a request fails with `Closed` (within 5 s).
async fn closed_fails_at_once(c: &Client) -> Result<String, String> {
    c.close();
    let t = Instant::now();
    match within(Duration::from_secs(5), "request after close", c.ping()).await? {
        Err(ClientError::Closed(_)) => {}
        other => return Err(format!("request after close: {other:?}")),
    }
    Ok(format!(
        "a request after close: Closed in {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    ))
}
