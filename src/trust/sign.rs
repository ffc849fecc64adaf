//! Signing index entries (DESIGN §4).
//!
//! The signature is a minisign signature over the entry's canonical form
//! ([`canonical_form`]), stored in `sig` as the whole `.minisig` text
//! (untrusted comment, signature, trusted comment, global signature — four
//! lines, with a final newline) in one JSON string. The trusted comment is
//! `name@version`: `minisign -V` shows it, but verification does not rely
//! on it, because the canonical form already covers name and version.
//!
//! ```
//! use ggen_marketplace::format::canonical::canonical_form;
//! use ggen_marketplace::trust::keys::{GeneratedKey, Signature};
//! use ggen_marketplace::trust::sign::sign_entry_line;
//!
//! let key = GeneratedKey::unencrypted().unwrap().secret_key().unwrap();
//! let line = r#"{"name":"demo","vers":"1.0.0","deps":[],"cksum":"00","features":{},"yanked":false}"#;
//! let signed = sign_entry_line(line, &key).unwrap();
//! // The line is unchanged but for the added `sig`.
//! assert!(signed.starts_with(&line[..line.len() - 1]));
//! let sig: serde_json::Value = serde_json::from_str(&signed).unwrap();
//! let sig = Signature::parse(sig["sig"].as_str().unwrap()).unwrap();
//! assert_eq!(sig.trusted_comment(), "demo@1.0.0");
//! assert!(key.public().verifies(canonical_form(line).unwrap().as_bytes(), &sig));
//! ```

use serde_json::{Map, Value};

use super::keys::{KeyError, SecretKey};
use crate::format::IndexEntry;
use crate::format::canonical::{CanonicalError, canonical_form};
use crate::format::entry::EntryParseError;

/// Why an entry could not be signed.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum SignError {
    /// The line is not a valid index entry.
    #[error("cannot sign an invalid entry: {0}")]
    Entry(#[from] EntryParseError),
    /// The line has no canonical form.
    #[error("cannot sign: {0}")]
    Canonical(#[from] CanonicalError),
    /// The key failed to sign.
    #[error("cannot sign with key: {0}")]
    Key(#[from] KeyError),
}

/// The trusted comment put on entry signatures.
pub fn trusted_comment(entry: &IndexEntry) -> String {
    format!("{}@{}", entry.name, entry.vers)
}

/// Signs one index line and returns it with `sig` set. An unsigned line
/// keeps every byte and gains `,"sig":"…"` before its closing brace; a
/// signed line has its `sig` replaced in place (the line is rewritten
/// compactly, its field order kept).
pub fn sign_entry_line(line: &str, key: &SecretKey) -> Result<String, SignError> {
    let entry = IndexEntry::from_line(line)?;
    let message = canonical_form(line)?;
    let sig = key.sign(message.as_bytes(), &trusted_comment(&entry))?;
    let signed = with_sig(line, &sig)?;
    debug_assert_eq!(
        canonical_form(&signed).ok(),
        Some(message),
        "signing must not change what is signed"
    );
    Ok(signed)
}

/// `line` with its `sig` field set to `sig`.
fn with_sig(line: &str, sig: &str) -> Result<String, SignError> {
    let mut fields: Map<String, Value> = serde_json::from_str(line).map_err(CanonicalError::from)?;
    let sig_json = Value::String(sig.to_owned()).to_string();
    if !fields.contains_key("sig") {
        let body = line.trim_end();
        let trailing = &line[body.len()..];
        if let Some(open) = body.strip_suffix('}') {
            let separator = if open.trim_end().ends_with('{') { "" } else { "," };
            return Ok(format!("{open}{separator}\"sig\":{sig_json}}}{trailing}"));
        }
    }
    fields.insert("sig".to_owned(), Value::String(sig.to_owned()));
    Ok(Value::Object(fields).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::keys::Signature;
    use crate::trust::owners::tests::new_key;

    fn sig_of(line: &str) -> Signature {
        let value: Value = serde_json::from_str(line).unwrap();
        Signature::parse(value["sig"].as_str().unwrap()).unwrap()
    }

    #[test]
    fn adds_sig_without_touching_other_bytes() {
        let key = new_key();
        let line = r#"{ "name": "a", "vers": "1.0.0", "cksum": "00", "description": "caf\u00e9" }"#;
        let signed = sign_entry_line(line, &key).unwrap();
        assert!(
            signed.starts_with(r#"{ "name": "a", "vers": "1.0.0", "cksum": "00", "description": "caf\u00e9" ,"sig":""#)
        );
        assert!(signed.ends_with("\\n\"}"));
        let sig = sig_of(&signed);
        assert_eq!(sig.key_id(), key.id());
        assert!(key.public().verifies(canonical_form(line).unwrap().as_bytes(), &sig));
    }

    #[test]
    fn replaces_an_existing_signature_in_place() {
        let (old, new) = (new_key(), new_key());
        let line = r#"{"name":"a","vers":"1.0.0","cksum":"00","yanked":false}"#;
        let once = sign_entry_line(line, &old).unwrap();
        let twice = sign_entry_line(&once, &new).unwrap();
        assert_eq!(sig_of(&twice).key_id(), new.id());
        assert_eq!(twice.matches("\"sig\"").count(), 1);
        assert!(twice.starts_with(r#"{"name":"a","vers":"1.0.0","cksum":"00","yanked":false,"sig":"#));
    }

    #[test]
    fn refuses_lines_that_are_not_entries() {
        let key = new_key();
        assert!(matches!(sign_entry_line("[]", &key), Err(SignError::Entry(_))));
        assert!(matches!(
            sign_entry_line(r#"{"name":"a"}"#, &key),
            Err(SignError::Entry(_))
        ));
    }
}
