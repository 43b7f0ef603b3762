//! Netlink attribute (TLV) encoding and strict decoding.

use anyhow::{bail, Result};

/// `NLA_ALIGNTO`
const ALIGN: usize = 4;
/// Size of `struct nlattr`.
pub const HDR: usize = 4;
/// Bit marking a nested attribute (`NLA_F_NESTED`).
const F_NESTED: u16 = 1 << 15;
/// Mask of the type bits.
const TYPE_MASK: u16 = !(F_NESTED | (1 << 14));

pub const fn align(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

/// Appends attributes to a message buffer.
#[derive(Default)]
pub struct AttrWriter {
    pub buf: Vec<u8>,
}

impl AttrWriter {
    pub fn bytes(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = u16::try_from(HDR + data.len()).expect("netlink attribute larger than 64 KiB");
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }
    pub fn u8(&mut self, ty: u16, v: u8) -> &mut Self {
        self.bytes(ty, &[v])
    }
    pub fn u16(&mut self, ty: u16, v: u16) -> &mut Self {
        self.bytes(ty, &v.to_ne_bytes())
    }
    pub fn u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.bytes(ty, &v.to_ne_bytes())
    }
    pub fn u64(&mut self, ty: u16, v: u64) -> &mut Self {
        self.bytes(ty, &v.to_ne_bytes())
    }
    pub fn str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.bytes(ty, &v)
    }
    pub fn flag(&mut self, ty: u16) -> &mut Self {
        self.bytes(ty, &[])
    }
    pub fn nest(&mut self, ty: u16, f: impl FnOnce(&mut AttrWriter)) -> &mut Self {
        let mut inner = AttrWriter::default();
        f(&mut inner);
        self.bytes(ty | F_NESTED, &inner.buf)
    }
}

/// One decoded attribute.
#[derive(Clone, Copy, Debug)]
pub struct Attr<'a> {
    pub ty: u16,
    pub data: &'a [u8],
}

impl<'a> Attr<'a> {
    fn fixed<const N: usize>(&self, what: &str) -> Result<[u8; N]> {
        match <[u8; N]>::try_from(self.data) {
            Ok(b) => Ok(b),
            Err(_) => bail!(
                "attribute {} ({what}) has {} bytes, expected {N}",
                self.ty,
                self.data.len()
            ),
        }
    }
    pub fn u8(&self) -> Result<u8> {
        Ok(self.fixed::<1>("u8")?[0])
    }
    pub fn u16(&self) -> Result<u16> {
        Ok(u16::from_ne_bytes(self.fixed("u16")?))
    }
    pub fn u32(&self) -> Result<u32> {
        Ok(u32::from_ne_bytes(self.fixed("u32")?))
    }
    pub fn u64(&self) -> Result<u64> {
        Ok(u64::from_ne_bytes(self.fixed("u64")?))
    }
    pub fn str(&self) -> Result<&'a str> {
        let Some(end) = self.data.iter().position(|&b| b == 0) else {
            bail!("attribute {} is not a NUL-terminated string", self.ty);
        };
        Ok(std::str::from_utf8(&self.data[..end])?)
    }
    pub fn nested(&self) -> Result<Vec<Attr<'a>>> {
        parse(self.data)
    }
}

/// Splits a buffer into attributes, rejecting truncated or overlong ones.
pub fn parse(mut buf: &[u8]) -> Result<Vec<Attr<'_>>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        if buf.len() < HDR {
            bail!(
                "truncated netlink attribute header ({} bytes left)",
                buf.len()
            );
        }
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]]));
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & TYPE_MASK;
        if len < HDR || len > buf.len() {
            bail!(
                "netlink attribute {ty} claims {len} bytes, {} available",
                buf.len()
            );
        }
        out.push(Attr {
            ty,
            data: &buf[HDR..len],
        });
        buf = &buf[align(len).min(buf.len())..];
    }
    Ok(out)
}

/// The first attribute of type `ty`.
pub fn find<'a>(attrs: &[Attr<'a>], ty: u16) -> Option<Attr<'a>> {
    attrs.iter().copied().find(|a| a.ty == ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut w = AttrWriter::default();
        w.u8(1, 7)
            .u16(2, 0x1234)
            .str(3, "abc")
            .u64(4, u64::MAX)
            .flag(5)
            .nest(6, |n| {
                n.u32(1, 42);
            });
        let attrs = parse(&w.buf).unwrap();
        assert_eq!(attrs.len(), 6);
        assert_eq!(find(&attrs, 1).unwrap().u8().unwrap(), 7);
        assert_eq!(find(&attrs, 2).unwrap().u16().unwrap(), 0x1234);
        assert_eq!(find(&attrs, 3).unwrap().str().unwrap(), "abc");
        assert_eq!(find(&attrs, 4).unwrap().u64().unwrap(), u64::MAX);
        assert!(find(&attrs, 5).unwrap().data.is_empty());
        let inner = find(&attrs, 6).unwrap().nested().unwrap();
        assert_eq!(find(&inner, 1).unwrap().u32().unwrap(), 42);
    }

    #[test]
    fn rejects_truncation_and_bad_sizes() {
        let mut w = AttrWriter::default();
        w.u32(1, 0x0101_0101);
        assert!(parse(&w.buf[..6]).is_err(), "payload cut short");
        assert!(parse(&w.buf[..2]).is_err(), "header cut short");
        let mut bad = w.buf.clone();
        bad[0] = 2; // length smaller than the header
        assert!(parse(&bad).is_err());
        let attrs = parse(&w.buf).unwrap();
        assert!(attrs[0].u64().is_err(), "u32 read as u64");
        assert!(attrs[0].str().is_err(), "not NUL-terminated");
    }
}
