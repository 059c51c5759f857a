//! The service's public listener: HTTP/1.1 over TCP or TLS, with every connection read through
//! [`head::StrictHead`] so that a request head with bare LF line endings gets `400`.
//!
//! actix-web's `HttpServer` hands actix-http the TCP (or TLS) stream itself, with no place to
//! look at the bytes; this builds the same pipeline from its parts (`actix_server`, the
//! rustls acceptor, actix-http's HTTP/1.1 service) with the wrapper in between, and the same
//! connection defaults `HttpServer` uses. Handlers learn the listener's scheme from
//! [`ListenerScheme`] in the app data (see [`crate::core::client::listener_scheme`]).

pub mod head;

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_http::error::DispatchError;
use actix_http::{HttpService, KeepAlive, Request, Response, body::MessageBody};
use actix_rt::net::TcpStream;
use actix_server::ServerBuilder;
use actix_service::{
    IntoServiceFactory, ServiceFactory, ServiceFactoryExt, fn_service, map_config,
};
use actix_tls::accept::TlsError;
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::dev::AppConfig;
use actix_web::error::Error;
use futures_util::future::ready;

pub use crate::core::client::ListenerScheme;

use head::StrictHead;

/// Longest a TLS handshake may take before its connection is dropped.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Most TLS handshakes in progress on one worker (actix-tls's default is 256, past which the
/// worker stops accepting until one ends). A handshake in progress costs a few KiB, and one
/// that never completes is dropped after [`TLS_HANDSHAKE_TIMEOUT`].
pub const MAX_TLS_HANDSHAKES: usize = 4096;

/// Connection limits, as `HttpServer` sets them by default.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const BACKLOG: i32 = 1024;

/// Binds `addr` like `HttpServer::bind` (address reuse, backlog 1024).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    // The error names the address: "Address already in use" alone does not say which.
    let named = |e: io::Error| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"));
    socket.bind(&addr.into()).map_err(named)?;
    socket.listen(BACKLOG).map_err(named)?;
    Ok(TcpListener::from(socket))
}

/// Adds `listener` to `builder`, serving the apps `factory` makes (one per worker) over
/// HTTP/1.1, in TLS when `tls` is given. Add `ListenerScheme` to the apps' data.
/// `body_timeout` is asked at each new connection for the time its request bodies may take.
pub fn serve<F, I, S, B, T>(
    builder: ServerBuilder,
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
    body_timeout: T,
    factory: F,
) -> io::Result<ServerBuilder>
where
    T: Fn() -> Duration + Send + Clone + 'static,
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<Error>,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>>,
    B: MessageBody + 'static,
{
    let local = listener.local_addr()?;
    let name = format!("authjs-proxy-{local}");
    match tls {
        None => builder.listen(name, listener, move || {
            let h1 = h1_service(factory(), local);
            let body_timeout = body_timeout.clone();
            fn_service(move |io: TcpStream| {
                let peer = io.peer_addr().ok();
                ready(Ok((StrictHead::new(io, body_timeout()), peer)))
            })
            .and_then(h1)
        }),
        Some(config) => builder.listen(name, listener, move || {
            let h1 = h1_service(factory(), local);
            let body_timeout = body_timeout.clone();
            // Handshakes in progress per worker are not the backpressure point: a few hundred
            // connections that never speak would otherwise make every new client wait for
            // one of them to time out.
            actix_tls::accept::max_concurrent_tls_connect(MAX_TLS_HANDSHAKES);
            let mut acceptor = Acceptor::new(config.clone());
            acceptor.set_handshake_timeout(TLS_HANDSHAKE_TIMEOUT);
            acceptor
                .map_init_err(|_| ())
                .map_err(TlsError::into_service_error)
                .map(move |io: TlsStream<TcpStream>| {
                    let peer = io.get_ref().0.peer_addr().ok();
                    (StrictHead::new(io, body_timeout()), peer)
                })
                .and_then(h1.map_err(TlsError::Service))
        }),
    }
}

/// actix-http's HTTP/1.1 service over `app`, with `HttpServer`'s defaults.
fn h1_service<T, I, S, B>(
    app: I,
    local: SocketAddr,
) -> impl ServiceFactory<
    (T, Option<SocketAddr>),
    Config = (),
    Response = (),
    Error = DispatchError,
    InitError = (),
>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<Error>,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>>,
    B: MessageBody + 'static,
{
    let app = app
        .into_factory()
        .map_err(|err| err.into().error_response());
    HttpService::build()
        .keep_alive(KeepAlive::default())
        .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
        .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
        .h1_allow_half_closed(true)
        .local_addr(local)
        .h1(map_config(app, |_| AppConfig::default()))
}
