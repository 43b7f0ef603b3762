//! What the daemon installs into ripsec: SPIs (GETSPI), Child SAs and their policies.

use crate::config::{proto_of, ripsec_alg, Prefix};
use crate::netlink::attr::{self, AttrWriter};
use crate::netlink::{Ripsec, NLM_F_DUMP};
use crate::sa::{decode, SaInfo};
use crate::words::family_bytes;
use anyhow::{anyhow, bail, Result};
use ripsec_ike::engine::{ChildDirection, ChildSa, EspCipher, LifeLimits, Mode};
use ripsec_ike::{selector_pairs, AddressRange, TrafficSelector};
use ripsec_proto::alg;
use ripsec_proto::uapi::{self, attr as a, cmd};
use std::net::IpAddr;
use zeroize::Zeroize;

const ESP: u8 = 50;
const UDP: u8 = 17;
/// Priority of the policies the daemon installs for Child SAs (lower wins).
pub const CHILD_PRIORITY: u32 = 1000;

/// A netlink connection used to install and remove state.
pub struct Kernel {
    nl: Ripsec,
}

/// One direction of a policy selector: prefix, protocol and port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selector {
    pub src: Prefix,
    pub dst: Prefix,
    pub proto: u8,
    pub sport: (u16, u16),
    pub dport: (u16, u16),
}

/// Where a protect policy sends traffic.
#[derive(Clone, Copy, Debug)]
pub struct Template {
    /// ESP or AH.
    pub proto: u8,
    pub mode: Mode,
    pub reqid: u32,
    pub src: IpAddr,
    pub dst: IpAddr,
}

fn mode_id(m: Mode) -> u8 {
    match m {
        Mode::Tunnel => uapi::MODE_TUNNEL,
        Mode::Transport => uapi::MODE_TRANSPORT,
    }
}

impl Kernel {
    pub fn connect() -> Result<Self> {
        Ok(Self {
            nl: Ripsec::connect()?,
        })
    }

    /// Reserves an unused inbound SPI.
    pub fn getspi(&mut self, dst: IpAddr) -> Result<u32> {
        let mut req = AttrWriter::default();
        let (f, b) = family_bytes(&dst);
        req.u8(a::SA_PROTO, ESP)
            .u8(a::SA_FAMILY, f)
            .bytes(a::SA_DST, &b);
        let r = self.nl.request(cmd::GETSPI, &req)?;
        let attrs = attr::parse(&r.first().ok_or_else(|| anyhow!("no GETSPI reply"))?.payload)?;
        attr::find(&attrs, a::SA_SPI)
            .ok_or_else(|| anyhow!("GETSPI reply lacks sa-spi"))?
            .u32()
    }

    /// Adds one direction of a Child SA.
    #[allow(clippy::too_many_arguments)]
    pub fn add_sa(
        &mut self,
        child: &ChildSa,
        inbound: bool,
        local: IpAddr,
        reqid: u32,
        soft: LifeLimits,
        hard: LifeLimits,
    ) -> Result<()> {
        let (dir, src, dst) = if inbound {
            (&child.inbound, child.peer.ip(), local)
        } else {
            (&child.outbound, local, child.peer.ip())
        };
        let (alg, mut key) = sa_alg_key(child.cipher, dir)?;
        let (family, dst_b) = family_bytes(&dst);
        let mut req = AttrWriter::default();
        req.u32(a::SA_SPI, dir.spi)
            .u8(a::SA_PROTO, proto_of(child.cipher))
            .u8(a::SA_FAMILY, family)
            .bytes(a::SA_DST, &dst_b)
            .bytes(a::SA_SRC, &family_bytes(&src).1)
            .u8(a::SA_MODE, mode_id(child.mode))
            .str(a::SA_ALG, alg)
            .bytes(a::SA_KEY, &key)
            .u32(a::SA_REQID, reqid);
        // ESP in UDP: our port and the peer's, as the IKE SA uses them.
        if let Some((ours, peers)) = child.encap {
            let (sport, dport) = if inbound {
                (peers, ours)
            } else {
                (ours, peers)
            };
            req.u8(a::SA_ENCAP_TYPE, uapi::ENCAP_ESPINUDP)
                .u16(a::SA_ENCAP_SPORT, sport)
                .u16(a::SA_ENCAP_DPORT, dport);
        }
        // Only the initiator of a rekey needs the soft event, but either side may start one.
        let limits = [
            (a::SA_SOFT_ADD_SECS, soft.secs),
            (a::SA_SOFT_BYTES, soft.bytes),
            (a::SA_HARD_ADD_SECS, hard.secs),
            (a::SA_HARD_BYTES, hard.bytes),
        ];
        for (attr, limit) in limits {
            if let Some(v) = limit {
                req.u64(attr, v);
            }
        }
        let r = self.nl.request(cmd::SA_ADD, &req).map(drop);
        key.zeroize();
        req.buf.zeroize();
        r
    }

