//! The Child SAs and policies the daemon installed into ripsec, so it can remove exactly
//! those: on DELETE, on rekey, on EXPIRE(hard) and at shutdown.

use crate::config::{proto_of, ripsec_alg, Child, Connection};
use crate::kernel::{
    child_selectors, prefix_ts, reverse, Kernel, Selector, Template, CHILD_PRIORITY,
};
use anyhow::{anyhow, Context, Result};
use ripsec_ike::engine::{describe_ts, ChildSa, LifeLimits, Mode, SaId, MAX_SELECTOR_PAIRS};
use ripsec_proto::uapi;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// One installed Child SA (both directions).
pub struct ChildRecord {
    pub sa: SaId,
    pub conn: String,
    pub child: String,
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    pub local: IpAddr,
    pub peer: IpAddr,
    /// ESP or AH (IP protocol number).
    pub proto: u8,
    pub alg: &'static str,
    pub mode: Mode,
    pub ts_local: String,
    pub ts_remote: String,
    pub installed: Instant,
    pub rekeying: bool,
    /// A failed rekey is tried again then (the module's soft EXPIRE comes only once).
    pub retry_rekey: Option<Instant>,
    /// When the module's soft (rekey) and hard expiry fire: seconds after `installed`,
    /// bytes protected.
    pub soft: LifeLimits,
    pub hard: LifeLimits,
    /// ESP in UDP: our port and the peer's (RFC 3948).
    pub encap: Option<(u16, u16)>,
    /// The policy selectors it uses (outbound direction), and their reqid.
    sels: Vec<Selector>,
    reqid: u32,
    /// The outbound SA, not yet installed: this Child SA replaces one the peer is rekeying,
    /// and the peer may not have our new inbound SA's twin yet (see [`Children::install`]).
    pending_out: Option<PendingOut>,
}

/// An outbound SA held back until the peer deletes the Child SA it replaces, or until `due`.
struct PendingOut {
    child: ChildSa,
    reqid: u32,
    soft: LifeLimits,
    hard: LifeLimits,
    due: Instant,
}

/// How long a rekey responder keeps sending on the old Child SA when the initiator's DELETE
/// does not come (it switches at once when it does). Long enough for a loaded initiator to
/// install its inbound SA first.
const OUTBOUND_SWITCH_AFTER: Duration = Duration::from_secs(5);

/// Added to a child's reqid for its Child SAs while it has trap policies: their own policies
/// (at [`CHILD_PRIORITY`] - 1, ahead of the trap's) then lead to them alone, and traffic
/// outside the negotiated selectors still meets the trap (ACQUIRE, and no decrypted packet
/// of this Child SA passes the trap's in policy).
pub const UNDER_TRAP: u32 = 0x1_0000;

/// The out, in (and fwd) policies of one selector of a child, shared by the Child SAs that
/// negotiated it (old and new during a rekey).
struct PolicyEntry {
    sel: Selector,
    reqid: u32,
    ids: Vec<u32>,
    users: usize,
    /// Installed at start for `start = "trap"`: they stay while the daemon runs.
    trap: bool,
}

/// How long a replaced Child SA's inbound SA outlives it: the peer sends on it until it has
/// handled our DELETE, and its last packets may still be on their way (strongSwan's
/// `delete_rekeyed_delay` is 5 s too).
const INBOUND_LINGER: Duration = Duration::from_secs(5);

/// An inbound SA kept a little after its Child SA was replaced.
struct Lingering {
    until: Instant,
    sa: SaId,
    local: IpAddr,
    proto: u8,
    spi: u32,
}

#[derive(Default)]
pub struct Children {
    /// Inbound SAs of replaced Child SAs, removed once their time is up.
    lingering: Vec<Lingering>,
    pub list: Vec<ChildRecord>,
    /// By connection and child name. A Child SA whose negotiated selectors are narrower than
    /// the trap's (or than another Child SA's) gets its own, more specific, policies.
    policies: BTreeMap<(String, String), Vec<PolicyEntry>>,
}

fn delete_entries(k: &mut Kernel, entries: Vec<PolicyEntry>) {
    for id in entries.into_iter().flat_map(|e| e.ids) {
        let _ = k.del_policy(id);
    }
}

