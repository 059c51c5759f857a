//! Operating the service: Prometheus [`metrics`], liveness/readiness ([`health`]) and
//! the admin listener with its configuration [`reload`] endpoint.

pub mod health;
pub mod metrics;
pub mod reload;
pub mod routes;
