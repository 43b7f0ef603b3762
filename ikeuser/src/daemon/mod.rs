//! `ikeuser daemon`: drives the sans-IO IKE engine with UDP sockets, the clock, the control
//! socket and ripsec's netlink family. Threads only read (datagrams, control requests, module
//! events, signals) and hand what they read to the one loop that owns all state.

mod children;
pub(crate) mod engines;
mod peer;
mod sockets;
pub mod status;

use crate::config::{Config, Connection, StartAction};
use crate::control::{Reply, Request};
use crate::kernel::{prefix_ts, Kernel};
use crate::netlink::{GenlMsg, Ripsec};
use anyhow::{anyhow, bail, Context, Result};
use children::Children;
use ripsec_ike::engine::{self, ChildSa, FailedRequest, Output, SaId, SpiAllocator};
use ripsec_ike::Identity;
use sockets::IkeSockets;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Longest wait between two loop turns (housekeeping, waiter timeouts).
const TICK: Duration = Duration::from_millis(500);
/// Inputs (datagrams, control requests, module events) waiting for the main loop at most;
/// datagrams beyond it are dropped.
const INPUT_QUEUE: usize = 256;
/// How long shutdown waits for peers to answer our DELETEs.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Reqids of the daemon's Child SAs: this plus 256 times the connection's index in the file
/// plus the child's index in its connection (the configuration allows 256 of each).
const REQID_BASE: u32 = 0x1_0000;

/// What the reader threads hand to the loop.
enum Input {
    /// `to`: our address and port it arrived on (the socket's).
    Datagram {
        from: SocketAddr,
        to: SocketAddr,
        bytes: Vec<u8>,
    },
    Control {
        req: Request,
        reply: Sender<Reply>,
    },
    Kernel(GenlMsg),
    Stop,
}

/// Logs one line on stderr, prefixed with seconds since start.
macro_rules! say {
    ($d:expr, $($arg:tt)*) => {
        eprintln!("[{:8.3}] {}", $d.started.elapsed().as_secs_f64(), format_args!($($arg)*))
    };
}

/// A control request waiting for the engine.
struct Waiter {
    sa: SaId,
    kind: WaitKind,
    reply: Sender<Reply>,
    /// `up` and Child SA rekeys: the children still awaited.
    pending: Vec<String>,
    /// Messages of the children installed so far, and of those that failed.
    done: Vec<String>,
    failed: Vec<String>,
}

impl Waiter {
    fn new(sa: SaId, kind: WaitKind, reply: Sender<Reply>) -> Self {
        Self {
            sa,
            kind,
            reply,
            pending: Vec::new(),
            done: Vec::new(),
            failed: Vec::new(),
        }
    }

