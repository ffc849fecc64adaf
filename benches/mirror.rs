//! W7: mirrors.
//!
//! - create: `mirror create --closure` of the 20 most depended-upon crates
//!   of the 2019 crates.io index (the W3 list), index files only
//!   (`--index-only`: the corpus has no archives), from the corpus served
//!   sparse by nginx on loopback, with a cold cache each run — wall time,
//!   requests nginx served, packages and versions mirrored.
//! - verify: `mirror verify` of a mirror of every real `.crate` file in
//!   this machine's Cargo download cache (a few hundred archives of real
//!   sizes), against `sha256sum` over the same files — one process, and one
//!   per core (`xargs -P`) — and against the plain limit: reading and
//!   hashing the same files with sha2 on all cores (rayon), nothing else.
//!   Warm page cache. `verify` does more than hash (the index check,
//!   signatures, the walk for extra files); all of it is in its time.
//!
//! `cargo bench --bench mirror` (needs nginx, git, sha256sum, xargs).
//! `GGEN_BENCH_RUNS` (default 5; medians are reported),
//! `GGEN_CORPUS_WORKTREE` (a checkout of the corpus at 5343e085),
//! `GGEN_BENCH_COPIES` (default 1: each cached crate that many times, as
//! more packages, for a bigger mirror).

#[allow(dead_code)] // the bench uses nginx and its access log only
#[path = "../tests/support/servers.rs"]
mod servers;
mod support {
    #[allow(dead_code)] // shared with the index benches, which use all of it
    pub mod corpus;
}

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ggen_marketplace::archive::crate_file::read_crate_file;
use ggen_marketplace::home::GgenHome;
use ggen_marketplace::util::progress::NoProgress;
use ggen_marketplace::workflows::mirror::create::{CreateOptions, create};
use ggen_marketplace::workflows::mirror::selection::Selection;
use ggen_marketplace::workflows::mirror::upstream::Upstream;
use ggen_marketplace::workflows::mirror::verify::verify;
use ggen_marketplace::workflows::registry::NetOptions;
use rayon::prelude::*;
use servers::StaticServer;
use sha2::{Digest, Sha256};

const TOP_20: &str = "serde,serde_json,log,serde_derive,libc,clap,lazy_static,rand,failure,futures,regex,chrono,\
                      byteorder,hyper,syn,quote,url,reqwest,winapi,proc-macro2";

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("mirror: run with `cargo bench --bench mirror`");
        return;
    }
    let runs: usize = std::env::var("GGEN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    bench_create(runs);
    bench_verify(runs);
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn bench_create(runs: usize) {
    let (_guard, corpus) = support::corpus::full_2019_worktree();
    let nginx = StaticServer::start(&corpus);
    let url = format!("sparse+{}", nginx.url());
    let mut selection = Selection::default();
    selection.add_closure(TOP_20).unwrap();
    let options = CreateOptions {
        selection,
        index_only: true,
        ..CreateOptions::default()
    };
    let warn: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|w: &str| eprintln!("warning: {w}"));
    let mut walls = Vec::new();
    let mut requests = Vec::new();
    let mut summary = String::new();
    for run in 0..runs {
        let scratch = tempfile::tempdir().unwrap();
        let home = GgenHome::at(scratch.path().join("home"));
        let logged = nginx.access_log_lines().len();
        let started = Instant::now();
        let upstream = Upstream::open(&url, &home, NetOptions::default(), &NoProgress, &warn).unwrap();
        let report = create(&scratch.path().join("mirror"), &upstream, &options, &NoProgress).unwrap();
        walls.push(started.elapsed());
        // nginx logs a request just after answering it: let the log settle.
        std::thread::sleep(Duration::from_millis(200));
        requests.push(nginx.access_log_lines().len() - logged);
        if run == 0 {
            summary = format!(
                "{} packages, {} versions, {} missing dependencies",
                report.packages,
                report.versions,
                report.missing_dependencies.len()
            );
        }
    }
    requests.sort();
    println!(
        "W7 create --closure top-20 --index-only, sparse from nginx, cold cache: {summary}; \
         median wall {:.3} s (runs {:?} ms), requests {} (median)",
        median(walls.clone()).as_secs_f64(),
        walls.iter().map(|w| w.as_millis()).collect::<Vec<_>>(),
        requests[requests.len() / 2]
    );
}

