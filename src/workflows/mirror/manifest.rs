//! The manifest of an export file (`ggen-mirror-manifest.json`, its first
//! member): every file of the exported tree with its size, SHA-256 and
//! executable bit, and whether this export file carries it (a delta carries
//! only what changed since its base). Its own SHA-256 identifies the tree
//! state, so a later delta names its base by it. The format is described by
//! `schemas/mirror-export-manifest.schema.json`.
//!
//! ```
//! use ggen_marketplace::workflows::mirror::manifest::{ExportManifest, ManifestFile};
//!
//! let manifest = ExportManifest::new("2025-03-01T12:00:00Z".into(), None, vec![ManifestFile {
//!     path: "config.json".into(),
//!     size: 2,
//!     sha256: "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a".into(),
//!     executable: false,
//!     carried: true,
//! }]);
//! let bytes = manifest.to_bytes();
//! assert_eq!(ExportManifest::parse(&bytes).unwrap(), manifest);
//!
//! // Paths are checked when a manifest is read: nothing may climb out.
//! let evil = String::from_utf8(bytes).unwrap().replace("config.json", "../config.json");
//! assert!(ExportManifest::parse(evil.as_bytes()).is_err());
//! ```

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::archive::lower_hex;

/// The manifest's name: the first member of every export file.
pub const MANIFEST_NAME: &str = "ggen-mirror-manifest.json";
/// The manifest's minisign signature, the second member of a signed export.
pub const SIGNATURE_NAME: &str = "ggen-mirror-manifest.json.minisig";
/// The value of `format`.
pub const FORMAT: &str = "ggen-mirror-export";
/// The `format_version` this version writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// A mirror export's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportManifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] for what this version writes.
    pub format_version: u32,
    /// When the export was made, RFC 3339 in UTC.
    pub created: String,
    /// For a delta: the SHA-256 of the base export's manifest.
    pub since: Option<String>,
    /// Every file of the tree, sorted by path.
    pub files: Vec<ManifestFile>,
}

/// One file of the exported tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Relative, `/`-separated.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its contents, lowercase hex.
    pub sha256: String,
    /// Whether it is executable (mode 0755 rather than 0644).
    pub executable: bool,
    /// Whether this export file holds its bytes (always, in a full export).
    pub carried: bool,
}

/// Why bytes are not a manifest this version can use.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum ManifestError {
    /// Not JSON of the manifest's shape.
    #[error("not a mirror export manifest: {source}")]
    Json { source: serde_json::Error },
    /// Another `format`.
    #[error("not a mirror export manifest: `format` is {found:?}, expected {FORMAT:?}")]
    Format { found: String },
    /// A newer (or unknown) format version.
    #[error(
        "the manifest has format_version {found}, this ggen-market reads {FORMAT_VERSION}; use the ggen-market version that made the export"
    )]
    Version { found: u32 },
    /// A malformed checksum.
    #[error("the manifest's `{field}` is not a lowercase hex SHA-256: {value:?}")]
    Checksum { field: String, value: String },
    /// A path that is not a plain relative path.
    #[error("the manifest lists `{path}`, which {problem}")]
    Path { path: String, problem: PathProblem },
    /// Files out of order or listed twice.
    #[error("the manifest lists `{path}` out of order or twice; files are sorted by path")]
    Order { path: String },
    /// A full export that does not carry a file.
    #[error("the manifest of a full export (no `since`) does not carry `{path}`; a full export carries every file")]
    NotCarried { path: String },
    /// A file where another listed file needs a directory.
    #[error("the manifest lists `{path}` both as a file and as a directory")]
    FileIsDirectory { path: String },
}

/// What is wrong with a path in an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathProblem {
    /// Empty, or with an empty, `.` or `..` component.
    #[error("is empty or has an empty, `.` or `..` component")]
    NotPlain,
    /// Starts with `/`.
    #[error("is absolute")]
    Absolute,
    /// Has a backslash or NUL.
    #[error("has a backslash or NUL")]
    BadCharacter,
    /// Lies in a `.git` directory, which exports never hold.
    #[error("lies inside a `.git` directory")]
    GitDirectory,
    /// Is the manifest's or the signature's own name at the root.
    #[error("is a name the export file reserves for its manifest")]
    Reserved,
}

/// Checks that `path` is a plain relative path an export may hold.
pub fn check_path(path: &str) -> Result<(), PathProblem> {
    if path.starts_with('/') {
        return Err(PathProblem::Absolute);
    }
    if path.contains(['\\', '\0']) {
        return Err(PathProblem::BadCharacter);
    }
    for component in path.split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return Err(PathProblem::NotPlain);
        }
        if component.eq_ignore_ascii_case(".git") {
            return Err(PathProblem::GitDirectory);
        }
    }
    if path == MANIFEST_NAME || path == SIGNATURE_NAME {
        return Err(PathProblem::Reserved);
    }
    Ok(())
}

/// The SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    lower_hex(&Sha256::digest(bytes))
}

impl ExportManifest {
    /// A manifest of [`FORMAT_VERSION`]; `files` must be sorted by path.
    pub fn new(created: String, since: Option<String>, files: Vec<ManifestFile>) -> Self {
        ExportManifest {
            format: FORMAT.to_owned(),
            format_version: FORMAT_VERSION,
            created,
            since,
            files,
        }
    }

