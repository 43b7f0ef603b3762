//! The daemon's configuration file (TOML): connections, their children and proposals.
//! Every problem is reported as `FILE:LINE: what is wrong and what to write instead`, and
//! unknown keys are errors.

use ripsec_ike::crypto::{DhGroup, SkCipher, SkInteg};
use ripsec_ike::engine::{
    Auth, EspCipher, EspInteg, EspProposal, IkeProposal, Mode, RetransmitPolicy,
    DEFAULT_COOKIE_THRESHOLD,
};
use ripsec_ike::keys::Prf;
use ripsec_ike::pki::{check_identity, format_time, Certificate, PrivateKey, PublicKeyAuth};
use ripsec_ike::{Identity, Secret};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Where the control socket lives unless the file says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/ikeuser.sock";
/// Default IKE proposals: AEAD first, then CBC for older peers.
pub const DEFAULT_IKE: &[&str] = &[
    "aes256gcm16-prfsha256-curve25519",
    "aes128gcm16-prfsha256-ecp256",
    "aes256-sha256-modp2048",
];
/// Most connections in a file, and most children in a connection (each child of each
/// connection has its own reqid in a range of 0x10000).
pub const MAX_CONNECTIONS: usize = 256;
pub const MAX_CHILDREN: usize = 256;
/// Default IKE proposals of IKEv1 connections: Main Mode has no AEAD.
pub const DEFAULT_IKE_V1: &[&str] = &["aes256-sha256-modp2048", "aes128-sha256-ecp256"];
/// Default ESP proposals.
pub const DEFAULT_ESP: &[&str] = &["aes256gcm16", "aes128gcm16", "aes256-sha256"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    daemon: Option<Spanned<RawDaemon>>,
    #[serde(default)]
    connections: BTreeMap<String, Spanned<RawConnection>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    socket: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    natt_port: Option<Spanned<u16>>,
    keepalive: Option<Spanned<u64>>,
    retransmit_timeout_ms: Option<Spanned<u64>>,
    retransmit_tries: Option<Spanned<u32>>,
    cookie_threshold: Option<Spanned<usize>>,
}

type Words = Spanned<Vec<Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnection {
    local_addr: Spanned<String>,
    remote_addr: Spanned<String>,
    local_id: Option<Spanned<String>>,
    remote_id: Option<Spanned<String>>,
    auth: Option<Spanned<String>>,
    psk: Option<Spanned<String>>,
    psk_file: Option<Spanned<String>>,
    cert: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    ca: Option<Words>,
    ike_proposals: Option<Words>,
    start: Option<Spanned<String>>,
    dpd_delay: Option<Spanned<u64>>,
    rekey_time: Option<Spanned<u64>>,
    encap: Option<Spanned<bool>>,
    remote_port: Option<Spanned<u16>>,
    version: Option<Spanned<u8>>,
    aggressive: Option<Spanned<bool>>,
    #[serde(default)]
    children: BTreeMap<String, Spanned<RawChild>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChild {
    local_ts: Option<Words>,
    remote_ts: Option<Words>,
    mode: Option<Spanned<String>>,
    esp_proposals: Option<Words>,
    ah_proposals: Option<Words>,
    rekey_time: Option<Spanned<u64>>,
    life_time: Option<Spanned<u64>>,
    rekey_bytes: Option<Spanned<u64>>,
    life_bytes: Option<Spanned<u64>>,
}

/// What the daemon does with a connection when it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAction {
    /// Wait for `ikeuser up` or for the peer.
    None,
    /// Initiate at once.
    Start,
    /// Install the outbound policy; initiate when traffic needs it (ACQUIRE).
    Trap,
}

/// A prefix (address and length), as traffic selectors are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A Child SA's configuration.
#[derive(Clone, Debug)]
pub struct Child {
    pub name: String,
    pub local_ts: Vec<Prefix>,
    pub remote_ts: Vec<Prefix>,
    pub mode: Mode,
    /// ESP proposals, or AH ones (`ah_proposals`, `EspCipher::Ah`).
    pub esp: Vec<EspProposal>,
    /// ESP proposals carry a DH group: rekeys use PFS.
    pub pfs: bool,
    /// Seconds until the module reports EXPIRE(soft) and the daemon rekeys.
    pub rekey_time: Option<u64>,
    /// Seconds until the module deletes the SA (EXPIRE(hard)).
    pub life_time: Option<u64>,
    /// Bytes until the module reports EXPIRE(soft) and the daemon rekeys.
    pub rekey_bytes: Option<u64>,
    /// Bytes until the module deletes the SA.
    pub life_bytes: Option<u64>,
}

/// One connection to one peer.
#[derive(Clone, Debug)]
pub struct Connection {
    pub name: String,
    pub local: IpAddr,
    pub remote: IpAddr,
    pub local_id: Identity,
    pub remote_id: Identity,
    pub auth: Auth,
    pub ike: Vec<IkeProposal>,
    pub start: StartAction,
    pub dpd_delay: Option<Duration>,
    /// Seconds between IKE SA rekeys.
    pub rekey_time: Option<u64>,
    /// ESP in UDP even without a NAT (strongSwan's `encap = yes`).
    pub encap: bool,
    /// The peer's IKE port (the daemon's unless given; the NAT traversal port starts there).
    pub remote_port: Option<u16>,
    /// Its children, in file order; IKE_AUTH negotiates the first one.
    pub children: Vec<Child>,
    /// IKE version: 2 (the default), or 1 (Main Mode and Quick Mode).
    pub version: u8,
    /// IKEv1 phase 1 in Aggressive Mode instead of Main Mode.
    pub aggressive: bool,
}

/// A validated configuration file.
#[derive(Clone, Debug)]
pub struct Config {
    pub path: PathBuf,
    pub socket: PathBuf,
    pub port: u16,
    /// The NAT traversal port (RFC 7296 §2.23): where IKE moves when a NAT is found, and
    /// ESP in UDP arrives.
    pub natt_port: u16,
    /// Seconds between NAT keepalives while behind a NAT (RFC 3948 §2.3); `None`: off.
    pub keepalive: Option<Duration>,
    /// First retransmission timeout (doubled after each) and transmissions per request.
    pub retransmit: RetransmitPolicy,
    /// Half-open IKE SAs from which on IKE_SA_INIT requests must carry a COOKIE (RFC 7296 §2.6).
    pub cookie_threshold: usize,
    pub connections: Vec<Connection>,
}

impl Config {
    pub fn connection(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name == name)
    }

    /// One sentence per weak algorithm the file names: accepted, because old peers still
    /// offer nothing better, but never among ripsec's defaults.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.connections {
            let sha1 = |p: &&IkeProposal| {
                p.prf == Prf::HmacSha1
                    || matches!(
                        p.cipher,
                        SkCipher::AesCbc {
                            integ: SkInteg::Sha1_96,
                            ..
                        }
                    )
            };
            if c.ike.iter().any(|p| sha1(&p)) {
                out.push(format!(
                    "connection `{}`: an IKE proposal uses HMAC-SHA-1, which RFC 8247 keeps for old peers only; prefer sha256",
                    c.name
                ));
            }
            if c.aggressive && matches!(c.auth, Auth::Psk(_)) {
                out.push(format!(
                    "connection `{}`: Aggressive Mode sends a hash of the pre-shared key in the clear, so anyone who captures it can test PSK guesses offline; use Main Mode unless the peer offers nothing else",
                    c.name
                ));
            }
            if let Some(p) = c.ike.iter().find(|p| p.dh.is_weak()) {
                out.push(format!(
                    "connection `{}`: {} is too small a DH group to resist a well-funded attacker (RFC 8247 §2.4); prefer ecp256, curve25519 or modp2048 and up",
                    c.name,
                    dh_name(p.dh)
                ));
            }
            for child in &c.children {
                for p in child.esp.iter().filter(|p| p.cipher.is_weak()) {
                    out.push(format!(
                        "connection `{}` child `{}`: {} uses HMAC-SHA-1-96, which RFC 8221 keeps for old peers only; prefer sha256 or an AEAD",
                        c.name,
                        child.name,
                        ripsec_alg(p.cipher)
                    ));
                }
            }
        }
        out
    }
}

impl Connection {
    /// The index of child `name`.
    pub fn child_index(&self, name: &str) -> Option<usize> {
        self.children.iter().position(|c| c.name == name)
    }
}

/// All problems found in a file, one per line as `FILE:LINE: message`.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![format!(
            "{}: cannot read the configuration: {e}",
            path.display()
        )])
    })?;
    parse(path, &text)
}

/// Reads a file the configuration names (psk_file, cert, key, ca).
pub type ReadFile<'a> = &'a dyn Fn(&Path) -> std::io::Result<Vec<u8>>;

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
    errors: Vec<String>,
    read: ReadFile<'a>,
}

impl Checker<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text
            .get(..offset)
            .map_or(0, |t| t.matches('\n').count())
            + 1
    }

    fn error<T>(&mut self, span: std::ops::Range<usize>, msg: impl fmt::Display) -> Option<T> {
        let line = self.line(span.start);
        self.errors
            .push(format!("{}:{line}: {msg}", self.path.display()));
        None
    }
}

/// Whether the value at byte `at` is a `psk`'s: its parse errors must not quote it.
fn value_of_psk(text: &str, at: usize) -> bool {
    let before = text.get(..at).unwrap_or("");
    let line = before.rsplit('\n').next().unwrap_or("");
    let key = line.trim_end().trim_end_matches('=').trim_end();
    key.ends_with("psk") && !key.ends_with("_psk")
}

/// `msg` with every `quoted` part replaced: toml quotes the offending value that way.
fn hide_quoted(msg: &str) -> String {
    let mut parts = msg.split('`');
    let mut out = parts.next().unwrap_or("").to_string();
    for (i, part) in parts.enumerate() {
        out.push_str(if i % 2 == 0 {
            "(value hidden: it is a key)"
        } else {
            part
        });
    }
    out
}

/// Parses and validates configuration text; `path` names it in messages.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
    parse_with(path, text, &|file| std::fs::read(file))
}

