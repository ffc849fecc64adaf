//! W4, in-process: resolve each of the 100 most depended-upon crates of the
//! 2019 crates.io index alone (`name = "*"`) against a `LocalSource` over a
//! checkout of the index, and report the time per root.
//!
//! The corpus: set `GGEN_CORPUS_WORKTREE` to a checkout of
//! crates-io-index-2019 at 5343e085, or let the bench unpack
//! ../shared/corpora/crates-io-index-2019.git.tar into a temp dir
//! (`GGEN_CORPUS_TAR` overrides the path).
//!
//! Run: `cargo bench --bench resolve`. `GGEN_BENCH_ROOTS=ring,reqwest`
//! resolves only those roots (skipping the count), for profiling.
//! `cargo bench --bench resolve -- --list-roots N` only prints the N most
//! depended-upon packages, one `name dependents` line each, most first: the
//! end-to-end bench (benches/resolve_e2e.sh) takes its roots from there.

mod support {
    #[allow(dead_code)] // shared with the index benches, which use all of it
    pub mod corpus;
}

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use semver::{Version, VersionReq};

use ggen_marketplace::format::{DepKind, IndexConfig, IndexEntry};
use ggen_marketplace::resolve::{Request, Resolution, resolve};
use ggen_marketplace::sources::download::Downloader;
use ggen_marketplace::sources::local::LocalSource;
use ggen_marketplace::sources::{PackageSource, SourceError, UpdateReport};
use ggen_marketplace::util::progress::Progress;

const ROOTS: usize = 100;
/// Each root is resolved this many times; its time is the median run.
const RUNS: usize = 5;

/// A local source that counts the package files it reads.
struct CountingSource {
    inner: LocalSource,
    reads: AtomicUsize,
}

impl PackageSource for CountingSource {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn config(&self) -> Result<IndexConfig, SourceError> {
        self.inner.config()
    }
    fn read_index_file(&self, path: &str) -> Result<Option<String>, SourceError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.read_index_file(path)
    }
    fn package_names(&self) -> Result<Option<Vec<String>>, SourceError> {
        self.inner.package_names()
    }
    fn download_base(&self) -> String {
        self.inner.download_base()
    }
    fn downloader(&self) -> &Downloader {
        self.inner.downloader()
    }
    fn update(&self, progress: &dyn Progress) -> Result<UpdateReport, SourceError> {
        self.inner.update(progress)
    }
}

struct RootResult {
    name: String,
    dependents: usize,
    time: Duration,
    packages: usize,
    files_read: usize,
    failure: Option<String>,
}

fn main() {
    let (_temp, worktree) = support::corpus::full_2019_worktree();
    if let Some(count) = list_roots_argument() {
        let source = LocalSource::open(&worktree).expect("the corpus checkout is an index");
        for (name, dependents) in most_depended_upon(&source, count) {
            println!("{name} {dependents}");
        }
        return;
    }
    let source = CountingSource {
        inner: LocalSource::open(&worktree).expect("the corpus checkout is an index"),
        reads: AtomicUsize::new(0),
    };

    let top = match std::env::var("GGEN_BENCH_ROOTS") {
        Ok(roots) => roots.split(',').map(|r| (r.trim().to_owned(), 0)).collect(),
        Err(_) => {
            let started = Instant::now();
            let top = most_depended_upon(&source.inner, ROOTS);
            eprintln!(
                "counted dependents over the whole index in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            top
        }
    };

    let mut results: Vec<RootResult> = top
        .into_iter()
        .map(|(name, dependents)| resolve_root(&source, name, dependents))
        .collect();

    report(&mut results);
}

/// `--list-roots N` on the command line.
fn list_roots_argument() -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--list-roots")?;
    let count = args.get(at + 1).and_then(|n| n.parse().ok());
    Some(count.expect("--list-roots takes a number"))
}

fn resolve_root(source: &CountingSource, name: String, dependents: usize) -> RootResult {
    let request = Request::new([(name.as_str(), "*")]);
    let mut times = Vec::with_capacity(RUNS);
    let mut outcome = None;
    let mut files_read = 0;
    for _ in 0..RUNS {
        source.reads.store(0, Ordering::Relaxed);
        let start = Instant::now();
        let result = resolve(source, &request);
        times.push(start.elapsed());
        files_read = source.reads.load(Ordering::Relaxed);
        outcome = Some(result);
    }
    times.sort();
    let (packages, failure) = match outcome.expect("at least one run") {
        Ok(resolution) => {
            if let Err(broken) = check(&resolution) {
                panic!("the resolution of {name} breaks a rule: {broken}");
            }
            (resolution.packages.len(), None)
        }
        Err(err) => (0, Some(err.to_string())),
    };
    RootResult {
        name,
        dependents,
        time: times[RUNS / 2],
        packages,
        files_read,
        failure,
    }
}

