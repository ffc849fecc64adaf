//! Verifying signed entries against the keys allowed for their package
//! (DESIGN §4).
//!
//! The keys allowed to sign package P are those of P's owner-keys file and
//! the index-wide `keys` of `config.json`. With `"signatures": "required"`
//! an unsigned entry is refused; with `"optional"` it is accepted and
//! reported as unsigned. A present signature must always be valid.
//!
//! ```
//! use ggen_marketplace::format::{IndexConfig, IndexEntry, SignaturePolicy};
//! use ggen_marketplace::trust::keys::GeneratedKey;
//! use ggen_marketplace::trust::owners::OwnerKeys;
//! use ggen_marketplace::trust::sign::sign_entry_line;
//! use ggen_marketplace::trust::verify::{AllowedKeys, TrustError, verify_entry};
//!
//! let key = GeneratedKey::unencrypted().unwrap().secret_key().unwrap();
//! let owners = OwnerKeys::parse("_keys/de/mo/demo", &format!(r#"{{"key":"{}"}}"#, key.public().base64())).unwrap();
//! let mut config = IndexConfig::with_dl("archives/{crate}-{version}.tar.gz");
//! config.signatures = SignaturePolicy::Required;
//! let allowed = AllowedKeys::new("demo", &config, owners).unwrap();
//!
//! let line = sign_entry_line(r#"{"name":"demo","vers":"1.0.0","deps":[],"cksum":"00","features":{},"yanked":false}"#, &key).unwrap();
//! let verified = verify_entry(&line, &IndexEntry::from_line(&line).unwrap(), &allowed).unwrap();
//! assert_eq!(verified.key_id, Some(key.id()));
//!
//! // A tampered checksum breaks the signature.
//! let tampered = line.replace(r#""cksum":"00""#, r#""cksum":"01""#);
//! let err = verify_entry(&tampered, &IndexEntry::from_line(&tampered).unwrap(), &allowed).unwrap_err();
//! assert!(matches!(err, TrustError::InvalidSignature { .. }));
//! ```

use serde::Serialize;

use super::keys::{KeyError, KeyId, PublicKey, Signature};
use super::owners::{OwnerKeys, OwnerKeysError, owner_keys_path};
use super::pins::PinStoreError;
use crate::format::canonical::{CanonicalError, canonical_form};
use crate::format::name::confusable_key;
use crate::format::{IndexConfig, IndexEntry, SignaturePolicy};

/// Why an entry is not trusted, or trust could not be decided.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum TrustError {
    /// The index requires signatures and the entry has none.
    #[error(
        "{package}@{version} is not signed, and this index requires signatures (config.json \"signatures\": \"required\"); ask its publisher to sign it (`ggen-market sign`)"
    )]
    Unsigned { package: String, version: String },
    /// `sig` is not a minisign signature.
    #[error("{package}@{version} has a malformed signature: {source}; ask its publisher to sign it again")]
    MalformedSignature {
        package: String,
        version: String,
        source: KeyError,
    },
    /// The signing key may not sign this package.
    #[error(
        "{package}@{version} is signed by key {key_id}, which may not sign {package}: it is neither in {owner_keys} nor in config.json \"keys\"; if the key is the owner's, add it to {owner_keys} (with a vouch from an existing key)"
    )]
    KeyNotAllowed {
        package: String,
        version: String,
        key_id: KeyId,
        owner_keys: String,
    },
    /// The signature does not match the entry.
    #[error(
        "{package}@{version}: the signature by key {key_id} does not match the entry; it was changed after signing (its dependencies, checksum or other fields); do not use it, and tell the index maintainers"
    )]
    InvalidSignature {
        package: String,
        version: String,
        key_id: KeyId,
    },
    /// The entry belongs to another package than the keys.
    #[error(
        "the entry for {found}@{version} is in the file of package {expected}; the index is damaged, tell its maintainers"
    )]
    WrongPackage {
        expected: String,
        found: String,
        version: String,
    },
    /// The entry's line is not a JSON object.
    #[error("{package}@{version}: {source}")]
    Canonical {
        package: String,
        version: String,
        source: CanonicalError,
    },
    /// The signing key is neither pinned for the package nor vouched for.
    #[error(
        "{package}@{version} is signed by key {found}, but {package} was first seen signed by {}; no pinned key vouched for {found} in the package's owner-keys file. If its owner really changed keys, accept the new key explicitly with --accept-new-key",
        key_list(pinned)
    )]
    UnpinnedKey {
        package: String,
        version: String,
        pinned: Vec<KeyId>,
        found: KeyId,
    },
    /// An entry is unsigned although earlier ones were signed.
    #[error(
        "{package}@{version} is not signed, but {package} was seen signed by {} before; someone may have stripped the signature. Accept it explicitly with --accept-new-key only if you know why",
        key_list(pinned)
    )]
    UnsignedButPinned {
        package: String,
        version: String,
        pinned: Vec<KeyId>,
    },
    /// The owner-keys file is malformed.
    #[error(transparent)]
    OwnerKeys(#[from] OwnerKeysError),
    /// One of config.json's `keys` is malformed.
    #[error("config.json \"keys\"[{position}]: {source}; fix the index's config.json")]
    IndexKey { position: usize, source: KeyError },
    /// The pin store could not be read or written.
    #[error(transparent)]
    PinStore(#[from] PinStoreError),
}

fn key_list(ids: &[KeyId]) -> String {
    let ids: Vec<String> = ids.iter().map(KeyId::to_string).collect();
    match ids.len() {
        0 => "no key".to_owned(),
        1 => format!("key {}", ids[0]),
        _ => format!("keys {}", ids.join(", ")),
    }
}

/// The outcome of verifying an entry: which key signed it, or `None` for
/// an unsigned entry accepted under the `optional` policy. The key id goes
/// into `ggen.lock` and the pin store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// The id of the key whose valid signature the entry carries.
    pub key_id: Option<KeyId>,
}