/// [`parse`], with the files the configuration names read by `read` (the fuzz targets give
/// no file system).
pub fn parse_with(path: &Path, text: &str, read: ReadFile<'_>) -> Result<Config, ConfigErrors> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| {
            text.get(..s.start).map_or(0, |t| t.matches('\n').count()) + 1
        });
        let mut msg = e.message().trim_end().to_string();
        if e.span().is_some_and(|s| value_of_psk(text, s.start)) {
            msg = hide_quoted(&msg);
        }
        ConfigErrors(vec![format!("{}:{line}: {msg}", path.display())])
    })?;
    let mut c = Checker {
        path,
        text,
        errors: Vec::new(),
        read,
    };
    let (mut socket, mut port) = (PathBuf::from(DEFAULT_SOCKET), 500);
    let (mut natt_port, mut keepalive) = (4500, Some(Duration::from_secs(20)));
    let mut cookie_threshold = DEFAULT_COOKIE_THRESHOLD;
    let mut retransmit = RetransmitPolicy::default();
    if let Some(d) = &raw.daemon {
        let d = d.get_ref();
        if let Some(t) = &d.retransmit_timeout_ms {
            if !(50..=60_000).contains(t.get_ref()) {
                c.error::<()>(
                    t.span(),
                    "daemon.retransmit_timeout_ms: use 50 to 60000 (default 500)",
                );
            }
            retransmit.initial_timeout = Duration::from_millis(*t.get_ref());
        }
        if let Some(t) = &d.retransmit_tries {
            if !(1..=20).contains(t.get_ref()) {
                c.error::<()>(t.span(), "daemon.retransmit_tries: use 1 to 20 (default 6)");
            }
            retransmit.max_transmissions = *t.get_ref();
        }
        if let Some(s) = &d.socket {
            socket = PathBuf::from(s.get_ref());
        }
        if let Some(p) = &d.port {
            if *p.get_ref() == 0 {
                c.error::<()>(p.span(), "daemon.port: 0 is not a port; IKE uses 500");
            }
            port = *p.get_ref();
        }
        if let Some(p) = &d.natt_port {
            if *p.get_ref() == 0 || Some(*p.get_ref()) == d.port.as_ref().map(|p| *p.get_ref()) {
                c.error::<()>(
                    p.span(),
                    "daemon.natt_port: use a port other than 0 and daemon.port; NAT traversal uses 4500",
                );
            }
            natt_port = *p.get_ref();
        }
        if let Some(k) = &d.keepalive {
            if *k.get_ref() > 3600 {
                c.error::<()>(
                    k.span(),
                    "daemon.keepalive: use 0 (off) to 3600 seconds (default 20)",
                );
            }
            keepalive = Some(Duration::from_secs(*k.get_ref())).filter(|k| !k.is_zero());
        }
        if let Some(t) = &d.cookie_threshold {
            if *t.get_ref() > 100_000 {
                c.error::<()>(
                    t.span(),
                    format_args!("daemon.cookie_threshold: use 0 (always) to 100000 (default {DEFAULT_COOKIE_THRESHOLD})"),
                );
            }
            cookie_threshold = *t.get_ref();
        }
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut connections = Vec::new();
    if raw.connections.is_empty() {
        c.error::<()>(
            0..0,
            "no connections: add a [connections.NAME] table (see README, \"Configuration\")",
        );
    }
    if raw.connections.len() > MAX_CONNECTIONS {
        c.error::<()>(
            0..0,
            format_args!(
                "{} connections; at most {MAX_CONNECTIONS} are supported",
                raw.connections.len()
            ),
        );
    }
    for (name, conn) in &raw.connections {
        if let Some(conn) = connection(&mut c, base, name, conn) {
            // A responder picks the connection by the peer's identity.
            if let Some(other) = connections
                .iter()
                .find(|o: &&Connection| o.remote_id == conn.remote_id && o.local == conn.local)
            {
                c.error::<()>(
                    raw.connections.get(name).map_or(0..0, Spanned::span),
                    format_args!(
                        "connection `{name}`: connection `{}` already expects remote_id {} on {}; a responder could not tell them apart",
                        other.name, conn.remote_id, conn.local
                    ),
                );
            }
            connections.push(conn);
        }
    }
    if !c.errors.is_empty() {
        return Err(ConfigErrors(c.errors));
    }
    Ok(Config {
        path: path.to_path_buf(),
        socket,
        port,
        natt_port,
        keepalive,
        retransmit,
        cookie_threshold,
        connections,
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
}

fn connection(
    c: &mut Checker<'_>,
    base: &Path,
    name: &str,
    raw: &Spanned<RawConnection>,
) -> Option<Connection> {
    let span = raw.span();
    let r = raw.get_ref();
    let errors_before = c.errors.len();
    let ctx = format!("connection `{name}`");
    if !valid_name(name) {
        c.error::<()>(
            span.clone(),
            format_args!("{ctx}: names use letters, digits, `-`, `_` and `.` only"),
        );
    }
    let local = address(c, &ctx, "local_addr", &r.local_addr);
    let remote = address(c, &ctx, "remote_addr", &r.remote_addr);
    if let (Some(l), Some(rm)) = (local, remote) {
        if l.is_ipv4() != rm.is_ipv4() {
            c.error::<()>(
                r.remote_addr.span(),
                format_args!(
                    "{ctx}: local_addr {l} and remote_addr {rm} are not the same IP version"
                ),
            );
        }
    }
    let auth = auth(c, base, &ctx, r, span.clone());
    let local_id = match (&r.local_id, auth.as_ref().and_then(Auth::public_key)) {
        (Some(s), pk) => identity(c, &ctx, s).and_then(|id| match pk {
            Some(pk) => match check_identity(&id, &pk.certificate) {
                Ok(()) => Some(id),
                Err(e) => c.error(
                    s.span(),
                    format_args!("{ctx}: local_id {id} cannot be used with cert: {e}; use one of the certificate's names, or leave local_id out to use its subject"),
                ),
            },
            None => Some(id),
        }),
        (None, Some(pk)) => Some(pk.certificate.subject_identity()),
        (None, None) => local.map(id_of_addr),
    };
    let remote_id = r
        .remote_id
        .as_ref()
        .map_or_else(|| remote.map(id_of_addr), |s| identity(c, &ctx, s));
    let version = ike_version(c, &ctx, r.version.as_ref());
    let default_ike = if version == Some(1) {
        DEFAULT_IKE_V1
    } else {
        DEFAULT_IKE
    };
    let ike = proposals(
        c,
        &ctx,
        "ike_proposals",
        r.ike_proposals.as_ref(),
        default_ike,
        ike_proposal,
    );
    let start = match r.start.as_ref() {
        None => Some(StartAction::None),
        Some(s) => match s.get_ref().as_str() {
            "none" => Some(StartAction::None),
            "start" => Some(StartAction::Start),
            "trap" => Some(StartAction::Trap),
            other => c.error(
                s.span(),
                format_args!("{ctx}: start = \"{other}\": use \"none\", \"start\" or \"trap\""),
            ),
        },
    };
    if r.children.len() > MAX_CHILDREN {
        c.error::<()>(
            span.clone(),
            format_args!(
                "{ctx}: has {} children; at most {MAX_CHILDREN} are supported",
                r.children.len()
            ),
        );
    }
    if r.children.is_empty() {
        c.error::<()>(
            span.clone(),
            format_args!("{ctx}: no child: add a [connections.{name}.children.NAME] table with local_ts and remote_ts"),
        );
    }
    // Children in file order (the span of each table).
    let mut raw_children: Vec<(&String, &Spanned<RawChild>)> = r.children.iter().collect();
    raw_children.sort_by_key(|(_, raw)| raw.span().start);
    let mut children: Vec<(Child, std::ops::Range<usize>)> = Vec::new();
    for (cname, raw_child) in raw_children {
        let Some(ch) = child(c, &ctx, cname, raw_child, local, remote, ike.as_deref()) else {
            continue;
        };
        // Policies of two children with overlapping selectors would clash.
        if let Some((other, _)) = children.iter().find(|(o, _)| overlap(o, &ch)) {
            c.error::<()>(
                raw_child.span(),
                format_args!(
                    "{ctx}: children `{}` and `{}` protect overlapping traffic (local_ts {} / remote_ts {} and local_ts {} / remote_ts {}); their policies would clash, so make their selectors disjoint",
                    other.name,
                    ch.name,
                    prefix_list(&other.local_ts),
                    prefix_list(&other.remote_ts),
                    prefix_list(&ch.local_ts),
                    prefix_list(&ch.remote_ts),
                ),
            );
        }
        children.push((ch, raw_child.span()));
    }
    if version == Some(1) {
        ikev1_limits(c, &ctx, (r, span.clone()), ike.as_deref(), &children);
    } else if let Some(a) = r.aggressive.as_ref().filter(|a| *a.get_ref()) {
        c.error::<()>(
            a.span(),
            format_args!("{ctx}: aggressive is an IKEv1 mode; add version = 1 (IKEv2 has no Aggressive Mode)"),
        );
    }
    if c.errors.len() > errors_before {
        return None;
    }
    Some(Connection {
        version: version?,
        aggressive: r.aggressive.as_ref().is_some_and(|a| *a.get_ref()),
        name: name.to_string(),
        local: local?,
        remote: remote?,
        local_id: local_id?,
        remote_id: remote_id?,
        auth: auth?,
        ike: ike?,
        start: start?,
        dpd_delay: r
            .dpd_delay
            .as_ref()
            .map(|d| *d.get_ref())
            .filter(|d| *d > 0)
            .map(Duration::from_secs),
        rekey_time: r
            .rekey_time
            .as_ref()
            .map(|t| *t.get_ref())
            .filter(|t| *t > 0),
        encap: r.encap.as_ref().is_some_and(|e| *e.get_ref()),
        remote_port: match &r.remote_port {
            Some(p) if *p.get_ref() == 0 => c.error(
                p.span(),
                format_args!("connection `{name}`: remote_port: 0 is not a port; use 500 or 4500"),
            )?,
            Some(p) => Some(*p.get_ref()),
            None => None,
        },
        children: children.into_iter().map(|(ch, _)| ch).collect(),
    })
}

/// `version`: 1 or 2 (the default).
fn ike_version(c: &mut Checker<'_>, ctx: &str, raw: Option<&Spanned<u8>>) -> Option<u8> {
    match raw {
        None => Some(2),
        Some(v) if matches!(*v.get_ref(), 1 | 2) => Some(*v.get_ref()),
        Some(v) => c.error(
            v.span(),
            format_args!("{ctx}: version = {}: IKE versions are 1 and 2", v.get_ref()),
        ),
    }
}

/// What an IKEv1 connection cannot have yet, each refused with what to do instead.
fn ikev1_limits(
    c: &mut Checker<'_>,
    ctx: &str,
    (r, span): (&RawConnection, std::ops::Range<usize>),
    ike: Option<&[IkeProposal]>,
    children: &[(Child, std::ops::Range<usize>)],
) {
    let at = |s: Option<std::ops::Range<usize>>| s.unwrap_or_else(|| span.clone());
    let ike_span = at(r.ike_proposals.as_ref().map(Spanned::span));
    for p in ike.unwrap_or_default() {
        if !matches!(p.cipher, SkCipher::AesCbc { .. }) || p.prf == Prf::AesCmac {
            c.error::<()>(ike_span.clone(), format_args!("{ctx}: IKEv1 Main Mode takes AES-CBC with a SHA-1 or SHA-2 hash (like aes256-sha256-modp2048), not AES-GCM or AES-CMAC"));
            break;
        }
    }
    for (ch, chspan) in children {
        if ch.local_ts.len() > 1 || ch.remote_ts.len() > 1 {
            c.error::<()>(chspan.clone(), format_args!("{ctx} child `{}`: IKEv1 Quick Mode carries one local and one remote subnet; make a child for each pair", ch.name));
        }
        let bad = ch.esp.iter().find(|p| {
            p.cipher == EspCipher::ChaCha20Poly1305 || p.cipher.integ() == Some(EspInteg::AesCmac96)
        });
        if let Some(p) = bad {
            c.error::<()>(chspan.clone(), format_args!("{ctx} child `{}`: {} has no IKEv1 transform (IKEv1 has no ChaCha20-Poly1305 or AES-CMAC); use aes256gcm16 or aes256-sha256", ch.name, ripsec_alg(p.cipher)));
        }
    }
}

/// Whether two prefixes share an address.
fn prefixes_overlap(a: &Prefix, b: &Prefix) -> bool {
    let bits = |p: &Prefix| -> (u128, u32) {
        match p.addr {
            IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
            IpAddr::V6(v) => (u128::from(v), 128),
        }
    };
    let ((x, width), (y, other)) = (bits(a), bits(b));
    if width != other {
        return false;
    }
    let len = u32::from(a.len.min(b.len)).min(width);
    let shift = width - len;
    // Compare the common leading `len` bits.
    x.checked_shr(shift).unwrap_or(0) == y.checked_shr(shift).unwrap_or(0)
}

/// Whether two children's local_ts x remote_ts sets share traffic.
fn overlap(a: &Child, b: &Child) -> bool {
    let any =
        |x: &[Prefix], y: &[Prefix]| x.iter().any(|p| y.iter().any(|q| prefixes_overlap(p, q)));
    any(&a.local_ts, &b.local_ts) && any(&a.remote_ts, &b.remote_ts)
}

fn prefix_list(list: &[Prefix]) -> String {
    let all: Vec<String> = list.iter().map(ToString::to_string).collect();
    format!("[{}]", all.join(", "))
}

fn child(
    c: &mut Checker<'_>,
    conn_ctx: &str,
    name: &str,
    raw: &Spanned<RawChild>,
    local: Option<IpAddr>,
    remote: Option<IpAddr>,
    ike: Option<&[IkeProposal]>,
) -> Option<Child> {
    let r = raw.get_ref();
    let ctx = format!("{conn_ctx}, child `{name}`");
    let mode = match r.mode.as_ref() {
        None => Some(Mode::Tunnel),
        Some(m) => match m.get_ref().as_str() {
            "tunnel" => Some(Mode::Tunnel),
            "transport" => Some(Mode::Transport),
            other => c.error(
                m.span(),
                format_args!("{ctx}: mode = \"{other}\": use \"tunnel\" or \"transport\""),
            ),
        },
    };
    let local_ts = selectors(c, &ctx, "local_ts", r.local_ts.as_ref(), local);
    let remote_ts = selectors(c, &ctx, "remote_ts", r.remote_ts.as_ref(), remote);
    let esp = match (&r.esp_proposals, &r.ah_proposals) {
        (Some(_), Some(ah)) => c.error(
            ah.span(),
            format_args!(
                "{ctx}: a Child SA is ESP or AH: keep esp_proposals or ah_proposals, not both"
            ),
        ),
        (None, Some(ah)) => each(c, &ctx, "ah_proposals", ah, ah_proposal),
        (esp, None) => proposals(
            c,
            &ctx,
            "esp_proposals",
            esp.as_ref(),
            DEFAULT_ESP,
            esp_proposal,
        ),
    };
    let mut pfs = false;
    if let (Some(esp), Some(ike)) = (&esp, ike) {
        let groups: Vec<DhGroup> = esp.iter().filter_map(|e| e.1).collect();
        pfs = !groups.is_empty();
        if pfs && groups.len() != esp.len() {
            c.error::<()>(
                raw.span(),
                format_args!(
                    "{ctx}: either every ESP proposal names a DH group (PFS) or none does"
                ),
            );
        }
        if let (Some(g), Some(first)) = (groups.first(), ike.first()) {
            if groups.iter().any(|x| *x != first.dh) {
                c.error::<()>(
                    raw.span(),
                    format_args!(
                        "{ctx}: the ESP proposals' DH group ({}) must be the IKE SA's group ({}): rekeys use PFS with the IKE group",
                        dh_name(*g),
                        dh_name(first.dh)
                    ),
                );
            }
        }
    }
    let (rekey_time, life_time) =
        soft_and_hard(c, &ctx, (&r.rekey_time, &r.life_time), "time", "s");
    let (rekey_bytes, life_bytes) =
        soft_and_hard(c, &ctx, (&r.rekey_bytes, &r.life_bytes), "bytes", "bytes");
    let (local_ts, remote_ts) = (local_ts?, remote_ts?);
    if !local_ts.iter().any(|l| {
        remote_ts
            .iter()
            .any(|r| l.addr.is_ipv4() == r.addr.is_ipv4())
    }) {
        c.error::<()>(
            raw.span(),
            format_args!("{ctx}: local_ts and remote_ts have no IP version in common, so nothing could be protected"),
        );
    }
    if mode == Some(Mode::Transport) {
        let host = |list: &[Prefix], a: Option<IpAddr>| {
            list.iter()
                .all(|p| Some(p.addr) == a && p.len == if p.addr.is_ipv4() { 32 } else { 128 })
        };
        if !host(&local_ts, local) || !host(&remote_ts, remote) {
            c.error::<()>(
                raw.span(),
                format_args!("{ctx}: transport mode protects traffic between the two hosts only; leave out local_ts and remote_ts (or use the host addresses), or use mode = \"tunnel\""),
            );
        }
    }
    Some(Child {
        name: name.to_string(),
        local_ts,
        remote_ts,
        mode: mode?,
        esp: esp?.into_iter().map(|e| e.0).collect(),
        pfs,
        rekey_time,
        life_time,
        rekey_bytes,
        life_bytes,
    })
}

/// A child's `rekey_*` and `life_*` limits (0 is none); the hard one must be the larger.
fn soft_and_hard(
    c: &mut Checker<'_>,
    ctx: &str,
    (soft, hard): (&Option<Spanned<u64>>, &Option<Spanned<u64>>),
    what: &str,
    unit: &str,
) -> (Option<u64>, Option<u64>) {
    let value = |t: &Option<Spanned<u64>>| t.as_ref().map(|t| *t.get_ref()).filter(|t| *t > 0);
    let (s, h) = (value(soft), value(hard));
    if let (Some(s), Some(h), Some(at)) = (s, h, hard) {
        if s >= h {
            c.error::<()>(
                at.span(),
                format_args!(
                    "{ctx}: life_{what} ({h} {unit}) must be larger than rekey_{what} ({s} {unit})"
                ),
            );
        }
    }
    (s, h)
}

fn address(c: &mut Checker<'_>, ctx: &str, key: &str, s: &Spanned<String>) -> Option<IpAddr> {
    match s.get_ref().parse::<IpAddr>() {
        Ok(a) if a.is_unspecified() || a.is_multicast() => c.error(
            s.span(),
            format_args!("{ctx}: {key} = \"{a}\" must be one host's unicast address"),
        ),
        Ok(a) => Some(a),
        Err(_) => c.error(
            s.span(),
            format_args!("{ctx}: {key} = \"{}\" is not an IP address", s.get_ref()),
        ),
    }
}

fn id_of_addr(a: IpAddr) -> Identity {
    match a {
        IpAddr::V4(a) => Identity::Ipv4(a),
        IpAddr::V6(a) => Identity::Ipv6(a),
    }
}

/// `auth = "psk"` (the default: `psk` or `psk_file`) or `auth = "pubkey"` (`cert`, `key`, `ca`).
fn auth(
    c: &mut Checker<'_>,
    base: &Path,
    ctx: &str,
    r: &RawConnection,
    span: std::ops::Range<usize>,
) -> Option<Auth> {
    let method = r.auth.as_ref().map_or("psk", |a| a.get_ref().as_str());
    let (stray, other) = if method == "psk" {
        let spans = [&r.cert, &r.key].map(|o| o.as_ref().map(Spanned::span));
        (
            vec![
                ("cert", spans[0].clone()),
                ("key", spans[1].clone()),
                ("ca", r.ca.as_ref().map(Spanned::span)),
            ],
            "pubkey",
        )
    } else {
        let spans = [&r.psk, &r.psk_file].map(|o| o.as_ref().map(Spanned::span));
        (
            vec![("psk", spans[0].clone()), ("psk_file", spans[1].clone())],
            "psk",
        )
    };
    for (key, at) in stray {
        if let Some(at) = at {
            c.error::<()>(
                at,
                format_args!("{ctx}: {key} does not apply to auth = \"{method}\"; remove it, or set auth to \"{other}\""),
            );
        }
    }
    match method {
        "psk" => psk(c, base, ctx, r, span).map(Auth::Psk),
        "pubkey" => pubkey(c, base, ctx, r, span).map(|pk| Auth::PublicKey(std::sync::Arc::new(pk))),
        other => c.error(
            r.auth.as_ref().map_or(span, Spanned::span),
            format_args!("{ctx}: auth = \"{other}\": use \"psk\" (pre-shared key) or \"pubkey\" (certificates)"),
        ),
    }
}

fn psk(
    c: &mut Checker<'_>,
    base: &Path,
    ctx: &str,
    r: &RawConnection,
    span: std::ops::Range<usize>,
) -> Option<Secret> {
    match (&r.psk, &r.psk_file) {
        (Some(p), None) if p.get_ref().is_empty() => {
            c.error(p.span(), format_args!("{ctx}: psk is empty"))
        }
        (Some(p), None) => Some(Secret::from_slice(p.get_ref().as_bytes())),
        (None, Some(f)) => {
            let file = base.join(f.get_ref());
            match (c.read)(&file) {
                Ok(mut bytes) => {
                    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        bytes.pop();
                    }
                    if bytes.is_empty() {
                        c.error(f.span(), format_args!("{ctx}: {} is empty", file.display()))
                    } else {
                        Some(Secret::new(bytes))
                    }
                }
                Err(e) => c.error(
                    f.span(),
                    format_args!("{ctx}: cannot read psk_file {}: {e}", file.display()),
                ),
            }
        }
        (Some(p), Some(_)) => c.error(
            p.span(),
            format_args!("{ctx}: give either psk or psk_file, not both"),
        ),
        (None, None) => c.error(
            span,
            format_args!("{ctx}: no pre-shared key: add psk = \"...\" or psk_file = \"PATH\", or use auth = \"pubkey\" with cert, key and ca"),
        ),
    }
}

/// Reads and parses a file named in the config (relative to the config's directory).
fn load_file<T>(
    c: &mut Checker<'_>,
    base: &Path,
    ctx: &str,
    key: &str,
    s: &Spanned<String>,
    parse: impl FnOnce(&[u8]) -> Result<T, String>,
) -> Option<T> {
    let file = base.join(s.get_ref());
    let parsed = (c.read)(&file)
        .map_err(|e| format!("cannot read {key} {}: {e}", file.display()))
        .and_then(|bytes| parse(&bytes).map_err(|e| format!("{key} {}: {e}", s.get_ref())));
    parsed
        .map_err(|e| c.error::<()>(s.span(), format_args!("{ctx}: {e}")))
        .ok()
}

fn pubkey(
    c: &mut Checker<'_>,
    base: &Path,
    ctx: &str,
    r: &RawConnection,
    span: std::ops::Range<usize>,
) -> Option<PublicKeyAuth> {
    let missing: Vec<&str> = [
        ("cert = \"PATH\"", r.cert.is_none()),
        ("key = \"PATH\"", r.key.is_none()),
        ("ca = [\"PATH\"]", r.ca.is_none()),
    ]
    .into_iter()
    .filter_map(|(k, m)| m.then_some(k))
    .collect();
    if !missing.is_empty() {
        return c.error(
            span,
            format_args!("{ctx}: auth = \"pubkey\" needs our certificate, its private key and the CA(s) we trust for the peer: add {}", missing.join(", ")),
        );
    }
    let (cert_s, key_s, ca_s) = (r.cert.as_ref()?, r.key.as_ref()?, r.ca.as_ref()?);
    let chain = load_file(c, base, ctx, "cert", cert_s, Certificate::parse_all);
    let key = load_file(c, base, ctx, "key", key_s, PrivateKey::parse);
    let mut trusted = Vec::new();
    if ca_s.get_ref().is_empty() {
        c.error::<()>(
            ca_s.span(),
            format_args!(
                "{ctx}: ca is empty; list the CA certificate(s) that sign the peer's certificate"
            ),
        );
    }
    for f in ca_s.get_ref() {
        trusted
            .extend(load_file(c, base, ctx, "ca", f, Certificate::parse_all).unwrap_or_default());
    }
    let (chain, key) = (chain?, key?);
    let mut chain = chain.into_iter();
    let certificate = chain.next()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if now > certificate.not_after() {
        return c.error(
            cert_s.span(),
            format_args!(
                "{ctx}: cert {}: certificate '{}' expired on {}; the peer will refuse it",
                cert_s.get_ref(),
                certificate.subject(),
                format_time(certificate.not_after())
            ),
        );
    }
    PublicKeyAuth::new(certificate, chain.collect(), key, trusted)
        .map_err(|e| {
            c.error::<()>(
                key_s.span(),
                format_args!("{ctx}: key {}: {e}", key_s.get_ref()),
            )
        })
        .ok()
}

fn identity(c: &mut Checker<'_>, ctx: &str, s: &Spanned<String>) -> Option<Identity> {
    match Identity::parse(s.get_ref()) {
        Ok(id) => Some(id),
        Err(e) => c.error(
            s.span(),
            format_args!(
                "{ctx}: identity \"{}\": {e}; use an IP address, a host name (FQDN), an email address or a DN like \"CN=host, O=org\"",
                s.get_ref()
            ),
        ),
    }
}

/// Parses `10.1.0.0/24`, `fd01::/64` or a bare address (a host prefix).
pub fn prefix(s: &str) -> Result<Prefix, String> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("\"{s}\" is not a prefix like 10.1.0.0/24 or fd01::/64"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("\"{s}\": the prefix length must be 0-{max}"))?,
    };
    let bits = match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)) << 96,
        IpAddr::V6(a) => u128::from(a),
    };
    let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
    if bits & host != 0 {
        return Err(format!(
            "\"{s}\" has host bits set; did you mean the network address of that /{len}?"
        ));
    }
    Ok(Prefix { addr, len })
}

