//! `ikeuser monitor`: prints the module's events (EXPIRE, ACQUIRE, MAPPING) as they happen.

use crate::netlink::attr::{self, Attr};
use crate::netlink::Ripsec;
use crate::words::{bytes_addr, ip_proto_name, mode_name};
use anyhow::Result;
use ripsec_proto::uapi::{attr as a, cmd};
use serde_json::{json, Value};

fn addr(attrs: &[Attr<'_>], family: u8, ty: u16) -> Value {
    attr::find(attrs, ty)
        .and_then(|x| bytes_addr(family, x.data).ok())
        .map_or(Value::Null, |ip| json!(ip.to_string()))
}

fn num(attrs: &[Attr<'_>], ty: u16) -> u64 {
    attr::find(attrs, ty).map_or(0, |x| match x.data.len() {
        1 => x.u8().map_or(0, u64::from),
        2 => x.u16().map_or(0, u64::from),
        4 => x.u32().map_or(0, u64::from),
        _ => x.u64().unwrap_or(0),
    })
}

/// An event as JSON.
pub fn decode(cmd_id: u8, payload: &[u8]) -> Result<Value> {
    let attrs = attr::parse(payload)?;
    let n = |ty| num(&attrs, ty);
    Ok(match cmd_id {
        cmd::EXPIRE => {
            let family = n(a::SA_FAMILY) as u8;
            json!({
                "event": "expire",
                "hard": attr::find(&attrs, a::EXPIRE_HARD).is_some(),
                "spi": n(a::SA_SPI),
                "proto": ip_proto_name(n(a::SA_PROTO) as u8),
                "dst": addr(&attrs, family, a::SA_DST),
                "reqid": n(a::SA_REQID),
            })
        }
        cmd::ACQUIRE => {
            let (sf, tf) = (n(a::SEL_FAMILY) as u8, n(a::TMPL_FAMILY) as u8);
            json!({
                "event": "acquire",
                "policy": n(a::SP_ID),
                "proto": ip_proto_name(n(a::TMPL_PROTO) as u8),
                "reqid": n(a::TMPL_REQID),
                "mode": mode_name(n(a::TMPL_MODE) as u8),
                "tunnel_src": addr(&attrs, tf, a::TMPL_SRC),
                "tunnel_dst": addr(&attrs, tf, a::TMPL_DST),
                "src": addr(&attrs, sf, a::SEL_SRC),
                "dst": addr(&attrs, sf, a::SEL_DST),
                "ip_proto": ip_proto_name(n(a::SEL_PROTO) as u8),
                "sport": n(a::SEL_SPORT_LO),
                "dport": n(a::SEL_DPORT_LO),
            })
        }
        cmd::MAPPING => {
            let family = n(a::SA_FAMILY) as u8;
            json!({
                "event": "mapping",
                "spi": n(a::SA_SPI),
                "dst": addr(&attrs, family, a::SA_DST),
                "reqid": n(a::SA_REQID),
                "old_src": addr(&attrs, family, a::SA_SRC),
                "old_sport": n(a::SA_ENCAP_SPORT),
                "new_src": addr(&attrs, family, a::MAPPING_SRC),
                "new_sport": n(a::MAPPING_SPORT),
            })
        }
        c => json!({ "event": "unknown", "cmd": c }),
    })
}

/// One line a person can read.
pub fn describe(ev: &Value) -> String {
    let s = |k: &str| match &ev[k] {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    match ev["event"].as_str() {
        Some("expire") => {
            let (kind, what) = if ev["hard"] == json!(true) {
                ("hard", "the SA is removed")
            } else {
                ("soft", "rekey before the hard limit")
            };
            format!(
                "expire {kind}: SA {} spi 0x{:08x} to {} (reqid {}) reached a {kind} limit; {what}",
                s("proto"),
                ev["spi"].as_u64().unwrap_or(0),
                s("dst"),
                s("reqid"),
            )
        }
        Some("acquire") => {
            let tunnel = if ev["tunnel_dst"].is_null() {
                String::new()
            } else {
                format!(" via {} -> {}", s("tunnel_src"), s("tunnel_dst"))
            };
            format!(
                "acquire: {} {}:{} -> {}:{} matched policy {} ({} {} reqid {}{tunnel}) but no SA exists; the packet was dropped",
                s("ip_proto"),
                s("src"),
                s("sport"),
                s("dst"),
                s("dport"),
                s("policy"),
                s("proto"),
                s("mode"),
                s("reqid"),
            )
        }
        Some("mapping") => format!(
            "mapping: ESP in UDP for SA spi 0x{:08x} to {} (reqid {}) now comes from {}:{}, not {}:{}; the peer's NAT mapping changed (update the SA's peer to follow it)",
            ev["spi"].as_u64().unwrap_or(0),
            s("dst"),
            s("reqid"),
            s("new_src"),
            s("new_sport"),
            s("old_src"),
            s("old_sport"),
        ),
        _ => ev.to_string(),
    }
}

pub fn run(nl: &mut Ripsec, count: Option<u64>, json_out: bool) -> Result<()> {
    nl.subscribe()?;
    // On stderr, so the events stay the only output: scripts (and tests) wait for this line
    // before they cause the events they want to see.
    eprintln!("monitor: subscribed to the ripsec events of this network namespace");
    let mut seen = 0;
    while count.is_none_or(|c| seen < c) {
        let m = nl.next_event()?;
        let ev = decode(m.cmd, &m.payload)?;
        if json_out {
            println!("{ev}");
        } else {
            println!("{}", describe(&ev));
        }
        seen += 1;
    }
    Ok(())
}