/// The keys allowed to sign one package, and the index's policy.
#[derive(Debug, Clone)]
pub struct AllowedKeys {
    package: String,
    policy: SignaturePolicy,
    owner_keys: OwnerKeys,
    index_keys: Vec<PublicKey>,
    /// Accept revoked owner keys (for what they signed before).
    accept_retired: bool,
}

impl AllowedKeys {
    /// The keys for `package`: its parsed owner-keys file (empty if it has
    /// none) and the index-wide keys and policy of `config`.
    pub fn new(package: &str, config: &IndexConfig, owner_keys: OwnerKeys) -> Result<Self, TrustError> {
        let index_keys = config
            .keys
            .iter()
            .enumerate()
            .map(|(position, key)| {
                PublicKey::from_base64(key).map_err(|source| TrustError::IndexKey { position, source })
            })
            .collect::<Result<_, _>>()?;
        Ok(AllowedKeys {
            package: package.to_owned(),
            policy: config.signatures,
            owner_keys,
            index_keys,
            accept_retired: true,
        })
    }

    /// The same keys, for checking a *new* signature (the pull-request
    /// gate): revoked owner keys are refused.
    pub fn for_new_signatures(self) -> Self {
        AllowedKeys {
            accept_retired: false,
            ..self
        }
    }

    /// The package these keys are for.
    pub fn package(&self) -> &str {
        &self.package
    }

    /// Whether unsigned entries are refused.
    pub fn policy(&self) -> SignaturePolicy {
        self.policy
    }

    /// The package's owner keys.
    pub fn owner_keys(&self) -> &OwnerKeys {
        &self.owner_keys
    }

    /// The allowed key with this id, from the owner keys or the index keys.
    pub fn key(&self, id: KeyId) -> Option<&PublicKey> {
        self.owner_keys
            .key(id)
            .or_else(|| self.owner_keys.retired_key(id).filter(|_| self.accept_retired))
            .map(|k| &k.key)
            .or_else(|| self.index_keys.iter().find(|k| k.id() == id))
    }
}

