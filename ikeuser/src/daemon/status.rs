//! `ikeuser status`: IKE SAs and Child SAs with the module's per-SA counters.

use super::Daemon;
use crate::config::StartAction;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Instant;

fn counters(d: &mut Daemon, dst: std::net::IpAddr, proto: u8, spi: u32) -> Value {
    match d.kernel.get_sa(dst, proto, spi) {
        Ok(info) => json!(info.stats),
        Err(e) => json!({ "error": format!("{e:#}") }),
    }
}

/// The daemon's state as JSON (the `--json` output of `ikeuser status`).
pub fn collect(d: &mut Daemon) -> Value {
    let engine: BTreeMap<u64, _> = d.engine.status().into_iter().map(|s| (s.id.0, s)).collect();
    // The module's counters need `d.kernel` mutably: look them up after the JSON is built.
    let mut lookups = Vec::new();
    let mut ike_sas = Vec::new();
    for (id, rec) in &d.ike {
        let st = engine.get(&id.0);
        let mut children = Vec::new();
        for c in d.children.of_sa(*id) {
            lookups.push((
                ike_sas.len(),
                children.len(),
                c.proto,
                c.local,
                c.inbound_spi,
                c.peer,
                c.outbound_spi,
            ));
            children.push(json!({
                "name": c.child,
                "mode": c.mode.name(),
                "proto": if c.proto == ripsec_proto::uapi::PROTO_AH { "ah" } else { "esp" },
                "alg": c.alg,
                "spi_in": format!("0x{:08x}", c.inbound_spi),
                "spi_out": format!("0x{:08x}", c.outbound_spi),
                "local_ts": c.ts_local,
                "remote_ts": c.ts_remote,
                "age_secs": c.installed.elapsed().as_secs(),
                "rekey_in_secs": c.soft.secs.map(|t| t.saturating_sub(c.installed.elapsed().as_secs())),
                "expires_in_secs": c.hard.secs.map(|t| t.saturating_sub(c.installed.elapsed().as_secs())),
                "rekey_bytes": c.soft.bytes,
                "life_bytes": c.hard.bytes,
                "rekeying": c.rekeying,
                "encap": c.encap.map(|(ours, peers)| json!({ "sport": ours, "dport": peers })),
            }));
        }
        ike_sas.push(json!({
            "id": id.0,
            "conn": rec.conn,
            "role": if rec.initiator { "initiator" } else { "responder" },
            "state": st.map_or_else(|| "unknown".to_string(), |s| s.state.to_string()),
            "proposal": st.map(|s| s.proposal.clone()),
            "peer": st.map(|s| s.peer.to_string()),
            "peer_id": st.and_then(|s| s.peer_id.as_ref()).map(ToString::to_string),
            "peer_auth": st.map(|s| s.auth.clone()).filter(|a| !a.is_empty()),
            "nat": st.map(|s| s.nat.describe()),
            "local": st.map(|s| s.local.to_string()),
            "encap": st.map(|s| s.encap),
            "age_secs": rec.established.map(|t| t.elapsed().as_secs()),
            "rekey_in_secs": rec.rekey_at.map(|t| t.saturating_duration_since(Instant::now()).as_secs()),
            "children": children,
        }));
    }
    for (sa, child, proto, local, spi_in, peer, spi_out) in lookups {
        let inbound = counters(d, local, proto, spi_in);
        let outbound = counters(d, peer, proto, spi_out);
        let c = &mut ike_sas[sa]["children"][child];
        c["in"] = inbound;
        c["out"] = outbound;
    }
    let conns: Vec<Value> = d
        .cfg
        .connections
        .iter()
        .map(|c| {
            let sas: Vec<&super::IkeRecord> = d
                .ike
                .values()
                .filter(|r| r.conn.as_deref() == Some(c.name.as_str()))
                .collect();
            let state = if sas.iter().any(|r| r.established.is_some()) {
                "up"
            } else if !sas.is_empty() {
                "connecting"
            } else if c.start == StartAction::Trap {
                "trap"
            } else {
                "down"
            };
            json!({
                "name": c.name,
                "local": c.local.to_string(),
                "remote": c.remote.to_string(),
                "start": c.start,
                "state": state,
                "children": c.children.iter().map(|ch| json!({
                    "name": ch.name,
                    "mode": ch.mode.name(),
                    "local_ts": ch.local_ts.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "remote_ts": ch.remote_ts.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let responder = json!(d.engine.responder_load());
    json!({ "connections": conns, "ike_sas": ike_sas, "responder": responder })
}

/// "IKE responder: 3 half-open IKE SAs, COOKIEs demanded (from 64 half-open on)".
fn responder_line(v: &Value) -> Option<String> {
    let r = v.get("responder")?;
    let half_open = r["half_open"].as_u64()?;
    let threshold = r["cookie_threshold"].as_u64()?;
    let cookies = if r["cookies_demanded"] == Value::Bool(true) {
        "COOKIEs demanded"
    } else {
        "no COOKIEs demanded"
    };
    Some(format!(
        "IKE responder: {half_open} half-open IKE SAs, {cookies} (from {threshold} half-open on)"
    ))
}

fn nonzero_drops(v: &Value) -> String {
    let Some(m) = v.as_object() else {
        return String::new();
    };
    let drops: Vec<String> = m
        .iter()
        .filter(|(k, n)| k.starts_with("drop") && n.as_u64().unwrap_or(0) > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if drops.is_empty() {
        String::new()
    } else {
        format!(", {}", drops.join(", "))
    }
}

fn traffic(v: &Value, dir: &str) -> String {
    format!(
        "{} packets, {} bytes{}",
        v[format!("packets-{dir}")].as_u64().unwrap_or(0),
        v[format!("bytes-{dir}")].as_u64().unwrap_or(0),
        nonzero_drops(v)
    )
}

/// Prints the status a person reads.
pub fn print(v: &Value) {
    let s = |x: &Value| x.as_str().map_or_else(|| x.to_string(), str::to_string);
    if let Some(line) = responder_line(v) {
        println!("{line}");
    }
    for c in v["connections"].as_array().into_iter().flatten() {
        println!(
            "{}: {} ({} -> {}, start {})",
            s(&c["name"]),
            s(&c["state"]),
            s(&c["local"]),
            s(&c["remote"]),
            s(&c["start"])
        );
        for ch in c["children"].as_array().into_iter().flatten() {
            let list = |v: &Value| {
                let all: Vec<String> = v.as_array().into_iter().flatten().map(s).collect();
                all.join(", ")
            };
            println!(
                "  child {}: {}, {} === {}",
                s(&ch["name"]),
                s(&ch["mode"]),
                list(&ch["local_ts"]),
                list(&ch["remote_ts"])
            );
        }
    }
    for sa in v["ike_sas"].as_array().into_iter().flatten() {
        let age = sa["age_secs"]
            .as_u64()
            .map_or_else(String::new, |a| format!(", up {a} s"));
        println!(
            "IKE SA #{} {}: {} {} with {} [{}]{age}",
            sa["id"],
            s(&sa["conn"]),
            s(&sa["state"]),
            s(&sa["role"]),
            s(&sa["peer"]),
            s(&sa["peer_id"]),
        );
        if let Some(p) = sa["proposal"].as_str() {
            println!("  {p}");
        }
        if let Some(t) = sa["rekey_in_secs"].as_u64() {
            println!("  IKE SA rekey in {t} s");
        }
        if let Some(a) = sa["peer_auth"].as_str() {
            println!("  peer authenticated by {a}");
        }
        if let Some(n) = sa["nat"].as_str() {
            let udp = if sa["encap"] == Value::Bool(true) {
                format!(
                    "; IKE on {} <-> {}, ESP in UDP",
                    s(&sa["local"]),
                    s(&sa["peer"])
                )
            } else {
                String::new()
            };
            println!("  NAT: {n}{udp}");
        }
        for c in sa["children"].as_array().into_iter().flatten() {
            println!(
                "  child {}: {} {}{}, spi in {} out {}, up {} s{}",
                s(&c["name"]),
                s(&c["mode"]),
                if c["proto"] == "ah" { "AH " } else { "" },
                s(&c["alg"]),
                s(&c["spi_in"]),
                s(&c["spi_out"]),
                c["age_secs"],
                if c["rekeying"] == Value::Bool(true) {
                    ", rekeying"
                } else {
                    ""
                }
            );
            println!("    {} === {}", s(&c["local_ts"]), s(&c["remote_ts"]));
            if let Some(e) = c["encap"].as_object() {
                println!("    ESP in UDP, port {} -> {}", e["sport"], e["dport"]);
            }
            println!(
                "    {}",
                lifetimes(&c["rekey_in_secs"], &c["expires_in_secs"])
            );
            if c["rekey_bytes"].is_u64() || c["life_bytes"].is_u64() {
                println!("    {}", byte_limits(&c["rekey_bytes"], &c["life_bytes"]));
            }
            println!("    in:  {}", traffic(&c["in"], "in"));
            println!("    out: {}", traffic(&c["out"], "out"));
        }
    }
}

/// "rekey in 3240 s, expires in 3540 s" (or "no rekey, no expiry" for unlimited SAs).
fn lifetimes(rekey: &Value, expire: &Value) -> String {
    limits(
        (rekey, "rekey in", "no rekey"),
        (expire, "expires in", "no expiry"),
        "s",
    )
}

/// "rekey after 1000000 bytes, expires after 2000000 bytes".
fn byte_limits(rekey: &Value, expire: &Value) -> String {
    limits(
        (rekey, "rekey after", "no rekey by bytes"),
        (expire, "expires after", "no expiry by bytes"),
        "bytes",
    )
}

/// Two limits, each "WHAT N UNIT", or its NONE when it has no number.
fn limits(soft: (&Value, &str, &str), hard: (&Value, &str, &str), unit: &str) -> String {
    let part = |(v, what, none): (&Value, &str, &str)| {
        v.as_u64()
            .map_or_else(|| none.to_string(), |n| format!("{what} {n} {unit}"))
    };
    format!("{}, {}", part(soft), part(hard))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::engines::ResponderLoad;

    fn status_with(load: ResponderLoad) -> Value {
        json!({ "connections": [], "ike_sas": [], "responder": load })
    }

    #[test]
    fn responder_load_in_json_and_text() {
        let calm = status_with(ResponderLoad {
            half_open: 3,
            cookie_threshold: 64,
            cookies_demanded: false,
        });
        assert_eq!(calm["responder"]["half_open"], 3);
        assert_eq!(calm["responder"]["cookie_threshold"], 64);
        assert_eq!(calm["responder"]["cookies_demanded"], false);
        assert_eq!(
            responder_line(&calm).as_deref(),
            Some("IKE responder: 3 half-open IKE SAs, no COOKIEs demanded (from 64 half-open on)")
        );
        let flooded = status_with(ResponderLoad {
            half_open: 64,
            cookie_threshold: 64,
            cookies_demanded: true,
        });
        assert_eq!(
            responder_line(&flooded).as_deref(),
            Some("IKE responder: 64 half-open IKE SAs, COOKIEs demanded (from 64 half-open on)")
        );
        // An older daemon's status has no responder part: no line.
        assert_eq!(responder_line(&json!({ "ike_sas": [] })), None);
    }

    #[test]
    fn a_fresh_daemon_engine_demands_no_cookies() {
        let engines = crate::daemon::engines::Engines::new(Default::default());
        let load = engines.responder_load();
        assert_eq!((load.half_open, load.cookies_demanded), (0, false));
        assert_eq!(
            load.cookie_threshold,
            ripsec_ike::engine::DEFAULT_COOKIE_THRESHOLD
        );
    }
}
