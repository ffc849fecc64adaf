//! The rules of the index format, in one place: what makes a package file,
//! a line, a version and a dependency valid. `index check` (the whole
//! index), `index add` (a batch), `publish` and the pull-request gate
//! (`index check --base --head`) all call these; none has a copy.
//!
//! Every broken rule is a [`Finding`] with a stable [`FindingKind`] (its
//! snake_case id is what scripts and CI annotations see) whose severity is
//! fixed by the kind.
//!
//! ```
//! use std::collections::HashSet;
//! use ggen_marketplace::format::rules::{FindingKind, package_file::check_package_file};
//! let line = r#"{"name":"demo","vers":"1.0.0","deps":[],"cksum":"00","features":{},"yanked":false}"#;
//! let known: HashSet<&str> = ["demo"].into();
//! let checked = check_package_file("de/mo/demo", format!("{line}\n{line}\n").as_bytes(), &known);
//! let kinds: Vec<FindingKind> = checked.findings.iter().map(|f| f.kind).collect();
//! assert_eq!(kinds, [FindingKind::BadChecksum, FindingKind::BadChecksum, FindingKind::DuplicateVersion]);
//! ```

pub mod line;
pub mod manifest;
pub mod package_file;
pub mod publishing;
pub mod versions;

use std::fmt;

use serde::Serialize;

/// How much a finding matters: errors fail the check, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The index is broken here (or a pull request breaks a rule); the
    /// check fails.
    Error,
    /// A pull request that is legal but that a person must look at before
    /// it is merged (the gate's "needs review" verdict).
    Review,
    /// Worth fixing, but clients cope (often historic data).
    Warning,
}

/// What a finding is about: a stable identifier for scripts (snake_case in
/// JSON). The module documentation explains each one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The index has no `config.json`.
    MissingConfig,
    /// `config.json` is not valid.
    InvalidConfig,
    /// A package file cannot be read.
    UnreadableFile,
    /// A package file is not at its name's shard path.
    WrongPath,
    /// A package file has no versions.
    EmptyFile,
    /// A package file has an empty line.
    BlankLine,
    /// A line is not JSON.
    InvalidJson,
    /// A line lacks a field the schema requires.
    MissingField,
    /// A field has the wrong JSON type.
    WrongType,
    /// A field has the right type but a value the schema refuses.
    InvalidField,
    /// A line has the schema's shape but Cargo cannot read it.
    InvalidEntry,
    /// A package or dependency name breaks the reading rules.
    InvalidName,
    /// A line names another package than its file.
    NameMismatch,
    /// `vers` is not semver.
    InvalidVersion,
    /// The same version twice in one package.
    DuplicateVersion,
    /// Two versions that differ only in build metadata.
    BuildMetadataDuplicate,
    /// `cksum` is not 64 lowercase hex digits.
    BadChecksum,
    /// A requirement that does not parse.
    BadRequirement,
    /// A dependency on a package the index does not have.
    MissingDependency,
    /// An optional or dev dependency on a package the index does not have.
    MissingOptionalDependency,
    /// A pull request touches a file that is not a package file, an
    /// owner-keys file, a notice file or an archive its new lines name.
    UnexpectedFile,
    /// A pull request changes config.json.
    ConfigChanged,
    /// A pull request deletes a package, owner-keys or notice file.
    FileDeleted,
    /// A published line was changed other than its `yanked` flag, removed
    /// or moved.
    LineRewritten,
    /// A `yanked` flip without an owner's signed yank notice.
    UnsignedYank,
    /// A new package name breaks the publishing rules.
    InvalidNewName,
    /// A new package name is confusable with an existing one.
    ConfusableName,
    /// A new version is not the next major, minor or patch of a published
    /// one (or not 0.0.1, 0.1.0, 1.0.0 for a first version).
    VersionSkip,
    /// A new line's signature is missing, invalid or by a key not allowed
    /// for the package.
    SignatureRefused,
    /// An owner-keys change not vouched for by a key already trusted.
    UnvouchedOwnerChange,
    /// A notice (yank, deprecation) not signed by an owner of the package.
    UnsignedNotice,
    /// The archive a new line names is not there.
    ArchiveMissing,
    /// The archive's SHA-256 is not the line's `cksum`.
    ArchiveChecksum,
    /// The archive fails the install-time extraction checks.
    ArchiveUnsafe,
    /// The archive's manifest disagrees with the line.
    ArchiveMismatch,
    /// The new version's normal dependencies do not resolve.
    Unresolvable,
    /// A new line has no description.
    MissingDescription,
    /// A new line's `license` is missing or not an SPDX expression.
    InvalidLicense,
}

