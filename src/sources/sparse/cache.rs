//! The on-disk copy of a sparse index: one file per index path, at that
//! path under the cache directory (`config.json`, `se/rd/serde`, …). Each
//! starts with a header line saying what the server answered — the status
//! and the validators (ETag, Last-Modified) — followed by the bytes served,
//! if any:
//!
//! ```text
//! {"ggen-sparse-cache":1,"status":200,"etag":"\"5dc8-154db\"","sha256":"9f86d0…"}
//! {"name":"serde","vers":"0.1.0",…}
//! …
//! ```
//!
//! Header and content are written together in one atomic write (temp file
//! and rename), so they cannot disagree — a stale ETag can never pin other
//! content. The write is not fsynced: that would cost milliseconds a file,
//! most of a cold sync, and the cache can always be fetched again. Instead
//! the header records the SHA-256 of the content, and a file that does not
//! match it (torn by a power loss) counts as never fetched. A missing
//! package is a header alone with its 404/410/451.
//!
//! A process killed mid-write leaves its temp file (`.ggen-tmp-*`) beside
//! the file; a revalidation (`sync`) removes them all, holding every lock
//! stripe so that no live write loses its temp file.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::OWNER_KEYS_DIR;
use crate::format::name::index_path;
use crate::sources::SourceError;
use crate::sources::http::{MISSING_STATUSES, Validators};
use crate::sources::local::collect_package_files;
use crate::util::fs::{FileLock, FsError, remove_stale_temp_files_under, write_atomic_unsynced};

/// The version of the header layout; a file with another is ignored (and
/// refetched).
const FORMAT: u32 = 1;
/// The lock files. A write to one index path takes the lock of its stripe
/// (held only for the write), so parallel fetches rarely wait for each
/// other while two writers of the same file — in this process or another —
/// take turns. A few lock files, not one per index path: each new file costs
/// an inode. Index paths never start with a dot, so this cannot collide
/// with a package.
const LOCK_DIR: &str = ".locks";
const LOCK_STRIPES: u32 = 16;

/// What the cache knows of one index path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CachedFile {
    /// A copy, with the validators to revalidate it (empty if the server
    /// gave none).
    Present { bytes: Vec<u8>, validators: Validators },
    /// The server said there is no such file.
    Missing,
    /// Never fetched (or unreadable, which comes to the same: fetch it).
    Unknown,
}

/// The first line of a cached file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    #[serde(rename = "ggen-sparse-cache")]
    format: u32,
    /// The status of the answer: 2xx, or 404/410/451.
    status: u16,
    #[serde(flatten)]
    validators: Validators,
    /// SHA-256 of the content that follows, hex.
    sha256: String,
}

impl Header {
    fn is_missing(&self) -> bool {
        MISSING_STATUSES.contains(&self.status)
    }
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

    /// What the cache holds for `rel` (an index path such as `se/rd/serde`).
    pub(super) fn load(&self, rel: &str) -> Result<CachedFile, FsError> {
        let path = self.root.join(rel);
        let stored = match std::fs::read(&path) {
            Ok(stored) => stored,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CachedFile::Unknown),
            Err(e) => return Err(FsError::new("read", &path, e)),
        };
        let Some(newline) = stored.iter().position(|&b| b == b'\n') else {
            return Ok(CachedFile::Unknown);
        };
        let content = &stored[newline + 1..];
        Ok(match parse_header(&stored[..newline]) {
            Some(header) if header.sha256 != sha256_hex(content) => CachedFile::Unknown,
            Some(header) if header.is_missing() => CachedFile::Missing,
            Some(header) => CachedFile::Present {
                bytes: content.to_vec(),
                validators: header.validators,
            },
            None => CachedFile::Unknown,
        })
    }

    /// Records a fetched copy of `rel`.
    pub(super) fn store_present(&self, rel: &str, bytes: &[u8], validators: &Validators) -> Result<(), FsError> {
        self.store(rel, 200, validators, bytes)
    }

    /// Records that the server has no file at `rel`.
    pub(super) fn store_missing(&self, rel: &str, status: u16) -> Result<(), FsError> {
        self.store(rel, status, &Validators::default(), b"")
    }

    fn store(&self, rel: &str, status: u16, validators: &Validators, bytes: &[u8]) -> Result<(), FsError> {
        let header = Header {
            format: FORMAT,
            status,
            validators: validators.clone(),
            sha256: sha256_hex(bytes),
        };
        let mut stored = serde_json::to_vec(&header).expect("a header always serializes");
        stored.push(b'\n');
        stored.extend_from_slice(bytes);
        let _lock = self.lock(rel)?;
        write_atomic_unsynced(&self.root.join(rel), &stored)
    }

    /// Every package the cache knows of, sorted, each with whether it
    /// exists (`false`: the server said it does not). `config.json`, lock
    /// and temp files are not packages.
    pub(super) fn packages(&self) -> Result<Vec<(String, bool)>, SourceError> {
        self.files_in(&self.root)
    }

    /// Every package whose owner-keys file the cache knows of, the same way.
    pub(super) fn owner_keys(&self) -> Result<Vec<(String, bool)>, SourceError> {
        self.files_in(&self.root.join(OWNER_KEYS_DIR))
    }

    fn files_in(&self, tree: &Path) -> Result<Vec<(String, bool)>, SourceError> {
        if !tree.is_dir() {
            return Ok(Vec::new());
        }
        let mut names = Vec::new();
        collect_package_files(tree, tree, &mut names)?;
        names.sort();
        let mut files = Vec::with_capacity(names.len());
        for name in names {
            let path = tree.join(index_path(&name));
            let header = read_header(&path).map_err(|source| SourceError::Io { path, source })?;
            if let Some(header) = header {
                files.push((name, !header.is_missing()));
            }
        }
        Ok(files)
    }

    /// Removes the temp files killed writes left anywhere in the cache;
    /// returns how many. Holds every lock stripe (taken in order, while a
    /// writer holds one at a time), so no write is under way meanwhile.
    pub(super) fn remove_stale_temp_files(&self) -> Result<usize, FsError> {
        let _locks: Vec<FileLock> = (0..LOCK_STRIPES)
            .map(|stripe| FileLock::exclusive(&self.root.join(LOCK_DIR).join(stripe.to_string()), |_| {}))
            .collect::<Result<_, _>>()?;
        remove_stale_temp_files_under(&self.root, LOCK_DIR)
    }

    fn lock(&self, rel: &str) -> Result<FileLock, FsError> {
        let stripe = fnv1a(rel.as_bytes()) % LOCK_STRIPES;
        FileLock::exclusive(&self.root.join(LOCK_DIR).join(stripe.to_string()), |_| {})
    }
}

