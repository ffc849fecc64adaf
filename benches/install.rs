//! W6: installing 50 example-sized ggen packages from a local mirror.
//!
//! The bench generates 50 small but realistic packages (ggen.toml, README,
//! LICENSE and 10 template files of 2-6 KB each), three versions each, with
//! a dependency DAG among them; packs all 150 with `ggen-market package`,
//! indexes them in a fresh `ggen-market index init` registry (one
//! `index add` batch per version), signs every entry (`keygen
//! --unencrypted`, `sign --all-unsigned`, config.json `keys` +
//! `"signatures": "required"`) and keeps the archives where the index's
//! relative `dl` points. A project depends on all 50 (`^1`), so one install
//! resolves and places 50 packages (their newest versions).
//!
//! Timed in rounds, every case once per round so that a busy machine slows
//! them alike (median of GGEN_BENCH_RUNS rounds, default 5):
//! - `ggen-market --registry DIR install --json` as a process: into a fresh
//!   GGEN_HOME (cold archive cache); into a fresh GGEN_HOME holding only the
//!   archive cache of an earlier run (warm cache, fresh packages dir); and
//!   again in the installed project (nothing to do);
//! - the same cold and warm installs in-process
//!   (`workflows::install::install`);
//! - each phase alone, in-process on one thread, from outside the install
//!   pipeline (whose internals are private): resolve (`resolve::resolve`),
//!   plan (resolve + lockfile), reading the 50 archives, SHA-256 over them,
//!   signature checks (`trust::verify_entry` with the package's allowed
//!   keys), safe extraction (`archive::unpack::extract`), hashing the
//!   extracted files (the install record, `workflows::install::hash_files`)
//!   and writing 50 files with and without fsync (`util::fs`).
//!
//! Run: `cargo bench --bench install` (needs nothing but the built binary).
//! `GGEN_BENCH_RUNS` sets the rounds; `GGEN_BENCH_TMP` the directory the
//! scratch space (registry, homes, projects) goes in, default the system
//! temp dir: the file system decides much of the time, so the output names it
//! (e.g. `GGEN_BENCH_TMP=/dev/shm` for tmpfs).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use ggen_marketplace::archive::archive_file_name;
use ggen_marketplace::archive::unpack::{ExtractLimits, extract};
use ggen_marketplace::format::manifest::Manifest;
use ggen_marketplace::format::{IndexConfig, RegistryIdentity};
use ggen_marketplace::home::GgenHome;
use ggen_marketplace::resolve::{Request, ResolvedPackage, resolve};
use ggen_marketplace::sources::PackageSource;
use ggen_marketplace::sources::local::LocalSource;
use ggen_marketplace::sources::location::RegistryLocation;
use ggen_marketplace::trust::{AllowedKeys, OwnerKeys, owner_keys_path, verify_entry};
use ggen_marketplace::util::fs::{write_atomic, write_atomic_unsynced};
use ggen_marketplace::util::progress::NoProgress;
use ggen_marketplace::workflows::install::{InstallOptions, Unpin, hash_files, install, plan};
use ggen_marketplace::workflows::project::Project;
use ggen_marketplace::workflows::registry::ChosenRegistry;

