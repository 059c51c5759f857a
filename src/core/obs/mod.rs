//! Observability every layer writes to: request ids and the `request_event!` macro
//! ([`request_id`]), the Prometheus registry with its record functions ([`metrics`]), and the
//! spans exported over OpenTelemetry when tracing is on ([`trace`]).

pub mod metrics;
pub mod random;
pub mod request_id;
pub mod trace;
