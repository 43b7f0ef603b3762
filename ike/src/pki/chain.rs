// SPDX-License-Identifier: GPL-2.0
//! Certification path validation (RFC 5280, the parts IKE peers need) and the binding of an
//! IKE identity to a certificate (RFC 7296 §3.5, RFC 4945 §3.1).

use x509_cert::ext::pkix::name::GeneralName;

use super::certificate::{format_time, ip_from_bytes, Certificate};
use super::dn::DistinguishedName;
use super::signature::{verify_signature, VerifyError};
use crate::identity::Identity;

/// Most intermediate CAs between an end-entity certificate and a trust anchor.
const MAX_INTERMEDIATES: usize = 4;

/// Critical extensions we process (or that do not restrict the path for our use).
const UNDERSTOOD_CRITICAL: &[&str] = &[
    "2.5.29.15", // keyUsage
    "2.5.29.17", // subjectAltName
    "2.5.29.19", // basicConstraints
    "2.5.29.32", // certificatePolicies
    "2.5.29.37", // extKeyUsage
];

fn check_validity(cert: &Certificate, now: u64) -> Result<(), String> {
    if now < cert.not_before() {
        return Err(format!(
            "certificate '{}' is not valid before {} (now is {})",
            cert.subject(),
            format_time(cert.not_before()),
            format_time(now)
        ));
    }
    if now > cert.not_after() {
        return Err(format!(
            "certificate '{}' expired on {}",
            cert.subject(),
            format_time(cert.not_after())
        ));
    }
    if let Some(oid) = cert
        .critical_extensions()
        .into_iter()
        .find(|oid| !UNDERSTOOD_CRITICAL.contains(&oid.as_str()))
    {
        return Err(format!(
            "certificate '{}' has a critical extension we do not support ({oid})",
            cert.subject()
        ));
    }
    Ok(())
}

/// Whether `issuer` signed `cert`.
fn signed_by(cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    let key = issuer.public_key()?;
    let algorithm = cert.signature_algorithm();
    let algorithm = spki::AlgorithmIdentifierRef {
        oid: algorithm.oid,
        parameters: algorithm.parameters.as_ref().map(Into::into),
    };
    match verify_signature(&key, &algorithm, cert.tbs(), cert.signature()) {
        Ok(()) => Ok(()),
        Err(VerifyError::BadSignature) => Err(format!(
            "the signature of certificate '{}' does not verify with the public key of '{}'",
            cert.subject(),
            issuer.subject()
        )),
        Err(VerifyError::Unsupported(reason)) => Err(format!(
            "cannot check the signature of certificate '{}': {reason}",
            cert.subject()
        )),
    }
}

/// Checks that `end` leads to one of `trusted` (directly or through `intermediates`): names
/// chain, signatures verify, every certificate of the path (anchor included) is valid at `now`
/// (Unix seconds), intermediates are CAs within their path length constraint, at most four
/// intermediates. Returns the path from `end` to its anchor.
pub fn verify_chain(
    end: &Certificate,
    intermediates: &[Certificate],
    trusted: &[Certificate],
    now: u64,
) -> Result<Vec<Certificate>, String> {
    if trusted.is_empty() {
        return Err(format!(
            "cannot check certificate '{}': no trusted CA certificate is configured",
            end.subject()
        ));
    }
    // A pinned certificate (trusted as it is) may be a self-signed CA.
    if !trusted.iter().any(|t| t.der() == end.der()) {
        check_end_entity_usage(end)?;
    }
    let mut path = vec![end.clone()];
    let mut current = end.clone();
    loop {
        check_validity(&current, now)?;
        // A trusted certificate itself (e.g. a pinned self-signed peer certificate).
        if trusted.iter().any(|t| t.der() == current.der()) {
            return Ok(path);
        }
        let issued_by = |c: &&Certificate| c.subject_name() == current.issuer_name();
        let mut failure = None;
        for anchor in trusted.iter().filter(issued_by) {
            match signed_by(&current, anchor) {
                Ok(()) => {
                    check_validity(anchor, now)?;
                    check_path_len(anchor, path.len() - 1, true)?;
                    path.push(anchor.clone());
                    return Ok(path);
                }
                Err(e) => failure = Some(e),
            }
        }
        let below = path.len() - 1;
        let next = intermediates
            .iter()
            .filter(issued_by)
            .filter(|c| !path.iter().any(|p| p.der() == c.der()))
            .find(|c| match signed_by(&current, c) {
                Ok(()) => true,
                Err(e) => {
                    failure = Some(e);
                    false
                }
            });
        let Some(next) = next else {
            if let Some(failure) = failure {
                return Err(failure);
            }
            let anchors: Vec<String> = trusted
                .iter()
                .map(|t| format!("'{}'", t.subject()))
                .collect();
            let via = if path.len() > 1 {
                format!(
                    " (reached through the peer's intermediate CA certificates from '{}')",
                    end.subject()
                )
            } else {
                String::new()
            };
            return Err(format!(
                "certificate '{}' is not signed by a trusted CA: its issuer is '{}', we trust {}{via}",
                current.subject(),
                current.issuer_name(),
                anchors.join(", ")
            ));
        };
        if below >= MAX_INTERMEDIATES {
            return Err(format!(
                "the certification path of '{}' has more than {MAX_INTERMEDIATES} intermediate CAs",
                end.subject()
            ));
        }
        check_path_len(next, below, false)?;
        path.push(next.clone());
        current = next.clone();
    }
}

