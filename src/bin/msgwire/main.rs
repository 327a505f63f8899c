//! `msgwire`: demo, serve, send, ping, hello, sub, pub, bench, decode and
//! encode msgwire v1.
//!
//! Built with `cargo build --release --features cli --bin msgwire`.
//! Arguments are parsed with `lexopt` in [`args`] (small, no dependencies,
//! no macros: the binary stays small and every error is ours to word);
//! each subcommand is a module of its own, and what several of them use
//! (connecting to a peer, latency statistics, JSON output) is in
//! [`common`], [`stats`] and [`json`].

mod args;
mod bench;
mod common;
mod decode;
mod demo;
mod encode;
mod hello;
mod json;
mod ping;
mod publish;
mod send;
mod serve;
mod stats;
mod sub;

use std::io;
use std::process::ExitCode;

use args::Command;

/// How the program ends when it does not succeed.
#[derive(Debug)]
enum Failure {
    /// Bad arguments: one line, exit code 2.
    Usage(String),
    /// Something went wrong doing the work: exit code 1.
    Run(String),
}

impl From<msgwire::net::AlreadyStarted> for Failure {
    fn from(e: msgwire::net::AlreadyStarted) -> Self {
        Failure::Run(e.to_string())
    }
}

impl From<lexopt::Error> for Failure {
    fn from(e: lexopt::Error) -> Self {
        Failure::Usage(e.to_string())
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Run(e.to_string())
    }
}

/// What a subcommand returns: its exit code, or why it failed.
type Outcome = Result<ExitCode, Failure>;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(Failure::Usage(msg)) => {
            eprintln!("msgwire: {msg} (see 'msgwire --help')");
            ExitCode::from(2)
        }
        Err(Failure::Run(msg)) => {
            eprintln!("msgwire: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Outcome {
    match args::parse(lexopt::Parser::from_env())? {
        Command::Help(text) => {
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Missing => {
            // A usage error, but the one a newcomer makes first: the whole
            // help, on stderr, rather than one line.
            eprintln!("msgwire: missing command\n\n{}", args::USAGE);
            Ok(ExitCode::from(2))
        }
        Command::Version => {
            println!("msgwire {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => demo::run(),
        Command::Serve(a) => serve::run(a),
        Command::Send(a) => send::run(a),
        Command::Ping(a) => ping::run(a),
        Command::Hello(a) => hello::run(a),
        Command::Sub(a) => sub::run(a),
        Command::Pub(a) => publish::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Decode(a) => decode::run(a),
        Command::Encode(a) => encode::run(a),
    }
}
