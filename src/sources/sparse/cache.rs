//! The on-disk copy of a sparse index: every fetched file at its index path
//! under the cache directory (so the cache reads like a plain index), and
//! beside the tree, under `.meta/`, what the server said about it — its
//! validators, or that it does not exist.
//!
//! The content is written before its metadata, and the metadata records the
//! SHA-256 of the content it describes: if the two ever disagree (a crash
//! between the writes, another process writing the same file), the content
//! is still a whole file from some answer, and it is simply revalidated
//! without validators, so a stale ETag can never pin stale content.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::format::name::index_path;
use crate::sources::SourceError;
use crate::sources::http::{MISSING_STATUSES, Validators};
use crate::sources::local::collect_package_files;
use crate::util::fs::{FileLock, FsError, write_atomic};

/// Where metadata lives, beside the index tree. Index paths never start
/// with a dot at the root, so it cannot collide with a package.
const META_DIR: &str = ".meta";
/// The lock files. Writes to one index path take the lock of its stripe, so
/// sixteen fetches write (and fsync) in parallel while two writers of the
/// same file — in this process or another — still take turns.
const LOCK_DIR: &str = ".locks";
const LOCK_STRIPES: u32 = 64;

/// What the cache knows of one index path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CachedFile {
    /// A copy, with the validators to revalidate it (empty if unknown).
    Present { bytes: Vec<u8>, validators: Validators },
    /// The server said there is no such file.
    Missing,
    /// Never fetched.
    Unknown,
}

/// The metadata file of one index path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    /// The status of the last answer: 2xx, or 404/410/451.
    status: u16,
    #[serde(flatten)]
    validators: Validators,
    /// SHA-256 of the content these validators belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
}

/// The cache directory of one sparse index.
#[derive(Debug, Clone)]
pub(super) struct DiskCache {
    root: PathBuf,
}