    /// The manifest's bytes: JSON with one file per line, so people can
    /// read it and `diff` two of them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = format!(
            "{{\n  \"format\": {},\n  \"format_version\": {},\n  \"created\": {},\n  \"since\": {},\n  \"files\": [",
            to_json(&self.format),
            self.format_version,
            to_json(&self.created),
            to_json(&self.since)
        );
        for (i, file) in self.files.iter().enumerate() {
            text.push_str(if i == 0 { "\n    " } else { ",\n    " });
            text.push_str(&to_json(file));
        }
        text.push_str(if self.files.is_empty() { "]\n}\n" } else { "\n  ]\n}\n" });
        text.into_bytes()
    }

    /// Parses and checks a manifest: its format and version, checksums,
    /// and that every path is plain, listed once, in order, and never both
    /// a file and a directory.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let manifest: ExportManifest =
            serde_json::from_slice(bytes).map_err(|source| ManifestError::Json { source })?;
        if manifest.format != FORMAT {
            return Err(ManifestError::Format { found: manifest.format });
        }
        if manifest.format_version != FORMAT_VERSION {
            return Err(ManifestError::Version {
                found: manifest.format_version,
            });
        }
        if let Some(since) = &manifest.since {
            check_checksum("since", since)?;
        }
        let mut paths = HashSet::with_capacity(manifest.files.len());
        let mut previous: Option<&str> = None;
        for file in &manifest.files {
            check_path(&file.path).map_err(|problem| ManifestError::Path {
                path: file.path.clone(),
                problem,
            })?;
            check_checksum(&format!("sha256 of {}", file.path), &file.sha256)?;
            if previous.is_some_and(|p| p >= file.path.as_str()) {
                return Err(ManifestError::Order {
                    path: file.path.clone(),
                });
            }
            previous = Some(&file.path);
            paths.insert(file.path.as_str());
            if manifest.since.is_none() && !file.carried {
                return Err(ManifestError::NotCarried {
                    path: file.path.clone(),
                });
            }
        }
        for file in &manifest.files {
            let mut ancestors = file.path.match_indices('/').map(|(i, _)| &file.path[..i]);
            if let Some(dir) = ancestors.find(|dir| paths.contains(dir)) {
                return Err(ManifestError::FileIsDirectory { path: dir.to_owned() });
            }
        }
        Ok(manifest)
    }

    /// Whether this is a delta (it names a base).
    pub fn is_delta(&self) -> bool {
        self.since.is_some()
    }

    /// The files this export file carries.
    pub fn carried(&self) -> impl Iterator<Item = &ManifestFile> {
        self.files.iter().filter(|f| f.carried)
    }
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("manifest fields always serialize")
}

fn check_checksum(field: &str, value: &str) -> Result<(), ManifestError> {
    if value.len() == 64 && value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(ManifestError::Checksum {
            field: field.to_owned(),
            value: value.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> ManifestFile {
        ManifestFile {
            path: path.into(),
            size: 1,
            sha256: "ab".repeat(32),
            executable: false,
            carried: true,
        }
    }

    fn manifest(paths: &[&str]) -> ExportManifest {
        ExportManifest::new(
            "2025-03-01T12:00:00Z".into(),
            Some("cd".repeat(32)),
            paths.iter().map(|p| file(p)).collect(),
        )
    }

    #[test]
    fn round_trips_one_file_per_line() {
        let m = manifest(&["_keys/io/.g/io.ggen.base", "config.json", "io/.g/io.ggen.base"]);
        let bytes = m.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text.lines().filter(|l| l.contains("\"path\"")).count(), 3);
        assert_eq!(ExportManifest::parse(&bytes).unwrap(), m);
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["format"], FORMAT);
        let empty = manifest(&[]);
        assert_eq!(ExportManifest::parse(&empty.to_bytes()).unwrap(), empty);
    }

    #[test]
    fn refuses_bad_paths_order_and_clashes() {
        for (paths, needle) in [
            (&["../x"][..], "`..`"),
            (&["/etc/passwd"][..], "absolute"),
            (&["a//b"][..], "empty"),
            (&["a\\b"][..], "backslash"),
            (&["x/.git/config"][..], ".git"),
            (&["ggen-mirror-manifest.json"][..], "reserves"),
            (&["b", "a"][..], "out of order"),
            (&["a", "a"][..], "twice"),
            (&["a", "a/b"][..], "both as a file and as a directory"),
            (&["a", "a-b", "a/b"][..], "both as a file and as a directory"),
        ] {
            let err = ExportManifest::parse(&manifest(paths).to_bytes()).unwrap_err();
            assert!(err.to_string().contains(needle), "{paths:?}: {err}");
        }
    }

    #[test]
    fn refuses_other_formats_versions_and_checksums() {
        let mut m = manifest(&["a"]);
        m.format_version = 2;
        assert!(matches!(
            ExportManifest::parse(&m.to_bytes()),
            Err(ManifestError::Version { found: 2 })
        ));
        let mut m = manifest(&["a"]);
        m.format = "tar".into();
        assert!(matches!(
            ExportManifest::parse(&m.to_bytes()),
            Err(ManifestError::Format { .. })
        ));
        let mut m = manifest(&["a"]);
        m.files[0].sha256 = "AB".repeat(32);
        assert!(matches!(
            ExportManifest::parse(&m.to_bytes()),
            Err(ManifestError::Checksum { .. })
        ));
        assert!(matches!(ExportManifest::parse(b"{}"), Err(ManifestError::Json { .. })));
    }
}
