//! Key pinning, trust on first use (DESIGN §4): the first key seen signing a
//! package is remembered in `GGEN_HOME/trust/pins.json`, per registry. A
//! later version signed by another key is accepted only if a pinned key
//! vouched for it (directly or through a chain of vouches in the package's
//! owner-keys file), or if the user explicitly accepts the new key
//! (`--accept-new-key`). Keys accepted either way are pinned too, so a
//! package may have several signers once they are trusted.
//!
//! Once a package is pinned, an unsigned version of it is refused as well:
//! stripping a signature must not be a way around the pin.
//!
//! ```
//! use ggen_marketplace::format::{IndexConfig, IndexEntry};
//! use ggen_marketplace::trust::keys::GeneratedKey;
//! use ggen_marketplace::trust::owners::OwnerKeys;
//! use ggen_marketplace::trust::pins::{PinDecision, PinStore};
//! use ggen_marketplace::trust::sign::sign_entry_line;
//! use ggen_marketplace::trust::verify::{AllowedKeys, TrustError, verify_entry};
//!
//! let home = tempfile::tempdir().unwrap();
//! let pins = PinStore::new(ggen_marketplace::home::GgenHome::at(home.path()).trust_dir());
//! let (first, second) = (
//!     GeneratedKey::unencrypted().unwrap().secret_key().unwrap(),
//!     GeneratedKey::unencrypted().unwrap().secret_key().unwrap(),
//! );
//! let owners = format!("{{\"key\":\"{}\"}}\n{{\"key\":\"{}\"}}\n", first.public().base64(), second.public().base64());
//! let allowed = AllowedKeys::new("demo", &IndexConfig::with_dl("a/{crate}"), OwnerKeys::parse("o", &owners).unwrap()).unwrap();
//! let verify = |vers: &str, key| {
//!     let line = sign_entry_line(&format!(r#"{{"name":"demo","vers":"{vers}","cksum":"00"}}"#), key).unwrap();
//!     verify_entry(&line, &IndexEntry::from_line(&line).unwrap(), &allowed).unwrap()
//! };
//!
//! let v1 = verify("1.0.0", &first);
//! let decision = pins.check(&"example".into(), "1.0.0", &v1, &allowed, false).unwrap();
//! assert_eq!(decision, PinDecision::FirstSeen { key_id: first.id() });
//!
//! // Both keys may sign demo, but the second was never vouched for by the first.
//! let v2 = verify("2.0.0", &second);
//! let err = pins.check(&"example".into(), "2.0.0", &v2, &allowed, false).unwrap_err();
//! assert!(matches!(err, TrustError::UnpinnedKey { .. }));
//! assert!(err.to_string().contains("--accept-new-key"));
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::keys::{KeyId, PublicKey};
use super::verify::{AllowedKeys, TrustError, Verified};
use crate::format::RegistryIdentity;
use crate::format::name::confusable_key;
use crate::util::fs::{FileLock, FsError, remove_stale_temp_files, write_atomic};

/// The pin store's file, in the trust directory.
pub const PINS_FILE: &str = "pins.json";
/// The lock taken while the pin store is read, decided on and written.
pub const PINS_LOCK_FILE: &str = ".pins.lock";

/// The pin store could not be read or written.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum PinStoreError {
    /// Reading, writing or locking failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The file is not a pin store.
    #[error(
        "pin store {} is damaged ({source}); move it aside to start over (the keys of every package will be learned again on next use)",
        path.display()
    )]
    Corrupt { path: PathBuf, source: serde_json::Error },
}

/// A key pinned for a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedKey {
    /// The key id, for people reading the file.
    pub id: KeyId,
    /// The public key, kept so vouches by it can be checked even after it
    /// leaves the owner-keys file.
    pub key: PublicKey,
}

impl PinnedKey {
    fn of(key: &PublicKey) -> Self {
        PinnedKey {
            id: key.id(),
            key: key.clone(),
        }
    }
}

