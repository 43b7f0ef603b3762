// SPDX-License-Identifier: GPL-2.0
//! A snapshot of the IKE SAs and their Child SAs, for status displays.

use std::net::SocketAddr;
use std::time::Duration;

use super::ike_sa::{IkeSa, State};
use super::nat::NatState;
use super::proposal::describe_suite;
use super::selectors::describe_ts;
use super::types::{Mode, Role, SaId};
use crate::identity::Identity;

/// One Child SA in [`IkeSaStatus`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildStatus {
    /// The name of its child configuration.
    pub child: String,
    /// SPI of packets we receive.
    pub inbound_spi: u32,
    /// SPI of packets we send.
    pub outbound_spi: u32,
    /// The ESP transforms, e.g. "AES_GCM_16_256" or "NULL/HMAC_SHA2_256_128".
    pub cipher: String,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Our side's traffic selectors, e.g. "10.1.0.0/24".
    pub ts_local: String,
    /// The peer's side's traffic selectors.
    pub ts_remote: String,
    /// When it was installed.
    pub installed_at: Duration,
}

/// One IKE SA as reported by [`super::Engine::status`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IkeSaStatus {
    /// Its id.
    pub id: SaId,
    /// The name of its [`super::Config`] (empty while a responder does not know it yet).
    pub config: String,
    /// Our role.
    pub role: Role,
    /// Where it stands, e.g. "established".
    pub state: &'static str,
    /// Our IKE SPI.
    pub local_spi: [u8; 8],
    /// The peer's IKE SPI (zero until known).
    pub remote_spi: [u8; 8],
    /// The peer's address.
    pub peer: SocketAddr,
    /// Our address.
    pub local: SocketAddr,
    /// What NAT detection found (RFC 7296 §2.23).
    pub nat: NatState,
    /// Its Child SAs carry ESP in UDP (a NAT was found, or encapsulation is forced).
    pub encap: bool,
    /// The peer's authenticated identity, once established.
    pub peer_id: Option<Identity>,
    /// How the peer authenticated: "psk" or "pubkey SUBJECT" (empty until established).
    pub auth: String,
    /// The negotiated suite, e.g. "AES_GCM_16_128/PRF_HMAC_SHA2_256/ECP_256" (empty before).
    pub proposal: String,
    /// When it was established.
    pub established_at: Option<Duration>,
    /// Its Child SAs.
    pub children: Vec<ChildStatus>,
}

/// The IKE SAs (closed ones excluded), in creation order.
pub(super) fn status(sas: &[IkeSa]) -> Vec<IkeSaStatus> {
    sas.iter()
        .filter(|sa| !matches!(sa.state, State::Closed))
        .map(one)
        .collect()
}

fn one(sa: &IkeSa) -> IkeSaStatus {
    let (local_spi, remote_spi) = match sa.role {
        Role::Initiator => (sa.spi_i, sa.spi_r),
        Role::Responder => (sa.spi_r, sa.spi_i),
    };
    let state = if sa.rekeyed_to.is_some() {
        "rekeyed"
    } else if sa.redundant {
        "redundant (lost a rekey collision)"
    } else if sa.standby_for.is_some() {
        "new (rekey collision unresolved)"
    } else {
        sa.state.name()
    };
    let up = sa.state.established();
    let auth = match &sa.state {
        State::Failed(failed) => failed.peer_auth.clone(),
        _ => up.map(|up| up.peer_auth.clone()),
    };
    let config = sa.state.config();
    IkeSaStatus {
        id: sa.id,
        config: sa.config_name(),
        role: sa.role,
        state,
        local_spi,
        remote_spi,
        peer: sa.peer,
        local: sa.local,
        nat: sa.nat,
        encap: sa.encap,
        peer_id: up.map(|up| up.peer_id.clone()),
        auth: auth.unwrap_or_default(),
        proposal: sa
            .state
            .suite()
            .map(|p| describe_suite(&p.transforms()))
            .unwrap_or_default(),
        established_at: up.map(|up| up.at),
        children: sa
            .children
            .iter()
            .map(|c| ChildStatus {
                child: config
                    .and_then(|k| k.children.get(c.child))
                    .map(|k| k.name.clone())
                    .unwrap_or_default(),
                inbound_spi: c.inbound_spi,
                outbound_spi: c.outbound_spi,
                cipher: describe_suite(&c.cipher.transforms()),
                mode: c.mode,
                ts_local: describe_ts(&c.ts_local),
                ts_remote: describe_ts(&c.ts_remote),
                installed_at: c.installed_at,
            })
            .collect(),
    }
}
