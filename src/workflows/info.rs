//! `info`: every version of a package, with yanked state, dependencies,
//! checksum and signer; and the canonical message of one version, for
//! checking its signature with the `minisign` CLI.
//!
//! ```
//! use ggen_marketplace::sources::local::LocalSource;
//! use ggen_marketplace::workflows::info::{info, canonical_message};
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("config.json"), r#"{"dl":"a/{crate}"}"#).unwrap();
//! std::fs::create_dir_all(dir.path().join("de/mo")).unwrap();
//! std::fs::write(dir.path().join("de/mo/demo"), concat!(
//!     r#"{"name":"demo","vers":"1.0.0","deps":[],"cksum":"aa","features":{},"yanked":true}"#, "\n",
//!     r#"{"name":"demo","vers":"1.1.0","deps":[{"name":"base","req":"^2"}],"cksum":"bb","features":{},"yanked":false}"#, "\n",
//! )).unwrap();
//! let source = LocalSource::open(dir.path()).unwrap();
//! let package = info(&source, "demo", None).unwrap();
//! assert_eq!(package.versions[0].version, "1.1.0"); // newest first
//! assert!(package.versions[1].yanked);
//! assert_eq!(canonical_message(&source, "demo", "1.0.0").unwrap(),
//!     r#"{"cksum":"aa","deps":[],"features":{},"name":"demo","vers":"1.0.0"}"#);
//! ```

use std::collections::BTreeMap;

use serde::Serialize;

use crate::format::canonical::{CanonicalError, canonical_form};
use crate::format::entry::DepKind;
use crate::format::features::FeatureTable;
use crate::format::name::closest_names;
use crate::format::notice::{Action, Notices, notices_path};
use crate::format::req::{self, RequirementError};
use crate::resolve::versions::PackageVersions;
use crate::sources::{EntryLine, PackageSource, SourceError};
use crate::trust::notices::verify_notice;
use crate::trust::{AllowedKeys, OwnerKeys, Signature, owner_keys_path};

/// A package and its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageInfo {
    /// The name as published.
    pub name: String,
    /// The requirement the versions were filtered by, if any.
    pub requirement: Option<String>,
    /// Matching versions, newest first.
    pub versions: Vec<VersionInfo>,
    /// The deprecation its owners signed, if any.
    pub deprecated: Option<Deprecation>,
}

/// A package's deprecation in force (a notice signed by an owner, see
/// `format::notice`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deprecation {
    /// Why, and what to use instead.
    pub message: String,
    /// The key that signed the notice.
    pub signer: String,
}