fn selectors(
    c: &mut Checker<'_>,
    ctx: &str,
    key: &str,
    raw: Option<&Words>,
    default: Option<IpAddr>,
) -> Option<Vec<Prefix>> {
    let Some(list) = raw else {
        // Like strongSwan's "dynamic": the address of that side.
        let a = default?;
        return Some(vec![Prefix {
            addr: a,
            len: if a.is_ipv4() { 32 } else { 128 },
        }]);
    };
    each(c, ctx, key, list, prefix)
}

fn proposals<T>(
    c: &mut Checker<'_>,
    ctx: &str,
    key: &str,
    raw: Option<&Words>,
    default: &[&str],
    parse_one: fn(&str) -> Result<T, String>,
) -> Option<Vec<T>> {
    let Some(list) = raw else {
        return default.iter().map(|s| parse_one(s).ok()).collect();
    };
    each(c, ctx, key, list, parse_one)
}

/// Parses every entry of a non-empty list, reporting each bad one on its own line.
fn each<T>(
    c: &mut Checker<'_>,
    ctx: &str,
    key: &str,
    list: &Words,
    parse_one: fn(&str) -> Result<T, String>,
) -> Option<Vec<T>> {
    if list.get_ref().is_empty() {
        return c.error(list.span(), format_args!("{ctx}: {key} is empty"));
    }
    let mut out = Vec::new();
    for s in list.get_ref() {
        match parse_one(s.get_ref()) {
            Ok(p) => out.push(p),
            Err(e) => {
                c.error::<()>(s.span(), format_args!("{ctx}: {key}: {e}"));
            }
        }
    }
    (out.len() == list.get_ref().len()).then_some(out)
}

