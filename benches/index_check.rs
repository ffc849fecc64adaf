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

mod support {
    pub mod corpus;
}

use std::path::Path;
use std::time::{Duration, Instant};

use ggen_marketplace::util::progress::NoProgress;
use ggen_marketplace::workflows::index_check;
use rayon::prelude::*;

fn main() {
    let (_temp, worktree) = support::corpus::full_2019_worktree();
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

/// The reference: every package file (below a top-level directory, outside
/// dot-directories), read and parsed line by line into `Value`s on all
/// cores. Returns the number of lines parsed.
fn reference_parse(root: &Path) -> usize {
    support::corpus::package_files(root)
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
