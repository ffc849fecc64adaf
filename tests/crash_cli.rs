//! Crash consistency: the real binary is SIGKILLed at many points of
//! `install`, `sync` (git and sparse), `index add`, `mirror create`,
//! `mirror update`, `mirror export`, `mirror import` and `publish --push`. After each kill
//! the state is the old one or the new one, the command's own check passes
//! (`verify`, `index check`, `mirror verify`), and a rerun completes with
//! the new state and leaves no temp files behind. Then two processes share
//! one `GGEN_HOME` (install + install, install + sync) and both finish.
//!
//! Kill times come from a seeded PRNG, spread over the command's run time,
//! which each sweep measures once by running it to completion: a third of
//! the kills land in its first tenth (start-up, the lock, the first
//! writes), the rest anywhere up to just past its end. No timing is
//! asserted; the delays only choose where the kills land. The whole process
//! group is killed, as a power cut or the OOM killer of a job would, so a
//! child (`git push`) cannot finish the work after its parent died.
//! `CRASH_SEED=N` replays the delays of a failing run (the seed is in every
//! failure message).

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::fixture::{Package, Registry, assert_ok, check_package_dirs, command, market, sha256_hex, snapshot};
use support::servers::{GitDaemon, StaticServer, git, init_bare_from_worktree, init_worktree};

// ---------------------------------------------------------------------------
// The sweep: run once, then kill at many points
// ---------------------------------------------------------------------------

/// splitmix64: a few lines, good enough to spread kill times.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `CRASH_SEED`, or a fixed seed per sweep so a run is repeatable.
fn seed(label: &str) -> u64 {
    std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            label.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
            })
        })
}

/// Kill delays over a run that takes `full`: a third in its first tenth,
/// the rest up to 1.1 × `full` (those may find the run already done).
fn delays(rng: &mut Rng, full: Duration, kills: usize) -> Vec<Duration> {
    (0..kills)
        .map(|i| {
            let share = if i % 3 == 0 { 0.1 } else { 1.1 };
            full.mul_f64(share * rng.unit())
        })
        .collect()
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
const SIGKILL: i32 = 9;

/// Runs `cmd` in its own process group and SIGKILLs the group after
/// `delay`, unless it ended first. Returns whether it was killed, and the
/// output of a run that ended.
fn run_killed_after(mut cmd: Command, delay: Duration) -> Option<Output> {
    let mut child = cmd
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + delay;
    loop {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(2)));
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    unsafe {
        kill(-(child.id() as i32), SIGKILL);
    }
    let out = child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    match out.status.signal() {
        Some(SIGKILL) => None,
        _ => Some(out),
    }
}

/// What a kill left, as the sweep's check saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Left {
    /// Killed, and the state is the old one.
    Old,
    /// Killed after the new state was complete.
    New,
    /// Killed half-way through a commit that is not one rename: a
    /// consistent part of the new state, which the check accepts only
    /// where the command documents it (and a rerun completes it).
    Partial,
    /// The run ended before the kill.
    Finished,
}

/// Old, new, or (asserting every file is a whole old or new copy) partial.
fn whole_files<V: PartialEq + std::fmt::Debug>(
    ctx: &str,
    now: &BTreeMap<String, V>,
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
) -> Left {
    if now == old {
        return Left::Old;
    }
    if now == new {
        return Left::New;
    }
    for (path, what) in now {
        assert!(
            old.get(path) == Some(what) || new.get(path) == Some(what),
            "{ctx}: {path} is neither the old nor the new copy"
        );
    }
    Left::Partial
}

/// Where a kill landed, for failure messages.
struct Kill {
    label: String,
}

impl Kill {
    fn context(&self) -> &str {
        &self.label
    }
}

