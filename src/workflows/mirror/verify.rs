//! `mirror verify`: everything a mirror holds, checked again from disk.
//!
//! - every package file passes the whole-index check of `index check`
//!   (schema, shard paths, versions, checksums' form, config.json);
//! - every line's signature verifies against the mirror's keys (its
//!   config.json `keys` and `_keys/` files, copied from the upstream), and
//!   unsigned lines are refused where signatures are required;
//! - every archive is re-hashed against its line's `cksum`, in parallel on
//!   all cores;
//! - nothing is missing, nothing is extra: an archive no line names, or any
//!   other file that is not part of the mirror, is a problem;
//! - every normal or build dependency is mirrored, or recorded in
//!   `mirror.toml` as knowingly missing (dev-dependencies are not mirrored).
//!
//! It takes the mirror's lock, so it never sees an update half-applied.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use sha2::{Digest, Sha256};

use super::MirrorError;
use super::layout::{LOCK_FILE, Layout, MirrorFormat, RECORD_FILE};
use super::record::MirrorRecord;
use super::selection::is_followed;
use crate::archive::lower_hex;
use crate::format::{CONFIG_FILE, IndexConfig, IndexEntry, name};
use crate::sources::PackageSource;
use crate::sources::local::LocalSource;
use crate::trust::{AllowedKeys, OwnerKeys, owner_keys_path, verify_entry};
use crate::util::fs::{FileLock, FsError};
use crate::util::progress::{NoProgress, Progress};
use crate::workflows::index_check::{self, FindingKind, Severity};

/// What is wrong with one file of a mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// An index file fails the index check (see `index check`).
    Index,
    /// A line's signature does not verify, or it lacks a required one.
    Signature,
    /// An archive does not hash to its line's `cksum`.
    ChecksumMismatch,
    /// A line's archive is not there.
    MissingArchive,
    /// A file no line names and the mirror does not need.
    ExtraFile,
    /// A dependency that is neither mirrored nor recorded as missing.
    MissingDependency,
}

impl ProblemKind {
    /// The snake_case identifier, as in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Index => "index",
            ProblemKind::Signature => "signature",
            ProblemKind::ChecksumMismatch => "checksum_mismatch",
            ProblemKind::MissingArchive => "missing_archive",
            ProblemKind::ExtraFile => "extra_file",
            ProblemKind::MissingDependency => "missing_dependency",
        }
    }
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// The file, relative to the mirror's root.
    pub path: String,
    /// What is wrong, for people.
    pub message: String,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Package files.
    pub packages: usize,
    /// Versions (lines).
    pub versions: usize,
    /// Archives re-hashed.
    pub archives: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Every problem, ordered by kind and path.
    pub problems: Vec<Problem>,
    /// No problems.
    pub intact: bool,
}