    /// Moves an outbound ESP-in-UDP SA to the peer's new port (its NAT mapping changed).
    pub fn set_peer_port(&mut self, dst: IpAddr, spi: u32, ours: u16, peers: u16) -> Result<()> {
        let mut req = sa_id(dst, ESP, spi);
        req.u16(a::SA_ENCAP_SPORT, ours)
            .u16(a::SA_ENCAP_DPORT, peers);
        self.nl.request(cmd::SA_UPDATE, &req).map(drop)
    }

    /// Moves the SAs and tunnel templates of `reqid` from the peer's address `old` to `new`
    /// (and, with ESP in UDP, to the peer's port `port`); returns how many SAs and policies
    /// moved.
    pub fn migrate(
        &mut self,
        reqid: u32,
        (old, new): (IpAddr, IpAddr),
        port: Option<u16>,
    ) -> Result<(u32, u32)> {
        let (family, old_b) = family_bytes(&old);
        let (new_family, new_b) = family_bytes(&new);
        if family != new_family {
            bail!("the peer moved from {old} to {new}, another address family; bring the connection down and up");
        }
        let mut req = AttrWriter::default();
        req.u32(a::SA_REQID, reqid)
            .u8(a::SA_FAMILY, family)
            .bytes(a::MIGRATE_OLD, &old_b)
            .bytes(a::MIGRATE_NEW, &new_b);
        if let Some(port) = port {
            req.u16(a::SA_ENCAP_DPORT, port);
        }
        let reply = self.nl.request(cmd::MIGRATE, &req)?;
        let msg = reply
            .first()
            .ok_or_else(|| anyhow!("the module did not answer MIGRATE"))?;
        let attrs = attr::parse(&msg.payload)?;
        let count = |ty| attr::find(&attrs, ty).map_or(Ok(0), |a| a.u32());
        Ok((count(a::SA_COUNT)?, count(a::SP_COUNT)?))
    }

    /// Hands `sock` to ripsec, which then receives ESP in UDP on it; returns its port.
    pub fn attach_encap(&mut self, sock: &std::net::UdpSocket) -> Result<u16> {
        crate::encap::attach(&mut self.nl, sock)
    }

    /// Removes an SA; a missing one is not an error (it may have expired).
    pub fn del_sa(&mut self, dst: IpAddr, proto: u8, spi: u32) -> Result<()> {
        match self.nl.request(cmd::SA_DEL, &sa_id(dst, proto, spi)) {
            Err(e) if is_enoent(&e) => Ok(()),
            r => r.map(drop),
        }
    }

    /// An SA with its counters.
    pub fn get_sa(&mut self, dst: IpAddr, proto: u8, spi: u32) -> Result<SaInfo> {
        let r = self.nl.request(cmd::SA_GET, &sa_id(dst, proto, spi))?;
        decode(&r.first().ok_or_else(|| anyhow!("no SA reply"))?.payload)
    }

