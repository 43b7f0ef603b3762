// SPDX-License-Identifier: GPL-2.0
//! The `ripsec` generic netlink UAPI: the single source of truth for the family name, version,
//! commands, attributes and multicast groups. `ripsec.yaml` (the YNL spec) and `rust/uapi.h`
//! (the C shim's view) are checked against these tables by `cargo test`.

/// Generic netlink family name.
pub const FAMILY_NAME: &str = "ripsec";
/// Family version, bumped on incompatible changes.
pub const FAMILY_VERSION: u8 = 1;
/// The module version reported by GET_INFO.
pub const MODULE_VERSION: &str = "0.1.0";

/// Commands (`genlmsghdr.cmd`).
pub mod cmd {
    /// Reports the module version, the supported algorithms and this netns's state.
    pub const GET_INFO: u8 = 1;
    /// Adds an SA.
    pub const SA_ADD: u8 = 2;
    /// Replaces an SA's lifetimes (keys and addresses are immutable).
    pub const SA_UPDATE: u8 = 3;
    /// Deletes an SA.
    pub const SA_DEL: u8 = 4;
    /// Gets one SA, or dumps all.
    pub const SA_GET: u8 = 5;
    /// Deletes all SAs (of one protocol if sa-proto is given).
    pub const SA_FLUSH: u8 = 6;
    /// Adds a policy.
    pub const SP_ADD: u8 = 7;
    /// Deletes a policy by id.
    pub const SP_DEL: u8 = 8;
    /// Gets one policy by id, or dumps all.
    pub const SP_GET: u8 = 9;
    /// Deletes all policies.
    pub const SP_FLUSH: u8 = 10;
    /// Reserves a unique random SPI in a range.
    pub const GETSPI: u8 = 11;
    /// Global counters of this netns.
    pub const GET_STATS: u8 = 12;
    /// Event: an SA reached a soft or hard limit.
    pub const EXPIRE: u8 = 13;
    /// Event: outbound traffic matched a protect policy that has no SA.
    pub const ACQUIRE: u8 = 14;
    /// Takes the requester's UDP socket `encap-fd` for ESP in UDP (RFC 3948).
    pub const ENCAP_ATTACH: u8 = 15;
    /// Event: authenticated ESP in UDP arrived from a new address or port (NAT rebinding).
    pub const MAPPING: u8 = 16;
    /// Moves the SAs and tunnel templates of `sa-reqid` from the peer's address `migrate-old`
    /// to `migrate-new` (a NATed peer's new address), keeping keys, sequence numbers and
    /// replay windows.
    pub const MIGRATE: u8 = 17;
}

