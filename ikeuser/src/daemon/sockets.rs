//! The daemon's UDP sockets: per local address one on the IKE port and one on the NAT
//! traversal port (RFC 7296 §2.23), whose datagrams carry the non-ESP marker (RFC 3948 §2.2)
//! and which ripsec takes ESP in UDP from.

use super::Input;
use crate::kernel::Kernel;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::mpsc::{SyncSender, TrySendError};

/// The four zero bytes in front of IKE on the NAT traversal port.
const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// A NAT keepalive (RFC 3948 §2.3).
const KEEPALIVE: [u8; 1] = [0xff];

pub struct IkeSockets {
    by_local: BTreeMap<SocketAddr, UdpSocket>,
    natt_port: u16,
}

impl IkeSockets {
    pub fn new(natt_port: u16) -> Self {
        Self {
            by_local: BTreeMap::new(),
            natt_port,
        }
    }

    /// Binds the IKE and the NAT traversal port on `local` (once), hands the latter to ripsec
    /// and feeds what arrives to `tx`.
    pub fn open(
        &mut self,
        local: IpAddr,
        port: u16,
        kernel: &mut Kernel,
        tx: &SyncSender<Input>,
    ) -> Result<()> {
        for port in [port, self.natt_port] {
            let at = SocketAddr::new(local, port);
            if self.by_local.contains_key(&at) {
                continue;
            }
            let sock = UdpSocket::bind(at).with_context(|| {
                format!(
                    "cannot bind UDP {at}: is the address configured on an interface, and is \
                     another IKE daemon (charon, pluto) using the port?"
                )
            })?;
            if port == self.natt_port {
                kernel.attach_encap(&sock).with_context(|| {
                    format!("cannot hand UDP {at} to ripsec for ESP in UDP (NAT traversal)")
                })?;
            }
            spawn_reader(sock.try_clone()?, at, port == self.natt_port, tx.clone());
            self.by_local.insert(at, sock);
        }
        Ok(())
    }

    /// Sends an IKE message from our address and port `from` (with the non-ESP marker on the
    /// NAT traversal port).
    pub fn send(&self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) -> Result<(), String> {
        let sock = self.socket(from, to)?;
        let r = if from.port() == self.natt_port {
            sock.send_to(&[&NON_ESP_MARKER[..], bytes].concat(), to)
        } else {
            sock.send_to(bytes, to)
        };
        r.map(drop).map_err(|e| format!("cannot send to {to}: {e}"))
    }

    /// Sends a NAT keepalive from our NAT traversal socket on `from`'s address.
    pub fn keepalive(&self, from: SocketAddr, to: SocketAddr) -> Result<(), String> {
        let from = SocketAddr::new(from.ip(), self.natt_port);
        let sock = self.socket(from, to)?;
        sock.send_to(&KEEPALIVE, to)
            .map(drop)
            .map_err(|e| format!("cannot send a NAT keepalive to {to}: {e}"))
    }

    /// The socket bound to `from`, or else one of `to`'s family on the same port.
    fn socket(&self, from: SocketAddr, to: SocketAddr) -> Result<&UdpSocket, String> {
        self.by_local
            .get(&from)
            .or_else(|| {
                self.by_local
                    .iter()
                    .find(|(a, _)| a.port() == from.port() && a.is_ipv4() == to.is_ipv4())
                    .map(|(_, s)| s)
            })
            .ok_or_else(|| format!("no local UDP socket on port {} to reach {to}", from.port()))
    }
}

/// Feeds datagrams from `sock` (bound to `at`) to the daemon; on the NAT traversal port only
/// those with the non-ESP marker, without it (ripsec takes ESP and keepalives before).
fn spawn_reader(sock: UdpSocket, at: SocketAddr, natt: bool, tx: SyncSender<Input>) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let mut bytes = buf.get(..n).unwrap_or_default();
            if natt {
                match bytes.strip_prefix(&NON_ESP_MARKER[..]) {
                    Some(ike) => bytes = ike,
                    None => continue,
                }
            }
            let input = Input::Datagram {
                from,
                to: at,
                bytes: bytes.to_vec(),
            };
            // A full queue drops the datagram: the daemon is behind (a flood), and IKE
            // retransmits what matters.
            if let Err(TrySendError::Disconnected(_)) = tx.try_send(input) {
                break;
            }
        }
    });
}
