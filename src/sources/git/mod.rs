//! An index in a git repository, fetched with gix into a bare clone under
//! `GGEN_HOME/registries/<id>/` and read straight from its object database.
//!
//! ```
//! use std::process::Command;
//! use ggen_marketplace::sources::{PackageSource, git::GitSource};
//! use ggen_marketplace::util::progress::NoProgress;
//!
//! // An index in a git repository, as a publisher keeps it.
//! let index = tempfile::tempdir().unwrap();
//! let git = |args: &[&str]| {
//!     let status = Command::new("git").arg("-C").arg(index.path()).args(args).status().unwrap();
//!     assert!(status.success(), "git {args:?}");
//! };
//! git(&["init", "-q", "-b", "main"]);
//! std::fs::write(index.path().join("config.json"), r#"{"dl":"archives/{crate}-{version}.tar.gz"}"#).unwrap();
//! std::fs::create_dir_all(index.path().join("de/mo")).unwrap();
//! let line = r#"{"name":"demo","vers":"1.0.0","deps":[],"cksum":"00","features":{},"yanked":false}"#;
//! std::fs::write(index.path().join("de/mo/demo"), format!("{line}\n")).unwrap();
//! git(&["add", "."]);
//! git(&["-c", "user.name=a", "-c", "user.email=a@b", "-c", "commit.gpgsign=false", "commit", "-q", "-m", "first"]);
//!
//! // A consumer clones it into its cache and reads it without a checkout.
//! let cache = tempfile::tempdir().unwrap();
//! let url = index.path().to_str().unwrap();
//! let source = GitSource::open(url, cache.path(), false).unwrap();
//! let report = source.update(&NoProgress).unwrap();
//! assert!(report.changed);
//! assert_eq!(source.entries("demo").unwrap().unwrap()[0].vers, "1.0.0");
//! assert_eq!(source.package_names().unwrap(), Some(vec!["demo".to_string()]));
//!
//! // Offline, the clone is read as it is; an update fetches nothing.
//! let offline = GitSource::open(url, cache.path(), true).unwrap();
//! assert_eq!(offline.current_commit(), source.current_commit());
//! let report = offline.update(&NoProgress).unwrap();
//! assert!(!report.changed && report.summary.starts_with("offline: nothing fetched"));
//! ```
//!
//! # Layout of the cache directory
//! - `index.git/`: the bare clone. The fetched tip of the remote's default
//!   branch is kept in `refs/ggen/index` (`git -C index.git log
//!   refs/ggen/index` shows it).
//! - `.lock`: held by whoever writes; readers never wait.
//! - `.clone-*/`: a first clone in progress, renamed to `index.git` only when
//!   complete, so a reader never sees a half-made clone.
//! - `index.git/objects/pack/.tmp*`: a pack being received; it becomes a
//!   pack (and the ref moves) only once complete.
//!
//! Leftovers of a killed update (`.clone-*`, `.tmp*`, the ref lock files
//! `refs/ggen/*.lock`) are removed by the
//! next update, under the lock. Each incremental fetch adds a pack; beyond
//! [`MAX_PACKS`] of them the clone is repacked into one (`git repack`), so
//! its size stays near a fresh clone's however often it is fetched.
//!
//! # Relative `dl`
//! A relative `dl` that stays inside the index (`archives/{crate}/…`, as
//! `index init` writes it) names archives committed to the index itself, as
//! `publish` puts them: they are read from the clone
//! ([`PackageSource::read_stored_archive`]), so such an index needs no file
//! server at all. Otherwise a relative `dl` resolves against the index's
//! location ([`PackageSource::download_base`]): the URL without `git+` for http(s)
//! (a repository served at `https://host/reg/index.git` with
//! `"dl": "../archives/{crate}-{version}.tar.gz"` downloads from
//! `https://host/reg/archives/…`), and the repository's directory for
//! `file://` URLs and paths. A `git://` URL serves no files, so an index
//! reached that way keeps its archives in its commits or has an absolute
//! `dl`.

