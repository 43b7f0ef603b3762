// SPDX-License-Identifier: GPL-2.0
//! IKE identities (IDi/IDr, RFC 7296 §3.5): parsed from configuration text, converted to and
//! from ID payloads.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::codes::IdType;
use crate::payload::IdPayload;
use crate::pki::DistinguishedName;

/// An identity, as carried in IDi/IDr.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// ID_IPV4_ADDR.
    Ipv4(Ipv4Addr),
    /// ID_IPV6_ADDR.
    Ipv6(Ipv6Addr),
    /// ID_FQDN.
    Fqdn(String),
    /// ID_RFC822_ADDR.
    Email(String),
    /// ID_DER_ASN1_DN; compared semantically (see [`DistinguishedName`]).
    Dn(DistinguishedName),
}

impl Identity {
    /// "10.0.0.1" and "fd00::1" are addresses, "@host" and "host.example" FQDNs,
    /// "user@example.org" an email address, and text with '=' ("C=CH, O=strongSwan, CN=moon")
    /// a distinguished name.
    pub fn parse(s: &str) -> Result<Identity, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty identity".to_string());
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(match ip {
                IpAddr::V4(a) => Identity::Ipv4(a),
                IpAddr::V6(a) => Identity::Ipv6(a),
            });
        }
        if s.contains('=') {
            return DistinguishedName::parse(s).map(Identity::Dn);
        }
        if let Some(fqdn) = s.strip_prefix('@') {
            if fqdn.is_empty() || fqdn.contains('@') {
                return Err(format!(
                    "identity '{s}': '@' must be followed by a host name"
                ));
            }
            return Ok(Identity::Fqdn(fqdn.to_string()));
        }
        if s.contains(char::is_whitespace) {
            return Err(format!(
                "identity '{s}' is not an address, host name, email address or DN (CN=..., O=...)"
            ));
        }
        match s.split_once('@') {
            Some((user, domain)) if !user.is_empty() && !domain.is_empty() => {
                Ok(Identity::Email(s.to_string()))
            }
            Some(_) => Err(format!("identity '{s}' is not a valid email address")),
            None => Ok(Identity::Fqdn(s.to_string())),
        }
    }

    pub(crate) fn to_payload(&self) -> IdPayload {
        match self {
            Identity::Ipv4(a) => IdPayload::ip(IpAddr::V4(*a)),
            Identity::Ipv6(a) => IdPayload::ip(IpAddr::V6(*a)),
            Identity::Fqdn(name) => IdPayload::fqdn(name),
            Identity::Email(address) => IdPayload {
                id_type: IdType::RFC822_ADDR,
                data: address.as_bytes().to_vec(),
            },
            Identity::Dn(dn) => IdPayload {
                id_type: IdType::DER_ASN1_DN,
                data: dn.der().to_vec(),
            },
        }
    }

    pub(crate) fn from_payload(id: &IdPayload) -> Option<Self> {
        match id.id_type {
            IdType::FQDN => String::from_utf8(id.data.clone()).ok().map(Identity::Fqdn),
            IdType::RFC822_ADDR => String::from_utf8(id.data.clone()).ok().map(Identity::Email),
            IdType::DER_ASN1_DN => DistinguishedName::from_der(&id.data).ok().map(Identity::Dn),
            _ => match id.ip_address()? {
                IpAddr::V4(a) => Some(Identity::Ipv4(a)),
                IpAddr::V6(a) => Some(Identity::Ipv6(a)),
            },
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Ipv4(a) => write!(f, "{a}"),
            Identity::Ipv6(a) => write!(f, "{a}"),
            Identity::Fqdn(name) => write!(f, "{name}"),
            Identity::Email(address) => write!(f, "{address}"),
            Identity::Dn(dn) => write!(f, "{dn}"),
        }
    }
}

pub(super) fn describe_id(id: &IdPayload) -> String {
    Identity::from_payload(id).map_or_else(
        || format!("{} ({} bytes)", id.id_type, id.data.len()),
        |identity| identity.to_string(),
    )
}
