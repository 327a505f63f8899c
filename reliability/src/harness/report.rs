//! Violations (what must hold and did not) and the figures' formatting.

use std::sync::Mutex;
use std::time::Instant;

static VIOLATIONS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn violations() -> std::sync::MutexGuard<'static, Vec<String>> {
    VIOLATIONS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Records a violation: printed now, listed again at the end, and the
/// program exits with status 1.
pub fn violation(msg: impl Into<String>) {
    let msg = msg.into();
    eprintln!("VIOLATION: {msg}");
    violations().push(msg);
}

/// A violation, `msg()`, unless `ok`.
pub fn check(ok: bool, msg: impl FnOnce() -> String) {
    if !ok {
        violation(msg());
    }
}

/// Each failed task of a scenario as a violation: the first ten, and then
/// how many failed in all.
pub fn failures<'a>(scenario: &str, errors: impl IntoIterator<Item = &'a String>) {
    let mut n = 0;
    for e in errors {
        if n < 10 {
            violation(format!("{scenario}: {e}"));
        }
        n += 1;
    }
    if n > 10 {
        violation(format!("{scenario}: ... {n} failed tasks in all"));
    }
}

/// How many violations so far.
pub fn count() -> usize {
    violations().len()
}

pub fn all() -> Vec<String> {
    violations().clone()
}

/// The microseconds since `t`, as latencies are kept.
pub fn micros_since(t: Instant) -> u32 {
    t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32
}

/// The `p` quantile (0 to 1) of sorted samples, 0 for none.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Microseconds as milliseconds.
pub fn ms(us: u32) -> String {
    format!("{:.2} ms", f64::from(us) / 1000.0)
}

/// KiB as MiB.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
