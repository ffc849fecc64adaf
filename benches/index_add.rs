//! W5: batch indexing against plain hashing of the same bytes.
//!
//! Two workloads, each timed side by side with its limit — reading every
//! archive and hashing it with `sha2` on all cores (rayon), nothing else.
//! `index add` runs into an index whose `dl` points elsewhere (the goal's
//! case: archives are read, not moved) and into one whose relative `dl`
//! points inside it (each archive is copied in too, beside the time of the
//! copies alone):
//! (a) 10,000 small archives made from crates.io entries of the corpus
//!     (5343e085): real names, versions and dependencies, as a `ggen.toml`
//!     plus a README and a template file each. Goal: >= 10,000 archives/s.
//! (b) 200 archives of about 5 MB of incompressible bytes (about 1 GB).
//!     Goal: >= 70% of the hashing limit in MB/s.
//!
//! Names are lowercased to meet the publishing rules; entries whose name
//! still fails them, that repeat a confusable name or a version (build
//! metadata ignored) are left out. Dependencies are kept when their package
//! is in the sample and their requirement parses (one per name, the first),
//! so every archive is accepted; the rest are dropped.
//!
//! The archives are packed once, before timing, with the real packer; each
//! timed `index add` runs on a fresh index made by `index init` (untimed).
//! Everything is warm in the page cache. The median of N runs is printed
//! (`GGEN_BENCH_RUNS`, default 5; 3 for the large archives). The corpus
//! comes from `$GGEN_CORPUS_WORKTREE` or is unpacked into a temp dir.
//!
//!     cargo bench --bench index_add

mod support {
    pub mod corpus;
}

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ggen_marketplace::archive::pack;
use ggen_marketplace::format::name;
use ggen_marketplace::util::fs::copy_atomic;
use ggen_marketplace::util::progress::NoProgress;
use ggen_marketplace::workflows::{index_add, index_init};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

const SMALL_ARCHIVES: usize = 10_000;
const LARGE_ARCHIVES: usize = 200;
const LARGE_BYTES: usize = 5 * 1024 * 1024;

