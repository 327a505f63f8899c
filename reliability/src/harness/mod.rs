//! The harness: the command line ([`cli`]), the violations and the figures
//! ([`report`]), and [`run`], which runs the chosen scenarios and gives the
//! verdict.

pub mod cli;
pub mod report;

use std::time::Instant;

use crate::scenarios;

/// Runs the chosen scenarios one after the other, prints `PASS` or `FAIL`
/// for each, then every violation again; true when none was recorded.
pub fn run(run: &cli::Run) -> bool {
    let t0 = Instant::now();
    println!(
        "reliability: {} mode, scenarios: {}",
        run.mode.name(),
        run.scenarios.join(", ")
    );
    for &name in &run.scenarios {
        let Some((_, scenario)) = scenarios::ALL.iter().find(|(n, _)| *n == name) else {
            report::violation(format!("no scenario called {name}"));
            continue;
        };
        let t = Instant::now();
        let before = report::count();
        scenario(run.mode);
        let bad = report::count() - before;
        println!(
            "== {name}: {} in {:.1} s",
            if bad == 0 {
                "PASS".to_string()
            } else {
                format!("FAIL ({bad} violations)")
            },
            t.elapsed().as_secs_f64()
        );
    }
    println!("reliability: {:.1} s in all", t0.elapsed().as_secs_f64());
    let all = report::all();
    if !all.is_empty() {
        eprintln!("reliability: {} violations:", all.len());
        for m in &all {
            eprintln!("  - {m}");
        }
        return false;
    }
    println!("reliability: all checks held");
    true
}
