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
    /// Highest attribute number.
    pub const MAX: u16 = 6;
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
}

const fn a(id: u16, name: &'static str, ty: AttrType) -> AttrDef {
    AttrDef {
        id,
        name,
        ty,
        nested: None,
    }
}

/// All attribute sets; the first is the top-level one the request policy covers.
pub const ATTR_SETS: &[AttrSet] = &[
    AttrSet {
        name: "ripsec",
        attrs: &[
            a(attr::VERSION, "version", AttrType::String),
            a(attr::FAMILY_VERSION, "family-version", AttrType::U8),
            AttrDef {
                id: attr::ALG,
                name: "alg",
                ty: AttrType::Nest,
                nested: Some("alg"),
            },
            a(attr::NETNS_COOKIE, "netns-cookie", AttrType::U64),
            a(attr::NETNS_REQUESTS, "netns-requests", AttrType::U64),
            a(attr::PAD, "pad", AttrType::Pad),
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
];

/// All commands. Every command is admin-only (CAP_NET_ADMIN in the netns's user namespace).
pub const CMDS: &[CmdDef] = &[CmdDef {
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
}];

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_numbers_are_dense_and_ordered() {
        for set in ATTR_SETS {
            for (i, d) in set.attrs.iter().enumerate() {
                assert_eq!(usize::from(d.id), i + 1, "set {} attr {}", set.name, d.name);
            }
        }
        assert_eq!(usize::from(attr::MAX), top_set().attrs.len());
        assert_eq!(usize::from(alg_attr::MAX), ATTR_SETS[1].attrs.len());
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