fn main() {
    let runs: usize = std::env::var("GGEN_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let scratch = tempfile::tempdir().unwrap();
    println!("W5 index add ({} cores, warm cache)", rayon::current_num_threads());

    let (_corpus, worktree) = support::corpus::full_2019_worktree();
    let small = sample_packages(&worktree, SMALL_ARCHIVES);
    let small_dir = scratch.path().join("small");
    pack_all(&small_dir, &small);
    compare(
        "(a) 10,000 small archives",
        &small_dir,
        scratch.path(),
        runs,
        Inputs::Kept,
        |archives, bytes, time| {
            format!(
                "{:>9.0} archives/s ({:.1} MB/s, {:.3} s)",
                archives as f64 / time.as_secs_f64(),
                bytes as f64 / 1e6 / time.as_secs_f64(),
                time.as_secs_f64()
            )
        },
        "goal >= 10,000 archives/s",
    );

    let large_dir = scratch.path().join("large");
    pack_all(&large_dir, &large_packages());
    std::fs::remove_dir_all(&small_dir).unwrap();
    compare(
        "(b) 200 archives of 5 MB",
        &large_dir,
        scratch.path(),
        runs.min(3),
        Inputs::Dropped,
        |_, bytes, time| {
            format!(
                "{:>9.1} MB/s ({:.3} s)",
                bytes as f64 / 1e6 / time.as_secs_f64(),
                time.as_secs_f64()
            )
        },
        "goal: index add >= 70% of hashing",
    );
}

/// Times `index add` of every archive in `archives` and the hashing limit,
/// and prints both with the ratio of their throughputs. `index add` is
/// timed twice: into an index whose `dl` points outside it (archives are
/// only read), and into one whose relative `dl` points inside it (each
/// archive is also copied in), with that copy's own floor beside it.
fn compare(
    label: &str,
    archives: &Path,
    scratch: &Path,
    runs: usize,
    inputs: Inputs,
    rate: impl Fn(usize, u64, Duration) -> String,
    goal: &str,
) {
    let files: Vec<PathBuf> = std::fs::read_dir(archives)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let bytes: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    let hashing = median(runs, inputs, || (), |_| hash_all(&files));
    let add = |dl: Option<&str>| {
        median(
            runs,
            inputs,
            || fresh_index(scratch, dl),
            |dir| {
                let index = dir.path().join("index");
                let report = index_add::add(&index, &[archives.to_owned()], None, &NoProgress).unwrap();
                assert_eq!(report.added.len(), files.len());
            },
        )
    };
    let adding_outside = add(Some("https://downloads.example.com/{crate}/{version}"));
    let adding_inside = add(None);
    let copying = median(
        runs,
        inputs,
        || tempfile::tempdir_in(scratch).unwrap(),
        |dir| copy_all(&files, dir.path()),
    );
    let row = |what: &str, time| println!("  {what:<43}{}", rate(files.len(), bytes, time));
    println!("{label}: {} archives, {:.1} MB", files.len(), bytes as f64 / 1e6);
    row("read + sha2 on all cores (limit):", hashing);
    row("index add, dl outside the index:", adding_outside);
    println!(
        "  ratio: {:.2} of the limit ({goal})",
        hashing.as_secs_f64() / adding_outside.as_secs_f64()
    );
    row("index add, relative dl (archives copied):", adding_inside);
    row("copying alone (copy_atomic, all cores):", copying);
}

/// An empty index made by `index init` in a temp dir, with `dl` replaced
/// when given.
fn fresh_index(scratch: &Path, dl: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir_in(scratch).unwrap();
    let index = dir.path().join("index");
    index_init::init(&index, None, None).unwrap();
    if let Some(dl) = dl {
        let config = index.join("config.json");
        let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        json["dl"] = dl.into();
        std::fs::write(&config, json.to_string()).unwrap();
    }
    dir
}

/// What placing the archives costs by itself: each copied, as `index add`
/// places it, into `dir`.
fn copy_all(files: &[PathBuf], dir: &Path) {
    files.par_iter().for_each(|file| {
        copy_atomic(file, &dir.join(file.file_name().unwrap())).unwrap();
    });
}

/// Median wall time of `work` over `runs` runs (after one warm-up), each
/// given a fresh input from the untimed `setup`. With [`Inputs::Kept`],
/// inputs are dropped only after the last run: deleting thousands of files
/// just before a timed run slows the filesystem's next allocations (ext4
/// skips recently freed inodes), which would be the bench's doing, not the
/// workload's. With [`Inputs::Dropped`], each is dropped after its run
/// (untimed): gigabytes of copies kept on tmpfs make the kernel reclaim
/// memory during later runs (the fourth 1 GB run took 2.0 s, the first 0.6 s).
fn median<T>(runs: usize, inputs: Inputs, mut setup: impl FnMut() -> T, mut work: impl FnMut(&T)) -> Duration {
    let mut kept = Vec::new();
    let mut times = Vec::new();
    for run in 0..=runs {
        let input = setup();
        let start = Instant::now();
        work(&input);
        if run > 0 {
            times.push(start.elapsed());
        }
        if inputs == Inputs::Kept {
            kept.push(input);
        }
    }
    drop(kept);
    times.sort();
    times[times.len() / 2]
}

/// What [`median`] does with each run's input.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Inputs {
    /// Kept until every run is done: many small files.
    Kept,
    /// Dropped after each run: few large files.
    Dropped,
}

fn hash_all(files: &[PathBuf]) {
    files.par_iter().for_each(|file| {
        let bytes = std::fs::read(file).unwrap();
        std::hint::black_box(Sha256::digest(&bytes));
    });
}

/// A package to pack: its manifest and its other files.
struct PackageSpec {
    manifest: String,
    files: Vec<(String, Vec<u8>)>,
}