    /// Adds a policy and returns its id.
    pub fn add_policy(
        &mut self,
        dir: u8,
        sel: &Selector,
        priority: u32,
        tmpl: Option<&Template>,
    ) -> Result<u32> {
        let mut req = AttrWriter::default();
        let (family, src_b) = family_bytes(&sel.src.addr);
        req.u8(a::SP_DIR, dir)
            .u8(
                a::SP_ACTION,
                if tmpl.is_some() {
                    uapi::ACTION_PROTECT
                } else {
                    uapi::ACTION_BYPASS
                },
            )
            .u8(a::SEL_FAMILY, family)
            .u32(a::SP_PRIORITY, priority)
            .bytes(a::SEL_SRC, &src_b)
            .u8(a::SEL_SRC_LEN, sel.src.len)
            .bytes(a::SEL_DST, &family_bytes(&sel.dst.addr).1)
            .u8(a::SEL_DST_LEN, sel.dst.len);
        if sel.proto != 0 {
            req.u8(a::SEL_PROTO, sel.proto);
        }
        if sel.sport != (0, u16::MAX) {
            req.u16(a::SEL_SPORT_LO, sel.sport.0)
                .u16(a::SEL_SPORT_HI, sel.sport.1);
        }
        if sel.dport != (0, u16::MAX) {
            req.u16(a::SEL_DPORT_LO, sel.dport.0)
                .u16(a::SEL_DPORT_HI, sel.dport.1);
        }
        if let Some(t) = tmpl {
            req.u8(a::TMPL_PROTO, t.proto)
                .u8(a::TMPL_MODE, mode_id(t.mode))
                .u32(a::TMPL_REQID, t.reqid);
            if t.mode == Mode::Tunnel {
                let (tf, tsrc) = family_bytes(&t.src);
                req.u8(a::TMPL_FAMILY, tf)
                    .bytes(a::TMPL_SRC, &tsrc)
                    .bytes(a::TMPL_DST, &family_bytes(&t.dst).1);
            }
        }
        let r = self.nl.request(cmd::SP_ADD, &req)?;
        let attrs = attr::parse(&r.first().ok_or_else(|| anyhow!("no policy reply"))?.payload)?;
        attr::find(&attrs, a::SP_ID)
            .ok_or_else(|| anyhow!("policy reply lacks sp-id"))?
            .u32()
    }

    /// Removes a policy; a missing one is not an error.
    pub fn del_policy(&mut self, id: u32) -> Result<()> {
        let mut req = AttrWriter::default();
        req.u32(a::SP_ID, id);
        match self.nl.request(cmd::SP_DEL, &req) {
            Err(e) if is_enoent(&e) => Ok(()),
            r => r.map(drop),
        }
    }

    /// Bypass policies so IKE itself (UDP `port` both ways, IPv4 and IPv6) is never protected,
    /// even by a transport-mode policy between the same hosts.
    pub fn bypass_ike(&mut self, port: u16) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        for any in [IpAddr::from([0u8; 4]), IpAddr::from([0u16; 8])] {
            let any = Prefix { addr: any, len: 0 };
            for (dir, sport, dport) in [
                (uapi::DIR_OUT, (port, port), (0, u16::MAX)),
                (uapi::DIR_OUT, (0, u16::MAX), (port, port)),
                (uapi::DIR_IN, (0, u16::MAX), (port, port)),
                (uapi::DIR_IN, (port, port), (0, u16::MAX)),
            ] {
                let sel = Selector {
                    src: any,
                    dst: any,
                    proto: UDP,
                    sport,
                    dport,
                };
                match self.add_policy(dir, &sel, 0, None) {
                    Ok(id) => ids.push(id),
                    Err(e) => {
                        for id in ids {
                            let _ = self.del_policy(id);
                        }
                        return Err(e);
                    }
                }
            }
        }
        Ok(ids)
    }

    /// Removes what an earlier daemon on this port left behind when it could not clean up
    /// (SIGKILL, crash): its IKE bypass policies, and the SAs and policies with a reqid in
    /// `reqids`. Returns how many SAs and policies went.
    pub fn remove_leftovers(
        &mut self,
        port: u16,
        reqids: std::ops::Range<u32>,
    ) -> Result<(usize, usize)> {
        let mut policies = Vec::new();
        for m in self
            .nl
            .request_flags(cmd::SP_GET, NLM_F_DUMP, &AttrWriter::default())?
        {
            let attrs = attr::parse(&m.payload)?;
            let u32_of = |ty| attr::find(&attrs, ty).and_then(|x| x.u32().ok());
            let u16_of = |ty| attr::find(&attrs, ty).and_then(|x| x.u16().ok());
            let u8_of = |ty| attr::find(&attrs, ty).and_then(|x| x.u8().ok());
            let Some(id) = u32_of(a::SP_ID) else { continue };
            let ours = match u32_of(a::TMPL_REQID) {
                Some(reqid) => reqids.contains(&reqid),
                None => {
                    let port_range = |lo, hi| (u16_of(lo), u16_of(hi)) == (Some(port), Some(port));
                    u32_of(a::SP_PRIORITY) == Some(0)
                        && u8_of(a::SP_ACTION) == Some(uapi::ACTION_BYPASS)
                        && u8_of(a::SEL_PROTO) == Some(UDP)
                        && u8_of(a::SEL_SRC_LEN) == Some(0)
                        && u8_of(a::SEL_DST_LEN) == Some(0)
                        && (port_range(a::SEL_SPORT_LO, a::SEL_SPORT_HI)
                            || port_range(a::SEL_DPORT_LO, a::SEL_DPORT_HI))
                }
            };
            if ours {
                policies.push(id);
            }
        }
        let mut sas = Vec::new();
        for m in self
            .nl
            .request_flags(cmd::SA_GET, NLM_F_DUMP, &AttrWriter::default())?
        {
            let sa = decode(&m.payload)?;
            if reqids.contains(&sa.reqid) {
                if let Ok(dst) = sa.dst.parse::<IpAddr>() {
                    let proto = if sa.proto == "ah" {
                        uapi::PROTO_AH
                    } else {
                        ESP
                    };
                    sas.push((dst, proto, sa.spi));
                }
            }
        }
        for id in &policies {
            self.del_policy(*id)?;
        }
        for (dst, proto, spi) in &sas {
            self.del_sa(*dst, *proto, *spi)?;
        }
        Ok((sas.len(), policies.len()))
    }
}