fn parse_header(line: &[u8]) -> Option<Header> {
    serde_json::from_slice::<Header>(line)
        .ok()
        .filter(|h| h.format == FORMAT)
}

/// The header of a cached file, reading only its first line.
fn read_header(path: &Path) -> std::io::Result<Option<Header>> {
    let mut line = Vec::new();
    BufReader::new(File::open(path)?).read_until(b'\n', &mut line)?;
    Ok(parse_header(line.strip_suffix(b"\n").unwrap_or(&line)))
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
    fn stale_temp_files_are_removed_everywhere_but_cached_files_stay() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path());
        cache.store_present("se/rd/serde", b"line\n", &etag("\"a\"")).unwrap();
        for temp in ["se/rd/.ggen-tmp-x1", ".ggen-tmp-x2", "_keys/se/rd/.ggen-tmp-x3"] {
            let path = dir.path().join(temp);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"half").unwrap();
        }
        assert_eq!(cache.remove_stale_temp_files().unwrap(), 3);
        assert_eq!(cache.packages().unwrap(), [("serde".to_string(), true)]);
        let left: Vec<_> = walk(dir.path())
            .into_iter()
            .filter(|p| p.contains(".ggen-tmp-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    fn walk(root: &Path) -> Vec<String> {
        let mut found = Vec::new();
        let mut pending = vec![root.to_owned()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    found.push(path.to_string_lossy().into_owned());
                }
            }
        }
        found
    }

    #[test]
    fn round_trips_present_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path());
        assert_eq!(cache.load("se/rd/serde").unwrap(), CachedFile::Unknown);
        cache.store_present("se/rd/serde", b"line\n", &etag("\"a\"")).unwrap();
        let present = CachedFile::Present {
            bytes: b"line\n".to_vec(),
            validators: etag("\"a\""),
        };
        assert_eq!(cache.load("se/rd/serde").unwrap(), present);
        cache.store_missing("2/ab", 410).unwrap();
        assert_eq!(cache.load("2/ab").unwrap(), CachedFile::Missing);
        cache
            .store_present("config.json", b"{}", &Validators::default())
            .unwrap();
        assert_eq!(
            cache.packages().unwrap(),
            [("ab".to_string(), false), ("serde".to_string(), true)]
        );
    }

    #[test]
    fn the_header_is_one_json_line_before_the_served_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path());
        cache
            .store_present("1/a", b"{\"x\":1}\n{\"x\":2}\n", &etag("\"e\""))
            .unwrap();
        let stored = std::fs::read_to_string(dir.path().join("1/a")).unwrap();
        let (header, content) = stored.split_once('\n').unwrap();
        let header: serde_json::Value = serde_json::from_str(header).unwrap();
        assert_eq!(header["ggen-sparse-cache"], 1);
        assert_eq!(header["status"], 200);
        assert_eq!(header["etag"], "\"e\"");
        assert_eq!(header["sha256"], sha256_hex(content.as_bytes()));
        assert_eq!(content, "{\"x\":1}\n{\"x\":2}\n");
    }

    #[test]
    fn unreadable_files_count_as_never_fetched() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path());
        assert_eq!(
            sha256_hex(b"x"),
            "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
        );
        for (rel, stored) in [
            ("1/a", &b"no header at all"[..]),
            ("1/b", b"{not json\nx"),
            // A later layout (the SHA-256 is that of "x").
            (
                "1/c",
                b"{\"ggen-sparse-cache\":99,\"status\":200,\"sha256\":\"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\"}\nx",
            ),
        ] {
            std::fs::create_dir_all(dir.path().join("1")).unwrap();
            std::fs::write(dir.path().join(rel), stored).unwrap();
            assert_eq!(cache.load(rel).unwrap(), CachedFile::Unknown, "{rel}");
        }
        assert!(cache.packages().unwrap().is_empty());
    }

    #[test]
    fn a_torn_file_counts_as_never_fetched() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path());
        cache
            .store_present("3/a/abc", b"line 1\nline 2\n", &etag("\"e\""))
            .unwrap();
        let path = dir.path().join("3/a/abc");
        let stored = std::fs::read(&path).unwrap();
        // As a power loss may leave a file that was renamed but not synced.
        std::fs::write(&path, &stored[..stored.len() - 7]).unwrap();
        assert_eq!(cache.load("3/a/abc").unwrap(), CachedFile::Unknown);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(cache.load("3/a/abc").unwrap(), CachedFile::Unknown);
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