/// Attributes of the top-level `ripsec` attribute set.
pub mod attr {
    /// Module version string (reply).
    pub const VERSION: u16 = 1;
    /// Family version (reply).
    pub const FAMILY_VERSION: u16 = 2;
    /// Nest of [`super::alg_attr`] entries, one per supported algorithm (reply).
    pub const ALG: u16 = 3;
    /// Cookie of the network namespace that served the request (reply).
    pub const NETNS_COOKIE: u16 = 4;
    /// Requests this netns's ripsec state has served (reply).
    pub const NETNS_REQUESTS: u16 = 5;
    /// Padding for 64-bit attributes.
    pub const PAD: u16 = 6;
    /// SA: Security Parameter Index (host order).
    pub const SA_SPI: u16 = 7;
    /// SA: IP protocol, [`super::PROTO_ESP`] or [`super::PROTO_AH`].
    pub const SA_PROTO: u16 = 8;
    /// SA: [`super::MODE_TRANSPORT`] or [`super::MODE_TUNNEL`].
    pub const SA_MODE: u16 = 9;
    /// SA: address family of the outer addresses (2 = IPv4, 10 = IPv6).
    pub const SA_FAMILY: u16 = 10;
    /// SA: outer source address (4 or 16 bytes).
    pub const SA_SRC: u16 = 11;
    /// SA: outer destination address (4 or 16 bytes).
    pub const SA_DST: u16 = 12;
    /// SA: algorithm name from the algorithm table.
    pub const SA_ALG: u16 = 13;
    /// SA: key material (cipher key, salt, HMAC key as the algorithm needs).
    pub const SA_KEY: u16 = 14;
    /// SA: request id linking it to policy templates.
    pub const SA_REQID: u16 = 15;
    /// SA: anti-replay window in packets (0-4096).
    pub const SA_REPLAY_WINDOW: u16 = 16;
    /// SA: 64-bit extended sequence numbers.
    pub const SA_ESN: u16 = 17;
    /// SA lifetime: soft byte limit (0 = none).
    pub const SA_SOFT_BYTES: u16 = 18;
    /// SA lifetime: soft packet limit.
    pub const SA_SOFT_PACKETS: u16 = 19;
    /// SA lifetime: soft limit in seconds since add.
    pub const SA_SOFT_ADD_SECS: u16 = 20;
    /// SA lifetime: soft limit in seconds since first use.
    pub const SA_SOFT_USE_SECS: u16 = 21;
    /// SA lifetime: hard byte limit.
    pub const SA_HARD_BYTES: u16 = 22;
    /// SA lifetime: hard packet limit.
    pub const SA_HARD_PACKETS: u16 = 23;
    /// SA lifetime: hard limit in seconds since add.
    pub const SA_HARD_ADD_SECS: u16 = 24;
    /// SA lifetime: hard limit in seconds since first use.
    pub const SA_HARD_USE_SECS: u16 = 25;
    /// Counters (reply): per SA, or global for GET_STATS.
    pub const STATS: u16 = 26;
    /// Policy: direction, [`super::DIR_OUT`], [`super::DIR_IN`] or [`super::DIR_FWD`].
    pub const SP_DIR: u16 = 27;
    /// Policy: priority, lower values win.
    pub const SP_PRIORITY: u16 = 28;
    /// Policy: [`super::ACTION_PROTECT`], [`super::ACTION_BYPASS`] or [`super::ACTION_DISCARD`].
    pub const SP_ACTION: u16 = 29;
    /// Policy: id assigned by the module.
    pub const SP_ID: u16 = 30;
    /// Selector: address family.
    pub const SEL_FAMILY: u16 = 31;
    /// Selector: source prefix address.
    pub const SEL_SRC: u16 = 32;
    /// Selector: source prefix length.
    pub const SEL_SRC_LEN: u16 = 33;
    /// Selector: destination prefix address.
    pub const SEL_DST: u16 = 34;
    /// Selector: destination prefix length.
    pub const SEL_DST_LEN: u16 = 35;
    /// Selector: IP protocol (0 = any).
    pub const SEL_PROTO: u16 = 36;
    /// Selector: lowest source port.
    pub const SEL_SPORT_LO: u16 = 37;
    /// Selector: highest source port.
    pub const SEL_SPORT_HI: u16 = 38;
    /// Selector: lowest destination port.
    pub const SEL_DPORT_LO: u16 = 39;
    /// Selector: highest destination port.
    pub const SEL_DPORT_HI: u16 = 40;
    /// Template: IPsec protocol the policy requires.
    pub const TMPL_PROTO: u16 = 41;
    /// Template: mode.
    pub const TMPL_MODE: u16 = 42;
    /// Template: reqid of the SA to use (0 = any).
    pub const TMPL_REQID: u16 = 43;
    /// Template: tunnel endpoint family.
    pub const TMPL_FAMILY: u16 = 44;
    /// Template: tunnel source address.
    pub const TMPL_SRC: u16 = 45;
    /// Template: tunnel destination address.
    pub const TMPL_DST: u16 = 46;
    /// GETSPI: lowest acceptable SPI.
    pub const SPI_MIN: u16 = 47;
    /// GETSPI: highest acceptable SPI.
    pub const SPI_MAX: u16 = 48;
    /// EXPIRE event: the hard limit was reached (else soft).
    pub const EXPIRE_HARD: u16 = 49;
    /// SA (reply): seconds since boot when it was added.
    pub const SA_ADD_TIME: u16 = 50;
    /// SA (reply): last outbound sequence number.
    pub const SA_SEQ_OUT: u16 = 51;
    /// SA (reply): highest inbound sequence number accepted.
    pub const SA_REPLAY_TOP: u16 = 52;
    /// SA_GET: include key material in the reply.
    pub const SHOW_KEYS: u16 = 53;
    /// GET_STATS (reply): SAs in this netns.
    pub const SA_COUNT: u16 = 54;
    /// GET_STATS (reply): policies in this netns.
    pub const SP_COUNT: u16 = 55;
    /// SA (reply): the crypto driver implementing the algorithm.
    pub const SA_CRYPTO_DRIVER: u16 = 56;
    /// SA: encapsulation type; only [`super::ENCAP_ESPINUDP`] (ESP in UDP, RFC 3948).
    pub const SA_ENCAP_TYPE: u16 = 57;
    /// SA: UDP source port of the encapsulation (outbound: ours; inbound: the peer's).
    pub const SA_ENCAP_SPORT: u16 = 58;
    /// SA: UDP destination port of the encapsulation.
    pub const SA_ENCAP_DPORT: u16 = 59;
    /// ENCAP_ATTACH: the requester's file descriptor of a UDP socket.
    pub const ENCAP_FD: u16 = 60;
    /// MAPPING event: the address the SA's traffic now comes from.
    pub const MAPPING_SRC: u16 = 61;
    /// MAPPING event: the UDP port it now comes from.
    pub const MAPPING_SPORT: u16 = 62;
    /// ENCAP_ATTACH (reply): the socket's local port.
    pub const ENCAP_PORT: u16 = 63;
    /// MIGRATE: the peer's old address (4 or 16 bytes, of `sa-family`).
    pub const MIGRATE_OLD: u16 = 64;
    /// MIGRATE: the peer's new address.
    pub const MIGRATE_NEW: u16 = 65;
    /// SA: AH over IPv4 padded to 64 bits, as XFRM SAs without `XFRM_STATE_ALIGN4` expect
    /// (default: 32 bits, RFC 4302).
    pub const SA_AH_ALIGN8: u16 = 66;
    /// SA (reply): the path MTU towards the peer that ICMP errors taught the SA (0: none,
    /// the device's MTU holds).
    pub const SA_PMTU: u16 = 67;
    /// Highest attribute number.
    pub const MAX: u16 = 67;
}

