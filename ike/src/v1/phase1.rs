// SPDX-License-Identifier: GPL-2.0
//! What Main Mode and Aggressive Mode share: our SA offer and the choice among the peer's,
//! with the explanation when nothing fits; the keys (g^xy, SKEYID, the first IV);
//! HASH_I/HASH_R; the peer's expected identity; the SA's message header; the DPD Vendor ID.

use super::auth::skeyid;
use super::codes::{proto, ExchangeV1, PayloadV1, DOI_IPSEC, SIT_IDENTITY_ONLY};
use super::engine::IsakmpSa;
use super::ids::identity_of;
use super::keys::{hash_i, hash_r, phase1_iv, IsakmpKeys, Phase1HashInput};
use super::message::{chain_spans, BodyV1, FlagsV1, MessageV1, ISAKMP_HEADER_LEN};
use super::payload::{PayloadBodyV1, ProposalV1, SaV1, TransformV1};
use super::suite::{
    auth_method, auth_name, auth_of, describe_offer, normalized, p1_proposal, p1_transform, same_p1,
};
use crate::engine::{describe_suite, IkeProposal, Role};
use crate::secret::Secret;

const BLOCK: usize = 16;

/// A message's payload of one kind.
macro_rules! find {
    ($payloads:expr, $variant:ident) => {
        $payloads.iter().find_map(|p| match p {
            PayloadBodyV1::$variant(x) => Some(x),
            _ => None,
        })
    };
}
pub(super) use find;

impl IsakmpSa {
    pub(super) fn with_cookie(mut self, role: Role, cookie: [u8; 8]) -> Self {
        match role {
            Role::Initiator => self.cookie_i = cookie,
            Role::Responder => self.cookie_r = cookie,
        }
        self
    }

    /// A message of this SA with our cookies.
    pub(super) fn header(&self, exchange: ExchangeV1, message_id: u32, body: BodyV1) -> MessageV1 {
        MessageV1 {
            cookie_i: self.cookie_i,
            cookie_r: self.cookie_r,
            next_payload: PayloadV1::NONE,
            exchange,
            flags: FlagsV1::default(),
            message_id,
            body,
        }
    }

    pub(super) fn enc_key(&self) -> Result<Secret, String> {
        let keys = self.keys.as_ref().ok_or("no keys yet")?;
        Ok(Secret::from_slice(keys.enc_key.as_bytes()))
    }

    pub(super) fn prf(&self) -> Result<crate::keys::Prf, String> {
        Ok(self.suite.ok_or("no suite yet")?.prf)
    }
}

/// Our SA payload of phase 1 (its body kept for HASH_I and HASH_R). Aggressive Mode sends one
/// KE, so its transforms must share the first one's group.
pub(super) fn offer(sa: &mut IsakmpSa, aggressive: bool) -> Result<PayloadBodyV1, String> {
    let config = &sa.config;
    let method = auth_method(&config.config.auth);
    let group = config.config.ike_proposals.first().map(|p| p.dh);
    let transforms: Vec<TransformV1> = (1..)
        .zip(&config.config.ike_proposals)
        .filter(|(_, p)| !aggressive || Some(p.dh) == group)
        .filter_map(|(n, p)| p1_transform(n, p, config.isakmp_life, method))
        .collect();
    if transforms.is_empty() {
        return Err("no IKE proposal IKEv1 can carry: Main Mode takes AES-CBC with SHA-1 or SHA-2 (no AES-GCM, no AES-CMAC)".into());
    }
    let payload = PayloadBodyV1::Sa(SaV1 {
        doi: DOI_IPSEC,
        situation: SIT_IDENTITY_ONLY,
        proposals: vec![ProposalV1 {
            number: 1,
            protocol: proto::ISAKMP,
            spi: Vec::new(),
            transforms,
        }],
    });
    let mut body = Vec::new();
    payload
        .encode(&mut body)
        .map_err(|e| format!("our SA payload does not encode: {e}"))?;
    sa.sa_i = body;
    Ok(payload)
}

/// The Vendor ID that announces DPD (RFC 3706 §5.2); peers send R-U-THERE only to those
/// that sent it.
pub(super) fn dpd_vendor_id() -> PayloadBodyV1 {
    PayloadBodyV1::VendorId(vec![
        0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01,
        0x00,
    ])
}

