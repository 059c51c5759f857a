//! `UpstreamActor`: performs upstream requests with retries, backoff and deadlines.
//!
//! `awc::Client` is not `Send` and its docs ask for one client per thread, so one actor (with
//! one connection pool) lives on each worker thread. The client is rebuilt when the
//! configuration generation changes (new upstream, new connect timeout).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use actix::{Actor, Addr, Context, Handler, MailboxError, Message, ResponseFuture};
use actix_web::http::header::HeaderMap;
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;

use crate::core::obs::request_id::{self};

use crate::core::error::UpstreamError;
use crate::runtime::Snapshot;
use crate::transport::UpstreamConnector;

pub use crate::core::Replay;
use attempts::forward;

mod attempts;

/// Pooled connections kept per worker thread.
const POOL_LIMIT: usize = 256;

/// One upstream request to perform.
pub struct Forward {
    /// The configuration the request was routed with.
    pub config: Arc<Snapshot>,
    /// Method sent upstream.
    pub method: Method,
    /// Absolute upstream URL.
    pub url: String,
    /// Headers sent upstream (already filtered).
    pub headers: HeaderMap,
    /// Request body (empty for GET).
    pub body: Bytes,
    /// Whether the request may be sent again once it may have reached the upstream.
    pub replay: Replay,
}

impl Message for Forward {
    type Result = Result<UpstreamResponse, UpstreamError>;
}

/// The upstream's answer, read whole. `Debug` shows header names only, never values.
#[derive(Clone)]
pub struct UpstreamResponse {
    /// Status code.
    pub status: StatusCode,
    /// Response headers as received.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Bytes,
    /// Attempts it took.
    pub attempts: u32,
}

impl std::fmt::Debug for UpstreamResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamResponse")
            .field("status", &self.status)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .field("attempts", &self.attempts)
            .finish()
    }
}

/// The thread's `awc::Client` (and so its connection pool), rebuilt when the configuration
/// generation changes or when a connection is known to be out of step with the upstream.
#[derive(Clone, Default)]
struct ClientSlot(Rc<RefCell<SlotState>>);

#[derive(Default)]
struct SlotState {
    /// The client and the configuration generation it was built for.
    client: Option<(u64, awc::Client)>,
    /// Clients built so far: names the current one.
    built: u64,
}

impl ClientSlot {
    /// The thread's client for `cfg` and which one it is (a request built on an earlier one
    /// must be built again: that client's pool may hold a connection out of step).
    fn current(&self, cfg: &Snapshot) -> (u64, awc::Client) {
        let mut slot = self.0.borrow_mut();
        match &slot.client {
            Some((generation, client)) if *generation == cfg.generation => {
                (slot.built, client.clone())
            }
            _ => {
                let client = build_client(cfg);
                slot.built += 1;
                slot.client = Some((cfg.generation, client.clone()));
                (slot.built, client)
            }
        }
    }

    /// Drops the pool: awc hands a connection back to it as soon as it has read a response
    /// head without a body, so after an interim (1xx) head the real answer may still be on
    /// its way on a pooled connection. No later request may read it as its own.
    fn discard(&self) {
        self.0.borrow_mut().client.take();
    }
}

/// Owns the thread's `awc::Client`.
#[derive(Default)]
pub struct UpstreamActor {
    client: ClientSlot,
}

impl UpstreamActor {
    /// A new actor; its client is built on first use.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The way a handler reaches the upstream.
///
/// On a worker thread it is that thread's own [`UpstreamActor`], whose client is called
/// directly: the request runs in the handler's task, with no mailbox, boxed reply and extra
/// task per request (the actor and the handler share the thread, so nothing is gained by the
/// hop). From anywhere else (an [`AuthProxy`](crate::AuthProxy) used outside a worker) it is
/// an actor asked by message.
#[derive(Clone)]
pub struct Upstream {
    actor: Addr<UpstreamActor>,
    /// The actor's client, when the actor lives on this thread.
    local: Option<ClientSlot>,
}

impl Upstream {
    /// Starts an `UpstreamActor` on this thread (an actix system must be running) and answers
    /// the direct way to it. The value stays on this thread.
    pub fn start_local() -> Self {
        let client = ClientSlot::default();
        let actor = UpstreamActor {
            client: client.clone(),
        }
        .start();
        Upstream {
            actor,
            local: Some(client),
        }
    }

    /// An actor on any thread, asked by message.
    pub fn remote(actor: Addr<UpstreamActor>) -> Self {
        Upstream { actor, local: None }
    }

    /// The actor behind this way.
    pub fn actor(&self) -> &Addr<UpstreamActor> {
        &self.actor
    }

    /// Performs `msg` (retries, backoff, deadline). `Err` only when a remote actor is gone.
    pub async fn forward(
        &self,
        msg: Forward,
    ) -> Result<Result<UpstreamResponse, UpstreamError>, MailboxError> {
        match &self.local {
            Some(client) => Ok(forward(client.clone(), msg).await),
            None => self.actor.send(msg).await,
        }
    }
}

fn build_client(cfg: &Snapshot) -> awc::Client {
    let connector = UpstreamConnector::new(cfg.upstream.tls.then(|| cfg.upstream_tls.clone()));
    awc::Client::builder()
        .no_default_headers()
        .disable_redirects()
        .timeout(cfg.per_try_timeout)
        .connector(
            awc::Connector::new()
                .connector(connector)
                .timeout(cfg.connect_timeout)
                .conn_keep_alive(cfg.pool_idle_timeout)
                .limit(POOL_LIMIT),
        )
        .finish()
}

impl Actor for UpstreamActor {
    type Context = Context<Self>;
}

impl Handler<Forward> for UpstreamActor {
    type Result = ResponseFuture<Result<UpstreamResponse, UpstreamError>>;

    fn handle(&mut self, msg: Forward, _: &mut Self::Context) -> Self::Result {
        let id = msg.headers.get(request_id::X_REQUEST_ID).cloned();
        Box::pin(request_id::scoped_by(id, forward(self.client.clone(), msg)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{self, HeaderValue};

    #[test]
    fn response_debug_shows_header_names_but_not_values() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::SET_COOKIE,
            HeaderValue::from_static("authjs.session-token=SECRETVALUE"),
        );
        let res = UpstreamResponse {
            status: StatusCode::OK,
            headers,
            body: Bytes::from_static(b"BODYVALUE"),
            attempts: 1,
        };
        let printed = format!("{res:?}");
        assert!(printed.contains("set-cookie"));
        assert!(
            !printed.contains("SECRETVALUE") && !printed.contains("BODYVALUE"),
            "{printed}"
        );
    }
}