/// The selectors a child's configuration asks for (outbound direction).
pub fn config_selectors(child: &Child) -> Vec<Selector> {
    let l: Vec<_> = child.local_ts.iter().map(prefix_ts).collect();
    let r: Vec<_> = child.remote_ts.iter().map(prefix_ts).collect();
    child_selectors(&l, &r)
}

/// Installs out, in (and fwd in tunnel mode) policies for `sel` with templates between us
/// and `peer`; their ids.
fn install_policies(
    k: &mut Kernel,
    conn: &Connection,
    (mode, proto): (Mode, u8),
    (reqid, priority): (u32, u32),
    peer: IpAddr,
    sel: &Selector,
) -> Result<Vec<u32>> {
    let out = Template {
        proto,
        mode,
        reqid,
        src: conn.local,
        dst: peer,
    };
    let inb = Template {
        src: peer,
        dst: conn.local,
        ..out
    };
    let mut dirs = vec![
        (uapi::DIR_OUT, *sel, out),
        (uapi::DIR_IN, reverse(sel), inb),
    ];
    if mode == Mode::Tunnel {
        dirs.push((uapi::DIR_FWD, reverse(sel), inb));
    }
    let mut ids = Vec::new();
    for (dir, s, t) in dirs {
        match k.add_policy(dir, &s, priority, Some(&t)) {
            Ok(id) => ids.push(id),
            Err(e) => {
                for id in ids {
                    let _ = k.del_policy(id);
                }
                return Err(e);
            }
        }
    }
    Ok(ids)
}

/// The IP protocol a child configuration negotiates: AH with `ah_proposals`, else ESP.
fn config_proto(child: &Child) -> u8 {
    child
        .esp
        .first()
        .map_or(uapi::PROTO_ESP, |p| proto_of(p.cipher))
}

/// Installs the policies of each of `sels` as a new entry (none on failure).
fn install_entries(
    k: &mut Kernel,
    conn: &Connection,
    how: (Mode, u8),
    (reqid, priority): (u32, u32),
    peer: IpAddr,
    (sels, trap): (&[Selector], bool),
) -> Result<Vec<PolicyEntry>> {
    let mut entries: Vec<PolicyEntry> = Vec::new();
    for sel in sels {
        match install_policies(k, conn, how, (reqid, priority), peer, sel) {
            Ok(ids) => entries.push(PolicyEntry {
                sel: *sel,
                reqid,
                ids,
                users: 0,
                trap,
            }),
            Err(e) => {
                delete_entries(k, entries);
                return Err(e);
            }
        }
    }
    Ok(entries)
}

impl Children {
    /// Installs a trap child's policies: outbound traffic then raises ACQUIRE.
    pub fn trap(
        &mut self,
        k: &mut Kernel,
        conn: &Connection,
        child: &Child,
        reqid: u32,
    ) -> Result<()> {
        let sels = config_selectors(child);
        let at = (reqid, CHILD_PRIORITY);
        let how = (child.mode, config_proto(child));
        let entries = install_entries(k, conn, how, at, conn.remote, (&sels, true))?;
        self.policies
            .insert((conn.name.clone(), child.name.clone()), entries);
        Ok(())
    }

    /// Takes a reference on the policies of `sels` for `reqid`, installing those the child
    /// lacks at `priority`.
    fn use_policies(
        &mut self,
        k: &mut Kernel,
        (conn, cfg): (&Connection, &Child),
        child: &ChildSa,
        (reqid, priority): (u32, u32),
        sels: &[Selector],
    ) -> Result<()> {
        let entries = self
            .policies
            .entry((conn.name.clone(), cfg.name.clone()))
            .or_default();
        let mut missing: Vec<Selector> = Vec::new();
        for sel in sels {
            if !missing.contains(sel) && !entries.iter().any(|e| e.sel == *sel && e.reqid == reqid)
            {
                missing.push(*sel);
            }
        }
        let at = (reqid, priority);
        let how = (child.mode, proto_of(child.cipher));
        let added = install_entries(k, conn, how, at, child.peer.ip(), (&missing, false))?;
        entries.extend(added);
        for e in entries
            .iter_mut()
            .filter(|e| e.reqid == reqid && sels.contains(&e.sel))
        {
            e.users += 1;
        }
        Ok(())
    }

