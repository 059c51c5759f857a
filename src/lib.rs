//! authjs-proxy: a resilient, fast proxy and session helpers in front of an Auth.js server.
//!
//! * [`AuthProxy::start`] starts the actors; [`AuthProxy::configure`] (or a
//!   [`runtime::actors::runtime::Configure`] message) sets or replaces the configuration.
//! * [`configure`] mounts the Auth.js routes in an actix-web `App`.
//! * [`forward_auth::configure`] mounts the forward-auth decision endpoint (`[forward_auth]`).
//! * [`get_server_session`] / [`get_token`] and the [`Session`] / [`Claims`] extractors tell
//!   handlers who a request belongs to.
//!
//! The modules are layers; each imports only from the layers below it (README, "Layout"):
//! [`core`] → [`options`] → the leaves ([`tls`], [`transport`], [`listener`], [`resilience`],
//! [`hygiene`], [`cache`]) → [`runtime`] → the features ([`proxy`], [`session`],
//! [`forward_auth`]) → [`web`] → [`app`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Layer 1: words every layer uses.
pub mod core;
// Layer 2: what users write.
pub mod options;
// Layer 3: the leaves.
pub mod cache;
pub mod hygiene;
pub mod listener;
pub mod resilience;
pub mod revocation;
pub mod signin_guard;
pub mod store;
pub mod tls;
pub mod transport;
// Layer 4: the built snapshot, the actors, the handle.
pub mod runtime;
// Layer 5: the features.
pub mod forward_auth;
pub mod proxy;
pub mod session;
// Layer 6: actix-web adapters.
pub mod web;
// Layer 7: the binary's wiring.
pub mod app;

pub use crate::core::Scheme;
pub use crate::core::error::{AuthError, ConfigError, UpstreamError};
pub use runtime::AuthProxy;
pub use session::{Session, SessionUser, Token, get_server_session, get_token};
pub use web::configure;
pub use web::extractors::Claims;

// Paths of earlier releases, kept for one release. New code uses the paths above.

/// Old path of [`runtime::actors`].
pub mod actors {
    pub use crate::runtime::actors::{runtime, token, upstream};
}

/// Old path of [`app::admin`] and [`core::obs::metrics`].
pub mod admin {
    pub use crate::app::admin::{health, reload, routes};
    pub use crate::core::obs::metrics;
}

/// Old path of [`options`], [`runtime::Snapshot`] and [`core::path`].
pub mod config {
    pub use crate::core::path::{join_path, normalize_path};
    pub use crate::options::*;
    pub use crate::runtime::{PublicOrigin, UpstreamOrigin as Upstream};
    /// Old name of [`Snapshot`](crate::runtime::Snapshot).
    pub type RuntimeConfig = crate::runtime::Snapshot;
}

pub use crate::core::{cookies, error, token};
pub use app::{demo, logging, server};
/// Old name of [`forward_auth`].
pub use forward_auth as gate;
pub use runtime::handle;

/// Old path of [`web`], [`proxy`], [`hygiene`] and [`core::obs::request_id`].
pub mod http {
    pub use crate::hygiene::cache_control;
    pub use crate::proxy::handler as proxy;
    pub use crate::proxy::routes;
    pub use crate::web::{configure, extractors};

    /// Old path of [`core::obs::request_id`](crate::core::obs::request_id) and
    /// [`web::access_log`](crate::web::access_log).
    pub mod request_id {
        pub use crate::core::obs::request_id::*;
        pub use crate::proxy::routes::auth_route_template;
        pub use crate::web::access_log::*;
    }

    /// Old path of [`hygiene`](crate::hygiene), [`core::client`](crate::core::client),
    /// [`runtime::public`](crate::runtime::public) and
    /// [`proxy::location`](crate::proxy::location).
    pub mod headers {
        pub use crate::core::client::*;
        pub use crate::hygiene::{is_hop_by_hop, retain_end_to_end};
        pub use crate::proxy::location::{client_response_headers, rewrite_location};
        pub use crate::runtime::public::{
            forwarded_host, public_origin, public_proto, upstream_request_headers,
        };
    }
}