/// An IKE encryption keyword: the AEAD suite, or the AES-CBC key size (an integrity keyword
/// must follow).
fn cipher(token: &str) -> Option<Result<SkCipher, u16>> {
    Some(match token {
        "aes128gcm16" | "aes128gcm" => Ok(SkCipher::AesGcm16 { key_bits: 128 }),
        "aes192gcm16" | "aes192gcm" => Ok(SkCipher::AesGcm16 { key_bits: 192 }),
        "aes256gcm16" | "aes256gcm" => Ok(SkCipher::AesGcm16 { key_bits: 256 }),
        "aes128" => Err(128),
        "aes192" => Err(192),
        "aes256" => Err(256),
        _ => return None,
    })
}

/// The IKE integrity transform of an ESP integrity keyword, and the PRF strongSwan pairs with
/// it when the proposal names none; `None` for AES-XCBC, which no Rust crate implements (the
/// kernel does, so ESP and AH have it).
fn ike_integ(integ: EspInteg) -> Option<(SkInteg, Prf)> {
    Some(match integ {
        EspInteg::Sha1_96 => (SkInteg::Sha1_96, Prf::HmacSha1),
        EspInteg::Sha256_128 => (SkInteg::Sha256_128, Prf::HmacSha256),
        EspInteg::Sha384_192 => (SkInteg::Sha384_192, Prf::HmacSha384),
        EspInteg::Sha512_256 => (SkInteg::Sha512_256, Prf::HmacSha512),
        EspInteg::AesCmac96 => (SkInteg::AesCmac96, Prf::AesCmac),
        EspInteg::AesXcbc96 => return None,
    })
}

/// What an ESP encryption keyword leaves to the rest of the proposal.
enum EspEncr {
    /// A complete suite (an AEAD, or GMAC).
    Aead(EspCipher),
    /// AES-CBC with this key size: an integrity keyword must follow.
    Cbc(u16),
    /// No encryption: an integrity keyword must follow.
    Null,
}

