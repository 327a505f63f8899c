//! The executor that drives the suite's tasks, the clients' background
//! tasks and the servers' (in the server process, and in this one for the
//! in-process checks): smol's `Executor` on two threads of its own.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use async_executor::Task;
use async_io::Timer;
use futures_lite::FutureExt;
use msgwire::net::Spawner;
use smol::Executor;

fn ex() -> &'static Executor<'static> {
    static EX: OnceLock<&'static Executor<'static>> = OnceLock::new();
    EX.get_or_init(|| {
        let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
        for i in 0..2 {
            let _ = std::thread::Builder::new()
                .name(format!("rel-{i}"))
                .spawn(move || smol::block_on(ex.run(futures_lite::future::pending::<()>())));
        }
        ex
    })
}

/// Spawns msgwire's tasks (a server's, a client's) on the executor.
pub fn spawner() -> Spawner {
    Spawner::new(|task| ex().spawn(task).detach())
}

/// Runs `f` to completion, blocking this thread.
pub fn run<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> T {
    smol::block_on(ex().run(f))
}

pub fn spawn<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> Task<T> {
    ex().spawn(f)
}

/// `f`, or an error naming `what` after `d`.
pub async fn within<T>(d: Duration, what: &str, f: impl Future<Output = T>) -> Result<T, String> {
    async { Ok(f.await) }
        .or(async {
            Timer::after(d).await;
            Err(format!("{what}: nothing within {d:?}"))
        })
        .await
}

/// Awaits every task, each within `limit`; a task that runs out or fails
/// is its error.
pub fn join_all<T: Send + 'static>(
    tasks: Vec<Task<Result<T, String>>>,
    limit: Duration,
    what: &'static str,
) -> Vec<Result<T, String>> {
    run(async move {
        let mut v = Vec::with_capacity(tasks.len());
        for t in tasks {
            v.push(within(limit, what, t).await.and_then(|x| x));
        }
        v
    })
}
