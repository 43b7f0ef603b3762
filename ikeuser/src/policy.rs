//! `ikeuser policy ...`: the SPD, in the spirit of `ip xfrm policy`.

use crate::netlink::attr::{self, AttrWriter};
use crate::netlink::{Ripsec, NLM_F_DUMP};
use crate::words::{self, Words};
use anyhow::{anyhow, bail, Result};
use ripsec_proto::uapi::{self, attr as a, cmd};
use serde::Serialize;

fn dir(s: &str) -> Result<u8> {
    match s {
        "out" => Ok(uapi::DIR_OUT),
        "in" => Ok(uapi::DIR_IN),
        "fwd" => Ok(uapi::DIR_FWD),
        _ => bail!("`dir` is out, in or fwd, not `{s}`"),
    }
}

fn dir_name(d: u8) -> &'static str {
    ["out", "in", "fwd"]
        .get(usize::from(d))
        .copied()
        .unwrap_or("?")
}

fn action_name(x: u8) -> &'static str {
    ["protect", "bypass", "discard"]
        .get(usize::from(x))
        .copied()
        .unwrap_or("?")
}

const ADD_WORDS: &[&str] = &[
    "dir", "priority", "src", "dst", "proto", "sport", "dport", "action", "tmpl",
];
const TMPL_WORDS: &[&str] = &["proto", "mode", "reqid", "src", "dst"];

fn parse_add(w: &mut Words<'_>) -> Result<AttrWriter> {
    let mut out = AttrWriter::default();
    let (mut d, mut src, mut dst, mut action) = (None, None, None, None);
    let (mut proto, mut sport, mut dport, mut tmpl) = (None, None, None, None::<AttrWriter>);
    let mut priority = None;
    while let Some(k) = w.next_key() {
        match k {
            "dir" => d = Some(dir(w.value(k)?)?),
            "priority" => priority = Some(words::number::<u32>(k, w.value(k)?)?),
            "src" => src = Some(words::prefix(k, w.value(k)?)?),
            "dst" => dst = Some(words::prefix(k, w.value(k)?)?),
            "proto" => proto = Some(words::ip_proto(w.value(k)?)?),
            "sport" => sport = Some(words::port_range(k, w.value(k)?)?),
            "dport" => dport = Some(words::port_range(k, w.value(k)?)?),
            "action" => {
                action = Some(match w.value(k)? {
                    "protect" => uapi::ACTION_PROTECT,
                    "bypass" | "allow" => uapi::ACTION_BYPASS,
                    "discard" | "block" => uapi::ACTION_DISCARD,
                    x => bail!("`action` is protect, bypass (allow) or discard (block), not `{x}`"),
                })
            }
            "tmpl" => {
                tmpl = Some(parse_tmpl(w)?);
                break;
            }
            _ => return Err(w.unknown(k, ADD_WORDS)),
        }
    }
    let d = d.ok_or_else(|| anyhow!("`policy add` needs `dir out|in|fwd`"))?;
    let action = action.unwrap_or(if tmpl.is_some() {
        uapi::ACTION_PROTECT
    } else {
        uapi::ACTION_BYPASS
    });
    if action == uapi::ACTION_PROTECT && tmpl.is_none() {
        bail!(
            "`action protect` needs `tmpl proto esp mode tunnel|transport [reqid N] [src A dst B]`"
        );
    }
    let family = match (src, dst) {
        (Some((s, _)), Some((t, _))) if s.is_ipv4() != t.is_ipv4() => {
            bail!("`src` and `dst` must both be IPv4 or both IPv6")
        }
        (Some((s, _)), _) | (None, Some((s, _))) => words::family_bytes(&s).0,
        (None, None) => {
            bail!("`policy add` needs `src PREFIX` or `dst PREFIX` (0.0.0.0/0 or ::/0 for any)")
        }
    };
    out.u8(a::SP_DIR, d)
        .u8(a::SP_ACTION, action)
        .u8(a::SEL_FAMILY, family);
    if let Some(p) = priority {
        out.u32(a::SP_PRIORITY, p);
    }
    if let Some((addr, len)) = src {
        out.bytes(a::SEL_SRC, &words::family_bytes(&addr).1)
            .u8(a::SEL_SRC_LEN, len);
    }
    if let Some((addr, len)) = dst {
        out.bytes(a::SEL_DST, &words::family_bytes(&addr).1)
            .u8(a::SEL_DST_LEN, len);
    }
    if let Some(p) = proto {
        out.u8(a::SEL_PROTO, p);
    }
    if let Some((lo, hi)) = sport {
        out.u16(a::SEL_SPORT_LO, lo).u16(a::SEL_SPORT_HI, hi);
    }
    if let Some((lo, hi)) = dport {
        out.u16(a::SEL_DPORT_LO, lo).u16(a::SEL_DPORT_HI, hi);
    }
    if let Some(t) = tmpl {
        out.buf.extend_from_slice(&t.buf);
    }
    Ok(out)
}

