//! From a project's requirements and old lockfile to the new lockfile: the
//! part of an install that decides, before anything is written.

use std::collections::BTreeMap;

use serde::Serialize;

use super::InstallError;
use crate::format::RegistryIdentity;
use crate::format::lockfile::{LockedPackage, Lockfile};
use crate::format::manifest::Manifest;
use crate::resolve::{self, Request, Resolution};
use crate::sources::PackageSource;
use crate::trust::Signature;

/// Which lockfile pins to drop before resolving (`update`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Unpin {
    /// Keep every pin that still fits (install, add).
    #[default]
    Nothing,
    /// Drop every pin: newest compatible versions (update).
    All,
    /// Drop the pins of these packages only (update NAME).
    Only(Vec<String>),
}

impl Unpin {
    fn keeps(&self, name: &str) -> bool {
        match self {
            Unpin::Nothing => true,
            Unpin::All => false,
            Unpin::Only(names) => !names.iter().any(|n| n.eq_ignore_ascii_case(name)),
        }
    }
}

/// A change to the lockfile, for people and `--json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum LockChange {
    /// A package version enters the lockfile.
    Added {
        /// Package name.
        name: String,
        /// Its version.
        version: String,
    },
    /// A package version leaves the lockfile.
    Removed {
        /// Package name.
        name: String,
        /// Its version.
        version: String,
    },
}

/// What an install will do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The resolution: every chosen version with its index line.
    pub resolution: Resolution,
    /// The lockfile that results.
    pub lockfile: Lockfile,
    /// How it differs from the old one.
    pub changes: Vec<LockChange>,
}

/// Resolves `manifest` against `source`, preferring the versions `old`
/// pins, and builds the lockfile that results. `identity`'s id is written
/// as each package's `source`; only `old`'s entries under that id pin.
pub fn plan(
    manifest: &Manifest,
    old: Option<&Lockfile>,
    source: &dyn PackageSource,
    identity: &RegistryIdentity,
    unpin: &Unpin,
) -> Result<Plan, InstallError> {
    let registry_id = identity.id();
    let mut request = Request::new(manifest.dependencies.iter().map(|(n, r)| (n.as_str(), r.as_str())));
    for (name, ask) in &manifest.features {
        request = request.features(name.clone(), ask.clone());
    }
    for locked in old.iter().flat_map(|lock| &lock.packages) {
        if locked.source == registry_id
            && unpin.keeps(&locked.name)
            && let Ok(version) = semver::Version::parse(&locked.version)
        {
            request = request.lock(locked.name.clone(), version);
        }
    }
    let resolution = resolve::resolve(source, &request)?;
    refuse_unknown_update_names(unpin, old, &resolution)?;
    let lockfile = lockfile_of(&resolution, registry_id);
    if let Some(old) = old {
        refuse_changed_checksums(old, &lockfile)?;
    }
    let changes = changes_between(old, &lockfile);
    Ok(Plan {
        resolution,
        lockfile,
        changes,
    })
}

/// `update NAME` of a package neither locked nor resolved is most likely a
/// typo: say so instead of silently updating nothing.
fn refuse_unknown_update_names(
    unpin: &Unpin,
    old: Option<&Lockfile>,
    resolution: &Resolution,
) -> Result<(), InstallError> {
    let Unpin::Only(names) = unpin else {
        return Ok(());
    };
    for name in names {
        let locked = old
            .iter()
            .flat_map(|lock| &lock.packages)
            .any(|p| p.name.eq_ignore_ascii_case(name));
        let resolved = resolution.packages.iter().any(|p| p.id.name.eq_ignore_ascii_case(name));
        if !locked && !resolved {
            return Err(InstallError::NothingToUpdate { name: name.clone() });
        }
    }
    Ok(())
}

fn lockfile_of(resolution: &Resolution, registry_id: &str) -> Lockfile {
    Lockfile::new(
        resolution
            .packages
            .iter()
            .map(|package| LockedPackage {
                name: package.id.name.clone(),
                version: package.id.version.to_string(),
                source: registry_id.to_owned(),
                checksum: package.entry.entry.cksum.clone(),
                // The key the signature names; the install verifies it
                // before anything is written.
                signer: package
                    .entry
                    .entry
                    .sig
                    .as_deref()
                    .and_then(|sig| Signature::parse(sig).ok())
                    .map(|sig| sig.key_id().to_string()),
                features: package.features.clone(),
                dependencies: package.dependencies.iter().map(|edge| edge.to.to_string()).collect(),
            })
            .collect(),
    )
}

