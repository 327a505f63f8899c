//! The `msgwire` program, run as a user would run it. These tests need the
//! `cli` feature (`cargo test --all-features`, as CI runs them); without it
//! the one test here is reported as ignored, so a plain `cargo test` says
//! that they did not run instead of passing silently.

#[cfg(not(feature = "cli"))]
#[test]
#[ignore = "tests/cli.rs needs the `cli` feature: cargo test --all-features"]
fn cli_tests_need_the_cli_feature() {}

#[cfg(feature = "cli")]
mod common;

#[cfg(feature = "cli")]
#[path = "cli/tests.rs"]
mod tests;