/// Runs the command once to completion to measure it (`reset` first, then
/// `after_full` on the result), then `kills` times: `reset`, run, SIGKILL
/// after a drawn delay, and `check` (which classifies what was left, runs
/// the checks, reruns and checks the new state).
fn sweep<T>(
    label: &str,
    kills: usize,
    mut reset: impl FnMut(),
    mut run: impl FnMut() -> Command,
    after_full: impl FnOnce() -> T,
    mut check: impl FnMut(&Kill, &T, Option<&Output>) -> Left,
) {
    let seed = seed(label);
    let mut rng = Rng(seed);
    reset();
    let started = Instant::now();
    let out = run().output().unwrap();
    let full = started.elapsed();
    assert_ok(&out);
    let new_state = after_full();
    let started = Instant::now();
    let mut tally: BTreeMap<Left, usize> = BTreeMap::new();
    for (i, delay) in delays(&mut rng, full, kills).into_iter().enumerate() {
        reset();
        let ended = run_killed_after(run(), delay);
        let kill = Kill {
            label: format!(
                "{label}: kill {} of {kills} after {delay:?} of a {full:?} run (CRASH_SEED={seed} replays the delays)",
                i + 1
            ),
        };
        if let Some(out) = &ended {
            assert!(
                out.status.success(),
                "{}: the run ended on its own but failed: {out:?}",
                kill.context()
            );
        }
        let left = check(&kill, &new_state, ended.as_ref());
        let left = if ended.is_some() { Left::Finished } else { left };
        *tally.entry(left).or_default() += 1;
    }
    eprintln!(
        "{label}: full run {full:?}; {kills} kills in 0..{:?}: {tally:?}; sweep took {:?}",
        full.mul_f64(1.1),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Bytes that do not compress: packages with them make archives big enough
/// that the commands take a while.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng(seed);
    (0..len.div_ceil(8))
        .flat_map(|_| rng.next().to_le_bytes())
        .take(len)
        .collect()
}

/// `cp -a from to`, replacing `to`.
fn copy_dir(from: &Path, to: &Path) {
    if to.exists() {
        fs::remove_dir_all(to).unwrap();
    }
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success(), "cp -a {} {}", from.display(), to.display());
}

/// Names of entries under `dir` (recursively) whose file name starts with
/// one of `prefixes`: the temp files and staging directories of a run.
fn litter(dir: &Path, prefixes: &[&str]) -> Vec<String> {
    snapshot(dir, &[])
        .into_keys()
        .filter(|path| {
            let name = path.rsplit('/').next().unwrap();
            prefixes.iter().any(|p| name.starts_with(p))
        })
        .collect()
}

/// The prefix of the temp files of atomic writes.
const TEMP: &str = ggen_marketplace::util::fs::TEMP_PREFIX;