/// The deprecation in force for `name`, if its notice file holds one signed
/// by a key allowed to sign the package (unsigned or forged notices are
/// ignored: only owners speak for a package; offline, a notice the cache
/// does not hold is not shown).
pub fn deprecation(source: &dyn PackageSource, name: &str) -> Result<Option<Deprecation>, SourceError> {
    // Offline, a sparse cache may not hold the notice file: nothing to show.
    let text = match source.read_index_file(&notices_path(name)) {
        Ok(Some(text)) => text,
        Ok(None) | Err(SourceError::Offline { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Ok(notices) = Notices::parse(&text) else {
        return Ok(None);
    };
    let owners_path = owner_keys_path(name);
    let owners_text = match source.read_index_file(&owners_path) {
        Ok(text) => text.unwrap_or_default(),
        Err(SourceError::Offline { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let config = source.config()?;
    let Ok(allowed) = OwnerKeys::parse(&owners_path, &owners_text)
        .map_err(|e| e.to_string())
        .and_then(|owners| AllowedKeys::new(name, &config, owners).map_err(|e| e.to_string()))
    else {
        return Ok(None);
    };
    let in_force = notices
        .lines()
        .iter()
        .rev()
        .filter(|line| matches!(line.notice.action, Action::Deprecate | Action::Undeprecate))
        .find_map(|line| verify_notice(&line.line, &allowed).ok().map(|signer| (line, signer)));
    Ok(in_force
        .filter(|(line, _)| line.notice.action == Action::Deprecate)
        .map(|(line, signer)| Deprecation {
            message: line.notice.message.clone().unwrap_or_default(),
            signer: signer.to_string(),
        }))
}

/// One version of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    /// The version.
    pub version: String,
    /// Whether it is yanked.
    pub yanked: bool,
    /// SHA-256 of the archive.
    pub checksum: String,
    /// The minisign key id the signature names, if signed (not verified
    /// here: `install` verifies).
    pub signer: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Licence.
    pub license: Option<String>,
    /// Keywords.
    pub keywords: Vec<String>,
    /// Repository URL.
    pub repository: Option<String>,
    /// Its features (`features` and `features2`, and the implicit feature
    /// of each optional dependency) with what each turns on.
    pub features: BTreeMap<String, Vec<String>>,
    /// Dependencies, in index order.
    pub dependencies: Vec<DependencyInfo>,
}

/// One dependency of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependencyInfo {
    /// The package depended on (renames followed).
    pub name: String,
    /// The requirement.
    pub req: String,
    /// normal, dev or build.
    pub kind: DepKind,
    /// Whether only a feature pulls it in.
    pub optional: bool,
    /// Platform restriction.
    pub target: Option<String>,
}

/// Why `info` could not answer.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum InfoError {
    /// No such package.
    #[error("package `{name}` does not exist in {index}; {}", did_you_mean(name, .suggestions))]
    NotFound {
        name: String,
        index: String,
        /// The closest names the index has.
        suggestions: Vec<String>,
    },
    /// No such version.
    #[error("package `{name}` has no version matching `{wanted}`; `ggen-market info {name}` lists its versions")]
    NoMatchingVersion { name: String, wanted: String },
    /// Bad `@REQ`.
    #[error(transparent)]
    Requirement(#[from] RequirementError),
    /// The stored line is damaged.
    #[error("{name} {version}: {source}")]
    Canonical {
        name: String,
        version: String,
        source: CanonicalError,
    },
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// The versions of `name` matching `requirement` (all when `None`).
pub fn info(source: &dyn PackageSource, name: &str, requirement: Option<&str>) -> Result<PackageInfo, InfoError> {
    let lines = lines_of(source, name)?;
    let versions = lines
        .iter()
        .filter_map(|line| line.entry.version().ok().map(|v| (v, line)));
    let versions = matching_newest_first(name, requirement, versions)?;
    Ok(PackageInfo {
        name: lines[0].entry.name.clone(),
        requirement: requirement.map(str::to_owned),
        versions: versions.into_iter().map(|(_, line)| version_info(line)).collect(),
        deprecated: deprecation(source, &lines[0].entry.name)?,
    })
}

/// The versions (each with something of it) matching `requirement` (all
/// when `None`), newest first; none is an error.
fn matching_newest_first<T>(
    name: &str,
    requirement: Option<&str>,
    versions: impl Iterator<Item = (semver::Version, T)>,
) -> Result<Vec<(semver::Version, T)>, InfoError> {
    let matcher = requirement.map(req::parse).transpose()?;
    let mut matching: Vec<(semver::Version, T)> = versions
        .filter(|(v, _)| matcher.as_ref().is_none_or(|m| m.matches(v)))
        .collect();
    if matching.is_empty() {
        return Err(InfoError::NoMatchingVersion {
            name: name.to_owned(),
            wanted: requirement.unwrap_or("*").to_owned(),
        });
    }
    matching.sort_by(|a, b| b.0.cmp(&a.0));
    Ok(matching)
}

/// A package's versions as numbers and yanked flags: what `add` needs to
/// write a requirement, without the cost of whole entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedVersions {
    /// The name as published.
    pub name: String,
    /// The versions matching the requirement, newest first, each with
    /// whether it is yanked.
    pub versions: Vec<(semver::Version, bool)>,
}

/// The versions of `name` matching `requirement` (all when `None`), read for
/// their number and yanked flag only (as the resolver first reads a file);
/// the same errors as [`info`].
pub fn published_versions(
    source: &dyn PackageSource,
    name: &str,
    requirement: Option<&str>,
) -> Result<PublishedVersions, InfoError> {
    let file = source
        .package_file(name)?
        .filter(|file| !file.text.trim().is_empty())
        .ok_or_else(|| not_found(source, name))?;
    let listed = PackageVersions::read(name, file.location, file.text, &[])?;
    let available = listed.candidates.iter().map(|c| (c.version.clone(), false));
    let yanked = listed.yanked.iter().map(|v| (v.clone(), true));
    Ok(PublishedVersions {
        name: listed.name.to_string(),
        versions: matching_newest_first(name, requirement, available.chain(yanked))?,
    })
}

/// The canonical message of `name@version`: the exact bytes its signature
/// covers (`format::canonical`).
pub fn canonical_message(source: &dyn PackageSource, name: &str, version: &str) -> Result<String, InfoError> {
    let lines = lines_of(source, name)?;
    let line = lines
        .iter()
        .find(|line| line.entry.vers == version)
        .ok_or_else(|| InfoError::NoMatchingVersion {
            name: name.to_owned(),
            wanted: format!("={version}"),
        })?;
    canonical_form(&line.line).map_err(|source| InfoError::Canonical {
        name: name.to_owned(),
        version: version.to_owned(),
        source,
    })
}

fn lines_of(source: &dyn PackageSource, name: &str) -> Result<Vec<EntryLine>, InfoError> {
    match source.entry_lines(name)?.filter(|lines| !lines.is_empty()) {
        Some(lines) => Ok(lines),
        None => Err(not_found(source, name)),
    }
}

/// `name` is not in the index: the names closest to it.
fn not_found(source: &dyn PackageSource, name: &str) -> InfoError {
    // A sparse index offers what it has cached; that is still a help.
    let names = source
        .searchable_names()
        .map(|listing| listing.names)
        .unwrap_or_default();
    InfoError::NotFound {
        name: name.to_owned(),
        index: source.describe(),
        suggestions: closest_names(name, &names, 3).into_iter().map(str::to_owned).collect(),
    }
}

fn did_you_mean(name: &str, suggestions: &[String]) -> String {
    let search = format!("`ggen-market search {name}`");
    match suggestions {
        [] => format!("try {search}"),
        [one] => format!("did you mean `{one}`? ({search} looks further)"),
        many => format!(
            "did you mean one of {}? ({search} looks further)",
            many.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The key id a signature names (not a verification: `install` verifies).
fn signer_of(sig: &str) -> String {
    Signature::parse(sig).map_or_else(|_| "unreadable signature".to_owned(), |sig| sig.key_id().to_string())
}

fn version_info(line: &EntryLine) -> VersionInfo {
    let entry = &line.entry;
    VersionInfo {
        version: entry.vers.clone(),
        yanked: entry.yanked,
        checksum: entry.cksum.clone(),
        signer: entry.sig.as_deref().map(signer_of),
        description: entry.description.clone(),
        license: entry.license.clone(),
        keywords: entry.keywords.clone(),
        repository: entry.repository.clone(),
        features: FeatureTable::new(&entry.features, entry.features2.as_ref(), &entry.deps)
            .features()
            .clone(),
        dependencies: entry
            .deps
            .iter()
            .map(|dep| DependencyInfo {
                name: dep.package_name().to_owned(),
                req: dep.req.clone(),
                kind: dep.kind(),
                optional: dep.optional,
                target: dep.target.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::local::LocalSource;

    fn index(files: &[(&str, &str)]) -> (tempfile::TempDir, LocalSource) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"dl":"a/{crate}"}"#).unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let source = LocalSource::open(dir.path()).unwrap();
        (dir, source)
    }

    fn line(name: &str, vers: &str, yanked: bool) -> String {
        format!(r#"{{"name":"{name}","vers":"{vers}","deps":[],"cksum":"aa","features":{{}},"yanked":{yanked}}}"#)
    }

    #[test]
    fn published_versions_are_newest_first_with_their_yanked_flag() {
        let file = [
            line("Foo_Bar", "1.0.0", false),
            line("Foo_Bar", "2.0.0-rc.1", false),
            line("Foo_Bar", "1.1.0", true),
            line("Foo_Bar", "not semver", false),
        ]
        .join("\n");
        let (_dir, source) = index(&[("fo/o_/foo_bar", &file)]);
        let listed = published_versions(&source, "foo-bar", None).unwrap();
        assert_eq!(
            listed.name, "Foo_Bar",
            "found through the `-`/`_` variant, named as published"
        );
        let versions: Vec<(String, bool)> = listed.versions.iter().map(|(v, y)| (v.to_string(), *y)).collect();
        assert_eq!(
            versions,
            [
                ("2.0.0-rc.1".to_owned(), false),
                ("1.1.0".to_owned(), true),
                ("1.0.0".to_owned(), false)
            ]
        );
        let matching = published_versions(&source, "foo_bar", Some("~1.0")).unwrap();
        assert_eq!(matching.versions, [(semver::Version::new(1, 0, 0), false)]);
    }

    #[test]
    fn published_versions_fail_as_info_does() {
        let (_dir, source) = index(&[("de/mo/demo", &line("demo", "1.0.0", false)), ("em/pt/empty", "\n")]);
        assert!(matches!(
            published_versions(&source, "demo", Some("^2")),
            Err(InfoError::NoMatchingVersion { .. })
        ));
        for missing in ["dem", "empty"] {
            let err = published_versions(&source, missing, None).unwrap_err();
            assert!(matches!(err, InfoError::NotFound { .. }), "{missing}: {err}");
        }
        let err = published_versions(&source, "dem", None).unwrap_err();
        assert!(err.to_string().contains("did you mean `demo`?"), "{err}");
    }
}