/// Packs every package with the real packer into `out`, each thread
/// reusing one scratch directory (see [`median`] on deleting files).
fn pack_all(out: &Path, packages: &[PackageSpec]) {
    std::fs::create_dir_all(out).unwrap();
    let scratch = out.with_extension("src");
    packages.par_iter().enumerate().for_each_init(
        || {
            let dir = scratch.join(format!("{:?}", std::thread::current().id()).replace(['(', ')'], ""));
            std::fs::create_dir_all(&dir).unwrap();
            dir
        },
        |dir, (i, package)| {
            std::fs::write(dir.join("ggen.toml"), &package.manifest).unwrap();
            for (path, contents) in &package.files {
                std::fs::write(dir.join(path), contents).unwrap();
            }
            // Every package of a workload has the same file names: each
            // write overwrites the previous package's file.
            let packed = pack::pack(dir, &[]).unwrap();
            // Numbered names keep archives of the same name and version apart
            // (none are expected; the batch would refuse them).
            std::fs::write(out.join(format!("{i:05}-{}", packed.file_name())), &packed.bytes).unwrap();
        },
    );
}

/// `count` entries of the corpus as small packages (see the module docs).
fn sample_packages(worktree: &Path, count: usize) -> Vec<PackageSpec> {
    struct Sampled {
        name: String,
        version: String,
        deps: Vec<(String, String)>,
    }
    let mut sampled: Vec<Sampled> = Vec::new();
    let mut keys = HashSet::new();
    for file in support::corpus::package_files(worktree) {
        if sampled.len() >= count {
            break;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let mut seen_versions = HashSet::new();
        let mut package_name = None;
        for line in text.lines() {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            let name = entry["name"].as_str().unwrap().to_ascii_lowercase();
            if package_name.is_none() {
                if name::validate_for_publishing(&name).is_err() || !keys.insert(name::confusable_key(&name)) {
                    break;
                }
                package_name = Some(name.clone());
            }
            let Ok(version) = semver::Version::parse(entry["vers"].as_str().unwrap()) else {
                continue;
            };
            if !seen_versions.insert((version.major, version.minor, version.patch, version.pre.clone())) {
                continue;
            }
            let deps = entry["deps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|dep| {
                    let target = dep
                        .get("package")
                        .and_then(|p| p.as_str())
                        .unwrap_or(dep["name"].as_str().unwrap());
                    (target.to_ascii_lowercase(), dep["req"].as_str().unwrap().to_owned())
                })
                .collect();
            sampled.push(Sampled {
                name,
                version: version.to_string(),
                deps,
            });
            if sampled.len() >= count {
                break;
            }
        }
    }
    let names: HashSet<String> = sampled.iter().map(|s| s.name.clone()).collect();
    sampled
        .into_iter()
        .map(|s| {
            let mut deps = BTreeMap::new();
            for (target, req) in s.deps {
                if names.contains(&target) && semver::VersionReq::parse(&req).is_ok() {
                    deps.entry(target).or_insert(req);
                }
            }
            let mut manifest = format!(
                "[package]\nname = {}\nversion = {}\ndescription = \"Generated from the crates.io entry of {}\"\nlicense = \"MIT OR Apache-2.0\"\nkeywords = [\"bench\"]\n\n[dependencies]\n",
                toml_string(&s.name),
                toml_string(&s.version),
                s.name
            );
            for (dep, req) in &deps {
                manifest.push_str(&format!("{} = {}\n", toml_string(dep), toml_string(req)));
            }
            PackageSpec {
                manifest,
                files: vec![
                    ("README.md".into(), format!("# {}\n\nVersion {}.\n", s.name, s.version).into_bytes()),
                    ("main.rs.tmpl".into(), b"fn main() {\n    println!(\"{{ greeting }}\");\n}\n".to_vec()),
                ],
            }
        })
        .collect()
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Packages of one incompressible ~5 MB file each.
fn large_packages() -> Vec<PackageSpec> {
    (0..LARGE_ARCHIVES)
        .map(|i| PackageSpec {
            manifest: format!("[package]\nname = \"bulk-{i:03}\"\nversion = \"1.0.0\"\n"),
            files: vec![("data.bin".into(), noise(LARGE_BYTES, i as u64 + 1))],
        })
        .collect()
}

/// xorshift64 bytes: deflate cannot shrink them.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}