/// A snapshot without the temp files a kill may leave (the next run
/// removes them; each sweep checks that after its rerun).
fn without_temps(mut tree: BTreeMap<String, String>) -> BTreeMap<String, String> {
    tree.retain(|path, _| !path.rsplit('/').next().unwrap().starts_with(TEMP));
    tree
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `count` packages `io.crash.pNN` 1.0.0 with `size` bytes of noise each,
/// published to `registry` and signed.
fn publish_noisy(registry: &mut Registry, prefix: &str, count: usize, size: usize) -> Vec<Package> {
    let packages: Vec<Package> = (0..count)
        .map(|i| Package::new(&format!("{prefix}{i:02}"), "1.0.0").file("data/noise.bin", noise(i as u64, size)))
        .collect();
    for package in &packages {
        registry.publish(package);
    }
    registry.sign_all(&registry.key.clone());
    packages
}

fn manifest_of(names: &[String]) -> String {
    let mut text = "[dependencies]\n".to_owned();
    for name in names {
        text.push_str(&format!("\"{name}\" = \"^1\"\n"));
    }
    text
}

// ---------------------------------------------------------------------------
// install
// ---------------------------------------------------------------------------

#[test]
fn sigkill_during_install_leaves_the_old_or_the_new_install() {
    let mut registry = Registry::new();
    let packages = publish_noisy(&mut registry, "io.crash.p", 24, 96 * 1024);
    let names: Vec<String> = packages.iter().map(|p| p.name.clone()).collect();
    let home = registry.home("h");
    let project = registry.project("p");
    let index = s(&registry.index).to_owned();
    let install = |home: &Path, project: &Path| -> Command {
        command(home, &["--registry", &index, "install", "--project", s(project)])
    };

    // Before: six packages installed. After: all 24.
    fs::write(project.join("ggen.toml"), manifest_of(&names[..6])).unwrap();
    assert_ok(&install(&home, &project).output().unwrap());
    fs::write(project.join("ggen.toml"), manifest_of(&names)).unwrap();
    let pristine = registry.root.join("pristine");
    copy_dir(&home, &pristine.join("home"));
    copy_dir(&project, &pristine.join("project"));
    let old_project = snapshot(&project, &[]);
    let old_lock = fs::read_to_string(project.join("ggen.lock")).unwrap();
    let verify = |home: &Path| market(home, &["verify", "--project", s(&project)]);

    sweep(
        "install",
        12,
        || {
            copy_dir(&pristine.join("home"), &home);
            copy_dir(&pristine.join("project"), &project);
        },
        || install(&home, &project),
        || snapshot(&project, &[]),
        |kill, new_project, _| {
            let ctx = kill.context();
            let now = without_temps(snapshot(&project, &[]));
            let left = if now == old_project {
                Left::Old
            } else if now == *new_project {
                Left::New
            } else {
                panic!("{ctx}: the project is neither old nor new: {now:#?}");
            };
            if left == Left::Old {
                assert_eq!(
                    fs::read_to_string(project.join("ggen.lock")).ok(),
                    Some(old_lock.clone()),
                    "{ctx}"
                );
            }
            // Every package directory is complete, whatever else is there.
            check_package_dirs(&home.join("packages"));
            assert_ok(&verify(&home));
            assert_ok(&install(&home, &project).output().unwrap());
            assert_eq!(snapshot(&project, &[]), *new_project, "{ctx}: rerun");
            assert_ok(&verify(&home));
            let installed = check_package_dirs(&home.join("packages"));
            assert_eq!(installed.len(), 24, "{ctx}: {installed:?}");
            let left_over = litter(&home, &[".staging-", TEMP]);
            assert!(left_over.is_empty(), "{ctx}: temp files after the rerun: {left_over:?}");
            check_archive_cache(&home);
            left
        },
    );
}

/// Every archive in the cache is named by its own SHA-256.
fn check_archive_cache(home: &Path) {
    let Ok(listing) = fs::read_dir(home.join("archives")) else {
        return;
    };
    for entry in listing {
        let entry = entry.unwrap();
        let bytes = fs::read(entry.path()).unwrap();
        assert_eq!(
            entry.file_name().to_string_lossy(),
            format!("{}.tar.gz", sha256_hex(&bytes)),
            "archive cache entry"
        );
    }
}

// ---------------------------------------------------------------------------
// index add
// ---------------------------------------------------------------------------

/// Packs `packages` with `ggen-market package` into `out`; returns the
/// archives.
fn pack_all(registry: &Registry, packages: &[Package], out: &Path) -> Vec<PathBuf> {
    packages
        .iter()
        .map(|package| {
            let dir = registry.source_dir(package);
            for (path, contents, _) in package.all_files() {
                let file = dir.join(&path);
                fs::create_dir_all(file.parent().unwrap()).unwrap();
                fs::write(&file, contents).unwrap();
            }
            let made: Value = serde_json::from_str(&assert_ok(&registry.publisher(&[
                "package",
                s(&dir),
                "--out",
                s(out),
                "--json",
            ])))
            .unwrap();
            PathBuf::from(made["path"].as_str().unwrap())
        })
        .collect()
}

#[test]
fn sigkill_during_index_add_leaves_a_consistent_index_that_a_rerun_completes() {
    let mut registry = Registry::new();
    publish_noisy(&mut registry, "io.crash.old", 3, 1024);
    // A batch of 30 with dependency chains, so the order of renames matters.
    let batch: Vec<Package> = (0..30)
        .map(|i| {
            let package =
                Package::new(&format!("io.crash.add{i:02}"), "1.0.0").file("data/noise.bin", noise(100 + i, 48 * 1024));
            if i % 5 == 0 {
                package.dep("io.crash.old00", "^1")
            } else {
                package.dep(&format!("io.crash.add{:02}", i - 1), "^1")
            }
        })
        .collect();
    let archives_dir = registry.root.join("batch");
    pack_all(&registry, &batch, &archives_dir);
    let index = registry.index.clone();
    registry.edit_config(|config| config["signatures"] = "optional".into());
    let pristine = registry.root.join("pristine-index");
    copy_dir(&index, &pristine);
    let lock = index.join(".ggen-index.lock");
    let tree = || without_temps(snapshot(&index, &[&lock]));
    let old = tree();
    // Unsigned (so optional above), so that every run writes the same
    // bytes: a signature's trusted comment holds the time.
    let add = || {
        command(
            &registry.root.join("publisher-home"),
            &["index", "add", s(&index), s(&archives_dir)],
        )
    };
    let check = || registry.publisher(&["index", "check", s(&index)]);

    sweep(
        "index add",
        10,
        || copy_dir(&pristine, &index),
        add,
        || {
            let new = tree();
            let private: Vec<_> = new.iter().filter(|(_, what)| what.starts_with("file 600")).collect();
            assert!(private.is_empty(), "files the web server cannot read: {private:?}");
            new
        },
        |kill, new, _| {
            let ctx = kill.context();
            // Only whole files, old or new, and only the new archives and
            // package files of the batch.
            let left = whole_files(ctx, &tree(), &old, new);
            assert_ok(&check());
            assert_ok(&add().output().unwrap());
            assert_eq!(tree(), *new, "{ctx}: the rerun completes the batch");
            let left_over = litter(&index, &[TEMP]);
            assert!(left_over.is_empty(), "{ctx}: temp files after the rerun: {left_over:?}");
            assert_ok(&check());
            left
        },
    );
}

// ---------------------------------------------------------------------------
// publish --push
// ---------------------------------------------------------------------------

#[test]
fn sigkill_during_publish_leaves_no_branch_or_one_that_a_rerun_pushes() {
    let registry = Registry::new();
    // The operator's index in a bare repository behind a git daemon that
    // accepts pushes; the author's clone of it.
    let work = init_worktree(&registry.index);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "index init"]);
    let served = registry.root.join("served");
    let bare = init_bare_from_worktree(&work, &served.join("index.git"));
    git(&bare, &["config", "receive.denyCurrentBranch", "ignore"]);
    let daemon = GitDaemon::start_with_push(&served);
    let clone = registry.root.join("clone");
    git(
        &registry.root,
        &["clone", "-q", &daemon.repo_url("index.git"), s(&clone)],
    );
    // A package whose archive (committed to the index) takes a while to push.
    let package = Package::new("io.crash.pub", "1.0.0").file("data/noise.bin", noise(7, 2 << 20));
    let dir = registry.source_dir(&package);
    for (path, contents, _) in package.all_files() {
        support::servers::write_file(&dir, &path, contents);
    }
    let branch = "publish/io.crash.pub-1.0.0";
    let key = registry.key.secret.clone();
    let publish = || {
        let mut cmd = command(
            &registry.root.join("author-home"),
            &["publish", s(&dir), "--index", s(&clone), "--key", s(&key), "--push"],
        );
        support::servers::apply_git_env(&mut cmd);
        cmd
    };
    let local = || {
        git(
            &clone,
            &[
                "for-each-ref",
                "--format=%(objectname)",
                &format!("refs/heads/{branch}"),
            ],
        )
    };
    let remote = || {
        git(
            &bare,
            &[
                "for-each-ref",
                "--format=%(objectname)",
                &format!("refs/heads/{branch}"),
            ],
        )
    };
    let reset = || {
        for repo in [&clone, &bare] {
            if !git(repo, &["for-each-ref", &format!("refs/heads/{branch}")]).is_empty() {
                git(repo, &["update-ref", "-d", &format!("refs/heads/{branch}")]);
            }
        }
    };
    let gate = || registry.publisher(&["index", "check", s(&clone), "--base", "main", "--head", branch]);

    sweep(
        "publish --push",
        10,
        reset,
        publish,
        || assert_ok(&gate()),
        |kill, _, _| {
            let ctx = kill.context();
            let (mine, theirs) = (local(), remote());
            let left = match (mine.is_empty(), theirs.is_empty()) {
                (true, true) => Left::Old,
                (false, false) => {
                    assert_eq!(mine, theirs, "{ctx}: the pushed branch is the local one");
                    Left::New
                }
                // Documented: the branch is made, not yet pushed.
                (false, true) => Left::Partial,
                (true, false) => panic!("{ctx}: pushed a branch the clone does not have"),
            };
            git(&clone, &["fsck", "--no-progress", "--connectivity-only"]);
            git(&bare, &["fsck", "--no-progress", "--connectivity-only"]);
            if left != Left::Old {
                assert_ok(&gate());
            }
            let out = publish().output().unwrap();
            assert_ok(&out);
            assert!(
                !local().is_empty() && local() == remote(),
                "{ctx}: the rerun pushed the branch"
            );
            assert_ok(&gate());
            left
        },
    );
    drop(daemon);
}

