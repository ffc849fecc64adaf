//! Choosing and opening the registry a command works on.
//!
//! Precedence: `--registry URL|NAME`, then `GGEN_REGISTRY` (the CLI merges
//! the two), then `default-registry` in `GGEN_HOME/config.toml`. A NAME is
//! looked up in `[registries]`; anything else is a URL or path.
//!
//! ```
//! use std::path::Path;
//! use ggen_marketplace::home::UserConfig;
//! use ggen_marketplace::workflows::registry::choose;
//! let config = UserConfig::parse("[registries.acme]\nurl = \"sparse+https://acme.test/index/\"\n").unwrap();
//! let file = Path::new("/home/me/.ggen/config.toml");
//! let chosen = choose(Some("acme"), &config, file).unwrap();
//! assert_eq!(chosen.name.as_deref(), Some("acme"));
//! let none = choose(None, &UserConfig::default(), file).unwrap_err().to_string();
//! assert!(none.contains("--registry") && none.contains("/home/me/.ggen/config.toml"), "{none}");
//! ```

use std::path::{Path, PathBuf};

use crate::home::{GgenHome, UserConfig};
use crate::sources::git::GitSource;
use crate::sources::local::LocalSource;
use crate::sources::location::{LocationError, RegistryLocation};
use crate::sources::sparse::{SparseOptions, SparseSource};
use crate::sources::{PackageSource, SourceError, UpdateReport};
use crate::util::progress::Progress;

/// The registry bundled with the toolkit's sources, ready to try.
pub fn bundled_example_registry() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join("registry")
}

/// A registry chosen for a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenRegistry {
    /// Its name in config.toml, if it was chosen by name.
    pub name: Option<String>,
    /// Where it is.
    pub location: RegistryLocation,
}

/// Why no registry could be chosen or opened.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum RegistryError {
    /// Nothing configured anywhere.
    #[error(
        "no registry configured. Choose one with any of:\n  \
         --registry URL|NAME          (this command only)\n  \
         export GGEN_REGISTRY=URL     (this shell)\n  \
         default-registry = \"NAME\"    in {config} with [registries.NAME] url = \"URL\"\n\
         URLs: git+https://…, git://…, file://…, sparse+https://…, or a path.\n\
         The bundled example registry is ready to use: --registry {example}"
    )]
    NoneConfigured { config: String, example: String },
    /// The configured string is not a location.
    #[error("registry `{given}`: {source}")]
    Location { given: String, source: LocationError },
    /// The source could not be opened.
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Picks the registry from the flag/env value or the default of `config`,
/// read from `config_file` (named in the error when nothing is chosen).
pub fn choose(
    flag_or_env: Option<&str>,
    config: &UserConfig,
    config_file: &Path,
) -> Result<ChosenRegistry, RegistryError> {
    let Some(given) = flag_or_env.or(config.default_registry.as_deref()) else {
        return Err(RegistryError::NoneConfigured {
            config: config_file.display().to_string(),
            example: bundled_example_registry().display().to_string(),
        });
    };
    let (name, url) = match config.registries.get(given) {
        Some(named) => (Some(given.to_owned()), named.url.as_str()),
        None => (None, given),
    };
    let location = RegistryLocation::parse(url).map_err(|source| RegistryError::Location {
        given: given.to_owned(),
        source,
    })?;
    Ok(ChosenRegistry { name, location })
}

/// How sources behave on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetOptions {
    /// Never open a socket.
    pub offline: bool,
    /// Parallel connections (sparse fetches, downloads).
    pub max_connections: Option<usize>,
}

/// An opened registry, by transport: most callers want it as a
/// [`PackageSource`]; `sync NAME…` needs the sparse source's closure fetch.
pub enum OpenedRegistry {
    /// A plain directory.
    Directory(LocalSource),
    /// A sparse HTTP index.
    Sparse(SparseSource),
    /// A git repository, cloned.
    Git(GitSource),
}

impl OpenedRegistry {
    /// The registry as a source of index files.
    pub fn source(&self) -> &dyn PackageSource {
        match self {
            OpenedRegistry::Directory(source) => source,
            OpenedRegistry::Sparse(source) => source,
            OpenedRegistry::Git(source) => source,
        }
    }
}

/// An opened registry, and the clone opening it made, if any.
pub struct Opened {
    /// The registry.
    pub registry: OpenedRegistry,
    /// What the first clone of a git registry did, when opening made it:
    /// `sync` reports it instead of fetching again.
    pub cloned: Option<UpdateReport>,
}

/// Opens the chosen registry with the transport its location calls for,
/// caching under `home`. A git registry used for the first time is cloned
/// now (reporting to `progress`); after that only `sync` fetches, so
/// commands stay fast and work offline.
pub fn open(
    chosen: &ChosenRegistry,
    home: &GgenHome,
    net: NetOptions,
    progress: &dyn Progress,
) -> Result<Opened, RegistryError> {
    let cache_dir = home.registry_dir(&chosen.location);
    let registry = match &chosen.location {
        RegistryLocation::Directory { path } => OpenedRegistry::Directory(LocalSource::open(path.clone())?),
        RegistryLocation::Sparse { .. } => {
            let mut options = SparseOptions::default();
            if let Some(max) = net.max_connections {
                options.max_connections = max;
            }
            let source = SparseSource::open(&chosen.location.source_id(), &cache_dir, net.offline, options)?;
            OpenedRegistry::Sparse(source)
        }
        RegistryLocation::Git { url } => {
            let source = GitSource::open(url, &cache_dir, net.offline)?;
            if !net.offline && source.current_commit().is_none() {
                let cloned = source.update(progress)?;
                return Ok(Opened {
                    registry: OpenedRegistry::Git(source),
                    cloned: Some(cloned),
                });
            }
            OpenedRegistry::Git(source)
        }
    };
    Ok(Opened { registry, cloned: None })
}