/// An upstream of every `.crate` in Cargo's download cache, indexed
/// directly from each crate's Cargo.toml (with `index add` a crate whose
/// required dependencies are not all in the cache would be refused), each
/// `copies` times (the copies as packages `{name}-copy{k}`).
fn cache_upstream(dir: &Path, copies: usize) -> usize {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap()).join(".cargo"));
    let mut count = 0;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        r#"{"dl":"crates/{crate}/{crate}-{version}.crate","id":"io.example.cache"}"#,
    )
    .unwrap();
    let mut files: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for registry in std::fs::read_dir(cargo_home.join("registry/cache")).unwrap() {
        for entry in std::fs::read_dir(registry.unwrap().path()).unwrap() {
            let path = entry.unwrap().path();
            let Ok(summary) = read_crate_file(&path) else { continue };
            for copy in 0..copies {
                let mut entry = summary.entry.clone();
                if copy > 0 {
                    entry.name = format!("{}-copy{copy}", entry.name);
                }
                let dest = dir.join(format!("crates/{0}/{0}-{1}.crate", entry.name, entry.vers));
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::copy(&path, dest).unwrap();
                let file = files
                    .entry(ggen_marketplace::format::name::index_path(&entry.name))
                    .or_default();
                file.push_str(&entry.to_line());
                file.push('\n');
                count += 1;
            }
        }
    }
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    count
}

fn bench_verify(runs: usize) {
    let scratch = tempfile::tempdir().unwrap();
    let upstream_dir = scratch.path().join("upstream");
    let copies = std::env::var("GGEN_BENCH_COPIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let crates = cache_upstream(&upstream_dir, copies);
    let home = GgenHome::at(scratch.path().join("home"));
    let warn: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|_: &str| {});
    let upstream = Upstream::open(
        upstream_dir.to_str().unwrap(),
        &home,
        NetOptions::default(),
        &NoProgress,
        &warn,
    )
    .unwrap();
    let mirror = scratch.path().join("mirror");
    let options = CreateOptions {
        selection: Selection {
            all: true,
            ..Selection::default()
        },
        ..CreateOptions::default()
    };
    let report = create(&mirror, &upstream, &options, &NoProgress).unwrap();
    let archives: Vec<PathBuf> = walk(&mirror.join("crates"));
    let list = scratch.path().join("archives.txt");
    std::fs::write(
        &list,
        archives
            .iter()
            .map(|p| format!("{}\n", p.display()))
            .collect::<String>(),
    )
    .unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shell = |script: String| {
        move || {
            let status = Command::new("sh").arg("-c").arg(&script).status().unwrap();
            assert!(status.success(), "{script}");
        }
    };
    let single = shell(format!("xargs sha256sum < {} > /dev/null", list.display()));
    let parallel = shell(format!(
        "xargs -P {cores} -n {} sha256sum < {} > /dev/null",
        archives.len().div_ceil(cores),
        list.display()
    ));
    // Warm the page cache first.
    single();
    let (mut ours, mut one, mut all, mut plain) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = Instant::now();
        let hashed: usize = archives
            .par_iter()
            .map(|path| Sha256::digest(std::fs::read(path).unwrap())[0] as usize)
            .sum();
        plain.push(started.elapsed());
        std::hint::black_box(hashed);
        let started = Instant::now();
        let verified = verify(&mirror, &NoProgress).unwrap();
        ours.push(started.elapsed());
        assert!(verified.intact, "{:?}", verified.problems);
        let started = Instant::now();
        single();
        one.push(started.elapsed());
        let started = Instant::now();
        parallel();
        all.push(started.elapsed());
    }
    let mb = report.bytes as f64 / 1e6;
    let (ours, one, all, plain) = (median(ours), median(one), median(all), median(plain));
    println!(
        "W7 verify: {crates} archives from the Cargo cache ({copies} copies), {} files, {mb:.1} MB, {cores} cores; median of {runs}: \
         mirror verify {:.3} s ({:.0} MB/s), sha256sum one process {:.3} s ({:.0} MB/s), \
         sha256sum x{cores} {:.3} s ({:.0} MB/s), sha2 read+hash x{cores} {:.3} s ({:.0} MB/s): \
         {:.0}% of sha256sum on all cores, {:.0}% of sha2 on all cores",
        archives.len(),
        ours.as_secs_f64(),
        mb / ours.as_secs_f64(),
        one.as_secs_f64(),
        mb / one.as_secs_f64(),
        all.as_secs_f64(),
        mb / all.as_secs_f64(),
        plain.as_secs_f64(),
        mb / plain.as_secs_f64(),
        100.0 * all.as_secs_f64() / ours.as_secs_f64(),
        100.0 * plain.as_secs_f64() / ours.as_secs_f64()
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}
