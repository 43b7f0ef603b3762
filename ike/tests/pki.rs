// SPDX-License-Identifier: GPL-2.0
//! Certificates, keys, certification paths, identities and AUTH signatures (ripsec_ike::pki),
//! against the openssl-made fixtures of tests/fixtures/pki.

mod pki_common;

use std::collections::HashSet;

use der::{Decode, Encode};
use pki_common::*;
use ripsec_ike::crypto::OsRandom;
use ripsec_ike::pki::{
    certreq_data, check_identity, format_time, sign_auth, verify_auth, verify_chain, Certificate,
    DistinguishedName, PrivateKey, PublicKeyAuth, VerifyError,
};
use ripsec_ike::Identity;
use ripsec_ike::{AuthMethod, HashAlgorithm};
use sha2::Digest;

const SHA256_WITH_RSA: &str = "300d06092a864886f70d01010b0500";
const SHA384_WITH_RSA: &str = "300d06092a864886f70d01010c0500";
const SHA512_WITH_RSA: &str = "300d06092a864886f70d01010d0500";
const SHA1_WITH_RSA: &str = "300d06092a864886f70d0101050500";
const ECDSA_WITH_SHA256: &str = "300a06082a8648ce3d040302";
const ECDSA_WITH_SHA384: &str = "300a06082a8648ce3d040303";
const ECDSA_WITH_SHA512: &str = "300a06082a8648ce3d040304";
const ALL_SHA2: &[HashAlgorithm] = &[
    HashAlgorithm::SHA2_256,
    HashAlgorithm::SHA2_384,
    HashAlgorithm::SHA2_512,
];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// RFC 7427 AUTH data: length, AlgorithmIdentifier, signature.
fn digital_signature(algorithm: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut data = vec![algorithm.len() as u8];
    data.extend_from_slice(algorithm);
    data.extend_from_slice(signature);
    data
}

fn pss_algorithm<D: const_oid::AssociatedOid>(salt: u8) -> Vec<u8> {
    let params = pkcs1::RsaPssParams::new::<D>(salt);
    spki::AlgorithmIdentifierOwned {
        oid: const_oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10"),
        parameters: Some(der::asn1::Any::encode_from(&params).unwrap()),
    }
    .to_der()
    .unwrap()
}

// ------------------------------------------------------------------ parsing

#[test]
fn certificates_parse_from_pem_der_and_bundles() {
    let pem = Certificate::parse_all(&fixture("left-rsa.crt")).unwrap();
    let der = Certificate::parse_all(&fixture("left-rsa.der")).unwrap();
    assert_eq!(pem.len(), 1);
    assert_eq!(pem[0].der(), der[0].der());
    assert_eq!(pem[0].der(), fixture("left-rsa.der"));
    let chain = Certificate::parse_all(&fixture("leaf-p384-chain.crt")).unwrap();
    let subjects: Vec<String> = chain.iter().map(Certificate::subject).collect();
    assert_eq!(
        subjects,
        [
            "CN=leaf.ripsec.test, O=ripsec",
            "CN=ripsec intermediate CA, O=ripsec"
        ]
    );
    let e = Certificate::parse_all(&fixture("left-rsa.key")).unwrap_err();
    assert!(e.contains("no \"BEGIN CERTIFICATE\""), "{e}");
    let e = Certificate::parse_all(b"not a certificate").unwrap_err();
    assert!(e.contains("invalid X.509 certificate"), "{e}");
    let mut truncated = fixture("left-rsa.der");
    truncated.truncate(100);
    assert!(Certificate::parse_all(&truncated).is_err());
}

#[test]
fn certificate_names_and_description() {
    let left = cert("left-rsa.crt");
    assert_eq!(left.subject(), "CN=left.ripsec.test, O=ripsec");
    assert_eq!(
        cert("ca-ec.crt").subject(),
        "C=CH, O=ripsec, CN=ripsec ECDSA CA"
    );
    assert_eq!(
        left.subject_identity(),
        Identity::parse("CN=left.ripsec.test, O=ripsec").unwrap()
    );
    let described = left.describe();
    for part in [
        "subject 'CN=left.ripsec.test, O=ripsec'",
        "issuer 'CN=ripsec test CA, O=ripsec'",
        "SANs DNS:left.ripsec.test, IP:10.0.0.1, IP:fd00::1, email:left@ripsec.test",
        "valid from 20",
        " to 21",
    ] {
        assert!(described.contains(part), "{part} not in {described}");
    }
    assert!(cert("nosan.crt").describe().contains("SANs none"));
    let expired = cert("expired.crt");
    assert_eq!(format_time(expired.not_before()), "2020-01-01 00:00:00 UTC");
    assert_eq!(format_time(expired.not_after()), "2021-01-01 00:00:00 UTC");
    assert_eq!(format_time(NOW), "2040-01-01 00:00:00 UTC");
}

