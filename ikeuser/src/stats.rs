//! `ikeuser stats` and `ikeuser getspi`.

use crate::netlink::attr::{self, AttrWriter};
use crate::netlink::Ripsec;
use crate::sa::decode_stats;
use crate::words::{self, Words};
use anyhow::{anyhow, Result};
use ripsec_proto::uapi::{attr as a, cmd};
use serde_json::json;

pub fn stats(nl: &mut Ripsec, json_out: bool) -> Result<()> {
    let r = nl.request(cmd::GET_STATS, &AttrWriter::default())?;
    let attrs = attr::parse(&r.first().ok_or_else(|| anyhow!("no reply"))?.payload)?;
    let get =
        |ty| attr::find(&attrs, ty).ok_or_else(|| anyhow!("stats reply lacks attribute {ty}"));
    let sas = get(a::SA_COUNT)?.u32()?;
    let sps = get(a::SP_COUNT)?.u32()?;
    let counters = decode_stats(&get(a::STATS)?)?;
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "sa_count": sas, "policy_count": sps, "counters": counters })
            )?
        );
    } else {
        println!("{sas} SAs, {sps} policies in this netns");
        for (k, v) in &counters {
            println!("  {k:<20} {v}");
        }
    }
    Ok(())
}

pub fn getspi(nl: &mut Ripsec, args: &[String], json_out: bool) -> Result<()> {
    let mut w = Words::new("getspi", args);
    let mut req = AttrWriter::default();
    let mut proto = None;
    while let Some(k) = w.next_key() {
        match k {
            "proto" => proto = Some(words::ipsec_proto(w.value(k)?)?),
            "dst" => {
                let (f, b) = words::family_bytes(&words::addr(k, w.value(k)?)?);
                req.u8(a::SA_FAMILY, f).bytes(a::SA_DST, &b);
            }
            "min" => {
                req.u32(a::SPI_MIN, words::number(k, w.value(k)?)?);
            }
            "max" => {
                req.u32(a::SPI_MAX, words::number(k, w.value(k)?)?);
            }
            _ => return Err(w.unknown(k, &["proto", "dst", "min", "max"])),
        }
    }
    req.u8(a::SA_PROTO, proto.unwrap_or(50));
    let r = nl.request(cmd::GETSPI, &req)?;
    let attrs = attr::parse(&r.first().ok_or_else(|| anyhow!("no reply"))?.payload)?;
    let spi = attr::find(&attrs, a::SA_SPI)
        .ok_or_else(|| anyhow!("reply lacks sa-spi"))?
        .u32()?;
    if json_out {
        println!("{}", json!({ "spi": spi }));
    } else {
        println!("spi 0x{spi:08x}");
    }
    Ok(())
}
