//! Cargo's resolution rules, one case each.

use super::memory::{MemoryIndex, dep, dep_of_kind, entry};
use super::{chosen, no_solution, resolve_ok, v};
use crate::format::DepKind;
use crate::resolve::{Request, ResolveError, resolve};

fn versions(name: &str, list: &[&str]) -> MemoryIndex {
    let mut index = MemoryIndex::new();
    for vers in list {
        index.publish(name, vers, vec![]);
    }
    index
}

fn pick(index: &MemoryIndex, name: &str, req: &str) -> String {
    let resolution = resolve_ok(index, &Request::new([(name, req)]));
    resolution.version_of(name).expect("chosen").to_string()
}

#[test]
fn newest_compatible_version_wins() {
    let index = versions("x", &["1.0.0", "1.1.0", "1.1.1", "2.0.0"]);
    assert_eq!(pick(&index, "x", "^1"), "1.1.1");
    assert_eq!(pick(&index, "x", "1.0"), "1.1.1");
    assert_eq!(pick(&index, "x", "*"), "2.0.0");
    assert_eq!(pick(&index, "x", "<1.1"), "1.0.0");
    assert_eq!(pick(&index, "x", "=1.1.0"), "1.1.0");
}

#[test]
fn caret_on_zero_versions_is_narrow() {
    let index = versions("x", &["0.0.3", "0.0.4", "0.3.0", "0.3.5", "0.4.0"]);
    assert_eq!(pick(&index, "x", "^0.3"), "0.3.5");
    assert_eq!(pick(&index, "x", "0.3.1"), "0.3.5");
    assert_eq!(pick(&index, "x", "^0.0.3"), "0.0.3");
    assert_eq!(pick(&index, "x", "^0.0"), "0.0.4");
    assert_eq!(pick(&index, "x", "^0"), "0.4.0");
}

#[test]
fn tilde_allows_patch_updates_only() {
    let index = versions("x", &["1.0.5", "1.1.0", "1.2.0"]);
    assert_eq!(pick(&index, "x", "~1.0"), "1.0.5");
    assert_eq!(pick(&index, "x", "~1"), "1.2.0");
    assert_eq!(pick(&index, "x", ">=1.0, <1.2"), "1.1.0");
}

#[test]
fn prereleases_only_when_named() {
    let index = versions("x", &["1.0.0", "1.1.0-beta.1", "2.0.0-rc.1"]);
    assert_eq!(pick(&index, "x", "^1"), "1.0.0");
    assert_eq!(pick(&index, "x", "*"), "1.0.0");
    assert_eq!(pick(&index, "x", "^1.1.0-beta"), "1.1.0-beta.1");
    assert_eq!(pick(&index, "x", ">=1.1.0-alpha"), "1.1.0-beta.1");
    assert_eq!(pick(&index, "x", "=2.0.0-rc.1"), "2.0.0-rc.1");
    // `<2.0.0` stops before 2.0.0's pre-releases.
    assert_eq!(pick(&index, "x", ">=1, <2.0.0"), "1.0.0");

    let only_pre = versions("y", &["1.0.0-alpha"]);
    let why = no_solution(&only_pre, &Request::new([("y", "*")]));
    assert!(why.contains("no version of `y` matches *"), "{why}");
}

#[test]
fn incompatible_versions_coexist_one_per_bucket() {
    let mut index = MemoryIndex::new();
    index.publish("x", "1.4.0", vec![]).publish("x", "2.1.0", vec![]);
    index.publish("x", "0.3.2", vec![]).publish("x", "0.4.0", vec![]);
    index.publish("lib", "1.0.0", vec![dep("x", "^2")]);
    index.publish("old", "1.0.0", vec![dep("x", "^0.3"), dep("x", "0.4")]);
    let request = Request::new([("x", "^1"), ("lib", "^1"), ("old", "^1")]);
    let resolution = resolve_ok(&index, &request);
    assert_eq!(
        chosen(&resolution),
        ["lib 1.0.0", "old 1.0.0", "x 0.3.2", "x 0.4.0", "x 1.4.0", "x 2.1.0"]
    );
    let lib = &resolution.packages[0];
    assert_eq!(lib.dependencies[0].to.to_string(), "x 2.1.0");
    let old: Vec<String> = resolution.packages[1]
        .dependencies
        .iter()
        .map(|e| e.to.to_string())
        .collect();
    assert_eq!(old, ["x 0.3.2", "x 0.4.0"]);
    let root: Vec<String> = resolution.root.iter().map(|e| e.to.to_string()).collect();
    assert_eq!(root, ["lib 1.0.0", "old 1.0.0", "x 1.4.0"]);
}

