// SPDX-License-Identifier: GPL-2.0
//! ESP framing (RFC 4303 §2): header, trailer and padding, AEAD associated data and nonces
//! (RFC 4106 for AES-GCM, RFC 7634 for ChaCha20-Poly1305), and size arithmetic.
//!
//! Packet layout: `SPI(4) | seq_lo(4) | IV | payload | pad | pad_len(1) | next_hdr(1) | ICV`.

/// ESP header length: SPI and low 32 bits of the sequence number.
pub const ESP_HDR_LEN: usize = 8;

/// Fixed part of the trailer: pad length and next header.
pub const TRAILER_MIN: usize = 2;

/// Why a trailer could not be written or parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailerError {
    /// Fewer than [`TRAILER_MIN`] bytes.
    TooShort,
    /// The pad length exceeds the data before it, or 255 when writing.
    BadPadLength,
    /// The pad bytes are not 1, 2, 3, ... (RFC 4303 §2.4 default padding).
    BadPadding,
}

/// Alignments below 4 (including the nonsensical 0) mean 4, ESP's minimum (RFC 4303 §2.4).
fn norm_align(align: usize) -> usize {
    if align < 4 {
        4
    } else {
        align
    }
}

/// Pad bytes needed so that `payload_len + pad + 2` is a multiple of `align` (a power of two,
/// at least 4; smaller values are treated as 4). Alignments above 256 can need more padding
/// than the one-byte pad length allows.
pub fn pad_len(payload_len: usize, align: usize) -> usize {
    let align = norm_align(align);
    // Bytes up to the next multiple of align (1..=align); the trailer takes 2 of them.
    let to_end = align - payload_len % align;
    match to_end.checked_sub(TRAILER_MIN) {
        Some(pad) => pad,
        // to_end == 1: the trailer spills into the following block.
        None => align - 1,
    }
}

/// Writes the trailer into `out`, which is exactly `pad + 2` bytes: pad bytes 1, 2, 3, ...,
/// then the pad length, then `next_header`.
pub fn write_trailer(out: &mut [u8], next_header: u8) -> Result<(), TrailerError> {
    let (nh, rest) = out.split_last_mut().ok_or(TrailerError::TooShort)?;
    let (len, pad) = rest.split_last_mut().ok_or(TrailerError::TooShort)?;
    let pad_len = u8::try_from(pad.len()).map_err(|_| TrailerError::BadPadLength)?;
    let mut v = 0u8;
    for b in pad.iter_mut() {
        v = v.wrapping_add(1);
        *b = v;
    }
    *len = pad_len;
    *nh = next_header;
    Ok(())
}

/// Parses the trailer at the end of a decrypted `payload | pad | pad_len | next_hdr` (no IV,
/// no ICV) and returns (payload length, next header). The padding must be the default
/// 1, 2, 3, ... sequence, which RFC 4303 §2.4 says the receiver SHOULD check.
pub fn parse_trailer(plaintext: &[u8]) -> Result<(usize, u8), TrailerError> {
    let (&nh, rest) = plaintext.split_last().ok_or(TrailerError::TooShort)?;
    let (&pad_len, body) = rest.split_last().ok_or(TrailerError::TooShort)?;
    let payload_len = body
        .len()
        .checked_sub(usize::from(pad_len))
        .ok_or(TrailerError::BadPadLength)?;
    let pad = body.get(payload_len..).ok_or(TrailerError::BadPadLength)?;
    let mut want = 0u8;
    for &b in pad {
        want = want.wrapping_add(1);
        if b != want {
            return Err(TrailerError::BadPadding);
        }
    }
    Ok((payload_len, nh))
}

/// Whether an inbound ESP packet of `esp_len` bytes can be opened with `alg`: it holds the
/// header, IV, trailer and ICV, and its ciphertext is whole cipher blocks (RFC 4303 §2.4; a
/// CBC cipher cannot decrypt anything else, so XFRM drops it before the crypto API too).
pub fn len_ok(esp_len: usize, alg: &crate::alg::Alg) -> bool {
    let (iv, icv) = (usize::from(alg.iv_len), usize::from(alg.icv_len));
    let block = usize::from(alg.block_size).max(1);
    match esp_len.checked_sub(ESP_HDR_LEN + iv + icv) {
        Some(cipher) => cipher >= TRAILER_MIN && cipher % block == 0,
        None => false,
    }
}

/// Writes the ESP header (SPI and low sequence number, network byte order).
pub fn write_header(out: &mut [u8; 8], spi: u32, seq_lo: u32) {
    let [s0, s1, s2, s3] = spi.to_be_bytes();
    let [q0, q1, q2, q3] = seq_lo.to_be_bytes();
    *out = [s0, s1, s2, s3, q0, q1, q2, q3];
}

