// SPDX-License-Identifier: GPL-2.0
//! MIGRATE: a peer behind a NAT now comes from a new address (RFC 7296 §2.23 lets IKE follow
//! it). The SAs and tunnel templates of one reqid follow too, keeping keys, lifetimes,
//! counters, sequence numbers and replay windows, as XFRM_MSG_MIGRATE does for strongSwan.

use crate::{net_state::NetState, sad::Sa};
use kernel::{prelude::*, sync::Arc};

/// Sequence numbers a moved outbound SA skips: the old copy may still send a few packets
/// while the data path switches over, and no number may go out twice.
const SEQ_GAP: u64 = 1024;

/// What to move.
pub(crate) struct Request {
    /// The SAs and templates of this reqid.
    pub(crate) reqid: u32,
    /// Address family of `old` and `new`.
    pub(crate) family: u8,
    /// The peer's old address.
    pub(crate) old: [u8; 16],
    /// Its new address.
    pub(crate) new: [u8; 16],
    /// The peer's new UDP port, for SAs with ESP in UDP.
    pub(crate) dport: Option<u16>,
}

/// How much moved.
pub(crate) struct Moved {
    /// SAs.
    pub(crate) sas: usize,
    /// Policies.
    pub(crate) policies: usize,
}

/// A copy of `sa` moved as `req` says, if `req` concerns it.
fn moved_copy(sa: &Sa, req: &Request) -> Result<Option<Arc<Sa>>> {
    let outbound = sa.id.dst == req.old;
    let inbound = sa.src == req.old;
    if sa.reqid != req.reqid || sa.id.family != req.family || !(outbound || inbound) {
        return Ok(None);
    }
    let src = if inbound { req.new } else { sa.src };
    let dst = if outbound { req.new } else { sa.id.dst };
    // Ports: outbound (ours, the peer's); inbound (the peer's, ours).
    let encap = sa.encap.as_ref().map(|e| match (e.ports(), req.dport) {
        ((s, _), Some(p)) if outbound => (s, p),
        ((_, d), Some(p)) => (p, d),
        (ports, None) => ports,
    });
    sa.moved((src, dst), encap, SEQ_GAP).map(Some)
}

/// Moves the SAs and templates `req` names. Every copy is made before anything changes; then
/// each SA is replaced, the policies are published, and the old outbound SAs retire.
pub(crate) fn migrate(state: &NetState, req: &Request) -> Result<Moved> {
    let mut cfg = state.config.lock();
    let mut pairs = KVec::new();
    let (mut slot, mut pos) = (0u32, 0usize);
    while let Some(sa) = state.sad.next(&mut slot, &mut pos) {
        if let Some(copy) = moved_copy(&sa, req)? {
            // Refused before anything moved: the new id is another SA's.
            if copy.id != sa.id && state.sad.get(&copy.id).is_some() {
                return Err(EEXIST);
            }
            pairs.push((sa, copy), GFP_KERNEL)?;
        }
    }
    for (old, new) in pairs.iter() {
        state.sad.replace(old, new)?;
    }
    let policies = cfg
        .spd
        .migrate(&state.spd, (req.reqid, req.family), &req.old, &req.new)?;
    for (old, _) in pairs.iter() {
        state.sad.retire_out(old)?;
    }
    drop(cfg);
    Ok(Moved {
        sas: pairs.len(),
        policies,
    })
}
