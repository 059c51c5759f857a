//! Observability every layer writes to: request ids and the `request_event!` macro
//! ([`request_id`]), and the Prometheus registry with its record functions ([`metrics`]).

pub mod metrics;
pub mod request_id;
