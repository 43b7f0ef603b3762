// SPDX-License-Identifier: GPL-2.0
//! PEM text: its blocks, decoded to DER.

use zeroize::Zeroizing;

pub(crate) fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// A PEM block's label and DER (zeroized when dropped: it may be a private key).
pub(crate) type PemBlock = (String, Zeroizing<Vec<u8>>);

/// The blocks of PEM text.
pub(crate) fn pem_blocks(bytes: &[u8]) -> Result<Vec<PemBlock>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "PEM data is not text".to_string())?;
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = rest.get(start..).unwrap_or_default();
        let label_end = block.get(11..).and_then(|s| s.find("-----")).unwrap_or(0);
        let label = block
            .get(11..11 + label_end)
            .unwrap_or_default()
            .to_string();
        let end_marker = format!("-----END {label}-----");
        let Some(end) = block.find(&end_marker) else {
            return Err(format!("PEM block \"{label}\" has no END line"));
        };
        let whole = block.get(..end + end_marker.len()).unwrap_or_default();
        rest = block.get(end + end_marker.len()..).unwrap_or_default();
        if whole.contains("Proc-Type:") {
            return Err(format!(
                "PEM block \"{label}\" is encrypted; store the key unencrypted"
            ));
        }
        let (_, der) = der::pem::decode_vec(whole.as_bytes())
            .map_err(|e| format!("invalid PEM block \"{label}\": {e}"))?;
        blocks.push((label, Zeroizing::new(der)));
    }
    Ok(blocks)
}
