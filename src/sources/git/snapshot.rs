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

fn prepared(mut repo: gix::Repository) -> gix::Repository {
    repo.objects.set_pack_cache(|| {
        Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(
            DELTA_BASE_CACHE_BYTES,
        ))
    });
    repo
}
