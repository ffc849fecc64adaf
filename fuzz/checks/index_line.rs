//! A package file of the index (JSON lines), read the three ways untrusted
//! index text is read: by a client (`IndexEntry::from_line`), by
//! `index check` and the pull-request gate (`check_package_file`), and for a
//! signature (`canonical_form`).

use std::collections::HashSet;

use ggen_marketplace::format::canonical::canonical_form;
use ggen_marketplace::format::entry::IndexEntry;
use ggen_marketplace::format::name::index_path;
use ggen_marketplace::format::notice::notices_path;
use ggen_marketplace::format::rules::line::{CleanDependencies, LineContext, check_line};
use ggen_marketplace::format::rules::package_file::{check_package_file, lines};
use ggen_marketplace::trust::owner_keys_path;

/// No panic, and:
/// - an entry a client reads is written back by `to_line` to a line that
///   reads to the same entry (with the explicit dependency kinds `to_line`
///   adds), and `to_line` is a fixed point;
/// - a readable entry has a canonical form, and the canonical form of a
///   canonical form is itself;
/// - a line `index check` finds nothing wrong with is readable by clients;
/// - a line checked after the file's earlier lines (skipping dependencies
///   they found clean) gets the verdict it gets checked alone.
pub fn check(data: &[u8]) {
    let known = HashSet::from(["fuzz"]);
    let _ = check_package_file("fu/zz/fuzz", data, &known);
    check_lines_alone_and_in_order(data, &known);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (_, entry) in IndexEntry::parse_file(text) {
        let Ok(entry) = entry else { continue };
        let line = entry.to_line();
        let strict = IndexEntry::from_line(&line).expect("a written line reads back");
        assert_eq!(strict.to_line(), line, "to_line is not a fixed point");
        let mut expected = entry.clone();
        for dep in &mut expected.deps {
            dep.kind = Some(dep.kind());
        }
        assert_eq!(strict, expected, "an entry changed on its way through to_line");
        // What a client derives from a name it read.
        let _ = (
            index_path(&entry.name),
            owner_keys_path(&entry.name),
            notices_path(&entry.name),
        );
        let _ = entry.version();
    }
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        check_one_line(line);
    }
}

fn check_lines_alone_and_in_order(data: &[u8], known: &HashSet<&str>) {
    let ctx = LineContext {
        file_name: "fuzz",
        known,
    };
    let mut clean = CleanDependencies::default();
    for (_, line) in lines(data) {
        let (mut in_order, mut alone) = (Vec::new(), Vec::new());
        let version_in_order = check_line(line, &ctx, &mut clean, &mut in_order);
        let version_alone = check_line(line, &ctx, &mut CleanDependencies::default(), &mut alone);
        assert_eq!(
            (version_in_order, in_order),
            (version_alone, alone),
            "a line's verdict depends on the lines before it"
        );
    }
}

fn check_one_line(line: &str) {
    let readable = IndexEntry::from_line(line).is_ok();
    match canonical_form(line) {
        Ok(canonical) => assert_eq!(
            canonical_form(&canonical).expect("a canonical form is JSON"),
            canonical,
            "canonical form is not idempotent"
        ),
        Err(e) => assert!(!readable, "a readable entry has no canonical form: {e}"),
    }
    // The file is the line's own and every dependency it names is known,
    // so that a clean verdict is possible.
    let (file_name, known) = names(line);
    let ctx = LineContext {
        file_name: &file_name,
        known: &known,
    };
    let mut problems = Vec::new();
    let _ = check_line(line.as_bytes(), &ctx, &mut CleanDependencies::default(), &mut problems);
    if problems.is_empty() {
        assert!(readable, "index check accepts a line clients cannot read");
    }
}

/// The lowercased name of the entry and of every package its dependencies name.
fn names(line: &str) -> (String, HashSet<String>) {
    let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
    let text = |value: &serde_json::Value, field: &str| value.get(field)?.as_str().map(str::to_ascii_lowercase);
    let deps = entry.get("deps").and_then(|d| d.as_array()).into_iter().flatten();
    let known = deps
        .flat_map(|dep| [text(dep, "name"), text(dep, "package")])
        .flatten()
        .collect();
    (text(&entry, "name").unwrap_or_default(), known)
}