#[test]
fn private_keys_parse_in_every_format() {
    for (file, kind) in [
        ("left-rsa.key", "RSA 2048"),         // PKCS#8
        ("right-rsa.pkcs1.key", "RSA 2048"),  // PKCS#1
        ("ca-rsa.key", "RSA 3072"),           // PKCS#8
        ("left-ec.key", "ECDSA P-256"),       // PKCS#8
        ("left-ec.pkcs8.der", "ECDSA P-256"), // DER PKCS#8
        ("right-ec.sec1.key", "ECDSA P-256"), // SEC1 with EC PARAMETERS omitted
        ("leaf-p384.key", "ECDSA P-384"),     // PKCS#8
    ] {
        let key = PrivateKey::parse(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(key.kind(), kind, "{file}");
        // Debug shows the kind only.
        assert_eq!(format!("{key:?}"), format!("PrivateKey({kind})"));
    }
    let e = PrivateKey::parse(&fixture("weak-rsa.key")).unwrap_err();
    assert!(e.contains("1024 bits; at least 2048"), "{e}");
    let e = PrivateKey::parse(&fixture("left-rsa.crt")).unwrap_err();
    assert!(e.contains("no \"PRIVATE KEY\""), "{e}");
    assert!(PrivateKey::parse(b"garbage").is_err());
    let encrypted =
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let e = PrivateKey::parse(encrypted).unwrap_err();
    assert!(
        e.contains("encrypted private keys are not supported"),
        "{e}"
    );
}

#[test]
fn public_key_auth_checks_that_key_and_certificate_belong_together() {
    for (c, k) in [
        ("left-rsa.crt", "left-rsa.key"),
        ("right-rsa.crt", "right-rsa.pkcs1.key"),
        ("left-ec.crt", "left-ec.pkcs8.der"),
        ("right-ec.crt", "right-ec.sec1.key"),
        ("leaf-p384.crt", "leaf-p384.key"),
    ] {
        PublicKeyAuth::new(cert(c), vec![], key(k), vec![]).unwrap_or_else(|e| panic!("{e}"));
    }
    for (c, k) in [
        ("left-rsa.crt", "right-rsa.pkcs1.key"),
        ("left-rsa.crt", "left-ec.key"),
        ("left-ec.crt", "right-ec.sec1.key"),
    ] {
        let e = PublicKeyAuth::new(cert(c), vec![], key(k), vec![]).unwrap_err();
        let subject = cert(c).subject();
        assert!(
            e.contains(&format!("does not belong to certificate '{subject}'")),
            "{e}"
        );
    }
}

#[test]
fn certreq_data_is_sha1_of_each_subject_public_key_info() {
    let trusted = [cert("ca-rsa.crt"), cert("ca-ec.crt")];
    let mut expected = fixture("ca-rsa.spki-sha1");
    expected.extend(fixture("ca-ec.spki-sha1"));
    assert_eq!(certreq_data(&trusted), expected);
}

// ------------------------------------------------------------------ paths

#[test]
fn chains_to_trusted_cas_are_accepted() {
    let ca_rsa = [cert("ca-rsa.crt")];
    let path = verify_chain(&cert("left-rsa.crt"), &[], &ca_rsa, NOW).unwrap();
    assert_eq!(path.len(), 2);
    verify_chain(&cert("right-ec.crt"), &[], &[cert("ca-ec.crt")], NOW).unwrap();
    // One intermediate CA (RSA) below the RSA root, P-384 end entity.
    let path = verify_chain(
        &cert("leaf-p384.crt"),
        &[cert("left-ec.crt"), cert("intermediate.crt")],
        &ca_rsa,
        NOW,
    )
    .unwrap();
    let subjects: Vec<String> = path.iter().map(Certificate::subject).collect();
    assert_eq!(
        subjects,
        [
            "CN=leaf.ripsec.test, O=ripsec",
            "CN=ripsec intermediate CA, O=ripsec",
            "CN=ripsec test CA, O=ripsec"
        ]
    );
    // The intermediate itself may be the trust anchor.
    verify_chain(
        &cert("leaf-p384.crt"),
        &[],
        &[cert("intermediate.crt")],
        NOW,
    )
    .unwrap();
    // A pinned end-entity certificate.
    verify_chain(&cert("left-ec.crt"), &[], &[cert("left-ec.crt")], NOW).unwrap();
}

#[test]
fn untrusted_issuers_are_named() {
    let e = verify_chain(&cert("untrusted.crt"), &[], &[cert("ca-rsa.crt")], NOW).unwrap_err();
    assert_eq!(
        e,
        "certificate 'CN=left.ripsec.test, O=ripsec' is not signed by a trusted CA: its issuer is 'CN=Other CA, O=elsewhere', we trust 'CN=ripsec test CA, O=ripsec'"
    );
    let e = verify_chain(
        &cert("left-rsa.crt"),
        &[],
        &[cert("ca-ec.crt"), cert("other-ca.crt")],
        NOW,
    )
    .unwrap_err();
    assert!(
        e.contains("its issuer is 'CN=ripsec test CA, O=ripsec', we trust 'C=CH, O=ripsec, CN=ripsec ECDSA CA', 'CN=Other CA, O=elsewhere'"),
        "{e}"
    );
    // Without the intermediate the path ends at it.
    let e = verify_chain(&cert("leaf-p384.crt"), &[], &[cert("ca-rsa.crt")], NOW).unwrap_err();
    assert!(
        e.contains("its issuer is 'CN=ripsec intermediate CA, O=ripsec'"),
        "{e}"
    );
    let e = verify_chain(&cert("left-rsa.crt"), &[], &[], NOW).unwrap_err();
    assert!(e.contains("no trusted CA certificate is configured"), "{e}");
}

#[test]
fn validity_is_checked_for_every_certificate_of_the_path() {
    let ca_rsa = [cert("ca-rsa.crt")];
    let e = verify_chain(&cert("expired.crt"), &[], &ca_rsa, NOW).unwrap_err();
    assert_eq!(
        e,
        "certificate 'CN=left.ripsec.test, O=ripsec' expired on 2021-01-01 00:00:00 UTC"
    );
    let e = verify_chain(&cert("future.crt"), &[], &ca_rsa, NOW).unwrap_err();
    assert!(
        e.starts_with("certificate 'CN=left.ripsec.test, O=ripsec' is not valid before 2090-01-01 00:00:00 UTC"),
        "{e}"
    );
    // Within its dates, the expired certificate would chain, but the CA is younger.
    let e = verify_chain(&cert("expired.crt"), &[], &ca_rsa, 1_600_000_000).unwrap_err();
    assert!(
        e.starts_with("certificate 'CN=ripsec test CA, O=ripsec' is not valid before"),
        "{e}"
    );
    // Beyond every notAfter.
    let e = verify_chain(&cert("left-rsa.crt"), &[], &ca_rsa, 5_000_000_000).unwrap_err();
    assert!(e.contains("expired on 21"), "{e}");
}

#[test]
fn bad_signatures_non_cas_and_sha1_break_the_path() {
    let ca_rsa = [cert("ca-rsa.crt")];
    let mut der = fixture("left-rsa.der");
    let last = der.len() - 1;
    der[last] ^= 1;
    let forged = Certificate::from_der(&der).unwrap();
    let e = verify_chain(&forged, &[], &ca_rsa, NOW).unwrap_err();
    assert_eq!(
        e,
        "the signature of certificate 'CN=left.ripsec.test, O=ripsec' does not verify with the public key of 'CN=ripsec test CA, O=ripsec'"
    );
    // Issued by left-rsa, an end entity.
    let e = verify_chain(
        &cert("notca-child.crt"),
        &[cert("left-rsa.crt")],
        &ca_rsa,
        NOW,
    )
    .unwrap_err();
    assert!(
        e.contains("'CN=left.ripsec.test, O=ripsec' is used as an intermediate CA but is not a CA"),
        "{e}"
    );
    let e = verify_chain(&cert("sha1.crt"), &[], &ca_rsa, NOW).unwrap_err();
    assert!(
        e.contains("uses SHA-1 (sha1WithRSAEncryption), which we do not accept"),
        "{e}"
    );
}

#[test]
fn key_usages_and_key_sizes_are_enforced() {
    let ca_rsa = [cert("ca-rsa.crt")];
    let chain = |name: &str| verify_chain(&cert(name), &[], &ca_rsa, NOW);
    assert_eq!(
        chain("keyenc-only.crt").unwrap_err(),
        "certificate 'CN=left.ripsec.test, O=ripsec' does not allow signing: its keyUsage is \
         keyEncipherment, and IKE needs digitalSignature"
    );
    assert_eq!(
        chain("eku-codesign.crt").unwrap_err(),
        "certificate 'CN=left.ripsec.test, O=ripsec' is not for IKE: its extendedKeyUsage is \
         codeSigning (1.3.6.1.5.5.7.3.3); one of ipsecIKE, anyExtendedKeyUsage, serverAuth, \
         clientAuth is needed"
    );
    // A pinned certificate is trusted as it is, even a CA's (keyUsage keyCertSign only).
    assert_eq!(chain("ca-rsa.crt").unwrap().len(), 1);
    // serverAuth/clientAuth and id-kp-ipsecIKE are fine.
    assert_eq!(chain("eku-server.crt").unwrap().len(), 2);
    assert_eq!(chain("eku-ipsecike.crt").unwrap().len(), 2);
    // A 1024-bit RSA key: the chain holds, the key is refused where it would be used.
    let weak = cert("weak-rsa.crt");
    let e = verify_auth(
        &weak,
        AuthMethod::DIGITAL_SIGNATURE,
        &digital_signature(&unhex(SHA256_WITH_RSA), &[0; 128]),
        b"octets",
    )
    .unwrap_err();
    assert!(
        format!("{e:?}").contains("has an RSA key of 1024 bits; at least 2048 are required"),
        "{e:?}"
    );
    // A CA whose keyUsage lacks keyCertSign cannot issue.
    let e = verify_chain(
        &cert("nocertsign-child.crt"),
        &[cert("nocertsign-ca.crt")],
        &ca_rsa,
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        e,
        "CA certificate 'CN=no certsign CA, O=ripsec' may not sign certificates: its keyUsage is \
         digitalSignature, without keyCertSign"
    );
}

// ------------------------------------------------------------------ identities

#[test]
fn identities_parse() {
    let cases = [
        ("10.0.0.1", "10.0.0.1"),
        ("fd00::1", "fd00::1"),
        ("@host", "host"),
        ("host.example", "host.example"),
        ("user@example.org", "user@example.org"),
        ("CN=left, O=ripsec", "CN=left, O=ripsec"),
        ("C=CH,O=strongSwan,  CN=moon", "C=CH, O=strongSwan, CN=moon"),
        // A multi-valued RDN is a SET: shown in DER order.
        (
            "cn=a\\, b + ou=x, dc=example",
            "OU=x + CN=a\\, b, DC=example",
        ),
        ("2.5.4.3=oid", "CN=oid"),
        (
            "E=a@b.c, GN=G, SN=S, serialNumber=1, ST=Z, L=Y",
            "E=a@b.c, GN=G, SN=S, serialNumber=1, ST=Z, L=Y",
        ),
    ];
    for (text, shown) in cases {
        let id = Identity::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(id.to_string(), shown, "{text}");
    }
    assert!(matches!(Identity::parse("10.0.0.1"), Ok(Identity::Ipv4(_))));
    assert!(matches!(Identity::parse("fd00::1"), Ok(Identity::Ipv6(_))));
    assert_eq!(
        Identity::parse("@host").unwrap(),
        Identity::Fqdn("host".into())
    );
    assert_eq!(
        Identity::parse("user@example.org").unwrap(),
        Identity::Email("user@example.org".into())
    );
    assert!(matches!(Identity::parse("CN=x"), Ok(Identity::Dn(_))));
    for bad in [
        "",
        "XY=foo",
        "CN=",
        "CN=a, broken",
        "@",
        "user@",
        "two words",
    ] {
        assert!(Identity::parse(bad).is_err(), "{bad:?} parsed");
    }
}

#[test]
fn distinguished_names_compare_semantically() {
    let typed = DistinguishedName::parse("c=ch, o=RIPSEC,  cn=Ripsec   ECDSA CA").unwrap();
    let from_openssl = cert("ca-ec.crt");
    assert_eq!(&typed, from_openssl.subject_name());
    // strongSwan's pki writes PrintableString; we encode UTF8String.
    // SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, PrintableString "moon" } } }
    let printable = unhex(
        "300f310d300b06035504031304 6d6f6f6e"
            .replace(' ', "")
            .as_str(),
    );
    let printable = DistinguishedName::from_der(&printable).unwrap();
    let utf8 = DistinguishedName::parse("CN=Moon").unwrap();
    assert_eq!(printable, utf8);
    assert_ne!(printable.der(), utf8.der());
    assert_eq!(utf8.der(), unhex("300f310d300b06035504030c044d6f6f6e"));
    // C is a PrintableString.
    assert_eq!(
        DistinguishedName::parse("C=CH").unwrap().der(),
        unhex("300d310b3009060355040613024348")
    );
    let set: HashSet<Identity> = [Identity::Dn(printable), Identity::Dn(utf8)].into();
    assert_eq!(set.len(), 1);
    // Order, types and values matter.
    let a = DistinguishedName::parse("CN=moon, O=x").unwrap();
    for other in ["O=x, CN=moon", "CN=moon", "CN=moon, OU=x", "CN=mars, O=x"] {
        assert_ne!(a, DistinguishedName::parse(other).unwrap(), "{other}");
    }
    assert!(DistinguishedName::from_der(b"\x30\x03\x31").is_err());
    // x509-cert agrees on the encoding.
    x509_cert::name::Name::from_der(a.der()).unwrap();
}

#[test]
fn identities_must_be_in_the_certificate() {
    let left = cert("left-rsa.crt");
    for id in [
        "left.ripsec.test",
        "LEFT.Ripsec.Test",
        "10.0.0.1",
        "fd00::1",
        "left@ripsec.test",
        "CN=left.ripsec.test, O=ripsec",
        "cn=LEFT.ripsec.test,o=ripsec",
    ] {
        check_identity(&Identity::parse(id).unwrap(), &left)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    for id in [
        "right.ripsec.test",
        "10.0.0.2",
        "fd00::2",
        "right@ripsec.test",
        "O=ripsec, CN=left.ripsec.test",
    ] {
        let e = check_identity(&Identity::parse(id).unwrap(), &left).unwrap_err();
        assert_eq!(
            e,
            format!("peer's ID {} is not in its certificate (subject 'CN=left.ripsec.test, O=ripsec', SANs DNS:left.ripsec.test, IP:10.0.0.1, IP:fd00::1, email:left@ripsec.test)", Identity::parse(id).unwrap())
        );
    }
    let e = check_identity(
        &Identity::parse("left.ripsec.test").unwrap(),
        &cert("nosan.crt"),
    )
    .unwrap_err();
    assert!(e.ends_with("SANs none)"), "{e}");
}

// ------------------------------------------------------------------ signatures

const OCTETS: &[u8] = b"RealMessage | Nonce | prf(SK_p, RestOfIDPayload) stand-in";

/// AUTH `data` verifies over `octets` with `cert`'s key, but not over other octets, nor once
/// `flip` (byte index, bits) changed it.
fn assert_signature(
    cert: &Certificate,
    method: AuthMethod,
    data: &[u8],
    octets: &[u8],
    flip: (usize, u8),
) {
    verify_auth(cert, method, data, octets).unwrap_or_else(|e| panic!("{method:?}: {e}"));
    let mut other = octets.to_vec();
    other[0] ^= 1;
    assert_eq!(
        verify_auth(cert, method, data, &other),
        Err(VerifyError::BadSignature),
        "{method:?}: other octets"
    );
    let mut tampered = data.to_vec();
    tampered[flip.0] ^= flip.1;
    assert_eq!(
        verify_auth(cert, method, &tampered, octets),
        Err(VerifyError::BadSignature),
        "{method:?}: byte {} changed",
        flip.0
    );
}

#[test]
fn rsa_signs_with_the_hash_the_peer_offers() {
    let key = key("left-rsa.key");
    let (left, right) = (cert("left-rsa.crt"), cert("right-rsa.crt"));
    let h = |list: &[u16]| list.iter().map(|v| HashAlgorithm(*v)).collect::<Vec<_>>();
    for (offered, algorithm) in [
        (h(&[2, 3, 4]), SHA256_WITH_RSA),
        (h(&[4, 3, 2]), SHA256_WITH_RSA),
        (h(&[3]), SHA384_WITH_RSA),
        (h(&[1, 4]), SHA512_WITH_RSA),
    ] {
        let (method, data) = sign_auth(&key, OCTETS, Some(&offered), &mut OsRandom).unwrap();
        assert_eq!(method, AuthMethod::DIGITAL_SIGNATURE);
        let algorithm = unhex(algorithm);
        assert_eq!(data[0] as usize, algorithm.len());
        assert_eq!(&data[1..1 + algorithm.len()], algorithm);
        assert_eq!(data.len(), 1 + algorithm.len() + 256);
        assert_signature(&left, method, &data, OCTETS, (data.len() - 1, 0x80));
        // Another RSA certificate's key.
        assert_eq!(
            verify_auth(&right, method, &data, OCTETS),
            Err(VerifyError::BadSignature)
        );
    }
    // No SIGNATURE_HASH_ALGORITHMS, or only SHA-1: RSA_DIGITAL_SIGNATURE (PKCS#1 v1.5 SHA-1).
    for offered in [None, Some(h(&[1]))] {
        let (method, data) = sign_auth(&key, OCTETS, offered.as_deref(), &mut OsRandom).unwrap();
        assert_eq!(method, AuthMethod::RSA_DIGITAL_SIGNATURE);
        assert_eq!(data.len(), 256);
        assert_signature(&left, method, &data, OCTETS, (10, 1));
    }
}

#[test]
fn ecdsa_signs_with_the_curves_hash() {
    let cases = [
        (
            "left-ec.crt",
            "left-ec.key",
            ALL_SHA2.to_vec(),
            ECDSA_WITH_SHA256,
        ),
        (
            "left-ec.crt",
            "left-ec.key",
            vec![HashAlgorithm::SHA2_512],
            ECDSA_WITH_SHA512,
        ),
        (
            "leaf-p384.crt",
            "leaf-p384.key",
            ALL_SHA2.to_vec(),
            ECDSA_WITH_SHA384,
        ),
        (
            "leaf-p384.crt",
            "leaf-p384.key",
            vec![HashAlgorithm::SHA2_256],
            ECDSA_WITH_SHA256,
        ),
    ];
    for (c, k, offered, algorithm) in cases {
        let (cert, key) = (cert(c), key(k));
        let (method, data) = sign_auth(&key, OCTETS, Some(&offered), &mut OsRandom).unwrap();
        assert_eq!(method, AuthMethod::DIGITAL_SIGNATURE);
        let algorithm = unhex(algorithm);
        assert_eq!(&data[1..1 + algorithm.len()], algorithm, "{c}");
        // The signature is a DER SEQUENCE of two INTEGERs.
        let signature = &data[1 + algorithm.len()..];
        assert_eq!(signature[0], 0x30);
        assert_eq!(signature[1] as usize, signature.len() - 2);
        assert_signature(&cert, method, &data, OCTETS, (data.len() - 1, 1));
    }
    // Without the peer's notify: RFC 4754 methods, r || s.
    for (c, k, method, len) in [
        (
            "left-ec.crt",
            "left-ec.key",
            AuthMethod::ECDSA_SHA256_P256,
            64,
        ),
        (
            "leaf-p384.crt",
            "leaf-p384.key",
            AuthMethod::ECDSA_SHA384_P384,
            96,
        ),
    ] {
        let (cert, key) = (cert(c), key(k));
        let (got, data) = sign_auth(&key, OCTETS, None, &mut OsRandom).unwrap();
        assert_eq!((got, data.len()), (method, len));
        assert_signature(&cert, method, &data, OCTETS, (5, 1));
    }
}

#[test]
fn mismatched_or_unsupported_signatures_are_explained() {
    let rsa_cert = cert("left-rsa.crt");
    let ec_cert = cert("left-ec.crt");
    let (_, ec_sig) = sign_auth(&key("left-ec.key"), OCTETS, None, &mut OsRandom).unwrap();
    let e = verify_auth(&rsa_cert, AuthMethod::ECDSA_SHA256_P256, &ec_sig, OCTETS).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the signature uses ECDSA_SHA256_P256, but the certificate has an RSA key"
    );
    let (_, rsa_data) =
        sign_auth(&key("left-rsa.key"), OCTETS, Some(ALL_SHA2), &mut OsRandom).unwrap();
    let e = verify_auth(&ec_cert, AuthMethod::DIGITAL_SIGNATURE, &rsa_data, OCTETS).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the signature uses sha256WithRSAEncryption, but the certificate has an ECDSA P-256 key"
    );
    let e = verify_auth(&ec_cert, AuthMethod::SHARED_KEY_MIC, &ec_sig, OCTETS).unwrap_err();
    assert!(e.to_string().contains("is not supported"), "{e}");
    for malformed in [&[][..], &[20, 1, 2][..], &[2, 0x30, 0x00][..]] {
        assert!(matches!(
            verify_auth(&ec_cert, AuthMethod::DIGITAL_SIGNATURE, malformed, OCTETS),
            Err(VerifyError::Unsupported(_))
        ));
    }
}

