//! The executor that runs servers' connections and clients' background
//! tasks: one per process, started on first use, with one worker thread per
//! core (or `MSGWIRE_THREADS`).

use std::boxed::Box;
use std::future::Future;
use std::sync::OnceLock;

use async_executor::{Executor, Task};

fn executor() -> &'static Executor<'static> {
    static EXECUTOR: OnceLock<&'static Executor<'static>> = OnceLock::new();
    EXECUTOR.get_or_init(|| {
        let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
        let threads = std::env::var("MSGWIRE_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        for i in 0..threads {
            // A worker that cannot start leaves the others; with none, tasks
            // still run whenever a caller blocks on one of them.
            let _ = std::thread::Builder::new()
                .name(std::format!("msgwire-{i}"))
                .spawn(move || async_io::block_on(ex.run(futures_lite::future::pending::<()>())));
        }
        ex
    })
}

/// Spawns `future` on the shared executor.
pub(crate) fn spawn<T: Send + 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> Task<T> {
    executor().spawn(future)
}
