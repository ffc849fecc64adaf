//! Ways of reaching an index. Every source answers the same questions —
//! the index's `config.json`, the file of one package, the names it holds —
//! whether it is a plain directory, a git repository or a sparse HTTP index.
//!
//! ```
//! use ggen_marketplace::sources::{PackageSource, local::LocalSource};
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("config.json"), r#"{"dl":"archives/{crate}-{version}.tar.gz"}"#).unwrap();
//! std::fs::create_dir_all(dir.path().join("de/mo")).unwrap();
//! let line = r#"{"name":"demo","vers":"1.0.0","deps":[],"cksum":"00","features":{},"yanked":false}"#;
//! std::fs::write(dir.path().join("de/mo/demo"), format!("{line}\n")).unwrap();
//!
//! let source = LocalSource::open(dir.path()).unwrap();
//! let entries = source.entries("Demo").unwrap().expect("found case-insensitively");
//! assert_eq!(entries[0].vers, "1.0.0");
//! assert!(source.entries("no-such-package").unwrap().is_none());
//! assert_eq!(source.package_names().unwrap(), Some(vec!["demo".to_string()]));
//! ```

pub mod download;
pub mod fallback;
pub mod git;
pub mod guard;
pub mod http;
pub mod local;
pub mod location;
pub mod sparse;

use std::path::PathBuf;

use self::download::{DownloadError, Downloader};
use crate::format::entry::EntryParseError;
use crate::format::{IndexConfig, IndexEntry, config::ConfigError, name};
use crate::util::fs::FsError;
use crate::util::progress::Progress;

/// One version line of a package file, kept verbatim beside its parsed form
/// because signatures cover the line as stored (see `format::canonical`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryLine {
    /// The line exactly as stored, without its newline.
    pub line: String,
    /// The parsed entry.
    pub entry: IndexEntry,
}

/// A package file's text and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    /// "<index> <path>", for messages.
    pub location: String,
    /// The whole file.
    pub text: String,
}

/// Package names known to a source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameListing {
    /// Package file names (lowercase).
    pub names: Vec<String>,
    /// False when the source could only list part of the index.
    pub complete: bool,
}

/// What an update did, for people and for `--json`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct UpdateReport {
    /// Whether anything changed.
    pub changed: bool,
    /// One line for people, e.g. "fetched 3f2a1c0..9b8e7d1" or "up to date".
    pub summary: String,
}

/// Why a source could not answer.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum SourceError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Config { path: PathBuf, source: ConfigError },
    #[error("{location} has no config.json; is it the root of an index?")]
    NoConfig { location: String },
    #[error("{location}, line {line}: {source}")]
    Entry {
        location: String,
        line: usize,
        source: EntryParseError,
    },
    #[error("package file {location} is not UTF-8")]
    NotUtf8 { location: String },
    /// A remote `config.json` that cannot be used.
    #[error("{location}: {source}")]
    RemoteConfig { location: String, source: ConfigError },
    /// A server answered with something other than an index file (an HTML
    /// error page from a proxy, say); it was not cached.
    #[error(
        "{url} is not an index file: line {line} is not a JSON object (it begins `{begins}`); a proxy, captive portal or misconfigured server may have answered instead of the registry. Nothing was cached; check the registry URL and try again"
    )]
    NotIndexFile { url: String, line: usize, begins: String },
    /// A registry URL this source cannot use.
    #[error("cannot use the registry URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    /// A GET failed (after retries where retrying could help).
    #[error(transparent)]
    Http(#[from] http::HttpError),
    /// An archive could not be had from where `dl` points.
    #[error(transparent)]
    Download(#[from] DownloadError),
    /// Offline, and the cache does not hold the answer.
    #[error(
        "{what} is not in the local cache of {registry} and offline mode forbids the network; run `{command}` while online first"
    )]
    Offline {
        what: String,
        registry: String,
        command: String,
    },
    /// Reading or writing the local cache of a remote index failed.
    #[error("the index cache: {source}")]
    Cache { source: FsError },
    /// A git fetch, clone or read that failed.
    #[error("cannot {action}: {source}")]
    Git { action: String, source: git::GitError },
    /// A file a commit should hold and does not.
    #[error("there is no {what}")]
    NotInRevision { what: String },
    /// A revision that names no commit.
    #[error("`{rev}` names no commit in {}; give a commit id, HEAD, or a branch, tag or remote branch (e.g. origin/main), optionally with ~N", repository.display())]
    BadRevision { rev: String, repository: PathBuf },
    /// A git index read before its first fetch.
    #[error(
        "registry {registry} has not been fetched yet (no clone at {}); run `ggen-market sync`",
        dir.display()
    )]
    NotFetched { registry: String, dir: PathBuf },
    /// A refresh that would roll back what this client has seen.
    #[error(transparent)]
    History(#[from] guard::HistoryRefusal),
}

/// A package archive as a source served it, not yet checked against the
/// entry's `cksum`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedArchive {
    /// The archive's bytes.
    pub bytes: Vec<u8>,
    /// Where they came from (a URL, a path, or a path in a git commit), for
    /// messages.
    pub origin: String,
}