/// Checks a resolution against the rules with semver alone (not timed):
/// every counted requirement of every chosen version is met by one of its
/// edges, and no two chosen versions of a package are semver-compatible.
fn check(resolution: &Resolution) -> Result<(), String> {
    for package in &resolution.packages {
        let entry = &package.entry.entry;
        for dep in entry.deps.iter().filter(|d| d.kind() != DepKind::Dev && !d.optional) {
            let req = VersionReq::parse(&dep.req).map_err(|e| e.to_string())?;
            let met = package
                .dependencies
                .iter()
                .any(|e| e.to.name.eq_ignore_ascii_case(dep.package_name()) && req.matches(&e.to.version));
            if !met {
                return Err(format!(
                    "{}: `{} {}` is not met",
                    package.id,
                    dep.package_name(),
                    dep.req
                ));
            }
        }
        let compatible = resolution.packages.iter().filter(|other| {
            other.id.name == package.id.name && compatibility(&other.id.version) == compatibility(&package.id.version)
        });
        if compatible.count() > 1 {
            return Err(format!("two compatible versions of {}", package.id.name));
        }
    }
    Ok(())
}

fn compatibility(v: &Version) -> (u64, u64, u64) {
    match (v.major, v.minor) {
        (0, 0) => (0, 0, v.patch),
        (0, minor) => (0, minor, 0),
        (major, _) => (major, 0, 0),
    }
}

fn report(results: &mut [RootResult]) {
    let mut times: Vec<Duration> = results.iter().map(|r| r.time).collect();
    times.sort();
    let percentile = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    let total: Duration = times.iter().sum();
    println!(
        "W4 resolve, {} roots (`name = \"*\"`, median of {RUNS} runs each), crates.io index 2019-11-10",
        results.len()
    );
    println!(
        "  per root: median {:.2} ms, p95 {:.2} ms, max {:.2} ms, total {:.1} ms",
        ms(percentile(0.5)),
        ms(percentile(0.95)),
        ms(percentile(1.0)),
        ms(total)
    );
    let closures: Vec<usize> = results.iter().map(|r| r.packages).collect();
    println!(
        "  closure: median {} packages, max {}",
        median(&closures),
        closures.iter().max().copied().unwrap_or(0)
    );
    let failures: Vec<&RootResult> = results.iter().filter(|r| r.failure.is_some()).collect();
    println!(
        "  failed: {}; every resolution checked against the rules with semver alone",
        failures.len()
    );
    for failed in failures {
        let why = failed.failure.as_deref().unwrap_or_default();
        println!(
            "    {}: {}",
            failed.name,
            why.lines().take(3).collect::<Vec<_>>().join(" / ")
        );
    }
    results.sort_by_key(|r| std::cmp::Reverse(r.time));
    println!("  slowest roots:");
    for r in results.iter().take(10) {
        println!(
            "    {:<24} {:>7.2} ms  {:>3} packages chosen, {:>3} files read, {} dependents",
            r.name,
            ms(r.time),
            r.packages,
            r.files_read,
            r.dependents
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(values: &[usize]) -> usize {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

/// The `count` packages with the most distinct dependents over normal
/// dependencies, with their counts; ties by name.
fn most_depended_upon(source: &LocalSource, count: usize) -> Vec<(String, usize)> {
    let names = source
        .package_names()
        .unwrap()
        .expect("a local index lists its packages");
    let mut dependents: HashMap<String, HashSet<String>> = HashMap::new();
    for name in &names {
        let text = source.read_package_file(name).unwrap().unwrap_or_default();
        for (_, entry) in IndexEntry::parse_file(&text) {
            let Ok(entry) = entry else { continue };
            for dep in entry.deps.iter().filter(|d| d.kind() == DepKind::Normal) {
                dependents
                    .entry(dep.package_name().to_ascii_lowercase())
                    .or_default()
                    .insert(name.clone());
            }
        }
    }
    let mut ranked: Vec<(String, usize)> = dependents
        .into_iter()
        .filter(|(name, _)| names.binary_search(name).is_ok())
        .map(|(name, who)| (name, who.len()))
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(count);
    ranked
}