const MARKET: &str = env!("CARGO_BIN_EXE_ggen-market");
const STACKS: [&str; 5] = ["rust", "ts", "python", "go", "java"];
const PARTS: [&str; 10] = [
    "base", "cli", "web", "orm", "auth", "config", "logging", "testing", "docker", "ci",
];
const VERSIONS: [&str; 3] = ["1.0.0", "1.1.0", "1.2.0"];
const TEMPLATES_PER_PACKAGE: usize = 10;

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not and
    // only checks that the harness builds.
    if !std::env::args().any(|a| a == "--bench") {
        println!("install: run with `cargo bench --bench install`");
        return;
    }
    let runs = std::env::var("GGEN_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    let scratch = match std::env::var_os("GGEN_BENCH_TMP") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("a temp dir");
    let registry = build_registry(scratch.path());
    let template = scratch.path().join("project-template");
    write_project(&template, &registry.names);

    let workload = Workload::measure(&registry);
    println!(
        "W6 install: {} packages ({} archives of {} files, {:.0} KB unpacked, {:.1} KB packed each on average; \
         {} dependency edges; every entry signed), local mirror on {}, {} cores; median of {runs} runs",
        registry.names.len(),
        workload.archives,
        workload.files_per_package,
        workload.unpacked_kb,
        workload.packed_kb,
        registry.edges,
        filesystem_of(scratch.path()),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    println!(
        "setup (not part of the figures): {} x `ggen-market package` {:.2} s, {} x `index add` of {} archives {:.2} s, \
         `sign --all-unsigned` {:.2} s",
        workload.archives,
        registry.pack_time.as_secs_f64(),
        VERSIONS.len(),
        registry.names.len(),
        registry.index_time.as_secs_f64(),
        registry.sign_time.as_secs_f64()
    );

    // Archive caches to start the warm runs from.
    let seed_home = scratch.path().join("seed-home");
    install_process(
        &seed_home,
        &fresh_project(&template, &scratch.path().join("seed-project")),
        &registry.dir,
        50,
    );
    let bench = Bench {
        scratch: scratch.path(),
        registry: &registry.dir,
        template: &template,
        seed_archives: seed_home.join("archives"),
    };
    // Every case once per round, so that a busy machine slows them alike.
    let mut whole: Cases = Vec::new();
    let mut phases: Cases = Vec::new();
    for round in 0..runs {
        collect(&mut whole, bench.whole_installs(round));
        collect(&mut phases, bench.phases(round));
    }

    println!("\nwhole install, 50 packages placed (wall ms; CPU ms of the process, 10 ms ticks)");
    println!("{:<50} {:>9} {:>15} {:>8}", "case", "wall ms", "range", "cpu ms");
    for (name, samples) in &whole {
        print_row(name, samples, name.starts_with("process"));
    }
    println!("\nphases alone, in-process, one thread, over the 50 packages of the resolution");
    println!("{:<50} {:>9} {:>15}", "phase", "wall ms", "range");
    for (name, samples) in &phases {
        print_row(name, samples, false);
    }
}

/// Appends one round's samples to each case.
fn collect(cases: &mut Cases, round: Vec<(&'static str, Sample)>) {
    for (name, sample) in round {
        match cases.iter_mut().find(|(n, _)| *n == name) {
            Some((_, samples)) => samples.push(sample),
            None => cases.push((name, vec![sample])),
        }
    }
}

/// The file system type of the mount holding `path`, from /proc/mounts.
fn filesystem_of(path: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            Some((*fields.get(1)?, *fields.get(2)?))
        })
        .filter(|(mount, _)| path.starts_with(mount))
        .max_by_key(|(mount, _)| mount.len())
        .map_or_else(
            || "an unknown file system".into(),
            |(mount, kind)| format!("{kind} ({mount})"),
        )
}

/// One measured run: wall time, and CPU time where it was measured.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

