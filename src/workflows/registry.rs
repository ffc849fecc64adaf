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
use std::sync::Arc;

use crate::format::{IndexConfig, RegistryIdentity};
use crate::home::{GgenHome, UserConfig};
use crate::sources::download::{DEFAULT_MAX_CONNECTIONS, Downloader};
use crate::sources::fallback::{FallbackSource, WarningSink};
use crate::sources::git::GitSource;
use crate::sources::http::HttpLimits;
use crate::sources::local::LocalSource;
use crate::sources::location::{LocationError, RegistryLocation};
use crate::sources::sparse::{SparseOptions, SparseSource};
use crate::sources::{PackageSource, SourceError, UpdateReport};
use crate::util::progress::Progress;
use crate::workflows::rollback::SeenGuard;

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
    /// Where it is read from.
    pub location: RegistryLocation,
    /// The registries it stands in for (`replace-with` in config.toml):
    /// their locks stay valid when read through this one.
    pub stands_for: Vec<RegistryLocation>,
    /// Its fallback mirrors (`mirrors` in config.toml), in order.
    pub mirrors: Vec<RegistryLocation>,
}

impl ChosenRegistry {
    /// The registry's identity in `ggen.lock` and the pin store, given its
    /// `config.json` (see `format::identity`): config.json's `id`, else the
    /// location of the registry it stands in for, else its own location;
    /// every location involved is an alias.
    pub fn identity(&self, config: &IndexConfig) -> RegistryIdentity {
        let own = self.location.source_id();
        let id = match (&config.id, self.stands_for.first()) {
            (Some(id), _) => id.clone(),
            (None, Some(upstream)) => upstream.source_id(),
            (None, None) => own.clone(),
        };
        self.stands_for
            .iter()
            .fold(RegistryIdentity::new(id).with_alias(own), |identity, upstream| {
                identity.with_alias(upstream.source_id())
            })
    }
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
         URLs: https://… (git), git://…, file://…, sparse+https://…, or a path.\n\
         The bundled example registry is ready to use: --registry {example}"
    )]
    NoneConfigured { config: String, example: String },
    /// The configured string is not a location.
    #[error("registry `{given}`: {source}")]
    Location { given: String, source: LocationError },
    /// `replace-with` names no registry of config.toml.
    #[error(
        "[registries.{name}] replace-with = \"{target}\" in {config}, but there is no [registries.{target}]; add it with the url of the mirror"
    )]
    UnknownReplacement {
        name: String,
        target: String,
        config: String,
    },
    /// `replace-with` entries that form a loop.
    #[error("[registries.{name}] replace-with in {config} leads back to itself; remove one replace-with of the loop")]
    ReplacementLoop { name: String, config: String },
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
    let parse = |url: &str| {
        RegistryLocation::parse(url).map_err(|source| RegistryError::Location {
            given: given.to_owned(),
            source,
        })
    };
    let Some(named) = config.registries.get(given) else {
        let location = parse(given)?;
        let name = config
            .registries
            .iter()
            .find(|(_, named)| RegistryLocation::parse(&named.url).ok().as_ref() == Some(&location))
            .map(|(name, _)| name.clone());
        let stands_for = replaced_by(name.as_deref(), config, &parse)?;
        let mirrors = match name.as_deref().and_then(|n| config.registries.get(n)) {
            Some(named) => named.mirrors.iter().map(|url| parse(url)).collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        return Ok(ChosenRegistry {
            name,
            location,
            stands_for,
            mirrors,
        });
    };
    let mut stands_for = Vec::new();
    let (mut name, mut named) = (given.to_owned(), named);
    while let Some(target) = &named.replace_with {
        stands_for.push(parse(&named.url)?);
        let error_context = (name.clone(), config_file.display().to_string());
        named = config
            .registries
            .get(target)
            .ok_or_else(|| RegistryError::UnknownReplacement {
                name: error_context.0.clone(),
                target: target.clone(),
                config: error_context.1.clone(),
            })?;
        name = target.clone();
        if name == given || stands_for.len() > config.registries.len() {
            return Err(RegistryError::ReplacementLoop {
                name: given.to_owned(),
                config: error_context.1,
            });
        }
    }
    for upstream in replaced_by(Some(&name), config, &parse)? {
        if !stands_for.contains(&upstream) {
            stands_for.push(upstream);
        }
    }
    Ok(ChosenRegistry {
        name: Some(name),
        location: parse(&named.url)?,
        stands_for,
        mirrors: named.mirrors.iter().map(|url| parse(url)).collect::<Result<_, _>>()?,
    })
}

