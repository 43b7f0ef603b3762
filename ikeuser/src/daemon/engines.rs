//! The IKEv2 and IKEv1 engines behind one face: a datagram goes to the engine of the major
//! version in its header, a command to the engine that owns the SA, and outputs of both come
//! out in one stream.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ripsec_ike::crypto::OsRandom;
use ripsec_ike::engine::{Engine, IkeSaStatus, Output, RetransmitPolicy, SaId, SpiAllocator};
use ripsec_ike::v1::{ConfigV1, EngineV1};

use super::engine_config;
use crate::config::Connection;

/// How long an ISAKMP SA lives, and an IPsec SA whose child names no `life_time`
/// (strongSwan's IKEv1 defaults: 3 h and 1 h).
const ISAKMP_LIFE: Duration = Duration::from_secs(3 * 3600);
const IPSEC_LIFE: Duration = Duration::from_secs(3600);

/// How busy the IKEv2 responder is (RFC 7296 §2.6), for `ikeuser status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ResponderLoad {
    /// Responder IKE SAs waiting for IKE_AUTH.
    pub half_open: usize,
    /// The number of half-open IKE SAs from which on COOKIEs are demanded.
    pub cookie_threshold: usize,
    /// Whether IKE_SA_INIT requests without a valid COOKIE are answered with a demand for one.
    pub cookies_demanded: bool,
}

pub struct Engines {
    v2: Engine,
    v1: EngineV1,
}

/// The engine's view of an IKEv1 connection.
pub fn config_v1(conn: &Connection) -> ConfigV1 {
    ConfigV1 {
        config: engine_config(conn),
        peer: conn.remote,
        isakmp_life: ISAKMP_LIFE,
        ipsec_life: IPSEC_LIFE,
        aggressive: conn.aggressive,
    }
}

impl Engines {
    pub fn new(policy: RetransmitPolicy) -> Self {
        Self {
            v2: Engine::with_policy(Box::new(OsRandom), policy),
            v1: EngineV1::new(Box::new(OsRandom), policy),
        }
    }

    pub fn set_wall_clock(&mut self, unix_seconds: u64) {
        self.v2.set_wall_clock(unix_seconds);
        self.v1.set_wall_clock(unix_seconds);
    }

    /// Demands COOKIEs from IKEv2 initiators from `threshold` half-open IKE SAs on.
    pub fn set_cookie_threshold(&mut self, threshold: usize) {
        self.v2.set_cookie_threshold(threshold);
    }

    pub fn set_natt_port(&mut self, port: u16) {
        self.v2.set_natt_port(port);
        self.v1.set_natt_port(port);
    }

    pub fn set_spi_allocators(&mut self, v2: Box<dyn SpiAllocator>, v1: Box<dyn SpiAllocator>) {
        self.v2.set_spi_allocator(v2);
        self.v1.set_spi_allocator(v1);
    }

    pub fn add_config(&mut self, conn: &Connection) {
        if conn.version == 1 {
            self.v1.add_config(config_v1(conn));
        } else {
            self.v2.add_config(engine_config(conn));
        }
    }

    /// ISAKMP (IKEv1) has major version 1 in the upper nibble of byte 17, IKEv2 has 2.
    pub fn handle_datagram(
        &mut self,
        now: Duration,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
    ) {
        match bytes.get(17).map(|v| v >> 4) {
            Some(1) => self.v1.handle_datagram(now, from, to, bytes),
            _ => self.v2.handle_datagram(now, from, to, bytes),
        }
    }

    pub fn initiate_child(
        &mut self,
        now: Duration,
        conn: &Connection,
        first: usize,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> SaId {
        if conn.version == 1 {
            return self.v1.initiate(now, config_v1(conn), first, local);
        }
        self.v2
            .initiate_child(now, engine_config(conn), first, peer, local)
    }

    pub fn next_timeout(&self) -> Option<Duration> {
        match (self.v2.next_timeout(), self.v1.next_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn tick(&mut self, now: Duration) {
        self.v2.tick(now);
        self.v1.tick(now);
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.v2.poll_output().or_else(|| self.v1.poll_output())
    }

    /// The IKEv2 responder's load: half-open IKE SAs, and whether COOKIEs are demanded.
    pub fn responder_load(&self) -> ResponderLoad {
        ResponderLoad {
            half_open: self.v2.half_open(),
            cookie_threshold: self.v2.cookie_threshold(),
            cookies_demanded: self.v2.cookies_demanded(),
        }
    }

    pub fn status(&self) -> Vec<IkeSaStatus> {
        let mut all = self.v2.status();
        all.extend(self.v1.status());
        all
    }

    pub fn delete(&mut self, now: Duration, sa: SaId) {
        if EngineV1::owns(sa) {
            self.v1.delete(now, sa);
        } else {
            self.v2.delete(now, sa);
        }
    }

    pub fn delete_child(&mut self, now: Duration, sa: SaId, inbound_spi: u32) {
        if EngineV1::owns(sa) {
            self.v1.delete_child(now, sa, inbound_spi);
        } else {
            self.v2.delete_child(now, sa, inbound_spi);
        }
    }

    pub fn create_child(&mut self, now: Duration, sa: SaId, index: usize) -> bool {
        if EngineV1::owns(sa) {
            return self.v1.create_child(now, sa, index);
        }
        self.v2.create_child(now, sa, index)
    }

    pub fn rekey_child(&mut self, now: Duration, sa: SaId, inbound_spi: u32) -> bool {
        if EngineV1::owns(sa) {
            return self.v1.rekey_child(now, sa, inbound_spi);
        }
        self.v2.rekey_child(now, sa, inbound_spi)
    }

    /// IKEv1 has no phase 1 rekey exchange: a new ISAKMP SA takes the Child SAs over.
    pub fn rekey_ike(&mut self, now: Duration, sa: SaId) -> Option<SaId> {
        if EngineV1::owns(sa) {
            return self.v1.rekey_ike(now, sa);
        }
        self.v2.rekey_ike(now, sa)
    }

    pub fn follow_peer_port(&mut self, sa: SaId, peer: SocketAddr) {
        if EngineV1::owns(sa) {
            self.v1.follow_peer_port(sa, peer);
        } else {
            self.v2.follow_peer_port(sa, peer);
        }
    }

    pub fn set_encap_peers(&mut self, peers: Vec<IpAddr>) {
        self.v2.set_encap_peers(peers);
    }
}
