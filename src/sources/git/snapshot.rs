//! One fetched state of a git index, read straight from the object database:
//! the tree of the commit our ref points at. Nothing is checked out.
//!
//! A resolver reads thousands of package files, each three directories
//! deep. Every directory (tree object) is decoded once into a hash map
//! shared by all threads, so a read is three hash lookups and one blob.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use gix::ObjectId;
use gix::objs::tree::EntryMode;

use crate::format::{CONFIG_FILE, name};

/// The ref the clone keeps the fetched tip of the remote's default branch
/// in: a name of our own, so nothing else (git, a user's config) moves it.
pub(super) const INDEX_REF: &str = "refs/ggen/index";

/// The ref a fetch lands in: checked (rollback protection), then taken as
/// [`INDEX_REF`] by [`take_fetched`], or dropped.
pub(super) const FETCHED_REF: &str = "refs/ggen/fetched";

/// Moves [`INDEX_REF`] of the repository at `git_dir` to the commit of
/// [`FETCHED_REF`] and removes the latter; returns the commit.
pub(super) fn take_fetched(git_dir: &Path) -> gix::Result<ObjectId> {
    let repo = gix::open_opts(git_dir, gix::open::Options::isolated())?;
    let mut fetched = repo.find_reference(FETCHED_REF)?;
    let commit = fetched.peel_to_id()?.detach();
    repo.reference(
        INDEX_REF,
        commit,
        gix::refs::transaction::PreviousValue::Any,
        "ggen: take the checked fetch",
    )?;
    fetched.delete()?;
    Ok(commit)
}

/// Removes [`FETCHED_REF`] (a refused fetch), if it is there.
pub(super) fn drop_fetched(git_dir: &Path) -> gix::Result {
    let repo = gix::open_opts(git_dir, gix::open::Options::isolated())?;
    if let Some(fetched) = repo.try_find_reference(FETCHED_REF)? {
        fetched.delete()?;
    }
    Ok(())
}