// ------------------------------------------------------------------ RSASSA-PSS

/// An RSASSA-PSS signature of OCTETS with hash `D` and a salt as long as its output.
fn pss_signature<D>(key: &rsa::RsaPrivateKey) -> Vec<u8>
where
    D: 'static + Digest + sha2::digest::DynDigest + Send + Sync,
{
    key.sign_with_rng(
        &mut rand_core::OsRng,
        rsa::Pss::new::<D>(),
        &D::digest(OCTETS),
    )
    .unwrap()
}

#[test]
fn rsassa_pss_signatures_verify() {
    use rsa::pkcs8::DecodePrivateKey;
    let pem = String::from_utf8(fixture("left-rsa.key")).unwrap();
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap();
    let cert = cert("left-rsa.crt");
    let signature = pss_signature::<sha2::Sha256>(&private);
    let data = digital_signature(&pss_algorithm::<sha2::Sha256>(32), &signature);
    verify_auth(&cert, AuthMethod::DIGITAL_SIGNATURE, &data, OCTETS).unwrap();
    assert_eq!(
        verify_auth(&cert, AuthMethod::DIGITAL_SIGNATURE, &data, b"other"),
        Err(VerifyError::BadSignature)
    );
    // The declared salt length is enforced.
    let wrong_salt = digital_signature(&pss_algorithm::<sha2::Sha256>(20), &signature);
    assert_eq!(
        verify_auth(&cert, AuthMethod::DIGITAL_SIGNATURE, &wrong_salt, OCTETS),
        Err(VerifyError::BadSignature)
    );
    let signature = pss_signature::<sha2::Sha512>(&private);
    let data = digital_signature(&pss_algorithm::<sha2::Sha512>(64), &signature);
    verify_auth(&cert, AuthMethod::DIGITAL_SIGNATURE, &data, OCTETS).unwrap();
    // PSS with SHA-1 is refused.
    let data = digital_signature(&pss_algorithm::<sha1::Sha1>(20), &signature);
    let e = verify_auth(&cert, AuthMethod::DIGITAL_SIGNATURE, &data, OCTETS).unwrap_err();
    assert!(e.to_string().contains("SHA-1"), "{e}");
}