/// Checks the mirror at `dir`. One walk lists its files; the archives are
/// re-hashed on all cores while the index is checked.
pub fn verify(dir: &Path, progress: &dyn Progress) -> Result<VerifyReport, MirrorError> {
    let record = MirrorRecord::read(dir)?;
    let layout = record.layout(dir);
    let _lock = FileLock::exclusive(&dir.join(LOCK_FILE), |path| {
        progress.start(&format!("waiting for the lock on {}", path.display()), 0);
    })?;
    let index_prefix = match record.format {
        MirrorFormat::Index => "",
        MirrorFormat::CargoLocal => "index/",
    };
    let (index_files, others): (Vec<String>, Vec<String>) = list_files(layout.root())?
        .into_iter()
        .partition(|relative| is_index_part(relative, index_prefix));
    let in_index = || {
        index_files
            .iter()
            .filter_map(|relative| relative.strip_prefix(index_prefix))
    };
    let names: Vec<String> = in_index()
        .filter(|path| !path.starts_with("_keys/") && path.contains('/'))
        .map(|path| path.rsplit('/').next().unwrap_or(path).to_owned())
        .collect();
    let owner_files: BTreeSet<String> = in_index()
        .filter(|path| path.starts_with("_keys/"))
        .map(str::to_owned)
        .collect();
    let (checked, hashed) = rayon::join(
        || check_index(&layout, &record, index_prefix, &names, &owner_files),
        || hash_all(layout.root(), &others, progress),
    );
    let (mut problems, packages) = checked?;
    let versions = packages.iter().map(|p| p.entries.len()).sum();
    let expected: BTreeMap<String, (String, String)> = if record.index_only {
        BTreeMap::new()
    } else {
        packages
            .iter()
            .flat_map(|p| &p.entries)
            .map(|entry| {
                let path = layout.archive_path(&entry.name, &entry.vers);
                (path, (entry.cksum.clone(), format!("{} {}", entry.name, entry.vers)))
            })
            .collect()
    };
    let mut bytes = 0;
    for (path, (cksum, what)) in &expected {
        let problem = |kind, message| Problem {
            kind,
            path: path.clone(),
            message,
        };
        match hashed.get(path) {
            None => problems.push(problem(
                ProblemKind::MissingArchive,
                format!("the archive of {what} is missing; `ggen-market mirror update` fetches it again"),
            )),
            Some(Err(e)) => problems.push(problem(
                ProblemKind::MissingArchive,
                format!("cannot read the archive of {what}: {e}"),
            )),
            Some(Ok((actual, size))) => {
                bytes += size;
                if actual != cksum {
                    problems.push(problem(
                        ProblemKind::ChecksumMismatch,
                        format!(
                            "the archive of {what} has SHA-256 {actual}, but its line says {cksum}; delete it and run `ggen-market mirror update` to fetch it again"
                        ),
                    ));
                }
            }
        }
    }
    problems.extend(hashed.keys().filter(|path| !expected.contains_key(*path)).map(|path| Problem {
        kind: ProblemKind::ExtraFile,
        path: path.clone(),
        message: "no line of the mirror names this file; remove it (an archive of a version the mirror no longer holds, or a stray file)".to_owned(),
    }));
    Ok(report(packages.len(), versions, expected.len(), bytes, problems))
}

/// The index check, every package file read and its signatures checked,
/// and the dependencies against what mirror.toml records.
fn check_index(
    layout: &Layout,
    record: &MirrorRecord,
    index_prefix: &str,
    names: &[String],
    owner_files: &BTreeSet<String>,
) -> Result<(Vec<Problem>, Vec<MirroredPackage>), MirrorError> {
    let mut problems: Vec<Problem> = index_check::check(&layout.index_dir(), &NoProgress)?
        .findings
        .into_iter()
        // Dependencies are checked below against what mirror.toml records.
        .filter(|f| f.severity == Severity::Error && f.kind != FindingKind::MissingDependency)
        .map(|f| Problem {
            kind: ProblemKind::Index,
            path: format!("{index_prefix}{}", f.file),
            message: f.to_string(),
        })
        .collect();
    let Ok(index) = LocalSource::open(layout.index_dir()) else {
        return Ok((problems, Vec::new()));
    };
    let Ok(config) = index.config() else {
        return Ok((problems, Vec::new()));
    };
    let packages: Vec<MirroredPackage> = names
        .par_iter()
        .map(|file_name| read_package(&index, &config, file_name, index_prefix, owner_files))
        .collect::<Result<_, MirrorError>>()?;
    problems.extend(packages.iter().flat_map(|p| p.problems.iter().cloned()));
    problems.extend(unsatisfied_dependencies(&packages, record, index_prefix));
    Ok((problems, packages))
}

fn report(packages: usize, versions: usize, archives: usize, bytes: u64, mut problems: Vec<Problem>) -> VerifyReport {
    problems.sort();
    problems.dedup();
    VerifyReport {
        packages,
        versions,
        archives,
        bytes,
        intact: problems.is_empty(),
        problems,
    }
}

/// One package file of the mirror, read.
struct MirroredPackage {
    name: String,
    path: String,
    entries: Vec<IndexEntry>,
    problems: Vec<Problem>,
}

