//! The fuzzing oracles for ikeuser's text parsers, shared by `ike/fuzz/fuzz_targets/` and
//! `tests/fuzz_smoke.rs`: the configuration file, proposal strings and traffic selectors.
//! Each panics only when its property fails (or the parser itself panics).

use std::path::Path;

use crate::config::{ah_proposal, esp_proposal, ike_proposal, parse_with, prefix};

/// Where the fuzzed configuration claims to live; every error must name it.
const CONFIG_PATH: &str = "fuzz.toml";

/// Parses `data` as a configuration file, with a file system where every named file (psk_file,
/// cert, key, ca) is missing. Rejected text must get at least one error, each naming the file
/// and line.
#[allow(clippy::panic)]
pub fn fuzz_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let no_files = |_: &Path| Err(std::io::Error::from(std::io::ErrorKind::NotFound));
    if let Err(errors) = parse_with(Path::new(CONFIG_PATH), text, &no_files) {
        assert!(!errors.0.is_empty(), "rejected without a reason");
        for e in &errors.0 {
            let line = e
                .strip_prefix(CONFIG_PATH)
                .and_then(|r| r.strip_prefix(':'));
            let numbered = line.is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
            assert!(numbered, "error without file and line: {e}");
        }
    }
}

/// Parses `data` as an IKE, ESP and AH proposal string. An error must quote the proposal; an
/// accepted one consists of the ASCII keywords (some of strongSwan's have an underscore, as
/// in `sha2_256`) and dashes only.
#[allow(clippy::panic)]
pub fn fuzz_proposal(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let quoted = format!("\"{s}\"");
    let outcomes = [
        ike_proposal(s).map(|_| ()),
        esp_proposal(s).map(|_| ()),
        ah_proposal(s).map(|_| ()),
    ];
    for outcome in outcomes {
        match outcome {
            Ok(()) => assert!(
                s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "accepted a proposal with other characters: {s:?}"
            ),
            Err(e) => assert!(e.contains(&quoted), "error does not quote {quoted}: {e}"),
        }
    }
}

/// Parses `data` as a traffic selector prefix; an accepted one must print as text that parses
/// back to the same prefix.
#[allow(clippy::panic, clippy::expect_used)]
pub fn fuzz_selector(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match prefix(s) {
        Ok(p) => {
            let again = prefix(&p.to_string()).expect("a printed prefix must parse");
            assert_eq!(p, again, "prefix changed in a round trip through {p}");
        }
        Err(e) => assert!(
            e.contains(&format!("\"{s}\"")),
            "error does not quote {s:?}: {e}"
        ),
    }
}
