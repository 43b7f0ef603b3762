//! `ikeuser sa ...`: manual keying of SAs, in the spirit of `ip xfrm state`.

use crate::netlink::attr::{self, AttrWriter};
use crate::netlink::{Ripsec, NLM_F_DUMP};
use crate::words::{self, Words};
use anyhow::{anyhow, bail, Result};
use ripsec_proto::uapi::{attr as a, cmd, stats_attr};
use serde::Serialize;
use std::collections::BTreeMap;

const LIMITS: [(&str, u16); 8] = [
    ("soft-bytes", a::SA_SOFT_BYTES),
    ("soft-packets", a::SA_SOFT_PACKETS),
    ("soft-add-secs", a::SA_SOFT_ADD_SECS),
    ("soft-use-secs", a::SA_SOFT_USE_SECS),
    ("hard-bytes", a::SA_HARD_BYTES),
    ("hard-packets", a::SA_HARD_PACKETS),
    ("hard-add-secs", a::SA_HARD_ADD_SECS),
    ("hard-use-secs", a::SA_HARD_USE_SECS),
];

/// Parses `sa add|update|del|get` words into request attributes.
pub fn parse(w: &mut Words<'_>, full: bool, limits_only: bool) -> Result<(AttrWriter, bool)> {
    let mut out = AttrWriter::default();
    let (mut src, mut dst, mut spi, mut proto, mut mode, mut alg, mut key) =
        (None, None, None, None, None, None, None);
    let mut show_keys = false;
    let mut extra = AttrWriter::default();
    let mut expected: Vec<&str> = vec!["dst", "proto", "spi"];
    if full {
        expected.extend([
            "src",
            "mode",
            "alg",
            "key",
            "reqid",
            "replay-window",
            "esn",
            "align8",
        ]);
    }
    if full || limits_only {
        expected.extend(LIMITS.iter().map(|l| l.0));
        expected.push("encap");
    }
    if !full && !limits_only {
        expected.push("show-keys");
    }
    while let Some(k) = w.next_key() {
        if !expected.contains(&k) {
            return Err(w.unknown(k, &expected));
        }
        match k {
            "src" => src = Some(words::addr(k, w.value(k)?)?),
            "dst" => dst = Some(words::addr(k, w.value(k)?)?),
            "spi" => spi = Some(words::number::<u32>(k, w.value(k)?)?),
            "proto" => proto = Some(words::ipsec_proto(w.value(k)?)?),
            "mode" => mode = Some(words::mode(w.value(k)?)?),
            "alg" => alg = Some(w.value(k)?),
            "key" => key = Some(words::hex_key(w.value(k)?)?),
            "reqid" => {
                extra.u32(a::SA_REQID, words::number(k, w.value(k)?)?);
            }
            "replay-window" => {
                extra.u32(a::SA_REPLAY_WINDOW, words::number(k, w.value(k)?)?);
            }
            "esn" => {
                extra.flag(a::SA_ESN);
            }
            // AH over IPv4 padded to 64 bits, for XFRM peers without `flag align4`.
            "align8" => {
                extra.flag(a::SA_AH_ALIGN8);
            }
            "encap" => encap(w, &mut extra, full)?,
            "show-keys" => show_keys = true,
            _ => {
                let ty = LIMITS
                    .iter()
                    .find(|l| l.0 == k)
                    .map(|l| l.1)
                    .ok_or_else(|| w.unknown(k, &expected))?;
                extra.u64(ty, words::number(k, w.value(k)?)?);
            }
        }
    }
    let cmdname = w.cmd().to_string();
    let need = |what: &str| anyhow!("`{cmdname}` needs `{what}`");
    let dst = dst.ok_or_else(|| need("dst ADDR"))?;
    let (family, dst_b) = words::family_bytes(&dst);
    out.u32(a::SA_SPI, spi.ok_or_else(|| need("spi N"))?)
        .u8(a::SA_PROTO, proto.ok_or_else(|| need("proto esp|ah"))?)
        .u8(a::SA_FAMILY, family)
        .bytes(a::SA_DST, &dst_b);
    if full {
        let src = src.ok_or_else(|| need("src ADDR"))?;
        let (sf, src_b) = words::family_bytes(&src);
        if sf != family {
            bail!("`src` and `dst` must both be IPv4 or both IPv6");
        }
        out.bytes(a::SA_SRC, &src_b)
            .u8(
                a::SA_MODE,
                mode.ok_or_else(|| need("mode transport|tunnel"))?,
            )
            .str(
                a::SA_ALG,
                alg.ok_or_else(|| need("alg NAME (see `ikeuser info`)"))?,
            )
            .bytes(a::SA_KEY, &key.ok_or_else(|| need("key 0xHEX"))?);
    }
    out.buf.extend_from_slice(&extra.buf);
    if show_keys {
        out.flag(a::SHOW_KEYS);
    }
    Ok((out, show_keys))
}

