//! The registry a mirror copies from, opened through
//! [`workflows::registry`](crate::workflows::registry) like any other: a
//! plain directory, a git repository (fetched first, so the mirror sees
//! its newest commit) or a sparse index.

use rayon::prelude::*;

use super::MirrorError;
use crate::format::name;
use crate::format::{IndexConfig, RegistryIdentity};
use crate::home::GgenHome;
use crate::sources::download::DEFAULT_MAX_CONNECTIONS;
use crate::sources::fallback::WarningSink;
use crate::sources::{EntryLine, PackageSource, SourceError, parse_entry_lines};
use crate::trust::owner_keys_path;
use crate::util::progress::Progress;
use crate::workflows::registry::{self, NetOptions, OpenedRegistry};

/// One package file of the upstream, as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamFile {
    /// The file name: the lowercased package name.
    pub name: String,
    /// Its path in the index (`se/rd/serde`).
    pub path: String,
    /// Its bytes, as served.
    pub text: String,
    /// Its non-blank lines, parsed.
    pub lines: Vec<EntryLine>,
}

/// An opened upstream registry.
pub struct Upstream {
    url: String,
    registry: OpenedRegistry,
    identity: RegistryIdentity,
    config: IndexConfig,
    commit: Option<String>,
    pool: rayon::ThreadPool,
}

impl Upstream {
    /// Opens the registry `url` (a URL, a path, or a name from
    /// `GGEN_HOME/config.toml`, with its fallback `mirrors`), caching under
    /// `home`. A git registry is fetched (unless `net.offline`), so the
    /// mirror is made from its newest commit.
    pub fn open(
        url: &str,
        home: &GgenHome,
        net: NetOptions,
        progress: &dyn Progress,
        warn: &WarningSink,
    ) -> Result<Self, MirrorError> {
        let user_config = home.load_config()?;
        let chosen = registry::choose(Some(url), &user_config, &home.config_file())?;
        let opened = registry::open(&chosen, home, net, progress, warn)?;
        if let OpenedRegistry::Git(git) = &opened.registry
            && opened.cloned.is_none()
            && !net.offline
        {
            git.update(progress)?;
        }
        let config = opened.registry.source().config()?;
        let commit = match &opened.registry {
            OpenedRegistry::Git(git) => git.current_commit(),
            OpenedRegistry::Directory(_) | OpenedRegistry::Sparse(_) | OpenedRegistry::Fallback(_) => None,
        };
        let workers = net.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS).max(1);
        // A path is kept absolute, so `mirror update` works from anywhere.
        let url = std::fs::canonicalize(url)
            .map(|path| path.display().to_string())
            .unwrap_or_else(|_| url.to_owned());
        Ok(Upstream {
            url,
            identity: chosen.identity(&config),
            registry: opened.registry,
            config,
            commit,
            pool: rayon::ThreadPoolBuilder::new()
                .num_threads(workers)
                .build()
                .expect("a thread pool can be built"),
        })
    }

    /// The URL or name it was opened by, or the absolute path.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The upstream as a source of index files and archives.
    pub fn source(&self) -> &dyn PackageSource {
        self.registry.source()
    }

    /// The identity a lock made against the upstream records; the mirror's
    /// `config.json` carries it as its `id`.
    pub fn identity(&self) -> &RegistryIdentity {
        &self.identity
    }

    /// The upstream's `config.json`.
    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    /// The git commit read, for a git upstream.
    pub fn commit(&self) -> Option<&str> {
        self.commit.as_deref()
    }

    /// Runs `work` on every item on the upstream's pool (as wide as its
    /// connection limit: the work is mostly waiting for the network).
    pub(super) fn par_map<T: Sync, R: Send>(&self, items: &[T], work: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
        self.pool.install(|| items.par_iter().map(work).collect())
    }

    /// Like [`Upstream::par_map`] for fallible work: stops at the first
    /// error, which it returns.
    pub(super) fn par_try_map<T: Sync, R: Send, E: Send>(
        &self,
        items: &[T],
        work: impl Fn(&T) -> Result<R, E> + Sync + Send,
    ) -> Result<Vec<R>, E> {
        self.pool.install(|| items.par_iter().map(work).collect())
    }

    /// The package file of `requested`, found the way Cargo looks names up
    /// (lowercased, then the `-`/`_` variants), or `None`.
    pub fn read_package(&self, requested: &str) -> Result<Option<UpstreamFile>, SourceError> {
        for variant in name::lookup_variants(requested) {
            if name::validate_for_reading(&variant).is_err() {
                return Ok(None);
            }
            if let Some(text) = self.source().read_package_file(&variant)? {
                let path = name::index_path(&variant);
                let lines = parse_entry_lines(&format!("{} {path}", self.source().describe()), &text)?;
                return Ok(Some(UpstreamFile {
                    name: variant,
                    path,
                    text,
                    lines,
                }));
            }
        }
        Ok(None)
    }

    /// [`Upstream::read_package`] of every name, in parallel, in order.
    pub fn read_packages(
        &self,
        names: &[String],
        progress: &dyn Progress,
    ) -> Vec<Result<Option<UpstreamFile>, SourceError>> {
        self.par_map(names, |name| {
            let read = self.read_package(name);
            progress.advance(1);
            read
        })
    }

    /// The owner-keys file of a package, if it has one.
    pub fn read_owner_keys(&self, file_name: &str) -> Result<Option<String>, SourceError> {
        self.source().read_index_file(&owner_keys_path(file_name))
    }

    /// Whether the upstream uses signatures: index-wide keys, or a policy
    /// that requires them. Owner-keys files are read only then, or for
    /// packages with a signed version.
    pub fn signs(&self) -> bool {
        !self.config.keys.is_empty() || self.config.signatures == crate::format::SignaturePolicy::Required
    }
}
