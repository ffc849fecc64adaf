//! `ggen.lock`: what a project installed, exactly, so a later install on
//! another machine gets the same bytes from the same keys.
//!
//! TOML in a deterministic order (packages sorted by name, then version;
//! dependencies sorted), so the file only changes when the resolution does.
//!
//! ```
//! use ggen_marketplace::format::lockfile::{Lockfile, LockedPackage};
//! let lock = Lockfile::new(vec![
//!     LockedPackage {
//!         name: "io.ggen.rust.base".into(),
//!         version: "0.4.2".into(),
//!         source: "io.ggen.examples".into(),
//!         checksum: "ab".repeat(32),
//!         signer: Some("A1B2C3D4E5F60718".into()),
//!         features: vec!["default".into(), "tera".into()],
//!         dependencies: vec!["io.ggen.base 1.1.0".into()],
//!     },
//! ]);
//! let text = lock.to_toml();
//! assert!(text.starts_with("# This file is written by ggen-market"));
//! assert_eq!(Lockfile::parse(&text).unwrap(), lock);
//! ```

use serde::{Deserialize, Serialize};

use super::identity::RegistryIdentity;

/// The file name of a lockfile.
pub const LOCKFILE: &str = "ggen.lock";

/// The format version written by this toolkit.
pub const LOCKFILE_VERSION: u32 = 1;

/// A parsed `ggen.lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockfile {
    /// Format version; only 1 exists.
    pub version: u32,
    /// Every installed package, sorted.
    #[serde(default, rename = "package")]
    pub packages: Vec<LockedPackage>,
}

/// One locked package version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LockedPackage {
    /// Package name.
    pub name: String,
    /// Exact version.
    pub version: String,
    /// The registry it came from, by identity (see `format::identity`):
    /// config.json's `id`, e.g. `io.ggen.examples`, or for an index
    /// without one its location, e.g. `sparse+http://host/index/`.
    pub source: String,
    /// SHA-256 of the archive, lowercase hex.
    pub checksum: String,
    /// The minisign key id (16 uppercase hex) that signed the entry, pinned
    /// for later versions; absent for unsigned entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// Its features that are on, sorted; absent when none are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// `name version` of each package this one depends on, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
}

/// A lockfile that cannot be used.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum LockfileError {
    /// Not TOML or a field of the wrong type.
    #[error("{LOCKFILE} is not valid: {0}; delete it to resolve afresh")]
    Toml(#[from] toml::de::Error),
    /// Written by a newer toolkit.
    #[error(
        "{LOCKFILE} has format version {0}, this ggen-market reads version {LOCKFILE_VERSION}; upgrade ggen-market"
    )]
    UnknownVersion(u32),
}

impl Lockfile {
    /// A lockfile of these packages, put in canonical order.
    pub fn new(mut packages: Vec<LockedPackage>) -> Self {
        for package in &mut packages {
            package.features.sort();
            package.features.dedup();
            package.dependencies.sort();
            package.dependencies.dedup();
        }
        packages.sort();
        Lockfile {
            version: LOCKFILE_VERSION,
            packages,
        }
    }

    /// Parses lockfile text.
    pub fn parse(text: &str) -> Result<Self, LockfileError> {
        let lock: Lockfile = toml::from_str(text)?;
        if lock.version != LOCKFILE_VERSION {
            return Err(LockfileError::UnknownVersion(lock.version));
        }
        Ok(Lockfile::new(lock.packages))
    }

    /// The file's text, with a header saying not to edit it.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("a lockfile always serializes");
        format!("# This file is written by ggen-market. Do not edit it by hand.\n{body}")
    }

    /// The same lock with every entry of `identity`'s registry recorded
    /// under its id: how a lock written under an alias (an old lock's URL,
    /// the registry a mirror stands in for) is read.
    pub fn migrated_to(&self, identity: &RegistryIdentity) -> Lockfile {
        let mut packages = self.packages.clone();
        for package in &mut packages {
            if identity.is_source(&package.source) {
                package.source = identity.id().to_owned();
            }
        }
        Lockfile::new(packages)
    }

    /// The `source` of the first entry that names another registry than
    /// `identity`, if any.
    pub fn foreign_source(&self, identity: &RegistryIdentity) -> Option<&str> {
        self.packages
            .iter()
            .map(|p| p.source.as_str())
            .find(|source| !identity.is_source(source))
    }

    /// Every locked version of `name` (several when semver-incompatible
    /// versions coexist).
    pub fn find(&self, name: &str) -> impl Iterator<Item = &LockedPackage> {
        self.packages.iter().filter(move |p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, version: &str, deps: &[&str]) -> LockedPackage {
        LockedPackage {
            name: name.into(),
            version: version.into(),
            source: "dir+file:///i".into(),
            checksum: "0".repeat(64),
            signer: None,
            features: Vec::new(),
            dependencies: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn order_does_not_depend_on_input_order() {
        let a = Lockfile::new(vec![
            package("b", "1.0.0", &["z 1.0.0", "a 1.0.0"]),
            package("a", "2.0.0", &[]),
        ]);
        let b = Lockfile::new(vec![
            package("a", "2.0.0", &[]),
            package("b", "1.0.0", &["a 1.0.0", "z 1.0.0"]),
        ]);
        assert_eq!(a.to_toml(), b.to_toml());
        assert_eq!(a.packages[0].name, "a");
        assert_eq!(a.packages[1].dependencies, vec!["a 1.0.0", "z 1.0.0"]);
    }

    #[test]
    fn migration_renames_only_the_registry_s_own_entries() {
        let mut foreign = package("c", "1.0.0", &[]);
        foreign.source = "sparse+http://other/".into();
        let lock = Lockfile::new(vec![package("a", "1.0.0", &[]), foreign]);
        let identity = RegistryIdentity::new("io.acme").with_alias("dir+file:///i");
        let migrated = lock.migrated_to(&identity);
        assert_eq!(migrated.packages[0].source, "io.acme");
        assert_eq!(migrated.packages[1].source, "sparse+http://other/");
        assert_eq!(lock.foreign_source(&identity), Some("sparse+http://other/"));
        assert_eq!(
            Lockfile::new(vec![package("a", "1.0.0", &[])]).foreign_source(&identity),
            None
        );
    }

    #[test]
    fn refuses_unknown_versions_and_garbage() {
        assert!(matches!(
            Lockfile::parse("version = 7\n"),
            Err(LockfileError::UnknownVersion(7))
        ));
        assert!(matches!(
            Lockfile::parse("version = \"x\""),
            Err(LockfileError::Toml(_))
        ));
        assert_eq!(Lockfile::parse("version = 1\n").unwrap().packages.len(), 0);
    }
}
