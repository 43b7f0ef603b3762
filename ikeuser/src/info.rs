//! `ikeuser info`: the module's version, algorithms and this netns's state.

use crate::netlink::{attr, Ripsec};
use anyhow::{anyhow, Result};
use ripsec_proto::uapi::{self, alg_attr, attr as a};
use serde::Serialize;

#[derive(Serialize)]
pub struct Info {
    pub version: String,
    pub family_version: u8,
    pub netns_cookie: u64,
    pub netns_requests: u64,
    pub algorithms: Vec<AlgInfo>,
    /// What ikeuser itself computes for IKE SAs (RustCrypto), by proposal keyword.
    pub ike: IkeAlgorithms,
}

#[derive(Serialize)]
pub struct IkeAlgorithms {
    pub encryption: &'static str,
    pub integrity: &'static str,
    pub prf: &'static str,
    pub dh: &'static str,
}

const IKE: IkeAlgorithms = IkeAlgorithms {
    encryption: crate::config::CIPHERS,
    integrity: crate::config::IKE_INTEGS,
    prf: crate::config::IKE_PRFS,
    dh: crate::config::GROUPS,
};

#[derive(Serialize)]
pub struct AlgInfo {
    pub name: String,
    pub proto: &'static str,
    pub kernel_name: String,
    pub enc_key_bits: u16,
    pub icv_len: u8,
    pub available: bool,
}

fn proto_name(p: u8) -> &'static str {
    match p {
        uapi::PROTO_ESP => "esp",
        uapi::PROTO_AH => "ah",
        _ => "?",
    }
}

pub fn query(nl: &mut Ripsec) -> Result<Info> {
    let replies = nl.request(uapi::cmd::GET_INFO, &attr::AttrWriter::default())?;
    let reply = replies
        .first()
        .ok_or_else(|| anyhow!("the module sent no GET_INFO reply"))?;
    decode(&reply.payload)
}

fn decode(payload: &[u8]) -> Result<Info> {
    let attrs = attr::parse(payload)?;
    let need =
        |ty| attr::find(&attrs, ty).ok_or_else(|| anyhow!("GET_INFO reply lacks attribute {ty}"));
    let mut algorithms = Vec::new();
    for alg in attrs.iter().filter(|x| x.ty == a::ALG) {
        let n = alg.nested()?;
        let get =
            |ty| attr::find(&n, ty).ok_or_else(|| anyhow!("algorithm entry lacks attribute {ty}"));
        algorithms.push(AlgInfo {
            name: get(alg_attr::NAME)?.str()?.to_string(),
            proto: proto_name(get(alg_attr::PROTO)?.u8()?),
            kernel_name: get(alg_attr::KERNEL_NAME)?.str()?.to_string(),
            enc_key_bits: get(alg_attr::ENC_KEY_BITS)?.u16()?,
            icv_len: get(alg_attr::ICV_LEN)?.u8()?,
            available: attr::find(&n, alg_attr::AVAILABLE).is_some(),
        });
    }
    Ok(Info {
        version: need(a::VERSION)?.str()?.to_string(),
        family_version: need(a::FAMILY_VERSION)?.u8()?,
        netns_cookie: need(a::NETNS_COOKIE)?.u64()?,
        netns_requests: need(a::NETNS_REQUESTS)?.u64()?,
        algorithms,
        ike: IKE,
    })
}

pub fn print(info: &Info) {
    println!(
        "ripsec {} (netlink family \"{}\" version {})",
        info.version,
        uapi::FAMILY_NAME,
        info.family_version
    );
    println!(
        "netns cookie {}, {} requests served in this netns",
        info.netns_cookie, info.netns_requests
    );
    println!();
    println!(
        "{:<6}{:<18}{:<42}{:>8}{:>5}  AVAILABLE",
        "PROTO", "ALGORITHM", "KERNEL CRYPTO TEMPLATE", "KEYBITS", "ICV"
    );
    for alg in &info.algorithms {
        println!(
            "{:<6}{:<18}{:<42}{:>8}{:>5}  {}",
            alg.proto,
            alg.name,
            alg.kernel_name,
            alg.enc_key_bits,
            alg.icv_len,
            if alg.available {
                "yes"
            } else {
                "no (kernel lacks the template)"
            }
        );
    }
    let ike = &info.ike;
    println!();
    println!("IKE (computed by ikeuser, not the kernel):");
    println!("  encryption  {}", ike.encryption);
    println!("  integrity   {}", ike.integrity);
    println!("  PRF         {}", ike.prf);
    println!("  DH          {}", ike.dh);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::attr::AttrWriter;

    #[test]
    fn decodes_a_reply() {
        let mut w = AttrWriter::default();
        w.str(a::VERSION, "0.1.0")
            .u8(a::FAMILY_VERSION, 1)
            .u64(a::NETNS_COOKIE, 9)
            .u64(a::NETNS_REQUESTS, 2);
        w.nest(a::ALG, |n| {
            n.str(alg_attr::NAME, "aes128gcm16")
                .u8(alg_attr::PROTO, 50)
                .str(alg_attr::KERNEL_NAME, "rfc4106(gcm(aes))")
                .u16(alg_attr::ENC_KEY_BITS, 128)
                .u8(alg_attr::ICV_LEN, 16)
                .flag(alg_attr::AVAILABLE);
        });
        let info = decode(&w.buf).unwrap();
        assert_eq!(info.version, "0.1.0");
        assert_eq!(info.netns_requests, 2);
        assert_eq!(info.algorithms.len(), 1);
        assert!(info.algorithms[0].available);
        assert_eq!(info.algorithms[0].proto, "esp");
    }

    #[test]
    fn missing_attribute_is_an_error() {
        let mut w = AttrWriter::default();
        w.str(a::VERSION, "0.1.0");
        assert!(decode(&w.buf).is_err());
    }
}
