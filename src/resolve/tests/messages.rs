//! The wording of conflicts.

use super::memory::{MemoryIndex, dep};
use super::no_solution;
use crate::resolve::Request;

/// Words the bucket machinery and the range encoding must never leak.
fn assert_tidy(why: &str) {
    for artefact in ["-0", "(missing)", "Choice", "Bucket", "Major(", "Minor(", "Patch(", "∅"] {
        assert!(!why.contains(artefact), "`{artefact}` leaked into:\n{why}");
    }
}

#[test]
fn a_missing_package_names_what_requires_it() {
    let mut index = MemoryIndex::new();
    index.publish("y", "1.0.0", vec![dep("x", "^1.0")]);
    index.publish("y", "1.0.1", vec![dep("x", "^1.0")]);
    let why = no_solution(&index, &Request::new([("y", "^1.0")]));
    assert!(
        why.contains("package `x` (required by `y ^1`) does not exist in the test index"),
        "{why}"
    );
    assert_tidy(&why);

    let why = no_solution(&index, &Request::new([("ghost", "^2")]));
    assert!(
        why.contains("package `ghost` (required by the project) does not exist in the test index"),
        "{why}"
    );
}

#[test]
fn a_conflict_names_both_requirements() {
    let mut index = MemoryIndex::new();
    index
        .publish("x", "1.0.0", vec![])
        .publish("x", "1.2.0", vec![])
        .publish("x", "1.3.0", vec![]);
    index.publish("a", "1.0.0", vec![dep("x", "=1.0.0")]);
    index.publish("b", "1.0.0", vec![dep("x", "^1.2")]);
    let why = no_solution(&index, &Request::new([("a", "^1"), ("b", "^1")]));
    assert!(why.contains("`a 1.0.0` depends on `x =1.0.0`"), "{why}");
    assert!(why.contains("`b 1.0.0` depends on `x ^1.2`"), "{why}");
    assert!(why.contains("`a 1.0.0` and `b 1.0.0` cannot be used together"), "{why}");
    assert!(why.contains("the project depends on `a ^1` and `b ^1`"), "{why}");
    assert_tidy(&why);
}

#[test]
fn ranges_of_dependents_are_tidied() {
    let mut index = MemoryIndex::new();
    index.publish("x", "1.0.0", vec![]);
    for vers in ["2.0.0", "2.1.0", "2.2.0"] {
        index.publish("lib", vers, vec![dep("x", "^2")]);
    }
    index.publish("lib", "3.0.0", vec![]);
    let why = no_solution(&index, &Request::new([("lib", ">=2.0.0, <3.0.0")]));
    assert!(why.contains("`lib ^2` depends on `x ^2`"), "{why}");
    assert!(why.contains("no version of `x` matches ^2"), "{why}");
    // The project's requirement reads as written.
    assert!(why.contains("the project depends on `lib >=2.0.0, <3.0.0`"), "{why}");
    assert!(
        !why.contains(">2.0.0, <2.1.0"),
        "gaps between versions are not facts:\n{why}"
    );
    assert_tidy(&why);
}

#[test]
fn a_requirement_across_buckets_reads_as_written() {
    let mut index = MemoryIndex::new();
    index.publish("x", "1.0.0", vec![]).publish("x", "2.0.0", vec![]);
    let why = no_solution(&index, &Request::new([("x", ">=3, <5")]));
    assert!(why.contains("no version of `x` matches >=3, <5"), "{why}");
    assert_tidy(&why);
}

#[test]
fn a_chain_of_reasons_reads_as_sentences() {
    // pubgrub's classic example, in one compatibility bucket per package.
    let mut index = MemoryIndex::new();
    index.publish("menu", "1.0.0", vec![dep("dropdown", "^1")]);
    index.publish("menu", "1.1.0", vec![dep("dropdown", "^2")]);
    index.publish("menu", "1.2.0", vec![dep("dropdown", "^2")]);
    index.publish("dropdown", "1.0.0", vec![dep("intl", "<1.4")]);
    index.publish("dropdown", "1.5.0", vec![dep("intl", "<1.4")]);
    index.publish("dropdown", "2.0.0", vec![dep("icons", "^1.5")]);
    index
        .publish("icons", "1.0.0", vec![])
        .publish("icons", "1.5.0", vec![]);
    index.publish("intl", "1.3.0", vec![]).publish("intl", "1.5.0", vec![]);
    index.publish_yanked("intl", "1.6.0", vec![]);
    let request = Request::new([("menu", "^1"), ("icons", "=1.0.0"), ("intl", ">=1.5")]);
    let why = no_solution(&index, &request);
    for fact in [
        "`dropdown 2.0.0` depends on `icons ^1.5`",
        "`menu ^1.1` depends on `dropdown ^2`",
        "`dropdown ^1` depends on `intl <1.4`",
        "`menu 1.0.0` depends on `dropdown ^1`",
        "the project depends on `icons =1.0.0`",
        "the project depends on `intl >=1.5` and `menu ^1`",
        "the project's requirements cannot be met.",
    ] {
        assert!(why.contains(fact), "missing `{fact}` in:\n{why}");
    }
    assert!(why.starts_with("Because "), "{why}");
    assert_tidy(&why);
}

#[test]
fn a_requirement_across_buckets_names_the_series_it_tried() {
    let mut index = MemoryIndex::new();
    index.publish("x", "1.0.0", vec![dep("y", "^2")]);
    index.publish("x", "2.0.0", vec![dep("y", "^3")]);
    index.publish("y", "1.0.0", vec![]);
    let why = no_solution(&index, &Request::new([("x", ">=1, <3")]));
    assert!(why.contains("the project depends on `x >=1, <3`"), "{why}");
    assert!(why.contains("`x 1.0.0` depends on `y ^2`"), "{why}");
    assert!(why.contains("`x 2.0.0` depends on `y ^3`"), "{why}");
    assert!(why.contains("no version of `y` matches ^2"), "{why}");
    // Each series the requirement could use is explained in semver's words.
    assert!(why.contains("`x >=1, <3` within 1.x means `x 1.0.0`"), "{why}");
    assert!(why.contains("`x >=1, <3` within 2.x cannot be used"), "{why}");
    assert_tidy(&why);
}