/// An ESP encryption keyword, as strongSwan spells them: `aes128` (CBC), `aes192gcm16` (also
/// `gcm128`, and `gcm12`/`gcm96`, `gcm8`/`gcm64`), `aes256gmac`, `chacha20poly1305`, `null`.
fn esp_encr(token: &str) -> Option<EspEncr> {
    match token {
        "chacha20poly1305" => return Some(EspEncr::Aead(EspCipher::ChaCha20Poly1305)),
        "null" => return Some(EspEncr::Null),
        _ => {}
    }
    let rest = token.strip_prefix("aes")?;
    let key_bits = match rest.get(..3)? {
        "128" => 128,
        "192" => 192,
        "256" => 256,
        _ => return None,
    };
    let gcm = |icv| EspEncr::Aead(EspCipher::AesGcm { key_bits, icv });
    Some(match rest.get(3..)? {
        "" => EspEncr::Cbc(key_bits),
        "gcm16" | "gcm128" | "gcm" => gcm(16),
        "gcm12" | "gcm96" => gcm(12),
        "gcm8" | "gcm64" => gcm(8),
        "gmac" => EspEncr::Aead(EspCipher::AesGmac { key_bits }),
        _ => return None,
    })
}

/// An ESP integrity keyword: `sha1` (HMAC-SHA-1-96), `sha256`, `sha384`, `sha512`,
/// `aesxcbc`, `aescmac`.
fn esp_integ(token: &str) -> Option<EspInteg> {
    let token = token
        .strip_prefix("sha2_")
        .map_or(token, |bits| match bits {
            "256" => "sha256",
            "384" => "sha384",
            "512" => "sha512",
            _ => token,
        });
    EspInteg::ALL.into_iter().find(|i| i.keyword() == token)
}

fn dh(token: &str) -> Option<DhGroup> {
    Some(match token {
        "modp1024" => DhGroup::Modp1024,
        "modp1536" => DhGroup::Modp1536,
        "modp2048" => DhGroup::Modp2048,
        "modp3072" => DhGroup::Modp3072,
        "modp4096" => DhGroup::Modp4096,
        "modp6144" => DhGroup::Modp6144,
        "modp8192" => DhGroup::Modp8192,
        "ecp256" => DhGroup::Ecp256,
        "ecp384" => DhGroup::Ecp384,
        "ecp521" => DhGroup::Ecp521,
        "curve25519" | "x25519" => DhGroup::Curve25519,
        "curve448" | "x448" => DhGroup::Curve448,
        _ => return None,
    })
}

/// strongSwan's name of a DH group.
pub fn dh_name(g: DhGroup) -> &'static str {
    match g {
        DhGroup::Modp1024 => "modp1024",
        DhGroup::Modp1536 => "modp1536",
        DhGroup::Modp2048 => "modp2048",
        DhGroup::Modp3072 => "modp3072",
        DhGroup::Modp4096 => "modp4096",
        DhGroup::Modp6144 => "modp6144",
        DhGroup::Modp8192 => "modp8192",
        DhGroup::Ecp256 => "ecp256",
        DhGroup::Ecp384 => "ecp384",
        DhGroup::Ecp521 => "ecp521",
        DhGroup::Curve25519 => "curve25519",
        DhGroup::Curve448 => "curve448",
    }
}

pub(crate) const CIPHERS: &str = "aes128gcm16, aes192gcm16, aes256gcm16, aes128, aes192, aes256";
const ESP_CIPHERS: &str =
    "aes128gcm16 (also aes192/aes256, gcm12/gcm8), aes128gmac, chacha20poly1305, aes128, aes192, aes256, null";
const INTEGS: &str = "sha256, sha384, sha512, aesxcbc, aescmac, sha1";
pub(crate) const IKE_INTEGS: &str = "sha256, sha384, sha512, aescmac, sha1";
pub(crate) const IKE_PRFS: &str = "prfsha256, prfsha384, prfsha512, prfaescmac, prfsha1";
pub(crate) const GROUPS: &str =
    "modp2048, modp3072, modp4096, modp6144, modp8192, ecp256, ecp384, ecp521, curve25519, curve448 (weak: modp1024, modp1536)";

/// Parses a strongSwan-style IKE proposal: `aes128gcm16-prfsha256-ecp256`,
/// `aes256-sha384-modp2048` (the PRF follows the integrity algorithm when not named).
pub fn ike_proposal(s: &str) -> Result<IkeProposal, String> {
    let mut tokens = s.split('-');
    let first = tokens.next().unwrap_or_default();
    let encr = cipher(first).ok_or_else(|| match esp_encr(first) {
        Some(_) => format!("\"{s}\": {first} is for ESP only; IKE takes one of {CIPHERS}"),
        None => format!("\"{s}\": unknown encryption `{first}`; use one of {CIPHERS}"),
    })?;
    let (mut integ, mut prf, mut group) = (None, None, None);
    for t in tokens {
        if let Some(i) = esp_integ(t) {
            if encr.is_ok() {
                return Err(format!("\"{s}\": {first} is an AEAD and takes no integrity algorithm; write prf{t} for the PRF"));
            }
            integ = Some(ike_integ(i).ok_or_else(|| {
                format!("\"{s}\": {t} is for ESP and AH only (no Rust crate implements AES-XCBC for IKE); use aescmac or sha256")
            })?);
            continue;
        }
        match t {
            "prfsha1" => prf = Some(Prf::HmacSha1),
            "prfsha256" => prf = Some(Prf::HmacSha256),
            "prfsha384" => prf = Some(Prf::HmacSha384),
            "prfsha512" => prf = Some(Prf::HmacSha512),
            "prfaescmac" => prf = Some(Prf::AesCmac),
            "prfaesxcbc" => {
                return Err(format!("\"{s}\": prfaesxcbc is not available (no Rust crate implements AES-XCBC); use prfaescmac or prfsha256"))
            }
            _ => {
                group = Some(dh(t).ok_or_else(|| {
                    format!("\"{s}\": unknown `{t}`; integrity is {IKE_INTEGS}, PRFs are {IKE_PRFS}, DH groups are {GROUPS}")
                })?)
            }
        }
    }
    let cipher = match (encr, integ) {
        (Ok(aead), _) => aead,
        (Err(key_bits), Some((integ, _))) => SkCipher::AesCbc { key_bits, integ },
        (Err(_), None) => {
            return Err(format!(
            "\"{s}\": {first} (CBC) needs an integrity algorithm: {first}-sha256-... (or {IKE_INTEGS})"
        ))
        }
    };
    let prf = match (prf, integ) {
        (Some(p), _) => p,
        (None, Some((_, paired))) => paired,
        (None, None) => {
            return Err(format!(
                "\"{s}\": an AEAD proposal needs a PRF: {first}-prfsha256-..."
            ))
        }
    };
    let dh = group.ok_or_else(|| format!("\"{s}\": no DH group; add one of {GROUPS}"))?;
    Ok(IkeProposal { cipher, prf, dh })
}

/// Parses an ESP proposal: `aes128gcm16`, `aes256gmac`, `chacha20poly1305`,
/// `aes192-sha384`, `null-sha256`, optionally with a DH group for PFS.
pub fn esp_proposal(s: &str) -> Result<(EspProposal, Option<DhGroup>), String> {
    let mut tokens = s.split('-');
    let first = tokens.next().unwrap_or_default();
    let encr = esp_encr(first).ok_or_else(|| {
        format!("\"{s}\": unknown encryption `{first}`; use one of {ESP_CIPHERS}")
    })?;
    let (mut integ, mut group) = (None, None);
    for t in tokens {
        if let Some(i) = esp_integ(t) {
            if let EspEncr::Aead(_) = encr {
                return Err(format!(
                    "\"{s}\": {first} is an AEAD and takes no integrity algorithm; drop `-{t}`"
                ));
            }
            if integ.replace(i).is_some() {
                return Err(format!(
                    "\"{s}\": one integrity algorithm per proposal; write one proposal for each"
                ));
            }
            continue;
        }
        match t {
            "noesn" => {}
            "esn" => return Err(format!("\"{s}\": ESN is not negotiated yet; drop `-esn`")),
            _ => {
                group = Some(dh(t).ok_or_else(|| {
                    format!("\"{s}\": unknown `{t}`; ESP takes {ESP_CIPHERS}, {INTEGS} after aes128/aes192/aes256/null, and a DH group ({GROUPS}) for PFS")
                })?)
            }
        }
    }
    let cipher = match (encr, integ) {
        (EspEncr::Aead(cipher), _) => cipher,
        (EspEncr::Cbc(key_bits), Some(integ)) => EspCipher::AesCbc { key_bits, integ },
        (EspEncr::Null, Some(integ)) => EspCipher::Null { integ },
        (encr, None) => {
            let what = match encr {
                EspEncr::Null => "no encryption",
                _ => "CBC",
            };
            return Err(format!(
                "\"{s}\": {first} ({what}) needs an integrity algorithm: {first}-sha256 (or {INTEGS})"
            ));
        }
    };
    Ok((EspProposal { cipher }, group))
}

/// The IP protocol of a negotiated suite: ESP or AH.
pub fn proto_of(cipher: EspCipher) -> u8 {
    match cipher {
        EspCipher::Ah { .. } => ripsec_proto::uapi::PROTO_AH,
        _ => ripsec_proto::uapi::PROTO_ESP,
    }
}

/// Parses an AH proposal (strongSwan's `ah_proposals`): `sha256`, `sha384`, `sha512` or
/// `sha1`, optionally with a DH group for PFS.
pub fn ah_proposal(s: &str) -> Result<(EspProposal, Option<DhGroup>), String> {
    let mut tokens = s.split('-');
    let first = tokens.next().unwrap_or_default();
    let integ = esp_integ(first).ok_or_else(|| {
        format!("\"{s}\": unknown integrity algorithm `{first}`; AH takes {INTEGS}")
    })?;
    let mut group = None;
    for t in tokens {
        match t {
            "noesn" => {}
            "esn" => return Err(format!("\"{s}\": ESN is not negotiated yet; drop `-esn`")),
            _ => {
                group = Some(dh(t).ok_or_else(|| {
                    format!("\"{s}\": unknown `{t}`; AH takes one of {INTEGS}, then a DH group ({GROUPS}) for PFS")
                })?)
            }
        }
    }
    Ok((
        EspProposal {
            cipher: EspCipher::Ah { integ },
        },
        group,
    ))
}