/// A key to pin, decided by [`PinStore::judge`].
#[derive(Debug, Clone)]
pub struct NewPin {
    registry: String,
    package: String,
    key: PublicKey,
}

/// What pinning decided about a verified entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "pin", rename_all = "snake_case")]
pub enum PinDecision {
    /// Unsigned, and nothing is pinned for the package: nothing to remember.
    Unsigned,
    /// The first key seen for the package; now pinned.
    FirstSeen {
        /// The key now pinned.
        key_id: KeyId,
    },
    /// Signed by a pinned key.
    Pinned {
        /// The pinned key.
        key_id: KeyId,
    },
    /// Signed by a key a trusted key vouched for; now pinned too.
    Vouched {
        /// The new key.
        key_id: KeyId,
        /// The key that vouched for it.
        by: KeyId,
    },
    /// Signed by an unvouched key the caller explicitly accepted; now pinned.
    AcceptedNewKey {
        /// The accepted key.
        key_id: KeyId,
    },
    /// Unsigned although keys are pinned, explicitly accepted by the caller.
    AcceptedUnsigned,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PinFile {
    /// registry → package (confusable key) → pinned keys, first seen first.
    registries: BTreeMap<String, BTreeMap<String, Vec<PinnedKey>>>,
}

/// The pins of every registry, stored in one directory.
#[derive(Debug, Clone)]
pub struct PinStore {
    dir: PathBuf,
}

impl PinStore {
    /// A pin store in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        PinStore { dir: dir.into() }
    }

    /// The file holding the pins.
    pub fn path(&self) -> PathBuf {
        self.dir.join(PINS_FILE)
    }

    /// The keys pinned for `package` in `registry`, first seen first.
    pub fn pinned(&self, registry: &str, package: &str) -> Result<Vec<PinnedKey>, PinStoreError> {
        let mut file = self.read()?;
        Ok(file
            .registries
            .get_mut(registry)
            .and_then(|packages| packages.remove(&confusable_key(package)))
            .unwrap_or_default())
    }

    /// Decides whether `version` of the package of `allowed`, verified as
    /// `verified`, fits the pins of `registry` (kept under its identity, and
    /// found under its aliases too, so pins survive a move to a mirror),
    /// and remembers newly trusted keys. Runs under the store's lock, so
    /// concurrent runs cannot lose pins.
    pub fn check(
        &self,
        registry: &RegistryIdentity,
        version: &str,
        verified: &Verified,
        allowed: &AllowedKeys,
        accept_new_key: bool,
    ) -> Result<PinDecision, TrustError> {
        let (decision, pin) = self.judge(registry, version, verified, allowed, accept_new_key)?;
        self.remember(pin.as_slice())?;
        Ok(decision)
    }

    /// Like [`PinStore::check`], but writes nothing: the key to pin, if any,
    /// is returned for [`PinStore::remember`] once the caller's work has
    /// succeeded (an install that fails must not pin keys).
    pub fn judge(
        &self,
        registry: &RegistryIdentity,
        version: &str,
        verified: &Verified,
        allowed: &AllowedKeys,
        accept_new_key: bool,
    ) -> Result<(PinDecision, Option<NewPin>), TrustError> {
        let file = self.read()?;
        let package = confusable_key(allowed.package());
        let pinned = registry
            .names()
            .find_map(|name| file.registries.get(name).and_then(|packages| packages.get(&package)));
        let (decision, newly_trusted) = decide(
            pinned.map_or(&[], Vec::as_slice),
            version,
            verified,
            allowed,
            accept_new_key,
        )?;
        let pin = newly_trusted.map(|key| NewPin {
            registry: registry.id().to_owned(),
            package,
            key,
        });
        Ok((decision, pin))
    }

