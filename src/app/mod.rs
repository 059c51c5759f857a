//! The binary's wiring: the server and its listeners ([`server`]), the admin listener
//! ([`admin`]), the full check of a configuration file ([`check`]), log output ([`logging`])
//! and the demo upstream ([`demo`]).

pub mod admin;
pub mod check;
pub mod demo;
pub mod logging;
pub mod server;
pub mod telemetry;