/// Verifies one entry: `line` as stored (the signature covers its
/// canonical form) and `entry`, its parse.
pub fn verify_entry(line: &str, entry: &IndexEntry, allowed: &AllowedKeys) -> Result<Verified, TrustError> {
    let package = || entry.name.clone();
    let version = || entry.vers.clone();
    if confusable_key(&entry.name) != confusable_key(&allowed.package) {
        return Err(TrustError::WrongPackage {
            expected: allowed.package.clone(),
            found: package(),
            version: version(),
        });
    }
    let Some(sig) = &entry.sig else {
        return match allowed.policy {
            SignaturePolicy::Optional => Ok(Verified { key_id: None }),
            SignaturePolicy::Required => Err(TrustError::Unsigned {
                package: package(),
                version: version(),
            }),
        };
    };
    let signature = Signature::parse(sig).map_err(|source| TrustError::MalformedSignature {
        package: package(),
        version: version(),
        source,
    })?;
    let key_id = signature.key_id();
    let key = allowed.key(key_id).ok_or_else(|| TrustError::KeyNotAllowed {
        package: package(),
        version: version(),
        key_id,
        owner_keys: owner_keys_path(&allowed.package),
    })?;
    let message = canonical_form(line).map_err(|source| TrustError::Canonical {
        package: package(),
        version: version(),
        source,
    })?;
    if !key.verifies(message.as_bytes(), &signature) {
        return Err(TrustError::InvalidSignature {
            package: package(),
            version: version(),
            key_id,
        });
    }
    Ok(Verified { key_id: Some(key_id) })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::trust::keys::SecretKey;
    use crate::trust::owners::tests::{new_key, plain_line};
    use crate::trust::sign::sign_entry_line;

    pub(crate) const LINE: &str = r#"{"name":"demo","vers":"1.0.0","deps":[{"name":"base","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}],"cksum":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","features":{},"yanked":false}"#;

    pub(crate) fn allowed(owners: &[&SecretKey], index: &[&SecretKey], policy: SignaturePolicy) -> AllowedKeys {
        let text: Vec<String> = owners.iter().map(|k| plain_line(k.public())).collect();
        let mut config = IndexConfig::with_dl("archives/{crate}-{version}.tar.gz");
        config.keys = index.iter().map(|k| k.public().base64().to_owned()).collect();
        config.signatures = policy;
        AllowedKeys::new(
            "demo",
            &config,
            OwnerKeys::parse("_keys/de/mo/demo", &text.join("\n")).unwrap(),
        )
        .unwrap()
    }

    fn verify(line: &str, allowed: &AllowedKeys) -> Result<Verified, TrustError> {
        verify_entry(line, &IndexEntry::from_line(line).unwrap(), allowed)
    }

    fn edit(line: &str, change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> String {
        let mut fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
        change(&mut fields);
        serde_json::Value::Object(fields).to_string()
    }

    #[test]
    fn accepts_owner_keys_and_index_keys() {
        let (owner, index_wide) = (new_key(), new_key());
        let allowed = allowed(&[&owner], &[&index_wide], SignaturePolicy::Required);
        for key in [&owner, &index_wide] {
            let line = sign_entry_line(LINE, key).unwrap();
            assert_eq!(verify(&line, &allowed).unwrap().key_id, Some(key.id()));
        }
    }

    #[test]
    fn an_added_dependency_breaks_the_signature() {
        let key = new_key();
        let allowed = allowed(&[&key], &[], SignaturePolicy::Required);
        let signed = sign_entry_line(LINE, &key).unwrap();
        let tampered = edit(&signed, |f| {
            f["deps"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"name":"evil","req":"*","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}));
        });
        let err = verify(&tampered, &allowed).unwrap_err();
        assert!(
            matches!(&err, TrustError::InvalidSignature { key_id, .. } if *key_id == key.id()),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("demo@1.0.0") && message.contains(&key.id().to_string()),
            "{message}"
        );
    }

    #[test]
    fn a_changed_checksum_breaks_the_signature() {
        let key = new_key();
        let allowed = allowed(&[&key], &[], SignaturePolicy::Required);
        let signed = sign_entry_line(LINE, &key).unwrap();
        let tampered = edit(&signed, |f| {
            f["cksum"] = "0".repeat(64).into();
        });
        assert!(matches!(
            verify(&tampered, &allowed),
            Err(TrustError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn yanking_keeps_the_signature_valid() {
        let key = new_key();
        let allowed = allowed(&[&key], &[], SignaturePolicy::Required);
        let signed = sign_entry_line(LINE, &key).unwrap();
        let yanked = edit(&signed, |f| {
            f["yanked"] = true.into();
        });
        assert_ne!(yanked, signed);
        assert_eq!(verify(&yanked, &allowed).unwrap().key_id, Some(key.id()));
    }

    #[test]
    fn refuses_a_key_not_allowed_for_the_package() {
        let (owner, stranger) = (new_key(), new_key());
        let allowed = allowed(&[&owner], &[], SignaturePolicy::Optional);
        let signed = sign_entry_line(LINE, &stranger).unwrap();
        let err = verify(&signed, &allowed).unwrap_err();
        assert!(matches!(&err, TrustError::KeyNotAllowed { key_id, .. } if *key_id == stranger.id()));
        assert!(err.to_string().contains("_keys/de/mo/demo"), "{err}");
    }

    #[test]
    fn unsigned_entries_follow_the_policy() {
        let key = new_key();
        let required = allowed(&[&key], &[], SignaturePolicy::Required);
        let err = verify(LINE, &required).unwrap_err();
        assert!(matches!(err, TrustError::Unsigned { .. }));
        assert!(err.to_string().contains("demo@1.0.0"));
        let optional = allowed(&[&key], &[], SignaturePolicy::Optional);
        assert_eq!(verify(LINE, &optional).unwrap(), Verified { key_id: None });
    }

    #[test]
    fn optional_policy_still_checks_present_signatures() {
        let key = new_key();
        let optional = allowed(&[&key], &[], SignaturePolicy::Optional);
        let signed = sign_entry_line(LINE, &key).unwrap();
        let tampered = signed.replace(r#""vers":"1.0.0""#, r#""vers":"1.0.1""#);
        assert!(matches!(
            verify(&tampered, &optional),
            Err(TrustError::InvalidSignature { .. })
        ));
        let garbage = edit(&signed, |f| {
            f["sig"] = "untrusted comment: x\nnot a signature".into();
        });
        assert!(matches!(
            verify(&garbage, &optional),
            Err(TrustError::MalformedSignature { .. })
        ));
    }

    #[test]
    fn refuses_an_entry_filed_under_another_package() {
        let key = new_key();
        let allowed = allowed(&[&key], &[], SignaturePolicy::Optional);
        let other = sign_entry_line(&LINE.replace("\"demo\"", "\"other\""), &key).unwrap();
        assert!(matches!(verify(&other, &allowed), Err(TrustError::WrongPackage { .. })));
    }

    #[test]
    fn refuses_a_malformed_index_key() {
        let mut config = IndexConfig::with_dl("x/{crate}");
        config.keys = vec!["RWnot-a-key".into()];
        let err = AllowedKeys::new("demo", &config, OwnerKeys::default()).unwrap_err();
        assert!(matches!(err, TrustError::IndexKey { position: 0, .. }), "{err}");
    }
}
