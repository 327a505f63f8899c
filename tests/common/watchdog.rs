//! A deadline for each test: a test that hangs (a lost wake-up, a request
//! nobody answers) ends the whole test binary after [`LIMIT`] with a
//! message naming it, instead of waiting for its own long timeouts or for
//! the harness (cargo-mutants gives a test run 40-99 s before it calls it
//! a hang; a mutant that makes a test hang then fails in seconds).
//!
//! With `MSGWIRE_TEST_FAIL_FAST` set (`scripts/mutants.sh` sets it), the
//! first test that fails ends its binary too: a mutant that fails every
//! test, each after a few seconds' wait, is told at the first.

use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

/// Far longer than any test takes on a loaded machine (the longest: ~1 s).
pub const LIMIT: Duration = Duration::from_secs(10);

/// Ends the test binary unless dropped (the test returned or panicked)
/// within [`LIMIT`].
#[must_use = "the deadline holds while the guard lives"]
pub struct Watchdog(#[allow(dead_code)] mpsc::Sender<()>);

impl Drop for Watchdog {
    /// Dropped while its test panics (it failed; a panic caught inside the
    /// test, a handler's, does not reach here): with
    /// `MSGWIRE_TEST_FAIL_FAST`, the binary ends now.
    fn drop(&mut self) {
        if std::thread::panicking() && std::env::var_os("MSGWIRE_TEST_FAIL_FAST").is_some() {
            let test = std::thread::current()
                .name()
                .unwrap_or("a test")
                .to_string();
            // Past the harness's capture of the test's output.
            let _ = writeln!(
                std::io::stderr(),
                "watchdog: {test} failed; MSGWIRE_TEST_FAIL_FAST: ending the test binary"
            );
            std::process::exit(101);
        }
    }
}

/// Starts the deadline of the calling test: `let _watchdog = watchdog();`.
pub fn watchdog() -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(LIMIT) {
            // Past the harness's capture of the test's output (it would
            // never print it: the process ends here).
            let _ = writeln!(
                std::io::stderr(),
                "watchdog: {test} did not finish within {LIMIT:?}: it hangs"
            );
            std::process::exit(101);
        }
    });
    Watchdog(tx)
}
