//! An index served as static files over HTTP (`sparse+http(s)://…`), read
//! one package file at a time like Cargo's sparse protocol, with an on-disk
//! cache that is revalidated (`If-None-Match` / `If-Modified-Since`, 304)
//! rather than refetched.
//!
//! - `config.json` is read first; a 404 there means the URL is not an index.
//! - A package file answered with 404, 410 or 451 does not exist; that
//!   answer is cached too, so offline mode can say so.
//! - The cache (`GGEN_HOME/registries/<id>/`) holds one file per index path,
//!   at that path: a JSON header line (the status, ETag and Last-Modified
//!   the server gave, and the SHA-256 of the content), then the bytes served.
//! - Within one process each file is fetched or revalidated at most once.
//! - [`SparseSource::prefetch_closure`] fetches packages and everything they
//!   depend on (`ggen-market sync NAME…`), and [`PackageSource::update`]
//!   revalidates the whole cache, both in parallel over a bounded number of
//!   reused connections. A resolution reads only the files it reaches, and
//!   asks for each tried version's dependencies at once
//!   ([`PackageSource::prefetch_packages`]), so it waits one round trip per
//!   version, as Cargo's resolver does.
//! - Transient failures are retried as [`http::get_with_retries`] says; a
//!   failed download never replaces a cached file.
//! - Offline, the source never opens a socket and answers from the cache.
//!
//! ```
//! use ggen_marketplace::sources::{PackageSource, SourceError};
//! use ggen_marketplace::sources::sparse::{SparseOptions, SparseSource};
//! let cache = tempfile::tempdir().unwrap();
//! // Offline with an empty cache: nothing is known and nothing is fetched.
//! let source = SparseSource::open("sparse+http://127.0.0.1:9/index/", cache.path(), true, SparseOptions::default()).unwrap();
//! assert_eq!(source.download_base(), "http://127.0.0.1:9/index/");
//! assert!(source.package_names().unwrap().is_none());
//! let error = source.entries("serde").unwrap_err();
//! assert!(matches!(error, SourceError::Offline { .. }));
//! assert!(error.to_string().contains("ggen-market sync serde"));
//! assert_eq!(source.requests_sent(), 0);
//! ```

mod cache;
mod pool;

use self::cache::{CachedFile, DiskCache};
use super::download::Downloader;
use super::guard::{HistoryGuard, HistoryRefusal};
use super::http::{self, HttpLimits, HttpResponse, Validators};
use super::{NameListing, PackageSource, SourceError, UpdateReport};
use crate::format::entry::{DepKind, Dependency};
use crate::format::rules::package_file::is_at_its_shard;
use crate::format::{CONFIG_FILE, IndexConfig, SignaturePolicy, name};
use crate::util::progress::Progress;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// How a sparse source uses the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SparseOptions {
    /// The most requests in flight at once, and connections kept for reuse.
    pub max_connections: usize,
    /// Timeouts, retries, redirects and size caps, for index files and
    /// archives alike.
    pub limits: HttpLimits,
}

impl Default for SparseOptions {
    /// 16 connections, [`HttpLimits::default`].
    fn default() -> Self {
        SparseOptions {
            max_connections: 16,
            limits: HttpLimits::default(),
        }
    }
}

/// What [`SparseSource::prefetch_closure`] did, for people and for `--json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PrefetchReport {
    /// Packages found (the roots and everything they depend on).
    pub packages: usize,
    /// Names asked for, or depended on, that the index does not have.
    pub not_found: Vec<String>,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Files downloaded (200).
    pub fetched: u64,
    /// Files revalidated unchanged (304).
    pub not_modified: u64,
    /// Answers of 404, 410 or 451 (including `-`/`_` variants tried).
    pub missing: u64,
}