    /// Pins keys [`PinStore::judge`] found newly trusted, under the store's
    /// lock; a key pinned meanwhile by another run is not pinned twice.
    pub fn remember(&self, pins: &[NewPin]) -> Result<(), PinStoreError> {
        if pins.is_empty() {
            return Ok(());
        }
        let _lock = FileLock::exclusive(&self.dir.join(PINS_LOCK_FILE), |_| {})?;
        remove_stale_temp_files(&self.dir)?;
        let mut file = self.read()?;
        for pin in pins {
            let pinned = file
                .registries
                .entry(pin.registry.clone())
                .or_default()
                .entry(pin.package.clone())
                .or_default();
            if !pinned.iter().any(|p| p.id == pin.key.id()) {
                pinned.push(PinnedKey::of(&pin.key));
            }
        }
        self.write(&file)
    }

    fn read(&self) -> Result<PinFile, PinStoreError> {
        let path = self.path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| PinStoreError::Corrupt { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PinFile::default()),
            Err(e) => Err(FsError::new("read", &path, e).into()),
        }
    }

    fn write(&self, file: &PinFile) -> Result<(), PinStoreError> {
        let mut text = serde_json::to_string_pretty(file).expect("pins always serialize");
        text.push('\n');
        Ok(write_atomic(&self.path(), text.as_bytes())?)
    }
}

