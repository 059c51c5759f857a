//! The session cache of `get_server_session` ([`session`]) and its Redis level shared by
//! replicas ([`redis`]), over a Redis connection ([`link`]) that other shared state uses too.

pub mod link;
pub mod redis;
pub mod session;
