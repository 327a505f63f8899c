//! The scenario families, each a module with a `scenario(mode)` that runs
//! it, checks what must hold (recording violations) and prints its
//! figures. RELIABILITY.md describes each.

mod bad_input;
mod faults;
mod handlers;
mod load;
mod soak;

use crate::harness::cli::Mode;

/// A scenario runs, records its violations and prints its figures.
pub type Scenario = fn(Mode);

/// Every scenario, by name, in the order they run by default.
pub const ALL: [(&str, Scenario); 5] = [
    ("load", load::scenario),
    ("soak", soak::scenario),
    ("faults", faults::scenario),
    ("bad-input", bad_input::scenario),
    ("handlers", handlers::scenario),
];