/// Copies an IV (8 or 16 bytes for every algorithm; the first `min` of both lengths) eight
/// bytes at a time: each copy has a fixed size, where a copy of variable length in the kernel
/// is a call to `memcpy`.
pub fn copy_iv(dst: &mut [u8], src: &[u8]) {
    let n = dst.len().min(src.len());
    let (mut d, mut s) = (dst[..n].chunks_exact_mut(8), src[..n].chunks_exact(8));
    for (d, s) in (&mut d).zip(&mut s) {
        d.copy_from_slice(s);
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = *s;
    }
}

/// Reads (SPI, low sequence number) from the start of an ESP packet.
pub fn parse_header(pkt: &[u8]) -> Option<(u32, u32)> {
    let (spi, rest) = pkt.split_first_chunk::<4>()?;
    let (seq, _) = rest.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*spi), u32::from_be_bytes(*seq)))
}

/// AEAD associated data (RFC 4106 §5, RFC 7634 §2.1): `SPI | seq_lo` (8 bytes), or with ESN
/// `SPI | seq_hi | seq_lo` (12 bytes). Returns the length used; the rest of `out` is zeroed.
pub fn aad(spi: u32, seq: u64, esn: bool, out: &mut [u8; 12]) -> usize {
    let [s0, s1, s2, s3] = spi.to_be_bytes();
    let [h0, h1, h2, h3, l0, l1, l2, l3] = seq.to_be_bytes();
    if esn {
        *out = [s0, s1, s2, s3, h0, h1, h2, h3, l0, l1, l2, l3];
        12
    } else {
        *out = [s0, s1, s2, s3, l0, l1, l2, l3, 0, 0, 0, 0];
        8
    }
}

/// With ESN, lays the associated data out in place the way the kernel's ESP AEADs (rfc4106,
/// rfc7539esp, authencesn) take it: the 4 bytes before the ESP header at `esp_at` get the SPI
/// and the SPI's place gets `seq_hi`, so `buf[esp_at - 4..]` reads `SPI | seq_hi | seq_lo | IV`
/// (the [`aad`] with ESN). Returns the 4 overwritten bytes for [`esn_restore`].
pub fn esn_prepare(buf: &mut [u8], esp_at: usize, seq_hi: u32) -> Option<[u8; 4]> {
    let start = esp_at.checked_sub(4)?;
    let area: &mut [u8; 8] = buf.get_mut(start..esp_at + 4)?.try_into().ok()?;
    let [p0, p1, p2, p3, s0, s1, s2, s3] = *area;
    let [h0, h1, h2, h3] = seq_hi.to_be_bytes();
    *area = [s0, s1, s2, s3, h0, h1, h2, h3];
    Some([p0, p1, p2, p3])
}

/// Undoes [`esn_prepare`]: the SPI goes back in front of `seq_lo`, `saved` before it.
pub fn esn_restore(buf: &mut [u8], esp_at: usize, saved: [u8; 4]) -> Option<()> {
    let start = esp_at.checked_sub(4)?;
    let area: &mut [u8; 8] = buf.get_mut(start..esp_at + 4)?.try_into().ok()?;
    let [s0, s1, s2, s3, ..] = *area;
    let [p0, p1, p2, p3] = saved;
    *area = [p0, p1, p2, p3, s0, s1, s2, s3];
    Some(())
}

/// The 12-byte AEAD nonce `salt | IV` (RFC 4106 §4, RFC 7634 §2).
pub fn gcm_nonce(salt: &[u8; 4], iv: &[u8; 8]) -> [u8; 12] {
    let [s0, s1, s2, s3] = *salt;
    let [i0, i1, i2, i3, i4, i5, i6, i7] = *iv;
    [s0, s1, s2, s3, i0, i1, i2, i3, i4, i5, i6, i7]
}

/// Length of the ESP packet carrying `inner_len` bytes: header, IV, payload, padding,
/// trailer and ICV (saturating).
pub fn encrypted_len(inner_len: usize, iv_len: usize, icv_len: usize, align: usize) -> usize {
    ESP_HDR_LEN
        .saturating_add(iv_len)
        .saturating_add(inner_len)
        .saturating_add(pad_len(inner_len, align))
        .saturating_add(TRAILER_MIN)
        .saturating_add(icv_len)
}

/// Worst-case bytes tunnel mode adds to an inner packet: outer IPv4/IPv6 header (20/40),
/// ESP header, IV, maximum padding (`align - 1`), trailer and ICV (saturating).
pub fn tunnel_overhead(outer_ipv6: bool, iv_len: usize, icv_len: usize, align: usize) -> usize {
    let ip: usize = if outer_ipv6 { 40 } else { 20 };
    ip.saturating_add(ESP_HDR_LEN)
        .saturating_add(iv_len)
        .saturating_add(norm_align(align) - 1)
        .saturating_add(TRAILER_MIN)
        .saturating_add(icv_len)
}

