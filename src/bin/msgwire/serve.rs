//! `msgwire serve`: the built-in router on a TCP address, a Unix socket
//! or a serial port, until Ctrl-C or SIGTERM.

use std::future::Future;
use std::io;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use async_io::block_on;
use futures_lite::StreamExt;
use msgwire::net::{Router, Server, ServerEvent, Spawner};

use crate::args::{Listen, ServeArgs};
use crate::{Failure, Outcome};

/// How long a graceful shutdown waits for connections to drain.
const DRAIN: Duration = Duration::from_secs(5);

pub fn run(a: ServeArgs) -> Outcome {
    let mut config = a.config;
    if !a.quiet {
        config.on_event = Some(Arc::new(log_event));
    }
    match a.on {
        Listen::Tcp(addr) => block_on(sockets(Server::bind_tcp(addr, router(), config))),
        Listen::Unix(path) => block_on(sockets(Server::bind_unix(path, router(), config))),
        Listen::Serial { path, baud } => serial(&path, baud, config.framed, a.quiet),
    }
}

/// The built-in router, relaying events (§6): an event one conversation
/// publishes goes to every conversation subscribed to its kind.
fn router() -> Router {
    Router::new().relay(true)
}

/// One line per connection opened or closed, per ERROR answered, per peer
/// refused.
fn log_event(e: &ServerEvent) {
    let line = match e {
        ServerEvent::Open { peer } => format!("open {peer}"),
        ServerEvent::Close { peer, reason } => format!("close {peer}: {reason}"),
        ServerEvent::ErrorAnswered { peer, code, id } => format!("error {peer} id={id}: {code}"),
        ServerEvent::Overloaded { peer } => format!("overloaded {peer}: refused"),
        other => format!("{other:?}"),
    };
    println!("{line}");
}

/// A TCP or Unix socket server on msgwire's executor, shut down
/// gracefully at the first signal.
async fn sockets(bind: impl Future<Output = io::Result<Server>>) -> Outcome {
    let mut signals =
        async_signal::Signals::new([async_signal::Signal::Int, async_signal::Signal::Term])?;
    let server = bind
        .await
        .map_err(|e| Failure::Run(format!("cannot listen: {e}")))?
        // The program opts in to msgwire's own executor: one worker thread
        // per core (or MSGWIRE_THREADS).
        .start(&Spawner::global())?;
    println!("listening on {}", server.listen_addr());
    signals.next().await;
    println!("shutting down");
    let report = server.shutdown(DRAIN).await;
    println!(
        "stopped: {} connection(s) drained, {} closed at the deadline",
        report.drained, report.forced
    );
    Ok(ExitCode::SUCCESS)
}

/// `serve --serial`: one conversation after another on the port (a new
/// one after EXIT; the port reopened after a hang-up or an I/O error),
/// until Ctrl-C or SIGTERM.
#[cfg(all(unix, feature = "serial"))]
fn serial(
    path: &std::path::Path,
    baud: u32,
    framed: msgwire::net::FramedConfig,
    quiet: bool,
) -> Outcome {
    use futures_lite::FutureExt;
    use msgwire::net::{serial, ConnEnd};

    use crate::common::open_serial;

    block_on(async {
        let mut signals =
            async_signal::Signals::new([async_signal::Signal::Int, async_signal::Signal::Term])?;
        let mut port = open_serial(path, baud)?;
        println!("serving {} at {baud} baud", path.display());
        let router = router();
        let work = async {
            loop {
                let end = serial::serve(&router, &mut port, framed).await;
                if !quiet {
                    println!("conversation ended: {end}");
                }
                if !matches!(end, ConnEnd::Exit) {
                    // A hang-up or an I/O error: the device may come back.
                    async_io::Timer::after(Duration::from_millis(500)).await;
                    port = open_serial(path, baud)?;
                }
            }
        };
        work.or(async {
            signals.next().await;
            println!("shutting down");
            Ok(ExitCode::SUCCESS)
        })
        .await
    })
}

#[cfg(not(all(unix, feature = "serial")))]
fn serial(_: &std::path::Path, _: u32, _: msgwire::net::FramedConfig, _: bool) -> Outcome {
    Err(crate::common::no_serial_feature())
}