// ---------------------------------------------------------------------------
// Two processes on one GGEN_HOME
// ---------------------------------------------------------------------------

#[test]
fn concurrent_installs_and_a_sync_on_one_home_serialize_and_all_finish() {
    let mut registry = Registry::new();
    let packages = publish_noisy(&mut registry, "io.crash.c", 16, 32 * 1024);
    let names: Vec<String> = packages.iter().map(|p| p.name.clone()).collect();
    let work = init_worktree(&registry.index);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "index"]);
    let served = registry.root.join("served");
    let bare = init_bare_from_worktree(&work, &served.join("index.git"));
    let daemon = GitDaemon::start(&served);
    let url = daemon.repo_url("index.git");
    let home = registry.home("shared");
    let (first, second) = (registry.project("first"), registry.project("second"));
    fs::write(first.join("ggen.toml"), manifest_of(&names[..10])).unwrap();
    fs::write(second.join("ggen.toml"), manifest_of(&names[6..])).unwrap();

    // install + install (same project), install (another project) and a
    // sync, all at once on an empty home: each clones or waits for the
    // clone, and the installs take turns on the install lock.
    for round in 0..2 {
        let runs: Vec<_> = [
            vec!["--registry", &url, "install", "--project", s(&first)],
            vec!["--registry", &url, "install", "--project", s(&first)],
            vec!["--registry", &url, "install", "--project", s(&second)],
            vec!["--registry", &url, "sync"],
        ]
        .into_iter()
        .map(|args| {
            command(&home, &args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
        for run in runs {
            let out = run.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}: {out:?}");
        }
        for project in [&first, &second] {
            assert_ok(&market(&home, &["verify", "--project", s(project)]));
        }
        let installed = check_package_dirs(&home.join("packages"));
        assert_eq!(installed.len(), 16, "round {round}: each package once: {installed:?}");
        let left_over = litter(&home, &[".staging-", TEMP, ".clone-"]);
        assert!(left_over.is_empty(), "round {round}: {left_over:?}");
        let clones: Vec<PathBuf> = fs::read_dir(home.join("registries"))
            .unwrap()
            .map(|e| e.unwrap().path().join("index.git"))
            .collect();
        assert_eq!(clones.len(), 1, "one clone: {clones:?}");
        assert_eq!(
            git(&clones[0], &["rev-parse", "refs/ggen/index"]),
            git(&bare, &["rev-parse", "HEAD"]),
            "round {round}: the sync fetched the remote's HEAD"
        );
        let lock = fs::read_to_string(first.join("ggen.lock")).unwrap();
        assert_eq!(lock.matches("[[package]]").count(), 10);
        let lock = fs::read_to_string(second.join("ggen.lock")).unwrap();
        assert_eq!(lock.matches("[[package]]").count(), 10);
        // Round two: the remote moved on; the sync and installs meet again.
        fs::write(registry.index.join("NOTES.md"), format!("after round {round}\n")).unwrap();
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-qm", "notes"]);
        git(&work, &["push", "-q", s(&bare), "main"]);
    }
    drop(daemon);
}

// ---------------------------------------------------------------------------
// sync: git and sparse
// ---------------------------------------------------------------------------

/// `count` packages `PREFIXnn` at `version` with `size` bytes of noise
/// (seeded by `salt`), published to `registry` and signed.
fn publish_versions(registry: &mut Registry, prefix: &str, count: usize, version: &str, size: usize, salt: u64) {
    for i in 0..count {
        let package =
            Package::new(&format!("{prefix}{i:02}"), version).file("data/noise.bin", noise(salt + i as u64, size));
        registry.publish(&package);
    }
    registry.sign_all(&registry.key.clone());
}

/// The one registry directory under `home/registries/`.
fn registry_cache(home: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = fs::read_dir(home.join("registries"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "one registry cache: {dirs:?}");
    dirs.into_iter().next().unwrap()
}

#[test]
fn sigkill_during_a_git_sync_leaves_the_old_or_the_new_commit() {
    let mut registry = Registry::new();
    publish_versions(&mut registry, "io.crash.g", 12, "1.0.0", 1024, 0);
    let work = init_worktree(&registry.index);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "old"]);
    let served = registry.root.join("served");
    let bare = init_bare_from_worktree(&work, &served.join("index.git"));
    let daemon = GitDaemon::start(&served);
    let url = daemon.repo_url("index.git");
    let home = registry.home("h");
    let sync = || {
        let mut cmd = command(&home, &["--registry", &url, "sync"]);
        support::servers::apply_git_env(&mut cmd);
        cmd
    };
    assert_ok(&sync().output().unwrap());
    let old = git(&bare, &["rev-parse", "HEAD"]);
    // The new commit: new versions whose archives (committed to the
    // index) make a pack big enough that the fetch takes a while.
    publish_versions(&mut registry, "io.crash.g", 12, "2.0.0", 96 * 1024, 50);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "new"]);
    git(&work, &["push", "-q", s(&bare), "main"]);
    let new = git(&bare, &["rev-parse", "HEAD"]);
    let pristine = registry.root.join("pristine-home");
    copy_dir(&home, &pristine);
    let clone = registry_cache(&home).join("index.git");
    let fetched = || git(&clone, &["rev-parse", "refs/ggen/index"]);
    let seen = || fs::read_dir(home.join("trust/seen")).map(|d| d.count()).unwrap_or(0);

    sweep(
        "sync (git)",
        10,
        || copy_dir(&pristine, &home),
        sync,
        || assert_eq!(fetched(), new),
        |kill, _, _| {
            let ctx = kill.context();
            let now = fetched();
            let left = if now == old {
                Left::Old
            } else if now == new {
                Left::New
            } else {
                panic!("{ctx}: refs/ggen/index is {now}, neither {old} nor {new}");
            };
            git(&clone, &["fsck", "--no-progress", "--connectivity-only"]);
            // The old state still reads: an offline search sees 1.0.0.
            let info = market(&home, &["--registry", &url, "--offline", "info", "io.crash.g03"]);
            let listed = assert_ok(&info);
            assert!(listed.contains("1.0.0"), "{ctx}: {listed}");
            assert_ok(&sync().output().unwrap());
            assert_eq!(fetched(), new, "{ctx}: the rerun fetched the new commit");
            assert!(seen() > 0, "{ctx}: the rerun recorded what it saw");
            let info = assert_ok(&market(
                &home,
                &["--registry", &url, "--offline", "info", "io.crash.g03"],
            ));
            assert!(info.contains("2.0.0"), "{ctx}: {info}");
            let left_over = litter(&registry_cache(&home), &[".clone-", ".tmp", TEMP]);
            let ref_locks: Vec<String> = snapshot(&clone, &[])
                .into_keys()
                .filter(|path| path.ends_with(".lock"))
                .collect();
            assert!(
                left_over.is_empty() && ref_locks.is_empty(),
                "{ctx}: left after the rerun: {left_over:?} {ref_locks:?}"
            );
            left
        },
    );
    drop(daemon);
}

