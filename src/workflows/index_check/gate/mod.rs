//! The pull-request gate: `index check DIR --base REV --head REV`, what an
//! index's CI runs on every pull request, in the spirit of Julia's General
//! registry (Registrator opens the PR, AutoMerge checks it). It reads only
//! what the PR changed — the files that differ between the two commits, and
//! the package files their new lines depend on — plus, when the PR adds a
//! package, the list of names.
//!
//! Verdicts: **pass** (exit 0), **refuse** (exit 1: a rule is broken),
//! **needs review** (exit 3: legal, but a person must look). Each broken
//! rule is a [`Finding`] whose kind is a stable id:
//!
//! | rule | kind | verdict |
//! |---|---|---|
//! | only package files, `_keys/`, `_notices/` and the archives new lines name change | `unexpected_file` | refuse |
//! | config.json changes | `config_changed` | review |
//! | no file deleted | `file_deleted` | refuse |
//! | published lines only appended to, never changed but for `yanked`, removed or moved | `line_rewritten` | refuse |
//! | a `yanked` flip comes with an owner's signed yank notice | `unsigned_yank` | review |
//! | new lines are schema-valid at their shard path | the kinds of `index check` | refuse |
//! | a new name follows the publishing rules | `invalid_new_name` | refuse |
//! | a new name is not confusable with an existing one (look-alike, or one edit away) | `confusable_name` | refuse |
//! | a version is new (build metadata ignored) | `duplicate_version` | refuse |
//! | a version follows a published one (next major, minor or patch) | `version_skip` | review |
//! | signed by a key allowed for the package (`_keys` at base, or the new package's own) | `signature_refused` | refuse |
//! | `_keys` lines are appended, vouched for by a key trusted at base | `unvouched_owner_change` | refuse |
//! | notices are appended, signed by an owner | `unsigned_notice` | refuse |
//! | the archive at `dl` exists, matches `cksum`, extracts safely, and its manifest agrees | `archive_missing`, `archive_checksum`, `archive_unsafe`, `archive_mismatch` | refuse |
//! | dependencies exist and the new version's normal dependencies resolve | `missing_dependency`, `unresolvable` | refuse |
//! | description present, `license` an SPDX expression | `missing_description`, `invalid_license` | refuse |
//!
//! ```no_run
//! use ggen_marketplace::workflows::index_check::gate::{check_change, GateOptions, Verdict};
//! let report = check_change("my-index".as_ref(), "origin/main", "HEAD", &GateOptions::default()).unwrap();
//! for finding in &report.findings {
//!     println!("{finding}");
//! }
//! std::process::exit(report.verdict.exit_code());
//! ```

mod archive;
mod owners;
mod package;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::format::name;
use crate::format::notice::NOTICES_DIR;
use crate::format::rules::package_file::is_at_its_shard;
use crate::format::rules::{Finding, FindingKind, Severity};
use crate::format::{CONFIG_FILE, IndexConfig};
use crate::sources::download::{DEFAULT_MAX_CONNECTIONS, Downloader};
use crate::sources::git::GitRevision;
use crate::sources::{PackageSource, SourceError};
use crate::trust::owners::OWNER_KEYS_DIR;

/// How the gate runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GateOptions {
    /// Never download an archive that `dl` puts on a server (a new line
    /// whose archive is not in the head commit is then `archive_missing`).
    pub offline: bool,
    /// Archives at hand, by SHA-256: used instead of downloading (what
    /// `publish` just packed and has not uploaded yet). Only bytes whose
    /// hash is the key count.
    pub provided_archives: BTreeMap<String, Vec<u8>>,
}

/// What the gate decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every rule holds: the PR may be merged without a person.
    Pass,
    /// A rule is broken: the PR must not be merged.
    Refuse,
    /// Legal, but a person must look before merging.
    NeedsReview,
}

impl Verdict {
    /// The process exit code: 0, 1 or 3.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Pass => 0,
            Verdict::Refuse => 1,
            Verdict::NeedsReview => 3,
        }
    }
}

/// One version a PR publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedVersion {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
}

/// The gate's report on one change.
#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    /// The base commit (full id).
    pub base: String,
    /// The head commit (full id).
    pub head: String,
    /// The decision.
    pub verdict: Verdict,
    /// Files that differ between base and head.
    pub changed_files: Vec<String>,
    /// The versions the change publishes.
    pub new_versions: Vec<PublishedVersion>,
    /// Findings that refuse.
    pub errors: usize,
    /// Findings that need review.
    pub reviews: usize,
    /// Findings that are only warnings.
    pub warnings: usize,
    /// Every finding, by file and line.
    pub findings: Vec<Finding>,
}

/// Why the gate could not run at all (problems *in* the change are findings).
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum GateError {
    /// A revision could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Checks the change from `base` to `head` in the git repository at `dir`.
pub fn check_change(dir: &Path, base: &str, head: &str, options: &GateOptions) -> Result<GateReport, GateError> {
    let base = GitRevision::open(dir, base)?;
    let head = GitRevision::open(dir, head)?.with_downloader(Downloader::new(options.offline, DEFAULT_MAX_CONNECTIONS));
    let changed_files = base.changed_files(&head)?;
    let mut gate = Gate::new(&base, &head, options)?;
    gate.check(&changed_files)?;
    let Gate {
        mut findings,
        new_versions,
        ..
    } = gate;
    findings.sort_by(|a, b| (&a.file, a.line, a.kind).cmp(&(&b.file, b.line, b.kind)));
    let count = |severity| findings.iter().filter(|f| f.severity == severity).count();
    let (errors, reviews, warnings) = (
        count(Severity::Error),
        count(Severity::Review),
        count(Severity::Warning),
    );
    let verdict = match (errors, reviews) {
        (0, 0) => Verdict::Pass,
        (0, _) => Verdict::NeedsReview,
        _ => Verdict::Refuse,
    };
    Ok(GateReport {
        base: base.commit(),
        head: head.commit(),
        verdict,
        changed_files,
        new_versions,
        errors,
        reviews,
        warnings,
        findings,
    })
}

/// What a changed path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChangedFile {
    Config,
    Package,
    OwnerKeys,
    Notices,
    Other,
}