/// The locations of the registries that `replace-with` the one named `name`.
fn replaced_by(
    name: Option<&str>,
    config: &UserConfig,
    parse: &dyn Fn(&str) -> Result<RegistryLocation, RegistryError>,
) -> Result<Vec<RegistryLocation>, RegistryError> {
    let Some(name) = name else {
        return Ok(Vec::new());
    };
    config
        .registries
        .values()
        .filter(|named| named.replace_with.as_deref() == Some(name))
        .map(|named| parse(&named.url))
        .collect()
}

/// How sources behave on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetOptions {
    /// Never open a socket.
    pub offline: bool,
    /// Parallel connections (sparse fetches, downloads).
    pub max_connections: Option<usize>,
    /// Timeouts, retries, redirects and size caps (`[net]` of config.toml).
    pub limits: HttpLimits,
}

impl NetOptions {
    /// The downloader of archives these options call for.
    fn downloader(&self) -> Downloader {
        Downloader::new(self.offline, self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS)).with_limits(self.limits)
    }
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
    /// A registry with fallback mirrors.
    Fallback(FallbackSource),
}

impl OpenedRegistry {
    /// The registry as a source of index files.
    pub fn source(&self) -> &dyn PackageSource {
        match self {
            OpenedRegistry::Directory(source) => source,
            OpenedRegistry::Sparse(source) => source,
            OpenedRegistry::Git(source) => source,
            OpenedRegistry::Fallback(source) => source,
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
/// commands stay fast and work offline. A registry with `mirrors` is read
/// through a [`FallbackSource`]: a mirror (or the registry itself) that
/// cannot be opened is left out with a warning to `warn`.
pub fn open(
    chosen: &ChosenRegistry,
    home: &GgenHome,
    net: NetOptions,
    progress: &dyn Progress,
    warn: &WarningSink,
) -> Result<Opened, RegistryError> {
    open_with(chosen, home, net, progress, warn, None)
}

/// Like [`open`], with every source of the registry (mirrors included)
/// held to `guard`: rollback protection (see `workflows::rollback`).
pub fn open_guarded(
    chosen: &ChosenRegistry,
    home: &GgenHome,
    net: NetOptions,
    progress: &dyn Progress,
    warn: &WarningSink,
    guard: Arc<SeenGuard>,
) -> Result<Opened, RegistryError> {
    open_with(chosen, home, net, progress, warn, Some(&guard))
}

fn open_with(
    chosen: &ChosenRegistry,
    home: &GgenHome,
    net: NetOptions,
    progress: &dyn Progress,
    warn: &WarningSink,
    guard: Option<&Arc<SeenGuard>>,
) -> Result<Opened, RegistryError> {
    let primary = open_location(&chosen.location, home, net, progress, guard);
    if chosen.mirrors.is_empty() {
        return primary;
    }
    let mut sources: Vec<Box<dyn PackageSource>> = Vec::new();
    let mut first_error = None;
    for opened in std::iter::once(primary).chain(
        chosen
            .mirrors
            .iter()
            .map(|location| open_location(location, home, net, progress, guard)),
    ) {
        match opened {
            Ok(opened) => sources.push(opened.registry.into_source()),
            Err(error) => {
                warn(&format!("{error}; trying the next mirror"));
                first_error.get_or_insert(error);
            }
        }
    }
    if sources.is_empty() {
        return Err(first_error.expect("a registry was tried"));
    }
    Ok(Opened {
        registry: OpenedRegistry::Fallback(FallbackSource::new(sources, warn.clone())),
        cloned: None,
    })
}

impl OpenedRegistry {
    /// The registry as an owned source.
    fn into_source(self) -> Box<dyn PackageSource> {
        match self {
            OpenedRegistry::Directory(source) => Box::new(source),
            OpenedRegistry::Sparse(source) => Box::new(source),
            OpenedRegistry::Git(source) => Box::new(source),
            OpenedRegistry::Fallback(source) => Box::new(source),
        }
    }
}

/// Opens one location (no mirrors).
fn open_location(
    location: &RegistryLocation,
    home: &GgenHome,
    net: NetOptions,
    progress: &dyn Progress,
    guard: Option<&Arc<SeenGuard>>,
) -> Result<Opened, RegistryError> {
    let cache_dir = home.registry_dir(location);
    let registry = match location {
        RegistryLocation::Directory { path } => {
            OpenedRegistry::Directory(LocalSource::open(path.clone())?.with_downloader(net.downloader()))
        }
        RegistryLocation::Sparse { .. } => {
            let mut options = SparseOptions {
                limits: net.limits,
                ..SparseOptions::default()
            };
            if let Some(max) = net.max_connections {
                options.max_connections = max;
            }
            let mut source = SparseSource::open(&location.source_id(), &cache_dir, net.offline, options)?;
            if let Some(guard) = guard {
                source = source.with_guard(guard.clone());
            }
            OpenedRegistry::Sparse(source)
        }
        RegistryLocation::Git { url } => {
            let mut source = GitSource::open(url, &cache_dir, net.offline)?.with_downloader(net.downloader());
            if let Some(guard) = guard {
                // The identity as of the clone held, before any fetch.
                if source.current_commit().is_some() {
                    guard.bind(&source.config()?);
                }
                source = source.with_guard(guard.clone());
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
[registries.upstream]
url = "sparse+https://registry.example/index/"
replace-with = "corp"

[registries.corp]
url = "sparse+http://mirror.corp.test/index/"
"#;

    fn chose(given: &str, config: &str) -> Result<ChosenRegistry, RegistryError> {
        choose(
            Some(given),
            &UserConfig::parse(config).unwrap(),
            Path::new("/h/config.toml"),
        )
    }

    #[test]
    fn a_replaced_registry_is_read_from_its_mirror_under_its_own_identity() {
        let upstream = "sparse+https://registry.example/index/";
        let mirror = "sparse+http://mirror.corp.test/index/";
        for given in ["upstream", "corp", "sparse+http://mirror.corp.test/index"] {
            let chosen = chose(given, CONFIG).unwrap();
            assert_eq!(chosen.location.source_id(), mirror, "{given}");
            assert_eq!(chosen.name.as_deref(), Some("corp"), "{given}");
            let identity = chosen.identity(&IndexConfig::with_dl("a/{crate}"));
            assert_eq!(identity.id(), upstream, "{given}: the lock keeps naming the upstream");
            assert!(identity.is_source(mirror), "{given}");
        }
        // An explicit id wins, and both locations stay aliases.
        let mut config = IndexConfig::with_dl("a/{crate}");
        config.id = Some("io.example".into());
        let identity = chose("upstream", CONFIG).unwrap().identity(&config);
        assert_eq!(identity.id(), "io.example");
        assert!(identity.is_source(upstream) && identity.is_source(mirror));
    }

    #[test]
    fn without_replacement_the_identity_is_the_id_or_the_location() {
        let chosen = chose("sparse+https://plain.test/i/", "").unwrap();
        assert!(chosen.stands_for.is_empty());
        let identity = chosen.identity(&IndexConfig::with_dl("a/{crate}"));
        assert_eq!(identity.id(), "sparse+https://plain.test/i/");
        assert!(identity.aliases().is_empty());
    }

    #[test]
    fn unknown_and_looping_replacements_are_refused() {
        let unknown = "[registries.a]\nurl = \"sparse+https://a.test/\"\nreplace-with = \"nope\"\n";
        let err = chose("a", unknown).unwrap_err().to_string();
        assert!(
            err.contains("[registries.nope]") && err.contains("/h/config.toml"),
            "{err}"
        );
        let looping = "[registries.a]\nurl = \"sparse+https://a.test/\"\nreplace-with = \"b\"\n\
                       [registries.b]\nurl = \"sparse+https://b.test/\"\nreplace-with = \"a\"\n";
        let err = chose("a", looping).unwrap_err();
        assert!(matches!(err, RegistryError::ReplacementLoop { .. }), "{err}");
    }
}
