//! The reliability suite: load, soak, faults, bad input and misbehaving
//! handlers against a real msgwire server on 127.0.0.1 (ephemeral ports).
//!
//! ```text
//! cargo run --release -- --short                 # the CI form, under two minutes
//! cargo run --release -- --full                  # 1,000 x 1,000 requests, a 10-minute soak
//! cargo run --release -- --short load faults     # some scenarios only
//! ```
//!
//! Every scenario stops by itself (every wait is bounded), checks what
//! must hold and prints its figures; any violation is printed and the
//! program exits with status 1. `RELIABILITY.md` says what each scenario
//! checks.
//!
//! The server under test runs in a child process (this program started
//! again with `--serve`), so that its memory (VmRSS from
//! `/proc/<pid>/status`) is its own and so that it can be killed. Linux
//! only (it reads `/proc`).
//!
//! Where things are: [`harness`] (arguments, running the scenarios, the
//! verdict, figures), [`scenarios`] (one module per family), and what they
//! share: [`exec`] (the executor), [`mix`] (the load mix: payloads,
//! random numbers), [`wire`] (hand-made frames, raw sockets), [`server`]
//! (the server under test, in its own process) and [`peers`] (msgwire
//! clients making requests of the load mix and checking every answer).

mod exec;
mod harness;
mod mix;
mod peers;
mod scenarios;
mod server;
mod wire;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        server::serve_child(&args[1..]);
        return;
    }
    let run = match harness::cli::parse(&args) {
        Ok(harness::cli::Command::Run(run)) => run,
        Ok(harness::cli::Command::List) => {
            for (name, _) in scenarios::ALL {
                println!("{name}");
            }
            return;
        }
        Err(usage) => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    if !harness::run(&run) {
        std::process::exit(1);
    }
}
