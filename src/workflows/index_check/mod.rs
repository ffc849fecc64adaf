//! `index check`: every package file of an index, checked in parallel.
//!
//! Each line is checked against the entry schema (required fields and their
//! types), and then by the rules the schema cannot state: the file sits at
//! its name's shard path and holds only that name (up to case), `vers` is
//! semver and unique in its file, `cksum` is 64 lowercase hex digits,
//! requirements parse, and every dependency names a package of this index
//! (looked up as Cargo does: by the lowercased name of the real package,
//! following renames; dependencies from another `registry` are skipped).
//! `config.json` must be valid.
//!
//! Every problem is a [`Finding`] with a stable [`FindingKind`]; the kind
//! fixes the severity:
//!
//! | kind | severity | meaning |
//! |---|---|---|
//! | `missing_config`, `invalid_config` | error | no usable `config.json` |
//! | `unreadable_file` | error | a package file cannot be read |
//! | `wrong_path` | error | a package file is not at its name's shard path |
//! | `invalid_json` | error | a line is not JSON |
//! | `missing_field`, `wrong_type`, `invalid_field` | error | a line breaks the entry schema |
//! | `invalid_entry` | error | schema-shaped, but Cargo cannot read it (a repeated key) |
//! | `invalid_name` | error | a package or dependency name Cargo cannot read |
//! | `name_mismatch` | error | a line names another package than its file |
//! | `invalid_version` | error | `vers` is not semver |
//! | `duplicate_version` | error | the same `vers` twice in one file |
//! | `bad_checksum` | error | `cksum` is not 64 lowercase hex digits |
//! | `missing_dependency` | error | a normal or build dependency's package is not in the index |
//! | `missing_optional_dependency` | warning | an optional or dev dependency's package is not in the index |
//! | `build_metadata_duplicate` | warning | two versions that differ only in build metadata |
//! | `bad_requirement` | warning | a requirement Cargo cannot parse |
//! | `blank_line` | warning | an empty line inside a package file |
//! | `empty_file` | warning | a package file without versions |
//!
//! A private Cargo registry built from `.crate` files (`index add`) rarely
//! holds the packages that only a feature or the package's own tests need:
//! Cargo resolves without them unless a build asks for them, so their
//! absence is a warning.
//!
//! Why the two warnings about real data are not errors:
//! - Versions differing only in build metadata (`1.0.0`, `1.0.0+1`) are the
//!   same version to semver, to Cargo's registry documentation, and to
//!   crates.io since May 2023, which refuses to publish such a pair; the 2019
//!   crates.io index still holds 640 of them from before. `index add`
//!   refuses them; here they are reported but do not fail the check.
//! - A requirement the `semver` crate cannot parse makes Cargo skip that one
//!   version; the rest of the index is unaffected.
//!
//! Which files are package files: those at a shard-shaped path — `1/*`,
//! `2/*`, `3/?/*` and `??/??/*` — so `config.json`, `README.md`, `.git/`,
//! `_keys/` and `ci/check-index.sh` are not. A file at a shard-shaped path
//! whose name does not shard there is a `wrong_path` error.
//!
//! ```
//! use ggen_marketplace::workflows::index_check::{check, FindingKind};
//! use ggen_marketplace::util::progress::NoProgress;
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("config.json"), r#"{"dl":"archives/{crate}-{version}.tar.gz"}"#).unwrap();
//! std::fs::create_dir_all(dir.path().join("de/mo")).unwrap();
//! let cksum = "ab".repeat(32);
//! let line = format!(
//!     r#"{{"name":"demo","vers":"1.0.0","deps":[{{"name":"gone","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}}],"cksum":"{cksum}","features":{{}},"yanked":false}}"#
//! );
//! std::fs::write(dir.path().join("de/mo/demo"), format!("{line}\n")).unwrap();
//!
//! let report = check(dir.path(), &NoProgress).unwrap();
//! assert_eq!((report.packages, report.versions, report.errors), (1, 1, 1));
//! assert_eq!(report.findings[0].kind, FindingKind::MissingDependency);
//! assert_eq!(report.findings[0].to_string(), "de/mo/demo:1: error[missing_dependency]: dependency `gone` names package `gone`, which is not in this index (no file go/ne/gone)");
//! ```

pub mod gate;

use std::io::Read;
use std::path::{Path, PathBuf};

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use rayon::prelude::*;
use serde::Serialize;

use crate::format::rules::line::KnownPackages;
use crate::format::rules::package_file::{self, is_at_its_shard};
pub use crate::format::rules::{Finding, FindingKind, Severity};
use crate::format::{CONFIG_FILE, IndexConfig};
use crate::util::fs::TEMP_PREFIX;
use crate::util::progress::Progress;