/// Counters nested inside [`attr::STATS`].
pub mod stats_attr {
    /// Packets decapsulated.
    pub const PACKETS_IN: u16 = 1;
    /// Bytes decapsulated (inner).
    pub const BYTES_IN: u16 = 2;
    /// Packets encapsulated.
    pub const PACKETS_OUT: u16 = 3;
    /// Bytes encapsulated (inner).
    pub const BYTES_OUT: u16 = 4;
    /// Dropped: replayed or too old.
    pub const DROP_REPLAY: u16 = 5;
    /// Dropped: ICV (authentication) failure.
    pub const DROP_AUTH: u16 = 6;
    /// Dropped: bad padding or trailer.
    pub const DROP_TRAILER: u16 = 7;
    /// Dropped: no SA for the SPI, or no SA for a protect policy.
    pub const DROP_NO_SA: u16 = 8;
    /// Dropped: inner packet does not match an inbound policy for the SA.
    pub const DROP_POLICY: u16 = 9;
    /// Dropped: outbound sequence number space exhausted.
    pub const DROP_SEQ_OVERFLOW: u16 = 10;
    /// Dropped: SA hard-expired.
    pub const DROP_EXPIRED: u16 = 11;
    /// Dropped: truncated or malformed packet.
    pub const DROP_MALFORMED: u16 = 12;
    /// Dropped: a discard policy matched.
    pub const DROP_DISCARD: u16 = 13;
    /// Dropped: too big after encapsulation (ICMP sent).
    pub const DROP_MTU: u16 = 14;
    /// Dropped: out of memory.
    pub const DROP_NOMEM: u16 = 15;
    /// Dropped: no route for the outer packet, or the stack refused to send it.
    pub const DROP_NO_ROUTE: u16 = 16;
    /// Padding for 64-bit attributes.
    pub const PAD: u16 = 17;
    /// Dropped: a fragment that was not reassembled and that a protect or discard policy may
    /// cover (RFC 4301 §7: its ports, or its protocol, are in another fragment).
    pub const DROP_FRAGMENT: u16 = 18;
    /// Dropped: authenticated ESP nested deeper than the kernel's secpath holds.
    pub const DROP_NESTING: u16 = 19;
    /// Dropped: the crypto API failed (not an authentication failure).
    pub const DROP_CRYPTO: u16 = 20;
    /// Dropped: ESP for an SA with UDP encapsulation arrived without it, or the reverse.
    pub const DROP_ENCAP: u16 = 21;
    /// NAT keepalives received (and dropped) on encapsulation sockets.
    pub const KEEPALIVES_IN: u16 = 22;
    /// Highest attribute number.
    pub const MAX: u16 = 22;
}

/// Why the data path dropped a packet: each is counted under its `drop-*` counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Replayed or too old.
    Replay,
    /// ICV (authentication) failure.
    Auth,
    /// Bad padding or trailer.
    Trailer,
    /// No SA for the SPI, or no SA for a protect policy.
    NoSa,
    /// Plaintext for a protect policy, or decrypted traffic its SA's policy does not allow.
    Policy,
    /// Outbound sequence numbers exhausted.
    SeqOverflow,
    /// The SA hard-expired.
    Expired,
    /// Truncated or malformed packet, or header chain.
    Malformed,
    /// A discard policy matched.
    Discard,
    /// Too big after encapsulation (ICMP sent).
    Mtu,
    /// Out of memory.
    NoMem,
    /// No route for the outer packet, or the stack refused to send it.
    NoRoute,
    /// An unreassembled fragment a protect or discard policy may cover.
    Fragment,
    /// ESP nested deeper than the kernel's secpath holds.
    Nesting,
    /// The crypto API failed.
    Crypto,
    /// ESP arrived with the wrong (or without) UDP encapsulation for its SA.
    Encap,
}

impl DropReason {
    /// The `stats` attribute that counts it.
    pub const fn attr(self) -> u16 {
        use stats_attr as s;
        match self {
            DropReason::Replay => s::DROP_REPLAY,
            DropReason::Auth => s::DROP_AUTH,
            DropReason::Trailer => s::DROP_TRAILER,
            DropReason::NoSa => s::DROP_NO_SA,
            DropReason::Policy => s::DROP_POLICY,
            DropReason::SeqOverflow => s::DROP_SEQ_OVERFLOW,
            DropReason::Expired => s::DROP_EXPIRED,
            DropReason::Malformed => s::DROP_MALFORMED,
            DropReason::Discard => s::DROP_DISCARD,
            DropReason::Mtu => s::DROP_MTU,
            DropReason::NoMem => s::DROP_NOMEM,
            DropReason::NoRoute => s::DROP_NO_ROUTE,
            DropReason::Fragment => s::DROP_FRAGMENT,
            DropReason::Nesting => s::DROP_NESTING,
            DropReason::Crypto => s::DROP_CRYPTO,
            DropReason::Encap => s::DROP_ENCAP,
        }
    }
}

/// Attributes nested inside [`attr::ALG`].
pub mod alg_attr {
    /// Short name, as used by `ikeuser` (e.g. `aes-gcm-16`).
    pub const NAME: u16 = 1;
    /// Protocol: [`super::PROTO_ESP`] or [`super::PROTO_AH`].
    pub const PROTO: u16 = 2;
    /// The kernel crypto API template the module instantiates.
    pub const KERNEL_NAME: u16 = 3;
    /// Encryption key length in bits (0 for integrity-only).
    pub const ENC_KEY_BITS: u16 = 4;
    /// Integrity check value length in bytes.
    pub const ICV_LEN: u16 = 5;
    /// Flag: the running kernel's crypto API provides the template.
    pub const AVAILABLE: u16 = 6;
    /// Highest attribute number.
    pub const MAX: u16 = 6;
}

