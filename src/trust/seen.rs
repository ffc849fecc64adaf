//! What a client has seen of each registry, so that a mirror or a man in
//! the middle cannot take it back (TUF's rollback and freeze attacks): the
//! last commit fetched from each git location, and per package the versions
//! seen with a digest of their `cksum` and `deps` and whether they were
//! yanked.
//!
//! A refreshed package file is held to that record:
//! - a version seen must still be there;
//! - its `cksum` and `deps` must be as seen (other fields may change);
//! - a version seen yanked may be unyanked only with an owner's notice
//!   (`format::notice`); yanking is normal and allowed.
//!
//! The record is kept per registry **identity** (`format::identity`), so a
//! mirror of a registry, or another transport to it, is held to the same
//! history. It lives in `GGEN_HOME/trust/seen/<identity-label>-<hash>.json`.
//! It is internal state, not an exchange format (no schema is published):
//!
//! ```text
//! {"commits":{"git+https://host/index.git":"9b8e7d1…"},
//!  "packages":{"demo":{"1.0.0":"3f2a1c0d9e8b7a65 07c1d2e3f4a5b6c7","1.1.0":"… … yanked"}}}
//! ```
//!
//! Each version is 16 hex digits (64 bits) of the SHA-256 of its `cksum`,
//! 16 of that of its canonical `deps`, and `yanked` if it was seen yanked:
//! about 50 bytes, so a record of 100,000 versions is about 5 MB.
//!
//! ```
//! use ggen_marketplace::trust::seen::{HistoryChange, SeenPackage};
//! let line = |vers: &str, cksum: &str, yanked: bool| format!(
//!     r#"{{"name":"demo","vers":"{vers}","deps":[],"cksum":"{cksum}","features":{{}},"yanked":{yanked}}}"#);
//! let seen = SeenPackage::of_text(&format!("{}\n{}\n", line("1.0.0", "aa", false), line("1.1.0", "bb", true)));
//!
//! // A new version and a yank are normal.
//! let grown = SeenPackage::of_text(&[line("1.0.0", "aa", true), line("1.1.0", "bb", true), line("1.2.0", "cc", false)].join("\n"));
//! assert!(seen.changes_to(&grown, |_| false).is_empty());
//!
//! // A changed checksum, a vanished version, a silent unyank are not.
//! let rewritten = SeenPackage::of_text(&line("1.0.0", "ff", false));
//! assert_eq!(seen.changes_to(&rewritten, |_| false), [
//!     HistoryChange::Rewritten { version: "1.0.0".into(), fields: vec!["cksum"] },
//!     HistoryChange::Vanished { version: "1.1.0".into() },
//! ]);
//! let unyanked = SeenPackage::of_text(&[line("1.0.0", "aa", false), line("1.1.0", "bb", false)].join("\n"));
//! assert_eq!(seen.changes_to(&unyanked, |_| false), [HistoryChange::Unyanked { version: "1.1.0".into() }]);
//! assert!(seen.changes_to(&unyanked, |version| version == "1.1.0").is_empty(), "with an owner's notice");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::format::canonical::canonical_form_of;
use crate::util::fs::{FileLock, FsError, write_atomic};

/// The directory of seen records, in the trust directory.
pub const SEEN_DIR: &str = "seen";
/// The lock taken while a record is merged and written.
const LOCK_FILE: &str = ".seen.lock";
/// Hex digits kept of each field's SHA-256.
const DIGEST_HEX: usize = 16;

/// The seen records could not be read or written.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum SeenError {
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A record that is not what this module writes.
    #[error(
        "{} is damaged ({source}); it records what this client has seen of a registry: delete it to start afresh (rollback protection restarts from the next sync)",
        path.display()
    )]
    Corrupt { path: PathBuf, source: serde_json::Error },
}

/// One version as seen: digests of its `cksum` and `deps`, and whether it
/// was yanked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SeenVersion {
    cksum: String,
    deps: String,
    yanked: bool,
}

