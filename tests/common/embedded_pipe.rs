//! Shared by the tests of the `embedded-io-async` driver (`tests/embedded.rs`,
//! `tests/typed.rs`): a counting allocator and an in-memory duplex pipe
//! that implements the `embedded-io-async` traits. Included with
//! `#[path]` (it declares the binary's global allocator).
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

// ---------------------------------------------------------- allocations

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// thread-locals are const-initialised, so touching them never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made on this thread while `f` runs.
pub fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    ALLOCS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, ALLOCS.with(Cell::get))
}

// ---------------------------------------------------------- the pipe

const PIPE: usize = 512;

#[derive(Default)]
struct Queue {
    bytes: heapless::Deque<u8, PIPE>,
    closed: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// One end of an in-memory duplex pipe with bounded queues: `write`
/// waits while the peer's queue is full, `read` while its own is empty.
pub struct End {
    rx: Rc<RefCell<Queue>>,
    tx: Rc<RefCell<Queue>>,
}

pub fn pipe() -> (End, End) {
    let a = Rc::new(RefCell::new(Queue::default()));
    let b = Rc::new(RefCell::new(Queue::default()));
    (
        End {
            rx: a.clone(),
            tx: b.clone(),
        },
        End { rx: b, tx: a },
    )
}

impl End {
    pub fn close(&self) {
        let mut q = self.tx.borrow_mut();
        q.closed = true;
        if let Some(w) = q.reader.take() {
            w.wake();
        }
    }

    /// Everything the peer writes until it closes its end.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        use embedded_io_async::Read;
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            match self.read(&mut buf).await.expect("read") {
                0 => break got,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
    }
}

impl embedded_io_async::ErrorType for End {
    type Error = Infallible;
}

impl embedded_io_async::Read for End {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        poll_fn(|cx| {
            let mut q = self.rx.borrow_mut();
            if q.bytes.is_empty() {
                if q.closed || buf.is_empty() {
                    return Poll::Ready(Ok(0));
                }
                q.reader = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let mut n = 0;
            while n < buf.len() {
                match q.bytes.pop_front() {
                    Some(b) => buf[n] = b,
                    None => break,
                }
                n += 1;
            }
            if let Some(w) = q.writer.take() {
                w.wake();
            }
            Poll::Ready(Ok(n))
        })
        .await
    }
}

impl embedded_io_async::Write for End {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        poll_fn(|cx| {
            let mut q = self.tx.borrow_mut();
            let mut n = 0;
            while n < buf.len() && q.bytes.push_back(buf[n]).is_ok() {
                n += 1;
            }
            if n == 0 && !buf.is_empty() {
                q.writer = Some(cx.waker().clone());
                return Poll::Pending;
            }
            if let Some(w) = q.reader.take() {
                w.wake();
            }
            Poll::Ready(Ok(n))
        })
        .await
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}