/// ripsec's algorithm name and key for one direction of a Child SA: the encryption key (salt
/// included) followed by the integrity key, checked against the module's table.
pub fn sa_alg_key(cipher: EspCipher, dir: &ChildDirection) -> Result<(&'static str, Vec<u8>)> {
    let name = ripsec_alg(cipher);
    let mut key = dir.encr_key.as_bytes().to_vec();
    key.extend_from_slice(dir.integ_key.as_bytes());
    let want = alg::find(name, proto_of(cipher)).map(|a| a.key_len());
    if want != Some(key.len()) {
        let got = key.len();
        key.zeroize();
        return Err(anyhow!(
            "the negotiated {name} keys are {got} bytes, but ripsec expects {}",
            want.map_or_else(|| "no such algorithm".to_string(), |n| format!("{n}"))
        ));
    }
    Ok((name, key))
}

/// The attributes that name an SA: SPI, protocol and destination.
fn sa_id(dst: IpAddr, proto: u8, spi: u32) -> AttrWriter {
    let (family, dst_b) = family_bytes(&dst);
    let mut req = AttrWriter::default();
    req.u32(a::SA_SPI, spi)
        .u8(a::SA_PROTO, proto)
        .u8(a::SA_FAMILY, family)
        .bytes(a::SA_DST, &dst_b);
    req
}

fn is_enoent(e: &anyhow::Error) -> bool {
    e.downcast_ref::<crate::netlink::NlError>()
        .is_some_and(|n| n.errno == libc::ENOENT)
}

/// Splits an inclusive address range into the fewest prefixes that cover it exactly.
pub fn range_prefixes(range: &AddressRange) -> Vec<Prefix> {
    range
        .prefixes()
        .into_iter()
        .map(|(addr, len)| Prefix { addr, len })
        .collect()
}

/// The policy selectors (outbound direction) for a negotiated pair of traffic selector lists.
pub fn child_selectors(local: &[TrafficSelector], remote: &[TrafficSelector]) -> Vec<Selector> {
    let mut out = Vec::new();
    for (l, r, proto) in selector_pairs(local, remote) {
        for src in range_prefixes(&l.addresses) {
            for dst in range_prefixes(&r.addresses) {
                out.push(Selector {
                    src,
                    dst,
                    proto,
                    sport: (l.start_port, l.end_port),
                    dport: (r.start_port, r.end_port),
                });
            }
        }
    }
    out
}

/// The same selector seen from the other direction.
pub fn reverse(s: &Selector) -> Selector {
    Selector {
        src: s.dst,
        dst: s.src,
        proto: s.proto,
        sport: s.dport,
        dport: s.sport,
    }
}

