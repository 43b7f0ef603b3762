//! `ip xfrm`-style keyword arguments: `src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 ...`.

use anyhow::{anyhow, bail, Context, Result};
use std::net::IpAddr;

/// The words after a subcommand, consumed keyword by keyword.
pub struct Words<'a> {
    cmd: &'a str,
    words: std::iter::Peekable<std::slice::Iter<'a, String>>,
}

impl<'a> Words<'a> {
    pub fn new(cmd: &'a str, words: &'a [String]) -> Self {
        Self {
            cmd,
            words: words.iter().peekable(),
        }
    }

    /// The next keyword, if any.
    pub fn next_key(&mut self) -> Option<&'a str> {
        self.words.next().map(String::as_str)
    }

    /// The next word, if it parses as an address (consumed then).
    pub fn next_if_addr(&mut self) -> Option<IpAddr> {
        let a = self.words.peek()?.parse().ok()?;
        self.words.next();
        Some(a)
    }

    /// The value after keyword `key`.
    pub fn value(&mut self, key: &str) -> Result<&'a str> {
        self.words
            .next()
            .map(String::as_str)
            .ok_or_else(|| anyhow!("`{}`: `{key}` needs a value", self.cmd))
    }

    pub fn unknown(&self, word: &str, expected: &[&str]) -> anyhow::Error {
        anyhow!(
            "`{}`: unknown word `{word}`; expected one of: {}",
            self.cmd,
            expected.join(", ")
        )
    }

    pub fn cmd(&self) -> &str {
        self.cmd
    }
}

/// A decimal or 0x-hex number.
pub fn number<T: TryFrom<u64>>(key: &str, s: &str) -> Result<T> {
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else {
        s.parse::<u64>()
    }
    .with_context(|| format!("`{key}` takes a number (decimal or 0x-hex), not `{s}`"))?;
    T::try_from(v).map_err(|_| anyhow!("`{key}` value {s} is out of range"))
}

/// Hex key material: `0x` followed by an even number of hex digits.
pub fn hex_key(s: &str) -> Result<Vec<u8>> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    // The key itself stays out of the message: errors end up in logs and terminals.
    if let Some(at) = h.bytes().position(|b| !b.is_ascii_hexdigit()) {
        bail!(
            "a key is hex digits (e.g. 0x00112233...); character {} of it is not one",
            at + 1
        );
    }
    if !h.len().is_multiple_of(2) {
        bail!(
            "a key is hex digits (e.g. 0x00112233...), an even number of them; got {}",
            h.len()
        );
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).map_err(Into::into))
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::from("0x");
    for b in bytes {
        s += &format!("{b:02x}");
    }
    s
}

pub fn addr(key: &str, s: &str) -> Result<IpAddr> {
    s.parse()
        .with_context(|| format!("`{key}` takes an IPv4 or IPv6 address, not `{s}`"))
}

/// `ADDR[/LEN]`; without a length, a host prefix.
pub fn prefix(key: &str, s: &str) -> Result<(IpAddr, u8)> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let a = addr(key, a)?;
    let max = if a.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|&l| l <= max)
            .ok_or_else(|| anyhow!("`{key}`: prefix length `{l}` must be 0-{max}"))?,
        None => max,
    };
    Ok((a, len))
}

/// `N` or `N-M`.
pub fn port_range(key: &str, s: &str) -> Result<(u16, u16)> {
    match s.split_once('-') {
        Some((lo, hi)) => Ok((number(key, lo)?, number(key, hi)?)),
        None => {
            let p = number(key, s)?;
            Ok((p, p))
        }
    }
}

pub fn ip_proto(s: &str) -> Result<u8> {
    Ok(match s {
        "any" => 0,
        "icmp" => 1,
        "tcp" => 6,
        "udp" => 17,
        "icmpv6" | "ipv6-icmp" => 58,
        "sctp" => 132,
        "esp" => 50,
        "ah" => 51,
        _ => number("proto", s)?,
    })
}

pub fn ip_proto_name(p: u8) -> String {
    match p {
        0 => "any".into(),
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        132 => "sctp".into(),
        50 => "esp".into(),
        51 => "ah".into(),
        n => n.to_string(),
    }
}

pub fn ipsec_proto(s: &str) -> Result<u8> {
    match s {
        "esp" => Ok(50),
        "ah" => Ok(51),
        _ => bail!("`proto` is esp or ah, not `{s}`"),
    }
}

pub fn mode(s: &str) -> Result<u8> {
    match s {
        "transport" => Ok(0),
        "tunnel" => Ok(1),
        _ => bail!("`mode` is transport or tunnel, not `{s}`"),
    }
}

pub fn mode_name(m: u8) -> &'static str {
    if m == 1 {
        "tunnel"
    } else {
        "transport"
    }
}

/// Address family and raw bytes of an address, as netlink carries them.
pub fn family_bytes(a: &IpAddr) -> (u8, Vec<u8>) {
    match a {
        IpAddr::V4(v) => (2, v.octets().to_vec()),
        IpAddr::V6(v) => (10, v.octets().to_vec()),
    }
}

pub fn bytes_addr(family: u8, b: &[u8]) -> Result<IpAddr> {
    match (family, b.len()) {
        (2, 4) => Ok(IpAddr::from(<[u8; 4]>::try_from(b)?)),
        (10, 16) => Ok(IpAddr::from(<[u8; 16]>::try_from(b)?)),
        _ => bail!("address of {} bytes for family {family}", b.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keys_prefixes_ports() {
        assert_eq!(number::<u32>("spi", "0x1000").unwrap(), 0x1000);
        assert_eq!(number::<u32>("spi", "4096").unwrap(), 4096);
        assert!(number::<u8>("x", "300").is_err());
        assert!(number::<u32>("x", "zz").is_err());
        assert_eq!(hex_key("0x0a0B").unwrap(), vec![0x0a, 0x0b]);
        let odd = hex_key("0x5ec7e").unwrap_err().to_string();
        assert!(odd.ends_with("an even number of them; got 5"), "{odd}");
        let bad = hex_key("0x5ec7zz").unwrap_err().to_string();
        assert!(bad.ends_with("character 5 of it is not one"), "{bad}");
        // Neither names the key it was given.
        assert!(!odd.contains("5ec7") && !bad.contains("5ec7"));
        assert_eq!(prefix("src", "10.0.0.0/8").unwrap().1, 8);
        assert_eq!(prefix("src", "fd00::1").unwrap().1, 128);
        assert!(prefix("src", "10.0.0.0/33").is_err());
        assert_eq!(port_range("dport", "80-90").unwrap(), (80, 90));
        assert_eq!(port_range("dport", "22").unwrap(), (22, 22));
        assert_eq!(ip_proto("tcp").unwrap(), 6);
        assert!(ipsec_proto("gre").is_err());
        assert_eq!(hex(&[1, 0xab]), "0x01ab");
    }
}
