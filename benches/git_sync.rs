//! W2: syncing a git index over smart HTTP on loopback, `GitSource::update`
//! against `git` itself, side by side on the same lighttpd + http-backend
//! server and the same repository:
//!
//! - clone: the crates.io corpus at 5343e085 (the full 2019 registry,
//!   42,302 objects) — ours: `GitSource::open` + `update` into an empty
//!   cache; git: `git clone --bare`;
//! - fetch: the served branch moved to b28bb168 (10,010 new objects) —
//!   ours: `update` of that clone; git: `git fetch` of its branch.
//!
//! - read: every package file of 5343e085 (31,839 files, 155 MB), one
//!   by one — ours: `read_package_file` for each listed name on a freshly
//!   opened source; git: `git ls-tree -r | git cat-file --batch` (blob ids
//!   handed over directly, no path lookups).
//!
//! Each run alternates which tool goes first; the median of the runs is
//! reported. `cargo bench --bench git_sync` (runs: `GGEN_BENCH_RUNS`,
//! default 5).

#[allow(dead_code)] // the bench uses the smart-HTTP server and git helpers only
#[path = "../tests/support/servers.rs"]
mod servers;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ggen_marketplace::sources::PackageSource;
use ggen_marketplace::sources::git::GitSource;
use ggen_marketplace::util::progress::NoProgress;
use servers::{CORPUS_BRANCH, CORPUS_FILTERED_COMMIT as NEW, CORPUS_FULL_COMMIT as OLD, GitHttpServer, git};

const REPO: &str = "crates-io-index-2019.git";

fn serve(repo: &Path, commit: &str) {
    git(repo, &["update-ref", &format!("refs/heads/{CORPUS_BRANCH}"), commit]);
}

/// Wall-clock time, and CPU time of the client: this process plus the
/// children it waited for (git and its helpers). The server's CPU is left
/// out, and so is most of the noise of a busy machine.
#[derive(Clone, Copy)]
struct Measure {
    wall: Duration,
    cpu: Duration,
}

/// CPU used so far by this process and its waited-for children
/// (`utime + stime + cutime + cstime` of /proc/self/stat).
fn cpu_used(ticks_per_second: f64) -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_name = stat.rsplit_once(')').unwrap().1;
    // After the command name come fields 3, 4, …; utime is field 14.
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|field| field.parse::<u64>().unwrap())
        .sum();
    Duration::from_secs_f64(ticks as f64 / ticks_per_second)
}

fn clock_ticks_per_second() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().parse().unwrap()
}

fn timed<T>(ticks: f64, work: impl FnOnce() -> T) -> (Measure, T) {
    let (start, cpu_start) = (Instant::now(), cpu_used(ticks));
    let result = work();
    let measure = Measure {
        wall: start.elapsed(),
        cpu: cpu_used(ticks) - cpu_start,
    };
    (measure, result)
}

/// The measures of one tool in one run.
struct Timings {
    clone: Measure,
    read: Measure,
    fetch: Measure,
}

/// Clone, read everything, fetch with `GitSource`; checks it lands on the
/// right commits and reads every file.
fn ours(url: &str, served: &Path, ticks: f64) -> Timings {
    let cache = tempfile::tempdir().unwrap();
    serve(served, OLD);
    let (clone, source) = timed(ticks, || {
        let source = GitSource::open(url, cache.path(), false).unwrap();
        source.update(&NoProgress).unwrap();
        source
    });
    assert_eq!(source.current_commit().as_deref(), Some(OLD));
    let (read, bytes) = timed(ticks, || {
        let reader = GitSource::open(url, cache.path(), true).unwrap();
        let names = reader.package_names().unwrap().unwrap();
        let texts = names
            .iter()
            .map(|name| reader.read_package_file(name).unwrap().unwrap());
        texts.map(|text| text.len()).sum::<usize>()
    });
    assert!(bytes > 150_000_000, "{bytes} bytes read");
    serve(served, NEW);
    let (fetch, report) = timed(ticks, || source.update(&NoProgress).unwrap());
    assert!(report.changed && source.current_commit().as_deref() == Some(NEW));
    Timings { clone, read, fetch }
}