#[test]
fn sigkill_during_a_sparse_sync_leaves_whole_old_or_new_cache_files() {
    let mut registry = Registry::new();
    registry.edit_config(|config| config["signatures"] = "optional".into());
    // Many small package files: a revalidation is one request each.
    for i in 0..80 {
        let package = Package::new(&format!("io.crash.s{i:02}"), "1.0.0");
        let package = if i > 0 {
            package.dep(&format!("io.crash.s{:02}", i - 1), "^1")
        } else {
            package
        };
        registry.publish(&package);
    }
    let server = StaticServer::start(&registry.index);
    let url = format!("sparse+{}", server.url());
    let home = registry.home("h");
    let sync = || command(&home, &["--registry", &url, "sync"]);
    assert_ok(&market(&home, &["--registry", &url, "sync", "io.crash.s79"]));
    let cache = registry_cache(&home);
    let files = || without_temps(snapshot(&cache, &[&cache.join(".locks")]));
    let old = files();
    assert!(old.len() > 80, "the closure is cached: {}", old.len());
    // Every package gains a version: every cached file changes.
    for i in 0..80 {
        registry.publish(&Package::new(&format!("io.crash.s{i:02}"), "1.1.0"));
    }
    let pristine = registry.root.join("pristine-home");
    copy_dir(&home, &pristine);

    sweep(
        "sync (sparse)",
        12,
        || copy_dir(&pristine, &home),
        sync,
        files,
        |kill, new, _| {
            let ctx = kill.context();
            // Each file is refreshed on its own: a mix of whole files.
            let now = files();
            let left = whole_files(ctx, &now, &old, new);
            assert_eq!(now.len(), new.len(), "{ctx}: no cached file vanished");
            // Offline reads work on whatever is there.
            assert_ok(&market(
                &home,
                &["--registry", &url, "--offline", "info", "io.crash.s40"],
            ));
            assert_ok(&sync().output().unwrap());
            assert_eq!(files(), *new, "{ctx}: the rerun refreshed every file");
            let left_over = litter(&cache, &[TEMP]);
            assert!(left_over.is_empty(), "{ctx}: temp files after the rerun: {left_over:?}");
            left
        },
    );
    drop(server);
}

