// SPDX-License-Identifier: GPL-2.0
//! What every hook shares: the header chain of a packet (walked over
//! as few bytes as the chain needs, pulled into the linear head), and packet and drop counting.

use crate::{
    ffi::Skb,
    headers::{self, Chain, ChainError},
    net_state::NetState,
    sad::Sa,
    uapi::{stats_attr as st, DropReason},
};

/// The header chain of `skb`, pulling more of it into the linear head while the walk needs
/// it. A broken or over-long chain is malformed; a head that cannot be pulled, no memory.
pub(crate) fn chain(skb: &mut Skb) -> Result<Chain, DropReason> {
    chain_gso(skb).map(|(c, _)| c)
}

/// [`chain`], and whether the packet is a GSO packet.
#[inline(always)]
pub(crate) fn chain_gso(skb: &mut Skb) -> Result<(Chain, bool), DropReason> {
    let mut want = headers::FIRST_PULL;
    loop {
        let w = skb.walk_head(want).map_err(|_| DropReason::NoMem)?;
        let walked = if w.gso {
            headers::walk_gso(w.head, w.len)
        } else {
            headers::walk(w.head, w.len)
        };
        match walked {
            Ok(c) => return Ok((c, w.gso)),
            // The walker asks for more than it had, never more than the packet.
            Err(ChainError::NeedMore(n)) if n > want && n <= w.len => want = n,
            Err(_) => return Err(DropReason::Malformed),
        }
    }
}

/// Why a crypto operation failed: memory, or the crypto API itself.
pub(crate) fn crypto_failure(e: kernel::error::Error) -> DropReason {
    if e == kernel::error::code::ENOMEM {
        DropReason::NoMem
    } else {
        DropReason::Crypto
    }
}

/// Counts a packet of `bytes` that `sa` sent (`out`) or received, on it and globally.
#[inline]
pub(crate) fn count_packet(state: &NetState, sa: &Sa, out: bool, bytes: usize) {
    let (packets, bytes_attr) = if out {
        (st::PACKETS_OUT, st::BYTES_OUT)
    } else {
        (st::PACKETS_IN, st::BYTES_IN)
    };
    let bytes = bytes as u64;
    sa.counters.add(packets, 1);
    sa.counters.add(bytes_attr, bytes);
    state.counters.add_packet(packets, bytes_attr, bytes);
}

/// Counts a drop globally and, if known, on the SA.
pub(crate) fn count_drop(state: &NetState, sa: Option<&Sa>, reason: DropReason) {
    state.counters.add(reason.attr(), 1);
    if let Some(sa) = sa {
        sa.counters.add(reason.attr(), 1);
    }
}
