//! `sign`: sign entries of a local index in place. Each chosen line gains
//! (or has replaced) its `sig`; every other byte of every file stays as it
//! was. All files are prepared before any is written, each is replaced
//! atomically, and the whole run holds the index lock, so concurrent index
//! edits wait.
//!
//! ```
//! use ggen_marketplace::trust::GeneratedKey;
//! use ggen_marketplace::workflows::sign::{Selection, sign_index};
//!
//! let index = tempfile::tempdir().unwrap();
//! std::fs::write(index.path().join("config.json"), r#"{"dl":"archives/{crate}-{version}.tar.gz"}"#).unwrap();
//! std::fs::create_dir_all(index.path().join("de/mo")).unwrap();
//! let line = r#"{"name":"demo","vers":"1.0.0","deps":[],"cksum":"00","features":{},"yanked":false}"#;
//! std::fs::write(index.path().join("de/mo/demo"), format!("{line}\n")).unwrap();
//!
//! let key = GeneratedKey::unencrypted().unwrap().secret_key().unwrap();
//! let targets = Selection::Versions(vec!["demo@1.0.0".parse().unwrap()]);
//! let report = sign_index(index.path(), &key, &targets, |_| {}).unwrap();
//! assert_eq!(report.signed[0].file, "de/mo/demo");
//! // The key is not listed for demo yet, and the report says so.
//! assert!(!report.signed[0].key_allowed);
//! let text = std::fs::read_to_string(index.path().join("de/mo/demo")).unwrap();
//! assert!(text.starts_with(&line[..line.len() - 1]) && text.contains(r#""sig":"untrusted comment: "#));
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use crate::format::entry::EntryParseError;
use crate::format::name::{index_path, lookup_variants};
use crate::format::{IndexConfig, IndexEntry};
use crate::sources::local::LocalSource;
use crate::sources::{PackageSource, SourceError};
use crate::trust::keys::{KeyId, SecretKey};
use crate::trust::owners::{OwnerKeys, OwnerKeysError, owner_keys_path};
use crate::trust::sign::{SignError, sign_entry_line};
use crate::trust::verify::{AllowedKeys, TrustError};
use crate::util::fs::{FileLock, FsError, write_atomic};

/// The lock file at the root of an index, held by every command that edits it.
pub const INDEX_LOCK_FILE: &str = ".ggen-index.lock";

/// One version of one package, written `NAME@VERSION`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PackageVersion {
    /// The package name (any case).
    pub name: String,
    /// The version, exactly as in the entry's `vers`.
    pub version: String,
}

/// Text that is not `NAME@VERSION`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not NAME@VERSION (for example io.ggen.base@1.2.0)")]
pub struct NotPackageVersion(String);

impl FromStr for PackageVersion {
    type Err = NotPackageVersion;

    fn from_str(text: &str) -> Result<Self, NotPackageVersion> {
        match text.split_once('@') {
            Some((name, version)) if !name.is_empty() && !version.is_empty() && !version.contains('@') => {
                Ok(PackageVersion {
                    name: name.to_owned(),
                    version: version.to_owned(),
                })
            }
            _ => Err(NotPackageVersion(text.to_owned())),
        }
    }
}

/// Which entries to sign.
#[derive(Debug, Clone)]
pub enum Selection {
    /// These versions, signed or not (an existing signature is replaced).
    Versions(Vec<PackageVersion>),
    /// Every entry of the index that has no signature.
    AllUnsigned,
}

/// What `sign_index` did.
#[derive(Debug, Clone, Serialize)]
pub struct SignReport {
    /// The index directory.
    pub index: PathBuf,
    /// The signing key.
    pub key_id: KeyId,
    /// The entries signed, in file order.
    pub signed: Vec<SignedEntry>,
}

/// One entry signed.
#[derive(Debug, Clone, Serialize)]
pub struct SignedEntry {
    /// The package name.
    pub name: String,
    /// The version.
    pub vers: String,
    /// The package file, relative to the index root.
    pub file: String,
    /// Whether a previous signature was replaced.
    pub replaced_signature: bool,
    /// Whether the key may sign this package (it is in the package's
    /// owner-keys file or in config.json `keys`). If not, clients refuse
    /// the signature until it is added.
    pub key_allowed: bool,
}

