//! One fetched state of a git index, read straight from the object database:
//! the tree of the commit our ref points at. Nothing is checked out.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use gix::ObjectId;
use gix::bstr::ByteSlice;

use crate::format::{CONFIG_FILE, name};

/// The ref the clone keeps the fetched tip of the remote's default branch
/// in: a name of our own, so nothing else (git, a user's config) moves it.
pub(super) const INDEX_REF: &str = "refs/ggen/index";

/// Bytes of decoded objects each handle keeps: enough for the root tree and
/// the shard trees a resolver walks again and again (without it, a lookup
/// costs ten times more).
const OBJECT_CACHE_BYTES: usize = 8 * 1024 * 1024;
/// Bytes of delta bases each handle keeps, like git's
/// `core.deltaBaseCacheLimit`: package files are long delta chains, and
/// gix's default cache of 64 entries makes reading the whole crates.io
/// corpus five times slower (5 s instead of 1 s). It grows only as used.
const DELTA_BASE_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The index as of one commit, shared by all threads.
pub(super) struct Snapshot {
    repo: gix::ThreadSafeRepository,
    commit: ObjectId,
    tree: ObjectId,
    /// Thread-local handles, reused: making one per read costs more than the
    /// read itself, and each keeps its object cache warm.
    handles: Mutex<Vec<gix::Repository>>,
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
            let tree = repo.find_tree(self.tree)?;
            let Some(entry) = tree.lookup_entry(path.split('/'))? else {
                return Ok(None);
            };
            if !entry.mode().is_blob() {
                return Ok(None);
            }
            Ok(Some(repo.find_blob(entry.object_id())?.take_data()))
        })
    }

    /// Every package file name: blobs stored at their own shard path, below
    /// root entries that are not `config.json`, dot-entries or
    /// `_`-prefixed (`_keys`).
    pub fn package_names(&self) -> gix::Result<Vec<String>> {
        self.with_handle(|repo| {
            let mut names = Vec::new();
            let root = repo.find_tree(self.tree)?;
            for entry in root.decode()?.entries {
                let file_name = entry.filename.to_str_lossy();
                if file_name.starts_with('.') || file_name.starts_with('_') || file_name == CONFIG_FILE {
                    continue;
                }
                if entry.mode.is_tree() {
                    collect_package_files(repo, entry.oid.to_owned(), &file_name, &mut names)?;
                }
            }
            names.sort();
            Ok(names)
        })
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
    repo.object_cache_size_if_unset(OBJECT_CACHE_BYTES);
    repo.objects.set_pack_cache(|| {
        Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(
            DELTA_BASE_CACHE_BYTES,
        ))
    });
    repo
}

/// Walks the shard tree at `dir` (its path from the root), keeping blobs
/// whose path is the shard path of their own name.
fn collect_package_files(repo: &gix::Repository, tree: ObjectId, dir: &str, names: &mut Vec<String>) -> gix::Result {
    let tree = repo.find_tree(tree)?;
    for entry in tree.decode()?.entries {
        let file_name = entry.filename.to_str_lossy();
        let path = format!("{dir}/{file_name}");
        if entry.mode.is_tree() {
            collect_package_files(repo, entry.oid.to_owned(), &path, names)?;
        } else if entry.mode.is_blob() && path == name::index_path(&file_name) {
            names.push(file_name.into_owned());
        }
    }
    Ok(())
}
