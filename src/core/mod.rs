//! Words every layer uses: errors as plain types, the client side of a request ([`Scheme`],
//! [`client::ClientSide`]), trusted-peer ranges, [`Replay`], paths, cookies and tokens,
//! sessions, and observability ([`obs`]: request ids, the logging macro, the metrics
//! registry). Nothing here knows of the runtime or the features built on it.

pub mod breaker_state;
pub mod client;
pub mod cookies;
pub mod error;
pub mod obs;
pub mod path;
pub mod peer;
pub mod redact;
pub mod replay;
pub mod response;
pub mod session;
pub mod token;

pub use client::Scheme;
pub use replay::Replay;