/// Why entries could not be signed. Nothing is written in that case.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum SignIndexError {
    /// The index could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Locking or writing failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// No file for the package.
    #[error("{} has no package {name}; check the name (`ggen-market search`)", index.display())]
    NoSuchPackage { index: PathBuf, name: String },
    /// The package has no such version.
    #[error("{name} has no version {version}; its versions are: {}", available.join(", "))]
    NoSuchVersion {
        name: String,
        version: String,
        available: Vec<String>,
    },
    /// A line of a package file is not an entry.
    #[error("{file}, line {line}: {source}; fix the index first (`ggen-market index check`)")]
    BadLine {
        file: String,
        line: usize,
        source: EntryParseError,
    },
    /// Signing one entry failed.
    #[error("cannot sign {name}@{version}: {source}")]
    Sign {
        name: String,
        version: String,
        source: SignError,
    },
    /// The package's owner-keys file is malformed.
    #[error(transparent)]
    OwnerKeys(#[from] OwnerKeysError),
    /// config.json's `keys` are malformed.
    #[error(transparent)]
    Trust(#[from] TrustError),
}

/// Signs the `selection` of entries of the index in directory `index` with
/// `key`. `on_wait` is called if another process holds the index lock.
pub fn sign_index(
    index: &Path,
    key: &SecretKey,
    selection: &Selection,
    on_wait: impl FnOnce(&Path),
) -> Result<SignReport, SignIndexError> {
    let source = LocalSource::open(index)?;
    let config = source.config()?;
    let _lock = FileLock::exclusive(&index.join(INDEX_LOCK_FILE), on_wait)?;
    let mut changed_files = Vec::new();
    let mut signed = Vec::new();
    for (file_name, versions) in files_to_sign(&source, selection)? {
        let file = index_path(&file_name);
        let text = source.read_package_file(&file_name)?.unwrap_or_default();
        let wanted = |entry: &IndexEntry| match &versions {
            Some(versions) => versions.contains(&entry.vers),
            None => entry.sig.is_none(),
        };
        let (new_text, mut entries) = sign_lines(&text, &file, wanted, key)?;
        if let Some(versions) = &versions {
            check_all_found(&file_name, versions, &text)?;
        }
        let allowed = key_allowed(index, &file_name, &config, key.id())?;
        for entry in &mut entries {
            entry.key_allowed = allowed;
        }
        if !entries.is_empty() {
            changed_files.push((index.join(&file), new_text));
            signed.extend(entries);
        }
    }
    for (path, text) in changed_files {
        write_atomic(&path, text.as_bytes())?;
    }
    Ok(SignReport {
        index: index.to_owned(),
        key_id: key.id(),
        signed,
    })
}

/// The package files to visit, each with the versions wanted from it
/// (`None`: every unsigned entry).
fn files_to_sign(
    source: &LocalSource,
    selection: &Selection,
) -> Result<BTreeMap<String, Option<Vec<String>>>, SignIndexError> {
    let mut files = BTreeMap::new();
    match selection {
        Selection::AllUnsigned => {
            for name in source.package_names()?.unwrap_or_default() {
                files.insert(name, None);
            }
        }
        Selection::Versions(targets) => {
            for target in targets {
                let file_name = stored_file_name(source, &target.name)?;
                let versions: &mut Option<Vec<String>> = files.entry(file_name).or_insert_with(|| Some(Vec::new()));
                versions.get_or_insert_with(Vec::new).push(target.version.clone());
            }
        }
    }
    Ok(files)
}

/// The name a package's file is stored under, found the way Cargo looks
/// names up (any case, `-` and `_` alike).
fn stored_file_name(source: &LocalSource, name: &str) -> Result<String, SignIndexError> {
    for variant in lookup_variants(name) {
        if source.read_package_file(&variant)?.is_some() {
            return Ok(variant);
        }
    }
    Err(SignIndexError::NoSuchPackage {
        index: source.root().to_owned(),
        name: name.to_owned(),
    })
}

/// `text` with every wanted entry signed, and the entries signed. Line
/// endings, blank lines and other lines are kept byte for byte.
fn sign_lines(
    text: &str,
    file: &str,
    wanted: impl Fn(&IndexEntry) -> bool,
    key: &SecretKey,
) -> Result<(String, Vec<SignedEntry>), SignIndexError> {
    let mut out = String::with_capacity(text.len() + 512);
    let mut signed = Vec::new();
    for (i, piece) in text.split_inclusive('\n').enumerate() {
        let line = piece.trim_end_matches(['\n', '\r']);
        let ending = &piece[line.len()..];
        if line.trim().is_empty() {
            out.push_str(piece);
            continue;
        }
        let entry = IndexEntry::from_line(line).map_err(|source| SignIndexError::BadLine {
            file: file.to_owned(),
            line: i + 1,
            source,
        })?;
        if !wanted(&entry) {
            out.push_str(piece);
            continue;
        }
        let signed_line = sign_entry_line(line, key).map_err(|source| SignIndexError::Sign {
            name: entry.name.clone(),
            version: entry.vers.clone(),
            source,
        })?;
        out.push_str(&signed_line);
        out.push_str(ending);
        signed.push(SignedEntry {
            name: entry.name,
            vers: entry.vers,
            file: file.to_owned(),
            replaced_signature: entry.sig.is_some(),
            key_allowed: false,
        });
    }
    Ok((out, signed))
}

fn check_all_found(file_name: &str, versions: &[String], text: &str) -> Result<(), SignIndexError> {
    let available: Vec<String> = IndexEntry::parse_file(text)
        .filter_map(|(_, entry)| entry.ok())
        .map(|entry| entry.vers)
        .collect();
    match versions.iter().find(|v| !available.contains(v)) {
        Some(missing) => Err(SignIndexError::NoSuchVersion {
            name: file_name.to_owned(),
            version: missing.clone(),
            available,
        }),
        None => Ok(()),
    }
}

/// Whether `key_id` may sign the package stored as `file_name`.
fn key_allowed(index: &Path, file_name: &str, config: &IndexConfig, key_id: KeyId) -> Result<bool, SignIndexError> {
    let location = owner_keys_path(file_name);
    let path = index.join(&location);
    let owner_keys = match std::fs::read_to_string(&path) {
        Ok(text) => OwnerKeys::parse(&location, &text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => OwnerKeys::default(),
        Err(e) => return Err(FsError::new("read", &path, e).into()),
    };
    Ok(AllowedKeys::new(file_name, config, owner_keys)?.key(key_id).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::canonical::canonical_form;
    use crate::trust::keys::Signature;
    use crate::trust::owners::tests::{new_key, plain_line};

    const CKSUM: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn line(name: &str, vers: &str) -> String {
        format!(r#"{{"name":"{name}","vers":"{vers}","deps":[],"cksum":"{CKSUM}","features":{{}},"yanked":false}}"#)
    }

    fn index_with(files: &[(&str, String)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"dl":"archives/{crate}-{version}.tar.gz"}"#,
        )
        .unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn versions(targets: &[&str]) -> Selection {
        Selection::Versions(targets.iter().map(|t| t.parse().unwrap()).collect())
    }

    #[test]
    fn signs_only_the_named_line_and_keeps_every_other_byte() {
        let demo = format!(
            "{}\n\n{}\r\n{}",
            line("demo", "1.0.0"),
            line("demo", "1.1.0"),
            line("demo", "2.0.0")
        );
        let other = format!("{}\n", line("other", "1.0.0"));
        let index = index_with(&[("de/mo/demo", demo.clone()), ("ot/he/other", other.clone())]);
        let key = new_key();
        let report = sign_index(index.path(), &key, &versions(&["Demo@1.1.0"]), |_| {}).unwrap();
        assert_eq!(report.signed.len(), 1);
        assert_eq!(report.signed[0].vers, "1.1.0");

        let after = std::fs::read_to_string(index.path().join("de/mo/demo")).unwrap();
        let signed_line = after.lines().nth(2).unwrap().trim_end_matches('\r');
        // Everything but the signed line is identical, \r\n and the missing final newline included.
        assert_eq!(after.replace(signed_line, &line("demo", "1.1.0")), demo);
        assert_eq!(
            std::fs::read_to_string(index.path().join("ot/he/other")).unwrap(),
            other
        );

        let value: serde_json::Value = serde_json::from_str(signed_line).unwrap();
        let sig = Signature::parse(value["sig"].as_str().unwrap()).unwrap();
        let message = canonical_form(&line("demo", "1.1.0")).unwrap();
        assert!(key.public().verifies(message.as_bytes(), &sig));
    }

    #[cfg(unix)]
    #[test]
    fn keeps_the_file_mode() {
        use std::os::unix::fs::PermissionsExt;
        let index = index_with(&[("de/mo/demo", format!("{}\n", line("demo", "1.0.0")))]);
        let file = index.path().join("de/mo/demo");
        for mode in [0o644, 0o664] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            sign_index(index.path(), &new_key(), &versions(&["demo@1.0.0"]), |_| {}).unwrap();
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, mode);
        }
    }

    #[test]
    fn all_unsigned_skips_signed_entries() {
        let key = new_key();
        let signed_before = sign_entry_line(&line("a", "1.0.0"), &new_key()).unwrap();
        let index = index_with(&[
            ("1/a", format!("{signed_before}\n{}\n", line("a", "2.0.0"))),
            ("2/bc", format!("{}\n", line("bc", "0.1.0"))),
        ]);
        let report = sign_index(index.path(), &key, &Selection::AllUnsigned, |_| {}).unwrap();
        let done: Vec<String> = report.signed.iter().map(|e| format!("{}@{}", e.name, e.vers)).collect();
        assert_eq!(done, ["a@2.0.0", "bc@0.1.0"]);
        let a = std::fs::read_to_string(index.path().join("1/a")).unwrap();
        assert_eq!(a.lines().next().unwrap(), signed_before);
        let again = sign_index(index.path(), &key, &Selection::AllUnsigned, |_| {}).unwrap();
        assert!(again.signed.is_empty());
    }

    #[test]
    fn reports_whether_the_key_is_allowed() {
        let (owner, stranger) = (new_key(), new_key());
        let index = index_with(&[
            ("de/mo/demo", format!("{}\n", line("demo", "1.0.0"))),
            ("_keys/de/mo/demo", format!("{}\n", plain_line(owner.public()))),
        ]);
        let by_owner = sign_index(index.path(), &owner, &versions(&["demo@1.0.0"]), |_| {}).unwrap();
        assert!(by_owner.signed[0].key_allowed);
        let by_stranger = sign_index(index.path(), &stranger, &versions(&["demo@1.0.0"]), |_| {}).unwrap();
        assert!(!by_stranger.signed[0].key_allowed);
        assert!(by_stranger.signed[0].replaced_signature);
    }

    #[test]
    fn a_missing_version_writes_nothing() {
        let demo = format!("{}\n", line("demo", "1.0.0"));
        let index = index_with(&[
            ("de/mo/demo", demo.clone()),
            ("1/a", format!("{}\n", line("a", "1.0.0"))),
        ]);
        let err = sign_index(index.path(), &new_key(), &versions(&["a@1.0.0", "demo@9.9.9"]), |_| {}).unwrap_err();
        match &err {
            SignIndexError::NoSuchVersion { version, available, .. } => {
                assert_eq!(version, "9.9.9");
                assert_eq!(available, &["1.0.0"]);
            }
            other => panic!("expected NoSuchVersion, got {other}"),
        }
        assert_eq!(
            std::fs::read_to_string(index.path().join("1/a")).unwrap(),
            format!("{}\n", line("a", "1.0.0"))
        );
        assert!(matches!(
            sign_index(index.path(), &new_key(), &versions(&["nope@1.0.0"]), |_| {}),
            Err(SignIndexError::NoSuchPackage { .. })
        ));
    }

    #[test]
    fn parses_name_at_version() {
        let target: PackageVersion = "io.ggen.base@1.2.0-rc.1+b".parse().unwrap();
        assert_eq!(target.name, "io.ggen.base");
        assert_eq!(target.version, "1.2.0-rc.1+b");
        for bad in ["demo", "@1.0.0", "demo@", "a@b@c"] {
            assert!(bad.parse::<PackageVersion>().is_err(), "{bad}");
        }
    }
}