mod fetch;
mod progress;
mod revision;
mod smart_http;
mod snapshot;
mod transport;
mod url;

use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use super::download::{DEFAULT_MAX_CONNECTIONS, Downloader};
use super::guard::{HistoryGuard, HistoryRefusal};
use super::{PackageSource, SourceError, UpdateReport};
use crate::format::rules::package_file::is_at_its_shard;
use crate::format::{CONFIG_FILE, IndexConfig, name};
use crate::util::fs::{FileLock, FsError};
use crate::util::progress::Progress;
pub use revision::GitRevision;
use snapshot::Snapshot;
use url::GitUrl;

/// The bare clone inside the cache directory.
const CLONE_DIR: &str = "index.git";
/// The lock file writers hold, inside the cache directory.
const LOCK_FILE: &str = ".lock";
/// Prefix of a first clone in progress.
const CLONE_IN_PROGRESS_PREFIX: &str = ".clone-";
/// Prefix of the temporary files gix receives a pack into.
const UNFINISHED_PACK_PREFIX: &str = ".tmp";
/// Hex digits of a commit id shown to people.
const SHORT_ID_LEN: usize = 10;

/// Why the git machinery failed.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum GitError {
    /// gix failed: opening, connecting, negotiating, receiving, reading.
    #[error(transparent)]
    Gix(#[from] gix::Error),
    /// The remote has no commit on its default branch.
    #[error("it has no commits on its default branch (HEAD); is it an empty repository?")]
    EmptyRemote,
    /// gix reported success but left our ref elsewhere than the remote's HEAD.
    #[error("{reference} is at {stored:?} after the fetch, but the remote's HEAD is at {advertised}")]
    RefNotMoved {
        reference: String,
        stored: Option<gix::ObjectId>,
        advertised: gix::ObjectId,
    },
    /// Setting up the clone's directory failed.
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// A git index: a bare clone kept up to date with [`PackageSource::update`]
/// and read from the commit it was last updated to.
pub struct GitSource {
    url: GitUrl,
    cache_dir: PathBuf,
    offline: bool,
    downloader: Downloader,
    /// The state readers see; replaced whole by an update.
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    /// Consulted before a fetch is taken (rollback protection).
    guard: Option<Arc<dyn HistoryGuard>>,
}

impl std::fmt::Debug for GitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSource")
            .field("url", &self.url.given)
            .field("cache_dir", &self.cache_dir)
            .field("offline", &self.offline)
            .field("commit", &self.current_commit())
            .finish()
    }
}

impl GitSource {
    /// Opens the git index at `url` (`git+https://…`, `git+http://…`,
    /// `git://…`, `file://…` or a path to a repository, bare or not), cached
    /// in `cache_dir`. Nothing is fetched until [`PackageSource::update`];
    /// with `offline`, nothing ever is, and a missing clone is an error now.
    pub fn open(url: &str, cache_dir: &Path, offline: bool) -> Result<GitSource, SourceError> {
        let source = GitSource {
            url: GitUrl::parse(url)?,
            cache_dir: cache_dir.to_owned(),
            offline,
            downloader: Downloader::new(offline, DEFAULT_MAX_CONNECTIONS),
            snapshot: RwLock::new(None),
            guard: None,
        };
        let snapshot = source.load_snapshot()?;
        if offline && snapshot.is_none() {
            return Err(SourceError::Offline {
                what: format!("the git index (no clone at {})", source.clone_dir().display()),
                registry: source.url.given.clone(),
                command: "ggen-market sync".into(),
            });
        }
        *source.snapshot.write().unwrap_or_else(PoisonError::into_inner) = snapshot;
        Ok(source)
    }

    /// The same source, downloading archives that `dl` puts on a server
    /// with `downloader` (its connection limit, timeouts and caps).
    pub fn with_downloader(mut self, downloader: Downloader) -> Self {
        self.downloader = downloader;
        self
    }

    /// The same source, holding every fetch to `guard` before taking it.
    pub fn with_guard(mut self, guard: Arc<dyn HistoryGuard>) -> Self {
        self.guard = Some(guard);
        self
    }