/// ripsec's algorithm name (`ripsec_proto::alg::ALGS`) for a negotiated ESP cipher: the entry
/// with its IKEv2 transform IDs and key size. The key installed with it is the encryption key
/// (salt included) followed by the integrity key.
pub fn ripsec_alg(cipher: EspCipher) -> &'static str {
    let bits = cipher.key_length_attribute();
    let proto = proto_of(cipher);
    ripsec_proto::alg::ALGS
        .iter()
        .find(|a| {
            a.proto == proto
                && a.ikev2_encr == cipher.encr_id()
                && a.ikev2_integ == cipher.integ_id().unwrap_or(0)
                && bits.is_none_or(|b| b == a.enc_key_bits)
        })
        .map_or("unknown", |a| a.name)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_psk_of_the_wrong_type_is_not_echoed() {
        for (value, hidden) in [("12345678", true), ("123.5", true), ("true", true)] {
            let text = format!("[connections.c]\nlocal_addr = \"10.0.0.1\"\nremote_addr = \"10.0.0.2\"\npsk = {value}\n");
            let err = parse(Path::new("t.toml"), &text).unwrap_err().0.join("\n");
            assert!(err.contains("t.toml:4:"), "{err}");
            assert!(err.contains("expected a string"), "{err}");
            assert_eq!(!err.contains(value), hidden, "{err}");
        }
        // Other keys' values are still quoted: they help find the mistake.
        let text = "[connections.c]\nlocal_addr = 17\n";
        let err = parse(Path::new("t.toml"), text).unwrap_err().0.join("\n");
        assert!(err.contains("`17`"), "{err}");
    }
    use super::*;

    fn check(text: &str) -> Result<Config, String> {
        parse(Path::new("t.toml"), text).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"
[daemon]
socket = "/tmp/x.sock"

[connections.site]
local_addr = "10.0.0.1"
remote_addr = "10.0.0.2"
psk = "a long secret"
ike_proposals = ["aes128gcm16-prfsha256-ecp256", "aes256-sha256-modp2048"]
start = "trap"
dpd_delay = 10

[connections.site.children.net]
local_ts = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/24"]
esp_proposals = ["aes128gcm16-ecp256"]
rekey_time = 100
life_time = 120
"#;

    const V1: &str = r#"
[connections.old]
version = 1
local_addr = "10.0.0.1"
remote_addr = "10.0.0.2"
psk = "a long secret"

[connections.old.children.net]
local_ts = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/24"]
"#;

    #[test]
    fn ikev1_connections_and_what_they_cannot_have_yet() {
        let c = check(V1).unwrap();
        let conn = c.connection("old").unwrap();
        assert_eq!(conn.version, 1);
        assert_eq!(conn.ike.len(), DEFAULT_IKE_V1.len());
        assert!(conn
            .ike
            .iter()
            .all(|p| matches!(p.cipher, SkCipher::AesCbc { .. })));
        assert_eq!(check(GOOD).unwrap().connections[0].version, 2);
        let e = check(&V1.replace("version = 1", "version = 3")).unwrap_err();
        assert!(e.contains("version = 3: IKE versions are 1 and 2"), "{e}");
        let bad = |from: &str, to: &str, want: &str| {
            let e = check(&V1.replace(from, to)).unwrap_err();
            assert!(e.contains(want), "{e}");
        };
        let psk = "psk = \"a long secret\"";
        bad(
            psk,
            &format!("{psk}\nike_proposals = [\"aes128gcm16-prfsha256-ecp256\"]"),
            "IKEv1 Main Mode takes AES-CBC with a SHA-1 or SHA-2 hash",
        );
        bad(
            "local_ts = [\"10.1.0.0/24\"]",
            "local_ts = [\"10.1.0.0/24\", \"10.3.0.0/24\"]",
            "IKEv1 Quick Mode carries one local and one remote subnet",
        );
        bad(
            "remote_ts = [\"10.2.0.0/24\"]",
            "remote_ts = [\"10.2.0.0/24\"]\nesp_proposals = [\"chacha20poly1305\"]",
            "chacha20poly1305 has no IKEv1 transform (IKEv1 has no ChaCha20-Poly1305 or AES-CMAC)",
        );
        let am = check(&V1.replace(psk, &format!("{psk}\naggressive = true"))).unwrap();
        assert!(am.connections[0].aggressive);
        let w = am.warnings();
        assert!(
            w.iter()
                .any(|w| w
                    .contains("Aggressive Mode sends a hash of the pre-shared key in the clear")),
            "{w:?}"
        );
        assert!(check(V1).unwrap().warnings().is_empty());
        let e = check(&V1.replace("version = 1", "aggressive = true")).unwrap_err();
        assert!(
            e.contains("aggressive is an IKEv1 mode; add version = 1"),
            "{e}"
        );
    }

    #[test]
    fn a_good_file_parses() {
        let c = check(GOOD).unwrap();
        assert_eq!(c.socket, PathBuf::from("/tmp/x.sock"));
        let conn = c.connection("site").unwrap();
        assert_eq!(conn.start, StartAction::Trap);
        assert_eq!(conn.local_id, Identity::Ipv4("10.0.0.1".parse().unwrap()));
        assert_eq!(conn.ike.len(), 2);
        assert_eq!(conn.ike[1].prf, Prf::HmacSha256);
        assert!(conn.children[0].pfs);
        assert_eq!(conn.children[0].local_ts[0].to_string(), "10.1.0.0/24");
        assert_eq!(conn.dpd_delay, Some(Duration::from_secs(10)));
    }

    #[test]
    fn transport_defaults_to_the_addresses() {
        let c = check(
            "[connections.t]\nlocal_addr = \"fd00::1\"\nremote_addr = \"fd00::2\"\npsk = \"k\"\n[connections.t.children.c]\nmode = \"transport\"\n",
        )
        .unwrap();
        let ch = &c.connections[0].children[0];
        assert_eq!(ch.mode, Mode::Transport);
        assert_eq!(ch.local_ts[0].to_string(), "fd00::1/128");
        assert_eq!(c.connections[0].ike.len(), DEFAULT_IKE.len());
    }

    #[test]
    fn nat_traversal_keys() {
        let c = check(GOOD).unwrap();
        assert_eq!(
            (c.natt_port, c.keepalive),
            (4500, Some(Duration::from_secs(20)))
        );
        let conn = c.connection("site").unwrap();
        assert_eq!((conn.encap, conn.remote_port), (false, None));
        let set = GOOD
            .replace(
                "socket = \"/tmp/x.sock\"",
                "socket = \"/tmp/x.sock\"\nnatt_port = 4600\nkeepalive = 0\ncookie_threshold = 8",
            )
            .replace(
                "dpd_delay = 10",
                "dpd_delay = 10\nencap = true\nremote_port = 4500",
            );
        let c = check(&set).unwrap();
        assert_eq!((c.natt_port, c.keepalive), (4600, None));
        assert_eq!(c.cookie_threshold, 8);
        let conn = c.connection("site").unwrap();
        assert_eq!((conn.encap, conn.remote_port), (true, Some(4500)));
        let bad = GOOD
            .replace(
                "socket = \"/tmp/x.sock\"",
                "socket = \"/tmp/x.sock\"\nport = 4500\nnatt_port = 4500\nkeepalive = 7200",
            )
            .replace("dpd_delay = 10", "dpd_delay = 10\nremote_port = 0");
        let e = check(&bad).unwrap_err();
        assert!(
            e.contains("t.toml:5: daemon.natt_port: use a port other than 0 and daemon.port"),
            "{e}"
        );
        assert!(
            e.contains("t.toml:6: daemon.keepalive: use 0 (off) to 3600 seconds"),
            "{e}"
        );
        assert!(e.contains("remote_port: 0 is not a port"), "{e}");
    }

    #[test]
    fn errors_name_the_line() {
        let bad = GOOD.replace("start = \"trap\"", "start = \"later\"");
        let e = check(&bad).unwrap_err();
        assert!(
            e.starts_with("t.toml:10: connection `site`: start = \"later\""),
            "{e}"
        );
        let unknown = GOOD.replace("dpd_delay = 10", "dpd = 10");
        let e = check(&unknown).unwrap_err();
        assert!(
            e.starts_with("t.toml:11:") && e.contains("unknown field `dpd`"),
            "{e}"
        );
    }

    #[test]
    fn several_errors_are_all_reported() {
        let bad = GOOD
            .replace("\"10.0.0.2\"", "\"10.0.0.300\"")
            .replace("10.2.0.0/24", "10.2.0.1/24")
            .replace("aes256-sha256-modp2048", "aes256-modp2048");
        let e = check(&bad).unwrap_err();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 3, "{e}");
        assert!(lines[0].starts_with("t.toml:7:") && lines[0].contains("not an IP address"));
        assert!(lines[1].contains("needs an integrity algorithm"), "{e}");
        assert!(
            lines[2].starts_with("t.toml:15:") && lines[2].contains("host bits"),
            "{e}"
        );
    }

    #[test]
    fn proposals_explain_themselves() {
        assert!(ike_proposal("aes128gcm16-ecp256")
            .unwrap_err()
            .contains("needs a PRF"));
        assert!(ike_proposal("3des-sha1-modp1024")
            .unwrap_err()
            .contains("unknown encryption"));
        assert!(ike_proposal("aes128-sha256")
            .unwrap_err()
            .contains("no DH group"));
        let p = ike_proposal("aes256gcm16-prfsha384-curve25519").unwrap();
        assert_eq!((p.prf, p.dh), (Prf::HmacSha384, DhGroup::Curve25519));
        let (e, g) = esp_proposal("aes256-sha256-modp2048").unwrap();
        assert_eq!(
            e.cipher,
            EspCipher::AesCbc {
                key_bits: 256,
                integ: EspInteg::Sha256_128
            }
        );
        assert_eq!(g, Some(DhGroup::Modp2048));
        assert_eq!(ripsec_alg(e.cipher), "aes256-sha256");
    }

    #[test]
    fn esp_proposals_cover_the_module_algorithms() {
        let ok = |s: &str| esp_proposal(s).unwrap();
        let chacha = EspProposal {
            cipher: EspCipher::ChaCha20Poly1305,
        };
        let null = EspProposal {
            cipher: EspCipher::Null {
                integ: EspInteg::Sha256_128,
            },
        };
        assert_eq!(ok("chacha20poly1305"), (chacha, None));
        assert_eq!(
            ok("chacha20poly1305-curve25519"),
            (chacha, Some(DhGroup::Curve25519))
        );
        assert_eq!(ok("chacha20poly1305-noesn"), (chacha, None));
        assert_eq!(ok("null-sha256"), (null, None));
        assert_eq!(ok("null-sha256-ecp256"), (null, Some(DhGroup::Ecp256)));
        assert_eq!(
            ok("aes128gcm16").0.cipher,
            EspCipher::AesGcm {
                key_bits: 128,
                icv: 16
            }
        );
        let err = |s: &str| esp_proposal(s).unwrap_err();
        assert_eq!(
            err("null"),
            "\"null\": null (no encryption) needs an integrity algorithm: null-sha256 (or sha256, sha384, sha512, aesxcbc, aescmac, sha1)"
        );
        assert_eq!(
            ok("aes192-sha384").0.cipher,
            EspCipher::AesCbc {
                key_bits: 192,
                integ: EspInteg::Sha384_192
            }
        );
        assert_eq!(
            ok("aes256gcm64").0.cipher,
            EspCipher::AesGcm {
                key_bits: 256,
                icv: 8
            }
        );
        assert_eq!(
            ok("aes128gmac-ecp256"),
            (
                EspProposal {
                    cipher: EspCipher::AesGmac { key_bits: 128 }
                },
                Some(DhGroup::Ecp256)
            )
        );
        assert_eq!(
            err("aes128-sha256-sha1"),
            "\"aes128-sha256-sha1\": one integrity algorithm per proposal; write one proposal for each"
        );
        assert_eq!(
            err("chacha20poly1305-sha256"),
            "\"chacha20poly1305-sha256\": chacha20poly1305 is an AEAD and takes no integrity algorithm; drop `-sha256`"
        );
        assert_eq!(
            err("3des-sha1"),
            "\"3des-sha1\": unknown encryption `3des`; use one of aes128gcm16 (also aes192/aes256, gcm12/gcm8), aes128gmac, chacha20poly1305, aes128, aes192, aes256, null"
        );
        assert_eq!(
            err("null-md5"),
            "\"null-md5\": unknown `md5`; ESP takes aes128gcm16 (also aes192/aes256, gcm12/gcm8), aes128gmac, chacha20poly1305, aes128, aes192, aes256, null, sha256, sha384, sha512, aesxcbc, aescmac, sha1 after aes128/aes192/aes256/null, and a DH group (modp2048, modp3072, modp4096, modp6144, modp8192, ecp256, ecp384, ecp521, curve25519, curve448 (weak: modp1024, modp1536)) for PFS"
        );
        // IKE (SK payloads) keeps its own suites.
        assert_eq!(
            ike_proposal("chacha20poly1305-prfsha256-curve25519").unwrap_err(),
            "\"chacha20poly1305-prfsha256-curve25519\": chacha20poly1305 is for ESP only; IKE takes one of aes128gcm16, aes192gcm16, aes256gcm16, aes128, aes192, aes256"
        );
        assert!(ike_proposal("null-sha256-modp2048")
            .unwrap_err()
            .contains("null is for ESP only"));
        // In a config file, with PFS in the IKE SA's group.
        let cfg = check(&GOOD.replace(
            r#"esp_proposals = ["aes128gcm16-ecp256"]"#,
            r#"esp_proposals = ["chacha20poly1305-ecp256", "null-sha256-ecp256"]"#,
        ))
        .unwrap();
        let child = &cfg.connections[0].children[0];
        assert_eq!(child.esp, vec![chacha, null]);
        assert!(child.pfs);
        let e = check(&GOOD.replace(
            r#"esp_proposals = ["aes128gcm16-ecp256"]"#,
            r#"esp_proposals = ["chacha20poly1305-sha256"]"#,
        ))
        .unwrap_err();
        assert!(e.contains("takes no integrity algorithm"), "{e}");
        // SHA-1 is accepted when named, with a warning; nothing else warns.
        assert!(cfg.warnings().is_empty());
        let weak = check(&GOOD.replace(
            r#"esp_proposals = ["aes128gcm16-ecp256"]"#,
            r#"esp_proposals = ["aes256gcm16-ecp256", "aes128-sha1-ecp256"]"#,
        ))
        .unwrap();
        let w = weak.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains(
                "aes128-sha1 uses HMAC-SHA-1-96, which RFC 8221 keeps for old peers only"
            ),
            "{w:?}"
        );
    }

    /// Every algorithm of ripsec's ESP table is negotiable: its name is a proposal keyword
    /// whose suite maps back to it, with the same IKEv2 transform IDs, and the key the daemon
    /// installs (encryption key then integrity key) has the length the module expects.
    #[test]
    fn esp_ciphers_map_to_the_module_table() {
        use ripsec_proto::alg::{self, CryptoKind};
        use ripsec_proto::uapi::PROTO_ESP;
        let mut seen = Vec::new();
        for a in alg::ALGS.iter().filter(|a| a.proto == PROTO_ESP) {
            let name = a.name;
            let c = esp_proposal(name)
                .unwrap_or_else(|e| panic!("{e}"))
                .0
                .cipher;
            assert_eq!(ripsec_alg(c), name);
            assert_eq!(a.ikev2_encr, c.encr_id(), "{name}");
            assert_eq!(a.ikev2_integ, c.integ_id().unwrap_or(0), "{name}");
            assert_eq!(
                a.enc_key_bits / 8 + u16::from(a.salt_len),
                c.encr_key_len() as u16
            );
            assert_eq!(usize::from(a.auth_key_len), c.integ_key_len(), "{name}");
            assert_eq!(a.key_len(), c.encr_key_len() + c.integ_key_len(), "{name}");
            assert_eq!(a.kind == CryptoKind::Aead, c.integ_id().is_none(), "{name}");
            assert!(!seen.contains(&c), "{name}: two entries for one suite");
            seen.push(c);
        }
        assert_eq!(seen.len(), 37);
        assert!(seen.iter().filter(|c| c.is_weak()).count() == 4);
    }

    #[test]
    fn ike_proposals_take_every_integrity_and_prf() {
        let p = ike_proposal("aes256-sha512-ecp384").unwrap();
        assert_eq!(
            (p.cipher, p.prf),
            (
                SkCipher::AesCbc {
                    key_bits: 256,
                    integ: SkInteg::Sha512_256
                },
                Prf::HmacSha512
            )
        );
        let p = ike_proposal("aes128-sha384-prfsha256-modp3072").unwrap();
        assert_eq!(p.prf, Prf::HmacSha256);
        assert_eq!(p.cipher.integ_id(), Some(SkInteg::Sha384_192.id()));
        let p = ike_proposal("aes128-sha1-modp2048").unwrap();
        assert_eq!(p.prf, Prf::HmacSha1);
        assert_eq!(
            ike_proposal("aes128gcm16-prfsha1-ecp256").unwrap().prf,
            Prf::HmacSha1
        );
        let p = ike_proposal("aes128gcm16-prfaescmac-ecp256").unwrap();
        assert_eq!(p.prf, Prf::AesCmac);
        let e = ike_proposal("aes128gcm16-sha384-ecp256").unwrap_err();
        assert!(
            e.contains("takes no integrity algorithm; write prfsha384 for the PRF"),
            "{e}"
        );
        let e = ike_proposal("aes128-ecp256").unwrap_err();
        assert!(e.contains("needs an integrity algorithm"), "{e}");
        // AES-192, AES-CMAC-96 with the PRF strongSwan pairs with it, Curve448.
        let p = ike_proposal("aes192-aescmac-curve448").unwrap();
        assert_eq!(
            (p.cipher, p.prf, p.dh),
            (
                SkCipher::AesCbc {
                    key_bits: 192,
                    integ: SkInteg::AesCmac96
                },
                Prf::AesCmac,
                DhGroup::Curve448
            )
        );
        let p = ike_proposal("aes192gcm16-prfsha384-x448").unwrap();
        assert_eq!(p.cipher, SkCipher::AesGcm16 { key_bits: 192 });
        let e = ike_proposal("aes128-aesxcbc-ecp256").unwrap_err();
        assert!(e.contains("aesxcbc is for ESP and AH only"), "{e}");
        let e = ike_proposal("aes128gcm16-prfaesxcbc-ecp256").unwrap_err();
        assert!(e.contains("prfaesxcbc is not available"), "{e}");
        let weak =
            check(&GOOD.replace("aes256-sha256-modp2048", "aes256-sha256-modp1024")).unwrap();
        assert!(
            weak.warnings()
                .iter()
                .any(|w| w.contains("modp1024 is too small a DH group")),
            "{:?}",
            weak.warnings()
        );
        let weak = check(&GOOD.replace("aes256-sha256-modp2048", "aes256-sha1-modp2048")).unwrap();
        assert!(
            weak.warnings()
                .iter()
                .any(|w| w.contains("an IKE proposal uses HMAC-SHA-1")),
            "{:?}",
            weak.warnings()
        );
    }

    #[test]
    fn ah_proposals_make_an_ah_child() {
        let cfg = check(&GOOD.replace(
            r#"esp_proposals = ["aes128gcm16-ecp256"]"#,
            r#"ah_proposals = ["sha512-ecp256", "sha256-ecp256"]"#,
        ))
        .unwrap();
        let child = &cfg.connections[0].children[0];
        let integs: Vec<_> = child.esp.iter().map(|p| p.cipher).collect();
        assert_eq!(
            integs,
            [
                EspCipher::Ah {
                    integ: EspInteg::Sha512_256
                },
                EspCipher::Ah {
                    integ: EspInteg::Sha256_128
                }
            ]
        );
        assert!(child.pfs);
        assert_eq!(ripsec_alg(integs[1]), "sha256");
        assert_eq!(proto_of(integs[1]), ripsec_proto::uapi::PROTO_AH);
        let both = GOOD.replace(
            r#"esp_proposals = ["aes128gcm16-ecp256"]"#,
            "esp_proposals = [\"aes128gcm16-ecp256\"]\nah_proposals = [\"sha256\"]",
        );
        let e = check(&both).unwrap_err();
        assert!(
            e.contains("a Child SA is ESP or AH: keep esp_proposals or ah_proposals, not both"),
            "{e}"
        );
        let e = ah_proposal("aes128-sha256").unwrap_err();
        assert!(
            e.contains(
                "unknown integrity algorithm `aes128`; AH takes sha256, sha384, sha512, aesxcbc, aescmac, sha1"
            ),
            "{e}"
        );
        for (name, integ) in [
            ("aesxcbc", EspInteg::AesXcbc96),
            ("aescmac", EspInteg::AesCmac96),
        ] {
            let cipher = ah_proposal(name).unwrap().0.cipher;
            assert_eq!(cipher, EspCipher::Ah { integ });
            assert_eq!(ripsec_alg(cipher), name);
        }
        let weak = check(&GOOD.replace(
            r#"esp_proposals = ["aes128gcm16-ecp256"]"#,
            r#"ah_proposals = ["sha1"]"#,
        ))
        .unwrap();
        assert_eq!(weak.warnings().len(), 1);
    }

    #[test]
    fn pfs_group_must_match_and_lifetimes_must_be_ordered() {
        let e = check(&GOOD.replace("aes128gcm16-ecp256", "aes128gcm16-modp2048")).unwrap_err();
        assert!(e.contains("must be the IKE SA's group (ecp256)"), "{e}");
        let e = check(&GOOD.replace("life_time = 120", "life_time = 50")).unwrap_err();
        assert!(
            e.starts_with("t.toml:18:")
                && e.contains("life_time (50 s) must be larger than rekey_time (100 s)"),
            "{e}"
        );
        let bytes = "life_time = 120\nrekey_bytes = 1000000\nlife_bytes = ";
        let e = check(&GOOD.replace("life_time = 120", &format!("{bytes}900000"))).unwrap_err();
        assert!(
            e.starts_with("t.toml:20:")
                && e.contains(
                    "life_bytes (900000 bytes) must be larger than rekey_bytes (1000000 bytes)"
                ),
            "{e}"
        );
        let ok = check(&GOOD.replace("life_time = 120", &format!("{bytes}2000000"))).unwrap();
        let child = &ok.connections[0].children[0];
        assert_eq!(
            (child.rekey_bytes, child.life_bytes),
            (Some(1_000_000), Some(2_000_000))
        );
    }

    #[test]
    fn unusable_combinations_are_refused() {
        let t = "[connections.t]\nlocal_addr = \"10.0.0.1\"\nremote_addr = \"10.0.0.2\"\npsk = \"k\"\n[connections.t.children.c]\nmode = \"transport\"\nremote_ts = [\"10.2.0.0/24\"]\n";
        assert!(check(t)
            .unwrap_err()
            .contains("transport mode protects traffic between the two hosts"));
        let v = GOOD.replace("10.2.0.0/24", "fd02::/64");
        assert!(check(&v).unwrap_err().contains("no IP version in common"));
        let z = GOOD.replace("\"10.0.0.1\"", "\"0.0.0.0\"");
        assert!(check(&z)
            .unwrap_err()
            .contains("one host's unicast address"));
        let twice = format!(
            "{GOOD}\n{}",
            GOOD.replace("[daemon]\nsocket = \"/tmp/x.sock\"\n", "")
                .replace("site", "site2")
        );
        assert!(check(&twice)
            .unwrap_err()
            .contains("a responder could not tell them apart"));
    }

    #[test]
    fn missing_pieces_say_what_to_add() {
        let e = check(&GOOD.replace("psk = \"a long secret\"\n", "")).unwrap_err();
        assert!(e.contains("add psk = "), "{e}");
        let e = check("[connections.x]\nlocal_addr = \"10.0.0.1\"\n").unwrap_err();
        assert!(
            e.starts_with("t.toml:1:") && e.contains("remote_addr"),
            "{e}"
        );
        let e = check("").unwrap_err();
        assert!(e.contains("no connections"), "{e}");
    }

    /// GOOD with certificates from the ike crate's fixtures instead of the PSK.
    fn pubkey_conf(cert: &str, key: &str, extra: &str) -> String {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../ike/tests/fixtures/pki");
        GOOD.replace(
            "psk = \"a long secret\"\n",
            &format!("auth = \"pubkey\"\ncert = \"{dir}/{cert}\"\nkey = \"{dir}/{key}\"\nca = [\"{dir}/ca-rsa.crt\", \"{dir}/ca-ec.crt\"]\n{extra}"),
        )
    }

    #[test]
    fn certificates_load_and_name_our_identity() {
        let c = check(&pubkey_conf("left-rsa.crt", "left-rsa.key", "")).unwrap();
        let conn = c.connection("site").unwrap();
        let pk = conn.auth.public_key().unwrap();
        assert_eq!(pk.trusted.len(), 2);
        // Without local_id, we are the certificate's subject.
        assert_eq!(conn.local_id.to_string(), "CN=left.ripsec.test, O=ripsec");
        let c = check(&pubkey_conf(
            "left-ec.crt",
            "left-ec.key",
            "local_id = \"left.ripsec.test\"\nremote_id = \"C=CH, O=x, CN=right\"\n",
        ))
        .unwrap();
        let conn = c.connection("site").unwrap();
        assert_eq!(conn.local_id, Identity::Fqdn("left.ripsec.test".into()));
        assert!(matches!(conn.remote_id, Identity::Dn(_)));
    }

    #[test]
    fn certificate_problems_are_named() {
        let e = check(&pubkey_conf("left-rsa.crt", "left-ec.key", "")).unwrap_err();
        assert!(
            e.contains("does not belong to certificate 'CN=left.ripsec.test"),
            "{e}"
        );
        let e = check(&pubkey_conf("expired.crt", "left-rsa.key", "")).unwrap_err();
        assert!(e.contains("expired on 2021-01-01"), "{e}");
        let e = check(&pubkey_conf(
            "left-rsa.crt",
            "left-rsa.key",
            "local_id = \"right.ripsec.test\"\n",
        ))
        .unwrap_err();
        assert!(
            e.contains("local_id right.ripsec.test cannot be used with cert"),
            "{e}"
        );
        let e = check(&pubkey_conf("missing.crt", "left-rsa.key", "")).unwrap_err();
        assert!(e.contains("cannot read cert"), "{e}");
        let e = check(&pubkey_conf("left-rsa.key", "left-rsa.key", "")).unwrap_err();
        assert!(e.contains("t.toml:9: connection `site`: cert"), "{e}");
        assert!(e.contains("no \"BEGIN CERTIFICATE\" block"), "{e}");
        let e = check(&GOOD.replace("psk = \"a long secret\"", "auth = \"pubkey\"\ncert = \"x\""))
            .unwrap_err();
        assert!(e.contains("add key = \"PATH\", ca = [\"PATH\"]"), "{e}");
        let e = check(&pubkey_conf(
            "left-rsa.crt",
            "left-rsa.key",
            "psk = \"k\"\n",
        ))
        .unwrap_err();
        assert!(e.contains("psk does not apply to auth = \"pubkey\""), "{e}");
        let e = check(&GOOD.replace("psk = \"a long secret\"", "auth = \"rsa\"")).unwrap_err();
        assert!(
            e.contains("use \"psk\" (pre-shared key) or \"pubkey\""),
            "{e}"
        );
    }

    const TWO: &str = r#"
