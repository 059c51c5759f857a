//! The actors: [`runtime::RuntimeActor`] (configuration), [`upstream::UpstreamActor`]
//! (retried upstream requests, one per worker thread) and [`token::TokenActor`] (token
//! decoding on its own threads).

pub mod runtime;
pub mod token;
pub mod upstream;
