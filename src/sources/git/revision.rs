//! One revision of a git repository as an index: what the pull-request gate
//! reads (the base and the head of a PR) and what `publish` checks its
//! branch against, straight from the object database, with no checkout.
//!
//! ```
//! use std::process::Command;
//! use ggen_marketplace::sources::{PackageSource, git::GitRevision};
//!
//! let repo = tempfile::tempdir().unwrap();
//! let git = |args: &[&str]| {
//!     let status = Command::new("git").arg("-C").arg(repo.path()).args(args).status().unwrap();
//!     assert!(status.success(), "git {args:?}");
//! };
//! let commit = |message: &str| git(&["-c", "user.name=a", "-c", "user.email=a@b", "-c", "commit.gpgsign=false", "commit", "-q", "-am", message]);
//! git(&["init", "-q", "-b", "main"]);
//! std::fs::write(repo.path().join("config.json"), r#"{"dl":"archives/{crate}-{version}.tar.gz"}"#).unwrap();
//! std::fs::create_dir_all(repo.path().join("de/mo")).unwrap();
//! let line = r#"{"name":"demo","vers":"1.0.0","deps":[],"cksum":"00","features":{},"yanked":false}"#;
//! std::fs::write(repo.path().join("de/mo/demo"), format!("{line}\n")).unwrap();
//! git(&["add", "."]);
//! commit("first");
//! std::fs::write(repo.path().join("de/mo/demo"), format!("{line}\n{}\n", line.replace("1.0.0", "1.1.0"))).unwrap();
//! commit("second");
//!
//! let base = GitRevision::open(repo.path(), "main~1").unwrap();
//! let head = GitRevision::open(repo.path(), "HEAD").unwrap();
//! assert_eq!(base.changed_files(&head).unwrap(), ["de/mo/demo"]);
//! assert_eq!(base.entries("demo").unwrap().unwrap().len(), 1);
//! assert_eq!(head.entries("demo").unwrap().unwrap().len(), 2);
//! assert!(GitRevision::open(repo.path(), "no-such-branch").is_err());
//! ```

use std::path::{Path, PathBuf};

use super::snapshot::Snapshot;
use crate::format::{CONFIG_FILE, IndexConfig, IndexEntry};
use crate::sources::download::Downloader;
use crate::sources::{FetchedArchive, PackageSource, SourceError, UpdateReport};
use crate::util::progress::Progress;

/// An index as of one commit of a local repository.
pub struct GitRevision {
    dir: PathBuf,
    rev: String,
    snapshot: Snapshot,
    downloader: Downloader,
}

impl GitRevision {
    /// The repository at `dir` (work tree or bare) at `rev` (a commit id,
    /// `HEAD`, a branch, tag or remote branch, with optional `~N` / `^`).
    /// Archives that `dl` puts on a server are not downloaded (offline);
    /// see [`GitRevision::with_downloader`].
    pub fn open(dir: &Path, rev: &str) -> Result<Self, SourceError> {
        let error = |source: gix::Error| SourceError::Git {
            action: format!("read revision {rev} of {}", dir.display()),
            source: source.into(),
        };
        let snapshot = Snapshot::at_revision(dir, rev)
            .map_err(error)?
            .ok_or_else(|| SourceError::BadRevision {
                rev: rev.to_owned(),
                repository: dir.to_owned(),
            })?;
        Ok(GitRevision {
            dir: dir.to_owned(),
            rev: rev.to_owned(),
            snapshot,
            downloader: Downloader::offline(),
        })
    }

    /// The same revision, downloading archives with `downloader`.
    pub fn with_downloader(self, downloader: Downloader) -> Self {
        GitRevision { downloader, ..self }
    }

    /// The full commit id.
    pub fn commit(&self) -> String {
        self.snapshot.commit().to_string()
    }

    /// Every file that differs between this revision and `other`, sorted;
    /// the work follows the size of the change.
    pub fn changed_files(&self, other: &GitRevision) -> Result<Vec<String>, SourceError> {
        self.snapshot
            .changed_files(&other.snapshot)
            .map_err(|source| SourceError::Git {
                action: format!("compare {} with {} in {}", self.rev, other.rev, self.dir.display()),
                source: source.into(),
            })
    }

    /// The bytes of the file at `path` in this revision, or `None`.
    pub fn read_bytes(&self, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        self.snapshot.read_file(path).map_err(|source| SourceError::Git {
            action: format!("read {path} at {} in {}", self.rev, self.dir.display()),
            source: source.into(),
        })
    }
}

impl PackageSource for GitRevision {
    fn describe(&self) -> String {
        format!("{} at {}", self.dir.display(), self.rev)
    }

    fn config(&self) -> Result<IndexConfig, SourceError> {
        let location = format!("{CONFIG_FILE} at {}", self.rev);
        let text = self
            .read_index_file(CONFIG_FILE)?
            .ok_or_else(|| SourceError::NoConfig {
                location: self.describe(),
            })?;
        IndexConfig::from_json(&text).map_err(|source| SourceError::RemoteConfig { location, source })
    }

    fn read_index_file(&self, path: &str) -> Result<Option<String>, SourceError> {
        let Some(bytes) = self.read_bytes(path)? else {
            return Ok(None);
        };
        String::from_utf8(bytes).map(Some).map_err(|_| SourceError::NotUtf8 {
            location: format!("{path} at {}", self.rev),
        })
    }

    fn package_names(&self) -> Result<Option<Vec<String>>, SourceError> {
        let names = self.snapshot.package_names().map_err(|source| SourceError::Git {
            action: format!("list the packages at {} in {}", self.rev, self.dir.display()),
            source: source.into(),
        })?;
        Ok(Some(names))
    }

    fn download_base(&self) -> String {
        self.dir.display().to_string()
    }

    fn read_stored_archive(&self, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        self.read_bytes(path)
    }

    /// An archive a relative `dl` puts inside the index comes from this
    /// commit only — never from the work tree, which may hold anything;
    /// any other is downloaded from where `dl` points.
    fn fetch_archive(&self, entry: &IndexEntry) -> Result<FetchedArchive, SourceError> {
        let config = self.config()?;
        let Some(path) = config.archive_path_in_index(&entry.name, &entry.vers, &entry.cksum) else {
            let url = config.download_url(&self.download_base(), &entry.name, &entry.vers, &entry.cksum);
            let bytes = self.downloader.get(&url)?;
            return Ok(FetchedArchive { bytes, origin: url });
        };
        let origin = format!("{path} at {}", self.rev);
        match self.read_bytes(&path)? {
            Some(bytes) => Ok(FetchedArchive { bytes, origin }),
            None => Err(SourceError::NotInRevision { what: origin }),
        }
    }

    fn downloader(&self) -> &Downloader {
        &self.downloader
    }

    fn update(&self, _progress: &dyn Progress) -> Result<UpdateReport, SourceError> {
        Ok(UpdateReport {
            changed: false,
            summary: format!("revision {} is fixed", self.rev),
        })
    }
}
