//! `ikeuser bench-setup`: how fast a responder sets up IKE SAs (with their first Child SA).
//! The initiator is the same engines the daemon uses (IKEv2, or IKEv1 with `version = 1`),
//! without any kernel state of its own: it keeps `parallel` setups in flight, deletes each IKE
//! SA once its Child SA is negotiated (so the responder frees it), and counts the messages it
//! sends per setup (IKEv2: IKE_SA_INIT + IKE_AUTH = 2; IKEv1: three of Main Mode and two of
//! Quick Mode = 5).

use crate::config::{Config, Connection};
use crate::daemon::engines::Engines;
use anyhow::{bail, Context, Result};
use ripsec_ike::engine::{Output, SaId};
use ripsec_ike::v1::ExchangeV1;
use ripsec_ike::{ExchangeType, IkeHeader};
use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// What one run measured.
#[derive(serde::Serialize)]
pub struct SetupRate {
    pub established: u64,
    pub failed: u64,
    pub seconds: f64,
    pub per_second: f64,
    /// Setup messages sent per established IKE SA, retransmissions included (IKEv2: 2 at
    /// least, IKE_SA_INIT and IKE_AUTH; IKEv1 Main Mode and Quick Mode: 5).
    pub requests_per_setup: f64,
    pub median_ms: f64,
}

/// An IKE_SA_INIT or IKE_AUTH request, or an IKEv1 Main, Aggressive or Quick Mode message.
fn is_setup_request(bytes: &[u8]) -> bool {
    if bytes.get(17).is_some_and(|v| v >> 4 == 1) {
        let setup = [ExchangeV1::MAIN, ExchangeV1::AGGRESSIVE, ExchangeV1::QUICK];
        return bytes
            .get(18)
            .is_some_and(|x| setup.iter().any(|e| e.0 == *x));
    }
    IkeHeader::parse(bytes).is_ok_and(|h| {
        !h.flags.response
            && (h.exchange_type == ExchangeType::IKE_SA_INIT
                || h.exchange_type == ExchangeType::IKE_AUTH)
    })
}

/// Runs `count` setups of `conn` against its remote_addr, `parallel` at a time.
pub fn run(cfg: &Config, conn: &Connection, count: u64, parallel: u64) -> Result<SetupRate> {
    if count == 0 || parallel == 0 {
        bail!("--count and --parallel must be at least 1");
    }
    let sock = UdpSocket::bind((conn.local, cfg.port)).with_context(|| {
        format!(
            "cannot bind {}:{} (stop the daemon there first)",
            conn.local, cfg.port
        )
    })?;
    sock.set_read_timeout(Some(Duration::from_millis(20)))?;
    let peer = SocketAddr::new(conn.remote, cfg.port);
    let local = SocketAddr::new(conn.local, cfg.port);
    let mut engine = Engines::new(cfg.retransmit);
    let start = Instant::now();
    let mut started: BTreeMap<SaId, Instant> = BTreeMap::new();
    let (mut launched, mut established, mut failed, mut closed, mut requests) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut latencies = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = start + Duration::from_secs(600);
    while closed + failed < count {
        if Instant::now() > deadline {
            bail!("gave up after 600 s: {established} established, {failed} failed");
        }
        while launched < count && launched - (closed + failed) < parallel {
            let id = engine.initiate_child(start.elapsed(), conn, 0, peer, local);
            started.insert(id, Instant::now());
            launched += 1;
        }
        while let Some(o) = engine.poll_output() {
            match o {
                Output::Send { to, bytes, .. } => {
                    if is_setup_request(&bytes) {
                        requests += 1;
                    }
                    sock.send_to(&bytes, to)?;
                }
                Output::InstallChild { sa, .. } => {
                    established += 1;
                    if let Some(t) = started.get(&sa) {
                        latencies.push(t.elapsed());
                    }
                    engine.delete(start.elapsed(), sa);
                }
                Output::Closed { .. } => closed += 1,
                Output::Failed { reason, .. } => {
                    failed += 1;
                    eprintln!("setup failed: {reason}");
                }
                _ => {}
            }
        }
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => engine.handle_datagram(
                start.elapsed(),
                from,
                local,
                buf.get(..n).unwrap_or_default(),
            ),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.into()),
        }
        engine.tick(start.elapsed());
    }
    let seconds = start.elapsed().as_secs_f64();
    latencies.sort();
    let median_ms = latencies
        .get(latencies.len() / 2)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    Ok(SetupRate {
        established,
        failed,
        seconds,
        per_second: established as f64 / seconds,
        requests_per_setup: if established == 0 {
            0.0
        } else {
            requests as f64 / established as f64
        },
        median_ms,
    })
}
