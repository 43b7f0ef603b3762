//! A small generic netlink client for the `ripsec` family, with extended-ACK error messages.

pub mod attr;

use anyhow::{anyhow, bail, Context, Result};
use attr::{find, parse, AttrWriter};
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};
use ripsec_proto::uapi;
use std::fmt;
use zeroize::Zeroize;

const NLMSG_HDR: usize = 16;
const GENL_HDR: usize = 4;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSGERR_ATTR_MISS_TYPE: u16 = 5;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const CTRL_ATTR_MCAST_GROUPS: u16 = 7;
const CTRL_ATTR_MCAST_GRP_NAME: u16 = 1;
const CTRL_ATTR_MCAST_GRP_ID: u16 = 2;

/// A netlink error reply: errno plus the kernel's extended-ACK message, if any.
#[derive(Debug)]
pub struct NlError {
    pub errno: i32,
    pub msg: Option<String>,
    pub missing_attr: Option<u32>,
}

impl fmt::Display for NlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let os = std::io::Error::from_raw_os_error(self.errno);
        match self.errno {
            libc::EPERM => write!(
                f,
                "permission denied: configuring ripsec needs CAP_NET_ADMIN in this network namespace; \
                 run ikeuser as root (for example with sudo)"
            )?,
            _ => write!(f, "the kernel rejected the request: {os}")?,
        }
        if let Some(m) = &self.msg {
            write!(f, ": {m}")?;
            // The kernel keeps 80 bytes of the message: the advice is ours to add.
            if m.contains("no crypto driver for") {
                write!(
                    f,
                    " (load the kernel module that provides it, or build it into the kernel)"
                )?;
            }
        }
        if let Some(t) = self.missing_attr {
            let name = uapi::attr_def(u16::try_from(t).unwrap_or(0)).map_or("?", |d| d.name);
            write!(f, " (missing attribute {name})")?;
        }
        Ok(())
    }
}

impl std::error::Error for NlError {}

/// Error for a missing family: the module is not loaded in this kernel.
#[derive(Debug)]
pub struct ModuleNotLoaded;

impl fmt::Display for ModuleNotLoaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the ripsec kernel module is not loaded (no generic netlink family \"{}\"); \
             load it with `insmod ripsec.ko` (build it with `make`) or `modprobe ripsec`",
            uapi::FAMILY_NAME
        )
    }
}

impl std::error::Error for ModuleNotLoaded {}

/// One received generic netlink message: its command and attributes payload.
pub struct GenlMsg {
    pub cmd: u8,
    pub payload: Vec<u8>,
}

/// A connected generic netlink socket.
pub struct GenlSocket {
    sock: Socket,
    seq: u32,
}

impl GenlSocket {
    pub fn new() -> Result<Self> {
        let mut sock =
            Socket::new(NETLINK_GENERIC).context("cannot open a generic netlink socket")?;
        sock.bind_auto().context("cannot bind the netlink socket")?;
        sock.connect(&SocketAddr::new(0, 0))
            .context("cannot connect the netlink socket")?;
        // Best effort: older kernels lack these options, and only the message detail is lost.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        Ok(Self { sock, seq: 0 })
    }

    /// Sends one request and collects the replies until the ACK (or DONE for dumps).
    pub fn request(
        &mut self,
        family: u16,
        cmd: u8,
        version: u8,
        flags: u16,
        attrs: &AttrWriter,
    ) -> Result<Vec<GenlMsg>> {
        self.seq = self.seq.wrapping_add(1);
        let len = NLMSG_HDR + GENL_HDR + attrs.buf.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&u32::try_from(len)?.to_ne_bytes());
        msg.extend_from_slice(&family.to_ne_bytes());
        msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK | flags).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&[cmd, version, 0, 0]);
        msg.extend_from_slice(&attrs.buf);
        let sent = self.sock.send(&msg, 0);
        // Requests can carry SA keys.
        msg.zeroize();
        sent.context("cannot send the netlink request")?;

        let mut out = Vec::new();
        loop {
            let (buf, _) = self
                .sock
                .recv_from_full()
                .context("cannot receive the netlink reply")?;
            let mut rest = &buf[..];
            while rest.len() >= NLMSG_HDR {
                let mlen = u32::from_ne_bytes(rest[0..4].try_into()?) as usize;
                let mtype = u16::from_ne_bytes(rest[4..6].try_into()?);
                let mflags = u16::from_ne_bytes(rest[6..8].try_into()?);
                let mseq = u32::from_ne_bytes(rest[8..12].try_into()?);
                if mlen < NLMSG_HDR || mlen > rest.len() {
                    bail!("malformed netlink reply (message length {mlen})");
                }
                let body = &rest[NLMSG_HDR..mlen];
                rest = &rest[attr::align(mlen).min(rest.len())..];
                if mseq != self.seq {
                    continue;
                }
                match mtype {
                    NLMSG_ERROR => {
                        let errno = -i32::from_ne_bytes(
                            body.get(0..4)
                                .ok_or_else(|| anyhow!("short error"))?
                                .try_into()?,
                        );
                        if errno == 0 && flags & NLM_F_DUMP == 0 {
                            return Ok(out);
                        }
                        if errno == 0 {
                            continue;
                        }
                        return Err(parse_error(errno, mflags, body).into());
                    }
                    NLMSG_DONE => {
                        if body.len() >= 4 {
                            let errno = -i32::from_ne_bytes(body[0..4].try_into()?);
                            if errno != 0 {
                                return Err(parse_error(errno, mflags, &[]).into());
                            }
                        }
                        return Ok(out);
                    }
                    _ => {
                        if body.len() < GENL_HDR {
                            bail!("malformed generic netlink reply");
                        }
                        out.push(GenlMsg {
                            cmd: body[0],
                            payload: body[GENL_HDR..].to_vec(),
                        });
                    }
                }
            }
        }
    }

    /// Resolves a family's id and multicast groups.
    pub fn resolve(&mut self, name: &str) -> Result<Family> {
        let mut w = AttrWriter::default();
        w.str(CTRL_ATTR_FAMILY_NAME, name);
        let replies = match self.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, 0, &w) {
            Ok(r) => r,
            Err(e)
                if e.downcast_ref::<NlError>()
                    .is_some_and(|n| n.errno == libc::ENOENT) =>
            {
                return Err(ModuleNotLoaded.into())
            }
            Err(e) => return Err(e),
        };
        let reply = replies
            .first()
            .ok_or_else(|| anyhow!("empty reply from nlctrl"))?;
        let attrs = parse(&reply.payload)?;
        let id = find(&attrs, CTRL_ATTR_FAMILY_ID)
            .ok_or_else(|| anyhow!("nlctrl reply without family id"))?
            .u16()?;
        let mut groups = Vec::new();
        if let Some(g) = find(&attrs, CTRL_ATTR_MCAST_GROUPS) {
            for grp in g.nested()? {
                let ga = grp.nested()?;
                if let (Some(n), Some(i)) = (
                    find(&ga, CTRL_ATTR_MCAST_GRP_NAME),
                    find(&ga, CTRL_ATTR_MCAST_GRP_ID),
                ) {
                    groups.push((n.str()?.to_string(), i.u32()?));
                }
            }
        }
        Ok(Family { id, groups })
    }
}

