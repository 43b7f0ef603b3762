// SPDX-License-Identifier: GPL-2.0
//! ISAKMP encryption (RFC 2409 §5.3, appendix B): AES-CBC over the payload chain, zero padding
//! to the block, and the IV carried from each message's last ciphertext block to the next
//! message of the same exchange. The IV moves on only when a message is accepted, so a forged
//! or corrupted datagram cannot break the exchange.

use super::codes::PayloadV1;
use super::error::V1Error;
use super::message::{chain_spans, encode_chain, MAX_PADDING};
use super::payload::PayloadBodyV1;
use crate::crypto::{cbc_decrypt, cbc_encrypt};
use crate::secret::Secret;

const BLOCK: usize = MAX_PADDING;

/// Why an encrypted message was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// The body is not whole blocks, or the cipher refused the key.
    Cipher,
    /// The plaintext is no payload chain: a wrong key (in Main Mode, most likely the PSK).
    Garbage(V1Error),
}

/// A decrypted message: its payloads, the plaintext (for HASH computations), where each
/// payload lies in it, and the IV for the exchange's next message.
pub(crate) struct Opened {
    pub payloads: Vec<PayloadBodyV1>,
    pub plaintext: Vec<u8>,
    pub spans: Vec<std::ops::Range<usize>>,
    pub next_iv: Vec<u8>,
}

/// Encrypts `payloads` with `iv`: the first payload's type, the ciphertext, and the IV for the
/// exchange's next message (its last block).
pub(crate) fn seal(
    key: &Secret,
    iv: &[u8],
    payloads: &[PayloadBodyV1],
) -> Result<(PayloadV1, Vec<u8>, Vec<u8>), V1Error> {
    let (first, mut plain) = encode_chain(payloads)?;
    let padded = plain.len().div_ceil(BLOCK).max(1) * BLOCK;
    plain.resize(padded, 0);
    cbc_encrypt(key.as_bytes(), iv, &mut plain).map_err(|_| V1Error::TooLong("cipher key"))?;
    let next_iv = plain.get(padded - BLOCK..).unwrap_or_default().to_vec();
    Ok((first, plain, next_iv))
}

/// Decrypts a message body whose chain starts with a payload of type `first`.
pub(crate) fn open(
    key: &Secret,
    iv: &[u8],
    first: PayloadV1,
    ciphertext: &[u8],
) -> Result<Opened, OpenError> {
    if ciphertext.is_empty() || ciphertext.len() % BLOCK != 0 {
        return Err(OpenError::Cipher);
    }
    let next_iv = ciphertext
        .get(ciphertext.len() - BLOCK..)
        .unwrap_or_default()
        .to_vec();
    let mut plaintext = ciphertext.to_vec();
    cbc_decrypt(key.as_bytes(), iv, &mut plaintext).map_err(|_| OpenError::Cipher)?;
    let (spans, padding) = chain_spans(first, &plaintext).map_err(OpenError::Garbage)?;
    if padding > BLOCK {
        return Err(OpenError::Garbage(V1Error::Padding(padding)));
    }
    let payloads = spans
        .iter()
        .map(|(kind, _, body)| PayloadBodyV1::parse(*kind, body))
        .collect::<Result<Vec<_>, _>>()
        .map_err(OpenError::Garbage)?;
    let spans = spans.into_iter().map(|(_, range, _)| range).collect();
    Ok(Opened {
        payloads,
        plaintext,
        spans,
        next_iv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_iv_chaining() {
        let key = Secret::new(vec![7; 32]);
        let iv = [9u8; 16];
        let payloads = vec![
            PayloadBodyV1::Hash(vec![1; 20]),
            PayloadBodyV1::Nonce(vec![2; 16]),
        ];
        let (first, ct, next) = seal(&key, &iv, &payloads).unwrap();
        assert_eq!(ct.len() % 16, 0);
        assert_eq!(next, ct[ct.len() - 16..]);
        let o = open(&key, &iv, first, &ct).unwrap();
        assert_eq!(o.payloads, payloads);
        assert_eq!(o.next_iv, next);
        assert_eq!(o.spans, vec![0..24, 24..44]);
        // Another key turns the chain into garbage, as a PSK mismatch does.
        let other = Secret::new(vec![8; 32]);
        assert!(matches!(
            open(&other, &iv, first, &ct),
            Err(OpenError::Garbage(_))
        ));
        assert_eq!(
            open(&key, &iv, first, &ct[..20]).err(),
            Some(OpenError::Cipher)
        );
    }
}
