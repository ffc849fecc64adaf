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

use super::MirrorError;
use super::admit::sha256_hex;
use super::layout::{LOCK_FILE, Layout, MirrorFormat, RECORD_FILE};
use super::record::MirrorRecord;
use super::selection::is_followed;
use crate::format::{CONFIG_FILE, IndexConfig, IndexEntry, name};
use crate::sources::PackageSource;
use crate::sources::local::LocalSource;
use crate::trust::{AllowedKeys, OwnerKeys, owner_keys_path, verify_entry};
use crate::util::fs::FileLock;
use crate::util::progress::Progress;
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

/// Checks the mirror at `dir`.
pub fn verify(dir: &Path, progress: &dyn Progress) -> Result<VerifyReport, MirrorError> {
    let record = MirrorRecord::read(dir)?;
    let layout = record.layout(dir);
    let _lock = FileLock::exclusive(&dir.join(LOCK_FILE), |path| {
        progress.start(&format!("waiting for the lock on {}", path.display()), 0);
    })?;
    let index_prefix = match record.format {
        MirrorFormat::Index => String::new(),
        MirrorFormat::CargoLocal => "index/".to_owned(),
    };
    let mut problems: Vec<Problem> = index_check::check(&layout.index_dir(), progress)?
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
        return Ok(report(0, 0, 0, 0, problems));
    };
    let Ok(config) = index.config() else {
        return Ok(report(0, 0, 0, 0, problems));
    };
    let names = index.package_names()?.unwrap_or_default();
    let packages: Vec<MirroredPackage> = names
        .par_iter()
        .map(|file_name| read_package(&index, &config, file_name, &index_prefix))
        .collect::<Result<_, MirrorError>>()?;
    let versions = packages.iter().map(|p| p.entries.len()).sum();
    problems.extend(packages.iter().flat_map(|p| p.problems.iter().cloned()));
    problems.extend(unsatisfied_dependencies(&packages, &record, &index_prefix));

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
    let (archive_problems, bytes) = rehash(&layout, &expected, progress);
    problems.extend(archive_problems);
    problems.extend(extra_files(&layout, &record, &expected)?);
    Ok(report(packages.len(), versions, expected.len(), bytes, problems))
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
    let keys = index.read_index_file(&keys_path)?.unwrap_or_default();
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

/// Re-hashes every expected archive on all cores; returns the problems and
/// the bytes read.
fn rehash(
    layout: &Layout,
    expected: &BTreeMap<String, (String, String)>,
    progress: &dyn Progress,
) -> (Vec<Problem>, u64) {
    progress.start("re-hashing archives", expected.len() as u64);
    let outcomes: Vec<(Option<Problem>, u64)> = expected
        .par_iter()
        .map_init(Vec::new, |buffer, (path, (cksum, what))| {
            buffer.clear();
            let read = std::fs::File::open(layout.root().join(path)).and_then(|mut f| f.read_to_end(buffer));
            progress.advance(1);
            match read {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                    Some(Problem {
                        kind: ProblemKind::MissingArchive,
                        path: path.clone(),
                        message: format!("the archive of {what} is missing; `ggen-market mirror update` fetches it again"),
                    }),
                    0,
                ),
                Err(e) => (
                    Some(Problem {
                        kind: ProblemKind::MissingArchive,
                        path: path.clone(),
                        message: format!("cannot read the archive of {what}: {e}"),
                    }),
                    0,
                ),
                Ok(size) => {
                    let actual = sha256_hex(buffer);
                    let problem = (actual != *cksum).then(|| Problem {
                        kind: ProblemKind::ChecksumMismatch,
                        path: path.clone(),
                        message: format!(
                            "the archive of {what} has SHA-256 {actual}, but its line says {cksum}; delete it and run `ggen-market mirror update` to fetch it again"
                        ),
                    });
                    (problem, size as u64)
                }
            }
        })
        .collect();
    progress.finish();
    let bytes = outcomes.iter().map(|(_, size)| size).sum();
    (outcomes.into_iter().filter_map(|(problem, _)| problem).collect(), bytes)
}

/// Files under the mirror that are none of: mirror.toml, config.json, a
/// package file at its shard path, an owner-keys file, an expected
/// archive, or a dot-file at the root (the lock).
fn extra_files(
    layout: &Layout,
    record: &MirrorRecord,
    expected: &BTreeMap<String, (String, String)>,
) -> Result<Vec<Problem>, MirrorError> {
    let index_prefix = match record.format {
        MirrorFormat::Index => "",
        MirrorFormat::CargoLocal => "index/",
    };
    let belongs = |relative: &str| {
        if relative == RECORD_FILE
            || expected.contains_key(relative)
            || !relative.contains('/') && relative.starts_with('.')
        {
            return true;
        }
        let Some(in_index) = relative.strip_prefix(index_prefix) else {
            return false;
        };
        let shard_path = in_index.strip_prefix("_keys/").unwrap_or(in_index);
        let file_name = shard_path.rsplit('/').next().unwrap_or(shard_path);
        in_index == CONFIG_FILE || shard_path == name::index_path(file_name)
    };
    let mut problems = Vec::new();
    let mut pending = vec![layout.root().to_owned()];
    while let Some(dir) = pending.pop() {
        let listing = std::fs::read_dir(&dir).map_err(|e| crate::util::fs::FsError::new("read directory", &dir, e))?;
        for item in listing {
            let item = item.map_err(|e| crate::util::fs::FsError::new("read directory", &dir, e))?;
            let path = item.path();
            let relative = path
                .strip_prefix(layout.root())
                .expect("under the root")
                .to_string_lossy()
                .replace('\\', "/");
            if item.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path);
            } else if !belongs(&relative) {
                problems.push(Problem {
                    kind: ProblemKind::ExtraFile,
                    path: relative,
                    message: "no line of the mirror names this file; remove it (an archive of a version the mirror no longer holds, or a stray file)".to_owned(),
                });
            }
        }
    }
    Ok(problems)
}
