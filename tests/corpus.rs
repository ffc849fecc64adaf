//! `index check` on the real crates.io index (shared/corpora) at both of its
//! commits, against figures counted here independently: files and lines by
//! walking the tree, duplicates and missing dependency names by a plain
//! `serde_json::Value` pass.
//!
//! The corpus is unpacked once into `$CARGO_TARGET_TMPDIR` (never into the
//! repository) and reused by later runs; a marker file written last says
//! the unpacking finished.

#[path = "../benches/support/corpus.rs"]
#[allow(dead_code)] // shared with the benches, which use the rest
mod corpus;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use rayon::prelude::*;
use serde_json::Value;
use support::fixture::{command, throwaway_home};

/// Worktrees of the corpus at HEAD (b28bb168) and at 5343e085.
struct Worktrees {
    head: PathBuf,
    full: PathBuf,
}

fn worktrees() -> &'static Worktrees {
    static WORKTREES: OnceLock<Worktrees> = OnceLock::new();
    WORKTREES.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let root = tmp.join("crates-io-index-2019");
        if !root.join("unpacked").exists() {
            // Unpacked beside, then renamed into place: a run that dies
            // midway never leaves a half corpus to be reused.
            let staging = tempfile::tempdir_in(tmp).unwrap();
            corpus::worktree_at(staging.path(), "head", None);
            corpus::worktree_at(staging.path(), "full", Some(corpus::FULL_2019));
            std::fs::write(staging.path().join("unpacked"), "").unwrap();
            let _ = std::fs::remove_dir_all(&root);
            let staged = staging.keep();
            if std::fs::rename(&staged, &root).is_err() {
                // Another test binary won the race: use its copy.
                std::fs::remove_dir_all(&staged).unwrap();
            }
        }
        let worktrees = Worktrees {
            head: root.join("head"),
            full: root.join("full"),
        };
        assert!(
            git_head(&worktrees.full).starts_with(corpus::FULL_2019),
            "stale corpus in {}",
            root.display()
        );
        worktrees
    })
}

fn git_head(worktree: &Path) -> String {
    let output = Command::new("git")
        .args(["-C", &worktree.to_string_lossy(), "rev-parse", "HEAD"])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

/// What the plain `Value` pass finds.
#[derive(Default)]
struct Counted {
    files: usize,
    lines: usize,
    names: BTreeSet<String>,
    /// (file, line) of every dependency, its lowercased target package, and
    /// whether every build needs it (not optional, not a dev-dependency).
    dep_targets: Vec<(String, u64, String, bool)>,
    deps_without_kind: usize,
    yanked: usize,
    /// Lowercased target → the files (packages) whose versions depend on it
    /// other than as a dev-dependency.
    dependents: BTreeMap<String, BTreeSet<String>>,
    exact_duplicates: usize,
    build_metadata_duplicates: usize,
    bad_requirements: usize,
    /// The first line of every file and every 20th after it, for the JSON Schema.
    sample: Vec<Value>,
}

fn count_independently(root: &Path) -> Counted {
    let per_file: Vec<Counted> = corpus::package_files(root)
        .par_iter()
        .map(|path| {
            let file = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let mut counted = Counted {
                files: 1,
                ..Counted::default()
            };
            let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            let text = std::fs::read_to_string(path).unwrap();
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
                counted.lines += 1;
                // `str::parse` reaches serde_json's own, optimized FromStr;
                // `from_str::<Value>` would be compiled here, unoptimized.
                let entry: Value = line.parse().unwrap();
                if i % 20 == 0 {
                    counted.sample.push(entry.clone());
                }
                counted.names.insert(entry["name"].as_str().unwrap().to_lowercase());
                if entry["yanked"].as_bool() == Some(true) {
                    counted.yanked += 1;
                }
                let vers = entry["vers"].as_str().unwrap();
                let without_build = vers.split('+').next().unwrap().to_owned();
                let same_core = seen.entry(without_build).or_default();
                if same_core.contains(vers) {
                    counted.exact_duplicates += 1;
                } else if !same_core.is_empty() {
                    counted.build_metadata_duplicates += 1;
                }
                same_core.insert(vers.to_owned());
                for dep in entry["deps"].as_array().unwrap() {
                    if dep.get("kind").is_none() {
                        counted.deps_without_kind += 1;
                    }
                    if semver::VersionReq::parse(dep["req"].as_str().unwrap()).is_err() {
                        counted.bad_requirements += 1;
                    }
                    if dep.get("registry").is_some_and(Value::is_string) {
                        continue;
                    }
                    let target = dep
                        .get("package")
                        .and_then(Value::as_str)
                        .unwrap_or_else(|| dep["name"].as_str().unwrap());
                    let not_dev = dep.get("kind").and_then(Value::as_str) != Some("dev");
                    if not_dev {
                        counted
                            .dependents
                            .entry(target.to_lowercase())
                            .or_default()
                            .insert(file.clone());
                    }
                    let required = not_dev && !dep["optional"].as_bool().unwrap();
                    counted
                        .dep_targets
                        .push((file.clone(), i as u64 + 1, target.to_lowercase(), required));
                }
            }
            counted
        })
        .collect();
    let mut total = Counted::default();
    for counted in per_file {
        total.files += counted.files;
        total.lines += counted.lines;
        total.names.extend(counted.names);
        total.dep_targets.extend(counted.dep_targets);
        total.deps_without_kind += counted.deps_without_kind;
        total.yanked += counted.yanked;
        for (target, files) in counted.dependents {
            total.dependents.entry(target).or_default().extend(files);
        }
        total.exact_duplicates += counted.exact_duplicates;
        total.build_metadata_duplicates += counted.build_metadata_duplicates;
        total.bad_requirements += counted.bad_requirements;
        total.sample.extend(counted.sample);
    }
    total
}