    /// Installs the outbound SA of a new Child SA, or holds it back (make before break): a
    /// Child SA replacing one we did not rekey ourselves answers the peer's rekey, and the peer
    /// has not seen our answer yet. The module sends on the newest outbound SA, so ours waits
    /// until the peer deletes the old Child SA (it has the new inbound SA by then) or
    /// OUTBOUND_SWITCH_AFTER has passed. On failure the inbound SA is removed.
    fn add_outbound(
        &self,
        k: &mut Kernel,
        (conn, cfg): (&Connection, &Child),
        child: &ChildSa,
        reqid: u32,
        (soft, hard): (LifeLimits, LifeLimits),
    ) -> Result<Option<PendingOut>> {
        let answering_rekey = self
            .list
            .iter()
            .any(|c| c.conn == conn.name && c.child == cfg.name && !c.rekeying);
        if answering_rekey {
            return Ok(Some(PendingOut {
                child: child.clone(),
                reqid,
                soft,
                hard,
                due: Instant::now() + OUTBOUND_SWITCH_AFTER,
            }));
        }
        if let Err(e) = k.add_sa(child, false, conn.local, reqid, soft, hard) {
            let _ = k.del_sa(conn.local, proto_of(child.cipher), child.inbound.spi);
            return Err(e.context("outbound SA"));
        }
        Ok(None)
    }

    /// Installs both SAs of a new Child SA of child `cfg`, and its policies if it has none.
    pub fn install(
        &mut self,
        k: &mut Kernel,
        (conn, cfg): (&Connection, &Child),
        reqid: u32,
        sa: SaId,
        child: &ChildSa,
    ) -> Result<String> {
        let (soft, hard) = kernel_lifetimes(cfg, child);
        let sels = child_selectors(&child.ts_local, &child.ts_remote);
        // The engine refuses such selectors already; this guards the kernel all the same.
        if sels.len() > MAX_SELECTOR_PAIRS {
            anyhow::bail!(
                "the traffic selectors TSi [{}] TSr [{}] need {} policy selectors (ranges that are not CIDR prefixes split into many); at most {MAX_SELECTOR_PAIRS} are installed, so ask the peer for prefixes",
                describe_ts(&child.ts_local),
                describe_ts(&child.ts_remote),
                sels.len()
            );
        }
        let trapped = self
            .policies
            .get(&(conn.name.clone(), cfg.name.clone()))
            .is_some_and(|entries| entries.iter().any(|e| e.trap));
        let (reqid, priority) = if trapped {
            (reqid.wrapping_add(UNDER_TRAP), CHILD_PRIORITY - 1)
        } else {
            (reqid, CHILD_PRIORITY)
        };
        // Bytes differ by direction: a download must reach a rekey too. The time limits are
        // the same, so one soft event by time (the outbound SA's) is enough.
        let soft_in = LifeLimits {
            secs: None,
            bytes: soft.bytes,
        };
        k.add_sa(child, true, conn.local, reqid, soft_in, hard)
            .context("inbound SA")?;
        let pending_out = self.add_outbound(k, (conn, cfg), child, reqid, (soft, hard))?;
        if let Err(e) = self.use_policies(k, (conn, cfg), child, (reqid, priority), &sels) {
            let proto = proto_of(child.cipher);
            let _ = k.del_sa(conn.local, proto, child.inbound.spi);
            let _ = k.del_sa(child.peer.ip(), proto, child.outbound.spi);
            return Err(e.context("policies"));
        }
        let rec = ChildRecord {
            sa,
            conn: conn.name.clone(),
            child: cfg.name.clone(),
            inbound_spi: child.inbound.spi,
            outbound_spi: child.outbound.spi,
            local: conn.local,
            peer: child.peer.ip(),
            proto: proto_of(child.cipher),
            alg: ripsec_alg(child.cipher),
            mode: child.mode,
            ts_local: describe_ts(&child.ts_local),
            ts_remote: describe_ts(&child.ts_remote),
            installed: Instant::now(),
            rekeying: false,
            retry_rekey: None,
            soft,
            hard,
            encap: child.encap,
            sels,
            reqid,
            pending_out,
        };
        let msg = format!(
            "Child SA `{}` installed: {} {}{}, spi in 0x{:08x} out 0x{:08x}, {} === {}",
            rec.child,
            rec.mode.name(),
            if rec.proto == uapi::PROTO_AH {
                "AH "
            } else {
                ""
            },
            rec.alg,
            rec.inbound_spi,
            rec.outbound_spi,
            rec.ts_local,
            rec.ts_remote
        );
        self.list.push(rec);
        Ok(msg)
    }