/// A sparse HTTP index with its on-disk cache.
#[derive(Debug)]
pub struct SparseSource {
    /// The URL as given, `sparse+` included, for messages.
    url: String,
    /// The index's base URL, without `sparse+`, ending in `/`.
    base: String,
    cache: DiskCache,
    /// `None` offline: no agent, so no socket can be opened.
    agent: Option<ureq::Agent>,
    options: SparseOptions,
    /// Archives have their own connections: an archive host is often not
    /// the index host.
    downloader: Downloader,
    /// Index path → what this process learned of it, so each file is
    /// fetched at most once. Each slot has its own lock: a second reader of
    /// a file being fetched waits for that fetch instead of repeating it.
    memo: Mutex<HashMap<String, Arc<Mutex<Option<Known>>>>>,
    requests: AtomicU64,
    /// Consulted before a refreshed package file replaces the cached one
    /// (rollback protection).
    guard: Option<Arc<dyn HistoryGuard>>,
}

/// What is known of one index path.
#[derive(Debug, Clone)]
enum Known {
    Present(Arc<str>),
    Missing,
}

/// What reading one file took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Known already in this process, or read from the cache offline.
    NoRequest,
    Fetched {
        changed: bool,
    },
    NotModified,
    Missing {
        changed: bool,
    },
}

/// A file read and what it took.
struct Read {
    known: Known,
    outcome: Outcome,
    attempts: u32,
}

impl SparseSource {
    /// Opens the index at `url` (`sparse+http://…` or `sparse+https://…`)
    /// with its cache in `cache_dir`. Nothing is read or fetched yet. With
    /// `offline`, no HTTP client is even built: every answer comes from the
    /// cache.
    pub fn open(url: &str, cache_dir: &Path, offline: bool, options: SparseOptions) -> Result<Self, SourceError> {
        let base = base_url(url)?;
        let agent = (!offline).then(|| http::new_agent(options.max_connections, &options.limits));
        Ok(SparseSource {
            url: url.to_owned(),
            downloader: Downloader::new(offline, options.max_connections).with_limits(options.limits),
            base,
            cache: DiskCache::new(cache_dir),
            agent,
            options,
            memo: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            guard: None,
        })
    }