impl From<SeenVersion> for String {
    fn from(version: SeenVersion) -> String {
        let yanked = if version.yanked { " yanked" } else { "" };
        format!("{} {}{yanked}", version.cksum, version.deps)
    }
}

impl TryFrom<String> for SeenVersion {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let mut parts = text.split(' ');
        let (Some(cksum), Some(deps)) = (parts.next(), parts.next()) else {
            return Err(format!("a seen version is `CKSUM DEPS [yanked]`, not {text:?}"));
        };
        let yanked = match parts.next() {
            None => false,
            Some("yanked") if parts.next().is_none() => true,
            Some(_) => return Err(format!("a seen version is `CKSUM DEPS [yanked]`, not {text:?}")),
        };
        Ok(SeenVersion {
            cksum: cksum.to_owned(),
            deps: deps.to_owned(),
            yanked,
        })
    }
}

/// The versions of one package as seen, by version.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SeenPackage(BTreeMap<String, SeenVersion>);

/// One way a package file departs from what was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum HistoryChange {
    /// A version seen is no longer there.
    Vanished {
        /// The version.
        version: String,
    },
    /// A version's `cksum` or `deps` is not as seen.
    Rewritten {
        /// The version.
        version: String,
        /// `cksum`, `deps` or both.
        fields: Vec<&'static str>,
    },
    /// A version seen yanked is unyanked without an owner's notice.
    Unyanked {
        /// The version.
        version: String,
    },
}

impl fmt::Display for HistoryChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryChange::Vanished { version } => write!(f, "version {version} vanished"),
            HistoryChange::Rewritten { version, fields } => {
                let fields: Vec<String> = fields.iter().map(|field| format!("`{field}`")).collect();
                write!(f, "version {version}: {} changed", fields.join(" and "))
            }
            HistoryChange::Unyanked { version } => {
                write!(f, "version {version} was unyanked without a signed unyank notice")
            }
        }
    }
}

impl SeenPackage {
    /// What a package file shows: every line that parses as a JSON object
    /// with a `vers` (others are left to the resolver to report).
    pub fn of_text(text: &str) -> SeenPackage {
        SeenPackage(text.lines().filter_map(seen_line).collect())
    }

    /// Whether no version was seen.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every way `now` departs from `self`, in version order; `noticed(v)`
    /// says whether an owner's notice unyanks version `v`.
    pub fn changes_to(&self, now: &SeenPackage, noticed: impl Fn(&str) -> bool) -> Vec<HistoryChange> {
        let mut changes = Vec::new();
        for (version, seen) in &self.0 {
            let Some(current) = now.0.get(version) else {
                changes.push(HistoryChange::Vanished {
                    version: version.clone(),
                });
                continue;
            };
            let fields: Vec<&'static str> = [
                ("cksum", &seen.cksum, &current.cksum),
                ("deps", &seen.deps, &current.deps),
            ]
            .into_iter()
            .filter(|(_, a, b)| a != b)
            .map(|(field, _, _)| field)
            .collect();
            if !fields.is_empty() {
                changes.push(HistoryChange::Rewritten {
                    version: version.clone(),
                    fields,
                });
            } else if seen.yanked && !current.yanked && !noticed(version) {
                changes.push(HistoryChange::Unyanked {
                    version: version.clone(),
                });
            }
        }
        changes
    }

    /// Both views together: every version either has, a version yanked in
    /// either counting as yanked. Where both hold a version, `self`'s
    /// digests are kept.
    pub fn merged_with(&self, other: &SeenPackage) -> SeenPackage {
        let mut merged = self.clone();
        for (version, seen) in &other.0 {
            let entry = merged.0.entry(version.clone()).or_insert_with(|| seen.clone());
            entry.yanked |= seen.yanked;
        }
        merged
    }

    /// The versions seen yanked.
    pub fn yanked(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(|(_, v)| v.yanked)
            .map(|(version, _)| version.as_str())
    }
}