    /// The peer of IKE SA `sa` moved to `peer` (its NAT mapping changed): the outbound ESP
    /// of its Child SAs follows, to the new port, and to a new address with the module's
    /// MIGRATE (SAs and tunnel templates, sequence numbers and replay windows kept). One line
    /// per Child SA that could not follow.
    pub fn follow_peer(
        &mut self,
        k: &mut Kernel,
        sa: SaId,
        peer: std::net::SocketAddr,
        natt: u16,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let mut migrated: Vec<u32> = Vec::new();
        for rec in self.list.iter_mut().filter(|c| c.sa == sa) {
            let port = rec.encap.map(|_| peer.port());
            let moved = if rec.peer == peer.ip() {
                match port {
                    Some(p) => k.set_peer_port(rec.peer, rec.outbound_spi, natt, p),
                    None => Ok(()),
                }
            } else if rec.mode == Mode::Transport {
                Err(anyhow!(
                    "its transport-mode selectors name the old address {}; bring the connection down and up",
                    rec.peer
                ))
            } else if migrated.contains(&rec.reqid) {
                Ok(()) // moved with an earlier Child SA of the same reqid (a rekey's pair)
            } else {
                k.migrate(rec.reqid, (rec.peer, peer.ip()), port).map(|_| {
                    migrated.push(rec.reqid);
                })
            };
            match moved {
                Ok(()) => {
                    rec.peer = peer.ip();
                    rec.encap = port.map(|p| (natt, p));
                    if let Some(p) = rec.pending_out.as_mut() {
                        p.child.peer = peer;
                        p.child.encap = rec.encap;
                    }
                }
                Err(e) => problems.push(format!(
                    "cannot move Child SA `{}` to {peer}: {e:#}",
                    rec.child
                )),
            }
        }
        problems
    }

    fn release(&mut self, k: &mut Kernel, rec: &ChildRecord) -> String {
        let _ = k.del_sa(rec.local, rec.proto, rec.inbound_spi);
        self.release_keeping_inbound(k, rec)
    }

    /// Removes a Child SA but for its inbound SA (the caller keeps or deletes that).
    fn release_keeping_inbound(&mut self, k: &mut Kernel, rec: &ChildRecord) -> String {
        let _ = k.del_sa(rec.peer, rec.proto, rec.outbound_spi);
        let key = (rec.conn.clone(), rec.child.clone());
        if let Some(entries) = self.policies.get_mut(&key) {
            for e in entries
                .iter_mut()
                .filter(|e| e.reqid == rec.reqid && rec.sels.contains(&e.sel))
            {
                e.users = e.users.saturating_sub(1);
            }
            let (gone, keep) = std::mem::take(entries)
                .into_iter()
                .partition(|e| e.users == 0 && !e.trap);
            *entries = keep;
            delete_entries(k, gone);
            if entries.is_empty() {
                self.policies.remove(&key);
            }
        }
        format!(
            "Child SA `{}` removed (spi in 0x{:08x} out 0x{:08x})",
            rec.child, rec.inbound_spi, rec.outbound_spi
        )
    }