/// The result of a whole-index check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Package files checked.
    pub packages: usize,
    /// Non-blank lines (versions) in them.
    pub versions: usize,
    /// Findings of severity error.
    pub errors: usize,
    /// Findings of severity warning.
    pub warnings: usize,
    /// Every finding, ordered by file and line.
    pub findings: Vec<Finding>,
}

impl CheckReport {
    /// Whether the index passed: no errors (warnings allowed).
    pub fn passed(&self) -> bool {
        self.errors == 0
    }
}

/// Why the check could not run at all (problems *in* the index are findings).
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum CheckError {
    /// The index directory is missing or not a directory.
    #[error("{} is not a directory; give the root of an index (the directory holding config.json)", .0.display())]
    NotADirectory(PathBuf),
    /// A directory of the index could not be listed.
    #[error("cannot list {}: {source}", path.display())]
    ListDirectory { path: PathBuf, source: std::io::Error },
}

/// Checks the whole index at `dir`, reporting progress per package file.
pub fn check(dir: &Path, progress: &dyn Progress) -> Result<CheckReport, CheckError> {
    if !dir.is_dir() {
        return Err(CheckError::NotADirectory(dir.to_owned()));
    }
    let mut findings = check_config(dir);
    let files = shard_files(dir)?;
    progress.start("Checking package files", files.len() as u64);
    let outcome = files
        .dirs
        .par_iter()
        .map_init(Vec::new, |buffer, shard_dir| {
            let mut outcome = FileOutcome::default();
            for name in files.names_in(shard_dir) {
                let rel = format!("{}/{name}", shard_dir.path);
                outcome = outcome.merge(check_file(dir, &rel, &files, buffer));
                progress.advance(1);
            }
            outcome
        })
        .reduce(FileOutcome::default, FileOutcome::merge);
    progress.finish();
    findings.extend(outcome.findings);
    findings.sort_by(|a, b| (&a.file, a.line, a.kind).cmp(&(&b.file, b.line, b.kind)));
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    Ok(CheckReport {
        packages: files.len(),
        versions: outcome.versions,
        errors,
        warnings: findings.len() - errors,
        findings,
    })
}

