//! The YNL spec (`ripsec.yaml`) and the Rust UAPI tables must describe the same family.

use ripsec_proto::uapi;
use yaml_rust2::{Yaml, YamlLoader};

fn spec() -> Yaml {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ripsec.yaml");
    let text = std::fs::read_to_string(path).expect("read ripsec.yaml");
    YamlLoader::load_from_str(&text)
        .expect("ripsec.yaml is valid YAML")
        .remove(0)
}

fn list(y: &Yaml) -> &[Yaml] {
    y.as_vec().map(Vec::as_slice).unwrap_or(&[])
}

#[test]
fn family_name_and_version() {
    let s = spec();
    assert_eq!(s["name"].as_str(), Some(uapi::FAMILY_NAME));
    assert_eq!(s["version"].as_i64(), Some(i64::from(uapi::FAMILY_VERSION)));
}

#[test]
fn attribute_sets_match() {
    let s = spec();
    let sets = list(&s["attribute-sets"]);
    assert_eq!(
        sets.len(),
        uapi::ATTR_SETS.len(),
        "number of attribute sets"
    );
    for (ys, rs) in sets.iter().zip(uapi::ATTR_SETS) {
        assert_eq!(ys["name"].as_str(), Some(rs.name));
        let attrs = list(&ys["attributes"]);
        assert_eq!(attrs.len(), rs.attrs.len(), "attributes in set {}", rs.name);
        // YNL numbers attributes from 1 in listing order unless `value` says otherwise.
        let mut next = 1;
        for (ya, ra) in attrs.iter().zip(rs.attrs) {
            let id = ya["value"].as_i64().unwrap_or(next);
            next = id + 1;
            let what = format!("{}.{}", rs.name, ra.name);
            assert_eq!(ya["name"].as_str(), Some(ra.name), "{what}: name");
            assert_eq!(id, i64::from(ra.id), "{what}: number");
            assert_eq!(ya["type"].as_str(), Some(ra.ty.ynl_name()), "{what}: type");
            assert_eq!(ya["nested-attributes"].as_str(), ra.nested, "{what}: nest");
            let max_len = ya["checks"]["max-len"].as_i64().unwrap_or(0);
            assert_eq!(max_len, i64::from(ra.max_len), "{what}: max-len");
        }
    }
}

#[test]
fn operations_match() {
    let s = spec();
    let ops = list(&s["operations"]["list"]);
    assert_eq!(ops.len(), uapi::CMDS.len(), "number of operations");
    let mut next = 1;
    for (yo, rc) in ops.iter().zip(uapi::CMDS) {
        let id = yo["value"].as_i64().unwrap_or(next);
        next = id + 1;
        assert_eq!(yo["name"].as_str(), Some(rc.name));
        assert_eq!(id, i64::from(rc.id), "{}: number", rc.name);
        let names = |y: &Yaml| -> Vec<String> {
            list(&y["attributes"])
                .iter()
                .filter_map(|a| a.as_str().map(String::from))
                .collect()
        };
        if rc.event {
            assert_eq!(
                yo["mcgrp"].as_str(),
                Some(uapi::mcgrp::EVENTS),
                "{}: group",
                rc.name
            );
            assert_eq!(
                names(&yo["event"]),
                rc.reply,
                "{}: event attributes",
                rc.name
            );
            assert!(yo["do"].is_badvalue(), "{}: events have no do", rc.name);
            continue;
        }
        let flags: Vec<_> = list(&yo["flags"]).iter().filter_map(Yaml::as_str).collect();
        assert_eq!(
            flags,
            ["uns-admin-perm"],
            "{}: every command is admin-only",
            rc.name
        );
        assert_eq!(
            names(&yo["do"]["request"]),
            rc.request,
            "{}: request attributes",
            rc.name
        );
        assert_eq!(
            names(&yo["do"]["reply"]),
            rc.reply,
            "{}: reply attributes",
            rc.name
        );
        assert_eq!(!yo["dump"].is_badvalue(), rc.dump, "{}: dump", rc.name);
        if rc.dump {
            let dump_reply = names(&yo["dump"]["reply"]);
            assert_eq!(dump_reply, rc.reply, "{}: dump reply attributes", rc.name);
        }
    }
}

#[test]
fn multicast_groups_match() {
    let s = spec();
    let groups = list(&s["mcast-groups"]["list"]);
    let names: Vec<_> = groups.iter().filter_map(|g| g["name"].as_str()).collect();
    assert_eq!(names, uapi::MCGRPS);
    for g in groups {
        let flags: Vec<_> = list(&g["flags"]).iter().filter_map(Yaml::as_str).collect();
        // rust/uapi.h gives every group GENL_MCAST_CAP_NET_ADMIN: events are admin-only too.
        assert_eq!(
            flags,
            ["uns-admin-perm"],
            "{:?}: joining is admin-only",
            g["name"]
        );
    }
}