// ---------------------------------------------------------------------------
// mirror create, update, export, import
// ---------------------------------------------------------------------------

/// An upstream of `count` packages with noisy archives, at 1.0.0 ("old")
/// and with 2.0.0 of each added by `grow` ("new"), read from its
/// directory; the operator's home.
struct Upstream {
    registry: Registry,
    count: usize,
    operator: PathBuf,
}

impl Upstream {
    fn new(count: usize) -> Upstream {
        let mut registry = Registry::new();
        publish_versions(&mut registry, "io.crash.m", count, "1.0.0", 160 * 1024, 200);
        let operator = registry.home("operator");
        Upstream {
            registry,
            count,
            operator,
        }
    }

    fn grow(&mut self) {
        publish_versions(&mut self.registry, "io.crash.m", self.count, "2.0.0", 160 * 1024, 300);
    }

    fn mirror(&self, args: &[&str]) -> Command {
        let mut all = vec!["mirror"];
        all.extend_from_slice(args);
        command(&self.operator, &all)
    }

    fn create(&self, dir: &Path) -> Command {
        self.mirror(&["create", s(dir), "--from", s(&self.registry.index), "--all"])
    }

    fn verify(&self, dir: &Path) {
        assert_ok(&self.mirror(&["verify", s(dir)]).output().unwrap());
    }
}

