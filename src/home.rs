//! `GGEN_HOME` (default `~/.ggen`): the user's configuration and every
//! cache the toolkit keeps.
//!
//! ```text
//! GGEN_HOME/
//!   config.toml                 named registries, the default one, network settings
//!   registries/<id>/            a git clone or a sparse cache, one per registry
//!   archives/<sha256>.tar.gz    downloaded archives, content-addressed
//!   packages/<name>-<version>/  extracted packages, read-only
//!   trust/                      pinned signing keys, and what was seen of each
//!                               registry (`trust::seen`)
//!   keys/                       keys made by `ggen-market keygen`
//! ```
//!
//! ```
//! use ggen_marketplace::home::{GgenHome, UserConfig};
//! let home = GgenHome::at("/tmp/ggen-home");
//! assert!(home.packages_dir().ends_with("packages"));
//! let config = UserConfig::parse(r#"
//! default-registry = "acme"
//! [registries.acme]
//! url = "sparse+https://registry.acme.test/index/"
//! "#).unwrap();
//! assert_eq!(config.registries["acme"].url, "sparse+https://registry.acme.test/index/");
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sources::location::RegistryLocation;

/// The environment variable that moves `GGEN_HOME`.
pub const GGEN_HOME_ENV: &str = "GGEN_HOME";

/// The root of the user's ggen state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgenHome {
    root: PathBuf,
}

/// Why `GGEN_HOME` or its config cannot be used.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum HomeError {
    /// Neither `GGEN_HOME` nor `HOME` is set.
    #[error("cannot find a home directory: set GGEN_HOME (e.g. export GGEN_HOME=$PWD/.ggen)")]
    NoHome,
    /// config.toml could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// config.toml is not valid.
    #[error("{} is not valid: {source}", path.display())]
    Config { path: PathBuf, source: toml::de::Error },
}

impl GgenHome {
    /// `GGEN_HOME`, or `~/.ggen`.
    pub fn from_env() -> Result<Self, HomeError> {
        if let Some(root) = std::env::var_os(GGEN_HOME_ENV).filter(|v| !v.is_empty()) {
            return Ok(Self::at(root));
        }
        let home = std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .ok_or(HomeError::NoHome)?;
        Ok(Self::at(Path::new(&home).join(".ggen")))
    }

    /// A home rooted at `root`.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        GgenHome { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// The clone or cache of one registry.
    pub fn registry_dir(&self, location: &RegistryLocation) -> PathBuf {
        self.root.join("registries").join(location.cache_id())
    }

    /// Content-addressed archives.
    pub fn archives_dir(&self) -> PathBuf {
        self.root.join("archives")
    }

    /// Extracted packages.
    pub fn packages_dir(&self) -> PathBuf {
        self.root.join("packages")
    }

    /// Pinned keys.
    pub fn trust_dir(&self) -> PathBuf {
        self.root.join("trust")
    }

    /// Keys made by `keygen`.
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }

    /// The lock that serializes installs into this home.
    pub fn install_lock(&self) -> PathBuf {
        self.root.join(".install.lock")
    }

    /// Reads `config.toml`; a missing file is an empty config.
    pub fn load_config(&self) -> Result<UserConfig, HomeError> {
        let path = self.config_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => UserConfig::parse(&text).map_err(|source| HomeError::Config { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UserConfig::default()),
            Err(source) => Err(HomeError::Read { path, source }),
        }
    }
}

/// `GGEN_HOME/config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct UserConfig {
    /// The registry used when no `--registry` or `GGEN_REGISTRY` is given: a
    /// name from `[registries]` or a URL/path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_registry: Option<String>,
    /// Named registries.
    #[serde(default)]
    pub registries: BTreeMap<String, NamedRegistry>,
    /// Network settings.
    #[serde(default)]
    pub net: NetConfig,
}

/// One `[registries.NAME]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedRegistry {
    /// The registry URL or path (see `sources::location`).
    pub url: String,
    /// Another named registry that serves this one's packages (a mirror):
    /// choosing this registry reads that one, and `ggen.lock` keeps this
    /// registry's identity, as Cargo's `[source] replace-with` does.
    #[serde(default, rename = "replace-with", skip_serializing_if = "Option::is_none")]
    pub replace_with: Option<String>,
    /// Fallback mirrors of this registry (URLs or paths), tried in order
    /// when it cannot be reached or serves an archive that does not match
    /// its checksum (see `sources::fallback`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<String>,
}

/// The `[net]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NetConfig {
    /// Never open a socket (like `--offline`).
    #[serde(default)]
    pub offline: bool,
    /// Parallel HTTP connections for sparse fetches and downloads (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
}

impl UserConfig {
    /// Parses config.toml text.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_config_is_empty_and_a_bad_one_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let home = GgenHome::at(dir.path());
        assert_eq!(home.load_config().unwrap(), UserConfig::default());
        std::fs::write(home.config_file(), "[registries.x]\nurl = 1\n").unwrap();
        let err = home.load_config().unwrap_err();
        assert!(err.to_string().contains("config.toml"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(
            UserConfig::parse("default_registry = \"x\"\n").is_err(),
            "kebab-case only"
        );
        let config = UserConfig::parse("[net]\noffline = true\nmax-connections = 4\n").unwrap();
        assert!(config.net.offline);
        assert_eq!(config.net.max_connections, Some(4));
    }
}
