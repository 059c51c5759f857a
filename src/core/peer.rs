//! The peer a request came from: address ranges ([`Cidr`]) for the trusted-proxy list, and how
//! a forwarding header's nearest element is read.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use actix_web::http::header::HeaderMap;

use crate::core::client::Scheme;
use crate::core::error::ConfigError;

/// An address range: an IP address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a CIDR did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not an IPv4 or IPv6 address.
    #[error("not an IP address or CIDR range")]
    Address,
    /// Prefix longer than the address.
    #[error("prefix length out of range")]
    Prefix,
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| CidrError::Address)?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or(CidrError::Prefix)?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Cidr {
    /// Whether `ip` is in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Whether `peer` is one of `trusted` (an unknown peer never is).
pub fn is_trusted(trusted: &[Cidr], peer: Option<IpAddr>) -> bool {
    peer.is_some_and(|ip| trusted.iter().any(|c| c.contains(ip)))
}

/// The last element of a comma-separated header (of its last line): what the nearest proxy,
/// the trusted one, appended. Earlier elements are whatever the client sent.
pub fn last_element<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let v = headers.get_all(name).last()?.to_str().ok()?;
    let v = v.rsplit(',').next()?.trim();
    (!v.is_empty()).then_some(v)
}

/// A trust list as written (CIDRs or addresses), parsed; the error names `field` and the entry.
pub fn parse_trust_list(field: &str, list: &[String]) -> Result<Vec<Cidr>, ConfigError> {
    list.iter()
        .map(|c| {
            c.parse::<Cidr>()
                .map_err(|e| ConfigError::new(field, format!("{c:?}: {e}")))
        })
        .collect()
}

/// The scheme a forwarding header element names (`X-Forwarded-Proto`, case-insensitive as
/// every proxy reads it): the one parser for every route and the forward-auth endpoint.
pub fn forwarded_scheme(element: &str) -> Option<Scheme> {
    if element.eq_ignore_ascii_case("https") {
        Some(Scheme::Https)
    } else if element.eq_ignore_ascii_case("http") {
        Some(Scheme::Http)
    } else {
        None
    }
}
