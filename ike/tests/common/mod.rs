// SPDX-License-Identifier: GPL-2.0
//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// Decodes hex, ignoring whitespace and `|` separators (used to mark field boundaries).
pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'|')
        .collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).expect("ascii");
            u8::from_str_radix(text, 16).expect("hex digit")
        })
        .collect()
}

/// A hand-assembled IKE_SA_INIT request, one payload per line (234 bytes).
pub fn ike_sa_init_request() -> Vec<u8> {
    hex(concat!(
        // IKE header: SPIi, SPIr = 0, next SA, version 2.0, IKE_SA_INIT, flags I, message ID 0, length 234
        "0102030405060708 0000000000000000 | 21 20 22 08 | 00000000 | 000000ea",
        // SA: next KE, length 40; proposal 1 (last), length 36, IKE, SPI size 0, 3 transforms
        "22 00 0028 | 00 00 0024 01 01 00 03",
        //   ENCR AES_GCM_16 + Key Length 256 (TV), PRF_HMAC_SHA2_256, DH 31 (last)
        "03 00 000c 01 00 0014 800e 0100 | 03 00 0008 02 00 0005 | 00 00 0008 04 00 001f",
        // KE: next Nonce, length 40, group 31, 32-byte public value
        "28 00 0028 | 001f 0000 | 2020202020202020202020202020202020202020202020202020202020202020",
        // Nonce: next Notify, length 36, 32 bytes
        "29 00 0024 | 4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e",
        // Notify NAT_DETECTION_SOURCE_IP: next Notify, length 28, no SPI, 20-byte hash
        "29 00 001c | 00 00 4004 | 5353535353535353535353535353535353535353",
        // Notify NAT_DETECTION_DESTINATION_IP: next Notify, length 28
        "29 00 001c | 00 00 4005 | 4444444444444444444444444444444444444444",
        // Notify SIGNATURE_HASH_ALGORITHMS (16431): next Vendor ID, length 14, SHA2-256/384/512
        "2b 00 000e | 00 00 402f | 0002 0003 0004",
        // Vendor ID: last payload, length 20
        "00 00 0014 | 72697073 65632d69 6b652d74 65737421",
    ))
}

/// A deterministic 64-bit xorshift generator (no external crates).
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-enough value in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// For the fuzz smoke tests: offsets of 16-bit length fields found by walking the generic payload chain of a seed.
pub fn payload_length_offsets(seed: &[u8], chain_start: usize) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = chain_start;
    while at + 4 <= seed.len() {
        offsets.push(at + 2);
        let length = usize::from(u16::from_be_bytes([seed[at + 2], seed[at + 3]]));
        if length < 4 {
            break;
        }
        at += length;
    }
    offsets
}

/// One to four random mutations of `seed`: bit flips, byte writes, truncations, insertions,
/// deletions and length-field tweaks.
pub fn mutate(rng: &mut XorShift, seed: &[u8], length_fields: &[usize]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(3) {
        if data.is_empty() {
            break;
        }
        let at = rng.below(data.len());
        match rng.below(8) {
            0 => data[at] ^= 1 << rng.below(8),
            1 => data[at] = rng.next() as u8,
            2 => data.truncate(at),
            3 => {
                let extra: Vec<u8> = (0..=rng.below(8)).map(|_| rng.next() as u8).collect();
                data.splice(at..at, extra);
            }
            4 if at + 1 < data.len() => {
                let delta = rng.below(9) as i32 - 4;
                let old = i32::from(u16::from_be_bytes([data[at], data[at + 1]]));
                let new = (old + delta).clamp(0, 0xffff) as u16;
                data[at..at + 2].copy_from_slice(&new.to_be_bytes());
            }
            5 if at + 1 < data.len() => {
                let value = [0u16, 3, 4, 8, 0x7fff, 0xffff][rng.below(6)];
                data[at..at + 2].copy_from_slice(&value.to_be_bytes());
            }
            6 => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            _ => {
                if let Some(&field) = length_fields.get(rng.below(length_fields.len().max(1))) {
                    if field + 1 < data.len() {
                        let delta = rng.below(17) as i32 - 8;
                        let old = i32::from(u16::from_be_bytes([data[field], data[field + 1]]));
                        let new = (old + delta).clamp(0, 0xffff) as u16;
                        data[field..field + 2].copy_from_slice(&new.to_be_bytes());
                    }
                }
            }
        }
    }
    // Usually keep the header's Length honest (IKEv2 and ISAKMP alike), so mutants get past
    // that first check.
    if data.len() >= 28 && rng.below(4) != 0 {
        let length = (data.len() as u32).to_be_bytes();
        data[24..28].copy_from_slice(&length);
    }
    data
}
