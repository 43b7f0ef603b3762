//! Renders the C header for the shim from [`crate::uapi`] (host only, uses `std`).
use crate::uapi::{self, AttrType};
use std::{format, string::String};

fn c_ident(s: &str) -> String {
    s.replace('-', "_").to_uppercase()
}

/// The whole header text.
pub fn c_header() -> String {
    let mut h = String::from(
        "/* SPDX-License-Identifier: GPL-2.0 */\n\
         /* Generated from rust/proto/src/uapi.rs by `make uapi`. Do not edit. */\n\
         #ifndef RIPSEC_UAPI_H\n#define RIPSEC_UAPI_H\n\n",
    );
    h += &format!("#define RIPSEC_FAMILY_NAME \"{}\"\n", uapi::FAMILY_NAME);
    h += &format!("#define RIPSEC_FAMILY_VERSION {}\n", uapi::FAMILY_VERSION);
    h += &format!("#define RIPSEC_VERSION \"{}\"\n\n", uapi::MODULE_VERSION);
    h += "enum ripsec_cmd {\n\tRIPSEC_CMD_UNSPEC,\n";
    for c in uapi::CMDS {
        h += &format!("\tRIPSEC_CMD_{} = {},\n", c_ident(c.name), c.id);
    }
    h += "};\n\n";
    for set in uapi::ATTR_SETS {
        let p = if set.name == uapi::top_set().name {
            String::from("RIPSEC_A")
        } else {
            format!("RIPSEC_A_{}", c_ident(set.name))
        };
        h += &format!("enum {{\n\t{p}_UNSPEC,\n");
        for d in set.attrs {
            h += &format!("\t{p}_{} = {},\n", c_ident(d.name), d.id);
        }
        h += &format!("\t{p}_MAX = {}\n}};\n\n", set.attrs.len());
    }
    // One strict policy per command: attributes it does not take are rejected.
    for c in uapi::CMDS.iter().filter(|c| !c.event) {
        h += &format!(
            "static const struct nla_policy ripsec_{}_policy[RIPSEC_A_MAX + 1] = {{\n",
            c.name.replace('-', "_")
        );
        for d in uapi::top_set().attrs {
            let takes = c.request.contains(&d.name) && d.ty != AttrType::Nest;
            let ty = if takes { d.ty.nla_name() } else { "NLA_REJECT" };
            let len = if takes && d.max_len > 0 {
                format!(", .len = {}", d.max_len)
            } else {
                String::new()
            };
            h += &format!(
                "\t[RIPSEC_A_{}] = {{ .type = {ty}{len} }},\n",
                c_ident(d.name)
            );
        }
        h += "};\n\n";
    }
    h += "/* One entry per request command; Rust dispatches on the command. */\n";
    h += "#define RIPSEC_OPS_INIT { \\\n";
    for c in uapi::CMDS.iter().filter(|c| !c.event) {
        let dump = if c.dump { "ripsec_rs_dumpit" } else { "NULL" };
        h += &format!(
            "\t{{ .cmd = RIPSEC_CMD_{}, .doit = ripsec_rs_doit, .dumpit = {dump}, \\\n\t  \
             .policy = ripsec_{}_policy, .maxattr = RIPSEC_A_MAX, \\\n\t  \
             .flags = GENL_UNS_ADMIN_PERM }}, \\\n",
            c_ident(c.name),
            c.name.replace('-', "_")
        );
    }
    h += "}\n\n";
    // Events name SPIs, addresses and selectors: joining needs CAP_NET_ADMIN in the user
    // namespace owning the netns, as the commands do (`uns-admin-perm` in the spec).
    h += "#define RIPSEC_MCGRPS_INIT { \\\n";
    for g in uapi::MCGRPS {
        h += &format!("\t{{ .name = \"{g}\", .flags = GENL_MCAST_CAP_NET_ADMIN }}, \\\n");
    }
    h += "}\n\n#endif /* RIPSEC_UAPI_H */\n";
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn checked_in_header_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../uapi.h");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == super::c_header(),
            "rust/uapi.h is stale: run `make uapi` after changing rust/proto/src/uapi.rs"
        );
    }
}
