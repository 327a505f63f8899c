//! The command line: `[--short | --full] [--list] [SCENARIO]...`.

use crate::scenarios;

/// How big the scenarios are: `Short` is scaled for CI, `Full` is the real
/// thing (RELIABILITY.md gives both sets of numbers).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Short,
    Full,
}

impl Mode {
    /// `short` in short mode, `full` in full mode.
    pub fn pick<T>(self, short: T, full: T) -> T {
        match self {
            Mode::Short => short,
            Mode::Full => full,
        }
    }

    pub fn name(self) -> &'static str {
        self.pick("short", "full")
    }
}

/// What to run: the mode, and the scenarios in order.
pub struct Run {
    pub mode: Mode,
    pub scenarios: Vec<&'static str>,
}

pub enum Command {
    Run(Run),
    /// `--list`: print the scenarios' names.
    List,
}

/// Parses the arguments (without the program's name). `--short` is the
/// default; no scenario named means all of them. The error is the usage
/// line.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let mut mode = Mode::Short;
    let mut chosen = Vec::new();
    for a in args {
        match a.as_str() {
            "--short" => mode = Mode::Short,
            "--full" => mode = Mode::Full,
            "--list" => return Ok(Command::List),
            name => match scenarios::ALL.iter().find(|(n, _)| *n == name) {
                Some((n, _)) => chosen.push(*n),
                None => return Err(usage()),
            },
        }
    }
    if chosen.is_empty() {
        chosen = scenarios::ALL.iter().map(|(n, _)| *n).collect();
    }
    Ok(Command::Run(Run {
        mode,
        scenarios: chosen,
    }))
}

fn usage() -> String {
    let names: Vec<&str> = scenarios::ALL.iter().map(|(n, _)| *n).collect();
    format!(
        "usage: reliability [--short | --full] [--list] [{}]...",
        names.join(" | ")
    )
}