    /// The same source, holding every refreshed package file to `guard`
    /// before it replaces the cached one. A refused file keeps the cached
    /// copy (the guard reports the refusal); with no cached copy, the read
    /// fails.
    pub fn with_guard(mut self, guard: Arc<dyn HistoryGuard>) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Whether the source was opened offline.
    pub fn is_offline(&self) -> bool {
        self.agent.is_none()
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The names of the packages the cache holds a file for, sorted: what
    /// search can look through without the network.
    pub fn cached_package_names(&self) -> Result<Vec<String>, SourceError> {
        Ok(self
            .cache
            .packages()?
            .into_iter()
            .filter_map(|(name, exists)| exists.then_some(name))
            .collect())
    }

    /// Fetches (or revalidates) the files of `names` and of every package
    /// they depend on, transitively: normal and build dependencies of every
    /// version, under their real names (renames followed), skipping those
    /// from other registries. Dev-dependencies are skipped for the roots
    /// too: the roots are registry packages to install, and installing a
    /// package (like `cargo install`) never builds its dev-dependencies.
    /// Up to `max_connections` requests run at once, and each name is queued
    /// as soon as the file naming it arrives.
    ///
    /// Where signatures are in use — the index has keys or requires
    /// signatures, or a package has a signed version — the package's
    /// owner-keys file (`_keys/…`, DESIGN §4) is fetched too, so signatures
    /// can be checked offline afterwards.
    pub fn prefetch_closure(&self, names: &[String], progress: &dyn Progress) -> Result<PrefetchReport, SourceError> {
        progress.start("fetching index files", 0);
        let tally = Tally::default();
        if let Some(config) = self.ensure_index()? {
            tally.add(&config);
        }
        let index_signs = match self.config() {
            Ok(config) => !config.keys.is_empty() || config.signatures == SignaturePolicy::Required,
            // Offline with package files but no config.json cached: look at the entries only.
            Err(SourceError::Offline { .. }) => false,
            Err(error) => return Err(error),
        };
        let not_found = Mutex::new(Vec::new());
        let result = pool::visit_all(names, self.options.max_connections, |name| {
            let found = self.find_package(name, &tally)?;
            progress.advance(1);
            match found {
                Some((rel, text)) => {
                    tally.packages.fetch_add(1, Ordering::Relaxed);
                    let closure = PackageClosure::of(&text);
                    if index_signs || closure.signed {
                        let keys = owner_keys_path(&rel);
                        tally.add(&self.read_file(&keys, &keys)?);
                    }
                    Ok(closure.dependencies)
                }
                None => {
                    lock(&not_found).push(name.to_owned());
                    Ok(Vec::new())
                }
            }
        });
        progress.finish();
        result?;
        let mut not_found = not_found.into_inner().unwrap_or_else(PoisonError::into_inner);
        not_found.sort();
        Ok(tally.report(not_found))
    }

    /// Reads a package file under each spelling Cargo would try, noting what
    /// each read took. Returns the file's index path and text.
    fn find_package(&self, name: &str, tally: &Tally) -> Result<Option<(String, Arc<str>)>, SourceError> {
        for variant in name::lookup_variants(name) {
            let Some(rel) = package_path(&variant) else {
                return Ok(None);
            };
            let read = self.read_file(&rel, &variant)?;
            tally.add(&read);
            if let Known::Present(text) = read.known {
                return Ok(Some((rel, text)));
            }
        }
        Ok(None)
    }

    /// Fails with [`SourceError::NoConfig`] unless the URL serves an index;
    /// returns what reading `config.json` took. Online only: offline, cached
    /// package files are enough.
    fn ensure_index(&self) -> Result<Option<Read>, SourceError> {
        if self.is_offline() {
            return Ok(None);
        }
        let read = self.read_file(CONFIG_FILE, CONFIG_FILE)?;
        match read.known {
            Known::Present(_) => Ok(Some(read)),
            Known::Missing => Err(SourceError::NoConfig {
                location: self.url.clone(),
            }),
        }
    }

    /// What is known of `rel`, from this process's memory, else from the
    /// network (revalidating the cached copy), else — offline — from the
    /// cache. `subject` is the package name (or `config.json`) for messages.
    fn read_file(&self, rel: &str, subject: &str) -> Result<Read, SourceError> {
        let slot = lock(&self.memo).entry(rel.to_owned()).or_default().clone();
        let mut known = lock(&slot);
        if let Some(known) = known.as_ref() {
            return Ok(Read {
                known: known.clone(),
                outcome: Outcome::NoRequest,
                attempts: 0,
            });
        }
        let read = match &self.agent {
            Some(agent) => self.fetch(agent, rel)?,
            None => self.read_cached(rel, subject)?,
        };
        *known = Some(read.known.clone());
        Ok(read)
    }

    fn read_cached(&self, rel: &str, subject: &str) -> Result<Read, SourceError> {
        let known = match self.cache.load(rel).map_err(|source| SourceError::Cache { source })? {
            CachedFile::Present { bytes, .. } => Known::Present(self.text(bytes, rel)?),
            CachedFile::Missing => Known::Missing,
            CachedFile::Unknown => {
                let (what, command) = if rel == CONFIG_FILE {
                    (CONFIG_FILE.to_owned(), "ggen-market sync".to_owned())
                } else {
                    (format!("package `{subject}`"), format!("ggen-market sync {subject}"))
                };
                return Err(SourceError::Offline {
                    what,
                    registry: self.url.clone(),
                    command,
                });
            }
        };
        Ok(Read {
            known,
            outcome: Outcome::NoRequest,
            attempts: 0,
        })
    }

    /// GETs `rel`, conditionally if the cache holds a copy, and records the
    /// answer in the cache. Only a whole answer is ever written.
    fn fetch(&self, agent: &ureq::Agent, rel: &str) -> Result<Read, SourceError> {
        let cached = self.cache.load(rel).map_err(|source| SourceError::Cache { source })?;
        let validators = match &cached {
            CachedFile::Present { validators, .. } => validators.clone(),
            CachedFile::Missing | CachedFile::Unknown => Validators::default(),
        };
        let url = format!("{}{rel}", self.base);
        let limits = &self.options.limits;
        let response = http::get_with_retries(agent, &url, &validators, &limits.retry, limits.index_file_cap())
            .inspect_err(|e| {
                self.requests.fetch_add(u64::from(e.attempts()), Ordering::Relaxed);
            })?;
        self.requests.fetch_add(u64::from(response.attempts), Ordering::Relaxed);
        let attempts = response.attempts;
        // Garbage (an HTML page served with 200) is a fault of the transfer,
        // named as such, before the guard reads it as a rewrite.
        if response.is_ok()
            && let Ok(text) = std::str::from_utf8(&response.body)
        {
            check_index_file(rel, &url, text)?;
        }
        if let Some(kept) = self.refused_refresh(rel, &cached, &response)? {
            return Ok(Read {
                known: kept,
                outcome: Outcome::NotModified,
                attempts,
            });
        }
        let (known, outcome) = match (cached, response) {
            (CachedFile::Present { bytes, .. }, response) if response.is_not_modified() => {
                (Known::Present(self.text(bytes, &url)?), Outcome::NotModified)
            }
            (cached, response) if response.is_missing() => {
                let changed = cached != CachedFile::Missing;
                if changed {
                    self.cache
                        .store_missing(rel, response.status)
                        .map_err(|source| SourceError::Cache { source })?;
                }
                (Known::Missing, Outcome::Missing { changed })
            }
            (cached, response) => self.store_fetched(rel, &url, cached, response)?,
        };
        Ok(Read {
            known,
            outcome,
            attempts,
        })
    }

    /// Holds a refreshed package file to the guard: `Some(cached copy)` if
    /// the guard refused it, `None` if it may be taken (or is no package
    /// file, or did not change).
    fn refused_refresh(
        &self,
        rel: &str,
        cached: &CachedFile,
        response: &HttpResponse,
    ) -> Result<Option<Known>, SourceError> {
        let Some(guard) = &self.guard else {
            return Ok(None);
        };
        if response.is_not_modified() || !is_at_its_shard(rel) {
            return Ok(None);
        }
        let file_name = name::file_name_of(rel);
        let previous = match cached {
            CachedFile::Present { bytes, .. } => std::str::from_utf8(bytes).ok(),
            CachedFile::Missing | CachedFile::Unknown => None,
        };
        let now = match response.is_missing() {
            true => None,
            false => match std::str::from_utf8(&response.body) {
                Ok(text) => Some(text),
                Err(_) => return Ok(None), // refused as not UTF-8 when read
            },
        };
        if previous == now && previous.is_some() {
            return Ok(None);
        }
        let Err(rewrite) = guard.admit_package(file_name, previous, now, self) else {
            return Ok(None);
        };
        match previous {
            Some(text) => Ok(Some(Known::Present(Arc::from(text)))),
            None => Err(HistoryRefusal::Rewritten {
                registry: self.url.clone(),
                rewrites: vec![rewrite],
            }
            .into()),
        }
    }

    /// Records a 2xx answer (`fetch` has checked it is an index file),
    /// unless the cache already holds exactly it.
    fn store_fetched(
        &self,
        rel: &str,
        url: &str,
        cached: CachedFile,
        response: HttpResponse,
    ) -> Result<(Known, Outcome), SourceError> {
        let (changed, unchanged_metadata) = match &cached {
            CachedFile::Present { bytes, validators } => (
                *bytes != response.body,
                *bytes == response.body && *validators == response.validators,
            ),
            CachedFile::Missing | CachedFile::Unknown => (true, false),
        };
        let text = self.text(response.body, url)?;
        if !unchanged_metadata {
            self.cache
                .store_present(rel, text.as_bytes(), &response.validators)
                .map_err(|source| SourceError::Cache { source })?;
        }
        Ok((Known::Present(text), Outcome::Fetched { changed }))
    }

    fn text(&self, bytes: Vec<u8>, location: &str) -> Result<Arc<str>, SourceError> {
        String::from_utf8(bytes)
            .map(Arc::from)
            .map_err(|_| SourceError::NotUtf8 {
                location: location.to_owned(),
            })
    }

    /// Every index path the cache knows something about, with the name it
    /// is known by: `config.json`, the package and owner-keys files it holds
    /// and those it knows are missing.
    fn cached_paths(&self) -> Result<Vec<(String, String)>, SourceError> {
        let packages = self
            .cache
            .packages()?
            .into_iter()
            .map(|(name, _)| (name::index_path(&name), name));
        let owner_keys = self.cache.owner_keys()?.into_iter().map(|(name, _)| {
            let rel = owner_keys_path(&name::index_path(&name));
            (rel.clone(), rel)
        });
        let mut paths: Vec<(String, String)> = packages.chain(owner_keys).collect();
        if self
            .cache
            .load(CONFIG_FILE)
            .map_err(|source| SourceError::Cache { source })?
            != CachedFile::Unknown
        {
            paths.push((CONFIG_FILE.to_owned(), CONFIG_FILE.to_owned()));
        }
        Ok(paths)
    }
}

impl PackageSource for SparseSource {
    fn describe(&self) -> String {
        self.url.clone()
    }