impl FindingKind {
    /// The fixed severity of this kind.
    pub fn severity(self) -> Severity {
        match self {
            FindingKind::BuildMetadataDuplicate
            | FindingKind::BadRequirement
            | FindingKind::BlankLine
            | FindingKind::EmptyFile
            | FindingKind::MissingOptionalDependency => Severity::Warning,
            FindingKind::ConfigChanged | FindingKind::UnsignedYank | FindingKind::VersionSkip => Severity::Review,
            _ => Severity::Error,
        }
    }

    /// The snake_case identifier, as in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::MissingConfig => "missing_config",
            FindingKind::InvalidConfig => "invalid_config",
            FindingKind::UnreadableFile => "unreadable_file",
            FindingKind::WrongPath => "wrong_path",
            FindingKind::EmptyFile => "empty_file",
            FindingKind::BlankLine => "blank_line",
            FindingKind::InvalidJson => "invalid_json",
            FindingKind::MissingField => "missing_field",
            FindingKind::WrongType => "wrong_type",
            FindingKind::InvalidField => "invalid_field",
            FindingKind::InvalidEntry => "invalid_entry",
            FindingKind::InvalidName => "invalid_name",
            FindingKind::NameMismatch => "name_mismatch",
            FindingKind::InvalidVersion => "invalid_version",
            FindingKind::DuplicateVersion => "duplicate_version",
            FindingKind::BuildMetadataDuplicate => "build_metadata_duplicate",
            FindingKind::BadChecksum => "bad_checksum",
            FindingKind::BadRequirement => "bad_requirement",
            FindingKind::MissingDependency => "missing_dependency",
            FindingKind::MissingOptionalDependency => "missing_optional_dependency",
            FindingKind::UnexpectedFile => "unexpected_file",
            FindingKind::ConfigChanged => "config_changed",
            FindingKind::FileDeleted => "file_deleted",
            FindingKind::LineRewritten => "line_rewritten",
            FindingKind::UnsignedYank => "unsigned_yank",
            FindingKind::InvalidNewName => "invalid_new_name",
            FindingKind::ConfusableName => "confusable_name",
            FindingKind::VersionSkip => "version_skip",
            FindingKind::SignatureRefused => "signature_refused",
            FindingKind::UnvouchedOwnerChange => "unvouched_owner_change",
            FindingKind::UnsignedNotice => "unsigned_notice",
            FindingKind::ArchiveMissing => "archive_missing",
            FindingKind::ArchiveChecksum => "archive_checksum",
            FindingKind::ArchiveUnsafe => "archive_unsafe",
            FindingKind::ArchiveMismatch => "archive_mismatch",
            FindingKind::Unresolvable => "unresolvable",
            FindingKind::MissingDescription => "missing_description",
            FindingKind::InvalidLicense => "invalid_license",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Review => "review",
            Severity::Warning => "warning",
        })
    }
}

/// One problem, where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The file, relative to the index root, `/`-separated.
    pub file: String,
    /// The 1-based line, or `None` for the file as a whole.
    pub line: Option<usize>,
    /// What kind of problem.
    pub kind: FindingKind,
    /// Its severity (fixed by the kind).
    pub severity: Severity,
    /// A sentence for people.
    pub message: String,
}

impl Finding {
    /// A finding of `kind` (its severity follows from the kind).
    pub fn new(file: &str, line: Option<usize>, kind: FindingKind, message: String) -> Self {
        Finding {
            file: file.to_owned(),
            line,
            kind,
            severity: kind.severity(),
            message,
        }
    }
}

/// `file:line: severity[kind]: message` (without `:line` for file-level findings).
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}[{}]: {}", self.severity, self.kind, self.message)
    }
}
