//! The session cache of `get_server_session` ([`session`]) and its Redis level shared by
//! replicas ([`redis`]).

pub mod redis;
pub mod session;