    /// The bare clone's directory (which may not exist yet).
    pub fn clone_dir(&self) -> PathBuf {
        self.cache_dir.join(CLONE_DIR)
    }

    /// The commit being read (full hex id), or `None` before the first
    /// update.
    pub fn current_commit(&self) -> Option<String> {
        let snapshot = self.snapshot.read().unwrap_or_else(PoisonError::into_inner);
        snapshot.as_ref().map(|s| s.commit().to_string())
    }

    /// The snapshot to read, loading one another process may have cloned
    /// since we opened.
    fn current(&self) -> Result<Arc<Snapshot>, SourceError> {
        if let Some(snapshot) = self.snapshot.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
            return Ok(snapshot.clone());
        }
        let loaded = self.load_snapshot()?.ok_or_else(|| self.not_fetched())?;
        let mut slot = self.snapshot.write().unwrap_or_else(PoisonError::into_inner);
        Ok(slot.get_or_insert(loaded).clone())
    }

    fn load_snapshot(&self) -> Result<Option<Arc<Snapshot>>, SourceError> {
        let git_dir = self.clone_dir();
        if !git_dir.exists() {
            return Ok(None);
        }
        let snapshot = Snapshot::open(&git_dir).map_err(|source| SourceError::Git {
            action: format!(
                "open the clone of {} at {} (delete it and sync again if it is damaged)",
                self.url.given,
                git_dir.display()
            ),
            source: source.into(),
        })?;
        Ok(snapshot.map(Arc::new))
    }

    fn not_fetched(&self) -> SourceError {
        SourceError::NotFetched {
            registry: self.url.given.clone(),
            dir: self.clone_dir(),
        }
    }

    /// Clones or fetches under the lock; returns the commit before and after.
    fn fetch_locked(&self, progress: &dyn Progress) -> Result<(Option<String>, Arc<Snapshot>), SourceError> {
        let cache_error = |source| SourceError::Cache { source };
        fs::create_dir_all(&self.cache_dir)
            .map_err(|e| cache_error(FsError::new("create directory", &self.cache_dir, e)))?;
        let waited = Cell::new(false);
        let _lock = FileLock::exclusive(&self.cache_dir.join(LOCK_FILE), |path| {
            progress.start(&format!("waiting for another update ({})", path.display()), 0);
            waited.set(true);
        })
        .map_err(cache_error)?;
        if waited.get() {
            progress.finish();
        }
        remove_leftovers(&self.cache_dir, CLONE_IN_PROGRESS_PREFIX).map_err(cache_error)?;
        remove_leftovers(&self.clone_dir().join("objects/pack"), UNFINISHED_PACK_PREFIX).map_err(cache_error)?;
        remove_stale_ref_locks(&self.clone_dir()).map_err(cache_error)?;
        // Read the state on disk, not ours: another process may have
        // updated while we waited for the lock.
        let before = self.load_snapshot()?;
        if self.clone_dir().exists() {
            self.fetch_into_clone(progress)?;
        } else {
            self.clone_fresh(progress)?;
        }
        let after = self.load_snapshot()?.ok_or_else(|| self.not_fetched())?;
        Ok((before.map(|s| s.commit().to_string()), after))
    }

    fn git_error(&self, source: GitError) -> SourceError {
        self.fetch_failed(source, 1)
    }

    /// A fetch that failed after `tries` tries.
    fn fetch_failed(&self, source: GitError, tries: u32) -> SourceError {
        let tried = if tries > 1 {
            format!(" ({tries} tries)")
        } else {
            String::new()
        };
        SourceError::Git {
            action: format!("fetch {} into {}{tried}", self.url.given, self.clone_dir().display()),
            source,
        }
    }

    /// Fetches the remote's default branch into `repo` (checked, not yet
    /// taken), within the `[net]` limits over http(s). A failure that may
    /// pass (the connection dropped, refused or stalled, a 5xx) is retried
    /// as `[net] retries` says: a failed fetch leaves the repository as it
    /// was, so the next try starts clean.
    fn fetch_default_branch(&self, repo: &gix::Repository, progress: &dyn Progress) -> Result<(), SourceError> {
        let limits = self.downloader.limits();
        let mut tries = 0;
        loop {
            tries += 1;
            match fetch::fetch_default_branch(repo, &self.url.fetch, snapshot::FETCHED_REF, limits, progress) {
                Ok(_) => return Ok(()),
                Err(GitError::Gix(error)) if tries < limits.retry.max_tries && error.can_retry_lenient() => {
                    std::thread::sleep(limits.retry.jittered(tries));
                }
                Err(error) => return Err(self.fetch_failed(error, tries)),
            }
        }
    }

    fn fetch_into_clone(&self, progress: &dyn Progress) -> Result<(), SourceError> {
        let git_dir = self.clone_dir();
        let repo = gix::open(&git_dir).map_err(|e| self.git_error(GitError::Gix(e)))?;
        self.fetch_default_branch(&repo, progress)?;
        drop(repo);
        self.take_fetched(&git_dir)?;
        compact(&git_dir);
        Ok(())
    }

    /// Clones into a temporary directory beside the final one and renames it
    /// into place once the fetch is complete and taken.
    fn clone_fresh(&self, progress: &dyn Progress) -> Result<(), SourceError> {
        let in_progress = tempfile::Builder::new()
            .prefix(CLONE_IN_PROGRESS_PREFIX)
            .tempdir_in(&self.cache_dir)
            .map_err(|e| self.git_error(FsError::new("create directory in", &self.cache_dir, e).into()))?;
        let repo = gix::init_bare(in_progress.path()).map_err(|e| self.git_error(GitError::Gix(e)))?;
        self.fetch_default_branch(&repo, progress)?;
        drop(repo);
        self.take_fetched(in_progress.path())?;
        let done = in_progress.keep();
        fs::rename(&done, self.clone_dir()).map_err(|e| {
            let _ = fs::remove_dir_all(&done);
            self.git_error(FsError::new("rename into", &self.clone_dir(), e).into())
        })?;
        Ok(())
    }

    /// Holds the fetch in [`snapshot::FETCHED_REF`] of `git_dir` to the
    /// guard, if any, then takes it: the index ref moves to it. A refused
    /// fetch leaves the index ref, and so every reader, where it was.
    fn take_fetched(&self, git_dir: &Path) -> Result<(), SourceError> {
        let error = |source: gix::Error| SourceError::Git {
            action: format!("take the fetch of {} in {}", self.url.given, git_dir.display()),
            source: source.into(),
        };
        let checked = match &self.guard {
            Some(guard) => self.check_fetched(guard.as_ref(), git_dir).map(Some),
            None => Ok(None),
        };
        let fetched = match checked {
            Ok(fetched) => fetched,
            Err(refused) => {
                snapshot::drop_fetched(git_dir).map_err(error)?;
                return Err(refused);
            }
        };
        let commit = snapshot::take_fetched(git_dir).map_err(error)?;
        if let (Some(guard), Some(fetched)) = (&self.guard, &fetched) {
            guard.commit_taken(&self.url.given, &commit.to_string(), fetched);
        }
        Ok(())
    }

    /// The guard's verdict on the fetch in `git_dir`: its commit must
    /// descend from the one remembered, and every package file it changed
    /// (or, for a first clone, every package remembered) must keep the
    /// history seen. All refused packages are reported together. Admitted,
    /// the fetched index is returned.
    fn check_fetched(&self, guard: &dyn HistoryGuard, git_dir: &Path) -> Result<GitRevision, SourceError> {
        let after = GitRevision::open(git_dir, snapshot::FETCHED_REF)?;
        let before = match Snapshot::open(git_dir) {
            Ok(Some(_)) => Some(GitRevision::open(git_dir, snapshot::INDEX_REF)?),
            _ => None,
        };
        let location = &self.url.given;
        let fetched = after.commit();
        let remembered = guard
            .remembered_commit(location, &after)
            .or_else(|| before.as_ref().map(GitRevision::commit));
        if let Some(remembered) = remembered.filter(|r| *r != fetched) {
            let descends =
                snapshot::descends_from(git_dir, &fetched, &remembered).map_err(|source| SourceError::Git {
                    action: format!("walk the history of {fetched} in {}", git_dir.display()),
                    source: source.into(),
                })?;
            guard.admit_commit(location, &remembered, &fetched, descends, &after)?;
        }
        let packages: Vec<String> = match &before {
            Some(before) => before
                .changed_files(&after)?
                .into_iter()
                .filter(|path| is_at_its_shard(path))
                .map(|path| name::file_name_of(&path).to_owned())
                .collect(),
            None => guard.remembered_packages(&after),
        };
        let mut refused = Vec::new();
        for package in packages {
            let path = name::index_path(&package);
            let previous = match &before {
                Some(before) => before.read_index_file(&path)?,
                None => None,
            };
            let now = after.read_index_file(&path)?;
            if let Err(rewrite) = guard.admit_package(&package, previous.as_deref(), now.as_deref(), &after) {
                refused.push(rewrite);
            }
        }
        if refused.is_empty() {
            return Ok(after);
        }
        Err(HistoryRefusal::Rewritten {
            registry: self.url.given.clone(),
            rewrites: refused,
        }
        .into())
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        self.current()?.read_file(path).map_err(|source| SourceError::Git {
            action: format!("read {path} from the clone of {}", self.url.given),
            source: source.into(),
        })
    }
}

