//! `ok NAME` / `FAIL NAME: expected … got …` / `info NAME: …`, one line
//! each, printed as the checks run; the tally decides the exit status.

use std::fmt::Display;

#[derive(Default)]
pub struct Report {
    pub passed: usize,
    pub failed: Vec<String>,
}

impl Report {
    pub fn ok(&mut self, name: &str) {
        println!("ok {name}");
        self.passed += 1;
    }

    pub fn fail(&mut self, name: &str, expected: impl Display, got: impl Display) {
        println!("FAIL {name}: expected {expected}; got {got}");
        self.failed.push(name.to_string());
    }

    /// A fact found on the way (a limit, a count): never a failure.
    pub fn info(&mut self, name: &str, msg: impl Display) {
        println!("info {name}: {msg}");
    }

    pub fn check(
        &mut self,
        name: &str,
        ok: bool,
        expected: impl Display,
        got: impl Display,
    ) -> bool {
        if ok {
            self.ok(name);
        } else {
            self.fail(name, expected, got);
        }
        ok
    }
}
