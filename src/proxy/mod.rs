//! Forwarding the Auth.js routes: the route map ([`routes`]), the forwarding handler
//! ([`handler`]) and the `Location` rewrite of the answers ([`location`]).

pub mod handler;
pub mod location;
pub mod revoked;
pub mod routes;
pub mod sign_in;
