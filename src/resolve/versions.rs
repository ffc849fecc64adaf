//! One package file as the resolver sees it: the versions that may be
//! chosen, read cheaply, and the rest of each line parsed only when needed.
//!
//! A full [`IndexEntry`] parse builds every feature map of every line; on
//! crates.io files (winapi has hundreds of features per line) that cost more
//! than solving. So a file is first read for `name`, `vers` and `yanked`
//! only; a version's dependencies and `links` are parsed when the solver
//! tries it, its features when a dependent asks for some, and its full entry
//! when it is chosen. Each is parsed once per resolution.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use semver::{Version, VersionReq};
use serde::Deserialize;

use super::ranges::{Bucket, VersionSet, exclude_unmatched_prereleases};
use crate::format::entry::{EntryParseError, FeatureMap};
use crate::format::features::FeatureTable;
use crate::format::{Dependency, IndexEntry};
use crate::sources::{EntryLine, SourceError};

/// The usable versions of one package, over its file's text.
pub struct PackageVersions {
    /// The name as published (the first line's `name`).
    pub name: Arc<str>,
    /// Where the file is, for errors: "<index> <path>".
    location: String,
    text: String,
    /// Versions that may be chosen (not yanked, or pinned by the lockfile),
    /// ascending; lines whose `vers` is not semver and repeated versions are
    /// left out.
    pub candidates: Vec<Candidate>,
    /// The pre-release versions among the candidates, ascending.
    pub prereleases: Vec<Version>,
    /// Yanked versions that are not pinned, ascending, for messages.
    pub yanked: Vec<Version>,
    /// What was parsed of each tried version, by line number.
    details: RefCell<HashMap<usize, Rc<VersionDetails>>>,
    features: RefCell<HashMap<usize, Rc<FeatureTable>>>,
}

/// What the solver needs of a version beyond its number.
#[derive(Deserialize)]
pub struct VersionDetails {
    /// Its dependencies of every kind.
    #[serde(default)]
    pub deps: Vec<Dependency>,
    /// The native library it links, which no other package may link.
    #[serde(default)]
    pub links: Option<String>,
}

/// One version that may be chosen.
pub struct Candidate {
    /// The version.
    pub version: Version,
    /// Whether the lockfile pins it.
    pub locked: bool,
    /// Its line: byte range in the file and 1-based number.
    span: Range<usize>,
    number: usize,
}

/// The fields of a line needed to list versions.
#[derive(Deserialize)]
struct VersionFields<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    vers: Cow<'a, str>,
    #[serde(default)]
    yanked: bool,
}

/// The fields of a line that hold its features.
#[derive(Deserialize)]
struct FeatureFields {
    #[serde(default)]
    features: FeatureMap,
    #[serde(default)]
    features2: Option<FeatureMap>,
}

impl PackageVersions {
    /// Lists the versions of a package file. `requested` names the package
    /// if the file is empty; `locked` are the versions the lockfile pins.
    pub fn read(requested: &str, location: String, text: String, locked: &[Version]) -> Result<Self, SourceError> {
        let mut name: Option<Arc<str>> = None;
        let mut candidates = Vec::new();
        let mut yanked = Vec::new();
        for (index, span) in line_spans(&text) {
            let number = index + 1;
            let fields: VersionFields = serde_json::from_str(&text[span.clone()]).map_err(|e| SourceError::Entry {
                location: location.clone(),
                line: number,
                source: EntryParseError(e),
            })?;
            name.get_or_insert_with(|| fields.name.as_ref().into());
            let Ok(version) = Version::parse(&fields.vers) else {
                continue;
            };
            let pinned = locked.contains(&version);
            if fields.yanked && !pinned {
                yanked.push(version);
            } else {
                candidates.push(Candidate {
                    version,
                    locked: pinned,
                    span,
                    number,
                });
            }
        }
        // Stable: of two lines with the same version, the first published wins.
        candidates.sort_by(|a, b| a.version.cmp(&b.version));
        candidates.dedup_by(|later, first| later.version == first.version);
        yanked.sort();
        let prereleases = candidates
            .iter()
            .filter(|c| !c.version.pre.is_empty())
            .map(|c| c.version.clone())
            .collect();
        Ok(PackageVersions {
            name: name.unwrap_or_else(|| requested.into()),
            location,
            text,
            candidates,
            prereleases,
            yanked,
            details: RefCell::default(),
            features: RefCell::default(),
        })
    }

    /// The candidates of one bucket, ascending.
    pub fn in_bucket(&self, bucket: Bucket) -> &[Candidate] {
        let start = self.candidates.partition_point(|c| Bucket::of(&c.version) < bucket);
        let end = self.candidates.partition_point(|c| Bucket::of(&c.version) <= bucket);
        &self.candidates[start..end]
    }

    /// The candidate with exactly this version.
    pub fn candidate(&self, version: &Version) -> Option<&Candidate> {
        let at = self.candidates.binary_search_by(|c| c.version.cmp(version)).ok()?;
        Some(&self.candidates[at])
    }

    /// The exact version set of `req` within `bucket`: the requirement's
    /// ranges cut to the bucket, minus the pre-releases it does not match.
    pub fn exact_set(&self, structural: &VersionSet, req: &VersionReq, bucket: Bucket) -> VersionSet {
        let set = structural.intersection(&bucket.range());
        let prereleases = self.prereleases.iter().filter(|v| Bucket::of(v) == bucket);
        exclude_unmatched_prereleases(set, req, prereleases)
    }