/// `encap espinudp SPORT DPORT [OADDR]`, as `ip xfrm state` takes it (OADDR, the NAT-OA
/// address, is accepted and not used). `sa update` changes the ports of an encapsulating SA.
fn encap(w: &mut Words<'_>, out: &mut AttrWriter, add: bool) -> Result<()> {
    let usage = "`encap` takes `espinudp SPORT DPORT`, for example `encap espinudp 4500 4500`";
    let ty = w.value("encap")?;
    if ty != "espinudp" {
        bail!("{usage}; `{ty}` is not an encapsulation ripsec knows (only ESP in UDP, RFC 3948)");
    }
    let sport: u16 = words::number("encap SPORT", w.value("encap")?)?;
    let dport: u16 = words::number("encap DPORT", w.value("encap")?)?;
    if sport == 0 || dport == 0 {
        bail!("{usage}; port 0 is not a port");
    }
    let _oaddr = w.next_if_addr();
    if add {
        out.u8(a::SA_ENCAP_TYPE, ripsec_proto::uapi::ENCAP_ESPINUDP);
    }
    out.u16(a::SA_ENCAP_SPORT, sport)
        .u16(a::SA_ENCAP_DPORT, dport);
    Ok(())
}

/// An SA's UDP encapsulation.
#[derive(Serialize)]
pub struct EncapInfo {
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub sport: u16,
    pub dport: u16,
}

#[derive(Serialize)]
pub struct SaInfo {
    pub spi: u32,
    pub proto: &'static str,
    pub src: String,
    pub dst: String,
    pub mode: &'static str,
    pub alg: String,
    pub crypto_driver: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub reqid: u32,
    pub replay_window: u32,
    pub esn: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ah_align8: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encap: Option<EncapInfo>,
    pub limits: BTreeMap<&'static str, u64>,
    /// The path MTU ICMP errors taught the SA (0: none); absent from older modules.
    pub pmtu: u32,
    pub add_time: u64,
    pub seq_out: u64,
    pub replay_top: u64,
    pub stats: BTreeMap<String, u64>,
}

/// Decodes a `stats` nest into name -> value.
pub fn decode_stats(nest: &attr::Attr<'_>) -> Result<BTreeMap<String, u64>> {
    let set = &ripsec_proto::uapi::ATTR_SETS[2];
    let mut m = BTreeMap::new();
    for x in nest.nested()? {
        if x.ty == stats_attr::PAD {
            continue;
        }
        if let Some(d) = set.attrs.iter().find(|d| d.id == x.ty) {
            m.insert(d.name.to_string(), x.u64()?);
        }
    }
    Ok(m)
}

pub fn decode(payload: &[u8]) -> Result<SaInfo> {
    let attrs = attr::parse(payload)?;
    let get = |ty| attr::find(&attrs, ty).ok_or_else(|| anyhow!("SA reply lacks attribute {ty}"));
    let family = get(a::SA_FAMILY)?.u8()?;
    let mut limits = BTreeMap::new();
    for (name, ty) in LIMITS {
        limits.insert(name, get(ty)?.u64()?);
    }
    Ok(SaInfo {
        spi: get(a::SA_SPI)?.u32()?,
        proto: if get(a::SA_PROTO)?.u8()? == 51 {
            "ah"
        } else {
            "esp"
        },
        src: words::bytes_addr(family, get(a::SA_SRC)?.data)?.to_string(),
        dst: words::bytes_addr(family, get(a::SA_DST)?.data)?.to_string(),
        mode: words::mode_name(get(a::SA_MODE)?.u8()?),
        alg: get(a::SA_ALG)?.str()?.to_string(),
        crypto_driver: get(a::SA_CRYPTO_DRIVER)?.str()?.to_string(),
        key: attr::find(&attrs, a::SA_KEY).map(|k| words::hex(k.data)),
        reqid: get(a::SA_REQID)?.u32()?,
        replay_window: get(a::SA_REPLAY_WINDOW)?.u32()?,
        esn: attr::find(&attrs, a::SA_ESN).is_some(),
        ah_align8: attr::find(&attrs, a::SA_AH_ALIGN8).is_some(),
        encap: match attr::find(&attrs, a::SA_ENCAP_TYPE) {
            Some(_) => Some(EncapInfo {
                ty: "espinudp",
                sport: get(a::SA_ENCAP_SPORT)?.u16()?,
                dport: get(a::SA_ENCAP_DPORT)?.u16()?,
            }),
            None => None,
        },
        limits,
        pmtu: match attr::find(&attrs, a::SA_PMTU) {
            Some(p) => p.u32()?,
            None => 0,
        },
        add_time: get(a::SA_ADD_TIME)?.u64()?,
        seq_out: get(a::SA_SEQ_OUT)?.u64()?,
        replay_top: get(a::SA_REPLAY_TOP)?.u64()?,
        stats: decode_stats(&get(a::STATS)?)?,
    })
}