/// The mirror's files (but its lock file).
fn mirror_tree(dir: &Path) -> BTreeMap<String, String> {
    snapshot(dir, &[&dir.join(".ggen-mirror.lock")])
}

/// Entries beside `dir` (in its parent) whose names start with `.NAME.`:
/// staging trees and the like, but lock files.
fn beside(dir: &Path) -> Vec<String> {
    let prefix = format!(".{}.", dir.file_name().unwrap().to_string_lossy());
    fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix) && !name.ends_with("-lock"))
        .collect()
}

#[test]
fn sigkill_during_mirror_create_leaves_no_mirror_or_a_whole_one() {
    let upstream = Upstream::new(32);
    let dir = upstream.registry.root.join("mirrors/m");
    let parent = dir.parent().unwrap().to_owned();

    sweep(
        "mirror create",
        10,
        || {
            // Only the mirror: what a killed run left beside it stays, for
            // the rerun to clear.
            if dir.exists() {
                fs::remove_dir_all(&dir).unwrap();
            }
        },
        || upstream.create(&dir),
        || {
            upstream.verify(&dir);
            mirror_tree(&dir)
        },
        |kill, new, _| {
            let ctx = kill.context();
            let left = if !dir.exists() {
                Left::Old
            } else {
                assert_eq!(
                    mirror_tree(&dir),
                    *new,
                    "{ctx}: a mirror appeared, but not the whole one"
                );
                upstream.verify(&dir);
                Left::New
            };
            if left == Left::Old {
                assert_ok(&upstream.create(&dir).output().unwrap());
            } else {
                // Created: the rerun is an update, which finds nothing new.
                assert_ok(&upstream.mirror(&["update", s(&dir)]).output().unwrap());
            }
            assert_eq!(mirror_tree(&dir), *new, "{ctx}: rerun");
            upstream.verify(&dir);
            let left_over = beside(&dir);
            assert!(left_over.is_empty(), "{ctx}: left beside the mirror: {left_over:?}");
            assert!(litter(&parent, &[TEMP]).is_empty(), "{ctx}");
            left
        },
    );
}

#[test]
fn sigkill_during_mirror_update_leaves_the_old_or_the_new_mirror() {
    let mut upstream = Upstream::new(16);
    let dir = upstream.registry.root.join("mirrors/m");
    assert_ok(&upstream.create(&dir).output().unwrap());
    let old = mirror_tree(&dir);
    upstream.grow();
    let pristine = upstream.registry.root.join("pristine-mirror");
    copy_dir(&dir, &pristine);
    let update = || upstream.mirror(&["update", s(&dir)]);

    sweep(
        "mirror update",
        10,
        || {
            copy_dir(&pristine, &dir);
            for name in beside(&dir) {
                fs::remove_dir_all(dir.parent().unwrap().join(name)).unwrap();
            }
        },
        update,
        || {
            upstream.verify(&dir);
            mirror_tree(&dir)
        },
        |kill, new, _| {
            let ctx = kill.context();
            let now = mirror_tree(&dir);
            let left = if now == old {
                Left::Old
            } else if now == *new {
                Left::New
            } else {
                panic!(
                    "{ctx}: the mirror is neither old nor new; differs from new in {:?}",
                    now.iter().filter(|(p, w)| new.get(*p) != Some(w)).collect::<Vec<_>>()
                );
            };
            upstream.verify(&dir);
            assert_ok(&update().output().unwrap());
            assert_eq!(mirror_tree(&dir), *new, "{ctx}: rerun");
            upstream.verify(&dir);
            let left_over = beside(&dir);
            assert!(left_over.is_empty(), "{ctx}: left beside the mirror: {left_over:?}");
            left
        },
    );
}