/// Clone, read everything, fetch with git; checks it lands on the right
/// commits.
fn theirs(url: &str, served: &Path, ticks: f64) -> Timings {
    let scratch = tempfile::tempdir().unwrap();
    let clone_dir = scratch.path().join("clone.git");
    serve(served, OLD);
    let (clone, _) = timed(ticks, || {
        git(
            scratch.path(),
            &["clone", "-q", "--bare", url, clone_dir.to_str().unwrap()],
        )
    });
    assert_eq!(git(&clone_dir, &["rev-parse", CORPUS_BRANCH]), OLD);
    let (read, status) = timed(ticks, || {
        let pipeline = format!("git ls-tree -r --object-only {OLD} | git cat-file --batch >/dev/null");
        servers::apply_git_env(&mut Command::new("sh"))
            .arg("-c")
            .arg(pipeline)
            .current_dir(&clone_dir)
            .status()
            .unwrap()
    });
    assert!(status.success());
    serve(served, NEW);
    let refspec = format!("+refs/heads/{CORPUS_BRANCH}:refs/heads/{CORPUS_BRANCH}");
    let (fetch, _) = timed(ticks, || git(&clone_dir, &["fetch", "-q", "origin", &refspec]));
    assert_eq!(git(&clone_dir, &["rev-parse", CORPUS_BRANCH]), NEW);
    Timings { clone, read, fetch }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("GGEN_BENCH_RUNS").map_or(5, |v| v.parse().expect("GGEN_BENCH_RUNS is a number"));
    let root = tempfile::tempdir().unwrap();
    let served = servers::unpack_corpus(root.path());
    let server = GitHttpServer::start(root.path(), false);
    let url = server.repo_url(REPO);
    let ours_url = format!("git+{url}");

    let ticks = clock_ticks_per_second();
    let (mut our_runs, mut git_runs) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let (o, t) = if run % 2 == 0 {
            let o = ours(&ours_url, &served, ticks);
            (o, theirs(&url, &served, ticks))
        } else {
            let t = theirs(&url, &served, ticks);
            (ours(&ours_url, &served, ticks), t)
        };
        let secs = |m: Measure| format!("{:.2}s ({:.2}s cpu)", m.wall.as_secs_f64(), m.cpu.as_secs_f64());
        eprintln!(
            "run {}: clone ours {} git {}; read ours {} git {}; fetch ours {} git {}",
            run + 1,
            secs(o.clone),
            secs(t.clone),
            secs(o.read),
            secs(t.read),
            secs(o.fetch),
            secs(t.fetch)
        );
        our_runs.push(o);
        git_runs.push(t);
    }

    type Pick = fn(&Timings) -> Measure;
    let medians = |runs: &[Timings], pick: Pick| {
        let wall = median(runs.iter().map(|t| pick(t).wall).collect());
        let cpu = median(runs.iter().map(|t| pick(t).cpu).collect());
        Measure { wall, cpu }
    };
    println!("git index sync over smart HTTP (lighttpd + git http-backend, 127.0.0.1), median of {runs} runs");
    println!("client CPU = this process + the git processes it waited for; the server is not counted");
    println!(
        "{:<44} {:>11} {:>9} {:>6} {:>11} {:>9} {:>6}",
        "", "wall ours", "git", "ratio", "cpu ours", "git", "ratio"
    );
    let rows: [(&str, Pick); 3] = [
        ("clone 5343e085 (42,302 objects)", |t| t.clone),
        ("read all 31,839 package files (155 MB)", |t| t.read),
        ("fetch 5343e085..b28bb168 (10,010 objects)", |t| t.fetch),
    ];
    for (what, pick) in rows {
        let (ours, theirs) = (medians(&our_runs, pick), medians(&git_runs, pick));
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        println!(
            "{what:<44} {:>10.2}s {:>8.2}s {:>5.2}x {:>10.2}s {:>8.2}s {:>5.2}x",
            ours.wall.as_secs_f64(),
            theirs.wall.as_secs_f64(),
            ratio(ours.wall, theirs.wall),
            ours.cpu.as_secs_f64(),
            theirs.cpu.as_secs_f64(),
            ratio(ours.cpu, theirs.cpu)
        );
    }
}