/// The version and seen state of one line, if it is an entry.
fn seen_line(line: &str) -> Option<(String, SeenVersion)> {
    let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(line) else {
        return None;
    };
    let version = fields.get("vers")?.as_str()?.to_owned();
    let yanked = fields.get("yanked").and_then(Value::as_bool).unwrap_or(false);
    let mut digest_of = |field: &str| {
        let value = fields.remove(field).unwrap_or(Value::Null);
        let canonical = canonical_form_of(Value::Object([(field.to_owned(), value)].into_iter().collect()))
            .expect("an object always has a canonical form");
        let digest = Sha256::digest(canonical.as_bytes());
        digest
            .iter()
            .take(DIGEST_HEX / 2)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let seen = SeenVersion {
        cksum: digest_of("cksum"),
        deps: digest_of("deps"),
        yanked,
    };
    Some((version, seen))
}

/// What a client has seen of one registry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SeenRecord {
    /// The last commit fetched from each git location of the registry (its
    /// mirrors have commits of their own).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub commits: BTreeMap<String, String>,
    /// Package file name → versions seen.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub packages: BTreeMap<String, SeenPackage>,
}

impl SeenRecord {
    /// The commit last fetched from `location`.
    pub fn commit(&self, location: &str) -> Option<&str> {
        self.commits.get(location).map(String::as_str)
    }

    /// The versions of `package` seen, if any.
    pub fn package(&self, package: &str) -> Option<&SeenPackage> {
        self.packages.get(package)
    }
}

/// The seen records of every registry, one file each in a directory.
#[derive(Debug, Clone)]
pub struct SeenStore {
    dir: PathBuf,
}

impl SeenStore {
    /// The store in `GGEN_HOME`'s trust directory `trust_dir`.
    pub fn in_trust_dir(trust_dir: &Path) -> Self {
        SeenStore {
            dir: trust_dir.join(SEEN_DIR),
        }
    }

    /// The file of the registry known as `identity`: a readable label and
    /// a hash of the whole identity (identities may hold `/` and `:`).
    pub fn path(&self, identity: &str) -> PathBuf {
        let label: String = identity
            .rsplit("://")
            .next()
            .unwrap_or(identity)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .take(48)
            .collect();
        let hash: String = Sha256::digest(identity.as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join(format!("{label}-{hash}.json"))
    }

    /// The record of `identity` (empty if nothing was seen yet).
    pub fn load(&self, identity: &str) -> Result<SeenRecord, SeenError> {
        let path = self.path(identity);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| SeenError::Corrupt { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SeenRecord::default()),
            Err(e) => Err(FsError::new("read", &path, e).into()),
        }
    }

