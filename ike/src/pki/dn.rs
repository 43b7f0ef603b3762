// SPDX-License-Identifier: GPL-2.0
//! X.509 distinguished names: parsed from "CN=x, O=y" text or DER, shown in the same text
//! form (RDNs in DER order, as strongSwan and OpenSSL print them), compared semantically.

use std::fmt;
use std::hash::{Hash, Hasher};

use der::asn1::{Any, SetOfVec};
use der::{Decode, Encode, Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{RdnSequence, RelativeDistinguishedName};

use const_oid::ObjectIdentifier;

/// Attribute types known by name: (names, OID, string type used when encoding).
const ATTRIBUTES: &[(&[&str], &str, Tag)] = &[
    (&["C"], "2.5.4.6", Tag::PrintableString),
    (&["ST", "S"], "2.5.4.8", Tag::Utf8String),
    (&["L"], "2.5.4.7", Tag::Utf8String),
    (&["O"], "2.5.4.10", Tag::Utf8String),
    (&["OU"], "2.5.4.11", Tag::Utf8String),
    (&["CN"], "2.5.4.3", Tag::Utf8String),
    (&["SN"], "2.5.4.4", Tag::Utf8String),
    (&["GN", "givenName"], "2.5.4.42", Tag::Utf8String),
    (&["serialNumber"], "2.5.4.5", Tag::PrintableString),
    (&["T", "title"], "2.5.4.12", Tag::Utf8String),
    (
        &["E", "emailAddress"],
        "1.2.840.113549.1.9.1",
        Tag::Ia5String,
    ),
    (&["DC"], "0.9.2342.19200300.100.1.25", Tag::Ia5String),
    (&["UID"], "0.9.2342.19200300.100.1.1", Tag::Utf8String),
];

/// A DER-encoded X.509 Name. Equality and hashing compare the attribute types and values of
/// each RDN, ignoring the string type, ASCII case and surrounding or repeated spaces.
#[derive(Clone)]
pub struct DistinguishedName {
    der: Vec<u8>,
    /// Per RDN, its sorted (OID, normalized value) pairs.
    key: Vec<Vec<(ObjectIdentifier, Vec<u8>)>>,
    text: String,
}

impl DistinguishedName {
    /// Parses a DER-encoded Name.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let rdns = RdnSequence::from_der(der).map_err(|e| format!("invalid DN encoding: {e}"))?;
        Ok(Self::from_rdns(&rdns, der.to_vec()))
    }

    pub(crate) fn from_rdns(rdns: &RdnSequence, der: Vec<u8>) -> Self {
        let key = rdns
            .0
            .iter()
            .map(|rdn| {
                let mut set: Vec<_> = rdn
                    .0
                    .iter()
                    .map(|atv| (atv.oid, normalize(&atv.value)))
                    .collect();
                set.sort();
                set
            })
            .collect();
        let text = rdns
            .0
            .iter()
            .map(|rdn| {
                rdn.0
                    .iter()
                    .map(|atv| format!("{}={}", attribute_name(&atv.oid), show_value(&atv.value)))
                    .collect::<Vec<_>>()
                    .join(" + ")
            })
            .collect::<Vec<_>>()
            .join(", ");
        Self { der, key, text }
    }

    /// Parses "CN=left, O=ripsec" (RDNs in DER order; `+` joins attributes of one RDN;
    /// `\` escapes the next character). Types: C, ST, L, O, OU, CN, SN, GN, serialNumber, T,
    /// E (emailAddress), DC, UID or a dotted OID.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rdns = Vec::new();
        for rdn_text in split_unescaped(text, ',') {
            let mut atvs = Vec::new();
            for atv_text in split_unescaped(&rdn_text, '+') {
                atvs.push(parse_atv(&atv_text, text)?);
            }
            let set = SetOfVec::try_from(atvs).map_err(|e| format!("DN '{text}': {e}"))?;
            rdns.push(RelativeDistinguishedName(set));
        }
        let rdns = RdnSequence(rdns);
        let der = rdns.to_der().map_err(|e| format!("DN '{text}': {e}"))?;
        Ok(Self::from_rdns(&rdns, der))
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

impl PartialEq for DistinguishedName {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for DistinguishedName {}

impl Hash for DistinguishedName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DistinguishedName({:?})", self.text)
    }
}