    /// Removes one Child SA by its IKE SA and inbound SPI; a replacement's held-back
    /// outbound SA goes in first, so its traffic never lacks an SA. Its inbound SA stays for
    /// [`INBOUND_LINGER`] when a replacement exists, for the peer's packets still in flight.
    pub fn remove(&mut self, k: &mut Kernel, sa: SaId, inbound_spi: u32) -> Option<String> {
        let i = self
            .list
            .iter()
            .position(|c| c.sa == sa && c.inbound_spi == inbound_spi)?;
        let rec = self.list.swap_remove(i);
        let mut problems = Vec::new();
        let mut replaced = false;
        for c in self
            .list
            .iter_mut()
            .filter(|c| c.conn == rec.conn && c.child == rec.child)
        {
            replaced = true;
            problems.extend(install_pending_out(k, c));
        }
        let mut msg = if replaced {
            self.lingering.push(Lingering {
                until: Instant::now() + INBOUND_LINGER,
                sa: rec.sa,
                local: rec.local,
                proto: rec.proto,
                spi: rec.inbound_spi,
            });
            self.release_keeping_inbound(k, &rec)
        } else {
            self.release(k, &rec)
        };
        for p in problems {
            msg.push_str("; ");
            msg.push_str(&p);
        }
        Some(msg)
    }

    /// Installs the held-back outbound SAs whose time has come, and removes the lingering
    /// inbound SAs whose time is up; a line per failure.
    pub fn pending_out_due(&mut self, k: &mut Kernel) -> Vec<String> {
        let now = Instant::now();
        self.drop_lingering(k, |l| l.until <= now);
        self.list
            .iter_mut()
            .filter(|c| c.pending_out.as_ref().is_some_and(|p| p.due <= now))
            .filter_map(|c| install_pending_out(k, c))
            .collect()
    }

    /// Removes every Child SA of an IKE SA, and the lingering inbound SAs of those it
    /// replaced: once the IKE SA is gone, the peer sends on none of them.
    pub fn remove_sa(&mut self, k: &mut Kernel, sa: SaId) -> Vec<String> {
        self.drop_lingering(k, |l| l.sa == sa);
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.list)
            .into_iter()
            .partition(|c| c.sa == sa);
        self.list = keep;
        gone.iter().map(|rec| self.release(k, rec)).collect()
    }

    fn drop_lingering(&mut self, k: &mut Kernel, due: impl Fn(&Lingering) -> bool) {
        let (gone, keep) = std::mem::take(&mut self.lingering)
            .into_iter()
            .partition(|l| due(l));
        self.lingering = keep;
        for l in gone {
            let _ = k.del_sa(l.local, l.proto, l.spi);
        }
    }

    /// Removes everything, trap policies included.
    pub fn remove_all(&mut self, k: &mut Kernel) {
        self.drop_lingering(k, |_| true);
        for rec in std::mem::take(&mut self.list) {
            self.release(k, &rec);
        }
        for (_, entries) in std::mem::take(&mut self.policies) {
            delete_entries(k, entries);
        }
    }

    pub fn of_sa(&self, sa: SaId) -> impl Iterator<Item = &ChildRecord> {
        self.list.iter().filter(move |c| c.sa == sa)
    }

    /// The IKE SA and inbound SPI of the Child SA that has an SA `dst`/`spi` in the module.
    pub fn find(&self, dst: IpAddr, spi: u32) -> Option<(SaId, u32)> {
        self.list
            .iter()
            .find(|c| {
                (c.local == dst && c.inbound_spi == spi) || (c.peer == dst && c.outbound_spi == spi)
            })
            .map(|c| (c.sa, c.inbound_spi))
    }

    /// Marks a Child SA as being rekeyed; false if it already is.
    pub fn start_rekey(&mut self, sa: SaId, inbound_spi: u32) -> bool {
        match self
            .list
            .iter_mut()
            .find(|c| c.sa == sa && c.inbound_spi == inbound_spi)
        {
            Some(c) if !c.rekeying => {
                c.rekeying = true;
                true
            }
            _ => false,
        }
    }

    /// A rekey attempt of ours ended without replacing the Child SA: if its lifetime started
    /// it, try again in 10 s (a failed `ikeuser rekey` is not retried).
    pub fn rekey_failed(&mut self, sa: SaId, inbound_spi: u32) {
        if let Some(c) = self
            .list
            .iter_mut()
            .find(|c| c.sa == sa && c.inbound_spi == inbound_spi && c.rekeying)
        {
            c.rekeying = false;
            c.retry_rekey = Some(Instant::now() + std::time::Duration::from_secs(10));
        }
    }

    /// Child SAs whose rekey retry is due, marked as rekeying again.
    pub fn retries_due(&mut self) -> Vec<(SaId, u32)> {
        let now = Instant::now();
        self.list
            .iter_mut()
            .filter(|c| !c.rekeying && c.retry_rekey.is_some_and(|t| t <= now))
            .map(|c| {
                c.rekeying = true;
                c.retry_rekey = None;
                (c.sa, c.inbound_spi)
            })
            .collect()
    }

    /// Children follow their IKE SA when it is rekeyed.
    pub fn move_sa(&mut self, old: SaId, new: SaId) {
        for c in self.list.iter_mut().filter(|c| c.sa == old) {
            c.sa = new;
        }
        for l in self.lingering.iter_mut().filter(|l| l.sa == old) {
            l.sa = new;
        }
    }
}

