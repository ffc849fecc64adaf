//! One package file: at its shard path, one valid line per version, no
//! version twice (build metadata ignored, as crates.io does).

use super::line::{CleanDependencies, KnownPackages, LineContext, check_line};
use super::versions::release_key;
use super::{Finding, FindingKind};
use crate::format::name;

/// What checking one package file found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckedFile {
    /// The valid versions of this package, with their 1-based line numbers.
    pub versions: Vec<(semver::Version, usize)>,
    /// Non-blank lines.
    pub lines: usize,
    /// Every problem, in line order (duplicates last).
    pub findings: Vec<Finding>,
}

/// Whether the file at `rel` (`/`-separated, from the index root) sits at
/// the shard path of its name.
pub fn is_at_its_shard(rel: &str) -> bool {
    rel == name::index_path(name::file_name_of(rel))
}

/// The `wrong_path` finding of a file not at its shard path, if it is not.
pub fn misplaced(rel: &str) -> Option<Finding> {
    let file_name = name::file_name_of(rel);
    (!is_at_its_shard(rel)).then(|| {
        Finding::new(
            rel,
            None,
            FindingKind::WrongPath,
            format!(
                "a package file named `{file_name}` belongs at {}; package files are named by the lowercased package name",
                name::index_path(file_name)
            ),
        )
    })
}

/// Checks the package file at `rel` holding `bytes`; `known` holds the
/// lowercased names of every package of the index (what a dependency may
/// name).
pub fn check_package_file(rel: &str, bytes: &[u8], known: &dyn KnownPackages) -> CheckedFile {
    let mut checked = CheckedFile::default();
    checked.findings.extend(misplaced(rel));
    let ctx = LineContext {
        file_name: name::file_name_of(rel),
        known,
    };
    let mut problems = Vec::new();
    let mut clean = CleanDependencies::default();
    for (number, text) in lines(bytes) {
        if text.iter().all(u8::is_ascii_whitespace) {
            checked.findings.push(Finding::new(
                rel,
                Some(number),
                FindingKind::BlankLine,
                "empty line; Cargo skips it, but writers should not leave one".to_owned(),
            ));
            continue;
        }
        checked.lines += 1;
        if let Some(version) = check_line(text, &ctx, &mut clean, &mut problems) {
            checked.versions.push((version, number));
        }
        for (kind, message) in problems.drain(..) {
            checked.findings.push(Finding::new(rel, Some(number), kind, message));
        }
    }
    if checked.lines == 0 {
        checked.findings.push(Finding::new(
            rel,
            None,
            FindingKind::EmptyFile,
            "the package file has no versions; delete it or add one".to_owned(),
        ));
    }
    report_duplicates(rel, &checked.versions, &mut checked.findings);
    checked
}

/// The lines of a file with their 1-based numbers; the newline ending the
/// last line does not start another.
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let ends = memchr::memchr_iter(b'\n', bytes).chain([bytes.len()]);
    let mut start = 0;
    ends.map(move |end| {
        let line = &bytes[start..end];
        start = end + 1;
        line
    })
    .enumerate()
    .map(|(i, line)| (i + 1, line))
    .filter(move |_| !bytes.is_empty())
}

/// The same `vers` again is an error, the same version with other build
/// metadata a warning.
fn report_duplicates(rel: &str, versions: &[(semver::Version, usize)], findings: &mut Vec<Finding>) {
    let mut versions = versions.to_vec();
    versions.sort_by(|(a, a_line), (b, b_line)| (release_key(a), a_line).cmp(&(release_key(b), b_line)));
    for group in versions.chunk_by(|(a, _), (b, _)| release_key(a) == release_key(b)) {
        for (i, (version, line)) in group.iter().enumerate().skip(1) {
            let (kind, first) = match group[..i].iter().find(|(earlier, _)| earlier == version) {
                Some((_, first)) => (FindingKind::DuplicateVersion, *first),
                None => (FindingKind::BuildMetadataDuplicate, group[0].1),
            };
            let message = match kind {
                FindingKind::DuplicateVersion => format!("version {version} is already published on line {first}"),
                _ => format!(
                    "version {version} differs only in build metadata from `{}` on line {first}; semver and crates.io treat them as the same version",
                    group[0].0
                ),
            };
            findings.push(Finding::new(rel, Some(*line), kind, message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(bytes: &[u8]) -> Vec<(usize, &str)> {
        lines(bytes)
            .map(|(n, line)| (n, std::str::from_utf8(line).unwrap()))
            .collect()
    }

    fn entry(vers: &str, deps: &[(&str, &str)]) -> String {
        let deps: Vec<String> = deps
            .iter()
            .map(|(name, req)| {
                format!(
                    r#"{{"name":"{name}","req":"{req}","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}}"#
                )
            })
            .collect();
        format!(
            r#"{{"name":"demo","vers":"{vers}","deps":[{}],"cksum":"{}","features":{{}},"yanked":false}}"#,
            deps.join(","),
            "0f".repeat(32)
        )
    }

    /// A dependency found clean once is skipped on later lines; one with a
    /// problem is checked, and reported, on every line that has it.
    #[test]
    fn a_repeated_dependency_keeps_its_verdict_on_every_line() {
        let known = std::collections::HashSet::from(["demo", "base"]);
        let file = [
            entry("1.0.0", &[("base", "^1"), ("gone", "^1")]),
            entry("1.0.1", &[("base", "^1"), ("gone", "^1")]),
            entry("1.0.2", &[("gone", "^1"), ("base", "^1"), ("base", "not a req")]),
        ]
        .join("\n");
        let checked = check_package_file("de/mo/demo", file.as_bytes(), &known);
        let found: Vec<(Option<usize>, FindingKind, &str)> = checked
            .findings
            .iter()
            .map(|f| (f.line, f.kind, f.message.split(':').next().unwrap_or_default()))
            .collect();
        let missing = "dependency `gone` names package `gone`, which is not in this index (no file go/ne/gone)";
        assert_eq!(
            found,
            [
                (Some(1), FindingKind::MissingDependency, missing),
                (Some(2), FindingKind::MissingDependency, missing),
                (Some(3), FindingKind::MissingDependency, missing),
                (Some(3), FindingKind::BadRequirement, "dependency `base`"),
            ]
        );
        assert_eq!(checked.versions.len(), 3);
    }

    #[test]
    fn lines_are_numbered_from_one_and_the_final_newline_ends_the_last() {
        assert_eq!(numbered(b""), []);
        assert_eq!(numbered(b"\n"), []);
        assert_eq!(numbered(b"a"), [(1, "a")]);
        assert_eq!(numbered(b"a\n"), [(1, "a")]);
        assert_eq!(numbered(b"a\n\nb"), [(1, "a"), (2, ""), (3, "b")]);
        assert_eq!(numbered(b"a\nb\n\n"), [(1, "a"), (2, "b"), (3, "")]);
    }
}