/// IP protocol number of ESP.
pub const PROTO_ESP: u8 = 50;
/// IP protocol number of AH.
pub const PROTO_AH: u8 = 51;

/// SA and template mode: transport.
pub const MODE_TRANSPORT: u8 = 0;
/// SA and template mode: tunnel.
pub const MODE_TUNNEL: u8 = 1;

/// Policy direction: outbound (locally generated and forwarded traffic leaving).
pub const DIR_OUT: u8 = 0;
/// Policy direction: inbound, for this host.
pub const DIR_IN: u8 = 1;
/// Policy direction: inbound, forwarded.
pub const DIR_FWD: u8 = 2;

/// Policy action: protect with IPsec per the template.
pub const ACTION_PROTECT: u8 = 0;
/// Policy action: let the packet pass unprotected.
pub const ACTION_BYPASS: u8 = 1;
/// Policy action: drop the packet.
pub const ACTION_DISCARD: u8 = 2;

/// SA encapsulation: ESP in UDP (RFC 3948), as the kernel's `UDP_ENCAP_ESPINUDP`.
pub const ENCAP_ESPINUDP: u8 = 2;

/// Largest key any algorithm takes, in bytes.
pub const MAX_KEY_LEN: usize = 96;

/// Multicast groups.
pub mod mcgrp {
    /// SA and policy events (expire, acquire).
    pub const EVENTS: &str = "events";
}

/// Netlink attribute types, as the kernel's `NLA_*` policy types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrType {
    /// `NLA_U8`
    U8,
    /// `NLA_U16`
    U16,
    /// `NLA_U32`
    U32,
    /// `NLA_U64`
    U64,
    /// `NLA_NUL_STRING`
    String,
    /// `NLA_BINARY`
    Binary,
    /// `NLA_FLAG`
    Flag,
    /// `NLA_NESTED`
    Nest,
    /// Alignment padding for 64-bit values (never in requests).
    Pad,
}

impl AttrType {
    /// The YNL spec's name for this type.
    pub const fn ynl_name(self) -> &'static str {
        match self {
            AttrType::U8 => "u8",
            AttrType::U16 => "u16",
            AttrType::U32 => "u32",
            AttrType::U64 => "u64",
            AttrType::String => "string",
            AttrType::Binary => "binary",
            AttrType::Flag => "flag",
            AttrType::Nest => "nest",
            AttrType::Pad => "pad",
        }
    }

    /// The kernel's `NLA_*` policy type name.
    pub const fn nla_name(self) -> &'static str {
        match self {
            AttrType::U8 => "NLA_U8",
            AttrType::U16 => "NLA_U16",
            AttrType::U32 => "NLA_U32",
            AttrType::U64 => "NLA_U64",
            AttrType::String => "NLA_NUL_STRING",
            AttrType::Binary => "NLA_BINARY",
            AttrType::Flag => "NLA_FLAG",
            AttrType::Nest => "NLA_NESTED",
            AttrType::Pad => "NLA_REJECT",
        }
    }
}

/// One attribute of an attribute set.
#[derive(Clone, Copy, Debug)]
pub struct AttrDef {
    /// Attribute number.
    pub id: u16,
    /// YNL name (kebab-case).
    pub name: &'static str,
    /// Type.
    pub ty: AttrType,
    /// For nests: the nested attribute set's name.
    pub nested: Option<&'static str>,
    /// For binaries: the largest accepted length.
    pub max_len: u16,
}

/// An attribute set.
#[derive(Clone, Copy, Debug)]
pub struct AttrSet {
    /// YNL name.
    pub name: &'static str,
    /// Attributes in number order.
    pub attrs: &'static [AttrDef],
}

/// One command.
#[derive(Clone, Copy, Debug)]
pub struct CmdDef {
    /// Command number.
    pub id: u8,
    /// YNL name.
    pub name: &'static str,
    /// Attributes the request may carry (names in the top-level set).
    pub request: &'static [&'static str],
    /// Attributes the reply carries.
    pub reply: &'static [&'static str],
    /// Whether it also supports dump requests.
    pub dump: bool,
    /// Whether it is an event sent by the module (not a request).
    pub event: bool,
}

const fn a(id: u16, name: &'static str, ty: AttrType) -> AttrDef {
    AttrDef {
        id,
        name,
        ty,
        nested: None,
        max_len: 0,
    }
}

const fn bin(id: u16, name: &'static str, max_len: u16) -> AttrDef {
    AttrDef {
        id,
        name,
        ty: AttrType::Binary,
        nested: None,
        max_len,
    }
}

const fn nest(id: u16, name: &'static str, set: &'static str) -> AttrDef {
    AttrDef {
        id,
        name,
        ty: AttrType::Nest,
        nested: Some(set),
        max_len: 0,
    }
}