/// Packs an incremental fetch may leave before the clone is repacked: each
/// fetch adds one, and reading slows and the clone grows with their count
/// (git's own `gc.autoPackLimit` is 50).
pub const MAX_PACKS: usize = 16;

/// Repacks the clone into one pack once fetches have left more than
/// [`MAX_PACKS`], with `git repack -a -d` (gix cannot repack). Only an
/// optimization: without `git` on PATH, or if it fails, the clone stays as
/// it is, every object still readable. Runs under the update lock.
fn compact(git_dir: &Path) {
    let packs = fs::read_dir(git_dir.join("objects/pack"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
                .count()
        })
        .unwrap_or(0);
    if packs <= MAX_PACKS {
        return;
    }
    let _ = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["repack", "-a", "-d", "-q", "--no-write-bitmap-index"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Removes what a killed update left in `dir`: entries whose name starts
/// with `prefix` (first clones, `.clone-*`; packs being received,
/// `objects/pack/.tmp*`, which gix deletes itself on any error but not when
/// killed). Only called under the lock, so no update is writing them.
fn remove_leftovers(dir: &Path, prefix: &str) -> Result<(), FsError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(FsError::new("read directory", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| FsError::new("read directory", dir, e))?;
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let path = entry.path();
        let removed = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(|e| FsError::new("remove", &path, e))?;
    }
    Ok(())
}

/// The lock files of gix's ref edits: held only while a ref moves, left
/// by a process killed meanwhile, and then in the way of every later
/// fetch ("the lock … could not be obtained").
const REF_LOCKS: [&str; 3] = ["refs/ggen/fetched.lock", "refs/ggen/index.lock", "packed-refs.lock"];

/// Removes the ref lock files a killed update left in the clone. Only
/// called under the lock, so no update is editing refs.
fn remove_stale_ref_locks(git_dir: &Path) -> Result<(), FsError> {
    for lock in REF_LOCKS {
        let path = git_dir.join(lock);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(FsError::new("remove", &path, e)),
            _ => {}
        }
    }
    Ok(())
}

