//! `ggen.toml`: a package's manifest (read from archives and package
//! directories) or a project's dependency list (read and edited in place).

use ggen_marketplace::format::entry::IndexEntry;
use ggen_marketplace::format::features::FeatureAsk;
use ggen_marketplace::format::manifest::{Manifest, ManifestEditor};

const FUZZ_DEP: &str = "io.ggen.fuzz";

/// No panic, and:
/// - a manifest serialized as TOML parses back to itself;
/// - the index entry of a publishable manifest is a line clients read back;
/// - editing: after `set_dependency` the file parses and holds the new
///   requirement and features, after `remove_dependency` it parses and no longer does.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(manifest) = Manifest::parse(text) {
        let written = toml::to_string(&manifest).expect("a manifest serializes");
        assert_eq!(
            Manifest::parse(&written).expect("a written manifest parses"),
            manifest,
            "manifest changed on its way through TOML: {written}"
        );
        let _ = manifest.validate_dependencies();
        if let Ok((entry, version)) = manifest.index_entry(&"0".repeat(64)) {
            assert_eq!(entry.version().expect("vers is semver"), version);
            assert_eq!(
                IndexEntry::from_line(&entry.to_line()).expect("entry reads back"),
                entry
            );
        }
    }
    let Ok(mut editor) = ManifestEditor::parse(text) else {
        return;
    };
    editor
        .set_dependency(FUZZ_DEP, "^1.2", &FeatureAsk::none().with("fuzz"))
        .expect("a parsed manifest takes a dependency");
    let added = editor.manifest().expect("an edited manifest parses");
    assert_eq!(added.dependencies.get(FUZZ_DEP).map(String::as_str), Some("^1.2"));
    assert_eq!(added.ask_of(FUZZ_DEP), FeatureAsk::none().with("fuzz"));
    assert!(
        editor.remove_dependency(FUZZ_DEP),
        "the dependency just set is not there"
    );
    let removed = editor.manifest().expect("an edited manifest parses");
    assert!(!removed.dependencies.contains_key(FUZZ_DEP));
}