/// A traffic selector covering a configured prefix (all protocols and ports).
pub fn prefix_ts(p: &Prefix) -> TrafficSelector {
    let host = u128::MAX.checked_shr(u32::from(p.len)).unwrap_or(0);
    match p.addr {
        IpAddr::V4(a) => {
            let start = u32::from(a);
            let h = u32::try_from(host >> 96).unwrap_or(0);
            TrafficSelector::ipv4(start.into(), (start | h).into())
        }
        IpAddr::V6(a) => {
            let start = u128::from(a);
            TrafficSelector::ipv6(start.into(), (start | host).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ripsec_ike::engine::EspInteg;

    fn pfx(s: &str) -> Prefix {
        crate::config::prefix(s).unwrap()
    }

    fn direction(encr: usize, integ: usize) -> ChildDirection {
        ChildDirection {
            spi: 0x1234,
            encr_key: ripsec_ike::Secret::new((0..encr).map(|i| i as u8).collect()),
            integ_key: ripsec_ike::Secret::new((0..integ).map(|i| 0x80 | i as u8).collect()),
        }
    }

    #[test]
    fn child_sa_keys_become_the_module_key() {
        // ChaCha20-Poly1305: 32-byte key + 4-byte salt, no integrity key.
        let (name, key) = sa_alg_key(EspCipher::ChaCha20Poly1305, &direction(36, 0)).unwrap();
        assert_eq!((name, key.len()), ("chacha20poly1305", 36));
        assert_eq!(key[35], 35);
        // NULL + HMAC-SHA-256: the HMAC key alone.
        let (name, key) = sa_alg_key(
            EspCipher::Null {
                integ: EspInteg::Sha256_128,
            },
            &direction(0, 32),
        )
        .unwrap();
        assert_eq!((name, key.len(), key[0]), ("null-sha256", 32, 0x80));
        // CBC: cipher key, then HMAC key.
        let cbc = EspCipher::AesCbc {
            key_bits: 128,
            integ: EspInteg::Sha256_128,
        };
        let (name, key) = sa_alg_key(cbc, &direction(16, 32)).unwrap();
        assert_eq!(
            (name, key.len(), key[15], key[16]),
            ("aes128-sha256", 48, 15, 0x80)
        );
        let gcm = EspCipher::AesGcm {
            key_bits: 256,
            icv: 16,
        };
        assert_eq!(sa_alg_key(gcm, &direction(36, 0)).unwrap().0, "aes256gcm16");
        // A length the module would refuse is caught here, in a sentence.
        let e = sa_alg_key(EspCipher::ChaCha20Poly1305, &direction(32, 0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the negotiated chacha20poly1305 keys are 32 bytes, but ripsec expects 36"
        );
    }

    #[test]
    fn prefixes_round_trip_through_ranges() {
        for s in [
            "10.1.0.0/24",
            "10.0.0.1/32",
            "0.0.0.0/0",
            "fd01::/64",
            "::/0",
            "fd00::2/128",
        ] {
            let p = pfx(s);
            assert_eq!(range_prefixes(&prefix_ts(&p).addresses), vec![p], "{s}");
        }
    }

    #[test]
    fn odd_ranges_split_into_prefixes() {
        let r = AddressRange::V4 {
            start: "10.0.0.1".parse().unwrap(),
            end: "10.0.0.6".parse().unwrap(),
        };
        let got: Vec<String> = range_prefixes(&r).iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        let all = AddressRange::V4 {
            start: "255.255.255.255".parse().unwrap(),
            end: "255.255.255.255".parse().unwrap(),
        };
        assert_eq!(range_prefixes(&all).len(), 1);
    }

    #[test]
    fn selectors_pair_families_and_protocols() {
        let l = [prefix_ts(&pfx("10.1.0.0/24")), prefix_ts(&pfx("fd01::/64"))];
        let mut r = [prefix_ts(&pfx("10.2.0.0/24")), prefix_ts(&pfx("fd02::/64"))];
        r[0].ip_protocol = 6;
        r[0].start_port = 80;
        r[0].end_port = 80;
        let s = child_selectors(&l, &r);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].proto, s[0].dport, s[0].sport),
            (6, (80, 80), (0, 65535))
        );
        assert_eq!(reverse(&s[0]).sport, (80, 80));
        assert_eq!(s[1].src.to_string(), "fd01::/64");
    }
}