    fn config(&self) -> Result<IndexConfig, SourceError> {
        match self.read_file(CONFIG_FILE, CONFIG_FILE)?.known {
            Known::Present(text) => IndexConfig::from_json(&text).map_err(|source| SourceError::RemoteConfig {
                location: format!("{}{CONFIG_FILE}", self.base),
                source,
            }),
            Known::Missing => Err(SourceError::NoConfig {
                location: self.url.clone(),
            }),
        }
    }

    fn read_index_file(&self, rel: &str) -> Result<Option<String>, SourceError> {
        if !is_plain_relative_path(rel) {
            return Ok(None);
        }
        self.ensure_index()?;
        // Package files and owner-key files both end in the package name.
        let subject = rel.rsplit('/').next().unwrap_or(rel);
        Ok(match self.read_file(rel, subject)?.known {
            Known::Present(text) => Some(text.to_string()),
            Known::Missing => None,
        })
    }

    /// Fetches the files of `names` on every connection at once, so that a
    /// resolver reading a version's dependencies waits for one round trip,
    /// not one per dependency.
    fn prefetch_packages(&self, names: &[String]) {
        if self.is_offline() || names.len() < 2 {
            return;
        }
        let tally = Tally::default();
        let _ = pool::visit_all(names, self.options.max_connections, |name| {
            self.find_package(name, &tally).map(|_| Vec::new())
        });
    }