#[test]
fn one_bucket_is_shared_by_all_its_requirements() {
    let mut index = MemoryIndex::new();
    index
        .publish("x", "1.0.0", vec![])
        .publish("x", "1.1.0", vec![])
        .publish("x", "1.2.0", vec![]);
    index.publish("a", "1.0.0", vec![dep("x", "^1.1")]);
    index.publish("b", "1.0.0", vec![dep("x", "<1.2")]);
    let resolution = resolve_ok(&index, &Request::new([("a", "1"), ("b", "1")]));
    assert_eq!(chosen(&resolution), ["a 1.0.0", "b 1.0.0", "x 1.1.0"]);
}

#[test]
fn backtracks_to_an_older_dependent() {
    let mut index = MemoryIndex::new();
    index.publish("x", "1.0.0", vec![]).publish("x", "1.5.0", vec![]);
    index.publish("a", "1.0.0", vec![dep("x", "^1.0")]);
    index.publish("a", "1.1.0", vec![dep("x", "^1.5")]);
    let resolution = resolve_ok(&index, &Request::new([("a", "^1"), ("x", "<1.5")]));
    assert_eq!(chosen(&resolution), ["a 1.0.0", "x 1.0.0"]);
}

#[test]
fn yanked_versions_are_skipped_unless_locked() {
    let mut index = versions("x", &["1.0.0"]);
    index.publish_yanked("x", "1.1.0", vec![]);
    assert_eq!(pick(&index, "x", "^1"), "1.0.0");

    let locked = Request::new([("x", "^1")]).lock("x", v("1.1.0"));
    assert_eq!(resolve_ok(&index, &locked).version_of("x"), Some(&v("1.1.0")));

    let why = no_solution(&index, &Request::new([("x", "=1.1.0")]));
    assert!(why.contains("1.1.0 is yanked"), "{why}");
}

#[test]
fn locked_versions_are_preferred_while_they_fit() {
    let index = versions("x", &["1.0.0", "1.1.0", "1.2.0"]);
    let locked = Request::new([("x", "^1")]).lock("x", v("1.1.0"));
    assert_eq!(resolve_ok(&index, &locked).version_of("x"), Some(&v("1.1.0")));
    // The requirement moved past the pin: the newest that fits instead.
    let moved = Request::new([("x", "^1.2")]).lock("x", v("1.1.0"));
    assert_eq!(resolve_ok(&index, &moved).version_of("x"), Some(&v("1.2.0")));
    // `update x`: the caller drops the pin.
    assert_eq!(pick(&index, "x", "^1"), "1.2.0");
}

#[test]
fn a_pin_finds_its_package_however_the_name_is_spelled() {
    let mut index = MemoryIndex::new();
    index
        .publish("foo_bar", "1.0.0", vec![])
        .publish("foo_bar", "1.1.0", vec![]);
    index.publish("a", "1.0.0", vec![dep("Foo-Bar", "^1")]);
    let pinned = Request::new([("a", "^1")]).lock("foo_bar", v("1.0.0"));
    assert_eq!(resolve_ok(&index, &pinned).version_of("foo_bar"), Some(&v("1.0.0")));
}

#[test]
fn dev_and_optional_dependencies_are_not_followed() {
    let mut index = MemoryIndex::new();
    let mut optional = dep("ghost", "^1");
    optional.optional = true;
    index.publish(
        "a",
        "1.0.0",
        vec![
            dep_of_kind("ghost", "^1", DepKind::Dev),
            optional,
            dep_of_kind("b", "^1", DepKind::Build),
        ],
    );
    index.publish("b", "1.0.0", vec![dep_of_kind("ghost", "^2", DepKind::Dev)]);
    let resolution = resolve_ok(&index, &Request::new([("a", "^1")]));
    assert_eq!(chosen(&resolution), ["a 1.0.0", "b 1.0.0"]);
    assert!(!index.reads().contains(&"ghost".to_string()), "{:?}", index.reads());
}

