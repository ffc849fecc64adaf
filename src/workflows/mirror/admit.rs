//! What must hold before a line or an archive enters a mirror: the line's
//! signature verifies against the upstream's keys for its package (when the
//! upstream signs, or the line carries a signature), and the archive,
//! fetched through [`PackageSource::fetch_archive`] on a bounded pool,
//! hashes to the line's `cksum`. Nothing unchecked is ever written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::MirrorError;
use super::upstream::Upstream;
use crate::archive::lower_hex;
use crate::format::IndexEntry;
use crate::sources::EntryLine;
use crate::trust::{AllowedKeys, OwnerKeys, TrustError, owner_keys_path, verify_entry};
use crate::util::fs::FsError;
use crate::util::progress::Progress;

/// Lowercase hex SHA-256.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    lower_hex(&Sha256::digest(bytes))
}

/// Whether `cksum` is a SHA-256 in lowercase hex, safe to compare and print.
pub(super) fn is_sha256_hex(cksum: &str) -> bool {
    cksum.len() == 64 && cksum.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks the signature of every line of `packages` (file name → lines)
/// against the upstream's keys, reading owner-keys files in parallel where
/// signatures are in use. Returns the owner-keys text (or its absence) of
/// each package whose file was read, to copy into the mirror.
pub(super) fn check_signatures(
    upstream: &Upstream,
    packages: &[(String, Vec<&EntryLine>)],
    progress: &dyn Progress,
) -> Result<BTreeMap<String, Option<String>>, MirrorError> {
    progress.start("checking signatures", packages.len() as u64);
    let checked = upstream.par_try_map(packages, |(file_name, lines)| {
        let signed = lines.iter().any(|line| line.entry.sig.is_some());
        let read = upstream.signs() || signed;
        let keys = if read {
            upstream.read_owner_keys(file_name)?
        } else {
            None
        };
        let location = format!("{} {}", upstream.source().describe(), owner_keys_path(file_name));
        let owners = OwnerKeys::parse(&location, keys.as_deref().unwrap_or_default()).map_err(TrustError::from)?;
        let allowed = AllowedKeys::new(file_name, upstream.config(), owners)?;
        for line in lines {
            verify_entry(&line.line, &line.entry, &allowed).map_err(|source| MirrorError::Untrusted {
                name: line.entry.name.clone(),
                version: line.entry.vers.clone(),
                source,
            })?;
        }
        progress.advance(1);
        Ok::<_, MirrorError>(read.then(|| (file_name.clone(), keys)))
    });
    progress.finish();
    Ok(checked?.into_iter().flatten().collect())
}

/// Writes one checked archive where it belongs (the staging directory of
/// a new mirror, or of an update).
pub(super) type Store<'a> = dyn Fn(&Path, &[u8]) -> Result<(), FsError> + Sync + 'a;

/// One archive to put into the mirror.
pub(super) struct ArchiveJob<'a> {
    /// The entry it belongs to.
    pub entry: &'a IndexEntry,
    /// Where it goes.
    pub dest: PathBuf,
}

/// What fetching did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fetched {
    /// Archives downloaded (or read from the upstream's commits).
    pub fetched: u64,
    /// Archives already in place with the right checksum.
    pub reused: u64,
    /// Bytes of all the archives, fetched or reused.
    pub bytes: u64,
}

/// Puts every archive of `jobs` in place, in parallel: one already there
/// with the right checksum is kept (so an interrupted run resumes), any
/// other is fetched from the upstream and written with `store` only once
/// it hashes to its `cksum`. Stops at the first failure.
pub(super) fn fetch_archives(
    upstream: &Upstream,
    jobs: &[ArchiveJob<'_>],
    store: &Store<'_>,
    progress: &dyn Progress,
) -> Result<Fetched, MirrorError> {
    let fetched = AtomicU64::new(0);
    let reused = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    progress.start("fetching archives", jobs.len() as u64);
    let result = upstream.par_try_map(jobs, |job| {
        let entry = job.entry;
        if !is_sha256_hex(&entry.cksum) {
            return Err(MirrorError::BadChecksumField {
                name: entry.name.clone(),
                version: entry.vers.clone(),
            });
        }
        if let Ok(existing) = std::fs::read(&job.dest)
            && sha256_hex(&existing) == entry.cksum
        {
            reused.fetch_add(1, Ordering::Relaxed);
            bytes.fetch_add(existing.len() as u64, Ordering::Relaxed);
            progress.advance(1);
            return Ok(());
        }
        let archive = upstream
            .source()
            .fetch_archive(entry)
            .map_err(|source| MirrorError::Fetch {
                name: entry.name.clone(),
                version: entry.vers.clone(),
                source,
            })?;
        let actual = sha256_hex(&archive.bytes);
        if actual != entry.cksum {
            return Err(MirrorError::ChecksumMismatch {
                name: entry.name.clone(),
                version: entry.vers.clone(),
                origin: archive.origin,
                expected: entry.cksum.clone(),
                actual,
            });
        }
        store(&job.dest, &archive.bytes)?;
        fetched.fetch_add(1, Ordering::Relaxed);
        bytes.fetch_add(archive.bytes.len() as u64, Ordering::Relaxed);
        progress.advance(1);
        Ok(())
    });
    progress.finish();
    result?;
    Ok(Fetched {
        fetched: fetched.into_inner(),
        reused: reused.into_inner(),
        bytes: bytes.into_inner(),
    })
}