/// Whether `ancestor` is `commit` or in its history (both full hex ids).
/// An ancestor the repository does not hold is not in the history. The
/// walk stops at the ancestor, so it follows the length of the fetch.
pub(super) fn descends_from(git_dir: &Path, commit: &str, ancestor: &str) -> gix::Result<bool> {
    let (Ok(commit), Ok(ancestor)) = (
        ObjectId::from_hex(commit.as_bytes()),
        ObjectId::from_hex(ancestor.as_bytes()),
    ) else {
        return Ok(false);
    };
    let repo = gix::open_opts(git_dir, gix::open::Options::isolated())?;
    if !repo.has_object(ancestor) {
        return Ok(false);
    }
    for info in repo.rev_walk([commit]).all()? {
        if info?.id == ancestor {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Bytes of delta bases each handle keeps, like git's
/// `core.deltaBaseCacheLimit`: package files are long delta chains, and
/// gix's default cache of 64 entries makes reading the whole crates.io
/// corpus five times slower (5 s instead of 1 s). It grows only as used.
const DELTA_BASE_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// One decoded directory: entry name → object and mode.
type Listing = HashMap<Vec<u8>, (ObjectId, EntryMode)>;

/// The index as of one commit, shared by all threads.
pub(super) struct Snapshot {
    repo: gix::ThreadSafeRepository,
    commit: ObjectId,
    tree: ObjectId,
    /// Thread-local handles, reused: making one per read costs more than the
    /// read itself, and each keeps its delta-base cache warm.
    handles: Mutex<Vec<gix::Repository>>,
    /// Directories decoded so far, by tree id.
    listings: RwLock<HashMap<ObjectId, Arc<Listing>>>,
}

impl Snapshot {
    /// Opens the bare clone at `git_dir` at the commit [`INDEX_REF`] points
    /// to, or `None` if the ref is missing (nothing fetched yet).
    pub fn open(git_dir: &Path) -> gix::Result<Option<Snapshot>> {
        let repo = gix::open_opts(git_dir, gix::open::Options::isolated())?;
        let Some(mut reference) = repo.try_find_reference(INDEX_REF)? else {
            return Ok(None);
        };
        let (commit, tree) = {
            let commit = reference.peel_to_commit()?;
            (commit.id, commit.tree_id()?.detach())
        };
        drop(reference);
        let handles = Mutex::new(vec![prepared(repo.clone())]);
        Ok(Some(Snapshot {
            repo: repo.into_sync(),
            commit,
            tree,
            handles,
            listings: RwLock::default(),
        }))
    }

    /// Opens the repository at `dir` (a work tree or a bare repository) at
    /// revision `rev`: a full commit id, `HEAD`, or a branch, tag or remote
    /// branch name (`main`, `origin/main`, `refs/pull/7/head`), optionally
    /// followed by `~N` or `^`s for first parents. `None` if `rev` names
    /// nothing.
    pub fn at_revision(dir: &Path, rev: &str) -> gix::Result<Option<Snapshot>> {
        let repo = gix::open_opts(dir, gix::open::Options::isolated())?;
        let Some(commit) = resolve_revision(&repo, rev)? else {
            return Ok(None);
        };
        let tree = repo.find_commit(commit)?.tree_id()?.detach();
        let handles = Mutex::new(vec![prepared(repo.clone())]);
        Ok(Some(Snapshot {
            repo: repo.into_sync(),
            commit,
            tree,
            handles,
            listings: RwLock::default(),
        }))
    }

    /// Every file path whose blob differs between `self` and `other` (added,
    /// removed or changed), `/`-separated and sorted. Subtrees with the same
    /// id are skipped whole, so the work follows the size of the change, not
    /// of the index.
    pub fn changed_files(&self, other: &Snapshot) -> gix::Result<Vec<String>> {
        self.with_handle(|repo| {
            let mut changed = Vec::new();
            self.compare(repo, Some(self.tree), Some(other.tree), "", &mut changed)?;
            changed.sort();
            Ok(changed)
        })
    }

    fn compare(
        &self,
        repo: &gix::Repository,
        ours: Option<ObjectId>,
        theirs: Option<ObjectId>,
        dir: &str,
        changed: &mut Vec<String>,
    ) -> gix::Result {
        if ours == theirs {
            return Ok(());
        }
        let empty = Arc::new(Listing::new());
        let ours = ours.map_or(Ok(empty.clone()), |tree| self.listing(repo, tree))?;
        let theirs = theirs.map_or(Ok(empty), |tree| self.listing(repo, tree))?;
        let names: std::collections::BTreeSet<&Vec<u8>> = ours.keys().chain(theirs.keys()).collect();
        for name in names {
            let path = format!("{dir}{}", String::from_utf8_lossy(name));
            let (a, b) = (ours.get(name), theirs.get(name));
            if a == b {
                continue;
            }
            let tree_of = |entry: Option<&(ObjectId, EntryMode)>| entry.filter(|(_, m)| m.is_tree()).map(|(id, _)| *id);
            let is_file = |entry: Option<&(ObjectId, EntryMode)>| entry.is_some_and(|(_, m)| !m.is_tree());
            if is_file(a) || is_file(b) {
                changed.push(path.clone());
            }
            let (sub_a, sub_b) = (tree_of(a), tree_of(b));
            if sub_a.is_some() || sub_b.is_some() {
                self.compare(repo, sub_a, sub_b, &format!("{path}/"), changed)?;
            }
        }
        Ok(())
    }

    /// The commit this snapshot shows.
    pub fn commit(&self) -> ObjectId {
        self.commit
    }

    /// The blob at `path` (`/`-separated, relative to the root), or `None`
    /// if there is none or it is not a file.
    pub fn read_file(&self, path: &str) -> gix::Result<Option<Vec<u8>>> {
        self.with_handle(|repo| {
            let (dirs, file) = path.rsplit_once('/').unwrap_or(("", path));
            let mut tree = self.tree;
            for dir in dirs.split('/').filter(|d| !d.is_empty()) {
                match self.listing(repo, tree)?.get(dir.as_bytes()) {
                    Some(&(id, mode)) if mode.is_tree() => tree = id,
                    _ => return Ok(None),
                }
            }
            match self.listing(repo, tree)?.get(file.as_bytes()) {
                Some(&(id, mode)) if mode.is_blob() => Ok(Some(repo.find_blob(id)?.take_data())),
                _ => Ok(None),
            }
        })
    }

    /// Every package file name: blobs stored at their own shard path, below
    /// root entries that are not `config.json`, dot-entries or
    /// `_`-prefixed (`_keys`).
    pub fn package_names(&self) -> gix::Result<Vec<String>> {
        self.with_handle(|repo| {
            let mut names = Vec::new();
            for (file_name, &(id, mode)) in self.listing(repo, self.tree)?.iter() {
                let file_name = String::from_utf8_lossy(file_name);
                if file_name.starts_with('.') || file_name.starts_with('_') || file_name == CONFIG_FILE {
                    continue;
                }
                if mode.is_tree() {
                    self.collect_package_files(repo, id, &file_name, &mut names)?;
                }
            }
            names.sort();
            Ok(names)
        })
    }

    /// Walks the shard tree at `dir` (its path from the root), keeping
    /// blobs whose path is the shard path of their own name.
    fn collect_package_files(
        &self,
        repo: &gix::Repository,
        tree: ObjectId,
        dir: &str,
        names: &mut Vec<String>,
    ) -> gix::Result {
        for (file_name, &(id, mode)) in self.listing(repo, tree)?.iter() {
            let file_name = String::from_utf8_lossy(file_name);
            let path = format!("{dir}/{file_name}");
            if mode.is_tree() {
                self.collect_package_files(repo, id, &path, names)?;
            } else if mode.is_blob() && path == name::index_path(&file_name) {
                names.push(file_name.into_owned());
            }
        }
        Ok(())
    }

    /// The decoded directory `tree`, decoding it on first use.
    fn listing(&self, repo: &gix::Repository, tree: ObjectId) -> gix::Result<Arc<Listing>> {
        let known = self
            .listings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&tree)
            .cloned();
        if let Some(listing) = known {
            return Ok(listing);
        }
        let object = repo.find_tree(tree)?;
        let listing: Listing = object
            .decode()?
            .entries
            .iter()
            .map(|entry| (entry.filename.to_vec(), (entry.oid.to_owned(), entry.mode)))
            .collect();
        let listing = Arc::new(listing);
        let mut listings = self.listings.write().unwrap_or_else(PoisonError::into_inner);
        Ok(listings.entry(tree).or_insert(listing).clone())
    }

    fn with_handle<T>(&self, read: impl FnOnce(&gix::Repository) -> T) -> T {
        let pooled = self.handles.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let repo = pooled.unwrap_or_else(|| prepared(self.repo.to_thread_local()));
        let result = read(&repo);
        self.handles.lock().unwrap_or_else(PoisonError::into_inner).push(repo);
        result
    }
}

/// The commit `rev` names (see [`Snapshot::at_revision`]).
fn resolve_revision(repo: &gix::Repository, rev: &str) -> gix::Result<Option<ObjectId>> {
    let (name, parents) = split_ancestry(rev);
    let start = if name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        Some(ObjectId::from_hex(name.as_bytes())?)
    } else if name == "HEAD" {
        Some(repo.head_id()?.detach())
    } else {
        match repo.try_find_reference(name)? {
            Some(mut reference) => Some(reference.peel_to_commit()?.id),
            None => None,
        }
    };
    let Some(mut commit) = start else {
        return Ok(None);
    };
    for _ in 0..parents {
        match repo.find_commit(commit)?.parent_ids().next() {
            Some(parent) => commit = parent.detach(),
            None => return Ok(None),
        }
    }
    Ok(Some(commit))
}

/// `main~2` → (`main`, 2); `HEAD^^` → (`HEAD`, 2); `main` → (`main`, 0).
fn split_ancestry(rev: &str) -> (&str, usize) {
    if let Some((name, count)) = rev.rsplit_once('~')
        && let Ok(count) = count.parse::<usize>()
    {
        return (name, count);
    }
    let name = rev.trim_end_matches('^');
    (name, rev.len() - name.len())
}

fn prepared(mut repo: gix::Repository) -> gix::Repository {
    repo.objects.set_pack_cache(|| {
        Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(
            DELTA_BASE_CACHE_BYTES,
        ))
    });
    repo
}