/// A version whose checksum differs from the one locked means the index
/// now describes different bytes for the same release: tampering, or a
/// registry that rewrote history. Never follow it silently.
fn refuse_changed_checksums(old: &Lockfile, new: &Lockfile) -> Result<(), InstallError> {
    let locked: BTreeMap<(&str, &str, &str), &str> = old
        .packages
        .iter()
        .map(|p| {
            (
                (p.name.as_str(), p.version.as_str(), p.source.as_str()),
                p.checksum.as_str(),
            )
        })
        .collect();
    for package in &new.packages {
        let key = (package.name.as_str(), package.version.as_str(), package.source.as_str());
        if let Some(&was) = locked.get(&key)
            && was != package.checksum
        {
            return Err(InstallError::LockedChecksumChanged {
                name: package.name.clone(),
                version: package.version.clone(),
                locked: was.to_owned(),
                index: package.checksum.clone(),
            });
        }
    }
    Ok(())
}

fn changes_between(old: Option<&Lockfile>, new: &Lockfile) -> Vec<LockChange> {
    let ids = |lock: &Lockfile| -> Vec<(String, String)> {
        lock.packages
            .iter()
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect()
    };
    let before = old.map(ids).unwrap_or_default();
    let after = ids(new);
    let removed = before
        .iter()
        .filter(|id| !after.contains(id))
        .map(|(name, version)| LockChange::Removed {
            name: name.clone(),
            version: version.clone(),
        });
    let added = after
        .iter()
        .filter(|id| !before.contains(id))
        .map(|(name, version)| LockChange::Added {
            name: name.clone(),
            version: version.clone(),
        });
    removed.chain(added).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked(name: &str, version: &str, checksum: &str) -> LockedPackage {
        LockedPackage {
            name: name.into(),
            version: version.into(),
            source: "dir+file:///i".into(),
            checksum: checksum.into(),
            signer: None,
            features: Vec::new(),
            dependencies: vec![],
        }
    }

    #[test]
    fn changes_list_removed_then_added() {
        let old = Lockfile::new(vec![locked("a", "1.0.0", "x"), locked("b", "1.0.0", "y")]);
        let new = Lockfile::new(vec![locked("a", "1.1.0", "z"), locked("b", "1.0.0", "y")]);
        assert_eq!(
            changes_between(Some(&old), &new),
            [
                LockChange::Removed {
                    name: "a".into(),
                    version: "1.0.0".into()
                },
                LockChange::Added {
                    name: "a".into(),
                    version: "1.1.0".into()
                },
            ]
        );
        assert!(changes_between(Some(&new), &new).is_empty());
    }

    #[test]
    fn a_rewritten_checksum_is_refused() {
        let old = Lockfile::new(vec![locked("a", "1.0.0", "x")]);
        let new = Lockfile::new(vec![locked("a", "1.0.0", "evil")]);
        let err = refuse_changed_checksums(&old, &new).unwrap_err();
        assert!(matches!(err, InstallError::LockedChecksumChanged { .. }), "{err}");
        assert!(refuse_changed_checksums(&old, &old).is_ok());
    }

    #[test]
    fn update_of_an_unknown_name_is_refused() {
        let old = Lockfile::new(vec![locked("a", "1.0.0", "x")]);
        let nothing = Resolution {
            root: vec![],
            packages: vec![],
        };
        let only = |name: &str| Unpin::Only(vec![name.into()]);
        assert!(refuse_unknown_update_names(&only("A"), Some(&old), &nothing).is_ok());
        let err = refuse_unknown_update_names(&only("b"), Some(&old), &nothing).unwrap_err();
        assert!(
            matches!(&err, InstallError::NothingToUpdate { name } if name == "b"),
            "{err}"
        );
        assert!(refuse_unknown_update_names(&Unpin::All, None, &nothing).is_ok());
    }

    #[test]
    fn unpin_keeps_what_it_should() {
        assert!(Unpin::Nothing.keeps("a"));
        assert!(!Unpin::All.keeps("a"));
        let only = Unpin::Only(vec!["A".into()]);
        assert!(!only.keeps("a"));
        assert!(only.keeps("b"));
    }
}