/// A resolved generic netlink family.
pub struct Family {
    pub id: u16,
    pub groups: Vec<(String, u32)>,
}

fn parse_error(errno: i32, flags: u16, body: &[u8]) -> NlError {
    let mut e = NlError {
        errno,
        msg: None,
        missing_attr: None,
    };
    if flags & NLM_F_ACK_TLVS == 0 || body.len() < 4 + NLMSG_HDR {
        return e;
    }
    // The error carries the original header, and its payload unless capped.
    let orig_len = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDR
    } else {
        u32::from_ne_bytes(body[4..8].try_into().unwrap_or([0; 4])) as usize
    };
    let tlvs = body.get(4 + attr::align(orig_len)..).unwrap_or(&[]);
    if let Ok(attrs) = parse(tlvs) {
        e.msg = find(&attrs, NLMSGERR_ATTR_MSG)
            .and_then(|a| a.str().ok())
            .map(str::to_string);
        e.missing_attr = find(&attrs, NLMSGERR_ATTR_MISS_TYPE).and_then(|a| a.u32().ok());
    }
    e
}

/// A client of the `ripsec` family.
pub struct Ripsec {
    sock: GenlSocket,
    family: Family,
}

impl Ripsec {
    pub fn connect() -> Result<Self> {
        let mut sock = GenlSocket::new()?;
        let family = sock.resolve(uapi::FAMILY_NAME)?;
        Ok(Self { sock, family })
    }

    pub fn request(&mut self, cmd: u8, attrs: &AttrWriter) -> Result<Vec<GenlMsg>> {
        self.request_flags(cmd, 0, attrs)
    }

    /// A request with extra netlink flags (`NLM_F_DUMP` for dumps).
    pub fn request_flags(
        &mut self,
        cmd: u8,
        flags: u16,
        attrs: &AttrWriter,
    ) -> Result<Vec<GenlMsg>> {
        self.sock
            .request(self.family.id, cmd, uapi::FAMILY_VERSION, flags, attrs)
    }

    /// Joins the events multicast group; afterwards use [`Ripsec::next_event`].
    pub fn subscribe(&mut self) -> Result<()> {
        let id = self
            .family
            .groups
            .iter()
            .find(|(n, _)| n == uapi::mcgrp::EVENTS)
            .map(|(_, id)| *id)
            .ok_or_else(|| {
                anyhow!(
                    "the module has no \"{}\" multicast group",
                    uapi::mcgrp::EVENTS
                )
            })?;
        self.sock.sock.add_membership(id).map_err(|e| {
            if e.raw_os_error() == Some(libc::EPERM) {
                anyhow!(
                    "permission denied: ripsec's events are for CAP_NET_ADMIN in this network \
                     namespace only; run ikeuser as root (for example with sudo)"
                )
            } else {
                anyhow!(e).context("cannot join the events group")
            }
        })
    }

    /// Blocks until the next event message.
    pub fn next_event(&mut self) -> Result<GenlMsg> {
        loop {
            let (buf, _) = self
                .sock
                .sock
                .recv_from_full()
                .context("cannot receive events")?;
            if buf.len() < NLMSG_HDR + GENL_HDR {
                continue;
            }
            let mlen = u32::from_ne_bytes(buf[0..4].try_into()?) as usize;
            let mtype = u16::from_ne_bytes([buf[4], buf[5]]);
            if mtype == self.family.id && (NLMSG_HDR + GENL_HDR..=buf.len()).contains(&mlen) {
                let body = &buf[NLMSG_HDR..mlen];
                return Ok(GenlMsg {
                    cmd: body[0],
                    payload: body[GENL_HDR..].to_vec(),
                });
            }
        }
    }
}