/// All attribute sets; the first is the top-level one the request policy covers.
pub const ATTR_SETS: &[AttrSet] = &[
    AttrSet {
        name: "ripsec",
        attrs: &[
            a(attr::VERSION, "version", AttrType::String),
            a(attr::FAMILY_VERSION, "family-version", AttrType::U8),
            nest(attr::ALG, "alg", "alg"),
            a(attr::NETNS_COOKIE, "netns-cookie", AttrType::U64),
            a(attr::NETNS_REQUESTS, "netns-requests", AttrType::U64),
            a(attr::PAD, "pad", AttrType::Pad),
            a(attr::SA_SPI, "sa-spi", AttrType::U32),
            a(attr::SA_PROTO, "sa-proto", AttrType::U8),
            a(attr::SA_MODE, "sa-mode", AttrType::U8),
            a(attr::SA_FAMILY, "sa-family", AttrType::U8),
            bin(attr::SA_SRC, "sa-src", 16),
            bin(attr::SA_DST, "sa-dst", 16),
            a(attr::SA_ALG, "sa-alg", AttrType::String),
            bin(attr::SA_KEY, "sa-key", MAX_KEY_LEN as u16),
            a(attr::SA_REQID, "sa-reqid", AttrType::U32),
            a(attr::SA_REPLAY_WINDOW, "sa-replay-window", AttrType::U32),
            a(attr::SA_ESN, "sa-esn", AttrType::Flag),
            a(attr::SA_SOFT_BYTES, "sa-soft-bytes", AttrType::U64),
            a(attr::SA_SOFT_PACKETS, "sa-soft-packets", AttrType::U64),
            a(attr::SA_SOFT_ADD_SECS, "sa-soft-add-secs", AttrType::U64),
            a(attr::SA_SOFT_USE_SECS, "sa-soft-use-secs", AttrType::U64),
            a(attr::SA_HARD_BYTES, "sa-hard-bytes", AttrType::U64),
            a(attr::SA_HARD_PACKETS, "sa-hard-packets", AttrType::U64),
            a(attr::SA_HARD_ADD_SECS, "sa-hard-add-secs", AttrType::U64),
            a(attr::SA_HARD_USE_SECS, "sa-hard-use-secs", AttrType::U64),
            nest(attr::STATS, "stats", "stats"),
            a(attr::SP_DIR, "sp-dir", AttrType::U8),
            a(attr::SP_PRIORITY, "sp-priority", AttrType::U32),
            a(attr::SP_ACTION, "sp-action", AttrType::U8),
            a(attr::SP_ID, "sp-id", AttrType::U32),
            a(attr::SEL_FAMILY, "sel-family", AttrType::U8),
            bin(attr::SEL_SRC, "sel-src", 16),
            a(attr::SEL_SRC_LEN, "sel-src-len", AttrType::U8),
            bin(attr::SEL_DST, "sel-dst", 16),
            a(attr::SEL_DST_LEN, "sel-dst-len", AttrType::U8),
            a(attr::SEL_PROTO, "sel-proto", AttrType::U8),
            a(attr::SEL_SPORT_LO, "sel-sport-lo", AttrType::U16),
            a(attr::SEL_SPORT_HI, "sel-sport-hi", AttrType::U16),
            a(attr::SEL_DPORT_LO, "sel-dport-lo", AttrType::U16),
            a(attr::SEL_DPORT_HI, "sel-dport-hi", AttrType::U16),
            a(attr::TMPL_PROTO, "tmpl-proto", AttrType::U8),
            a(attr::TMPL_MODE, "tmpl-mode", AttrType::U8),
            a(attr::TMPL_REQID, "tmpl-reqid", AttrType::U32),
            a(attr::TMPL_FAMILY, "tmpl-family", AttrType::U8),
            bin(attr::TMPL_SRC, "tmpl-src", 16),
            bin(attr::TMPL_DST, "tmpl-dst", 16),
            a(attr::SPI_MIN, "spi-min", AttrType::U32),
            a(attr::SPI_MAX, "spi-max", AttrType::U32),
            a(attr::EXPIRE_HARD, "expire-hard", AttrType::Flag),
            a(attr::SA_ADD_TIME, "sa-add-time", AttrType::U64),
            a(attr::SA_SEQ_OUT, "sa-seq-out", AttrType::U64),
            a(attr::SA_REPLAY_TOP, "sa-replay-top", AttrType::U64),
            a(attr::SHOW_KEYS, "show-keys", AttrType::Flag),
            a(attr::SA_COUNT, "sa-count", AttrType::U32),
            a(attr::SP_COUNT, "sp-count", AttrType::U32),
            a(attr::SA_CRYPTO_DRIVER, "sa-crypto-driver", AttrType::String),
            a(attr::SA_ENCAP_TYPE, "sa-encap-type", AttrType::U8),
            a(attr::SA_ENCAP_SPORT, "sa-encap-sport", AttrType::U16),
            a(attr::SA_ENCAP_DPORT, "sa-encap-dport", AttrType::U16),
            a(attr::ENCAP_FD, "encap-fd", AttrType::U32),
            bin(attr::MAPPING_SRC, "mapping-src", 16),
            a(attr::MAPPING_SPORT, "mapping-sport", AttrType::U16),
            a(attr::ENCAP_PORT, "encap-port", AttrType::U16),
            bin(attr::MIGRATE_OLD, "migrate-old", 16),
            bin(attr::MIGRATE_NEW, "migrate-new", 16),
            a(attr::SA_AH_ALIGN8, "sa-ah-align8", AttrType::Flag),
            a(attr::SA_PMTU, "sa-pmtu", AttrType::U32),
        ],
    },
    AttrSet {
        name: "alg",
        attrs: &[
            a(alg_attr::NAME, "name", AttrType::String),
            a(alg_attr::PROTO, "proto", AttrType::U8),
            a(alg_attr::KERNEL_NAME, "kernel-name", AttrType::String),
            a(alg_attr::ENC_KEY_BITS, "enc-key-bits", AttrType::U16),
            a(alg_attr::ICV_LEN, "icv-len", AttrType::U8),
            a(alg_attr::AVAILABLE, "available", AttrType::Flag),
        ],
    },
    AttrSet {
        name: "stats",
        attrs: &[
            a(stats_attr::PACKETS_IN, "packets-in", AttrType::U64),
            a(stats_attr::BYTES_IN, "bytes-in", AttrType::U64),
            a(stats_attr::PACKETS_OUT, "packets-out", AttrType::U64),
            a(stats_attr::BYTES_OUT, "bytes-out", AttrType::U64),
            a(stats_attr::DROP_REPLAY, "drop-replay", AttrType::U64),
            a(stats_attr::DROP_AUTH, "drop-auth", AttrType::U64),
            a(stats_attr::DROP_TRAILER, "drop-trailer", AttrType::U64),
            a(stats_attr::DROP_NO_SA, "drop-no-sa", AttrType::U64),
            a(stats_attr::DROP_POLICY, "drop-policy", AttrType::U64),
            a(
                stats_attr::DROP_SEQ_OVERFLOW,
                "drop-seq-overflow",
                AttrType::U64,
            ),
            a(stats_attr::DROP_EXPIRED, "drop-expired", AttrType::U64),
            a(stats_attr::DROP_MALFORMED, "drop-malformed", AttrType::U64),
            a(stats_attr::DROP_DISCARD, "drop-discard", AttrType::U64),
            a(stats_attr::DROP_MTU, "drop-mtu", AttrType::U64),
            a(stats_attr::DROP_NOMEM, "drop-nomem", AttrType::U64),
            a(stats_attr::DROP_NO_ROUTE, "drop-no-route", AttrType::U64),
            a(stats_attr::PAD, "pad", AttrType::Pad),
            a(stats_attr::DROP_FRAGMENT, "drop-fragment", AttrType::U64),
            a(stats_attr::DROP_NESTING, "drop-nesting", AttrType::U64),
            a(stats_attr::DROP_CRYPTO, "drop-crypto", AttrType::U64),
            a(stats_attr::DROP_ENCAP, "drop-encap", AttrType::U64),
            a(stats_attr::KEEPALIVES_IN, "keepalives-in", AttrType::U64),
        ],
    },
];