// ------------------------------------------------------------------ known answers (openssl)

/// Signatures made by `openssl dgst -sign` over octets.bin verify as RFC 7427 AUTH data.
#[test]
fn openssl_signatures_verify_as_rfc7427_auth_data() {
    let octets = fixture("octets.bin");
    let cases = [
        (
            "left-rsa.crt",
            SHA256_WITH_RSA.to_string(),
            "octets.rsa-sha256.sig",
        ),
        (
            "left-rsa.crt",
            SHA384_WITH_RSA.to_string(),
            "octets.rsa-sha384.sig",
        ),
        (
            "left-ec.crt",
            ECDSA_WITH_SHA256.to_string(),
            "octets.ec-sha256.sig",
        ),
        (
            "leaf-p384.crt",
            ECDSA_WITH_SHA384.to_string(),
            "octets.p384-sha384.sig",
        ),
    ];
    for (c, algorithm, sig) in cases {
        let data = digital_signature(&unhex(&algorithm), &fixture(sig));
        verify_auth(&cert(c), AuthMethod::DIGITAL_SIGNATURE, &data, &octets)
            .unwrap_or_else(|e| panic!("{sig}: {e}"));
        let mut other = octets.clone();
        other[0] ^= 1;
        assert_eq!(
            verify_auth(&cert(c), AuthMethod::DIGITAL_SIGNATURE, &data, &other),
            Err(VerifyError::BadSignature),
            "{sig}"
        );
    }
    // RSASSA-PSS, salt length = hash length (what strongSwan sends with rsa_pss = yes).
    let data = digital_signature(
        &pss_algorithm::<sha2::Sha256>(32),
        &fixture("octets.rsa-pss-sha256.sig"),
    );
    verify_auth(
        &cert("left-rsa.crt"),
        AuthMethod::DIGITAL_SIGNATURE,
        &data,
        &octets,
    )
    .unwrap();
    // SHA-1: fine as RSA_DIGITAL_SIGNATURE, refused inside DIGITAL_SIGNATURE.
    let sha1 = fixture("octets.rsa-sha1.sig");
    verify_auth(
        &cert("left-rsa.crt"),
        AuthMethod::RSA_DIGITAL_SIGNATURE,
        &sha1,
        &octets,
    )
    .unwrap();
    let data = digital_signature(&unhex(SHA1_WITH_RSA), &sha1);
    let e = verify_auth(
        &cert("left-rsa.crt"),
        AuthMethod::DIGITAL_SIGNATURE,
        &data,
        &octets,
    )
    .unwrap_err();
    assert!(e.to_string().contains("SHA-1"), "{e}");
}