fn parse_tmpl(w: &mut Words<'_>) -> Result<AttrWriter> {
    let mut out = AttrWriter::default();
    let (mut src, mut dst) = (None, None);
    let mut tunnel = false;
    while let Some(k) = w.next_key() {
        match k {
            "proto" => {
                out.u8(a::TMPL_PROTO, words::ipsec_proto(w.value(k)?)?);
            }
            "mode" => {
                let m = words::mode(w.value(k)?)?;
                tunnel = m == uapi::MODE_TUNNEL;
                out.u8(a::TMPL_MODE, m);
            }
            "reqid" => {
                out.u32(a::TMPL_REQID, words::number(k, w.value(k)?)?);
            }
            "src" => src = Some(words::addr(k, w.value(k)?)?),
            "dst" => dst = Some(words::addr(k, w.value(k)?)?),
            _ => return Err(w.unknown(k, TMPL_WORDS)),
        }
    }
    match (src, dst) {
        (Some(s), Some(d)) => {
            let (fs, sb) = words::family_bytes(&s);
            let (fd, db) = words::family_bytes(&d);
            if fs != fd {
                bail!("tmpl `src` and `dst` must both be IPv4 or both IPv6");
            }
            out.u8(a::TMPL_FAMILY, fs)
                .bytes(a::TMPL_SRC, &sb)
                .bytes(a::TMPL_DST, &db);
        }
        (None, None) if tunnel => {
            bail!("a tunnel template needs `src ADDR dst ADDR` (the tunnel endpoints)")
        }
        (None, None) => {}
        _ => bail!("a tunnel template needs both `src` and `dst`"),
    }
    Ok(out)
}

#[derive(Serialize)]
pub struct PolicyInfo {
    pub id: u32,
    pub dir: &'static str,
    pub priority: u32,
    pub action: &'static str,
    pub src: String,
    pub dst: String,
    pub proto: String,
    pub sport: String,
    pub dport: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpl: Option<String>,
}

fn range(lo: u16, hi: u16) -> String {
    match (lo, hi) {
        (0, 65535) => "any".into(),
        (l, h) if l == h => l.to_string(),
        (l, h) => format!("{l}-{h}"),
    }
}