/// All commands. Every command is admin-only (CAP_NET_ADMIN in the netns's user namespace).
/// Events (EXPIRE, ACQUIRE) are only sent on the [`mcgrp::EVENTS`] group.
pub const CMDS: &[CmdDef] = &[
    CmdDef {
        id: cmd::GET_INFO,
        name: "get-info",
        request: &[],
        reply: &[
            "version",
            "family-version",
            "alg",
            "netns-cookie",
            "netns-requests",
        ],
        dump: false,
        event: false,
    },
    CmdDef {
        id: cmd::SA_ADD,
        name: "sa-add",
        request: &[
            "sa-spi",
            "sa-proto",
            "sa-family",
            "sa-dst",
            "sa-mode",
            "sa-src",
            "sa-alg",
            "sa-key",
            "sa-reqid",
            "sa-replay-window",
            "sa-esn",
            "sa-soft-bytes",
            "sa-soft-packets",
            "sa-soft-add-secs",
            "sa-soft-use-secs",
            "sa-hard-bytes",
            "sa-hard-packets",
            "sa-hard-add-secs",
            "sa-hard-use-secs",
            "sa-encap-type",
            "sa-encap-sport",
            "sa-encap-dport",
            "sa-ah-align8",
        ],
        reply: &[],
        dump: false,
        event: false,
    },
    CmdDef {
        id: cmd::SA_UPDATE,
        name: "sa-update",
        request: &[
            "sa-spi",
            "sa-proto",
            "sa-family",
            "sa-dst",
            "sa-soft-bytes",
            "sa-soft-packets",
            "sa-soft-add-secs",
            "sa-soft-use-secs",
            "sa-hard-bytes",
            "sa-hard-packets",
            "sa-hard-add-secs",
            "sa-hard-use-secs",
            "sa-encap-sport",
            "sa-encap-dport",
        ],
        reply: &[],
        dump: false,
        event: false,
    },
    CmdDef {
        id: cmd::SA_DEL,
        name: "sa-del",
        request: &["sa-spi", "sa-proto", "sa-family", "sa-dst"],
        reply: &[],
        dump: false,
        event: false,
    },
    CmdDef {
        id: cmd::SA_GET,
        name: "sa-get",
        request: &["sa-spi", "sa-proto", "sa-family", "sa-dst", "show-keys"],
        reply: &[
            "sa-spi",
            "sa-proto",
            "sa-family",
            "sa-dst",
            "sa-mode",
            "sa-src",
            "sa-alg",
            "sa-key",
            "sa-reqid",
            "sa-replay-window",
            "sa-esn",
            "sa-soft-bytes",
            "sa-soft-packets",
            "sa-soft-add-secs",
            "sa-soft-use-secs",
            "sa-hard-bytes",
            "sa-hard-packets",
            "sa-hard-add-secs",
            "sa-hard-use-secs",
            "stats",
            "sa-add-time",
            "sa-seq-out",
            "sa-replay-top",
            "sa-crypto-driver",
            "sa-encap-type",
            "sa-encap-sport",
            "sa-encap-dport",
            "sa-ah-align8",
            "sa-pmtu",
        ],
        dump: true,
        event: false,
    },
    CmdDef {
        id: cmd::SA_FLUSH,
        name: "sa-flush",
        request: &["sa-proto"],
        reply: &[],
        dump: false,
        event: false,
    },
    CmdDef {
        id: cmd::SP_ADD,
        name: "sp-add",
        request: &[
            "sp-dir",
            "sp-priority",
            "sp-action",
            "sel-family",
            "sel-src",
            "sel-src-len",
            "sel-dst",
            "sel-dst-len",
            "sel-proto",
            "sel-sport-lo",
            "sel-sport-hi",
            "sel-dport-lo",
            "sel-dport-hi",
            "tmpl-proto",
            "tmpl-mode",
            "tmpl-reqid",
            "tmpl-family",
            "tmpl-src",
            "tmpl-dst",
        ],
        reply: &["sp-id"],
        dump: false,
        event: false,
    },
    CmdDef {
        id: cmd::SP_DEL,
        name: "sp-del",
        request: &["sp-id"],
        reply: &[],
        dump: false,
        event: false,
    },
    CmdDef {
        id: cmd::SP_GET,
        name: "sp-get",
        request: &["sp-id"],
        reply: &[
            "sp-id",
            "sp-dir",
            "sp-priority",
            "sp-action",
            "sel-family",
            "sel-src",
            "sel-src-len",
            "sel-dst",
            "sel-dst-len",
            "sel-proto",
            "sel-sport-lo",
            "sel-sport-hi",
            "sel-dport-lo",
            "sel-dport-hi",
            "tmpl-proto",
            "tmpl-mode",
            "tmpl-reqid",
            "tmpl-family",
            "tmpl-src",
            "tmpl-dst",
        ],
        dump: true,
        event: false,
    },
    CmdDef {
        id: cmd::SP_FLUSH,
        name: "sp-flush",
        request: &[],
        reply: &[],
        dump: false,
        event: false,
    },
    CmdDef {
        id: cmd::GETSPI,
        name: "getspi",
        request: &["sa-proto", "sa-family", "sa-dst", "spi-min", "spi-max"],
        reply: &["sa-spi"],
        dump: false,
        event: false,
    },
    CmdDef {
        id: cmd::GET_STATS,
        name: "get-stats",
        request: &[],
        reply: &["sa-count", "sp-count", "stats"],
        dump: false,
        event: false,
    },
    CmdDef {
        id: cmd::EXPIRE,
        name: "expire",
        request: &[],
        reply: &[
            "sa-spi",
            "sa-proto",
            "sa-family",
            "sa-dst",
            "sa-reqid",
            "expire-hard",
        ],
        dump: false,
        event: true,
    },
    CmdDef {
        id: cmd::ACQUIRE,
        name: "acquire",
        request: &[],
        reply: &[
            "sp-id",
            "tmpl-proto",
            "tmpl-mode",
            "tmpl-reqid",
            "tmpl-family",
            "tmpl-src",
            "tmpl-dst",
            "sel-family",
            "sel-src",
            "sel-dst",
            "sel-proto",
            "sel-sport-lo",
            "sel-dport-lo",
        ],
        dump: false,
        event: true,
    },
    CmdDef {
        id: cmd::ENCAP_ATTACH,
        name: "encap-attach",
        request: &["encap-fd"],
        reply: &["encap-port"],
        dump: false,
        event: false,
    },
    CmdDef {
        id: cmd::MAPPING,
        name: "mapping",
        request: &[],
        reply: &[
            "sa-spi",
            "sa-proto",
            "sa-family",
            "sa-dst",
            "sa-reqid",
            "sa-src",
            "sa-encap-sport",
            "mapping-src",
            "mapping-sport",
        ],
        dump: false,
        event: true,
    },
    CmdDef {
        id: cmd::MIGRATE,
        name: "migrate",
        request: &[
            "sa-reqid",
            "sa-family",
            "migrate-old",
            "migrate-new",
            "sa-encap-dport",
        ],
        reply: &["sa-count", "sp-count"],
        dump: false,
        event: false,
    },
];