fn check_config(dir: &Path) -> Vec<Finding> {
    let finding = |kind, message| vec![Finding::new(CONFIG_FILE, None, kind, message)];
    match std::fs::read_to_string(dir.join(CONFIG_FILE)) {
        Ok(text) => match IndexConfig::from_json(&text) {
            Ok(_) => Vec::new(),
            Err(e) => finding(FindingKind::InvalidConfig, e.to_string()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => finding(
            FindingKind::MissingConfig,
            "the index has no config.json; create one with at least a `dl` field (see `ggen-market index init`)"
                .to_owned(),
        ),
        Err(e) => finding(FindingKind::InvalidConfig, format!("cannot read config.json: {e}")),
    }
}

/// Findings and counts of one or more package files.
#[derive(Debug, Default)]
struct FileOutcome {
    versions: usize,
    findings: Vec<Finding>,
}

impl FileOutcome {
    fn merge(mut self, other: FileOutcome) -> FileOutcome {
        self.versions += other.versions;
        self.findings.extend(other.findings);
        self
    }
}

fn check_file(root: &Path, rel: &str, known: &ShardFiles, buffer: &mut Vec<u8>) -> FileOutcome {
    if let Err(e) = read_whole(&root.join(rel), buffer) {
        let mut findings = package_file::misplaced(rel).into_iter().collect::<Vec<_>>();
        findings.push(Finding::new(
            rel,
            None,
            FindingKind::UnreadableFile,
            format!("cannot read: {e}"),
        ));
        return FileOutcome { versions: 0, findings };
    }
    let checked = package_file::check_package_file(rel, buffer, known);
    FileOutcome {
        versions: checked.lines,
        findings: checked.findings,
    }
}

/// Reads the file at `path` into `buffer`, reused across files and so
/// mostly large enough: open, read to the end, close. (`File::read_to_end`
/// would first `stat` and `seek` to size the buffer: two more system calls
/// a file, a third of them, for hundreds of thousands of files; through
/// `Take` the read is a plain one.)
fn read_whole(path: &Path, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    buffer.clear();
    std::fs::File::open(path)?.take(u64::MAX).read_to_end(buffer)?;
    Ok(())
}

/// The package files of an index, in one string: a crates.io-sized index
/// has hundreds of thousands, and a `String` each would cost more than the
/// paths themselves. Only file names are stored; the directory part,
/// shared by many files, is stored once a directory.
pub(crate) struct ShardFiles {
    /// Every file name, each ended by NUL (no file name holds one), sorted
    /// by path.
    names: String,
    /// The directories holding files, sorted.
    dirs: Vec<ShardDir>,
    /// Files in all.
    count: usize,
    /// The files at their shard path, by file name: where each name starts
    /// in `names` (4 bytes a package where a set of `&str` takes 16).
    by_name: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

/// A directory of package files.
struct ShardDir {
    /// `1`, `2`, `3/a` or `ab/cd`.
    path: String,
    /// Where its names are in [`ShardFiles::names`].
    names: std::ops::Range<usize>,
}

impl ShardFiles {
    /// Appends the files of one directory, sorted.
    fn push_directory(&mut self, path: String, mut names: Vec<String>) {
        names.sort_unstable();
        let start = self.names.len();
        self.count += names.len();
        for name in names {
            self.names.push_str(&name);
            self.names.push('\0');
        }
        self.dirs.push(ShardDir {
            path,
            names: start..self.names.len(),
        });
    }

    /// Indexes the files at their shard path by file name.
    fn index_names(&mut self) {
        let mut by_name = HashTable::with_capacity(self.count);
        for dir in &self.dirs {
            for name in self.names_in(dir) {
                if is_at_its_shard(&format!("{}/{name}", dir.path)) {
                    let at = (name.as_ptr() as usize - self.names.as_ptr() as usize) as u32;
                    by_name.insert_unique(self.hasher.hash_one(name), at, |&other| {
                        self.hasher.hash_one(self.name_at(other))
                    });
                }
            }
        }
        self.by_name = by_name;
    }

    /// The number of files.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The names of the files in `dir` (which has one at least).
    fn names_in<'s>(&'s self, dir: &ShardDir) -> impl Iterator<Item = &'s str> + use<'s> {
        // Each name ends with NUL: leave the last one out, split at the others.
        self.names[dir.names.start..dir.names.end - 1].split('\0')
    }

    /// The name starting at byte `at` of `names`.
    fn name_at(&self, at: u32) -> &str {
        let rest = &self.names[at as usize..];
        &rest[..memchr::memchr(0, rest.as_bytes()).unwrap_or(rest.len())]
    }

    /// The names of the packages: the files at their shard path.
    pub(crate) fn packages(&self) -> impl Iterator<Item = &str> {
        self.by_name.iter().map(|&at| self.name_at(at))
    }
}

/// A package is known when its file is at its shard path.
impl KnownPackages for ShardFiles {
    fn holds(&self, lowercased: &str) -> bool {
        let hash = self.hasher.hash_one(lowercased);
        self.by_name.find(hash, |&at| self.name_at(at) == lowercased).is_some()
    }
}

/// Top directories listed in parallel at a time (of about 1,300 in a
/// crates.io-sized index).
const LISTED_AT_ONCE: usize = 16;

/// Every file at a shard-shaped path (`1/*`, `2/*`, `3/?/*`, `??/??/*`).
pub(crate) fn shard_files(root: &Path) -> Result<ShardFiles, CheckError> {
    let mut top: Vec<String> = list(root)?
        .into_iter()
        .filter(|(entry, is_dir)| *is_dir && is_top_shard(entry))
        .map(|(entry, _)| entry)
        .collect();
    // Directories of one top directory share its prefix: in the order of
    // the top directories, each sorted within, every path is in order.
    // Listed a few top directories at a time, in parallel, so only their
    // names exist as `String`s at once.
    top.sort_unstable();
    let mut files = ShardFiles {
        names: String::new(),
        dirs: Vec::new(),
        count: 0,
        by_name: HashTable::new(),
        hasher: DefaultHashBuilder::default(),
    };
    for some in top.chunks(LISTED_AT_ONCE) {
        let listed: Vec<Vec<(String, Vec<String>)>> = some
            .par_iter()
            .map(|dir| files_under_shard(root, dir))
            .collect::<Result<_, _>>()?;
        for (dir, names) in listed.into_iter().flatten() {
            files.push_directory(dir, names);
        }
    }
    files.index_names();
    Ok(files)
}

fn is_top_shard(dir: &str) -> bool {
    matches!(dir, "1" | "2" | "3") || (dir.len() == 2 && !dir.starts_with('.'))
}

/// The directories under top directory `top` that hold package files
/// (`top` itself for `1` and `2`), sorted, with the names of their files.
fn files_under_shard(root: &Path, top: &str) -> Result<Vec<(String, Vec<String>)>, CheckError> {
    let files_in = |dir: String| -> Result<(String, Vec<String>), CheckError> {
        let names = list(&root.join(&dir))?
            .into_iter()
            // A writer's temp file (in progress, or left by a killed run
            // for the next writer to remove) is not a package file.
            .filter(|(file, is_dir)| !is_dir && !file.starts_with(TEMP_PREFIX))
            .map(|(file, _)| file)
            .collect();
        Ok((dir, names))
    };
    let mut dirs = if matches!(top, "1" | "2") {
        vec![files_in(top.to_owned())?]
    } else {
        let second_len = if top == "3" { 1 } else { 2 };
        let mut dirs = Vec::new();
        for (sub, is_dir) in list(&root.join(top))? {
            if is_dir && sub.len() == second_len {
                dirs.push(files_in(format!("{top}/{sub}"))?);
            }
        }
        dirs
    };
    dirs.retain(|(_, names)| !names.is_empty());
    dirs.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
    Ok(dirs)
}

/// The entries of `dir` as (name, is a directory); symlinks and other
/// special files are left out.
fn list(dir: &Path) -> Result<Vec<(String, bool)>, CheckError> {
    let error = |source| CheckError::ListDirectory {
        path: dir.to_owned(),
        source,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(error)? {
        let entry = entry.map_err(error)?;
        let file_type = entry.file_type().map_err(error)?;
        if file_type.is_dir() || file_type.is_file() {
            entries.push((entry.file_name().to_string_lossy().into_owned(), file_type.is_dir()));
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::progress::NoProgress;

    const CONFIG: &str = r#"{"dl":"archives/{crate}/{crate}-{version}.tar.gz"}"#;

    fn entry(name: &str, vers: &str, deps: &[&str]) -> String {
        let deps: Vec<String> = deps
            .iter()
            .map(|dep| {
                format!(
                    r#"{{"name":"{dep}","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}}"#
                )
            })
            .collect();
        format!(
            r#"{{"name":"{name}","vers":"{vers}","deps":[{}],"cksum":"{}","features":{{}},"yanked":false}}"#,
            deps.join(","),
            "0f".repeat(32)
        )
    }

    fn index(files: &[(&str, String)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn run(dir: &tempfile::TempDir) -> CheckReport {
        check(dir.path(), &NoProgress).unwrap()
    }

    fn located(report: &CheckReport) -> Vec<(String, Option<usize>, FindingKind)> {
        report
            .findings
            .iter()
            .map(|f| (f.file.clone(), f.line, f.kind))
            .collect()
    }

    #[test]
    fn a_consistent_index_passes() {
        let dir = index(&[
            ("config.json", CONFIG.to_owned()),
            (
                "ba/se/base",
                format!("{}\n{}\n", entry("base", "1.0.0", &[]), entry("base", "1.1.0", &[])),
            ),
            (
                "io/.g/io.ggen.web",
                format!("{}\n", entry("io.ggen.web", "0.1.0", &["base", "Io.Ggen.Web"])),
            ),
            ("in/fl/inflector", format!("{}\n", entry("Inflector", "0.1.0", &[]))),
        ]);
        let report = run(&dir);
        assert_eq!(report.findings, vec![]);
        assert_eq!(
            (report.packages, report.versions, report.errors, report.warnings),
            (3, 4, 0, 0)
        );
        assert!(report.passed());
    }

    #[test]
    fn files_outside_shard_paths_are_not_package_files() {
        let dir = index(&[
            ("config.json", CONFIG.to_owned()),
            ("README.md", "# not json\n".to_owned()),
            ("ci/check-index.sh", "#!/bin/sh\n".to_owned()),
            ("_keys/ba/se/base", "not an entry\n".to_owned()),
            (".github/workflows/x.yml", "on: push\n".to_owned()),
            ("archives/base/base-1.0.0.tar.gz", "binary".to_owned()),
            ("ba/se/base", format!("{}\n", entry("base", "1.0.0", &[]))),
        ]);
        let report = run(&dir);
        assert_eq!(report.findings, vec![]);
        assert_eq!(report.packages, 1);
    }

    #[test]
    fn the_known_packages_are_the_files_at_their_shard_path() {
        let dir = index(&[
            ("ba/se/base", String::new()),
            ("ba/se/based", String::new()),
            ("se/rd/Serde", String::new()),
            ("1/ab", String::new()),
            ("2/ab", String::new()),
            ("3/b/bar", String::new()),
            (&format!("ba/se/{TEMP_PREFIX}base"), String::new()),
        ]);
        std::fs::create_dir_all(dir.path().join("xx/yy")).unwrap();
        let files = shard_files(dir.path()).unwrap();
        assert_eq!(files.len(), 6, "every file at a shard-shaped path but the temp file");
        let mut packages: Vec<&str> = files.packages().collect();
        packages.sort_unstable();
        assert_eq!(packages, ["ab", "bar", "base", "based"]);
        for (name, known) in [
            ("base", true),
            ("ab", true),
            ("serde", false),
            ("Serde", false),
            ("bas", false),
        ] {
            assert_eq!(files.holds(name), known, "{name}");
        }
        let dirs: Vec<(&str, Vec<&str>)> = files
            .dirs
            .iter()
            .map(|dir| (dir.path.as_str(), files.names_in(dir).collect()))
            .collect();
        assert_eq!(
            dirs,
            [
                ("1", vec!["ab"]),
                ("2", vec!["ab"]),
                ("3/b", vec!["bar"]),
                ("ba/se", vec!["base", "based"]),
                ("se/rd", vec!["Serde"]),
            ]
        );
    }

    #[test]
    fn misplaced_files_and_foreign_lines_are_errors() {
        let dir = index(&[
            ("config.json", CONFIG.to_owned()),
            ("se/rd/Serde", format!("{}\n", entry("Serde", "1.0.0", &[]))),
            ("1/ab", format!("{}\n", entry("ab", "1.0.0", &[]))),
            (
                "3/b/bar",
                format!("{}\n{}\n", entry("bar", "1.0.0", &[]), entry("baz", "1.0.0", &[])),
            ),
        ]);
        let report = run(&dir);
        assert_eq!(
            located(&report),
            vec![
                ("1/ab".into(), None, FindingKind::WrongPath),
                ("3/b/bar".into(), Some(2), FindingKind::NameMismatch),
                ("se/rd/Serde".into(), None, FindingKind::WrongPath),
            ]
        );
        assert_eq!(report.errors, 3);
        assert!(
            report.findings[0].message.contains("2/ab"),
            "{}",
            report.findings[0].message
        );
    }

    #[test]
    fn duplicates_compare_as_semver_ignoring_build_metadata() {
        let lines = ["1.0.0", "1.0.0+b", "2.0.0-rc.1", "1.0.0", "2.0.0"].map(|v| entry("demo", v, &[]));
        let dir = index(&[
            ("config.json", CONFIG.to_owned()),
            ("de/mo/demo", lines.join("\n") + "\n"),
        ]);
        let report = run(&dir);
        assert_eq!(
            located(&report),
            vec![
                ("de/mo/demo".into(), Some(2), FindingKind::BuildMetadataDuplicate),
                ("de/mo/demo".into(), Some(4), FindingKind::DuplicateVersion),
            ]
        );
        assert!(report.findings[1].message.contains("line 1"));
        assert_eq!((report.errors, report.warnings), (1, 1));
    }

    #[test]
    fn blank_lines_empty_files_and_config_problems() {
        let dir = index(&[
            ("config.json", r#"{"dl":""}"#.to_owned()),
            (
                "de/mo/demo",
                format!("{}\n\n{}\n", entry("demo", "1.0.0", &[]), entry("demo", "1.0.1", &[])),
            ),
            ("3/e/emp", String::new()),
        ]);
        let report = run(&dir);
        assert_eq!(
            located(&report),
            vec![
                ("3/e/emp".into(), None, FindingKind::EmptyFile),
                ("config.json".into(), None, FindingKind::InvalidConfig),
                ("de/mo/demo".into(), Some(2), FindingKind::BlankLine),
            ]
        );
        assert_eq!(report.versions, 2);

        let no_config = index(&[("de/mo/demo", format!("{}\n", entry("demo", "1.0.0", &[])))]);
        assert_eq!(
            located(&run(&no_config)),
            vec![("config.json".into(), None, FindingKind::MissingConfig)]
        );
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_finding() {
        let dir = tempfile::tempdir().unwrap();
        let err = check(&dir.path().join("nope"), &NoProgress).unwrap_err();
        assert!(matches!(err, CheckError::NotADirectory(_)));
    }

    #[test]
    fn findings_print_as_file_line_severity_kind_message() {
        let finding = Finding::new("3/b/bar", Some(2), FindingKind::BadRequirement, "bad".into());
        assert_eq!(finding.to_string(), "3/b/bar:2: warning[bad_requirement]: bad");
        let json = serde_json::to_value(&finding).unwrap();
        assert_eq!(json["kind"], "bad_requirement");
        assert_eq!(json["severity"], "warning");
        assert_eq!(
            serde_json::to_value(FindingKind::BuildMetadataDuplicate).unwrap(),
            FindingKind::BuildMetadataDuplicate.as_str()
        );
    }
}