pub fn decode(payload: &[u8]) -> Result<PolicyInfo> {
    let attrs = attr::parse(payload)?;
    let get =
        |ty| attr::find(&attrs, ty).ok_or_else(|| anyhow!("policy reply lacks attribute {ty}"));
    let family = get(a::SEL_FAMILY)?.u8()?;
    let pfx = |at, lt| -> Result<String> {
        Ok(format!(
            "{}/{}",
            words::bytes_addr(family, get(at)?.data)?,
            get(lt)?.u8()?
        ))
    };
    let tmpl = match attr::find(&attrs, a::TMPL_PROTO) {
        None => None,
        Some(p) => {
            let mut t = format!(
                "proto {} mode {} reqid {}",
                if p.u8()? == 51 { "ah" } else { "esp" },
                words::mode_name(get(a::TMPL_MODE)?.u8()?),
                get(a::TMPL_REQID)?.u32()?
            );
            if let (Some(f), Some(s), Some(d)) = (
                attr::find(&attrs, a::TMPL_FAMILY),
                attr::find(&attrs, a::TMPL_SRC),
                attr::find(&attrs, a::TMPL_DST),
            ) {
                let f = f.u8()?;
                t += &format!(
                    " src {} dst {}",
                    words::bytes_addr(f, s.data)?,
                    words::bytes_addr(f, d.data)?
                );
            }
            Some(t)
        }
    };
    Ok(PolicyInfo {
        id: get(a::SP_ID)?.u32()?,
        dir: dir_name(get(a::SP_DIR)?.u8()?),
        priority: get(a::SP_PRIORITY)?.u32()?,
        action: action_name(get(a::SP_ACTION)?.u8()?),
        src: pfx(a::SEL_SRC, a::SEL_SRC_LEN)?,
        dst: pfx(a::SEL_DST, a::SEL_DST_LEN)?,
        proto: words::ip_proto_name(get(a::SEL_PROTO)?.u8()?),
        sport: range(get(a::SEL_SPORT_LO)?.u16()?, get(a::SEL_SPORT_HI)?.u16()?),
        dport: range(get(a::SEL_DPORT_LO)?.u16()?, get(a::SEL_DPORT_HI)?.u16()?),
        tmpl,
    })
}

fn show(ps: &[PolicyInfo], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(ps)?);
        return Ok(());
    }
    if ps.is_empty() {
        println!("no policies");
    }
    for p in ps {
        println!(
            "id {} dir {} priority {} action {}: src {} dst {} proto {} sport {} dport {}",
            p.id, p.dir, p.priority, p.action, p.src, p.dst, p.proto, p.sport, p.dport
        );
        if let Some(t) = &p.tmpl {
            println!("    tmpl {t}");
        }
    }
    Ok(())
}

fn id_only(w: &mut Words<'_>) -> Result<AttrWriter> {
    let mut out = AttrWriter::default();
    let mut id = None;
    while let Some(k) = w.next_key() {
        match k {
            "id" => id = Some(words::number::<u32>(k, w.value(k)?)?),
            _ => return Err(w.unknown(k, &["id"])),
        }
    }
    out.u32(
        a::SP_ID,
        id.ok_or_else(|| anyhow!("`{}` needs `id N` (see `ikeuser policy list`)", w.cmd()))?,
    );
    Ok(out)
}

pub fn run(nl: &mut Ripsec, action: &str, args: &[String], json: bool) -> Result<()> {
    let name = format!("policy {action}");
    let mut w = Words::new(&name, args);
    match action {
        "add" => {
            let req = parse_add(&mut w)?;
            let r = nl.request(cmd::SP_ADD, &req)?;
            let attrs = attr::parse(&r.first().ok_or_else(|| anyhow!("no reply"))?.payload)?;
            let id = attr::find(&attrs, a::SP_ID)
                .ok_or_else(|| anyhow!("reply lacks sp-id"))?
                .u32()?;
            if json {
                println!("{}", serde_json::json!({ "id": id }));
            } else {
                println!("policy {id} added");
            }
        }
        "del" | "delete" => {
            nl.request(cmd::SP_DEL, &id_only(&mut w)?)?;
        }
        "get" => {
            let r = nl.request(cmd::SP_GET, &id_only(&mut w)?)?;
            show(
                &[decode(
                    &r.first().ok_or_else(|| anyhow!("no reply"))?.payload,
                )?],
                json,
            )?;
        }
        "list" | "show" => {
            if let Some(k) = w.next_key() {
                return Err(w.unknown(k, &[]));
            }
            let r = nl.request_flags(cmd::SP_GET, NLM_F_DUMP, &AttrWriter::default())?;
            show(
                &r.iter()
                    .map(|m| decode(&m.payload))
                    .collect::<Result<Vec<_>>>()?,
                json,
            )?;
        }
        "flush" => {
            nl.request(cmd::SP_FLUSH, &AttrWriter::default())?;
        }
        _ => bail!("unknown `policy {action}`; use add, del, get, list or flush"),
    }
    Ok(())
}