/// Installs `c`'s held-back outbound SA, if it has one; what went wrong, if anything.
fn install_pending_out(k: &mut Kernel, c: &mut ChildRecord) -> Option<String> {
    let p = c.pending_out.take()?;
    let local = c.local;
    k.add_sa(&p.child, false, local, p.reqid, p.soft, p.hard)
        .err()
        .map(|e| {
            format!(
                "Child SA `{}`: cannot install the outbound SA 0x{:08x}: {e:#}",
                c.child, c.outbound_spi
            )
        })
}

/// The module's soft and hard limits for a new Child SA: the child's own hard limits, or the
/// shorter ones IKEv1 negotiated.
fn kernel_lifetimes(cfg: &Child, child: &ChildSa) -> (LifeLimits, LifeLimits) {
    let rekey = LifeLimits {
        secs: cfg.rekey_time,
        bytes: cfg.rekey_bytes,
    };
    let ours = LifeLimits {
        secs: cfg.life_time,
        bytes: cfg.life_bytes,
    };
    (
        soft_limits(rekey, ours.min(child.life), child.inbound.spi),
        ours.min(child.life),
    )
}

/// The rekey limits for `hard`: the configured ones, but a tenth before a hard limit they
/// would not beat. Rekeys by time are jittered by up to a tenth (by `seed`), so that both
/// peers rarely rekey at once.
fn soft_limits(rekey: LifeLimits, hard: LifeLimits, seed: u32) -> LifeLimits {
    let before_hard = |rekey: Option<u64>, hard: Option<u64>| match (rekey, hard) {
        (Some(r), Some(h)) if r < h => Some(r),
        (_, Some(h)) => Some(h - (h / 10).max(1)),
        (r, None) => r,
    };
    let secs = before_hard(rekey.secs, hard.secs).map(|t| {
        let jitter = u64::from(seed) % (t / 10 + 1);
        t.saturating_sub(jitter).max(1)
    });
    LifeLimits {
        secs,
        bytes: before_hard(rekey.bytes, hard.bytes).map(|b| b.max(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn life(secs: Option<u64>, bytes: Option<u64>) -> LifeLimits {
        LifeLimits { secs, bytes }
    }

    #[test]
    fn rekeys_come_before_the_hard_limit() {
        // The configured rekey, jittered by up to a tenth (seed 0: none).
        assert_eq!(
            soft_limits(life(Some(100), Some(5000)), life(Some(120), Some(9000)), 0),
            life(Some(100), Some(5000))
        );
        assert_eq!(
            soft_limits(life(Some(100), None), life(None, None), 7).secs,
            Some(93)
        );
        // A negotiated hard limit shorter than the rekey: a tenth before it.
        assert_eq!(
            soft_limits(life(Some(3000), Some(5000)), life(Some(600), Some(2000)), 0),
            life(Some(540), Some(1800))
        );
        // No rekey configured, but a hard limit: rekey before it all the same.
        assert_eq!(
            soft_limits(life(None, None), life(Some(3600), Some(1_000_000)), 0),
            life(Some(3240), Some(900_000))
        );
        assert_eq!(
            soft_limits(life(None, None), life(None, None), 5),
            life(None, None)
        );
        // Tiny limits (a peer may name them) still get a soft limit before the hard one.
        assert_eq!(
            soft_limits(life(None, None), life(Some(5), Some(5)), 0),
            life(Some(4), Some(4))
        );
    }
}