fn print_row(name: &str, samples: &[Sample], with_cpu: bool) {
    let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    walls.sort();
    let mut cpus: Vec<Duration> = samples.iter().map(|s| s.cpu).collect();
    cpus.sort();
    let range = format!("{:.1}-{:.1}", ms(walls[0]), ms(walls[walls.len() - 1]));
    let cpu = if with_cpu {
        format!("{:.0}", ms(cpus[cpus.len() / 2]))
    } else {
        String::new()
    };
    println!(
        "{:<50} {:>9.1} {:>15} {:>8}",
        name,
        ms(walls[walls.len() / 2]),
        range,
        cpu
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

// ---------------------------------------------------------------------------
// The whole install, as a process and in-process.

type Cases = Vec<(&'static str, Vec<Sample>)>;

/// What every round works from.
struct Bench<'a> {
    scratch: &'a Path,
    registry: &'a Path,
    template: &'a Path,
    /// The archive cache of an earlier install, copied into warm homes.
    seed_archives: PathBuf,
}

impl Bench<'_> {
    /// `ggen-market install` as a process (cold, warm archive cache, again
    /// with nothing to do) and `workflows::install::install` in-process
    /// (cold, warm), each into fresh directories.
    fn whole_installs(&self, round: usize) -> Vec<(&'static str, Sample)> {
        let mut samples = Vec::new();
        let (home, project) = self.fresh(&format!("process-cold-{round}"), false);
        samples.push((
            "process: cold (fresh GGEN_HOME)",
            install_process(&home, &project, self.registry, 50),
        ));
        let (home, project) = self.fresh(&format!("process-warm-{round}"), true);
        samples.push((
            "process: warm archive cache, fresh packages dir",
            install_process(&home, &project, self.registry, 50),
        ));
        samples.push((
            "process: again, nothing to do",
            install_process(&home, &project, self.registry, 0),
        ));
        let (home, project) = self.fresh(&format!("library-cold-{round}"), false);
        samples.push((
            "in-process: cold (fresh GGEN_HOME)",
            install_in_process(&home, &project, self.registry),
        ));
        let (home, project) = self.fresh(&format!("library-warm-{round}"), true);
        samples.push((
            "in-process: warm archive cache, fresh packages dir",
            install_in_process(&home, &project, self.registry),
        ));
        samples
    }

    /// A GGEN_HOME (holding a copy of the seed archive cache if `warm`) and
    /// a project without a lockfile, under `scratch/name`.
    fn fresh(&self, name: &str, warm: bool) -> (PathBuf, PathBuf) {
        let home = self.scratch.join(name).join("home");
        if warm {
            copy_dir(&self.seed_archives, &home.join("archives"));
        }
        let project = fresh_project(self.template, &self.scratch.join(name).join("project"));
        (home, project)
    }

    /// Each phase of an install alone, in-process, on one thread.
    fn phases(&self, round: usize) -> Vec<(&'static str, Sample)> {
        let manifest = Manifest::read(&self.template.join("ggen.toml")).expect("the project manifest");
        let request = Request::new(manifest.dependencies.iter().map(|(n, r)| (n.as_str(), r.as_str())));
        let mut timed = Vec::new();

        let start = Instant::now();
        let source = LocalSource::open(self.registry).expect("the registry opens");
        let resolution = resolve(&source, &request).expect("the project resolves");
        timed.push(("resolve (open the index, resolve::resolve)", start.elapsed()));
        assert_eq!(resolution.packages.len(), 50);

        let start = Instant::now();
        plan(&manifest, None, &source, &registry_id(self.registry), &Unpin::Nothing).expect("a plan");
        timed.push(("plan (resolve + lockfile)", start.elapsed()));

        let config = source.config().expect("config.json");
        let paths = archive_paths(&source, &config, &resolution.packages);
        let start = Instant::now();
        let archives: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).expect("an archive")).collect();
        timed.push(("read 50 archives (the local \"download\")", start.elapsed()));

        let start = Instant::now();
        for (archive, package) in archives.iter().zip(&resolution.packages) {
            assert_eq!(sha256_hex(archive), package.entry.entry.cksum);
        }
        timed.push(("SHA-256 of 50 archives (twice per install)", start.elapsed()));

        let start = Instant::now();
        for package in &resolution.packages {
            verify_signature(&source, &config, package);
        }
        timed.push(("verify 50 signatures (+ owner-keys lookups)", start.elapsed()));

        let dest = self.scratch.join(format!("phases-{round}/packages"));
        let start = Instant::now();
        let dirs: Vec<PathBuf> = archives
            .iter()
            .zip(&resolution.packages)
            .map(|(archive, package)| {
                let dir = dest.join(format!("{}-{}", package.id.name, package.id.version));
                extract(
                    archive.as_slice(),
                    (&package.id.name, &package.id.version),
                    &dir,
                    &ExtractLimits::default(),
                )
                .expect("a safe archive");
                dir
            })
            .collect();
        timed.push(("extract 50 archives (archive::unpack::extract)", start.elapsed()));

        let start = Instant::now();
        for dir in &dirs {
            assert!(!hash_files(dir).expect("readable files").is_empty());
        }
        timed.push(("hash the extracted files (install records)", start.elapsed()));

        let cache = self.scratch.join(format!("phases-{round}/archives"));
        std::fs::create_dir_all(&cache).expect("a cache dir");
        let start = Instant::now();
        for (archive, package) in archives.iter().zip(&resolution.packages) {
            let path = cache.join(format!("{}.tar.gz", package.entry.entry.cksum));
            write_atomic_unsynced(&path, archive).expect("written");
        }
        timed.push(("write 50 archives, no fsync (write_atomic_unsynced)", start.elapsed()));

        let start = Instant::now();
        for (archive, package) in archives.iter().zip(&resolution.packages) {
            let path = cache.join(format!("{}.synced.tar.gz", package.entry.entry.cksum));
            write_atomic(&path, archive).expect("written");
        }
        timed.push(("write 50 archives + fsync (write_atomic)", start.elapsed()));

        timed
            .into_iter()
            .map(|(name, wall)| {
                (
                    name,
                    Sample {
                        wall,
                        cpu: Duration::ZERO,
                    },
                )
            })
            .collect()
    }
}