impl DiskCache {
    pub(super) fn new(root: &Path) -> Self {
        DiskCache { root: root.to_owned() }
    }

    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    /// The cached copy of `rel` (an index path such as `se/rd/serde`).
    /// Unreadable metadata only costs the validators.
    pub(super) fn load(&self, rel: &str) -> Result<CachedFile, FsError> {
        let meta = self.read_meta(rel);
        let content_path = self.root.join(rel);
        match std::fs::read(&content_path) {
            Ok(bytes) => {
                let validators = meta
                    .filter(|m| m.sha256.as_deref() == Some(sha256_hex(&bytes).as_str()))
                    .map(|m| m.validators)
                    .unwrap_or_default();
                Ok(CachedFile::Present { bytes, validators })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(match meta {
                Some(m) if MISSING_STATUSES.contains(&m.status) => CachedFile::Missing,
                _ => CachedFile::Unknown,
            }),
            Err(e) => Err(FsError::new("read", &content_path, e)),
        }
    }

    /// Records a fetched copy of `rel`: content first, then its metadata.
    pub(super) fn store_present(&self, rel: &str, bytes: &[u8], validators: &Validators) -> Result<(), FsError> {
        let _lock = self.lock(rel)?;
        write_atomic(&self.root.join(rel), bytes)?;
        let meta = Meta {
            status: 200,
            validators: validators.clone(),
            sha256: Some(sha256_hex(bytes)),
        };
        self.write_meta(rel, &meta)
    }

    /// Records that the server has no file at `rel`, dropping any old copy.
    pub(super) fn store_missing(&self, rel: &str, status: u16) -> Result<(), FsError> {
        let _lock = self.lock(rel)?;
        let content_path = self.root.join(rel);
        match std::fs::remove_file(&content_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(FsError::new("remove", &content_path, e)),
        }
        let meta = Meta {
            status,
            validators: Validators::default(),
            sha256: None,
        };
        self.write_meta(rel, &meta)
    }

    /// The names of packages the server said do not exist.
    pub(super) fn missing_package_names(&self) -> Result<Vec<String>, SourceError> {
        let meta_root = self.root.join(META_DIR);
        let mut names = Vec::new();
        if meta_root.is_dir() {
            for name in package_files_under(&meta_root)? {
                let rel = index_path(&name);
                let cached = self.load(&rel).map_err(|source| SourceError::Cache { source })?;
                if cached == CachedFile::Missing {
                    names.push(name);
                }
            }
        }
        Ok(names)
    }

    fn read_meta(&self, rel: &str) -> Option<Meta> {
        let text = std::fs::read(self.meta_path(rel)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn write_meta(&self, rel: &str, meta: &Meta) -> Result<(), FsError> {
        let json = serde_json::to_vec(meta).expect("metadata always serializes");
        write_atomic(&self.meta_path(rel), &json)
    }

    fn meta_path(&self, rel: &str) -> PathBuf {
        self.root.join(META_DIR).join(rel)
    }

    fn lock(&self, rel: &str) -> Result<FileLock, FsError> {
        let stripe = fnv1a(rel.as_bytes()) % LOCK_STRIPES;
        FileLock::exclusive(&self.root.join(LOCK_DIR).join(stripe.to_string()), |_| {})
    }
}

/// The package files under a tree laid out like an index (skipping
/// `config.json`, dot and `_` entries at its root and files not at their
/// shard, such as temp files).
pub(super) fn package_files_under(root: &Path) -> Result<Vec<String>, SourceError> {
    let mut names = Vec::new();
    collect_package_files(root, root, &mut names)?;
    names.sort();
    Ok(names)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A stable hash (the same in every process, unlike std's), to pick a lock
/// stripe.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etag(tag: &str) -> Validators {
        Validators {
            etag: Some(tag.into()),
            last_modified: None,
        }
    }

    #[test]
    fn round_trips_present_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path());
        assert_eq!(cache.load("se/rd/serde").unwrap(), CachedFile::Unknown);
        cache.store_present("se/rd/serde", b"line\n", &etag("\"a\"")).unwrap();
        assert_eq!(
            cache.load("se/rd/serde").unwrap(),
            CachedFile::Present {
                bytes: b"line\n".to_vec(),
                validators: etag("\"a\"")
            }
        );
        assert_eq!(std::fs::read(dir.path().join("se/rd/serde")).unwrap(), b"line\n");
        cache.store_missing("se/rd/serde", 410).unwrap();
        assert_eq!(cache.load("se/rd/serde").unwrap(), CachedFile::Missing);
        assert!(!dir.path().join("se/rd/serde").exists());
        assert_eq!(cache.missing_package_names().unwrap(), vec!["serde".to_string()]);
    }

    #[test]
    fn content_that_does_not_match_its_metadata_loses_its_validators() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path());
        cache.store_present("3/a/abc", b"old\n", &etag("\"old\"")).unwrap();
        // As if another writer replaced the content but not yet the metadata.
        std::fs::write(dir.path().join("3/a/abc"), b"new\n").unwrap();
        assert_eq!(
            cache.load("3/a/abc").unwrap(),
            CachedFile::Present {
                bytes: b"new\n".to_vec(),
                validators: Validators::default()
            }
        );
    }

    #[test]
    fn garbled_metadata_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path());
        cache.store_present("1/a", b"x\n", &etag("\"x\"")).unwrap();
        std::fs::write(dir.path().join(".meta/1/a"), b"{not json").unwrap();
        assert!(matches!(cache.load("1/a").unwrap(), CachedFile::Present { validators, .. } if validators.is_empty()));
    }

    #[test]
    fn stripes_are_stable_and_spread() {
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c, "the published FNV-1a test vector");
        let stripes: std::collections::HashSet<u32> =
            ["se/rd/serde", "1/a", "2/ab", "3/a/abc", "ra/nd/rand", "li/bc/libc"]
                .iter()
                .map(|p| fnv1a(p.as_bytes()) % LOCK_STRIPES)
                .collect();
        assert!(stripes.len() > 3, "{stripes:?}");
    }
}