fn short(commit: &str) -> &str {
    &commit[..SHORT_ID_LEN.min(commit.len())]
}

impl PackageSource for GitSource {
    fn describe(&self) -> String {
        self.url.given.clone()
    }

    fn config(&self) -> Result<IndexConfig, SourceError> {
        let bytes = self.read(CONFIG_FILE)?.ok_or_else(|| SourceError::NoConfig {
            location: self.describe(),
        })?;
        let location = format!("{} {CONFIG_FILE}", self.url.given);
        let text = String::from_utf8(bytes).map_err(|_| SourceError::NotUtf8 {
            location: location.clone(),
        })?;
        IndexConfig::from_json(&text).map_err(|source| SourceError::RemoteConfig { location, source })
    }

    fn read_index_file(&self, path: &str) -> Result<Option<String>, SourceError> {
        let Some(bytes) = self.read(path)? else {
            return Ok(None);
        };
        String::from_utf8(bytes).map(Some).map_err(|_| SourceError::NotUtf8 {
            location: format!("{} {path}", self.url.given),
        })
    }

    fn package_names(&self) -> Result<Option<Vec<String>>, SourceError> {
        let names = self.current()?.package_names().map_err(|source| SourceError::Git {
            action: format!("list the packages in the clone of {}", self.url.given),
            source: source.into(),
        })?;
        Ok(Some(names))
    }