/// Splits at `sep` not preceded by `\`; escapes stay in the parts.
fn split_unescaped(text: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in text.chars() {
        if c == sep && !escaped {
            parts.push(String::new());
            continue;
        }
        escaped = c == '\\' && !escaped;
        if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    parts
}

fn parse_atv(atv: &str, whole: &str) -> Result<AttributeTypeAndValue, String> {
    let (name, value) = atv
        .split_once('=')
        .ok_or_else(|| format!("DN '{whole}': '{}' is not TYPE=value", atv.trim()))?;
    let name = name.trim();
    let value = unescape(value.trim());
    if value.is_empty() {
        return Err(format!("DN '{whole}': {name} has an empty value"));
    }
    let (oid, tag) = match ATTRIBUTES
        .iter()
        .find(|(names, _, _)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
    {
        Some((_, oid, tag)) => (
            ObjectIdentifier::new(oid).map_err(|e| format!("DN '{whole}': {e}"))?,
            *tag,
        ),
        None => (
            ObjectIdentifier::new(name).map_err(|_| {
                format!("DN '{whole}': unknown attribute type '{name}' (use C, ST, L, O, OU, CN, SN, GN, serialNumber, T, E, DC, UID or a dotted OID)")
            })?,
            Tag::Utf8String,
        ),
    };
    // Fall back to UTF8String where the value does not fit the preferred type.
    let tag = match tag {
        Tag::PrintableString if !value.chars().all(printable) => Tag::Utf8String,
        Tag::Ia5String if !value.is_ascii() => Tag::Utf8String,
        other => other,
    };
    let value = Any::new(tag, value.as_bytes()).map_err(|e| format!("DN '{whole}': {e}"))?;
    Ok(AttributeTypeAndValue { oid, value })
}

fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in value.chars() {
        if c == '\\' && !escaped {
            escaped = true;
            continue;
        }
        escaped = false;
        out.push(c);
    }
    out
}

/// PrintableString's alphabet (X.680 §41.4).
fn printable(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

fn attribute_name(oid: &ObjectIdentifier) -> String {
    let dotted = oid.to_string();
    ATTRIBUTES
        .iter()
        .find(|(_, o, _)| *o == dotted)
        .and_then(|(names, _, _)| names.first())
        .map_or(dotted, |n| (*n).to_string())
}

/// The value as text, if it is a string type.
fn string_value(value: &Any) -> Option<String> {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString => {
            String::from_utf8(bytes.to_vec()).ok()
        }
        // T.61 in practice carries Latin-1.
        Tag::TeletexString => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .filter_map(|p| <[u8; 2]>::try_from(p).ok().map(u16::from_be_bytes))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

fn normalize(value: &Any) -> Vec<u8> {
    match string_value(value) {
        Some(s) => {
            let words: Vec<&str> = s.split_whitespace().collect();
            let mut out = vec![0u8];
            out.extend(words.join(" ").to_ascii_lowercase().into_bytes());
            out
        }
        // Non-string values compare by their encoding, marked apart from strings.
        None => {
            let mut out = vec![1u8];
            out.extend(value.to_der().unwrap_or_default());
            out
        }
    }
}

fn show_value(value: &Any) -> String {
    match string_value(value) {
        Some(s) => {
            let mut out = String::new();
            for c in s.chars() {
                if matches!(c, ',' | '+' | '\\' | '"' | ';' | '<' | '>') {
                    out.push('\\');
                }
                out.push(c);
            }
            out
        }
        None => {
            let der = value.to_der().unwrap_or_default();
            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
            format!("#{hex}")
        }
    }
}
