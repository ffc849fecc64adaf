//! W1: the whole-index check against a plain parse of the same data.
//!
//! Side by side, in one run, on the crates.io index of 2019-11-10 (commit
//! 5343e085 of the corpus; 31,839 package files, 184,437 lines):
//! (a) the reference: list the package files, then on all cores (rayon)
//!     read each file and parse every line as a `serde_json::Value`;
//! (b) `index_check::check` of the same tree.
//! Both run warm (one untimed run first); the median of N runs is printed
//! with versions/s and the ratio of throughputs (b / a).
//!
//! The worktree is `$GGEN_CORPUS_WORKTREE` if set, else the corpus tarball
//! (`$GGEN_CORPUS_TAR`, or `shared/corpora/…` in the nearest ancestor of the
//! crate that has it) is unpacked into a temp dir. `GGEN_BENCH_RUNS` sets N (default 7).
//!
//!     cargo bench --bench index_check

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ggen_marketplace::util::progress::NoProgress;
use ggen_marketplace::workflows::index_check;
use rayon::prelude::*;

const CORPUS_TAR: &str = "shared/corpora/crates-io-index-2019.git.tar";
const FULL_2019: &str = "5343e085";

fn main() {
    let (_temp, worktree) = corpus_worktree();
    let runs: usize = std::env::var("GGEN_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(7);
    println!(
        "W1 index check on {} ({} cores, {runs} runs, warm cache)",
        worktree.display(),
        rayon::current_num_threads()
    );

    let reference_lines = reference_parse(&worktree);
    let report = index_check::check(&worktree, &NoProgress).expect("the corpus is a directory");
    assert_eq!(reference_lines, report.versions, "both read the same lines");

    let reference = median(runs, || {
        reference_parse(&worktree);
    });
    let check = median(runs, || {
        index_check::check(&worktree, &NoProgress).unwrap();
    });
    let rate = |d: Duration| report.versions as f64 / d.as_secs_f64();
    println!(
        "(a) reference, serde_json::Value per line: {:>8.3} s  {:>9.0} versions/s",
        reference.as_secs_f64(),
        rate(reference)
    );
    println!(
        "(b) index check (all rules):               {:>8.3} s  {:>9.0} versions/s",
        check.as_secs_f64(),
        rate(check)
    );
    println!(
        "ratio b/a throughput: {:.2} (goal >= 0.60); {} packages, {} versions, {} errors, {} warnings",
        rate(check) / rate(reference),
        report.packages,
        report.versions,
        report.errors,
        report.warnings
    );
}

/// The reference: every package file (depth 2 or 3 below the root, outside
/// dot-directories), read and parsed line by line into `Value`s in parallel.
/// Returns the number of lines parsed.
fn reference_parse(root: &Path) -> usize {
    let mut files = Vec::new();
    walk(root, 0, &mut files);
    files
        .par_iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let mut lines = 0;
            for line in text.lines().filter(|line| !line.is_empty()) {
                let value: serde_json::Value = serde_json::from_str(line).expect("corpus lines are JSON");
                std::hint::black_box(value);
                lines += 1;
            }
            lines
        })
        .sum()
}

fn walk(dir: &Path, depth: usize, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            walk(&path, depth + 1, files);
        } else if depth >= 1 {
            files.push(path);
        }
    }
}

fn median(runs: usize, mut work: impl FnMut()) -> Duration {
    work();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// `$GGEN_CORPUS_WORKTREE`, or the corpus unpacked into a temp dir (kept
/// alive by the returned guard) and checked out at 5343e085.
fn corpus_worktree() -> (Option<tempfile::TempDir>, PathBuf) {
    if let Some(dir) = std::env::var_os("GGEN_CORPUS_WORKTREE") {
        return (None, PathBuf::from(dir));
    }
    let tar = std::env::var_os("GGEN_CORPUS_TAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|dir| dir.join(CORPUS_TAR))
                .find(|path| path.is_file())
                .expect("the corpus tarball: set GGEN_CORPUS_TAR or GGEN_CORPUS_WORKTREE")
        });
    let temp = tempfile::tempdir().unwrap();
    run(
        "tar",
        &["-xf", tar.to_str().unwrap(), "-C", temp.path().to_str().unwrap()],
    );
    let bare = temp.path().join("crates-io-index-2019.git");
    let work = temp.path().join("work");
    run("git", &["clone", "-q", bare.to_str().unwrap(), work.to_str().unwrap()]);
    run("git", &["-C", work.to_str().unwrap(), "checkout", "-q", FULL_2019]);
    (Some(temp), work)
}

fn run(program: &str, args: &[&str]) {
    let status = std::process::Command::new(program).args(args).status().unwrap();
    assert!(status.success(), "{program} {args:?} failed");
}
