//! The running service: the built [`Snapshot`] and its [`build`](Snapshot::build), the public
//! side a snapshot sees of a request ([`public`]), the actors, and the [`AuthProxy`] handle.

pub mod actors;
pub mod build;
pub mod handle;
pub mod public;
pub mod revoked;
pub mod snapshot;

pub use handle::AuthProxy;
pub use snapshot::{Attached, PublicOrigin, Snapshot, UpstreamOrigin};