/// Read access to an index, whatever the transport.
pub trait PackageSource: Sync {
    /// A short description of where the index is, for messages.
    fn describe(&self) -> String;

    /// The index's `config.json`.
    fn config(&self) -> Result<IndexConfig, SourceError>;

    /// The text of the file at `path` (relative to the index root,
    /// `/`-separated: a package file, or an owner-keys file under `_keys/`),
    /// or `None` if there is none.
    fn read_index_file(&self, path: &str) -> Result<Option<String>, SourceError>;

    /// The text of the package file stored under `file_name` (an already
    /// lowercased name, as found in the index), or `None` if there is none.
    fn read_package_file(&self, file_name: &str) -> Result<Option<String>, SourceError> {
        self.read_index_file(&name::index_path(file_name))
    }

    /// A hint that the package files of `names` (as dependencies spell
    /// them) will be read soon: a remote source fetches the ones it does not
    /// hold yet, in parallel. Errors are left for the reads to report.
    fn prefetch_packages(&self, _names: &[String]) {}

    /// Every package name, where the transport can list them (a sparse index
    /// cannot: `None`).
    fn package_names(&self) -> Result<Option<Vec<String>>, SourceError>;

    /// The names a search can look through, and whether that is the whole
    /// index: a sparse index only knows what it has cached.
    fn searchable_names(&self) -> Result<NameListing, SourceError> {
        Ok(match self.package_names()? {
            Some(names) => NameListing { names, complete: true },
            None => NameListing {
                names: Vec::new(),
                complete: false,
            },
        })
    }

    /// The base that a relative `dl` is resolved against: the index's URL or
    /// directory.
    fn download_base(&self) -> String;

    /// The archive stored in the index itself at `path` (from
    /// [`IndexConfig::archive_path_in_index`]), when the transport keeps
    /// files there that no URL serves: a git index's archives live in its
    /// commits. Others answer `None` and archives are downloaded from `dl`.
    fn read_stored_archive(&self, _path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        Ok(None)
    }

    /// How this source downloads archives from where `dl` points: its
    /// network settings (offline or not, connections) travel with it.
    fn downloader(&self) -> &Downloader;

    /// The archive of `entry`, unverified (callers check it against
    /// `entry.cksum`): as the source stores it in the index, else
    /// downloaded from where `dl` points.
    fn fetch_archive(&self, entry: &IndexEntry) -> Result<FetchedArchive, SourceError> {
        let config = self.config()?;
        if let Some(path) = config.archive_path_in_index(&entry.name, &entry.vers, &entry.cksum)
            && let Some(bytes) = self.read_stored_archive(&path)?
        {
            let origin = format!("{} {path}", self.describe());
            return Ok(FetchedArchive { bytes, origin });
        }
        let url = config.download_url(&self.download_base(), &entry.name, &entry.vers, &entry.cksum);
        let bytes = self.downloader().get(&url)?;
        Ok(FetchedArchive { bytes, origin: url })
    }

    /// Brings the local copy up to date with the remote index (git fetch,
    /// sparse revalidation). A plain directory has nothing to do.
    fn update(&self, progress: &dyn Progress) -> Result<UpdateReport, SourceError>;

    /// Every version of `name` with its stored line, looked up the way Cargo
    /// does (lowercased, then the `-`/`_` variants), or `None` if the index
    /// has no such package. Unreadable lines are errors: a caller that wants
    /// to skip them, like `index check`, reads the file itself.
    fn entry_lines(&self, name: &str) -> Result<Option<Vec<EntryLine>>, SourceError> {
        self.package_file(name)?
            .map(|file| parse_entry_lines(&file.location, &file.text))
            .transpose()
    }

    /// The package file of `name`, looked up the way Cargo does
    /// (lowercased, then the `-`/`_` variants), unparsed; `None` if the
    /// index has no such package.
    fn package_file(&self, name: &str) -> Result<Option<PackageFile>, SourceError> {
        for variant in name::lookup_variants(name) {
            if let Some(text) = self.read_package_file(&variant)? {
                let location = format!("{} {}", self.describe(), name::index_path(&variant));
                return Ok(Some(PackageFile { location, text }));
            }
        }
        Ok(None)
    }

    /// Every version of `name`, parsed, or `None` if there is no such package.
    fn entries(&self, name: &str) -> Result<Option<Vec<IndexEntry>>, SourceError> {
        Ok(self
            .entry_lines(name)?
            .map(|lines| lines.into_iter().map(|l| l.entry).collect()))
    }
}

/// Parses every non-blank line of a package file.
pub fn parse_entry_lines(location: &str, text: &str) -> Result<Vec<EntryLine>, SourceError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            IndexEntry::from_line(line)
                .map(|entry| EntryLine {
                    line: line.to_owned(),
                    entry,
                })
                .map_err(|source| SourceError::Entry {
                    location: location.to_owned(),
                    line: i + 1,
                    source,
                })
        })
        .collect()
}