/// All multicast groups, in registration order.
pub const MCGRPS: &[&str] = &[mcgrp::EVENTS];

/// The top-level attribute set.
pub const fn top_set() -> &'static AttrSet {
    &ATTR_SETS[0]
}

/// Looks up an attribute of the top-level set by number.
pub fn attr_def(id: u16) -> Option<&'static AttrDef> {
    top_set().attrs.iter().find(|d| d.id == id)
}

/// What is wrong with a request's attribute stream as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFault {
    /// The attribute is given twice. The genl core validates the stream and keeps the last of
    /// repeated attributes silently; a request that names a value twice is ambiguous.
    Repeated(u16),
    /// The attribute carries `NLA_F_NET_BYTEORDER`: ripsec's attributes have one byte order
    /// each (the spec's), which the flag would contradict, and the core does not check it.
    NetByteOrder(u16),
}

/// `NLA_F_NET_BYTEORDER`; `NLA_F_NESTED` is the bit above it.
const NLA_F_NET_BYTEORDER: u16 = 0x4000;

/// The first fault of a request's attribute stream (what follows the genetlink header), if
/// any. Types above [`attr::MAX`] are the core's to judge; a malformed tail ends the walk.
pub fn stream_fault(stream: &[u8]) -> Option<StreamFault> {
    let mut seen = [false; attr::MAX as usize + 1];
    let mut rest = stream;
    while let (Some(len), Some(raw)) = (read_u16(rest, 0), read_u16(rest, 2)) {
        let len = usize::from(len);
        if len < 4 {
            return None;
        }
        let ty = raw & 0x3fff;
        if let Some(s) = seen.get_mut(usize::from(ty)).filter(|_| ty != 0) {
            if raw & NLA_F_NET_BYTEORDER != 0 {
                return Some(StreamFault::NetByteOrder(ty));
            }
            if *s {
                return Some(StreamFault::Repeated(ty));
            }
            *s = true;
        }
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or(&[]);
    }
    None
}

fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{vec, vec::Vec};

    fn nla(ty: u16, payload: &[u8]) -> Vec<u8> {
        let len = u16::try_from(4 + payload.len()).unwrap();
        let mut v = [len.to_ne_bytes(), ty.to_ne_bytes()].concat();
        v.extend_from_slice(payload);
        v.resize(v.len().next_multiple_of(4), 0);
        v
    }

    #[test]
    fn repeated_attributes_are_found() {
        let first_repeated = |s: &[u8]| match stream_fault(s) {
            Some(StreamFault::Repeated(ty)) => Some(ty),
            _ => None,
        };
        let spi = nla(attr::SA_SPI, &[1, 0, 0, 0]);
        let dst = nla(attr::SA_DST, &[10, 0, 0, 1]);
        let flag = nla(attr::SHOW_KEYS, &[]);
        let one_byte = nla(attr::SA_MODE, &[1]);
        assert_eq!(
            first_repeated(&[spi.clone(), dst.clone(), one_byte.clone()].concat()),
            None
        );
        assert_eq!(
            first_repeated(&[spi.clone(), dst.clone(), spi.clone()].concat()),
            Some(attr::SA_SPI)
        );
        // Padding is skipped, flags are counted, the nested bit is masked off.
        assert_eq!(
            first_repeated(&[one_byte.clone(), flag.clone(), flag.clone()].concat()),
            Some(attr::SHOW_KEYS)
        );
        let nested = nla(attr::SA_SPI | 0x8000, &[1, 0, 0, 0]);
        assert_eq!(
            first_repeated(&[spi.clone(), nested].concat()),
            Some(attr::SA_SPI)
        );
        // Unknown types, type 0 and a truncated tail are not this check's business.
        let unknown = nla(attr::MAX + 1, &[0; 4]);
        assert_eq!(first_repeated(&[unknown.clone(), unknown].concat()), None);
        let zero = nla(0, &[0; 4]);
        assert_eq!(first_repeated(&[zero.clone(), zero].concat()), None);
        assert_eq!(first_repeated(&[spi.clone(), vec![8, 0]].concat()), None);
        assert_eq!(
            first_repeated(&[spi.clone(), vec![2, 0, 1, 0], spi.clone()].concat()),
            None
        );
        assert_eq!(first_repeated(&[]), None);
    }

    #[test]
    fn net_byteorder_flag_is_refused_on_known_attributes() {
        let spi = nla(attr::SA_SPI, &[1, 0, 0, 0]);
        let flagged = nla(attr::SA_DST | 0x4000, &[10, 0, 0, 1]);
        assert_eq!(
            stream_fault(&[spi.clone(), flagged.clone()].concat()),
            Some(StreamFault::NetByteOrder(attr::SA_DST))
        );
        // Before a repeat that follows it, and with the nested bit as well.
        let both = nla(attr::SA_SPI | 0xc000, &[1, 0, 0, 0]);
        assert_eq!(
            stream_fault(&[both, spi.clone()].concat()),
            Some(StreamFault::NetByteOrder(attr::SA_SPI))
        );
        // Unknown types are the core's.
        let unknown = nla((attr::MAX + 1) | 0x4000, &[0; 4]);
        assert_eq!(stream_fault(&[spi, unknown].concat()), None);
    }

    #[test]
    fn attribute_numbers_are_dense_and_ordered() {
        for set in ATTR_SETS {
            for (i, d) in set.attrs.iter().enumerate() {
                assert_eq!(usize::from(d.id), i + 1, "set {} attr {}", set.name, d.name);
            }
        }
        assert_eq!(usize::from(attr::MAX), top_set().attrs.len());
        assert_eq!(usize::from(alg_attr::MAX), ATTR_SETS[1].attrs.len());
        assert_eq!(usize::from(stats_attr::MAX), ATTR_SETS[2].attrs.len());
    }

    #[test]
    fn command_attributes_exist() {
        for c in CMDS {
            for n in c.request.iter().chain(c.reply) {
                assert!(
                    top_set().attrs.iter().any(|d| d.name == *n),
                    "{}: {n}",
                    c.name
                );
            }
        }
    }

    #[test]
    fn nests_name_existing_sets() {
        for set in ATTR_SETS {
            for d in set.attrs {
                assert_eq!(d.ty == AttrType::Nest, d.nested.is_some(), "{}", d.name);
                if let Some(n) = d.nested {
                    assert!(ATTR_SETS.iter().any(|s| s.name == n));
                }
            }
        }
    }
}
