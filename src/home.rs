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

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sources::http::{HttpLimits, RetryPolicy};
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

/// The `[net]` table. Unset keys take the defaults of [`HttpLimits`].
///
/// ```
/// use std::time::Duration;
/// use ggen_marketplace::home::UserConfig;
/// let config = UserConfig::parse("[net]\nread-timeout = 0.5\nretries = 0\nmax-archive-size = 1048576\n").unwrap();
/// let limits = config.net.limits();
/// assert_eq!(limits.read_timeout, Duration::from_millis(500));
/// assert_eq!(limits.retry.max_tries, 1);
/// assert_eq!(limits.max_archive_size, 1 << 20);
/// assert_eq!(limits.connect_timeout, Duration::from_secs(10), "a default");
/// assert!(UserConfig::parse("[net]\ntotal-timeout = 0\n").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NetConfig {
    /// Never open a socket (like `--offline`).
    #[serde(default)]
    pub offline: bool,
    /// Parallel HTTP connections for sparse fetches and downloads (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Seconds to wait for a connection (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Seconds>,
    /// Seconds to wait for the next bytes of an answer (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_timeout: Option<Seconds>,
    /// Seconds one request may take in all, body included (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_timeout: Option<Seconds>,
    /// Retries of a transient failure after the first try (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Redirects followed per request (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_redirects: Option<u32>,
    /// Bytes an index file may have (default 32 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_index_file_size: Option<u64>,
    /// Bytes an archive may have (default 1 GiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_archive_size: Option<u64>,
}

impl NetConfig {
    /// The HTTP limits these settings give.
    pub fn limits(&self) -> HttpLimits {
        let defaults = HttpLimits::default();
        let seconds = |value: Option<Seconds>, default| value.map_or(default, |s| s.0);
        HttpLimits {
            connect_timeout: seconds(self.connect_timeout, defaults.connect_timeout),
            read_timeout: seconds(self.read_timeout, defaults.read_timeout),
            total_timeout: seconds(self.total_timeout, defaults.total_timeout),
            retry: RetryPolicy {
                max_tries: self
                    .retries
                    .map_or(defaults.retry.max_tries, |retries| retries.saturating_add(1)),
                ..defaults.retry
            },
            max_redirects: self.max_redirects.unwrap_or(defaults.max_redirects),
            max_index_file_size: self.max_index_file_size.unwrap_or(defaults.max_index_file_size),
            max_archive_size: self.max_archive_size.unwrap_or(defaults.max_archive_size),
        }
    }
}

/// A positive number of seconds in config.toml: `30`, or `0.5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl Serialize for Seconds {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0.as_secs_f64())
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        match Duration::try_from_secs_f64(seconds) {
            Ok(duration) if !duration.is_zero() => Ok(Seconds(duration)),
            _ => Err(serde::de::Error::custom(format!(
                "{seconds} is not a timeout: give a positive number of seconds, e.g. 30 or 0.5"
            ))),
        }
    }
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
