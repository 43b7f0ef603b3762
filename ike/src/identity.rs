// SPDX-License-Identifier: GPL-2.0
//! IKE identities (IDi/IDr, RFC 7296 §3.5): parsed from configuration text, converted to and
//! from ID payloads.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::codes::IdType;
use crate::payload::IdPayload;
use crate::pki::dn::DistinguishedName;

/// An identity, as carried in IDi/IDr. Host names and email addresses compare without
/// regard to ASCII case (RFC 4343), and a host name's trailing dot is ignored, as strongSwan
/// does.
#[derive(Clone, Debug)]
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

impl Identity {
    /// The form compared and hashed: lower case, without a trailing dot for host names.
    fn folded(&self) -> Option<String> {
        match self {
            Identity::Fqdn(name) => Some(name.trim_end_matches('.').to_ascii_lowercase()),
            Identity::Email(address) => Some(address.to_ascii_lowercase()),
            _ => None,
        }
    }
}

impl PartialEq for Identity {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Identity::Ipv4(a), Identity::Ipv4(b)) => a == b,
            (Identity::Ipv6(a), Identity::Ipv6(b)) => a == b,
            (Identity::Dn(a), Identity::Dn(b)) => a == b,
            (Identity::Fqdn(_), Identity::Fqdn(_)) | (Identity::Email(_), Identity::Email(_)) => {
                self.folded() == other.folded()
            }
            _ => false,
        }
    }
}

impl Eq for Identity {}

impl std::hash::Hash for Identity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Identity::Ipv4(a) => a.hash(state),
            Identity::Ipv6(a) => a.hash(state),
            Identity::Dn(dn) => dn.hash(state),
            Identity::Fqdn(_) | Identity::Email(_) => self.folded().hash(state),
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

/// The ID payload as an identity, or its type and size if it is not one.
pub(crate) fn describe_id(id: &IdPayload) -> String {
    Identity::from_payload(id).map_or_else(
        || format!("{} ({} bytes)", id.id_type, id.data.len()),
        |identity| identity.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn id(s: &str) -> Identity {
        Identity::parse(s).unwrap()
    }

    #[test]
    fn host_names_and_email_addresses_ignore_case() {
        assert_eq!(id("@Moon.StrongSwan.org."), id("moon.strongswan.org"));
        assert_eq!(id("Carol@StrongSwan.org"), id("carol@strongswan.org"));
        assert_ne!(id("moon.strongswan.org"), id("sun.strongswan.org"));
        // Same text, different types.
        assert_ne!(
            Identity::Fqdn("carol.x".into()),
            Identity::Email("carol.x".into())
        );
        assert_ne!(id("10.0.0.1"), id("@10.0.0.1"));
        let set: HashSet<Identity> = [id("A.example"), id("a.example.")].into();
        assert_eq!(set.len(), 1);
        // Displayed as configured.
        assert_eq!(id("A.Example").to_string(), "A.Example");
    }
}