#[test]
fn target_specific_and_renamed_dependencies_are_followed() {
    let mut index = MemoryIndex::new();
    let mut windows_only = dep("winapi", "^0.3");
    windows_only.target = Some("cfg(windows)".into());
    let mut renamed = dep("alias", "^1");
    renamed.package = Some("real".into());
    index.publish("a", "1.0.0", vec![windows_only, renamed]);
    index
        .publish("winapi", "0.3.9", vec![])
        .publish("real", "1.2.0", vec![]);
    let resolution = resolve_ok(&index, &Request::new([("a", "^1")]));
    assert_eq!(chosen(&resolution), ["a 1.0.0", "real 1.2.0", "winapi 0.3.9"]);
}

#[test]
fn versions_with_unreadable_or_foreign_requirements_are_skipped() {
    let mut index = MemoryIndex::new();
    index.publish("b", "1.0.0", vec![]);
    index.publish("a", "1.0.0", vec![dep("b", "^1")]);
    index.publish("a", "1.1.0", vec![dep("b", "latest")]);
    let mut foreign = dep("b", "^1");
    foreign.registry = Some("https://github.com/rust-lang/crates.io-index".into());
    index.publish("a", "1.2.0", vec![foreign.clone()]);
    assert_eq!(pick(&index, "a", "^1"), "1.0.0");

    let why = no_solution(&index, &Request::new([("a", "=1.1.0")]));
    assert!(
        why.contains("`a 1.1.0` cannot be used: its requirement on `b` is unreadable"),
        "{why}"
    );
    let why = no_solution(&index, &Request::new([("a", "=1.2.0")]));
    assert!(
        why.contains(
            "`b` (required by `a 1.2.0`) comes from another registry (https://github.com/rust-lang/crates.io-index)"
        ),
        "{why}"
    );
}

#[test]
fn a_requirement_across_buckets_is_met_by_one_of_them() {
    let mut index = MemoryIndex::new();
    index
        .publish("x", "1.5.0", vec![])
        .publish("x", "2.3.0", vec![])
        .publish("x", "3.0.0", vec![]);
    index.publish("a", "1.0.0", vec![dep("x", "=1.5.0")]);
    let resolution = resolve_ok(&index, &Request::new([("x", ">=1, <3"), ("a", "^1")]));
    assert_eq!(chosen(&resolution), ["a 1.0.0", "x 1.5.0", "x 2.3.0"]);
    let root: Vec<String> = resolution.root.iter().map(|e| e.to.to_string()).collect();
    assert_eq!(root, ["a 1.0.0", "x 2.3.0"]);

    // A pin steers the choice to its bucket, where `a` already is.
    let pinned = Request::new([("x", ">=1, <3"), ("a", "^1")]).lock("x", v("1.5.0"));
    let resolution = resolve_ok(&index, &pinned);
    assert_eq!(chosen(&resolution), ["a 1.0.0", "x 1.5.0"]);

    // When the newest bucket cannot work, an older one is used.
    index.publish("b", "1.0.0", vec![dep("x", ">=1, <3"), dep("c", "^1")]);
    index.publish("c", "1.0.0", vec![dep("d", "^1")]);
    index.publish("d", "1.0.0", vec![dep("x", "<2")]);
    let resolution = resolve_ok(&index, &Request::new([("b", "^1")]));
    let b = resolution.packages.iter().find(|p| p.id.name == "b").unwrap();
    assert!(b.dependencies.iter().any(|e| e.to.to_string() == "x 2.3.0"));
}

#[test]
fn a_package_may_depend_on_another_major_of_itself() {
    // The "semver trick": 0.2 re-exports types from 0.3.
    let mut index = MemoryIndex::new();
    index.publish("x", "0.3.0", vec![]);
    index.publish("x", "0.2.1", vec![dep("x", "^0.3")]);
    index.publish("x", "1.0.0", vec![dep("x", "^1")]);
    index.publish("x", "1.1.0", vec![dep("x", "=1.0.0")]);
    let resolution = resolve_ok(&index, &Request::new([("x", "^0.2")]));
    assert_eq!(chosen(&resolution), ["x 0.2.1", "x 0.3.0"]);
    // 1.1.0 needs another 1.x, which cannot be: 1.0.0 (depending on its own bucket) is used.
    assert_eq!(pick(&index, "x", "^1"), "1.0.0");
}

