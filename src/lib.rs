//! authjs-proxy: a resilient, fast proxy and session helpers in front of an Auth.js server.
//!
//! * [`AuthProxy::start`] starts the actors; [`AuthProxy::configure`] (or a
//!   [`actors::runtime::Configure`] message) sets or replaces the configuration.
//! * [`configure`] mounts the Auth.js routes in an actix-web `App`.
//! * [`gate::configure`] mounts the forward-auth decision endpoint (`[forward_auth]`).
//! * [`get_server_session`] / [`get_token`] and the [`Session`] / [`Claims`] extractors tell
//!   handlers who a request belongs to.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod actors;
pub mod admin;
pub mod cache;
pub mod config;
pub mod cookies;
pub mod demo;
pub mod error;
pub mod gate;
pub mod handle;
pub mod http;
pub mod listener;
pub mod logging;
pub mod resilience;
pub mod server;
pub mod session;
pub mod tls;
pub mod token;
pub mod transport;

pub use error::{AuthError, ConfigError, UpstreamError};
pub use handle::AuthProxy;
pub use http::configure;
pub use http::extractors::Claims;
pub use http::headers::Scheme;
pub use session::{Session, SessionUser, Token, get_server_session, get_token};
