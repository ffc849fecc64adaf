//! The pull-request gate on the real crates.io index of 2019-11-10 (31,839
//! packages, 184,437 versions), against the whole-index check of the same
//! tree, each as the real release binary in its own process so wall time
//! and peak memory (`/usr/bin/time`) are what CI would see:
//!
//! (a) `index check DIR` — the whole index;
//! (b) `index check DIR --base main --head one-version` — a PR appending
//!     one version to `serde`;
//! (c) `index check DIR --base main --head new-package` — a PR adding a new
//!     package (the confusable-name rule reads every name).
//!
//! The corpus's `dl` is crates.io's, so the gate runs `--offline` and the
//! new lines' archives are reported missing: everything else is checked.
//! Median of N runs (`GGEN_BENCH_RUNS`, default 5), warm cache.
//!
//!     cargo bench --bench gate

#[allow(dead_code)] // each bench uses part of the corpus helpers
mod support {
    pub mod corpus;
}

use std::path::Path;
use std::process::Command;

fn main() {
    let (_temp, worktree) = support::corpus::full_2019_worktree();
    let runs: usize = std::env::var("GGEN_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    prepare_branches(&worktree);
    let dir = worktree.to_str().unwrap();
    let cases: [(&str, Vec<&str>); 3] = [
        ("(a) whole index check", vec!["index", "check", dir]),
        (
            "(b) gate, one-version PR",
            vec![
                "index",
                "check",
                dir,
                "--base",
                "main",
                "--head",
                "one-version",
                "--offline",
            ],
        ),
        (
            "(c) gate, new-package PR",
            vec![
                "index",
                "check",
                dir,
                "--base",
                "main",
                "--head",
                "new-package",
                "--offline",
            ],
        ),
    ];
    println!("gate vs whole-index check on {dir} ({runs} runs, warm, median)");
    for (label, args) in cases {
        measure(&args);
        let mut samples: Vec<(f64, u64)> = (0..runs).map(|_| measure(&args)).collect();
        samples.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (wall, _) = samples[runs / 2];
        let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
        println!("{label:<28} {wall:>7.3} s   peak RSS {:>7.1} MB", peak as f64 / 1024.0);
    }
}

/// (wall seconds, peak RSS KiB) of one run of the binary.
fn measure(args: &[&str]) -> (f64, u64) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %M"])
        .arg(env!("CARGO_BIN_EXE_ggen-market"))
        .args(args)
        .output()
        .expect("/usr/bin/time (Debian package time) runs the binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    let mut fields = last.split_whitespace();
    let wall = fields.next().and_then(|f| f.parse().ok()).unwrap_or(f64::NAN);
    let peak = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
    (wall, peak)
}

/// Branches `one-version` and `new-package` off `main` (the corpus commit),
/// made with plain git.
fn prepare_branches(worktree: &Path) {
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .arg("-C")
            .arg(worktree)
            .args([
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@example.org",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["checkout", "-q", "-B", "main"]);
    let line = |name: &str, version: &str| {
        format!(
            r#"{{"name":"{name}","vers":"{version}","deps":[],"cksum":"{}","features":{{}},"yanked":false,"description":"bench","license":"MIT"}}"#,
            "ab".repeat(32)
        )
    };
    let append = |relative: &str, text: &str| {
        let path = worktree.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut old = std::fs::read_to_string(&path).unwrap_or_default();
        old.push_str(text);
        old.push('\n');
        std::fs::write(path, old).unwrap();
    };
    git(&["checkout", "-q", "-B", "one-version", "main"]);
    append("se/rd/serde", &line("serde", "1.0.103"));
    git(&["commit", "-qam", "one version"]);
    git(&["checkout", "-q", "-B", "new-package", "main"]);
    append("zz/ga/zzgate-bench-new", &line("zzgate-bench-new", "0.1.0"));
    git(&["add", "-A"]);
    git(&["commit", "-qm", "new package"]);
    git(&["checkout", "-q", "main"]);
}
