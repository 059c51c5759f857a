//! Whether a request may be sent upstream again: the retry-safety word the route map, the
//! session lookup and the upstream actor share.

/// When a request may be sent again (Envoy/Pingora practice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Safe and consumes nothing (GET `session`, `csrf`, ...): retried on connect failures,
    /// timeouts, broken connections and 502/503/504.
    Safe,
    /// Not safe to repeat (any POST, GET `callback/*` with its one-time code): retried only
    /// when provably nothing was sent (the connection could not be made).
    NothingSent,
}
