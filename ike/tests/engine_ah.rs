// SPDX-License-Identifier: GPL-2.0
//! AH Child SAs (`ah_proposals`): negotiated in IKE_AUTH and CREATE_CHILD_SA with protocol AH
//! and an INTEG transform alone, keyed with the HMAC key only, rekeyed and deleted by AH SPI;
//! an ESP offer against AH is refused with an explanation that names both.

mod common;
mod engine_sim;

use engine_sim::*;
use ripsec_ike::engine::{ChildError, Config, Error, EspCipher, EspInteg, EspProposal};

fn ah(integ: EspInteg) -> EspProposal {
    EspProposal {
        cipher: EspCipher::Ah { integ },
    }
}

/// alice and bob with one AH child each: alice offers SHA-512 then SHA-256, bob takes SHA-256.
fn ah_configs() -> (Config, Config) {
    let (mut alice, mut bob) = configs();
    alice.children[0].esp_proposals = vec![ah(EspInteg::Sha512_256), ah(EspInteg::Sha256_128)];
    bob.children[0].esp_proposals = vec![ah(EspInteg::Sha256_128)];
    (alice, bob)
}

#[test]
fn an_ah_child_is_negotiated_rekeyed_and_deleted() {
    let (alice, bob) = ah_configs();
    let mut sim = established(41, alice, bob);
    let (i, r) = assert_one_live_child(&sim);
    let sha256 = EspCipher::Ah {
        integ: EspInteg::Sha256_128,
    };
    assert_eq!((i.cipher, r.cipher), (sha256, sha256));
    // The HMAC key alone, 32 bytes each way, and different each way.
    assert_mirror(&i, &r);
    assert!(i.outbound.encr_key.as_bytes().is_empty());
    assert_eq!(i.outbound.integ_key.as_bytes().len(), 32);
    assert_ne!(
        i.outbound.integ_key.as_bytes(),
        i.inbound.integ_key.as_bytes()
    );
    // A rekey keeps AH.
    let now = sim.now;
    let id = sim.current_sa(INITIATOR).unwrap();
    assert!(sim.engines[INITIATOR].rekey_child(now, id, i.inbound.spi));
    sim.run();
    let (i2, r2) = assert_one_live_child(&sim);
    assert_eq!((i2.cipher, r2.cipher), (sha256, sha256));
    assert_ne!(i2.inbound.spi, i.inbound.spi);
    assert_eq!(
        sim.removed(RESPONDER),
        vec![(r.inbound.spi, r.outbound.spi)]
    );
    // A Delete of protocol AH removes it on both sides.
    let now = sim.now;
    sim.engines[RESPONDER].delete_child(now, id_of(&sim, RESPONDER), r2.inbound.spi);
    sim.run();
    assert!(sim.live(INITIATOR).is_empty());
    assert!(sim.live(RESPONDER).is_empty());
    assert!(sim.request_failures(INITIATOR).is_empty());
    assert!(sim.request_failures(RESPONDER).is_empty());
}

fn id_of(sim: &Sim, node: usize) -> ripsec_ike::engine::SaId {
    sim.current_sa(node).expect("an established IKE SA")
}

#[test]
fn esp_against_ah_is_refused_naming_both_protocols() {
    let (alice, _) = ah_configs();
    let (_, bob) = configs();
    let mut sim = Sim::new(42, vec![bob], Faults::default());
    sim.initiate(alice);
    sim.run();
    assert!(sim.children(INITIATOR).is_empty());
    let failures = sim.failures(RESPONDER);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        matches!(
            &failures[0],
            Error::Child {
                error: ChildError::NoProposalChosen { .. },
                ..
            }
        ),
        "{:?}",
        failures[0]
    );
    let text = failures[0].to_string();
    assert!(
        text.contains(
            "no proposal chosen for the Child SA (ESP): the peer proposes AH and we ESP; \
             use esp_proposals or ah_proposals on both sides alike"
        ),
        "{text}"
    );
    let initiator = sim.failures(INITIATOR)[0].to_string();
    assert!(
        initiator.contains("we offered AH INTEG HMAC_SHA2_512_256|HMAC_SHA2_256_128, ESN NO_ESN"),
        "{initiator}"
    );
}
