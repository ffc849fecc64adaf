//! The wording of conflicts.

use super::memory::{MemoryIndex, dep};
use super::no_solution;
use crate::resolve::Request;

/// Words the bucket machinery and the range encoding must never leak.
fn assert_tidy(why: &str) {
    for artefact in ["-0", "1.x", "0.x", "(missing)", "Choice", "Bucket", "∅"] {
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
    assert!(why.contains("`a 1.0.0` and `b 1.0.0` cannot hold together"), "{why}");
    assert!(why.contains("the project depends on `a ^1`"), "{why}");
    assert!(why.contains("the project depends on `b ^1`"), "{why}");
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
