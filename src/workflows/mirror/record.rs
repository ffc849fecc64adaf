//! `mirror.toml`: what a mirror holds and the upstream state it was made
//! from, so `update` knows what to fetch and `verify` what to expect.
//! `schemas/mirror.schema.json` describes it (as the JSON of the TOML).
//!
//! ```toml
//! version = 1
//! format = "index"
//! archive-kind = "crate"
//! base-url = "http://mirror.corp.example/"
//!
//! [upstream]
//! url = "sparse+https://index.crates.io/"
//! identity = "sparse+https://index.crates.io/"
//!
//! [upstream.files]
//! "3/i/itoa" = "0f6c…"        # SHA-256 of each mirrored package file as the upstream served it
//!
//! [selection]
//! closure = ["itoa", "smallvec@^1"]
//!
//! [[missing]]
//! name = "no-panic"
//! reason = "not_in_upstream"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::MirrorError;
use super::layout::{ArchiveKind, Layout, MirrorFormat};
use super::selection::{MissingDependency, MissingReason, Selection};

/// The `mirror.toml` format version this toolkit writes and reads.
pub const RECORD_VERSION: u32 = 1;

/// A parsed `mirror.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MirrorRecord {
    /// Format version; only 1 exists.
    pub version: u32,
    /// How the mirror lays out its files.
    pub format: MirrorFormat,
    /// What its archives are.
    pub archive_kind: ArchiveKind,
    /// The URL config.json's absolute `dl` is under, if not relative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Only the index is mirrored; archives stay at the upstream.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub index_only: bool,
    /// Where it came from.
    pub upstream: UpstreamState,
    /// What it holds.
    pub selection: Selection,
    /// Packages that mirrored versions depend on and the mirror lacks, as
    /// reported when they were last mirrored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<MissingRecord>,
}

/// The upstream and the state of it that the mirror holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct UpstreamState {
    /// The registry URL, path or name the mirror was made from.
    pub url: String,
    /// Its identity, which the mirror's config.json `id` repeats.
    pub identity: String,
    /// The git commit read, for a git upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Package file path → SHA-256 of the file as the upstream served it
    /// when its mirrored versions were last taken.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// A dependency the mirror is known not to satisfy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissingRecord {
    /// The package depended on.
    pub name: String,
    /// Why it is missing.
    pub reason: MissingReason,
}

impl MissingRecord {
    /// The records of a report's missing dependencies.
    pub fn of(missing: &[MissingDependency]) -> Vec<MissingRecord> {
        missing
            .iter()
            .map(|m| MissingRecord {
                name: m.name.clone(),
                reason: m.reason,
            })
            .collect()
    }
}

impl MirrorRecord {
    /// Reads `mirror.toml` of the mirror at `dir`.
    pub fn read(dir: &Path) -> Result<Self, MirrorError> {
        let path = dir.join(super::layout::RECORD_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(MirrorError::NotAMirror { dir: dir.to_owned() });
            }
            Err(e) => {
                return Err(MirrorError::Record {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        let record: MirrorRecord = toml::from_str(&text).map_err(|e| MirrorError::Record {
            path: path.clone(),
            reason: e.message().to_owned(),
        })?;
        if record.version != RECORD_VERSION {
            return Err(MirrorError::Record {
                path,
                reason: format!(
                    "format version {} is not {RECORD_VERSION}, the one this ggen-market reads; upgrade ggen-market",
                    record.version
                ),
            });
        }
        Ok(record)
    }

    /// The TOML text, with a header saying what the file is.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("a mirror record always serializes");
        format!("# Written by `ggen-market mirror`: what this mirror holds and where it came from.\n{body}")
    }

    /// The mirror's layout, rooted at `dir`.
    pub fn layout(&self, dir: &Path) -> Layout {
        Layout::new(dir, self.format, self.archive_kind)
    }

    /// The names of the dependencies known to be missing.
    pub fn is_known_missing(&self, name: &str) -> bool {
        self.missing.iter().any(|m| m.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_toml() {
        let mut selection = Selection::default();
        selection.add_closure("itoa, smallvec@^1").unwrap();
        let record = MirrorRecord {
            version: RECORD_VERSION,
            format: MirrorFormat::CargoLocal,
            archive_kind: ArchiveKind::Crate,
            base_url: None,
            index_only: false,
            upstream: UpstreamState {
                url: "sparse+http://127.0.0.1:1/".into(),
                identity: "sparse+http://127.0.0.1:1/".into(),
                commit: Some("ab".repeat(20)),
                files: BTreeMap::from([("3/i/itoa".to_owned(), "cd".repeat(32))]),
            },
            selection,
            missing: vec![MissingRecord {
                name: "no-panic".into(),
                reason: MissingReason::NotInUpstream,
            }],
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mirror.toml"), record.to_toml()).unwrap();
        assert_eq!(MirrorRecord::read(dir.path()).unwrap(), record);
        assert!(record.to_toml().contains("format = \"cargo-local\""));
        std::fs::write(dir.path().join("mirror.toml"), "version = 2\n").unwrap();
        assert!(matches!(
            MirrorRecord::read(dir.path()),
            Err(MirrorError::Record { .. })
        ));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            MirrorRecord::read(empty.path()),
            Err(MirrorError::NotAMirror { .. })
        ));
    }
}