/// Runs one install and checks that it placed `expect_new` packages of 50.
fn install_process(home: &Path, project: &Path, registry: &Path, expect_new: usize) -> Sample {
    let cpu_before = children_cpu();
    let start = Instant::now();
    let output = Command::new(MARKET)
        .arg("--registry")
        .arg(registry)
        .args(["install", "--json", "--project"])
        .arg(project)
        .env("GGEN_HOME", home)
        .output()
        .expect("ggen-market runs");
    let wall = start.elapsed();
    let cpu = children_cpu() - cpu_before;
    assert!(
        output.status.success(),
        "install failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("install --json prints JSON");
    let packages = report["packages"].as_array().expect("a package list");
    let new = packages.iter().filter(|p| p["newly_installed"] == true).count();
    assert_eq!((packages.len(), new), (50, expect_new), "unexpected install: {report}");
    Sample { wall, cpu }
}

fn install_in_process(home: &Path, project: &Path, registry: &Path) -> Sample {
    let start = Instant::now();
    let source = LocalSource::open(registry).expect("the registry opens");
    let report = install(
        &Project::at(project),
        None,
        &source,
        &registry_id(registry),
        &GgenHome::at(home),
        &InstallOptions::default(),
        &NoProgress,
    )
    .expect("the install succeeds");
    let wall = start.elapsed();
    assert_eq!(report.packages.iter().filter(|p| p.newly_installed).count(), 50);
    Sample {
        wall,
        cpu: Duration::ZERO,
    }
}

/// The lockfile source id the CLI gives a plain directory.
/// The registry's identity, as the CLI derives it from its location and
/// config.json.
fn registry_id(registry: &Path) -> RegistryIdentity {
    let location = RegistryLocation::parse(registry.to_str().expect("a UTF-8 path")).expect("a registry path");
    let source = LocalSource::open(registry).expect("an index");
    let chosen = ChosenRegistry {
        name: None,
        location,
        stands_for: Vec::new(),
        mirrors: Vec::new(),
    };
    chosen.identity(&source.config().expect("a config.json"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the index's relative `dl` puts each chosen archive.
fn archive_paths(source: &LocalSource, config: &IndexConfig, packages: &[ResolvedPackage]) -> Vec<PathBuf> {
    let base = source.download_base();
    packages
        .iter()
        .map(|p| {
            let e = &p.entry.entry;
            let url = config.download_url(&base, &e.name, &e.vers, &e.cksum);
            PathBuf::from(url.strip_prefix("file://").unwrap_or(&url))
        })
        .collect()
}

/// What the install's signature check does per package, pins aside.
fn verify_signature(source: &LocalSource, config: &IndexConfig, package: &ResolvedPackage) {
    let owners_path = owner_keys_path(&package.id.name);
    let owners_text = source
        .read_index_file(&owners_path)
        .expect("the index reads")
        .unwrap_or_default();
    let owners = OwnerKeys::parse(&owners_path, &owners_text).expect("owner keys");
    let allowed = AllowedKeys::new(&package.id.name, config, owners).expect("allowed keys");
    let verified = verify_entry(&package.entry.line, &package.entry.entry, &allowed).expect("a valid signature");
    assert!(verified.key_id.is_some(), "every entry is signed");
}

// ---------------------------------------------------------------------------
// The registry: 50 generated packages, 3 versions each, packed, indexed, signed.

struct Registry {
    dir: PathBuf,
    names: Vec<String>,
    edges: usize,
    pack_time: Duration,
    index_time: Duration,
    sign_time: Duration,
}

fn build_registry(scratch: &Path) -> Registry {
    let tools_home = scratch.join("tools-home");
    let sources = scratch.join("sources");
    let archives = scratch.join("archives");
    let dir = scratch.join("registry");
    let names: Vec<String> = STACKS
        .iter()
        .flat_map(|stack| PARTS.iter().map(move |part| format!("io.ggen.{stack}.{part}")))
        .collect();
    let mut rng = Rng(0x5eed_1e55_c0de_cafe);
    let deps: Vec<Vec<usize>> = (0..names.len()).map(|i| pick_dependencies(&mut rng, i)).collect();
    let edges = deps.iter().map(Vec::len).sum();

    market(
        &tools_home,
        &["index", "init"],
        &[&dir],
        &["--name", "W6 bench registry"],
    );
    // One release round per version: pack every package, then index the
    // round in one `index add` batch.
    let (mut pack_time, mut index_time) = (Duration::ZERO, Duration::ZERO);
    for (version_index, version) in VERSIONS.iter().enumerate() {
        let round = archives.join(version);
        for (i, name) in names.iter().enumerate() {
            let package_dir = sources.join(format!("{name}-{version}"));
            let requirements: Vec<(&str, String)> = deps[i]
                .iter()
                .map(|&d| (names[d].as_str(), format!("^1.{version_index}")))
                .collect();
            write_package(&package_dir, name, version, &requirements, &mut rng);
            let start = Instant::now();
            market(
                &tools_home,
                &["package"],
                &[&package_dir, Path::new("--out"), &round],
                &[],
            );
            pack_time += start.elapsed();
        }
        let start = Instant::now();
        market(&tools_home, &["index", "add"], &[&dir, &round], &[]);
        index_time += start.elapsed();
        for name in &names {
            place_archive(&dir, &round, name, version);
        }
    }

    let sign_start = Instant::now();
    let keys = scratch.join("keys");
    market(
        &tools_home,
        &["keygen", "--unencrypted", "--name", "bench", "--out-dir"],
        &[&keys],
        &[],
    );
    market(
        &tools_home,
        &["sign", "--all-unsigned", "--key"],
        &[&keys.join("bench.key"), &dir],
        &[],
    );
    let sign_time = sign_start.elapsed();
    require_signatures(&dir, &keys.join("bench.pub"));
    Registry {
        dir,
        names,
        edges,
        pack_time,
        index_time,
        sign_time,
    }
}

/// Up to three dependencies among the packages before `i` (so the graph
/// is a DAG), distinct.
fn pick_dependencies(rng: &mut Rng, i: usize) -> Vec<usize> {
    let wanted = rng.below(4).min(i);
    let mut chosen = Vec::new();
    while chosen.len() < wanted {
        let d = rng.below(i);
        if !chosen.contains(&d) {
            chosen.push(d);
        }
    }
    chosen.sort();
    chosen
}

/// Runs `ggen-market ARGS PATHS TAIL` with its own GGEN_HOME and checks it succeeded.
fn market(home: &Path, args: &[&str], paths: &[&Path], tail: &[&str]) {
    let output = Command::new(MARKET)
        .args(args)
        .args(paths)
        .args(tail)
        .env("GGEN_HOME", home)
        .env("GGEN_KEY_PASSWORD", "")
        .output()
        .expect("ggen-market runs");
    assert!(
        output.status.success(),
        "ggen-market {args:?} {paths:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Copies an archive to where config.json's relative `dl` points.
fn place_archive(index: &Path, archives: &Path, name: &str, version: &str) {
    let file = archive_file_name(name, &version.parse().expect("semver"));
    let dl = index.join(format!("archives/{name}"));
    std::fs::create_dir_all(&dl).expect("archive dir");
    std::fs::copy(archives.join(&file), dl.join(&file)).expect("archive copied");
}

fn require_signatures(index: &Path, public_key: &Path) {
    let path = index.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("config.json")).expect("JSON");
    let key_file = std::fs::read_to_string(public_key).expect("the public key");
    let key = key_file
        .lines()
        .nth(1)
        .expect("minisign public key: comment, key")
        .trim();
    config["keys"] = serde_json::json!([key]);
    config["signatures"] = serde_json::json!("required");
    std::fs::write(&path, serde_json::to_string_pretty(&config).expect("JSON")).expect("config.json written");
}

/// A project depending on every package.
fn write_project(dir: &Path, names: &[String]) {
    std::fs::create_dir_all(dir).expect("project dir");
    let mut manifest = String::from("[dependencies]\n");
    for name in names {
        manifest.push_str(&format!("\"{name}\" = \"^1\"\n"));
    }
    std::fs::write(dir.join("ggen.toml"), manifest).expect("ggen.toml written");
}

fn fresh_project(template: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("project dir");
    std::fs::copy(template.join("ggen.toml"), dir.join("ggen.toml")).expect("ggen.toml copied");
    dir.to_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("readable dir") {
        let entry = entry.expect("dir entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copied");
    }
}

// ---------------------------------------------------------------------------
// Package contents.

fn description(name: &str) -> String {
    let mut parts = name.split('.').skip(2);
    let stack = parts.next().unwrap_or_default();
    let part = parts.next().unwrap_or_default();
    format!("{part} templates for {stack} projects: layout, code and configuration generated from one model")
}

fn write_package(dir: &Path, name: &str, version: &str, requirements: &[(&str, String)], rng: &mut Rng) {
    let stack = name.split('.').nth(2).unwrap_or("rust");
    let mut manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"{}\"\nlicense = \"MIT\"\n\
         keywords = [\"{stack}\", \"templates\"]\ncategories = [\"scaffolding\"]\n\
         repository = \"https://example.org/ggen/{name}\"\nreadme = \"README.md\"\n\n[dependencies]\n",
        description(name)
    );
    for (dep, req) in requirements {
        manifest.push_str(&format!("\"{dep}\" = \"{req}\"\n"));
    }
    write(&dir.join("ggen.toml"), &manifest);
    write(&dir.join("README.md"), &readme(name, version, requirements));
    write(&dir.join("LICENSE"), MIT_LICENSE);
    for t in 0..TEMPLATES_PER_PACKAGE {
        let (folder, extension) = TEMPLATE_KINDS[t % TEMPLATE_KINDS.len()];
        let size = 2048 + rng.below(4096);
        let path = dir.join(format!(
            "templates/{folder}/{}_{t}.{extension}.tera",
            WORDS[rng.below(WORDS.len())]
        ));
        write(&path, &template_text(name, version, size, rng));
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("dir");
    std::fs::write(path, text).expect("file written");
}

fn readme(name: &str, version: &str, requirements: &[(&str, String)]) -> String {
    let mut text = format!(
        "# {name}\n\n{}.\n\nVersion {version}.\n\n## Usage\n\n```sh\nggen-market add {name}@^{version}\n\
         ggen generate {name} --model model.ttl --out .\n```\n\n## Variables\n\n\
         | variable | meaning |\n|---|---|\n| `project_name` | the generated project's name |\n\
         | `entities` | the model's entities, each with `fields` |\n| `features` | optional parts to generate |\n\n",
        description(name)
    );
    if !requirements.is_empty() {
        text.push_str("## Builds on\n\n");
        for (dep, req) in requirements {
            text.push_str(&format!("- `{dep}` {req}\n"));
        }
    }
    text
}

const TEMPLATE_KINDS: [(&str, &str); 5] = [
    ("src", "rs"),
    ("src", "ts"),
    ("config", "toml"),
    ("docs", "md"),
    ("ci", "yml"),
];

const WORDS: [&str; 32] = [
    "entity",
    "field",
    "handler",
    "route",
    "model",
    "schema",
    "service",
    "client",
    "server",
    "config",
    "request",
    "response",
    "error",
    "user",
    "order",
    "item",
    "account",
    "session",
    "token",
    "event",
    "query",
    "filter",
    "page",
    "limit",
    "cursor",
    "status",
    "created_at",
    "updated_at",
    "owner",
    "tenant",
    "metric",
    "trace",
];

const LINE_SHAPES: [&str; 10] = [
    "pub struct {{ A | pascal }}{{ B | pascal }} {",
    "    pub {{ A }}_{{ B }}: {{ C | type_of }},",
    "{% for {{ A }} in {{ B }}s %}",
    "{% endfor %}",
    "    fn {{ A }}_{{ B }}(&self) -> Result<{{ C | pascal }}, Error> {",
    "        self.{{ A }}.get(\"{{ B }}\").cloned().ok_or(Error::Missing(\"{{ C }}\"))",
    "    }",
    "}",
    "{% if features.{{ A }} %}// {{ B }} support for {{ C }}{% endif %}",
    "",
];

/// A template of about `size` bytes: lines of Tera-like code over a small
/// vocabulary, so it compresses like real templates do.
fn template_text(name: &str, version: &str, size: usize, rng: &mut Rng) -> String {
    let mut text = format!("{{# {name} {version}: generated by the W6 bench #}}\n");
    while text.len() < size {
        let shape = LINE_SHAPES[rng.below(LINE_SHAPES.len())];
        let line = shape
            .replace('A', WORDS[rng.below(WORDS.len())])
            .replace('B', WORDS[rng.below(WORDS.len())])
            .replace('C', WORDS[rng.below(WORDS.len())]);
        text.push_str(&line);
        text.push('\n');
    }
    text
}

const MIT_LICENSE: &str = "MIT License\n\nCopyright (c) 2025 The ggen authors\n\n\
Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated \
documentation files (the \"Software\"), to deal in the Software without restriction, including without limitation \
the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to \
permit persons to whom the Software is furnished to do so, subject to the following conditions:\n\n\
The above copyright notice and this permission notice shall be included in all copies or substantial portions of \
the Software.\n\n\
THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO \
THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE \
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, \
TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE \
SOFTWARE.\n";

/// What one install moves, measured on the archives of the newest versions.
struct Workload {
    archives: usize,
    files_per_package: usize,
    unpacked_kb: f64,
    packed_kb: f64,
}

impl Workload {
    fn measure(registry: &Registry) -> Workload {
        let newest = VERSIONS[VERSIONS.len() - 1];
        let (mut packed, mut unpacked, mut files) = (0u64, 0u64, 0usize);
        for name in &registry.names {
            let archive = registry.dir.join(format!("archives/{name}/{name}-{newest}.tar.gz"));
            packed += std::fs::metadata(&archive).expect("an archive").len();
            let sources = registry
                .dir
                .parent()
                .expect("scratch")
                .join(format!("sources/{name}-{newest}"));
            let mut pending = vec![sources];
            files = 0;
            while let Some(dir) = pending.pop() {
                for entry in std::fs::read_dir(&dir).expect("readable").flatten() {
                    let meta = entry.metadata().expect("stat");
                    if meta.is_dir() {
                        pending.push(entry.path());
                    } else {
                        files += 1;
                        unpacked += meta.len();
                    }
                }
            }
        }
        let n = registry.names.len() as f64;
        Workload {
            archives: registry.names.len() * VERSIONS.len(),
            files_per_package: files,
            unpacked_kb: unpacked as f64 / 1024.0 / n,
            packed_kb: packed as f64 / 1024.0 / n,
        }
    }
}

/// User + system time of this process's finished children, from
/// /proc/self/stat (fields 16-17, clock ticks of 10 ms).
fn children_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields
        .get(13..15)
        .map_or(0, |f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum());
    Duration::from_millis(ticks * 10)
}

/// xorshift64*: a fixed seed gives the same packages every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}