/// Largest inner packet that fits in `path_mtu`, where `overhead_fixed` counts everything but
/// the payload, padding and 2-byte trailer (outer IP header, ESP header, IV, ICV). The
/// payload plus trailer is rounded down to a multiple of `align`. 0 if nothing fits.
pub fn inner_mtu(path_mtu: usize, overhead_fixed: usize, align: usize) -> usize {
    let align = norm_align(align);
    let avail = path_mtu.saturating_sub(overhead_fixed);
    let aligned = avail - avail % align;
    aligned.saturating_sub(TRAILER_MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_iv_copies_what_both_hold() {
        let src: [u8; 20] = core::array::from_fn(|i| i as u8 + 1);
        for (dlen, slen) in [
            (0, 0),
            (8, 8),
            (16, 16),
            (12, 12),
            (3, 3),
            (8, 16),
            (16, 8),
            (5, 12),
        ] {
            let mut dst = [0xaau8; 20];
            copy_iv(&mut dst[..dlen], &src[..slen]);
            let n = dlen.min(slen);
            assert_eq!(&dst[..n], &src[..n], "{dlen} {slen}");
            assert!(dst[n..].iter().all(|&b| b == 0xaa), "{dlen} {slen}");
        }
    }

    #[test]
    fn len_ok_wants_room_for_the_trailer_and_whole_blocks() {
        use crate::alg::find;
        use crate::uapi::PROTO_ESP;
        let gcm = find("aes128gcm16", PROTO_ESP).unwrap();
        // Header 8, IV 8, ICV 16: the trailer needs 2 more; any length of ciphertext after.
        assert!(!len_ok(33, gcm));
        assert!(len_ok(34, gcm) && len_ok(35, gcm));
        let cbc = find("aes128-sha256", PROTO_ESP).unwrap();
        // Header 8, IV 16, ICV 16, then whole 16-byte blocks.
        assert!(!len_ok(40, cbc) && !len_ok(41, cbc) && !len_ok(55, cbc) && !len_ok(61, cbc));
        assert!(len_ok(56, cbc) && len_ok(72, cbc));
        let null = find("null-sha256", PROTO_ESP).unwrap();
        assert!(len_ok(8 + 16 + 2, null) && len_ok(8 + 16 + 3, null));
        assert!(!len_ok(0, null));
    }

    #[test]
    fn esn_layout_matches_aad_and_restores() {
        let (spi, seq) = (0x1122_3344u32, 0x5566_7788_99aa_bbccu64);
        let mut buf = [0u8; 24];
        buf[..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let mut h = [0u8; 8];
        write_header(&mut h, spi, seq as u32);
        buf[4..12].copy_from_slice(&h);
        let orig = buf;
        let saved = esn_prepare(&mut buf, 4, (seq >> 32) as u32).unwrap();
        let mut want = [0u8; 12];
        assert_eq!(aad(spi, seq, true, &mut want), 12);
        assert_eq!(&buf[..12], &want);
        esn_restore(&mut buf, 4, saved).unwrap();
        assert_eq!(buf, orig);
        // No room before the header, or past the end.
        assert_eq!(esn_prepare(&mut buf, 3, 1), None);
        assert_eq!(esn_prepare(&mut buf[..7], 4, 1), None);
        assert_eq!(esn_restore(&mut buf, 0, [0; 4]), None);
    }
    use crate::replay::ReplayWindow;
    use aes_gcm::aead::generic_array::GenericArray;
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use std::vec::Vec;

    fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
        assert_eq!(s.len() % 2, 0);
        s.chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn padding() {
        for align in [4usize, 16] {
            for len in 0..100usize {
                let p = pad_len(len, align);
                assert!(p < align);
                assert_eq!((len + p + 2) % align, 0, "len {len} align {align}");
            }
        }
        assert_eq!(pad_len(0, 4), 2);
        assert_eq!(pad_len(2, 4), 0);
        assert_eq!(pad_len(14, 16), 0);
        assert_eq!(pad_len(15, 16), 15);
        assert_eq!(pad_len(0, 16), 14);
        for len in 0..20 {
            assert_eq!(pad_len(len, 0), pad_len(len, 4));
            assert_eq!(pad_len(len, 1), pad_len(len, 4));
        }
        assert_eq!(pad_len(usize::MAX, 8), 7);
        assert_eq!(pad_len(usize::MAX, 256), 255);
        // Not a power of two, or absurdly large: still exact, never overflowing.
        for len in 0..50 {
            assert_eq!((len + pad_len(len, 12) + 2) % 12, 0);
        }
        assert_eq!(pad_len(usize::MAX - 1, usize::MAX), usize::MAX - 1);
        assert_eq!(pad_len(usize::MAX - 2, usize::MAX), 0);
        assert_eq!(pad_len(0, usize::MAX), usize::MAX - 2);
    }

    #[test]
    fn trailer_round_trip() {
        for align in [4usize, 8, 16] {
            for len in 0..64usize {
                let pad = pad_len(len, align);
                let mut buf: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                buf.resize(len + pad + 2, 0xee);
                write_trailer(&mut buf[len..], 4).unwrap();
                assert_eq!(buf[len + pad], pad as u8);
                assert_eq!(parse_trailer(&buf), Ok((len, 4)));
            }
        }
        let mut t = [0u8; 7];
        write_trailer(&mut t, 41).unwrap();
        assert_eq!(t, [1, 2, 3, 4, 5, 5, 41]);
        let mut t = [0u8; 257];
        write_trailer(&mut t, 4).unwrap();
        assert_eq!((t[254], t[255], t[256]), (255, 255, 4));
        assert_eq!(parse_trailer(&t), Ok((0, 4)));
    }

    #[test]
    fn trailer_errors() {
        assert_eq!(write_trailer(&mut [], 4), Err(TrailerError::TooShort));
        assert_eq!(write_trailer(&mut [0], 4), Err(TrailerError::TooShort));
        assert_eq!(
            write_trailer(&mut [0; 258], 4),
            Err(TrailerError::BadPadLength)
        );
        assert_eq!(parse_trailer(&[]), Err(TrailerError::TooShort));
        assert_eq!(parse_trailer(&[4]), Err(TrailerError::TooShort));
        assert_eq!(parse_trailer(&[0, 4]), Ok((0, 4)));
        assert_eq!(parse_trailer(&[1, 4]), Err(TrailerError::BadPadLength));
        assert_eq!(
            parse_trailer(&[1, 2, 3, 4, 4]),
            Err(TrailerError::BadPadLength)
        );
        assert_eq!(parse_trailer(&[1, 2, 3, 3, 4]), Ok((0, 4)));
        assert_eq!(parse_trailer(&[9, 1, 2, 3, 3, 4]), Ok((1, 4)));
        assert_eq!(
            parse_trailer(&[9, 1, 3, 2, 3, 4]),
            Err(TrailerError::BadPadding)
        );
        assert_eq!(
            parse_trailer(&[9, 0, 0, 0, 3, 4]),
            Err(TrailerError::BadPadding)
        );
        assert_eq!(
            parse_trailer(&[9, 2, 2, 3, 3, 4]),
            Err(TrailerError::BadPadding)
        );
        assert_eq!(parse_trailer(&[255, 4]), Err(TrailerError::BadPadLength));
    }

    #[test]
    fn header() {
        let mut h = [0u8; 8];
        write_header(&mut h, 0x0102_0304, 0xa0b0_c0d0);
        assert_eq!(h, [1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0]);
        assert_eq!(parse_header(&h), Some((0x0102_0304, 0xa0b0_c0d0)));
        assert_eq!(
            parse_header(&[h.as_slice(), &[9, 9]].concat()),
            parse_header(&h)
        );
        assert_eq!(parse_header(&h[..7]), None);
        assert_eq!(parse_header(&[]), None);
    }

    #[test]
    fn aad_layout() {
        let mut a = [0xffu8; 12];
        assert_eq!(aad(0x1122_3344, 0x5566_7788_99aa_bbcc, false, &mut a), 8);
        assert_eq!(
            a,
            [0x11, 0x22, 0x33, 0x44, 0x99, 0xaa, 0xbb, 0xcc, 0, 0, 0, 0]
        );
        assert_eq!(aad(0x1122_3344, 0x5566_7788_99aa_bbcc, true, &mut a), 12);
        assert_eq!(
            a,
            [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc]
        );
        assert_eq!(
            gcm_nonce(&[1, 2, 3, 4], &[5, 6, 7, 8, 9, 10, 11, 12]),
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        );
    }

    #[test]
    fn sizes() {
        // AES-GCM: IV 8, ICV 16, align 4.
        assert_eq!(encrypted_len(0, 8, 16, 4), 8 + 8 + 2 + 2 + 16);
        assert_eq!(encrypted_len(100, 8, 16, 4), 8 + 8 + 100 + 2 + 2 + 16);
        // AES-CBC: IV 16, ICV 16, align 16.
        assert_eq!(encrypted_len(100, 16, 16, 16), 8 + 16 + 100 + 10 + 2 + 16);
        assert_eq!(encrypted_len(usize::MAX, 8, 16, 4), usize::MAX);
        assert_eq!(tunnel_overhead(false, 8, 16, 4), 20 + 8 + 8 + 3 + 2 + 16);
        assert_eq!(tunnel_overhead(true, 16, 16, 16), 40 + 8 + 16 + 15 + 2 + 16);
        assert_eq!(
            tunnel_overhead(true, 8, 16, 0),
            tunnel_overhead(true, 8, 16, 4)
        );
        for outer_v6 in [false, true] {
            for (iv, icv, align) in [(8, 16, 4), (16, 16, 16), (0, 16, 4), (8, 16, 8)] {
                for inner in 0..200 {
                    let ip = if outer_v6 { 40 } else { 20 };
                    let total = ip + encrypted_len(inner, iv, icv, align);
                    assert!(total <= inner + tunnel_overhead(outer_v6, iv, icv, align));
                }
            }
        }
    }

    #[test]
    fn inner_mtu_is_tight() {
        for (iv, icv, align) in [
            (8usize, 16usize, 4usize),
            (16, 16, 16),
            (0, 16, 4),
            (8, 12, 8),
        ] {
            let fixed = 20 + ESP_HDR_LEN + iv + icv;
            for mtu in 0..400usize {
                let inner = inner_mtu(mtu, fixed, align);
                let fits = |n: usize| 20 + encrypted_len(n, iv, icv, align) <= mtu;
                if inner == 0 {
                    assert!(!fits(0) && !fits(1), "mtu {mtu}");
                } else {
                    assert!(fits(inner), "mtu {mtu} inner {inner}");
                    assert!(!fits(inner + 1), "mtu {mtu} inner {inner}");
                }
            }
        }
        assert_eq!(inner_mtu(1500, 20 + 8 + 8 + 16, 4), 1446);
        assert_eq!(inner_mtu(1500, 20 + 8 + 16 + 16, 16), 1438);
        assert_eq!(inner_mtu(0, 100, 16), 0);
        assert_eq!(inner_mtu(usize::MAX, 0, 4), usize::MAX - 3 - 2);
    }

    /// One ESP packet of draft-mcgrew-gcm-test-01 §4.
    struct GcmCase {
        name: &'static str,
        key: &'static str,
        salt: [u8; 4],
        /// Full sequence number; high bits only meaningful with ESN.
        seq: u64,
        esn: bool,
        packet: &'static str,
        plaintext: &'static str,
        /// (payload length, next header) read from the vector's trailer bytes.
        trailer: (usize, u8),
    }

    const GCM_CASES: &[GcmCase] = &[
        GcmCase {
            name: "#1 AES-128, ESN",
            key: "4c80cdefbb5d10da906ac73c3613a634",
            salt: [0x2e, 0x44, 0x3b, 0x68],
            seq: 0x8765_4321_0000_0000,
            esn: true,
            packet: "00004321000000004956ed7e3b244cfe fecf537e729d5b07dc30df528dd22b76
                     8d1b98736696a6fd348509fa13ceac34 cfa2436f14a3f3cf65925bf1f4a13c5d
                     15b21e1884f5ff6247aeabb786b93bce 61bc17d768fd9732459018148f6cbe72
                     2fd04796562dfdb4",
            plaintext: "45000048699a000080114db7c0a80102 c0a801010a9bf15638d3010000010000
                        00000000045f736970045f7564700373 69700963796265726369747902646b00
                        0021000101020201",
            trailer: (68, 1),
        },
        GcmCase {
            name: "#2 AES-128",
            key: "feffe9928665731c6d6a8f9467308308",
            salt: [0xca, 0xfe, 0xba, 0xbe],
            seq: 0x0a,
            esn: false,
            packet: "0000a5f80000000afacedbaddecaf888 deb22cd9b07c72c16e3a65beeb8df304
                     a5a5897d33ae530f1ba76d5d114d2a5c 3de81827c10e9a4f51330d0eec416642
                     cfbb85a5b47e48a4ec3b9ba95d918bd1 83b70d3aa8bc6ee4c309e9d85a41ad4a",
            plaintext: "4500003e698f000080114dccc0a80102 c0a801010a980035002a2343b2d00100
                        00010000000000000373697009637962 65726369747902646b00000100010001",
            trailer: (62, 1),
        },
        GcmCase {
            name: "#3 AES-256",
            key: "abbccddef00112233445566778899aab abbccddef00112233445566778899aab",
            salt: [0x11, 0x22, 0x33, 0x44],
            seq: 2,
            esn: false,
            packet: "4a2cbfe3000000020102030405060708 ff425c9b724599df7a3bcd510194e00d
                     6a78107f1b0b1cbf06efae9d65a5d763 748a637985771d347f0545659f14e99d
                     ef842d8eb335f4eecfdbf831824b4c49 15956c96",
            plaintext: "4500003069a6400080062690c0a80102 9389155e0a9e008b2dc57ee000000000
                        7002400020bf0000020405b401010402 01020201",
            trailer: (48, 1),
        },
        GcmCase {
            name: "#4 AES-128, zero key",
            key: "00000000000000000000000000000000",
            salt: [0, 0, 0, 0],
            seq: 1,
            esn: false,
            packet: "00000000000000010000000000000000 4688daf2f973a392732909c331d56d60
                     f694abaa414b5e7ff5fdcdfff5e9a284 456476492719ffb64de7d9dca1e1d894
                     bc3bd57873ed4d181d19d4d5c8c18af3 f821d496eeb096e98ad2b69e4799c71d",
            plaintext: "4500003c99c500008001cb7a40679318 010101010800075c0200440061626364
                        65666768696a6b6c6d6e6f7071727374 75767761626364656667686901020201",
            trailer: (60, 1),
        },
        GcmCase {
            name: "#5 AES-128, ESN",
            key: "3de09874b388e6491988d0c3607eae1f",
            salt: [0x57, 0x69, 0x0e, 0x43],
            seq: 0x1010_1010_1010_1010,
            esn: true,
            packet: "42f67e3f101010104e280000a2fca1a3 fba2caa4853cf9f0f22cb10d86dd83b0
                     fec75691cf1a04b00d1138ec9c357917 65acbd8701ad79845bf9fe3fba487bc9
                     1755e6662b4c8d0d1f5e22739530320a e0d731cc978ecafaeae88f00e80d6e48",
            plaintext: "4500003c99c300008001cb7c40679318 010101010800085c0200430061626364
                        65666768696a6b6c6d6e6f7071727374 75767761626364656667686901020201",
            trailer: (60, 1),
        },
        GcmCase {
            name: "#7 AES-192",
            key: "feffe9928665731c6d6a8f9467308308 feffe9928665731c",
            salt: [0xca, 0xfe, 0xba, 0xbe],
            seq: 0x0a,
            esn: false,
            packet: "0000a5f80000000afacedbaddecaf888 a5b1f8066029aea40e598b8122de0242
                     0938b3ab33f828e687b8858b5bfbdbd0 315b27452144cc7795457b9652037f53
                     18027b5b4cd7a636",
            plaintext: "45000028a4ad4000400678800a01038f 0a010612802306b8cb712602dd6bb03e
                        501016d075680001",
            trailer: (38, 1),
        },
        GcmCase {
            name: "SPI 17405e67: AES-256, ESN",
            key: "abbccddef00112233445566778899aab abbccddef00112233445566778899aab",
            salt: [0x73, 0x61, 0x6c, 0x74],
            seq: 0x156f_3126_dd0d_b99b,
            esn: true,
            packet: "17405e67dd0db99b616e640169766563 f2d69ecdbd5a0d5b8d5ef38bad4da58d
                     1f278fde98ef67549d524a3018d9a57f f4d3a31ce673119e451626c2415771e3
                     b7eebca614c89b35",
            plaintext: "45080028732c00004006e9f90a010612 0a01038f06b88023dd6bafbecb712602
                        50101f646d540001",
            trailer: (38, 1),
        },
        GcmCase {
            name: "SPI 335467ae: AES-128, seq 0xffffffff, empty payload",
            key: "7d773d00c144c525ac619d18c84a3f47",
            salt: [0xd9, 0x66, 0x42, 0x67],
            seq: 0xffff_ffff,
            esn: false,
            packet: "335467aeffffffff43457e9182443bc6 437f866bcb3f699fe9b0822bac961c45
                     04bef270",
            plaintext: "01020201",
            trailer: (0, 1),
        },
        GcmCase {
            name: "SPI 796b6963: AES-256, ESN seq 2^64-1",
            key: "6c6567616c697a656d6172696a75616e 61616e64646f69746265666f72656961",
            salt: [0x74, 0x75, 0x72, 0x6e],
            seq: u64::MAX,
            esn: true,
            packet: "796b6963ffffffff333021696765746d f97ab2aa356d8edce17644ac8c78e25d
                     d24dedbb29ebf1b64a274b39b49c3a86 4cd3d78ca4ae68a32b42458fb57dbe82
                     1dcc63b9d0937ba2945f669368661a32 9fb4c053",
            plaintext: "45000030da3a00008001df3bc0a80005 c0a800010800c6cd0200070061626364
                        65666768696a6b6c6d6e6f7071727374 01020201",
            trailer: (48, 1),
        },
    ];

    type Aes192Gcm = aes_gcm::AesGcm<aes_gcm::aes::Aes192, aes_gcm::aead::consts::U12>;

    fn open<A: Aead + KeyInit>(key: &[u8], nonce: &[u8; 12], aad: &[u8], ct: &[u8]) -> Vec<u8> {
        let c = A::new_from_slice(key).unwrap();
        c.decrypt(GenericArray::from_slice(nonce), Payload { msg: ct, aad })
            .expect("ICV must verify")
    }

    fn seal<A: Aead + KeyInit>(key: &[u8], nonce: &[u8; 12], aad: &[u8], pt: &[u8]) -> Vec<u8> {
        let c = A::new_from_slice(key).unwrap();
        c.encrypt(GenericArray::from_slice(nonce), Payload { msg: pt, aad })
            .unwrap()
    }

    fn gcm_open(key: &[u8], nonce: &[u8; 12], aad: &[u8], ct: &[u8]) -> Vec<u8> {
        match key.len() {
            16 => open::<aes_gcm::Aes128Gcm>(key, nonce, aad, ct),
            24 => open::<Aes192Gcm>(key, nonce, aad, ct),
            32 => open::<aes_gcm::Aes256Gcm>(key, nonce, aad, ct),
            n => panic!("key length {n}"),
        }
    }

    fn gcm_seal(key: &[u8], nonce: &[u8; 12], aad: &[u8], pt: &[u8]) -> Vec<u8> {
        match key.len() {
            16 => seal::<aes_gcm::Aes128Gcm>(key, nonce, aad, pt),
            24 => seal::<Aes192Gcm>(key, nonce, aad, pt),
            32 => seal::<aes_gcm::Aes256Gcm>(key, nonce, aad, pt),
            n => panic!("key length {n}"),
        }
    }

    /// Receives `packet` the way the module does: header, replay check (ESN inference),
    /// AAD, nonce, decrypt, trailer. Returns the plaintext and the inferred sequence number.
    fn receive(
        packet: &[u8],
        spi_want: u32,
        window: &ReplayWindow,
        open: impl Fn(&[u8; 12], &[u8], &[u8]) -> Vec<u8>,
        salt: &[u8; 4],
    ) -> (Vec<u8>, u64) {
        let (spi, lo) = parse_header(packet).unwrap();
        assert_eq!(spi, spi_want);
        let seq = window.check(lo).unwrap();
        let mut a = [0u8; 12];
        let n = aad(spi, seq, window.esn(), &mut a);
        let iv: [u8; 8] = packet[ESP_HDR_LEN..ESP_HDR_LEN + 8].try_into().unwrap();
        let pt = open(&gcm_nonce(salt, &iv), &a[..n], &packet[ESP_HDR_LEN + 8..]);
        (pt, seq)
    }

    #[test]
    fn draft_mcgrew_gcm_vectors() {
        for case in GCM_CASES {
            let key = hex(case.key);
            let packet = hex(case.packet);
            let want = hex(case.plaintext);
            // A receiver whose window top is just below the packet: exercises A.2.2.
            let mut w = ReplayWindow::new(64, case.esn).unwrap();
            if case.seq > 1 {
                w.accept(case.seq - 1).unwrap();
            }
            let spi = u32::from_be_bytes(packet[..4].try_into().unwrap());
            let open = |n: &[u8; 12], a: &[u8], ct: &[u8]| gcm_open(&key, n, a, ct);
            let (pt, seq) = receive(&packet, spi, &w, open, &case.salt);
            assert_eq!(seq, case.seq, "{}", case.name);
            assert_eq!(pt, want, "{}", case.name);
            assert_eq!(parse_trailer(&pt), Ok(case.trailer), "{}", case.name);
            w.accept(seq).unwrap();

            // Sending side: rebuild the packet from the payload with our framing.
            let (len, nh) = case.trailer;
            let pad = pad_len(len, 4);
            assert_eq!(len + pad + 2, want.len(), "{}", case.name);
            let mut body = want[..len].to_vec();
            body.resize(len + pad + 2, 0);
            write_trailer(&mut body[len..], nh).unwrap();
            assert_eq!(body, want, "{}", case.name);
            let mut hdr = [0u8; 8];
            write_header(&mut hdr, spi, case.seq as u32);
            let iv: [u8; 8] = packet[8..16].try_into().unwrap();
            let mut a = [0u8; 12];
            let n = aad(spi, case.seq, case.esn, &mut a);
            let mut out = hdr.to_vec();
            out.extend_from_slice(&iv);
            out.extend(gcm_seal(&key, &gcm_nonce(&case.salt, &iv), &a[..n], &body));
            assert_eq!(out, packet, "{}", case.name);
            assert_eq!(out.len(), encrypted_len(len, 8, 16, 4), "{}", case.name);
        }
    }

    #[test]
    fn gcm_wrong_aad_fails() {
        // Case #1 authenticated with the non-ESN AAD (seq_hi left out) must fail.
        let case = &GCM_CASES[0];
        let key = hex(case.key);
        let packet = hex(case.packet);
        let mut a = [0u8; 12];
        let n = aad(0x4321, case.seq, false, &mut a);
        let iv: [u8; 8] = packet[8..16].try_into().unwrap();
        let c = aes_gcm::Aes128Gcm::new_from_slice(&key).unwrap();
        let nonce = gcm_nonce(&case.salt, &iv);
        let r = c.decrypt(
            GenericArray::from_slice(&nonce),
            Payload {
                msg: &packet[16..],
                aad: &a[..n],
            },
        );
        assert!(r.is_err());
    }

    /// RFC 7634 Appendix A: ESP with ChaCha20-Poly1305, SPI 0x01020304, seq 5.
    #[test]
    fn rfc7634_chacha20poly1305_vector() {
        use chacha20poly1305::ChaCha20Poly1305;
        let keymat =
            hex("808182838485868788898a8b8c8d8e8f 909192939495969798999a9b9c9d9e9f a0a1a2a3");
        let (key, salt) = keymat.split_at(32);
        let salt: [u8; 4] = salt.try_into().unwrap();
        let mut packet = hex("01020304 00000005 1011121314151617");
        packet.extend(hex(
            "24039428b97f417e3c13753a4f05087b 67c352e6a7fab1b982d466ef407ae5c6
             14ee8099d52844eb61aa95dfab4c02f7 2aa71e7c4c4f64c9befe2facc638e8f3
             cbec163fac469b502773f6fb94e664da 9165b82829f641e0
             76aaa8266b7fb0f7b11b369907e1ad43",
        ));
        let want = hex(
            "45000054a6f200004001e778c6336405 c00002050800 5b7a3a080000553bec10
             0007362708090a0b0c0d0e0f10111213 1415161718191a1b1c1d1e1f20212223
             2425262728292a2b2c2d2e2f30313233 3435363701020204",
        );
        let w = ReplayWindow::new(32, false).unwrap();
        let open = |n: &[u8; 12], a: &[u8], ct: &[u8]| open::<ChaCha20Poly1305>(key, n, a, ct);
        let (pt, seq) = receive(&packet, 0x0102_0304, &w, open, &salt);
        assert_eq!(seq, 5);
        assert_eq!(pt, want);
        assert_eq!(parse_trailer(&pt), Ok((84, 4)));
    }

    /// Round trips of our framing through both AEADs, with and without ESN.
    #[test]
    fn aead_round_trips() {
        use chacha20poly1305::ChaCha20Poly1305;
        let key32: Vec<u8> = (0u8..32).collect();
        let salt = [0xde, 0xad, 0xbe, 0xef];
        for esn in [false, true] {
            for (i, len) in [0usize, 1, 2, 3, 40, 1399].into_iter().enumerate() {
                let seq = 0x1_0000_0000u64 * u64::from(esn) + 1 + i as u64;
                let iv = seq.to_be_bytes();
                let payload: Vec<u8> = (0..len).map(|b| b as u8 ^ 0x5a).collect();
                let pad = pad_len(len, 4);
                let mut body = payload.clone();
                body.resize(len + pad + 2, 0);
                write_trailer(&mut body[len..], 41).unwrap();
                let mut a = [0u8; 12];
                let n = aad(0xc0ffee, seq, esn, &mut a);
                let nonce = gcm_nonce(&salt, &iv);
                let mut hdr = [0u8; 8];
                write_header(&mut hdr, 0xc0ffee, seq as u32);
                for chacha in [false, true] {
                    let ct = if chacha {
                        seal::<ChaCha20Poly1305>(&key32, &nonce, &a[..n], &body)
                    } else {
                        gcm_seal(&key32, &nonce, &a[..n], &body)
                    };
                    let mut pkt = hdr.to_vec();
                    pkt.extend_from_slice(&iv);
                    pkt.extend(ct);
                    assert_eq!(pkt.len(), encrypted_len(len, 8, 16, 4));
                    let mut w = ReplayWindow::new(64, esn).unwrap();
                    if seq > 1 {
                        w.accept(seq - 1).unwrap();
                    }
                    let (pt, got) = if chacha {
                        let o = |n: &[u8; 12], a: &[u8], c: &[u8]| {
                            open::<ChaCha20Poly1305>(&key32, n, a, c)
                        };
                        receive(&pkt, 0xc0ffee, &w, o, &salt)
                    } else {
                        let o = |n: &[u8; 12], a: &[u8], c: &[u8]| gcm_open(&key32, n, a, c);
                        receive(&pkt, 0xc0ffee, &w, o, &salt)
                    };
                    assert_eq!(got, seq);
                    assert_eq!(parse_trailer(&pt), Ok((len, 41)));
                    assert_eq!(&pt[..len], &payload[..]);
                }
            }
        }
    }
}
