//! Operating the service: liveness/readiness ([`health`]) and the admin listener
//! ([`routes`]: `/metrics`, `/healthz`, `/readyz`) with its configuration [`reload`] endpoint.
//! The metrics registry itself is [`crate::core::obs::metrics`].

pub mod health;
pub mod reload;
pub mod revoke;
pub mod routes;
pub mod state;
