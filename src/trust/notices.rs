//! Signing and verifying notices (`format::notice`): yanks and deprecations
//! signed by a key allowed for the package, over the line's canonical form.
//!
//! ```
//! use ggen_marketplace::format::IndexConfig;
//! use ggen_marketplace::format::notice::{Action, Notice};
//! use ggen_marketplace::trust::{AllowedKeys, GeneratedKey, OwnerKeys};
//! use ggen_marketplace::trust::notices::{sign_notice, verify_notice};
//!
//! let key = GeneratedKey::unencrypted().unwrap().secret_key().unwrap();
//! let notice = Notice { package: "demo".into(), action: Action::Yank, version: Some("1.0.0".into()), message: None, sig: None };
//! let line = sign_notice(&notice, &key).unwrap();
//! let owners = OwnerKeys::parse("o", &format!(r#"{{"key":"{}"}}"#, key.public().base64())).unwrap();
//! let allowed = AllowedKeys::new("demo", &IndexConfig::with_dl("a/{crate}"), owners).unwrap();
//! assert_eq!(verify_notice(&line, &allowed).unwrap(), key.id());
//! assert!(verify_notice(&line.replace("1.0.0", "2.0.0"), &allowed).is_err());
//! ```

use super::keys::{KeyId, SecretKey, Signature};
use super::sign::SignError;
use super::verify::AllowedKeys;
use crate::format::canonical::canonical_form;
use crate::format::name::confusable_key;
use crate::format::notice::Notice;

/// Why a notice does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoticeTrustError {
    /// Not a notice line.
    #[error("not a notice line: {0}")]
    Malformed(String),
    /// About another package than the keys.
    #[error("the notice is about {found}, not {expected}")]
    WrongPackage {
        /// The package whose keys were used.
        expected: String,
        /// The package the notice names.
        found: String,
    },
    /// No `sig`.
    #[error("the notice is not signed; sign it with a key of the package's owners (`--key`)")]
    Unsigned,
    /// Signed by a key that may not sign the package.
    #[error("the notice is signed by key {0}, which is not an owner key of the package nor an index-wide key")]
    KeyNotAllowed(KeyId),
    /// The signature does not cover this line.
    #[error("the notice's signature by key {0} does not match it; it was changed after signing")]
    Invalid(KeyId),
}

/// The notice as a line with `sig` set, signed by `key`.
pub fn sign_notice(notice: &Notice, key: &SecretKey) -> Result<String, SignError> {
    let unsigned = Notice {
        sig: None,
        ..notice.clone()
    };
    let message = canonical_form(&unsigned.to_line())?;
    let comment = format!("{} {:?}", unsigned.package, unsigned.action).to_lowercase();
    let sig = key.sign(message.as_bytes(), &comment)?;
    Ok(Notice {
        sig: Some(sig),
        ..unsigned
    }
    .to_line())
}

/// Verifies a notice line against the keys allowed for its package;
/// returns the signer.
pub fn verify_notice(line: &str, allowed: &AllowedKeys) -> Result<KeyId, NoticeTrustError> {
    let notice: Notice = serde_json::from_str(line).map_err(|e| NoticeTrustError::Malformed(e.to_string()))?;
    if confusable_key(&notice.package) != confusable_key(allowed.package()) {
        return Err(NoticeTrustError::WrongPackage {
            expected: allowed.package().to_owned(),
            found: notice.package,
        });
    }
    let sig = notice.sig.as_deref().ok_or(NoticeTrustError::Unsigned)?;
    let signature = Signature::parse(sig).map_err(|e| NoticeTrustError::Malformed(e.to_string()))?;
    let key_id = signature.key_id();
    let key = allowed.key(key_id).ok_or(NoticeTrustError::KeyNotAllowed(key_id))?;
    let message = canonical_form(line).map_err(|e| NoticeTrustError::Malformed(e.to_string()))?;
    if !key.verifies(message.as_bytes(), &signature) {
        return Err(NoticeTrustError::Invalid(key_id));
    }
    Ok(key_id)
}