/// Reads a package file (lines that do not parse are the index check's
/// findings) and checks each line's signature.
fn read_package(
    index: &LocalSource,
    config: &IndexConfig,
    file_name: &str,
    prefix: &str,
    owner_files: &BTreeSet<String>,
) -> Result<MirroredPackage, MirrorError> {
    let path = format!("{prefix}{}", name::index_path(file_name));
    let text = index.read_package_file(file_name)?.unwrap_or_default();
    let mut problems = Vec::new();
    let mut signature_problem = |message: String, at: &str| {
        problems.push(Problem {
            kind: ProblemKind::Signature,
            path: at.to_owned(),
            message,
        })
    };
    let keys_path = owner_keys_path(file_name);
    // The walk found every owner-keys file: most packages have none.
    let keys = if owner_files.contains(&keys_path) {
        index.read_index_file(&keys_path)?.unwrap_or_default()
    } else {
        String::new()
    };
    let allowed = OwnerKeys::parse(&keys_path, &keys)
        .map_err(Into::into)
        .and_then(|owners| AllowedKeys::new(file_name, config, owners));
    let mut entries = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let Ok(entry) = IndexEntry::from_line(line) else {
            continue;
        };
        match &allowed {
            Ok(allowed) => {
                if let Err(e) = verify_entry(line, &entry, allowed) {
                    signature_problem(e.to_string(), &path);
                }
            }
            Err(e) => signature_problem(e.to_string(), &format!("{prefix}{keys_path}")),
        }
        entries.push(entry);
    }
    Ok(MirroredPackage {
        name: file_name.to_owned(),
        path,
        entries,
        problems,
    })
}

/// Dependencies of mirrored lines that are neither mirrored nor recorded
/// in mirror.toml as missing.
fn unsatisfied_dependencies(packages: &[MirroredPackage], record: &MirrorRecord, prefix: &str) -> Vec<Problem> {
    let mirrored: BTreeSet<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    let mut problems = Vec::new();
    for package in packages {
        let mut reported = BTreeSet::new();
        for dep in package.entries.iter().flat_map(|e| &e.deps).filter(|d| is_followed(d)) {
            let target = dep.package_name().to_ascii_lowercase();
            let present = name::lookup_variants(&target)
                .iter()
                .any(|variant| mirrored.contains(variant.as_str()));
            if !present && !record.is_known_missing(&target) && reported.insert(target.clone()) {
                problems.push(Problem {
                    kind: ProblemKind::MissingDependency,
                    path: format!("{prefix}{}", package.path.trim_start_matches(prefix)),
                    message: format!(
                        "{} depends on `{target}`, which is neither mirrored nor recorded as missing in {RECORD_FILE}; run `ggen-market mirror update` or mirror it",
                        package.name
                    ),
                });
            }
        }
    }
    problems
}

/// Whether a file is part of the mirror's index (or its bookkeeping):
/// mirror.toml, a dot-file at the root (the lock), config.json, a package
/// file at its shard path, an owner-keys file. Every other file is an
/// archive, expected or extra.
fn is_index_part(relative: &str, index_prefix: &str) -> bool {
    if relative == RECORD_FILE || !relative.contains('/') && relative.starts_with('.') {
        return true;
    }
    let Some(in_index) = relative.strip_prefix(index_prefix) else {
        return false;
    };
    let shard_path = in_index.strip_prefix("_keys/").unwrap_or(in_index);
    let file_name = shard_path.rsplit('/').next().unwrap_or(shard_path);
    in_index == CONFIG_FILE || shard_path == name::index_path(file_name)
}

/// Every regular file under `root`, relative and `/`-separated.
fn list_files(root: &Path) -> Result<Vec<String>, MirrorError> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        let listing = std::fs::read_dir(&dir).map_err(|e| FsError::new("read directory", &dir, e))?;
        for item in listing {
            let item = item.map_err(|e| FsError::new("read directory", &dir, e))?;
            let path = item.path();
            if item.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("under the root");
                files.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(files)
}

/// Read size while hashing: small enough that each chunk is still in cache
/// when it is hashed, large enough that syscalls cost little.
const CHUNK: usize = 128 * 1024;

/// The SHA-256 and size of each file, hashed on all cores.
fn hash_all(
    root: &Path,
    files: &[String],
    progress: &dyn Progress,
) -> BTreeMap<String, std::io::Result<(String, u64)>> {
    progress.start("re-hashing archives", files.len() as u64);
    let hashed = files
        .par_iter()
        .map_init(
            || vec![0; CHUNK],
            |chunk, relative| {
                let hashed = hash_file(&root.join(relative), chunk);
                progress.advance(1);
                (relative.clone(), hashed)
            },
        )
        .collect();
    progress.finish();
    hashed
}

/// Streams one file through SHA-256, a chunk at a time.
fn hash_file(path: &Path, chunk: &mut [u8]) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        match file.read(chunk) {
            Ok(0) => return Ok((lower_hex(&hasher.finalize()), size)),
            Ok(read) => {
                hasher.update(&chunk[..read]);
                size += read as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
