//! Registry identity: the name `ggen.lock` and the pin store give a
//! registry, so that a lock made against it stays valid wherever its index
//! is read from — a mirror, a plain copy, another transport.
//!
//! Cargo's source replacement is the model: Cargo.lock says
//! `registry+https://github.com/rust-lang/crates.io-index` whatever mirror
//! served the crates. Here the identity is:
//!
//! 1. the `id` of the index's `config.json`, when it has one (`index init`
//!    writes one; `mirror create` copies the upstream's identity into it);
//! 2. otherwise the canonical location of the registry the index stands in
//!    for (`[registries.NAME] replace-with` in `GGEN_HOME/config.toml`);
//! 3. otherwise its own canonical location (`git+https://…`,
//!    `sparse+https://…/`, `dir+file:///…`), as every lock said before
//!    identities existed.
//!
//! A lock entry belongs to the registry in use when its `source` is the
//! identity or one of its *aliases*: the locations this registry was known
//! by (so locks written by earlier versions, which recorded the URL, still
//! read and are migrated on the next write). The checksum, not the URL, is
//! the trust anchor: every archive is checked against the lock's checksum.
//!
//! ```
//! use ggen_marketplace::format::identity::RegistryIdentity;
//! let identity = RegistryIdentity::new("io.ggen.examples").with_alias("dir+file:///srv/index");
//! assert!(identity.is_source("io.ggen.examples"));
//! assert!(identity.is_source("dir+file:///srv/index")); // an old lock's URL
//! assert!(!identity.is_source("sparse+https://elsewhere.test/index/"));
//! ```

use serde::Serialize;

/// Longest `id` accepted in config.json.
pub const MAX_ID_LEN: usize = 256;

/// How a registry is named in `ggen.lock` and the pin store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryIdentity {
    id: String,
    aliases: Vec<String>,
}

impl RegistryIdentity {
    /// An identity with no aliases.
    pub fn new(id: impl Into<String>) -> Self {
        RegistryIdentity {
            id: id.into(),
            aliases: Vec::new(),
        }
    }

    /// Adds another name the registry was known by (ignored if it is the id
    /// or already an alias).
    pub fn with_alias(mut self, alias: impl Into<String>) -> Self {
        let alias = alias.into();
        if alias != self.id && !self.aliases.contains(&alias) {
            self.aliases.push(alias);
        }
        self
    }

    /// The identity written as each lock entry's `source`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The other names, oldest meaning last: locations this registry was
    /// recorded under by earlier locks or pins.
    pub fn aliases(&self) -> &[String] {
        &self.aliases
    }

    /// Whether a lock entry's `source` names this registry.
    pub fn is_source(&self, source: &str) -> bool {
        source == self.id || self.aliases.iter().any(|alias| alias == source)
    }

    /// The id first, then the aliases: the order pins are looked up in.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

impl From<&str> for RegistryIdentity {
    fn from(id: &str) -> Self {
        RegistryIdentity::new(id)
    }
}

/// Why a config.json `id` cannot be an identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "config.json `id` must be 1 to {MAX_ID_LEN} printable ASCII characters without spaces (for example \"io.ggen.registry\" or \"https://github.com/acme/ggen-index\"), not {0:?}"
)]
pub struct BadRegistryId(pub String);

/// Checks an `id` from config.json.
pub fn check_id(id: &str) -> Result<(), BadRegistryId> {
    let printable = id.bytes().all(|b| b.is_ascii_graphic());
    if id.is_empty() || id.len() > MAX_ID_LEN || !printable {
        return Err(BadRegistryId(id.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_distinct_and_follow_the_id() {
        let identity = RegistryIdentity::new("a")
            .with_alias("a")
            .with_alias("b")
            .with_alias("b");
        assert_eq!(identity.aliases(), ["b"]);
        assert_eq!(identity.names().collect::<Vec<_>>(), ["a", "b"]);
        assert!(identity.is_source("b"));
        assert!(!identity.is_source("c"));
    }

    #[test]
    fn ids_are_printable_and_bounded() {
        for good in ["io.ggen.examples", "https://github.com/acme/index", "x"] {
            assert!(check_id(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "tab\t", "é", &"x".repeat(MAX_ID_LEN + 1)] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }
}