/// Runs the real binary's `index check --json`; returns its exit code and report.
fn check(worktree: &Path) -> (i32, Value) {
    let output = command(
        &throwaway_home(),
        &["index", "check", &worktree.to_string_lossy(), "--json"],
    )
    .output()
    .unwrap();
    let report = serde_json::from_slice(&output.stdout).expect("exactly one JSON document");
    (output.status.code().unwrap(), report)
}

/// Compares the check's report with the independent count and returns the
/// names of the missing dependencies.
fn assert_report_matches(worktree: &Path) -> (Counted, BTreeSet<String>) {
    let counted = count_independently(worktree);
    let (code, report) = check(worktree);
    assert_eq!(report["packages"].as_u64(), Some(counted.files as u64));
    assert_eq!(report["versions"].as_u64(), Some(counted.lines as u64));

    // The typed checks found no schema problem anywhere (see `allowed`
    // below); the JSON Schema, an independent judge, agrees on a sample.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/index-entry.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    assert!(counted.sample.len() > counted.lines / 25);
    for entry in &counted.sample {
        assert!(validator.is_valid(entry), "{entry}");
    }

    let findings = report["findings"].as_array().unwrap();
    let of_kind = |kind: &'static str| findings.iter().filter(move |f| f["kind"] == kind);
    let allowed = [
        "missing_dependency",
        "missing_optional_dependency",
        "duplicate_version",
        "build_metadata_duplicate",
        "bad_requirement",
    ];
    for finding in findings {
        assert!(allowed.contains(&finding["kind"].as_str().unwrap()), "{finding}");
    }

    // Every dependency occurrence on a missing package, and nothing else:
    // an error where every build needs it, a warning otherwise.
    let missing_at: Vec<(String, u64, String, bool)> = counted
        .dep_targets
        .iter()
        .filter(|(_, _, target, _)| !counted.names.contains(target))
        .cloned()
        .collect();
    let mut reported: Vec<(String, u64, String, bool)> = of_kind("missing_dependency")
        .chain(of_kind("missing_optional_dependency"))
        .map(|f| {
            let message = f["message"].as_str().unwrap();
            let target = message
                .split("names package `")
                .nth(1)
                .unwrap()
                .split('`')
                .next()
                .unwrap();
            (
                f["file"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
                target.to_lowercase(),
                f["kind"] == "missing_dependency",
            )
        })
        .collect();
    let mut expected = missing_at.clone();
    reported.sort();
    expected.sort();
    assert_eq!(reported, expected);

    assert_eq!(of_kind("duplicate_version").count(), counted.exact_duplicates);
    assert_eq!(
        of_kind("build_metadata_duplicate").count(),
        counted.build_metadata_duplicates
    );
    assert_eq!(of_kind("bad_requirement").count(), counted.bad_requirements);
    let errors = findings.iter().filter(|f| f["severity"] == "error").count();
    assert_eq!(report["errors"].as_u64(), Some(errors as u64));
    assert_eq!(report["warnings"].as_u64(), Some((findings.len() - errors) as u64));
    assert_eq!(code, if errors == 0 { 0 } else { 1 });

    let missing_names = missing_at.into_iter().map(|(_, _, name, _)| name).collect();
    (counted, missing_names)
}

#[test]
fn the_full_2019_registry_reads_with_its_known_defects() {
    let (counted, missing) = assert_report_matches(&worktrees().full);
    // The corpus README's figures.
    assert_eq!((counted.files, counted.lines), (31_839, 184_437));
    // Nine dependency names exist nowhere in the index...
    assert_eq!(missing.len(), 9, "{missing:?}");
    assert!(
        missing.contains("keccakhash") && missing.contains("susy-bytes"),
        "{missing:?}"
    );
    // ...while the 248 deps without `kind` are accepted silently.
    assert_eq!(counted.deps_without_kind, 248);
}

#[test]
fn the_filtered_head_reads_too() {
    let worktree = &worktrees().head;
    let (counted, _) = assert_report_matches(worktree);
    // The corpus README's 126,839 lines include config.json's.
    let config_lines = std::fs::read_to_string(worktree.join("config.json"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(counted.lines + config_lines, 126_839);
}

#[test]
fn stats_count_the_corpus_as_an_independent_pass_does() {
    use ggen_marketplace::sources::local::LocalSource;
    use ggen_marketplace::workflows::stats::stats;
    let worktree = &worktrees().full;
    let counted = count_independently(worktree);
    let figures = stats(&LocalSource::open(worktree).unwrap(), 5).unwrap();
    assert_eq!(
        (figures.packages, figures.versions, figures.yanked, figures.signed),
        (counted.files, counted.lines, counted.yanked, 0)
    );
    // The corpus README's figure.
    assert_eq!(figures.yanked, 6_402);
    let mut expected: Vec<(usize, &String)> = counted
        .dependents
        .iter()
        .map(|(name, files)| (files.len(), name))
        .collect();
    expected.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let found: Vec<(usize, &String)> = figures.most_depended_upon.iter().map(|c| (c.count, &c.name)).collect();
    assert_eq!(found, expected[..5], "{found:?}");
    assert!(figures.newest.is_empty(), "the 2019 index has no pubtime");
}