fn classify(path: &str) -> ChangedFile {
    let top = path.split('/').next().unwrap_or(path);
    let under = |dir: &str| {
        path.strip_prefix(dir)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|rest| is_at_its_shard(rest))
    };
    if path == CONFIG_FILE {
        ChangedFile::Config
    } else if under(OWNER_KEYS_DIR).is_some() {
        ChangedFile::OwnerKeys
    } else if under(NOTICES_DIR).is_some() {
        ChangedFile::Notices
    } else if !top.starts_with(['.', '_']) && path.contains('/') && is_at_its_shard(path) {
        ChangedFile::Package
    } else {
        ChangedFile::Other
    }
}

/// A `yanked` flip in a package file, waiting for its notice.
#[derive(Debug, Clone, PartialEq, Eq)]
struct YankFlip {
    file: String,
    line: usize,
    name: String,
    version: String,
    yanked: bool,
}

/// The state of one gate run.
struct Gate<'r> {
    base: &'r GitRevision,
    head: &'r GitRevision,
    options: &'r GateOptions,
    /// The rules' config: base's (a config change is reviewed anyway).
    config: IndexConfig,
    findings: Vec<Finding>,
    new_versions: Vec<PublishedVersion>,
    /// Archive paths the new lines name, which the PR may add.
    named_archives: Vec<String>,
    flips: Vec<YankFlip>,
    /// Yank notices added by the PR and verified: (package file name,
    /// version, yanked).
    signed_yanks: Vec<(String, String, bool)>,
    /// Package names at base, read once, only if a new package appears.
    base_names: Option<Vec<String>>,
    /// Package file names of packages the PR adds.
    new_packages: BTreeSet<String>,
}

impl<'r> Gate<'r> {
    fn new(base: &'r GitRevision, head: &'r GitRevision, options: &'r GateOptions) -> Result<Self, GateError> {
        let config = base.config().or_else(|_| head.config())?;
        Ok(Gate {
            base,
            head,
            options,
            config,
            findings: Vec::new(),
            new_versions: Vec::new(),
            named_archives: Vec::new(),
            flips: Vec::new(),
            signed_yanks: Vec::new(),
            base_names: None,
            new_packages: BTreeSet::new(),
        })
    }

    fn find(&mut self, file: &str, line: Option<usize>, kind: FindingKind, message: String) {
        self.findings.push(Finding::new(file, line, kind, message));
    }

    fn check(&mut self, changed: &[String]) -> Result<(), GateError> {
        let by_kind = |kind| changed.iter().filter(move |p| classify(p) == kind);
        for path in by_kind(ChangedFile::Package) {
            if self.base.read_bytes(path)?.is_none() {
                self.new_packages.insert(name::file_name_of(path).to_owned());
            }
        }
        for path in by_kind(ChangedFile::Config) {
            self.find(
                path,
                None,
                FindingKind::ConfigChanged,
                "config.json changes where archives come from and who may sign; a maintainer must review it".into(),
            );
        }
        for path in by_kind(ChangedFile::OwnerKeys) {
            self.owner_keys_change(path)?;
        }
        for path in by_kind(ChangedFile::Notices) {
            self.notices_change(path)?;
        }
        for path in by_kind(ChangedFile::Package) {
            self.package_change(path)?;
        }
        self.unsigned_flips();
        for path in by_kind(ChangedFile::Other) {
            if !self.named_archives.contains(path) {
                let message = if self.base.read_bytes(path)?.is_some() {
                    "changes or deletes a file the index already had; a pull request may only append versions, keys and notices"
                } else {
                    "is neither a package file, an owner-keys or notice file, nor the archive of a version this pull request adds"
                };
                self.find(path, None, FindingKind::UnexpectedFile, message.into());
            }
        }
        Ok(())
    }

    /// Flips of `yanked` that no signed notice of this PR covers.
    fn unsigned_flips(&mut self) {
        for flip in std::mem::take(&mut self.flips) {
            let key = (flip.name.to_ascii_lowercase(), flip.version.clone(), flip.yanked);
            if !self.signed_yanks.contains(&key) {
                let what = if flip.yanked { "yanks" } else { "un-yanks" };
                self.find(
                    &flip.file,
                    Some(flip.line),
                    FindingKind::UnsignedYank,
                    format!(
                        "{what} {} {} without an owner's signed notice (`ggen-market yank --key KEY` adds one); a maintainer must confirm it",
                        flip.name, flip.version
                    ),
                );
            }
        }
    }

    /// The package names at base (for confusable-name checks).
    fn base_names(&mut self) -> Result<&[String], GateError> {
        if self.base_names.is_none() {
            self.base_names = Some(self.base.package_names()?.unwrap_or_default());
        }
        Ok(self.base_names.as_deref().unwrap_or_default())
    }
}

/// The lines of a text, as stored (a final newline ends the last line).
fn text_lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}