/// Extended key usages that allow IKE (RFC 4945 §5.1.3.12): id-kp-ipsecIKE, anyExtendedKeyUsage,
/// and serverAuth/clientAuth, which strongSwan and Windows accept as well.
const IKE_EKUS: &[(&str, &str)] = &[
    ("1.3.6.1.5.5.7.3.17", "ipsecIKE"),
    ("2.5.29.37.0", "anyExtendedKeyUsage"),
    ("1.3.6.1.5.5.7.3.1", "serverAuth"),
    ("1.3.6.1.5.5.7.3.2", "clientAuth"),
];

/// The peer's certificate must be for signing (keyUsage digitalSignature or nonRepudiation,
/// RFC 4945 §5.1.3.2) and for IKE (extendedKeyUsage, when present).
fn check_end_entity_usage(cert: &Certificate) -> Result<(), String> {
    if let Some(usage) = cert.key_usage() {
        if !usage.contains(&"digitalSignature") && !usage.contains(&"nonRepudiation") {
            return Err(format!(
                "certificate '{}' does not allow signing: its keyUsage is {}, and IKE needs digitalSignature",
                cert.subject(),
                usage_text(&usage)
            ));
        }
    }
    if let Some(ekus) = cert.extended_key_usage() {
        if !ekus
            .iter()
            .any(|o| IKE_EKUS.iter().any(|(oid, _)| o == oid))
        {
            let allowed: Vec<&str> = IKE_EKUS.iter().map(|(_, name)| *name).collect();
            return Err(format!(
                "certificate '{}' is not for IKE: its extendedKeyUsage is {}; one of {} is needed",
                cert.subject(),
                ekus.iter()
                    .map(|o| describe_eku(o))
                    .collect::<Vec<_>>()
                    .join(", "),
                allowed.join(", ")
            ));
        }
    }
    Ok(())
}

fn usage_text(usage: &[&str]) -> String {
    if usage.is_empty() {
        "empty".to_string()
    } else {
        usage.join(", ")
    }
}

fn describe_eku(oid: &str) -> String {
    let known = [
        ("1.3.6.1.5.5.7.3.3", "codeSigning"),
        ("1.3.6.1.5.5.7.3.4", "emailProtection"),
        ("1.3.6.1.5.5.7.3.8", "timeStamping"),
        ("1.3.6.1.5.5.7.3.9", "OCSPSigning"),
    ];
    match known.iter().chain(IKE_EKUS).find(|(o, _)| *o == oid) {
        Some((_, name)) => format!("{name} ({oid})"),
        None => oid.to_string(),
    }
}

/// A CA certificate issuing a path with `below` intermediates under it: cA must be set
/// (trust anchors are accepted without), keyUsage (if present) must include keyCertSign, and
/// pathLenConstraint must be respected.
fn check_path_len(ca: &Certificate, below: usize, anchor: bool) -> Result<(), String> {
    match ca.basic_constraints() {
        Some((true, Some(limit))) if below > usize::from(limit) => {
            return Err(format!(
                "CA certificate '{}' allows {limit} intermediate CA(s) below it, the path has {below}",
                ca.subject()
            ))
        }
        Some((true, _)) => {}
        _ if anchor => {}
        _ => {
            return Err(format!(
                "certificate '{}' is used as an intermediate CA but is not a CA (basicConstraints cA is not set)",
                ca.subject()
            ))
        }
    }
    match ca.key_usage() {
        Some(usage) if !usage.contains(&"keyCertSign") => Err(format!(
            "CA certificate '{}' may not sign certificates: its keyUsage is {}, without keyCertSign",
            ca.subject(),
            usage_text(&usage)
        )),
        _ => Ok(()),
    }
}

/// Checks that `id` (the peer's IDi/IDr) is bound to `cert`: a DN must be its subject (or a
/// directoryName SAN); an FQDN, IP address or email address must be among its SANs.
pub fn check_identity(id: &Identity, cert: &Certificate) -> Result<(), String> {
    let sans = cert.sans();
    let found = match id {
        Identity::Dn(dn) => {
            dn == cert.subject_name()
                || sans.iter().any(|n| match n {
                    GeneralName::DirectoryName(name) => der::Encode::to_der(name)
                        .ok()
                        .and_then(|der| DistinguishedName::from_der(&der).ok())
                        .is_some_and(|san| &san == dn),
                    _ => false,
                })
        }
        Identity::Fqdn(fqdn) => {
            let want = fqdn.trim_end_matches('.');
            sans.iter().any(|n| match n {
                GeneralName::DnsName(d) => {
                    d.as_str().trim_end_matches('.').eq_ignore_ascii_case(want)
                }
                _ => false,
            })
        }
        Identity::Email(email) => sans.iter().any(|n| match n {
            GeneralName::Rfc822Name(e) => e.as_str().eq_ignore_ascii_case(email),
            _ => false,
        }),
        Identity::Ipv4(a) => has_ip(&sans, std::net::IpAddr::V4(*a)),
        Identity::Ipv6(a) => has_ip(&sans, std::net::IpAddr::V6(*a)),
    };
    if found {
        return Ok(());
    }
    let listed = cert.san_strings();
    Err(format!(
        "peer's ID {id} is not in its certificate (subject '{}', SANs {})",
        cert.subject(),
        if listed.is_empty() {
            "none".to_string()
        } else {
            listed.join(", ")
        }
    ))
}

fn has_ip(sans: &[GeneralName], ip: std::net::IpAddr) -> bool {
    sans.iter().any(|n| match n {
        GeneralName::IpAddress(a) => ip_from_bytes(a.as_bytes()) == Some(ip),
        _ => false,
    })
}