    fn awaiting(mut self, children: Vec<String>) -> Self {
        self.pending = children;
        self
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WaitKind {
    Up,
    Down,
    /// Child SA rekeys, answered per child.
    Rekey,
    /// An IKE SA rekey, answered by its outcome only.
    RekeyIke,
}

/// An IKE SA as the daemon knows it.
struct IkeRecord {
    conn: Option<String>,
    initiator: bool,
    established: Option<Instant>,
    /// When to rekey the IKE SA (from the connection's `rekey_time`).
    rekey_at: Option<Instant>,
    /// Children (indices) to create once the IKE SA is established.
    want: Vec<usize>,
    /// Children whose CREATE_CHILD_SA we asked for and that are not answered yet.
    creating: Vec<usize>,
}

impl IkeRecord {
    fn new(conn: Option<String>, initiator: bool) -> Self {
        Self {
            conn,
            initiator,
            established: None,
            rekey_at: None,
            want: Vec::new(),
            creating: Vec::new(),
        }
    }
}

/// SPIs come from the module (GETSPI), so they never collide with other SAs.
struct GetSpi(Kernel);

impl SpiAllocator for GetSpi {
    fn allocate(&mut self, peer: IpAddr) -> Result<u32, String> {
        self.0
            .getspi(peer)
            .map_err(|e| format!("cannot reserve an SPI in ripsec: {e:#}"))
    }
}

pub struct Daemon {
    cfg: Config,
    engine: engines::Engines,
    started: Instant,
    kernel: Kernel,
    sockets: IkeSockets,
    /// When the next NAT keepalives are due.
    next_keepalive: Instant,
    ike: BTreeMap<SaId, IkeRecord>,
    children: Children,
    waiters: Vec<Waiter>,
    bypass: Vec<u32>,
    stopping: Option<Instant>,
    /// The control socket file is ours to remove.
    socket_created: bool,
}

/// Runs the daemon until SIGTERM/SIGINT.
pub fn run(cfg: Config) -> Result<()> {
    // Bounded: under a flood the readers drop datagrams (as a full socket buffer would)
    // rather than queue them without limit in our memory and ahead of everyone else.
    let (tx, rx) = mpsc::sync_channel(INPUT_QUEUE);
    let kernel = Kernel::connect()?;
    let mut d = Daemon {
        engine: engines::Engines::new(cfg.retransmit),
        started: Instant::now(),
        kernel,
        sockets: IkeSockets::new(cfg.natt_port),
        next_keepalive: Instant::now(),
        ike: BTreeMap::new(),
        children: Children::default(),
        waiters: Vec::new(),
        bypass: Vec::new(),
        stopping: None,
        socket_created: false,
        cfg,
    };
    let r = d.start(&tx).and_then(|()| d.serve(&rx));
    d.cleanup();
    if d.socket_created {
        let _ = std::fs::remove_file(&d.cfg.socket);
    }
    r
}

impl Daemon {
    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// The reqid of child `child` (index) of connection `conn`.
    fn reqid(&self, conn: &str, child: usize) -> u32 {
        let index = self
            .cfg
            .connections
            .iter()
            .position(|c| c.name == conn)
            .unwrap_or(0);
        let index = u32::try_from(index).unwrap_or(0).wrapping_mul(256);
        REQID_BASE
            .wrapping_add(index)
            .wrapping_add(u32::try_from(child).unwrap_or(0))
    }

    /// The connection and child index a reqid stands for.
    fn of_reqid(&self, reqid: u32) -> Option<(Connection, usize)> {
        self.cfg.connections.iter().find_map(|c| {
            (0..c.children.len())
                .find(|i| self.reqid(&c.name, *i) == reqid)
                .map(|i| (c.clone(), i))
        })
    }

    fn start(&mut self, tx: &SyncSender<Input>) -> Result<()> {
        self.engine.set_spi_allocators(
            Box::new(GetSpi(Kernel::connect()?)),
            Box::new(GetSpi(Kernel::connect()?)),
        );
        for conn in &self.cfg.connections {
            self.engine.add_config(conn);
        }
        self.engine.set_natt_port(self.cfg.natt_port);
        self.engine.set_cookie_threshold(self.cfg.cookie_threshold);
        // `encap = true` also holds when the peer initiates.
        let forced = self.cfg.connections.iter().filter(|c| c.encap);
        self.engine
            .set_encap_peers(forced.map(|c| c.remote).collect());
        // Sockets per local address, so replies leave from the address peers expect.
        let locals: Vec<IpAddr> = self.cfg.connections.iter().map(|c| c.local).collect();
        for local in locals {
            self.sockets
                .open(local, self.cfg.port, &mut self.kernel, tx)?;
        }
        self.spawn_control(tx)?;
        // Only now, with the IKE port and the control socket ours (so no other daemon runs
        // here), is what a killed predecessor left behind safe to remove.
        // Child reqids, and the same under a trap (children::UNDER_TRAP).
        let leftovers = REQID_BASE..REQID_BASE.wrapping_add(0x2_0000);
        let natt_leftovers = self.kernel.remove_leftovers(self.cfg.natt_port, 0..0);
        match self
            .kernel
            .remove_leftovers(self.cfg.port, leftovers)
            .and_then(|(s, p)| natt_leftovers.map(|(_, q)| (s, p + q)))
        {
            Ok((0, 0)) => {}
            Ok((sas, policies)) => eprintln!(
                "ikeuser daemon: removed {sas} SAs and {policies} policies left by an earlier ikeuser that did not clean up (killed?)"
            ),
            Err(e) => eprintln!(
                "ikeuser daemon: could not look for SAs and policies left by an earlier ikeuser: {e:#}"
            ),
        }
        self.bypass = self
            .kernel
            .bypass_ike(self.cfg.port)
            .context("cannot install the bypass policies for IKE traffic")?;
        let natt = self
            .kernel
            .bypass_ike(self.cfg.natt_port)
            .context("cannot install the bypass policies for IKE on the NAT traversal port")?;
        self.bypass.extend(natt);
        self.spawn_events(tx)?;
        let signals_tx = tx.clone();
        let mut signals = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGINT,
        ])?;
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                let _ = signals_tx.send(Input::Stop);
            }
        });
        say!(
            self,
            "ikeuser daemon: {} connection(s) from {}, control socket {}, UDP port {}",
            self.cfg.connections.len(),
            self.cfg.path.display(),
            self.cfg.socket.display(),
            self.cfg.port
        );
        for warning in self.cfg.warnings() {
            say!(self, "warning: {warning}");
        }
        let conns = self.cfg.connections.clone();
        for conn in &conns {
            match conn.start {
                StartAction::None => {}
                StartAction::Start => {
                    self.initiate(conn, 0, (1..conn.children.len()).collect());
                }
                StartAction::Trap => {
                    for (i, child) in conn.children.iter().enumerate() {
                        let reqid = self.reqid(&conn.name, i);
                        self.children
                            .trap(&mut self.kernel, conn, child, reqid)
                            .with_context(|| {
                                format!("connection {}: cannot install trap policies", conn.name)
                            })?;
                    }
                    say!(
                        self,
                        "{}: trap policies installed; traffic will start it",
                        conn.name
                    );
                }
            }
        }
        Ok(())
    }

    fn spawn_control(&mut self, tx: &SyncSender<Input>) -> Result<()> {
        let path = &self.cfg.socket;
        if UnixStream::connect(path).is_ok() {
            bail!(
                "another ikeuser daemon already listens on {}; stop it or set [daemon] socket",
                path.display()
            );
        }
        let _ = std::fs::remove_file(path);
        // Created without group/other access, so no one else can connect before the chmod.
        // SAFETY: umask only changes this process's file-creation mask; no memory involved.
        let old_mask = unsafe { libc::umask(0o177) };
        let bound = UnixListener::bind(path);
        // SAFETY: as above, restoring the previous mask.
        unsafe { libc::umask(old_mask) };
        let listener = bound
            .with_context(|| format!("cannot create the control socket {}", path.display()))?;
        self.socket_created = true;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        let tx = tx.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let tx = tx.clone();
                std::thread::spawn(move || serve_client(stream, &tx));
            }
        });
        Ok(())
    }

    fn spawn_events(&self, tx: &SyncSender<Input>) -> Result<()> {
        let mut nl = Ripsec::connect()?;
        nl.subscribe()?;
        let tx = tx.clone();
        std::thread::spawn(move || {
            loop {
                match nl.next_event() {
                    Ok(m) => {
                        if tx.send(Input::Kernel(m)).is_err() {
                            break;
                        }
                    }
                    // ENOBUFS after a burst of events loses some, not the subscription.
                    Err(e) => {
                        eprintln!("ikeuser daemon: reading ripsec events: {e:#}; continuing");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        });
        Ok(())
    }

    fn serve(&mut self, rx: &Receiver<Input>) -> Result<()> {
        loop {
            let now = self.now();
            let wait = self
                .engine
                .next_timeout()
                .map_or(TICK, |t| t.saturating_sub(now).min(TICK));
            let input = rx.recv_timeout(wait);
            // Certificate validity is checked against the wall clock.
            if let Ok(since_epoch) = SystemTime::now().duration_since(UNIX_EPOCH) {
                self.engine.set_wall_clock(since_epoch.as_secs());
            }
            match input {
                Ok(Input::Datagram { from, to, bytes }) => {
                    let now = self.now();
                    self.engine.handle_datagram(now, from, to, &bytes);
                }
                Ok(Input::Control { req, reply }) => self.control(req, reply),
                Ok(Input::Kernel(m)) => self.kernel_event(&m),
                Ok(Input::Stop) => self.stop(),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => bail!("all input threads ended"),
            }
            let now = self.now();
            self.engine.tick(now);
            self.rekey_due();
            self.keepalives_due();
            self.drain();
            if let Some(since) = self.stopping {
                let established = self.ike.values().any(|r| r.established.is_some());
                if !established || since.elapsed() > SHUTDOWN_GRACE {
                    say!(self, "stopping");
                    return Ok(());
                }
            }
        }
    }

    fn stop(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        say!(self, "shutting down: deleting IKE SAs");
        self.stopping = Some(Instant::now());
        let now = self.now();
        let ids: Vec<SaId> = self
            .ike
            .iter()
            .filter(|(_, r)| r.established.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.engine.delete(now, id);
        }
    }

    /// Removes everything the daemon installed.
    fn cleanup(&mut self) {
        self.children.remove_all(&mut self.kernel);
        for id in std::mem::take(&mut self.bypass) {
            let _ = self.kernel.del_policy(id);
        }
    }

    /// Starts an IKE SA of `conn` whose IKE_AUTH negotiates child `first`; the children
    /// `then` follow with CREATE_CHILD_SA once it is established.
    fn initiate(&mut self, conn: &Connection, first: usize, then: Vec<usize>) -> SaId {
        let now = self.now();
        let peer = SocketAddr::new(conn.remote, conn.remote_port.unwrap_or(self.cfg.port));
        // A peer on the NAT traversal port is spoken to from ours, with the non-ESP marker.
        let port = if peer.port() == self.cfg.natt_port {
            self.cfg.natt_port
        } else {
            self.cfg.port
        };
        let local = SocketAddr::new(conn.local, port);
        say!(self, "{}: initiating to {peer}", conn.name);
        let id = self.engine.initiate_child(now, conn, first, peer, local);
        let mut rec = IkeRecord::new(Some(conn.name.clone()), true);
        rec.want = then;
        rec.creating = vec![first];
        self.ike.insert(id, rec);
        id
    }

    /// Asks for a Child SA of child `index` over the IKE SA `id`, now if it is established,
    /// else once it is; nothing if one is already on its way.
    fn create_child(&mut self, id: SaId, index: usize) {
        let now = self.now();
        let Some(rec) = self.ike.get_mut(&id) else {
            return;
        };
        if rec.creating.contains(&index) || rec.want.contains(&index) {
            return;
        }
        if rec.established.is_some() {
            if self.engine.create_child(now, id, index) {
                rec.creating.push(index);
            } else {
                let name = self.conn_name(id);
                let child = self
                    .cfg
                    .connection(&name)
                    .and_then(|c| c.children.get(index))
                    .map_or_else(|| format!("#{index}"), |c| c.name.clone());
                let msg = format!(
                    "{name}: child `{child}`: IKE SA #{} is closing or being replaced by a rekey; try again",
                    id.0
                );
                say!(self, "{msg}");
                self.child_done(id, &child, Err(msg));
            }
        } else {
            rec.want.push(index);
        }
    }

    /// The names of `conn`'s children without an installed Child SA in IKE SA `id`.
    fn missing_children(&self, conn: &Connection, id: SaId) -> Vec<(usize, String)> {
        conn.children
            .iter()
            .enumerate()
            .filter(|(_, ch)| !self.children.of_sa(id).any(|c| c.child == ch.name))
            .map(|(i, ch)| (i, ch.name.clone()))
            .collect()
    }

    /// When an IKE SA of `conn` established now should be rekeyed (minus up to 10 % jitter).
    fn ike_rekey_at(&self, conn: &str) -> Option<Instant> {
        let secs = self.cfg.connection(conn)?.rekey_time?;
        let jitter = u64::from(self.started.elapsed().subsec_nanos()) % (secs / 10 + 1);
        Some(Instant::now() + Duration::from_secs(secs.saturating_sub(jitter).max(1)))
    }

    /// Switches held-back outbound SAs whose wait is over, and starts the IKE SA rekeys and
    /// Child SA rekey retries that are due.
    fn rekey_due(&mut self) {
        for problem in self.children.pending_out_due(&mut self.kernel) {
            say!(self, "{problem}");
        }
        for (sa, spi) in self.children.retries_due() {
            let name = self.conn_name(sa);
            say!(self, "{name}: retrying the rekey of Child SA 0x{spi:08x}");
            let t = self.now();
            if !self.engine.rekey_child(t, sa, spi) {
                self.children.rekey_failed(sa, spi);
            }
        }
        let now = Instant::now();
        let due: Vec<SaId> = self
            .ike
            .iter()
            .filter(|(_, r)| r.established.is_some() && r.rekey_at.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            say!(
                self,
                "{} reached its rekey_time; rekeying it",
                self.sa_label(id)
            );
            if let Some(r) = self.ike.get_mut(&id) {
                // Retried in 5-9 s unless the rekey replaces this SA first (it fails when
                // the peer refuses or does not answer; a collision with the peer's own
                // rekey still replaces it, RFC 7296 §2.8.2).
                let jitter = u64::from(self.started.elapsed().subsec_millis()) % 4;
                r.rekey_at = Some(now + Duration::from_secs(5 + jitter));
            }
            let t = self.now();
            self.engine.rekey_ike(t, id);
        }
    }

    /// Whether a connection has an IKE SA that is up or being set up.
    fn active(&self, conn: &str) -> Option<SaId> {
        self.ike
            .iter()
            .find(|(_, r)| r.conn.as_deref() == Some(conn))
            .map(|(id, _)| *id)
    }

    /// Answers a control request: at once, or through a waiter once the engine is done.
    fn control(&mut self, req: Request, reply: Sender<Reply>) {
        let answer = match req {
            Request::Status => {
                let mut r = Reply::ok("");
                r.status = Some(status::collect(self));
                Some(r)
            }
            Request::Up { .. } if self.stopping.is_some() => {
                Some(Reply::err("the daemon is shutting down"))
            }
            Request::Up { conn } => self.up(&conn, &reply),
            Request::Down { conn } => self.down(&conn, &reply),
            Request::Rekey { conn, ike, child } => self.rekey(&conn, ike, child, &reply),
        };
        if let Some(answer) = answer {
            let _ = reply.send(answer);
        }
    }

    /// The configured connection `name`, or the reply naming those there are.
    fn connection_or_reply(&self, name: &str) -> Result<Connection, Reply> {
        self.cfg.connection(name).cloned().ok_or_else(|| {
            let names: Vec<&str> = self
                .cfg
                .connections
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            Reply::err(format!(
                "no connection `{name}` in {}; configured: {}",
                self.cfg.path.display(),
                names.join(", ")
            ))
        })
    }

    /// `up`: starts the connection, or the children its IKE SA lacks; `None` when a waiter
    /// answers later.
    fn up(&mut self, conn: &str, reply: &Sender<Reply>) -> Option<Reply> {
        let c = match self.connection_or_reply(conn) {
            Ok(c) => c,
            Err(e) => return Some(e),
        };
        if let Some(id) = self.active(conn) {
            let missing = self.missing_children(&c, id);
            if missing.is_empty() {
                return Some(Reply::ok(format!(
                    "{conn} is already up (IKE SA #{})",
                    id.0
                )));
            }
            for (i, _) in &missing {
                self.create_child(id, *i);
            }
            let names = missing.into_iter().map(|(_, n)| n).collect();
            let waiter = Waiter::new(id, WaitKind::Up, reply.clone()).awaiting(names);
            self.waiters.push(waiter);
            return None;
        }
        let id = self.initiate(&c, 0, (1..c.children.len()).collect());
        let names = c.children.iter().map(|ch| ch.name.clone()).collect();
        let waiter = Waiter::new(id, WaitKind::Up, reply.clone()).awaiting(names);
        self.waiters.push(waiter);
        None
    }

    /// `down`: deletes the connection's IKE SAs; `None` when a waiter answers later.
    fn down(&mut self, conn: &str, reply: &Sender<Reply>) -> Option<Reply> {
        if let Err(e) = self.connection_or_reply(conn) {
            return Some(e);
        }
        let ids: Vec<SaId> = self
            .ike
            .iter()
            .filter(|(_, r)| r.conn.as_deref() == Some(conn))
            .map(|(id, _)| *id)
            .collect();
        let Some(first) = ids.first() else {
            return Some(Reply::err(format!(
                "{conn} has no IKE SA; nothing to take down"
            )));
        };
        let now = self.now();
        for id in &ids {
            self.engine.delete(now, *id);
        }
        let waiter = Waiter::new(*first, WaitKind::Down, reply.clone());
        self.waiters.push(waiter);
        None
    }

    /// `rekey`: rekeys the IKE SA (`ike`), or the Child SAs (of `child`, or all); `None` when
    /// a waiter answers later.
    fn rekey(
        &mut self,
        conn: &str,
        ike: bool,
        child: Option<String>,
        reply: &Sender<Reply>,
    ) -> Option<Reply> {
        let c = match self.connection_or_reply(conn) {
            Ok(c) => c,
            Err(e) => return Some(e),
        };
        if let Some(name) = child.as_ref().filter(|n| c.child_index(n).is_none()) {
            let names: Vec<&str> = c.children.iter().map(|ch| ch.name.as_str()).collect();
            return Some(Reply::err(format!(
                "{conn} has no child `{name}`; its children are {}",
                names.join(", ")
            )));
        }
        let Some(id) = self.active(conn) else {
            return Some(Reply::err(format!("{conn} is not up; nothing to rekey")));
        };
        if !ike {
            return self.rekey_children(conn, id, child, reply);
        }
        let now = self.now();
        if self.engine.rekey_ike(now, id).is_none() {
            return Some(Reply::err(format!(
                "{conn}: the IKE SA #{} cannot be rekeyed now",
                id.0
            )));
        }
        let waiter = Waiter::new(id, WaitKind::RekeyIke, reply.clone());
        self.waiters.push(waiter);
        None
    }

    /// Rekeys the Child SAs of IKE SA `id` (those of `child`, or all).
    fn rekey_children(
        &mut self,
        conn: &str,
        id: SaId,
        child: Option<String>,
        reply: &Sender<Reply>,
    ) -> Option<Reply> {
        let now = self.now();
        let children: Vec<(u32, String)> = self
            .children
            .of_sa(id)
            .filter(|c| child.as_ref().is_none_or(|n| *n == c.child))
            .map(|c| (c.inbound_spi, c.child.clone()))
            .collect();
        let mut names = Vec::new();
        for (spi, name) in &children {
            if self.engine.rekey_child(now, id, *spi) {
                names.push(name.clone());
            }
        }
        names.sort();
        names.dedup();
        if children.is_empty() {
            return Some(Reply::err(match &child {
                Some(name) => format!("{conn}: child `{name}` has no Child SA to rekey"),
                None => format!("{conn} has no Child SA to rekey"),
            }));
        }
        if names.is_empty() {
            return Some(Reply::err(format!(
                "{conn}: its Child SAs are being deleted or replaced; try again"
            )));
        }
        let waiter = Waiter::new(id, WaitKind::Rekey, reply.clone()).awaiting(names);
        self.waiters.push(waiter);
        None
    }

    fn answer(&mut self, sa: SaId, kinds: &[WaitKind], reply: &Reply) {
        self.waiters.retain(|w| {
            if w.sa == sa && kinds.contains(&w.kind) {
                let _ = w.reply.send(reply.clone());
                false
            } else {
                true
            }
        });
    }

    /// A Child SA of child `child` in IKE SA `sa` was installed (`Ok`) or could not be
    /// (`Err`): `up` and rekey waiters answer once every child they await is accounted for.
    fn child_done(&mut self, sa: SaId, child: &str, result: Result<String, String>) {
        let mut answered = Vec::new();
        for (i, w) in self.waiters.iter_mut().enumerate() {
            if w.sa != sa || !matches!(w.kind, WaitKind::Up | WaitKind::Rekey) {
                continue;
            }
            let Some(at) = w.pending.iter().position(|n| n == child) else {
                continue;
            };
            w.pending.remove(at);
            match &result {
                Ok(m) => w.done.push(m.clone()),
                Err(m) => w.failed.push(m.clone()),
            }
            if w.pending.is_empty() {
                let mut lines = w.failed.clone();
                lines.extend(w.done.iter().cloned());
                let _ = w.reply.send(if w.failed.is_empty() {
                    Reply::ok(lines.join("\n"))
                } else {
                    Reply::err(lines.join("\n"))
                });
                answered.push(i);
            }
        }
        for i in answered.into_iter().rev() {
            self.waiters.remove(i);
        }
    }

    /// The connection of IKE SA `sa`, or "IKE SA #N" while it is unknown.
    fn conn_name(&self, sa: SaId) -> String {
        self.ike
            .get(&sa)
            .and_then(|r| r.conn.clone())
            .unwrap_or_else(|| format!("IKE SA #{}", sa.0))
    }

    /// How log lines name IKE SA `sa` (see [`sa_label`]).
    fn sa_label(&self, sa: SaId) -> String {
        sa_label(self.ike.get(&sa).and_then(|r| r.conn.as_deref()), sa)
    }

    /// NAT keepalives (RFC 3948 §2.3) for the IKE SAs behind a NAT, every `keepalive`.
    fn keepalives_due(&mut self) {
        let Some(every) = self.cfg.keepalive else {
            return;
        };
        if Instant::now() < self.next_keepalive {
            return;
        }
        self.next_keepalive = Instant::now() + every;
        for sa in self.engine.status() {
            if sa.nat.local_behind_nat && sa.established_at.is_some() {
                if let Err(e) = self.sockets.keepalive(sa.local, sa.peer) {
                    say!(self, "{e}");
                }
            }
        }
    }

    /// The peer of IKE SA `sa` moved to `peer` (its NAT mapping changed): its Child SAs'
    /// outbound ESP follows, to a new port or a new address.
    fn peer_moved(&mut self, sa: SaId, peer: SocketAddr) {
        let label = self.sa_label(sa);
        say!(
            self,
            "{label}: the peer's NAT mapping changed; it is now at {peer}"
        );
        let natt = self.cfg.natt_port;
        for problem in self.children.follow_peer(&mut self.kernel, sa, peer, natt) {
            say!(self, "{label}: {problem}");
        }
    }

    fn drain(&mut self) {
        let mut outputs = Vec::new();
        while let Some(o) = self.engine.poll_output() {
            outputs.push(o);
        }
        // An SA's connection is known from Established; handle those first.
        outputs.sort_by_key(|o| !matches!(o, Output::Established { .. }));
        for o in outputs {
            self.output(o);
        }
    }

    fn output(&mut self, o: Output) {
        match o {
            Output::Send { from, to, bytes } => {
                if let Err(e) = self.sockets.send(from, to, &bytes) {
                    say!(self, "{e}");
                }
            }
            Output::PeerMoved { sa, peer, .. } => self.peer_moved(sa, peer),
            Output::Established {
                sa,
                peer_id,
                config,
            } => self.established(sa, &peer_id, config),
            Output::InstallChild { sa, child } => self.install_child(sa, &child),
            Output::RemoveChild {
                sa,
                inbound_spi,
                outbound_spi,
            } => {
                let name = self.conn_name(sa);
                if let Some(msg) = self.children.remove(&mut self.kernel, sa, inbound_spi) {
                    say!(self, "{name}: {msg}");
                } else {
                    say!(self, "{name}: Child SA in 0x{inbound_spi:08x} out 0x{outbound_spi:08x} was not installed");
                }
            }
            Output::IkeRekeyed { old, new } => self.ike_rekeyed(old, new),
            Output::Closed { sa, reason } => {
                let msg = format!("{} closed: {reason}", self.sa_label(sa));
                self.ike_sa_gone(sa, &msg, &msg);
            }
            Output::Failed { sa, reason } => {
                let name = self.conn_name(sa);
                self.ike_sa_gone(
                    sa,
                    &format!("{} failed: {reason}", self.sa_label(sa)),
                    &format!("{name}: {reason}"),
                );
            }
            Output::RequestFailed {
                sa,
                reason,
                request,
            } => self.request_failed(sa, &reason, request),
            Output::Warning { sa, message } => {
                say!(self, "{}: warning: {message}", self.sa_label(sa));
            }
            Output::Debug { sa, message } => {
                say!(self, "{}: debug: {message}", self.sa_label(sa));
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    /// An IKE SA is up: its record learns its connection, and the children waiting for it
    /// are asked for.
    fn established(&mut self, sa: SaId, peer_id: &Identity, config: String) {
        let now = Instant::now();
        let rec = self
            .ike
            .entry(sa)
            .or_insert_with(|| IkeRecord::new(None, false));
        rec.conn = Some(config.clone());
        rec.established = Some(now);
        let role = if rec.initiator {
            "initiator"
        } else {
            "responder"
        };
        let rekey_at = self.ike_rekey_at(&config);
        if let Some(r) = self.ike.get_mut(&sa) {
            r.rekey_at = rekey_at;
        }
        say!(
            self,
            "{config}: IKE SA #{} established with {peer_id} as {role}",
            sa.0
        );
        // The other children of `up`, `start` or ACQUIREs during IKE_AUTH.
        let want = self
            .ike
            .get_mut(&sa)
            .map(|r| std::mem::take(&mut r.want))
            .unwrap_or_default();
        for index in want {
            self.create_child(sa, index);
        }
    }

    /// Installs a negotiated Child SA into ripsec; one that cannot be installed takes its IKE
    /// SA down.
    fn install_child(&mut self, sa: SaId, child: &ChildSa) {
        let conn_name = self.conn_name(sa);
        let Some(conn) = self.cfg.connection(&conn_name).cloned() else {
            say!(
                self,
                "IKE SA #{}: a Child SA for an unknown connection; ignored",
                sa.0
            );
            return;
        };
        let mut children = conn.children.iter().enumerate();
        let Some((index, cfg)) = children.find(|(_, c)| c.name == child.child) else {
            say!(
                self,
                "{}: IKE SA #{}: a Child SA for unknown child `{}`; ignored",
                conn.name,
                sa.0,
                child.child
            );
            return;
        };
        if let Some(r) = self.ike.get_mut(&sa) {
            r.creating.retain(|i| *i != index);
        }
        let reqid = self.reqid(&conn.name, index);
        let installed = self
            .children
            .install(&mut self.kernel, (&conn, cfg), reqid, sa, child);
        match installed {
            Ok(msg) => {
                say!(self, "{}: {msg}", conn.name);
                let msg = format!("{}: {msg}", conn.name);
                self.child_done(sa, &child.child, Ok(msg));
            }
            Err(e) => {
                let msg = format!(
                    "{}: cannot install the Child SA into ripsec: {e:#}",
                    conn.name
                );
                say!(self, "{msg}");
                self.child_done(sa, &child.child, Err(msg));
                let now = self.now();
                self.engine.delete(now, sa);
            }
        }
    }

    /// IKE SA `old` was rekeyed: its record, Child SAs and waiters move to `new`.
    fn ike_rekeyed(&mut self, old: SaId, new: SaId) {
        let Some(mut rec) = self.ike.remove(&old) else {
            return;
        };
        let name = rec.conn.clone().unwrap_or_default();
        rec.established = Some(Instant::now());
        rec.rekey_at = self.ike_rekey_at(&name);
        self.ike.insert(new, rec);
        self.children.move_sa(old, new);
        say!(self, "{name}: IKE SA #{} rekeyed, now #{}", old.0, new.0);
        self.answer(
            old,
            &[WaitKind::RekeyIke],
            &Reply::ok(format!(
                "{name}: IKE SA rekeyed (#{} replaces #{})",
                new.0, old.0
            )),
        );
        // A `down` or shutdown asked for while the rekey ran applies to the new SA.
        let down = self
            .waiters
            .iter()
            .any(|w| w.sa == old && w.kind == WaitKind::Down);
        for w in self.waiters.iter_mut().filter(|w| w.sa == old) {
            w.sa = new;
        }
        if down || self.stopping.is_some() {
            let now = self.now();
            self.engine.delete(now, new);
        }
    }

    /// A request over IKE SA `sa` failed (ours), or we refused the peer's.
    fn request_failed(&mut self, sa: SaId, reason: &engine::Error, request: FailedRequest) {
        let name = self.conn_name(sa);
        say!(self, "{}: {reason}", self.sa_label(sa));
        match request {
            FailedRequest::NewChild(child) => {
                // A new Child SA of ours was refused: the others are unaffected.
                let index = self
                    .cfg
                    .connection(&name)
                    .and_then(|c| c.child_index(&child));
                if let (Some(r), Some(index)) = (self.ike.get_mut(&sa), index) {
                    r.creating.retain(|i| *i != index);
                }
                let msg = format!("{name}: child `{child}`: {reason}");
                self.child_done(sa, &child, Err(msg));
            }
            FailedRequest::ChildRekey { spi, child } => {
                self.children.rekey_failed(sa, spi);
                let msg = format!("{name}: child `{child}`: {reason}");
                self.child_done(sa, &child, Err(msg));
            }
            FailedRequest::IkeRekey => self.answer(
                sa,
                &[WaitKind::RekeyIke],
                &Reply::err(format!("{name}: {reason}")),
            ),
            // Refusing the peer's request, or failing to send a DELETE, changes
            // nothing the daemon tracks.
            FailedRequest::Peer | FailedRequest::Other => {}
        }
    }

    /// An IKE SA is gone (closed, or failed before it was up): remove what it installed and
    /// answer its waiters; `down` succeeded either way, `up` and `rekey` did not.
    fn ike_sa_gone(&mut self, sa: SaId, log: &str, failure: &str) {
        say!(self, "{log}");
        let name = self.conn_name(sa);
        for msg in self.children.remove_sa(&mut self.kernel, sa) {
            say!(self, "{name}: {msg}");
        }
        self.ike.remove(&sa);
        self.answer(sa, &[WaitKind::Down], &Reply::ok(log));
        self.answer(
            sa,
            &[WaitKind::Up, WaitKind::Rekey, WaitKind::RekeyIke],
            &Reply::err(failure),
        );
    }

    fn kernel_event(&mut self, m: &GenlMsg) {
        let Ok(ev) = crate::monitor::decode(m.cmd, &m.payload) else {
            return;
        };
        match ev["event"].as_str() {
            Some("expire") => {
                let spi = u32::try_from(ev["spi"].as_u64().unwrap_or(0)).unwrap_or(0);
                let dst: Option<IpAddr> = ev["dst"].as_str().and_then(|s| s.parse().ok());
                let Some((sa, inbound_spi)) = dst.and_then(|d| self.children.find(d, spi)) else {
                    return;
                };
                let name = self.conn_name(sa);
                let now = self.now();
                if ev["hard"].as_bool() == Some(true) {
                    say!(self, "{name}: Child SA 0x{spi:08x} reached its hard lifetime; deleting it (no rekey finished in time)");
                    self.children.remove(&mut self.kernel, sa, inbound_spi);
                    self.engine.delete_child(now, sa, inbound_spi);
                } else if self.children.start_rekey(sa, inbound_spi) {
                    say!(
                        self,
                        "{name}: Child SA 0x{spi:08x} reached its soft lifetime; rekeying"
                    );
                    if !self.engine.rekey_child(now, sa, inbound_spi) {
                        self.children.rekey_failed(sa, inbound_spi);
                    }
                }
            }
            Some("mapping") => {
                let spi = u32::try_from(ev["spi"].as_u64().unwrap_or(0)).unwrap_or(0);
                let dst: Option<IpAddr> = ev["dst"].as_str().and_then(|s| s.parse().ok());
                let new: Option<IpAddr> = ev["new_src"].as_str().and_then(|s| s.parse().ok());
                let port = u16::try_from(ev["new_sport"].as_u64().unwrap_or(0)).unwrap_or(0);
                let found = dst.and_then(|d| self.children.find(d, spi));
                if let (Some((sa, _)), Some(new)) = (found, new) {
                    let peer = SocketAddr::new(new, port);
                    self.engine.follow_peer_port(sa, peer);
                    self.peer_moved(sa, peer);
                }
            }
            Some("acquire") => {
                let reqid = u32::try_from(ev["reqid"].as_u64().unwrap_or(0)).unwrap_or(0);
                let found = self
                    .of_reqid(reqid)
                    .filter(|(c, _)| c.start == StartAction::Trap);
                if let Some((conn, index)) = found {
                    let name = conn.children.get(index).map(|c| c.name.clone());
                    let name = name.unwrap_or_default();
                    let active = self.active(&conn.name);
                    // The IKE SA is up (or coming) but lacks this child.
                    let lacking = active.filter(|id| {
                        !self.children.of_sa(*id).any(|c| c.child == name)
                            && self.ike.get(id).is_some_and(|r| {
                                !r.creating.contains(&index) && !r.want.contains(&index)
                            })
                    });
                    if let Some(id) = lacking {
                        say!(
                            self,
                            "{}: traffic needs a Child SA; creating one (child `{name}`) in IKE SA #{}",
                            conn.name,
                            id.0
                        );
                        self.create_child(id, index);
                    } else if active.is_none() && self.stopping.is_none() {
                        say!(
                            self,
                            "{}: traffic {} -> {} needs it (acquire)",
                            conn.name,
                            ev["src"].as_str().unwrap_or("?"),
                            ev["dst"].as_str().unwrap_or("?")
                        );
                        self.initiate(&conn, index, Vec::new());
                    }
                }
            }
            _ => {}
        }
    }
}

/// The engine's view of a connection.
pub fn engine_config(conn: &Connection) -> engine::Config {
    engine::Config {
        name: conn.name.clone(),
        local_id: conn.local_id.clone(),
        remote_id: conn.remote_id.clone(),
        auth: conn.auth.clone(),
        ike_proposals: conn.ike.clone(),
        children: conn
            .children
            .iter()
            .map(|c| engine::ChildConfig {
                name: c.name.clone(),
                ts_local: c.local_ts.iter().map(prefix_ts).collect(),
                ts_remote: c.remote_ts.iter().map(prefix_ts).collect(),
                mode: c.mode,
                esp_proposals: c.esp.clone(),
                pfs: c.pfs,
                life: engine::LifeLimits {
                    secs: c.life_time,
                    bytes: c.life_bytes,
                },
            })
            .collect(),
        dpd_delay: conn.dpd_delay,
        encap: conn.encap,
    }
}

fn serve_client(mut stream: UnixStream, tx: &SyncSender<Input>) {
    let mut line = String::new();
    let Ok(read) = stream.try_clone() else {
        return;
    };
    if BufReader::new(read).read_line(&mut line).is_err() {
        return;
    }
    // Read first, so closing does not reset the connection before the client sees why.
    if let Err(why) = peer::may_control(&stream) {
        let _ = write_reply(&mut stream, &Reply::err(why));
        return;
    }
    let answer = match serde_json::from_str::<Request>(&line) {
        Err(e) => Reply::err(format!("malformed request: {e}")),
        Ok(req) => {
            let (reply_tx, reply_rx) = mpsc::channel();
            if tx
                .send(Input::Control {
                    req,
                    reply: reply_tx,
                })
                .is_err()
            {
                return;
            }
            reply_rx
                .recv()
                .unwrap_or_else(|_| Reply::err("the daemon is stopping"))
        }
    };
    let _ = write_reply(&mut stream, &answer);
}

fn write_reply(stream: &mut UnixStream, reply: &Reply) -> std::io::Result<()> {
    let mut s = serde_json::to_string(reply).map_err(std::io::Error::other)?;
    s.push('\n');
    stream.write_all(s.as_bytes())
}

/// "site: IKE SA #3", or "IKE SA #3" while its connection is unknown: the SA is named once.
fn sa_label(conn: Option<&str>, sa: SaId) -> String {
    match conn {
        Some(conn) => format!("{conn}: IKE SA #{}", sa.0),
        None => format!("IKE SA #{}", sa.0),
    }
}

/// Loads a configuration and runs the daemon.
pub fn main(path: &Path) -> Result<()> {
    let cfg = crate::config::load(path).map_err(|e| anyhow!("{e}"))?;
    run(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_name_an_ike_sa_once() {
        let sa = SaId(9);
        assert_eq!(sa_label(Some("site"), sa), "site: IKE SA #9");
        assert_eq!(sa_label(None, sa), "IKE SA #9");
        // The failure line of an IKE SA whose connection is not known yet (a responder).
        let reason = "authentication failed: unknown peer ID mallory.example";
        assert_eq!(
            format!("{} failed: {reason}", sa_label(None, sa)),
            "IKE SA #9 failed: authentication failed: unknown peer ID mallory.example"
        );
    }
}