[connections.c]
local_addr = "10.0.0.1"
remote_addr = "10.0.0.2"
psk = "k"

[connections.c.children.zeta]
local_ts = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/24"]

[connections.c.children.alpha]
local_ts = ["10.1.1.0/24"]
remote_ts = ["10.2.0.0/24"]
mode = "tunnel"
"#;

    #[test]
    fn several_children_keep_file_order() {
        let c = check(TWO).unwrap();
        let names: Vec<&str> = c.connections[0]
            .children
            .iter()
            .map(|ch| ch.name.as_str())
            .collect();
        assert_eq!(names, ["zeta", "alpha"]);
        assert_eq!(
            c.connections[0].children[1].local_ts[0].to_string(),
            "10.1.1.0/24"
        );
    }

    #[test]
    fn overlapping_children_are_refused() {
        // alpha's local 10.1.0.0/16 contains zeta's 10.1.0.0/24, same remote.
        let bad = TWO.replace("10.1.1.0/24", "10.1.0.0/16");
        let e = check(&bad).unwrap_err();
        assert!(
            e.starts_with("t.toml:11: connection `c`: children `zeta` and `alpha` protect overlapping traffic"),
            "{e}"
        );
        // Disjoint remotes are fine even with overlapping locals.
        let ok = bad.replace(
            "local_ts = [\"10.1.0.0/16\"]\nremote_ts = [\"10.2.0.0/24\"]",
            "local_ts = [\"10.1.0.0/16\"]\nremote_ts = [\"10.3.0.0/24\"]",
        );
        assert_ne!(ok, bad);
        assert_eq!(check(&ok).unwrap().connections[0].children.len(), 2);
    }

    #[test]
    fn prefix_overlap() {
        let p = |s: &str| {
            let (a, l) = s.split_once('/').unwrap();
            Prefix {
                addr: a.parse().unwrap(),
                len: l.parse().unwrap(),
            }
        };
        assert!(prefixes_overlap(&p("10.0.0.0/8"), &p("10.9.0.0/16")));
        assert!(prefixes_overlap(&p("0.0.0.0/0"), &p("192.0.2.1/32")));
        assert!(!prefixes_overlap(&p("10.1.0.0/24"), &p("10.1.1.0/24")));
        assert!(!prefixes_overlap(&p("10.0.0.0/8"), &p("::/0")));
        assert!(prefixes_overlap(&p("fd00::/8"), &p("fd00:1::/32")));
    }
}