#[test]
fn sigkill_during_mirror_export_and_import_leaves_old_or_whole_new_files() {
    let mut upstream = Upstream::new(16);
    let dir = upstream.registry.root.join("mirrors/m");
    assert_ok(&upstream.create(&dir).output().unwrap());
    let usb = upstream.registry.root.join("usb");
    let file = usb.join("mirror.tar");
    let manifest = usb.join("mirror.tar.manifest.json");
    assert_ok(&upstream.mirror(&["export", s(&dir), s(&file)]).output().unwrap());
    let old_file = fs::read(&file).unwrap();
    let old_manifest = fs::read(&manifest).unwrap();
    let old_tree = mirror_tree(&dir);
    upstream.grow();
    assert_ok(&upstream.mirror(&["update", s(&dir)]).output().unwrap());
    let new_tree = mirror_tree(&dir);
    assert_ne!(new_tree, old_tree);
    let upstream = upstream;
    let export = || upstream.mirror(&["export", s(&dir), s(&file)]);
    let pristine_usb = upstream.registry.root.join("pristine-usb");
    copy_dir(&usb, &pristine_usb);
    // An export holds the tree it was made from: imported into an empty
    // directory, it gives that tree back.
    let unpack = |label: &str| -> BTreeMap<String, String> {
        let into = upstream.registry.root.join("unpacked").join(label);
        if into.exists() {
            fs::remove_dir_all(&into).unwrap();
        }
        assert_ok(&upstream.mirror(&["import", s(&file), s(&into)]).output().unwrap());
        mirror_tree(&into)
    };
    // The manifest written beside an export is the one inside it.
    let inner_manifest = || {
        let mut archive = tar::Archive::new(fs::File::open(&file).unwrap());
        let mut first = archive.entries().unwrap().next().unwrap().unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut first, &mut bytes).unwrap();
        bytes
    };

    sweep(
        "mirror export",
        10,
        || copy_dir(&pristine_usb, &usb),
        export,
        || assert_eq!(unpack("full"), new_tree),
        |kill, _, _| {
            let ctx = kill.context();
            let is_old = fs::read(&file).unwrap() == old_file;
            let left = if is_old {
                assert_eq!(
                    fs::read(&manifest).unwrap(),
                    old_manifest,
                    "{ctx}: the old export's manifest"
                );
                Left::Old
            } else {
                assert_eq!(unpack("killed"), new_tree, "{ctx}: a new export is whole");
                let beside = fs::read(&manifest).unwrap();
                if beside == inner_manifest() {
                    Left::New
                } else {
                    // Documented: the export is written, its manifest copy not yet.
                    assert_eq!(beside, old_manifest, "{ctx}: the manifest is the old or the new one");
                    Left::Partial
                }
            };
            assert_ok(&export().output().unwrap());
            assert_eq!(unpack("rerun"), new_tree, "{ctx}: rerun");
            assert_eq!(fs::read(&manifest).unwrap(), inner_manifest(), "{ctx}: rerun");
            let left_over = litter(&usb, &[TEMP]);
            assert!(left_over.is_empty(), "{ctx}: temp files after the rerun: {left_over:?}");
            left
        },
    );

    // Import the new export over a copy of the old tree.
    assert_ok(&export().output().unwrap());
    let target = upstream.registry.root.join("airgap/m");
    let import = || upstream.mirror(&["import", s(&file), s(&target)]);
    let pristine_usb_old = upstream.registry.root.join("old-usb");
    fs::create_dir_all(&pristine_usb_old).unwrap();
    fs::write(pristine_usb_old.join("mirror.tar"), &old_file).unwrap();
    let old_import = |into: &Path| {
        let out = upstream
            .mirror(&["import", s(&pristine_usb_old.join("mirror.tar")), s(into)])
            .output()
            .unwrap();
        assert_ok(&out);
    };
    old_import(&target);
    assert_eq!(mirror_tree(&target), old_tree);
    let pristine_target = upstream.registry.root.join("pristine-airgap");
    copy_dir(&target, &pristine_target);

    sweep(
        "mirror import",
        10,
        || copy_dir(&pristine_target, &target),
        import,
        || mirror_tree(&target),
        |kill, new, _| {
            let ctx = kill.context();
            let now = mirror_tree(&target);
            let left = if now == old_tree {
                Left::Old
            } else if now == *new {
                Left::New
            } else {
                panic!("{ctx}: the imported tree is neither old nor new");
            };
            upstream.verify(&target);
            assert_ok(&import().output().unwrap());
            assert_eq!(mirror_tree(&target), *new, "{ctx}: rerun");
            assert_eq!(*new, new_tree, "{ctx}: the import is the exported tree");
            upstream.verify(&target);
            let left_over = beside(&target);
            assert!(left_over.is_empty(), "{ctx}: left beside the tree: {left_over:?}");
            left
        },
    );
}
