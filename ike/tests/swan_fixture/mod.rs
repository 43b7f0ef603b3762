// SPDX-License-Identifier: GPL-2.0
//! Reads the `name = value` fixtures under fixtures/strongswan/: hex values, except the keys
//! a test names as text.

use std::collections::HashMap;

/// Each `name = value` line (comments and blank lines skipped); `text` keys stay text.
pub fn values(text: &str, text_keys: &[&str]) -> HashMap<String, Vec<u8>> {
    let mut values = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (k, v) = line.split_once(" = ").expect("name = value");
        let bytes = if text_keys.contains(&k) {
            v.as_bytes().to_vec()
        } else {
            (0..v.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&v[i..i + 2], 16).expect("hex"))
                .collect()
        };
        values.insert(k.to_string(), bytes);
    }
    values
}
