//! The fuzz corpus as a regression test on stable: every committed input of
//! every fuzz target (`fuzz/corpus/TARGET/*`, real examples and the inputs
//! of bugs the fuzzers found) goes through the same check the target runs
//! (`fuzz/checks/TARGET.rs`), so a parser that panics or breaks a checked
//! property on one of them again fails here, without nightly or cargo-fuzz.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[allow(dead_code)] // the checks' docs and helpers serve the fuzz targets too
#[path = "../fuzz/checks/mod.rs"]
mod checks;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The file names in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_fuzz_target_has_a_check_and_a_corpus() {
    let mut targets: Vec<String> = files_in(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    targets.sort();
    let checked: Vec<&str> = checks::TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        targets, checked,
        "fuzz/fuzz_targets and fuzz/checks/mod.rs TARGETS differ"
    );
    for name in checked {
        let corpus = fuzz_dir().join("corpus").join(name);
        assert!(!files_in(&corpus).is_empty(), "{} has no seed inputs", corpus.display());
    }
}

#[test]
fn every_corpus_input_passes_its_check() {
    let mut failures = Vec::new();
    let mut inputs = 0;
    for (name, check) in checks::TARGETS {
        for path in files_in(&fuzz_dir().join("corpus").join(name)) {
            let data = std::fs::read(&path).unwrap();
            inputs += 1;
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&data))) {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{name}: {}: {message}", path.display()));
            }
        }
    }
    assert!(inputs >= checks::TARGETS.len(), "only {inputs} corpus inputs");
    assert!(
        failures.is_empty(),
        "{} inputs fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