    fn download_base(&self) -> String {
        self.url.download_base.clone()
    }

    fn read_stored_archive(&self, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        self.read(path)
    }

    fn downloader(&self) -> &Downloader {
        &self.downloader
    }

    fn update(&self, progress: &dyn Progress) -> Result<UpdateReport, SourceError> {
        if self.offline {
            let at = self.current_commit().map(|c| short(&c).to_owned()).unwrap_or_default();
            return Ok(UpdateReport {
                changed: false,
                summary: format!(
                    "offline: nothing fetched; the clone is as of commit {at} (run without --offline to fetch)"
                ),
            });
        }
        // What changed for readers of this source: from the commit they saw
        // (or, before their first read, the one on disk).
        let seen = self.current_commit();
        let (on_disk, after) = self.fetch_locked(progress)?;
        let before = seen.or(on_disk);
        let new = after.commit().to_string();
        *self.snapshot.write().unwrap_or_else(PoisonError::into_inner) = Some(after);
        Ok(match before {
            None => UpdateReport {
                changed: true,
                summary: format!("cloned {}", short(&new)),
            },
            Some(old) if old == new => UpdateReport {
                changed: false,
                summary: format!("up to date at {}", short(&new)),
            },
            Some(old) => UpdateReport {
                changed: true,
                summary: format!("fetched {}..{}", short(&old), short(&new)),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::progress::NoProgress;

    fn git(dir: &Path, args: &[&str]) {
        let status = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=a",
                "-c",
                "user.email=a@b",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    /// A fetch killed while gix moved a ref leaves its lock file; the next
    /// update must not be stopped by it.
    #[test]
    fn an_update_removes_ref_locks_a_killed_one_left() {
        let index = tempfile::tempdir().unwrap();
        git(index.path(), &["init", "-q", "-b", "main"]);
        fs::write(
            index.path().join("config.json"),
            r#"{"dl":"archives/{crate}-{version}.tar.gz"}"#,
        )
        .unwrap();
        git(index.path(), &["add", "."]);
        git(index.path(), &["commit", "-q", "-m", "first"]);
        let cache = tempfile::tempdir().unwrap();
        let url = index.path().to_str().unwrap();
        GitSource::open(url, cache.path(), false)
            .unwrap()
            .update(&NoProgress)
            .unwrap();
        let clone = cache.path().join(CLONE_DIR);
        for lock in REF_LOCKS {
            fs::write(clone.join(lock), "0000000000000000000000000000000000000000\n").unwrap();
        }
        fs::write(index.path().join("NOTES.md"), "later\n").unwrap();
        git(index.path(), &["add", "."]);
        git(index.path(), &["commit", "-q", "-m", "second"]);
        let report = GitSource::open(url, cache.path(), false)
            .unwrap()
            .update(&NoProgress)
            .unwrap();
        assert!(report.changed, "{}", report.summary);
        for lock in REF_LOCKS {
            assert!(!clone.join(lock).exists(), "{lock}");
        }
    }
}