/// The pin decision for one verified entry, and the key to pin if any.
fn decide(
    pinned: &[PinnedKey],
    version: &str,
    verified: &Verified,
    allowed: &AllowedKeys,
    accept_new_key: bool,
) -> Result<(PinDecision, Option<PublicKey>), TrustError> {
    let package = allowed.package().to_owned();
    let pinned_ids = || pinned.iter().map(|p| p.key.id()).collect::<Vec<_>>();
    let Some(key_id) = verified.key_id else {
        return match (pinned.is_empty(), accept_new_key) {
            (true, _) => Ok((PinDecision::Unsigned, None)),
            (false, true) => Ok((PinDecision::AcceptedUnsigned, None)),
            (false, false) => Err(TrustError::UnsignedButPinned {
                package,
                version: version.to_owned(),
                pinned: pinned_ids(),
            }),
        };
    };
    let signer = allowed.key(key_id).ok_or_else(|| TrustError::KeyNotAllowed {
        package: package.clone(),
        version: version.to_owned(),
        key_id,
        owner_keys: super::owners::owner_keys_path(&package),
    })?;
    if pinned.is_empty() {
        return Ok((PinDecision::FirstSeen { key_id }, Some(signer.clone())));
    }
    if pinned.iter().any(|p| p.key.id() == key_id) {
        return Ok((PinDecision::Pinned { key_id }, None));
    }
    let trusted: Vec<PublicKey> = pinned.iter().map(|p| p.key.clone()).collect();
    if let Some(&by) = allowed.owner_keys().vouched_from(&trusted).get(&key_id) {
        return Ok((PinDecision::Vouched { key_id, by }, Some(signer.clone())));
    }
    if accept_new_key {
        return Ok((PinDecision::AcceptedNewKey { key_id }, Some(signer.clone())));
    }
    Err(TrustError::UnpinnedKey {
        package,
        version: version.to_owned(),
        pinned: pinned_ids(),
        found: key_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_in(home: &std::path::Path) -> PinStore {
        PinStore::new(crate::home::GgenHome::at(home).trust_dir())
    }
    use crate::format::{IndexConfig, IndexEntry, SignaturePolicy};
    use crate::trust::keys::SecretKey;
    use crate::trust::owners::OwnerKeys;
    use crate::trust::owners::tests::{new_key, plain_line, vouched_line};
    use crate::trust::sign::sign_entry_line;
    use crate::trust::verify::tests::LINE;
    use crate::trust::verify::verify_entry;

    fn allowed(owner_lines: &[String]) -> AllowedKeys {
        let mut config = IndexConfig::with_dl("a/{crate}");
        config.signatures = SignaturePolicy::Optional;
        AllowedKeys::new("demo", &config, OwnerKeys::parse("o", &owner_lines.join("\n")).unwrap()).unwrap()
    }

    fn verified(vers: &str, key: Option<&SecretKey>, allowed: &AllowedKeys) -> Verified {
        let line = LINE.replace("1.0.0", vers);
        let line = key.map_or(line.clone(), |k| sign_entry_line(&line, k).unwrap());
        verify_entry(&line, &IndexEntry::from_line(&line).unwrap(), allowed).unwrap()
    }

    #[test]
    fn pins_the_first_key_and_refuses_a_different_one() {
        let home = tempfile::tempdir().unwrap();
        let store = store_in(home.path());
        let (a, b) = (new_key(), new_key());
        let allowed = allowed(&[plain_line(a.public()), plain_line(b.public())]);

        let v1 = verified("1.0.0", Some(&a), &allowed);
        assert_eq!(
            store.check(&"reg".into(), "1.0.0", &v1, &allowed, false).unwrap(),
            PinDecision::FirstSeen { key_id: a.id() }
        );
        assert_eq!(
            store.check(&"reg".into(), "1.0.0", &v1, &allowed, false).unwrap(),
            PinDecision::Pinned { key_id: a.id() }
        );
        let v2 = verified("2.0.0", Some(&b), &allowed);
        let err = store.check(&"reg".into(), "2.0.0", &v2, &allowed, false).unwrap_err();
        match &err {
            TrustError::UnpinnedKey {
                package, pinned, found, ..
            } => {
                assert_eq!(package, "demo");
                assert_eq!(pinned, &vec![a.id()]);
                assert_eq!(*found, b.id());
            }
            other => panic!("expected UnpinnedKey, got {other}"),
        }
        // Pins are per registry: another registry's demo is a new package.
        assert_eq!(
            store.check(&"other".into(), "2.0.0", &v2, &allowed, false).unwrap(),
            PinDecision::FirstSeen { key_id: b.id() }
        );
        // The refusal changed nothing on disk.
        assert_eq!(store.pinned("reg", "Demo").unwrap().len(), 1);
    }

    #[test]
    fn pins_made_under_an_alias_hold_for_the_identity() {
        let home = tempfile::tempdir().unwrap();
        let store = store_in(home.path());
        let (a, b) = (new_key(), new_key());
        let allowed = allowed(&[plain_line(a.public()), plain_line(b.public())]);
        let v1 = verified("1.0.0", Some(&a), &allowed);
        store
            .check(&"dir+file:///old/path".into(), "1.0.0", &v1, &allowed, false)
            .unwrap();

        let moved = RegistryIdentity::new("io.acme").with_alias("dir+file:///old/path");
        assert_eq!(
            store.check(&moved, "1.0.0", &v1, &allowed, false).unwrap(),
            PinDecision::Pinned { key_id: a.id() }
        );
        let v2 = verified("2.0.0", Some(&b), &allowed);
        assert!(store.check(&moved, "2.0.0", &v2, &allowed, false).is_err());
        // Not an alias: a registry of its own, with nothing pinned.
        assert_eq!(
            store.check(&"io.other".into(), "2.0.0", &v2, &allowed, false).unwrap(),
            PinDecision::FirstSeen { key_id: b.id() }
        );
    }

    #[test]
    fn an_explicitly_accepted_key_is_pinned_beside_the_first() {
        let home = tempfile::tempdir().unwrap();
        let store = store_in(home.path());
        let (a, b) = (new_key(), new_key());
        let allowed = allowed(&[plain_line(a.public()), plain_line(b.public())]);
        store
            .check(
                &"reg".into(),
                "1.0.0",
                &verified("1.0.0", Some(&a), &allowed),
                &allowed,
                false,
            )
            .unwrap();
        let v2 = verified("2.0.0", Some(&b), &allowed);
        assert_eq!(
            store.check(&"reg".into(), "2.0.0", &v2, &allowed, true).unwrap(),
            PinDecision::AcceptedNewKey { key_id: b.id() }
        );
        assert_eq!(
            store.check(&"reg".into(), "2.0.0", &v2, &allowed, false).unwrap(),
            PinDecision::Pinned { key_id: b.id() }
        );
        let ids: Vec<KeyId> = store.pinned("reg", "demo").unwrap().iter().map(|p| p.id).collect();
        assert_eq!(ids, vec![a.id(), b.id()]);
    }

    #[test]
    fn a_vouched_key_is_accepted_and_pinned() {
        let home = tempfile::tempdir().unwrap();
        let store = store_in(home.path());
        let (a, b) = (new_key(), new_key());
        let allowed = allowed(&[plain_line(a.public()), vouched_line(b.public(), &a)]);
        store
            .check(
                &"reg".into(),
                "1.0.0",
                &verified("1.0.0", Some(&a), &allowed),
                &allowed,
                false,
            )
            .unwrap();
        let v2 = verified("2.0.0", Some(&b), &allowed);
        assert_eq!(
            store.check(&"reg".into(), "2.0.0", &v2, &allowed, false).unwrap(),
            PinDecision::Vouched {
                key_id: b.id(),
                by: a.id()
            }
        );
        // Trust in b no longer depends on the vouch line staying in the index.
        let without_vouch = self::allowed(&[plain_line(a.public()), plain_line(b.public())]);
        assert_eq!(
            store.check(&"reg".into(), "2.0.0", &v2, &without_vouch, false).unwrap(),
            PinDecision::Pinned { key_id: b.id() }
        );
    }

    #[test]
    fn a_vouch_by_an_unpinned_key_does_not_count() {
        let home = tempfile::tempdir().unwrap();
        let store = store_in(home.path());
        let (a, b, c) = (new_key(), new_key(), new_key());
        // c is vouched for, but by b, which this client never pinned.
        let allowed = allowed(&[
            plain_line(a.public()),
            plain_line(b.public()),
            vouched_line(c.public(), &b),
        ]);
        store
            .check(
                &"reg".into(),
                "1.0.0",
                &verified("1.0.0", Some(&a), &allowed),
                &allowed,
                false,
            )
            .unwrap();
        let v2 = verified("2.0.0", Some(&c), &allowed);
        assert!(matches!(
            store.check(&"reg".into(), "2.0.0", &v2, &allowed, false),
            Err(TrustError::UnpinnedKey { .. })
        ));
    }

    #[test]
    fn unsigned_versions_of_a_pinned_package_are_refused() {
        let home = tempfile::tempdir().unwrap();
        let store = store_in(home.path());
        let a = new_key();
        let allowed = allowed(&[plain_line(a.public())]);
        let unsigned = verified("0.9.0", None, &allowed);
        assert_eq!(
            store.check(&"reg".into(), "0.9.0", &unsigned, &allowed, false).unwrap(),
            PinDecision::Unsigned
        );
        store
            .check(
                &"reg".into(),
                "1.0.0",
                &verified("1.0.0", Some(&a), &allowed),
                &allowed,
                false,
            )
            .unwrap();
        let err = store
            .check(&"reg".into(), "0.9.0", &unsigned, &allowed, false)
            .unwrap_err();
        assert!(matches!(err, TrustError::UnsignedButPinned { .. }), "{err}");
        assert_eq!(
            store.check(&"reg".into(), "0.9.0", &unsigned, &allowed, true).unwrap(),
            PinDecision::AcceptedUnsigned
        );
    }

    #[test]
    fn a_damaged_store_is_reported_with_its_path() {
        let home = tempfile::tempdir().unwrap();
        let store = store_in(home.path());
        write_atomic(&store.path(), b"{not json").unwrap();
        let err = store.pinned("reg", "demo").unwrap_err();
        assert!(err.to_string().contains("pins.json"), "{err}");
    }
}
