// SPDX-License-Identifier: GPL-2.0
//! AH (RFC 4302) in the data path: the ICV over a packet, and the inbound check. The ICV
//! input is a copy of the headers up to the end of AH with their mutable fields zeroed
//! (`proto/src/ah.rs`), then the rest of the packet as it is, then with ESN the high
//! sequence bits; the packet itself is never modified for it.

use crate::{
    ah::{self, AH_HDR_LEN},
    ffi::{self, MAX_DIGEST},
    headers::Chain,
    packet::crypto_failure,
    replay,
    sad::Sa,
    uapi::DropReason,
};
use kernel::prelude::*;

/// The longest run of headers up to the end of AH that can be authenticated: an IPv4 header
/// with options or an IPv6 header with a few hundred bytes of extension headers, plus AH.
const MAX_FRONT: usize = 512;

/// The ICV of `pkt`, a packet of `family` with `sa`'s AH header of `ah_len` bytes at `ah_at`
/// and sequence number `seq`. The first `sa.alg.icv_len` bytes are the ICV.
pub(crate) fn icv(
    sa: &Sa,
    pkt: &[u8],
    family: u8,
    ah_at: usize,
    ah_len: usize,
    seq: u64,
) -> Result<[u8; MAX_DIGEST], DropReason> {
    let hash = sa.hash().ok_or(DropReason::NoSa)?;
    let icv_len = usize::from(sa.alg.icv_len);
    if hash.digest_len() < icv_len {
        return Err(DropReason::Crypto);
    }
    let end = ah_at + ah_len;
    let head = pkt.get(..end).ok_or(DropReason::Malformed)?;
    let rest = &pkt[end..];
    let mut front = [0u8; MAX_FRONT];
    let front = front.get_mut(..end).ok_or(DropReason::Malformed)?;
    front.copy_from_slice(head);
    ah::icv_front(front, family, ah_at, icv_len).map_err(|_| DropReason::Malformed)?;
    let seq_hi = replay::seq_hi(seq).to_be_bytes();
    let esn: &[u8] = if sa.esn { &seq_hi } else { &[] };
    hash.digest(front, rest, esn).map_err(crypto_failure)
}

/// What an authenticated inbound ESP or AH packet carries.
pub(crate) struct Opened {
    /// Bytes after AH.
    pub(crate) inner_len: usize,
    /// AH's next header.
    pub(crate) next_header: u8,
    /// AH's length.
    pub(crate) hdr_len: usize,
}

/// Checks replay, then the ICV of the AH packet at `outer.l4_at` for `sa`; moves the replay
/// window once it is authentic (RFC 4302 §3.4.3, §3.4.4).
pub(crate) fn authenticate(sa: &Sa, pkt: &[u8], outer: &Chain) -> Result<Opened, DropReason> {
    let at = outer.l4_at;
    let h = pkt
        .get(at..outer.total_len)
        .and_then(ah::parse_header)
        .ok_or(DropReason::Malformed)?;
    let icv_len = usize::from(sa.alg.icv_len);
    if !ah::len_ok(h.len, icv_len, outer.family == crate::selector::AF_INET6) {
        return Err(DropReason::Malformed);
    }
    let seq = sa
        .runtime()
        .replay
        .check(h.seq_lo)
        .map_err(|_| DropReason::Replay)?;
    let pkt = &pkt[..outer.total_len];
    let want = icv(sa, pkt, outer.family, at, h.len, seq)?;
    let got = &pkt[at + AH_HDR_LEN..at + AH_HDR_LEN + icv_len];
    if !ffi::constant_time_eq(&want[..icv_len], got) {
        return Err(DropReason::Auth);
    }
    sa.runtime()
        .replay
        .accept(seq)
        .map_err(|_| DropReason::Replay)?;
    Ok(Opened {
        inner_len: outer.total_len - at - h.len,
        next_header: h.next_header,
        hdr_len: h.len,
    })
}