pub fn print(sas: &[SaInfo]) {
    if sas.is_empty() {
        println!("no SAs");
        return;
    }
    for s in sas {
        println!(
            "src {} dst {} proto {} spi 0x{:08x} reqid {} mode {}",
            s.src, s.dst, s.proto, s.spi, s.reqid, s.mode
        );
        println!(
            "    alg {} (crypto driver {}) replay-window {}{}{}",
            s.alg,
            s.crypto_driver,
            s.replay_window,
            if s.esn { " esn" } else { "" },
            if s.ah_align8 { " align8" } else { "" }
        );
        if let Some(e) = &s.encap {
            println!("    encap {} {} {}", e.ty, e.sport, e.dport);
        }
        if s.pmtu != 0 {
            println!("    path MTU {}", s.pmtu);
        }
        if let Some(k) = &s.key {
            println!("    key {k}");
        }
        let set: Vec<String> = s
            .limits
            .iter()
            .filter(|(_, v)| **v != 0)
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        if !set.is_empty() {
            println!("    lifetime {}", set.join(" "));
        }
        let st = &s.stats;
        let g = |k: &str| st.get(k).copied().unwrap_or(0);
        println!(
            "    in {} packets {} bytes, out {} packets {} bytes, seq-out {} replay-top {}",
            g("packets-in"),
            g("bytes-in"),
            g("packets-out"),
            g("bytes-out"),
            s.seq_out,
            s.replay_top
        );
        let drops: Vec<String> = st
            .iter()
            .filter(|(k, v)| k.starts_with("drop-") && **v != 0)
            .map(|(k, v)| format!("{} {v}", &k[5..]))
            .collect();
        println!(
            "    drops: {}",
            if drops.is_empty() {
                "none".to_string()
            } else {
                drops.join(", ")
            }
        );
    }
}

pub fn run(nl: &mut Ripsec, action: &str, args: &[String], json: bool) -> Result<()> {
    let name = format!("sa {action}");
    let mut w = Words::new(&name, args);
    match action {
        "add" => {
            let (req, _) = parse(&mut w, true, false)?;
            nl.request(cmd::SA_ADD, &req)?;
        }
        "update" => {
            let (req, _) = parse(&mut w, false, true)?;
            nl.request(cmd::SA_UPDATE, &req)?;
        }
        "del" | "delete" => {
            let (req, _) = parse(&mut w, false, false)?;
            nl.request(cmd::SA_DEL, &req)?;
        }
        "get" => {
            let (req, _) = parse(&mut w, false, false)?;
            let r = nl.request(cmd::SA_GET, &req)?;
            let sa = decode(&r.first().ok_or_else(|| anyhow!("no reply"))?.payload)?;
            show(&[sa], json)?;
        }
        "list" | "show" => {
            let mut req = AttrWriter::default();
            while let Some(k) = w.next_key() {
                match k {
                    "show-keys" => {
                        req.flag(a::SHOW_KEYS);
                    }
                    _ => return Err(w.unknown(k, &["show-keys"])),
                }
            }
            let r = nl.request_flags(cmd::SA_GET, NLM_F_DUMP, &req)?;
            let sas = r
                .iter()
                .map(|m| decode(&m.payload))
                .collect::<Result<Vec<_>>>()?;
            show(&sas, json)?;
        }
        "flush" => {
            let mut req = AttrWriter::default();
            while let Some(k) = w.next_key() {
                match k {
                    "proto" => {
                        req.u8(a::SA_PROTO, words::ipsec_proto(w.value(k)?)?);
                    }
                    _ => return Err(w.unknown(k, &["proto"])),
                }
            }
            nl.request(cmd::SA_FLUSH, &req)?;
        }
        _ => bail!("unknown `sa {action}`; use add, update, del, get, list or flush"),
    }
    Ok(())
}

fn show(sas: &[SaInfo], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(sas)?);
    } else {
        print(sas);
    }
    Ok(())
}