    /// The dependencies and `links` of a candidate, parsed from its line
    /// on first use.
    pub fn details(&self, candidate: &Candidate) -> Result<Rc<VersionDetails>, SourceError> {
        parsed_once(&self.details, candidate.number, || {
            serde_json::from_str(self.line(candidate)).map_err(|e| self.error(candidate, e))
        })
    }

    /// The features of a candidate, parsed from its line on first use.
    pub fn features(&self, candidate: &Candidate) -> Result<Rc<FeatureTable>, SourceError> {
        parsed_once(&self.features, candidate.number, || {
            let fields: FeatureFields =
                serde_json::from_str(self.line(candidate)).map_err(|e| self.error(candidate, e))?;
            let details = self.details(candidate)?;
            Ok(FeatureTable::new(
                &fields.features,
                fields.features2.as_ref(),
                &details.deps,
            ))
        })
    }

    /// A candidate's line with its full entry.
    pub fn entry_line(&self, candidate: &Candidate) -> Result<EntryLine, SourceError> {
        let line = self.line(candidate);
        let entry = IndexEntry::from_line(line).map_err(|e| self.error(candidate, e.0))?;
        Ok(EntryLine {
            line: line.to_owned(),
            entry,
        })
    }

    fn line(&self, candidate: &Candidate) -> &str {
        &self.text[candidate.span.clone()]
    }

    fn error(&self, candidate: &Candidate, source: serde_json::Error) -> SourceError {
        SourceError::Entry {
            location: self.location.clone(),
            line: candidate.number,
            source: EntryParseError(source),
        }
    }
}

/// What `cache` holds under `key`, made by `make` on first use.
fn parsed_once<T>(
    cache: &RefCell<HashMap<usize, Rc<T>>>,
    key: usize,
    make: impl FnOnce() -> Result<T, SourceError>,
) -> Result<Rc<T>, SourceError> {
    if let Some(known) = cache.borrow().get(&key) {
        return Ok(Rc::clone(known));
    }
    let made = Rc::new(make()?);
    cache.borrow_mut().insert(key, Rc::clone(&made));
    Ok(made)
}

/// The byte range of every non-blank line, with its 0-based index (the
/// same numbering as `sources::parse_entry_lines`).
fn line_spans(text: &str) -> impl Iterator<Item = (usize, Range<usize>)> + '_ {
    let mut start = 0;
    text.split_inclusive('\n').enumerate().filter_map(move |(index, raw)| {
        let span = start..start + raw.trim_end_matches(['\n', '\r']).len();
        start += raw.len();
        (!text[span.clone()].trim().is_empty()).then_some((index, span))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CKSUM: &str = "00";

    fn line(vers: &str, yanked: bool, deps: &str) -> String {
        format!(
            r#"{{"name":"Demo","vers":"{vers}","deps":[{deps}],"cksum":"{CKSUM}","features":{{"f":["g"]}},"yanked":{yanked}}}"#
        )
    }

    #[test]
    fn lists_versions_and_keeps_lines_verbatim() {
        let dep = r#"{"name":"base","req":"^1","features":[],"optional":false,"default_features":true,"target":null}"#;
        let text = format!(
            "{}\r\n\n{}\n{}\n{}",
            line("1.0.0", false, dep),
            line("1.1.0", true, ""),
            line("not-semver", false, ""),
            line("1.0.0-rc.1", false, "")
        );
        let versions = PackageVersions::read("demo", "test demo".into(), text, &[]).unwrap();
        assert_eq!(&*versions.name, "Demo");
        let listed: Vec<String> = versions.candidates.iter().map(|c| c.version.to_string()).collect();
        assert_eq!(listed, ["1.0.0-rc.1", "1.0.0"]);
        assert_eq!(versions.yanked, [Version::new(1, 1, 0)]);
        assert_eq!(versions.prereleases, [Version::parse("1.0.0-rc.1").unwrap()]);

        let release = versions.candidate(&Version::new(1, 0, 0)).unwrap();
        assert_eq!(versions.details(release).unwrap().deps[0].name, "base");
        assert!(versions.features(release).unwrap().has("f"));
        let entry_line = versions.entry_line(release).unwrap();
        assert_eq!(entry_line.line, line("1.0.0", false, dep));
        assert_eq!(entry_line.entry.features["f"], ["g"]);
    }

    #[test]
    fn a_pinned_yanked_version_stays_a_candidate() {
        let text = format!("{}\n", line("1.1.0", true, ""));
        let versions = PackageVersions::read("demo", "x".into(), text, &[Version::new(1, 1, 0)]).unwrap();
        assert!(versions.candidates[0].locked);
        assert!(versions.yanked.is_empty());
    }

    #[test]
    fn unreadable_lines_are_errors_with_their_line_number() {
        let text = format!("{}\n\nnot json\n", line("1.0.0", false, ""));
        let err = PackageVersions::read("demo", "the index de/mo/demo".into(), text, &[])
            .err()
            .unwrap();
        assert!(matches!(err, SourceError::Entry { line: 3, .. }), "{err}");
        assert!(err.to_string().contains("the index de/mo/demo, line 3"), "{err}");
    }
}