#[test]
fn names_are_found_whatever_their_case_or_separator() {
    let mut index = MemoryIndex::new();
    index.publish("Foo_bar", "1.0.0", vec![]);
    index.publish("a", "1.0.0", vec![dep("foo-bar", "^1"), dep("FOO_BAR", "^1")]);
    let resolution = resolve_ok(&index, &Request::new([("a", "^1"), ("foo_bar", "1")]));
    assert_eq!(chosen(&resolution), ["Foo_bar 1.0.0", "a 1.0.0"]);
    // Two spellings in one manifest are one package that must meet both.
    index.publish("Foo_bar", "1.1.0", vec![]);
    let both = Request::new([("foo-bar", "^1"), ("FOO_BAR", "<1.1")]);
    assert_eq!(chosen(&resolve_ok(&index, &both)), ["Foo_bar 1.0.0"]);
}

#[test]
fn only_the_closure_is_read_and_each_file_once() {
    let mut index = MemoryIndex::new();
    for unrelated in ["u1", "u2", "u3"] {
        index.publish(unrelated, "1.0.0", vec![]);
    }
    index.publish("a", "1.0.0", vec![dep("b", "^1")]);
    index.publish("a", "1.1.0", vec![dep("b", "^1"), dep("c", "^1")]);
    index.publish("b", "1.0.0", vec![dep("c", "^1")]);
    index.publish("c", "1.0.0", vec![]);
    resolve_ok(&index, &Request::new([("a", "^1")]));
    let mut reads = index.reads();
    reads.sort();
    assert_eq!(reads, ["a", "b", "c"]);
}

#[test]
fn source_errors_come_through_with_their_context() {
    let mut index = MemoryIndex::new();
    index.publish("a", "1.0.0", vec![dep("b", "^1")]);
    index.break_file("b");
    match resolve(&index, &Request::new([("a", "^1")])) {
        Err(err @ ResolveError::Source { .. }) => {
            assert!(err.to_string().contains("package `b`"), "{err}");
            assert!(err.to_string().contains("disk on fire"), "{err}");
            let ResolveError::Source { source, .. } = err else {
                unreachable!()
            };
            assert!(matches!(source, crate::sources::SourceError::Io { .. }));
        }
        other => panic!("expected a source error, got {other:?}"),
    }
}

#[test]
fn an_invalid_project_requirement_is_an_error_before_solving() {
    let index = versions("x", &["1.0.0"]);
    match resolve(&index, &Request::new([("x", "latest")])) {
        Err(err @ ResolveError::InvalidRequirement { .. }) => {
            assert!(err.to_string().contains("`x`"), "{err}");
            assert!(err.to_string().contains("`latest`"), "{err}");
        }
        other => panic!("expected an invalid requirement, got {other:?}"),
    }
    assert!(index.reads().is_empty());
}

#[test]
fn resolutions_carry_the_entry_lines_and_are_deterministic() {
    let mut index = MemoryIndex::new();
    index.add(entry("x", "1.0.0", vec![]));
    index
        .publish("a", "1.0.0", vec![dep("x", "^1")])
        .publish("b", "1.0.0", vec![dep("x", "1")]);
    let request = Request::new([("b", "^1"), ("a", "^1")]);
    let first = resolve_ok(&index, &request);
    for _ in 0..5 {
        assert_eq!(resolve_ok(&index, &request), first);
    }
    let x = first.packages.iter().find(|p| p.id.name == "x").unwrap();
    assert_eq!(x.entry.line, entry("x", "1.0.0", vec![]).to_line());
    assert_eq!(x.entry.entry.vers, "1.0.0");
    let edges: Vec<(String, String)> = first
        .edges()
        .map(|(from, e)| (from.map_or("project".into(), |f| f.to_string()), e.to.to_string()))
        .collect();
    assert_eq!(
        edges,
        [
            ("project".into(), "a 1.0.0".into()),
            ("project".into(), "b 1.0.0".into()),
            ("a 1.0.0".into(), "x 1.0.0".into()),
            ("b 1.0.0".into(), "x 1.0.0".into()),
        ]
    );
}
