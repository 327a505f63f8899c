//! The routing table: [`Router`] maps kinds to handlers, with the
//! protocol's built-ins, a fallback and a time limit for handlers, and runs
//! a handler (catching its panics).

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::string::{String, ToString};
use std::sync::Arc;
use std::time::Duration;
use std::vec::Vec;

use futures_lite::FutureExt;

use super::{Handler, HandlerError, Outcome, Request};
use crate::conversation;
use crate::net::events::{EventLimits, Hub, Publisher};
use crate::{Error, Kind};

/// FNV-1a: kinds are short (≤ 32 bytes) and chosen by the server, so a
/// simple hash beats SipHash's setup on every request.
#[derive(Default)]
struct KindHasher(u64);

impl Hasher for KindHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Routes = HashMap<String, Arc<dyn Handler>, BuildHasherDefault<KindHasher>>;

/// Maps kinds to handlers, on the rules of [`crate::conversation`]: the
/// protocol's built-ins (`PING` → `PONG ack`, `ECHO` → the same payload,
/// `EXIT` → close) answer unless a registered handler (or the fallback)
/// takes the kind; a kind with no handler gets
/// `ERROR unknown-kind: <KIND>`.
///
/// The built-ins answer straight from the receive buffer: no allocation per
/// request. A registered handler gets a [`Request`] (the message, owned,
/// and its connection) and runs as a boxed future (two allocations per
/// request). Every request gets an answer: the handler's [`Reply`], or
/// `ERROR` for its failure.
///
/// [`Reply`]: super::Reply
///
/// # Examples
///
/// ```
/// use msgwire::net::{HandlerError, Reply, Request, Router};
/// use msgwire::Kind;
///
/// const TEMP: Kind<'static> = Kind::lit("TEMP");
/// let router = Router::new()
///     .on("sensor/temp", |_req: Request| async { Ok(Reply::new(TEMP, "21.5")) })?
///     .on("COUNT", |req: Request| async move {
///         // A counter of this connection's own.
///         let n = req.conn().with_state(|n: &mut u64| { *n += 1; *n });
///         Ok::<_, HandlerError>(Reply::new(req.kind(), n.to_string()))
///     })?;
/// # Ok::<(), msgwire::Error>(())
/// ```
#[derive(Clone)]
pub struct Router {
    routes: Routes,
    fallback: Option<Arc<dyn Handler>>,
    handler_timeout: Option<Duration>,
    /// The subscribed conversations, shared by clones.
    pub(super) hub: Arc<Hub>,
    pub(super) relay: bool,
    /// What the `HELLO` answer names besides `rev` and `max` (§5).
    pub(super) app: Option<String>,
    pub(super) schema: Option<u64>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kinds: Vec<&str> = self.routes.keys().map(String::as_str).collect();
        kinds.sort_unstable();
        f.debug_struct("Router")
            .field("kinds", &kinds)
            .field("fallback", &self.fallback.is_some())
            .field("handler_timeout", &self.handler_timeout)
            .field("relay", &self.relay)
            .field("app", &self.app)
            .field("schema", &self.schema)
            .finish()
    }
}

impl Default for Router {
    fn default() -> Self {
        Router::new()
    }
}

impl Router {
    /// A router with only the built-in `PING`, `ECHO` and `EXIT`.
    pub fn new() -> Self {
        Router {
            routes: Routes::default(),
            fallback: None,
            handler_timeout: None,
            hub: Arc::default(),
            relay: false,
            app: None,
            schema: None,
        }
    }

    /// Routes `kind` to `handler`, replacing any earlier route.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKind`] when `kind` is not a valid kind.
    pub fn on(mut self, kind: &str, handler: impl Handler) -> Result<Self, Error> {
        Kind::new(kind)?;
        self.routes.insert(kind.into(), Arc::new(handler));
        Ok(self)
    }

    /// Handles every kind that has no handler of its own and is not a
    /// built-in (instead of `ERROR unknown-kind`).
    pub fn fallback(mut self, handler: impl Handler) -> Self {
        self.fallback = Some(Arc::new(handler));
        self
    }

    /// Answers `ERROR handler-failed: timed out` for a handler that takes
    /// longer than `timeout`, and goes on with the next request.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = Some(timeout);
        self
    }

    /// The handler that takes `kind`: its own (which overrides a
    /// built-in), else the fallback for a kind that is not a built-in
    /// ([`conversation::is_builtin`]), else none.
    /// Relays events (§6): an event a conversation publishes goes to
    /// every conversation whose filters match, the sender's included, as
    /// a broker does, after the handler of its kind (if any) has seen it.
    /// Off by default: events then reach only their kind's handler.
    #[must_use]
    pub fn relay(mut self, on: bool) -> Self {
        self.relay = on;
        self
    }

    /// The application's name and the hash of its messages, named in the
    /// answer to `HELLO` (`app`, `schema`; §5): a client that expects
    /// another schema ([`ClientConfig::schema`]) refuses this server.
    ///
    /// [`ClientConfig::schema`]: crate::net::ClientConfig::schema
    #[must_use]
    pub fn hello_tokens(mut self, app: Option<Kind<'_>>, schema: Option<u64>) -> Self {
        self.app = app.map(|a| a.as_str().to_string());
        self.schema = schema;
        self
    }

    /// The conversation rules of one connection: this router's `HELLO`
    /// tokens, and `max_payload` as its `max`.
    pub(super) fn rules(
        &self,
        max_payload: u32,
    ) -> conversation::Rules<{ crate::net::events::FILTERS }> {
        let mut rules = conversation::Rules::new().with_max_payload(max_payload);
        if let Some(app) = self.app.as_deref().and_then(|a| Kind::new(a).ok()) {
            rules = rules.with_app(app);
        }
        if let Some(schema) = self.schema {
            rules = rules.with_schema(schema);
        }
        rules
    }

    /// How many events may wait for one subscribed conversation before
    /// new ones are dropped there and counted in a `LAGGED`
    /// ([`EventLimits`]; 256 events and 256 KiB by default). Applies to
    /// conversations that subscribe from then on.
    #[must_use]
    pub fn event_limits(self, limits: EventLimits) -> Self {
        self.hub.set_limits(limits);
        self
    }

    /// The handle that publishes events to this router's conversations
    /// (and its clones'): see [`Publisher`].
    pub fn publisher(&self) -> Publisher {
        Publisher {
            hub: self.hub.clone(),
        }
    }

    #[inline]
    pub(super) fn handler(&self, kind: Kind<'_>) -> Option<&Arc<dyn Handler>> {
        match (self.routes.get(kind.as_str()), &self.fallback) {
            (Some(h), _) => Some(h),
            (None, Some(f)) if !conversation::is_builtin(kind) => Some(f),
            (None, _) => None,
        }
    }

    /// Runs a registered handler, catching its panics and its time.
    pub(super) async fn run(&self, handler: &Arc<dyn Handler>, request: Request) -> Outcome {
        let call = std::panic::AssertUnwindSafe(handler.handle(request)).catch_unwind();
        let outcome = match self.handler_timeout {
            None => call.await,
            Some(t) => {
                call.or(async {
                    async_io::Timer::after(t).await;
                    Ok(Err(HandlerError::msg("timed out")))
                })
                .await
            }
        };
        outcome.unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            Err(HandlerError::msg(std::format_args!("panicked: {what}")))
        })
    }
}