    /// A sparse index cannot list its packages; see
    /// [`SparseSource::cached_package_names`].
    fn package_names(&self) -> Result<Option<Vec<String>>, SourceError> {
        Ok(None)
    }

    /// Search looks through what the cache holds, and says so.
    /// The cached names; online, config.json is fetched first, so a
    /// mistyped or unreachable URL is an error naming it rather than an
    /// empty result.
    fn searchable_names(&self) -> Result<NameListing, SourceError> {
        self.ensure_index()?;
        Ok(NameListing {
            names: self.cached_package_names()?,
            complete: false,
        })
    }

    fn download_base(&self) -> String {
        self.base.clone()
    }

    fn downloader(&self) -> &Downloader {
        &self.downloader
    }

    /// Revalidates every file in the cache, in parallel. Offline there is
    /// nothing to do and no socket is opened.
    fn update(&self, progress: &dyn Progress) -> Result<UpdateReport, SourceError> {
        if self.is_offline() {
            return Ok(UpdateReport {
                changed: false,
                summary: "offline: nothing fetched; the cached index files are used as they are (run without --offline to revalidate)".into(),
            });
        }
        // Left by killed runs; nothing else removes them.
        self.cache
            .remove_stale_temp_files()
            .map_err(|source| SourceError::Cache { source })?;
        let paths = self.cached_paths()?;
        progress.start("revalidating index files", paths.len() as u64);
        let tally = Tally::default();
        let names: Vec<String> = paths.iter().map(|(rel, _)| rel.clone()).collect();
        let subjects: HashMap<&str, &str> = paths.iter().map(|(r, s)| (r.as_str(), s.as_str())).collect();
        let result = pool::visit_all(&names, self.options.max_connections, |rel| {
            tally.add(&self.read_file(rel, subjects[rel])?);
            progress.advance(1);
            Ok(Vec::new())
        });
        progress.finish();
        result?;
        Ok(tally.update_report(paths.len()))
    }
}

/// Refuses to take a body that is not an index file: a `config.json` that
/// does not parse, or a package or owner-keys file with a line that is not
/// a JSON object. Such an answer (an HTML error page served with 200) must
/// not enter the cache, where revalidation would keep it.
fn check_index_file(rel: &str, url: &str, text: &str) -> Result<(), SourceError> {
    if rel == CONFIG_FILE {
        return IndexConfig::from_json(text)
            .map(drop)
            .map_err(|source| SourceError::RemoteConfig {
                location: url.to_owned(),
                source,
            });
    }
    let not_an_object = |line: &str| {
        !line.trim_start().starts_with('{') || serde_json::from_str::<serde::de::IgnoredAny>(line).is_err()
    };
    match text
        .lines()
        .enumerate()
        .find(|(_, line)| !line.trim().is_empty() && not_an_object(line))
    {
        Some((index, line)) => Err(SourceError::NotIndexFile {
            url: url.to_owned(),
            line: index + 1,
            begins: line.trim().chars().take(40).collect(),
        }),
        None => Ok(()),
    }
}

/// Whether `rel` stays inside the index: no empty, `.` or `..` segment, no
/// leading `/`, nothing but name characters, and no dot entry at the root
/// (where the cache keeps its lock files). Keeps a hostile name from
/// turning into a request (or a cache path) outside the index.
fn is_plain_relative_path(rel: &str) -> bool {
    !rel.starts_with('.')
        && rel.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// The index path of a package file, or `None` for a name no index can hold
/// (which also keeps `..` and `/` out of cache paths).
fn package_path(file_name: &str) -> Option<String> {
    name::validate_for_reading(file_name).ok()?;
    Some(name::index_path(file_name))
}

/// `sparse+http://host/path` → `http://host/path/`.
fn base_url(url: &str) -> Result<String, SourceError> {
    let bad = |reason: &str| SourceError::BadUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = url
        .strip_prefix("sparse+")
        .ok_or_else(|| bad("a sparse index URL starts with `sparse+http://` or `sparse+https://`"))?;
    let after_scheme = rest
        .strip_prefix("http://")
        .or_else(|| rest.strip_prefix("https://"))
        .ok_or_else(|| bad("only http and https are supported after `sparse+`"))?;
    if after_scheme.is_empty() || after_scheme.starts_with('/') {
        return Err(bad("the URL names no host"));
    }
    if rest.contains(['?', '#']) {
        return Err(bad("an index URL cannot have a query or fragment"));
    }
    let mut base = rest.to_owned();
    if !base.ends_with('/') {
        base.push('/');
    }
    Ok(base)
}

/// Where owner-keys files live (DESIGN §4; the trust module reads them).
/// The `_` prefix cannot collide with a shard.
const OWNER_KEYS_DIR: &str = "_keys";

/// Where the owner keys of the package file at `rel` live.
fn owner_keys_path(rel: &str) -> String {
    format!("{OWNER_KEYS_DIR}/{rel}")
}

/// What the closure needs from one package file.
#[derive(Debug, PartialEq, Eq)]
struct PackageClosure {
    /// The packages to visit next: the real names of normal and build
    /// dependencies of every version, except those from other registries.
    dependencies: Vec<String>,
    /// Whether some version is signed, so its owner keys are needed.
    signed: bool,
}

impl PackageClosure {
    /// Reads only what it needs of each line; lines that do not parse are
    /// left for the resolver to report.
    fn of(text: &str) -> Self {
        #[derive(serde::Deserialize)]
        struct ClosureOfLine {
            #[serde(default)]
            deps: Vec<Dependency>,
            #[serde(default)]
            sig: Option<serde::de::IgnoredAny>,
        }
        let lines: Vec<ClosureOfLine> = text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        let signed = lines.iter().any(|line| line.sig.is_some());
        let mut dependencies: Vec<String> = lines
            .into_iter()
            .flat_map(|line| line.deps)
            .filter(|dep| dep.kind() != DepKind::Dev && dep.registry.is_none())
            .map(|dep| dep.package_name().to_owned())
            .collect();
        dependencies.sort();
        dependencies.dedup();
        PackageClosure { dependencies, signed }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts of one run, added to by every worker.
#[derive(Default)]
struct Tally {
    packages: AtomicU64,
    requests: AtomicU64,
    fetched: AtomicU64,
    changed: AtomicU64,
    not_modified: AtomicU64,
    missing: AtomicU64,
    removed: AtomicU64,
}

impl Tally {
    fn add(&self, read: &Read) {
        let bump = |counter: &AtomicU64| {
            counter.fetch_add(1, Ordering::Relaxed);
        };
        self.requests.fetch_add(u64::from(read.attempts), Ordering::Relaxed);
        match read.outcome {
            Outcome::NoRequest => {}
            Outcome::Fetched { changed } => {
                bump(&self.fetched);
                if changed {
                    bump(&self.changed);
                }
            }
            Outcome::NotModified => bump(&self.not_modified),
            Outcome::Missing { changed } => {
                bump(&self.missing);
                if changed {
                    bump(&self.removed);
                }
            }
        }
    }

    fn report(&self, not_found: Vec<String>) -> PrefetchReport {
        PrefetchReport {
            packages: self.packages.load(Ordering::Relaxed) as usize,
            not_found,
            requests: self.requests.load(Ordering::Relaxed),
            fetched: self.fetched.load(Ordering::Relaxed),
            not_modified: self.not_modified.load(Ordering::Relaxed),
            missing: self.missing.load(Ordering::Relaxed),
        }
    }

    fn update_report(&self, files: usize) -> UpdateReport {
        let changed = self.changed.load(Ordering::Relaxed);
        let removed = self.removed.load(Ordering::Relaxed);
        let unchanged = files as u64 - changed - removed;
        UpdateReport {
            changed: changed + removed > 0,
            summary: format!("revalidated {files} files: {changed} changed, {removed} removed, {unchanged} unchanged"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(base_url("sparse+http://h:1/idx").unwrap(), "http://h:1/idx/");
        assert_eq!(base_url("sparse+https://h/").unwrap(), "https://h/");
        for bad in [
            "http://h/",
            "sparse+ftp://h/",
            "sparse+http://",
            "sparse+http:///x",
            "sparse+http://h/?a",
        ] {
            let error = base_url(bad).unwrap_err();
            assert!(matches!(error, SourceError::BadUrl { .. }), "{bad}: {error}");
            assert!(error.to_string().contains(bad), "{error}");
        }
    }

    #[test]
    fn closure_follows_normal_build_and_renamed_deps_only() {
        let line =
            |deps: &str| format!(r#"{{"name":"x","vers":"1.0.0","deps":[{deps}],"cksum":"00","features":{{}}}}"#);
        let text = [
            line(r#"{"name":"a","req":"1"},{"name":"b","req":"1","kind":"build"},{"name":"t","req":"1","kind":"dev"}"#),
            line(
                r#"{"name":"alias","req":"1","package":"real"},{"name":"elsewhere","req":"1","registry":"https://x/"}"#,
            ),
            line(r#"{"name":"a","req":"2","kind":"normal"},{"name":"n","req":"1","kind":null}"#),
            "not json".to_owned(),
            String::new(),
        ]
        .join("\n");
        assert_eq!(
            PackageClosure::of(&text),
            PackageClosure {
                dependencies: vec!["a".into(), "b".into(), "n".into(), "real".into()],
                signed: false
            }
        );
        let signed = r#"{"name":"x","vers":"1.0.0","deps":[],"cksum":"00","features":{},"sig":"untrusted comment: x"}"#;
        assert!(PackageClosure::of(&format!("{text}\n{signed}")).signed);
    }

    #[test]
    fn owner_keys_live_where_the_trust_module_reads_them() {
        for name in ["demo", "io.ggen.base", "ab"] {
            assert_eq!(
                owner_keys_path(&name::index_path(name)),
                crate::trust::owner_keys_path(name)
            );
        }
    }

    #[test]
    fn only_index_files_are_taken() {
        let url = "http://h/3/a/abc";
        assert!(check_index_file("3/a/abc", url, "{\"name\":\"abc\"}\n\n{}\n").is_ok());
        let html = "<!DOCTYPE html>\n<html><body>Service unavailable</body></html>\n";
        let error = check_index_file("3/a/abc", url, html).unwrap_err();
        assert!(
            matches!(&error, SourceError::NotIndexFile { line: 1, begins, .. } if begins == "<!DOCTYPE html>"),
            "{error}"
        );
        assert!(error.to_string().contains(url), "{error}");
        let error = check_index_file("3/a/abc", url, "{}\n{\"cut\":\n").unwrap_err();
        assert!(matches!(error, SourceError::NotIndexFile { line: 2, .. }), "{error}");
        let error = check_index_file(CONFIG_FILE, "http://h/config.json", html).unwrap_err();
        assert!(matches!(error, SourceError::RemoteConfig { .. }), "{error}");
    }

    #[test]
    fn invalid_names_are_not_looked_up() {
        assert_eq!(package_path("../../etc/passwd"), None);
        assert_eq!(package_path("a..b"), None);
        assert_eq!(package_path("Serde").as_deref(), Some("se/rd/serde"));
        assert!(is_plain_relative_path("_keys/io/.g/io.ggen.base"));
        for bad in ["../x", "a//b", "/etc/passwd", "a/./b", "a b", "", ".locks/3"] {
            assert!(!is_plain_relative_path(bad), "{bad}");
        }
    }

    #[test]
    fn offline_answers_from_the_cache_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path());
        cache
            .store_present("config.json", br#"{"dl":"dl/{crate}"}"#, &Validators::default())
            .unwrap();
        cache.store_present("3/a/abc", b"{}\n", &Validators::default()).unwrap();
        cache.store_missing("ab/se/absent", 404).unwrap();
        let source =
            SparseSource::open("sparse+http://127.0.0.1:9/", dir.path(), true, SparseOptions::default()).unwrap();
        assert!(source.is_offline());
        assert_eq!(source.config().unwrap().dl, "dl/{crate}");
        assert_eq!(source.read_package_file("abc").unwrap().as_deref(), Some("{}\n"));
        assert_eq!(source.read_package_file("absent").unwrap(), None);
        let error = source.read_package_file("never-fetched").unwrap_err();
        assert!(error.to_string().contains("`never-fetched`"), "{error}");
        assert_eq!(source.cached_package_names().unwrap(), ["abc"]);
        let update = source.update(&crate::util::progress::NoProgress).unwrap();
        assert!(!update.changed);
        assert_eq!(source.requests_sent(), 0);
    }
}