/// The peer's identity if it is the one the connection expects.
pub(super) fn expected_peer(
    sa: &IsakmpSa,
    id: Option<&super::payload::IdV1>,
) -> Result<crate::identity::Identity, String> {
    let peer_id = id.and_then(identity_of);
    match peer_id {
        Some(id) if id == sa.config.config.remote_id => Ok(id),
        other => Err(format!(
            "the peer identified as {}, but connection {} expects {}",
            other.map_or("an unknown identity".into(), |i| i.to_string()),
            sa.config.config.name,
            sa.config.config.remote_id
        )),
    }
}

/// g^xy, SKEYID and its keys, and phase 1's first IV.
pub(super) fn derive(sa: &mut IsakmpSa) -> Result<(), String> {
    let suite = sa.suite.ok_or("no suite")?;
    let dh = sa.dh.as_ref().ok_or("no DH")?;
    let peer_value = if sa.role == Role::Initiator {
        &sa.g_xr
    } else {
        &sa.g_xi
    };
    let g_xy = dh
        .shared_secret(peer_value)
        .map_err(|e| format!("the peer's KE payload: {e}"))?;
    let prf = suite.prf;
    let skeyid = skeyid(sa, prf, g_xy.as_bytes())?;
    let enc_len = usize::from(suite.cipher.key_bits() / 8);
    let cookies = (&sa.cookie_i, &sa.cookie_r);
    sa.keys = Some(
        IsakmpKeys::derive(prf, skeyid, g_xy.as_bytes(), cookies, enc_len)
            .map_err(|e| e.to_string())?,
    );
    sa.iv = phase1_iv(prf, &sa.g_xi, &sa.g_xr, BLOCK).map_err(|e| e.to_string())?;
    Ok(())
}

/// HASH_I (`who` = initiator) or HASH_R over `id_body`.
pub(super) fn phase1_hash(sa: &IsakmpSa, who: Role, id_body: &[u8]) -> Result<Vec<u8>, String> {
    let keys = sa.keys.as_ref().ok_or("no keys")?;
    let input = Phase1HashInput {
        g_xi: &sa.g_xi,
        g_xr: &sa.g_xr,
        cookies: (&sa.cookie_i, &sa.cookie_r),
        sa_i: &sa.sa_i,
    };
    let prf = sa.prf()?;
    let h = match who {
        Role::Initiator => hash_i(prf, &keys.skeyid, &input, id_body),
        Role::Responder => hash_r(prf, &keys.skeyid, &input, id_body),
    };
    Ok(h.map_err(|e| e.to_string())?.as_bytes().to_vec())
}

/// The first transform of the peer's (in its order) that one of our proposals equals.
pub(super) fn choose_p1(
    offer: &SaV1,
    ours: &[IkeProposal],
    method: u16,
) -> Option<(TransformV1, IkeProposal)> {
    let proposal = offer.proposals.first()?;
    proposal.transforms.iter().find_map(|t| {
        let s = p1_proposal(t).filter(|_| auth_of(t) == Some(method))?;
        ours.iter().any(|o| same_p1(o, &s)).then(|| (t.clone(), s))
    })
}

/// Why no transform fits: what each side offered, in strongSwan's names.
pub(super) fn explain_p1(offer: &SaV1, ours: &[IkeProposal], method: u16) -> String {
    let names = |ps: Vec<Option<IkeProposal>>| {
        ps.into_iter()
            .map(|p| {
                p.map_or("(an algorithm IKEv1 here lacks)".to_string(), |p| {
                    describe_suite(&normalized(p).transforms())
                })
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let theirs = offer
        .proposals
        .iter()
        .flat_map(|p| p.transforms.iter().map(p1_proposal))
        .collect();
    let theirs_auth: Vec<u16> = offer
        .proposals
        .iter()
        .flat_map(|p| p.transforms.iter().filter_map(auth_of))
        .collect();
    let auth = if theirs_auth.contains(&method) {
        String::new()
    } else {
        format!(
            " (the peer authenticates with {}, we with {})",
            theirs_auth
                .first()
                .map_or("nothing".into(), |a| auth_name(*a)),
            auth_name(method)
        )
    };
    format!(
        "no proposal chosen: the peer offered {}; we accept {}{auth}",
        names(theirs),
        describe_offer(ours)
    )
}

/// The body of the first payload of `kind` in a plaintext message, as sent.
pub(super) fn raw_body(message: &MessageV1, bytes: &[u8], kind: PayloadV1) -> Option<Vec<u8>> {
    let chain = bytes.get(ISAKMP_HEADER_LEN..)?;
    let (spans, _) = chain_spans(message.next_payload, chain).ok()?;
    spans
        .into_iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, _, body)| body.to_vec())
}