    /// Merges `update` into the record of `identity` on disk, under the
    /// store's lock so concurrent runs lose nothing: its commits and
    /// packages replace those recorded, the rest is kept. Written to a
    /// temp file and renamed.
    pub fn save(&self, identity: &str, update: &SeenRecord) -> Result<(), SeenError> {
        if update.commits.is_empty() && update.packages.is_empty() {
            return Ok(());
        }
        let _lock = FileLock::exclusive(&self.dir.join(LOCK_FILE), |_| {})?;
        let mut record = self.load(identity)?;
        record.commits.extend(update.commits.clone());
        record.packages.extend(update.packages.clone());
        let mut text = serde_json::to_string(&record).expect("a seen record always serializes");
        text.push('\n');
        Ok(write_atomic(&self.path(identity), text.as_bytes())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(vers: &str, cksum: &str, deps: &str, yanked: bool) -> String {
        format!(
            r#"{{"name":"demo","vers":"{vers}","deps":{deps},"cksum":"{cksum}","features":{{}},"yanked":{yanked}}}"#
        )
    }

    #[test]
    fn only_cksum_deps_and_yanked_count_and_formatting_does_not() {
        let seen = SeenPackage::of_text(&line("1.0.0", "aa", r#"[{"name":"x","req":"1"}]"#, false));
        let reformatted =
            r#"{ "vers": "1.0.0", "cksum": "aa", "deps": [{"req": "1", "name": "x"}], "description": "new words" }"#;
        assert!(
            seen.changes_to(&SeenPackage::of_text(reformatted), |_| false)
                .is_empty()
        );
        let new_dep = SeenPackage::of_text(&line("1.0.0", "aa", r#"[{"name":"evil","req":"1"}]"#, false));
        assert_eq!(
            seen.changes_to(&new_dep, |_| false),
            [HistoryChange::Rewritten {
                version: "1.0.0".into(),
                fields: vec!["deps"]
            }]
        );
        let both = SeenPackage::of_text(&line("1.0.0", "bb", "[]", false));
        assert_eq!(
            seen.changes_to(&both, |_| false)[0].to_string(),
            "version 1.0.0: `cksum` and `deps` changed"
        );
    }

    #[test]
    fn lines_that_are_not_entries_are_skipped() {
        let text = format!(
            "not json\n[1]\n{{\"name\":\"x\"}}\n\n{}\n",
            line("1.0.0", "aa", "[]", true)
        );
        let seen = SeenPackage::of_text(&text);
        assert_eq!(seen.0.len(), 1);
        assert_eq!(seen.yanked().collect::<Vec<_>>(), ["1.0.0"]);
    }

    #[test]
    fn merging_keeps_every_version_and_every_yank() {
        let a = SeenPackage::of_text(&[line("1.0.0", "aa", "[]", true), line("2.0.0", "cc", "[]", false)].join("\n"));
        let b = SeenPackage::of_text(&[line("1.0.0", "aa", "[]", false), line("3.0.0", "dd", "[]", true)].join("\n"));
        let merged = a.merged_with(&b);
        assert_eq!(merged.0.keys().collect::<Vec<_>>(), ["1.0.0", "2.0.0", "3.0.0"]);
        assert_eq!(merged.yanked().collect::<Vec<_>>(), ["1.0.0", "3.0.0"]);
    }

    #[test]
    fn records_round_trip_and_merge_on_save() {
        let dir = tempfile::tempdir().unwrap();
        let store = SeenStore::in_trust_dir(dir.path());
        let identity = "git+https://host.test/acme/index.git";
        assert_eq!(store.load(identity).unwrap(), SeenRecord::default());
        let mut first = SeenRecord::default();
        first.commits.insert("git://a".into(), "1111".into());
        first
            .packages
            .insert("a".into(), SeenPackage::of_text(&line("1.0.0", "aa", "[]", true)));
        store.save(identity, &first).unwrap();
        let mut second = SeenRecord::default();
        second
            .packages
            .insert("b".into(), SeenPackage::of_text(&line("1.0.0", "bb", "[]", false)));
        store.save(identity, &second).unwrap();
        let record = store.load(identity).unwrap();
        assert_eq!(record.commit("git://a"), Some("1111"));
        assert_eq!(record.package("a"), first.packages.get("a"));
        assert!(record.package("b").is_some());
        let path = store.path(identity);
        assert!(path.starts_with(dir.path().join(SEEN_DIR)));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("host.test_acme_index.git-"), "{name}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(" yanked\""), "{text}");
        std::fs::write(&path, "{").unwrap();
        let err = store.load(identity).unwrap_err().to_string();
        assert!(err.contains("delete it"), "{err}");
    }

    #[test]
    fn seen_versions_are_compact_strings() {
        let text = r#""0123456789abcdef fedcba9876543210 yanked""#;
        let version: SeenVersion = serde_json::from_str(text).unwrap();
        assert!(version.yanked);
        assert_eq!(serde_json::to_string(&version).unwrap(), text);
        for bad in [r#""x""#, r#""a b c""#, r#""a b yanked x""#] {
            assert!(serde_json::from_str::<SeenVersion>(bad).is_err(), "{bad}");
        }
    }
}
