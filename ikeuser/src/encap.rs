//! `ikeuser encap`: hands UDP sockets to the module, which then receives ESP in UDP
//! (RFC 3948) on them. The sockets' owner keeps them open: the module lets go when they close.

use crate::netlink::attr::{self, AttrWriter};
use crate::netlink::Ripsec;
use anyhow::{anyhow, Context, Result};
use ripsec_proto::uapi::{attr as a, cmd};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};

/// Hands `sock` to the module; returns its port.
pub fn attach(nl: &mut Ripsec, sock: &UdpSocket) -> Result<u16> {
    let fd = u32::try_from(sock.as_raw_fd()).context("negative file descriptor")?;
    let mut req = AttrWriter::default();
    req.u32(a::ENCAP_FD, fd);
    let reply = nl.request(cmd::ENCAP_ATTACH, &req)?;
    let msg = reply
        .first()
        .ok_or_else(|| anyhow!("the module did not answer ENCAP_ATTACH"))?;
    let attrs = attr::parse(&msg.payload)?;
    attr::find(&attrs, a::ENCAP_PORT)
        .ok_or_else(|| anyhow!("the ENCAP_ATTACH reply lacks the port"))?
        .u16()
}

/// An IPv6-only UDP socket on `port` (so that an IPv4 socket can share the port).
pub fn bind_v6only(port: u16) -> Result<UdpSocket> {
    // SAFETY: plain socket calls on a descriptor this function owns; it is closed on failure
    // by the UdpSocket that takes it at once.
    unsafe {
        let fd = libc::socket(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error())
                .context("cannot create an IPv6 UDP socket");
        }
        let sock = UdpSocket::from_raw_fd(fd);
        let one: libc::c_int = 1;
        let ok = libc::setsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        if ok != 0 {
            return Err(std::io::Error::last_os_error()).context("cannot set IPV6_V6ONLY");
        }
        let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
        sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sa.sin6_port = port.to_be();
        let len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        if libc::bind(fd, (&sa as *const libc::sockaddr_in6).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot bind UDP [::]:{port}"));
        }
        Ok(sock)
    }
}

/// The sockets `encap listen` holds: one on `addr`, or one per address family.
fn bind(port: u16, addr: Option<IpAddr>) -> Result<Vec<UdpSocket>> {
    let v4 = |a: IpAddr| {
        UdpSocket::bind((a, port)).with_context(|| {
            format!("cannot bind UDP {a}:{port} (is an IKE daemon already listening there?)")
        })
    };
    match addr {
        Some(a) => Ok(vec![v4(a)?]),
        None => Ok(vec![
            v4(IpAddr::V4(Ipv4Addr::UNSPECIFIED))?,
            bind_v6only(port)?,
        ]),
    }
}

/// `ikeuser encap listen`: binds `port`, hands the sockets to the module and keeps them open
/// until killed (for manually keyed `encap espinudp` SAs; the IKE daemon holds its own).
pub fn listen(nl: &mut Ripsec, port: u16, addr: Option<IpAddr>) -> Result<()> {
    let socks = bind(port, addr)?;
    for s in &socks {
        attach(nl, s)?;
    }
    let at = addr.map_or("IPv4 and IPv6".to_string(), |a| a.to_string());
    println!("receiving ESP in UDP on port {port} ({at}); stop with Ctrl-C");
    std::io::stdout().flush()?;
    loop {
        std::thread::park();
    }
}