/// RSASSA-PKCS1-v1_5 is deterministic: our signatures equal openssl's, byte for byte.
#[test]
fn our_rsa_signatures_equal_openssls() {
    let octets = fixture("octets.bin");
    let key = key("left-rsa.key");
    for (offered, sig) in [
        (HashAlgorithm::SHA2_256, "octets.rsa-sha256.sig"),
        (HashAlgorithm::SHA2_384, "octets.rsa-sha384.sig"),
    ] {
        let (_, data) = sign_auth(&key, &octets, Some(&[offered]), &mut OsRandom).unwrap();
        assert_eq!(&data[16..], fixture(sig), "{sig}");
    }
    let (_, data) = sign_auth(&key, &octets, None, &mut OsRandom).unwrap();
    assert_eq!(data, fixture("octets.rsa-sha1.sig"));
}

/// IKEv1 signatures with ECDSA keys: r and s with the hash itself as the digest (as strongSwan
/// signs), checked with the certificate's key; a changed hash or signature fails.
#[test]
fn ikev1_ecdsa_signatures_round_trip() {
    use ripsec_ike::pki::{sign_v1, verify_v1};
    let hash = [0x5au8; 32];
    for (cert, key, len) in [
        ("right-ec.crt", "right-ec.sec1.key", 64),
        ("leaf-p384.crt", "leaf-p384.key", 96),
    ] {
        let sig = sign_v1(&pki_common::key(key), &hash, &mut OsRandom).expect("sign");
        assert_eq!(sig.len(), len, "{cert}: r and s, not DER");
        let cert = pki_common::cert(cert);
        verify_v1(&cert, &hash, &sig).expect("verifies");
        // Not IKEv2's method 9/10, which hashes first: the hash is the digest itself.
        let method = if len == 64 {
            AuthMethod::ECDSA_SHA256_P256
        } else {
            AuthMethod::ECDSA_SHA384_P384
        };
        assert!(ripsec_ike::pki::verify_auth(&cert, method, &sig, &hash).is_err());
        assert!(verify_v1(&cert, &[0xa5; 32], &sig).is_err());
        let mut bad = sig.clone();
        bad[3] ^= 1;
        assert!(verify_v1(&cert, &hash, &bad).is_err());
        // A 20-byte hash (PRF HMAC-SHA-1) is shorter than half of P-384's field: signed all
        // the same, as the number it is.
        let short = [0x33u8; 20];
        let sig = sign_v1(&pki_common::key(key), &short, &mut OsRandom).expect("sign SHA-1 hash");
        verify_v1(&cert, &short, &sig).expect("verifies");
    }
}
