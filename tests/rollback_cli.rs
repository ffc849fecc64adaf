//! Rollback and freeze protection, end to end: the real binary syncs from a
//! git daemon and from nginx on 127.0.0.1 while the "upstream" is rewound
//! or rewritten under it.
//!
//! - git: a force-pushed history (a fetch that does not descend from the
//!   commit fetched before) is refused naming both commits, the clone stays
//!   where it was, and `--allow-rewind` takes it;
//! - git and sparse: a package file that drops a version seen, changes a
//!   seen `cksum`, or unyanks silently is refused with every change
//!   listed, the previous state kept, and `--accept-upstream-rewrite`
//!   takes it;
//! - a new version and a yank pass silently;
//! - a mirror of the same registry (same identity) is held to what was
//!   seen through the registry itself.
//!
//! Oracles: the clone's ref read with the `git` CLI, the cached files read
//! offline with `info`, and the JSON reports.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use support::fixture::{assert_ok, assert_refused, market};
use support::servers::{GitDaemon, StaticServer, commit_all, git, init_bare_from_worktree, init_worktree, rev_parse};

const ID: &str = "io.test.rollback";

/// An entry line of `name@vers` with the archive checksum `cksum` (one hex
/// digit, repeated).
fn line(name: &str, vers: &str, cksum: char, yanked: bool) -> String {
    json!({"name": name, "vers": vers, "deps": [], "cksum": cksum.to_string().repeat(64),
           "features": {}, "yanked": yanked})
    .to_string()
}

/// Writes the index at `dir`: config.json and one file per package.
/// Each write moves the files' mtime forward, so nginx's ETag changes.
fn write_index(dir: &Path, packages: &[(&str, Vec<String>)]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(
        dir.join("config.json"),
        json!({"dl": "archives/{crate}-{version}.tar.gz", "id": ID}).to_string(),
    )
    .unwrap();
    for (name, lines) in packages {
        let file = dir.join(ggen_marketplace::format::name::index_path(name));
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        bump_mtime(&file);
    }
}

fn bump_mtime(file: &Path) {
    let later = fs::metadata(file).unwrap().modified().unwrap() + Duration::from_secs(1);
    let at = later.max(SystemTime::now() + Duration::from_secs(1));
    fs::File::options()
        .write(true)
        .open(file)
        .unwrap()
        .set_modified(at)
        .unwrap();
}

fn sync(home: &Path, registry: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--registry", registry, "sync"];
    args.extend_from_slice(extra);
    market(home, &args)
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The commit the clone under `home` reads (`refs/ggen/index`).
fn clone_commit(home: &Path) -> String {
    let registries: Vec<PathBuf> = fs::read_dir(home.join("registries"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(registries.len(), 1, "{registries:?}");
    rev_parse(&registries[0].join("index.git"), "refs/ggen/index")
}

/// The versions of `name` as the home's copy shows them offline:
/// (version, yanked).
fn versions_offline(home: &Path, registry: &str, name: &str) -> Vec<(String, bool)> {
    let out = market(home, &["--registry", registry, "--offline", "info", name, "--json"]);
    let info: Value = serde_json::from_slice(assert_ok(&out).as_bytes()).unwrap();
    let mut versions: Vec<(String, bool)> = info["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_owned(),
                v["yanked"].as_bool().unwrap(),
            )
        })
        .collect();
    versions.sort();
    versions
}

fn owned(versions: &[(&str, bool)]) -> Vec<(String, bool)> {
    versions.iter().map(|(v, y)| (v.to_string(), *y)).collect()
}

/// A git index served by a daemon: the publisher's work tree and the bare
/// repository it pushes to.
struct GitUpstream {
    _tmp: tempfile::TempDir,
    worktree: PathBuf,
    bare: PathBuf,
    daemon: GitDaemon,
    home: PathBuf,
}

impl GitUpstream {
    fn new(packages: &[(&str, Vec<String>)]) -> GitUpstream {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let worktree = init_worktree(&root.join("worktree"));
        write_index(&worktree, packages);
        commit_all(&worktree, "first");
        let served = root.join("served");
        let bare = init_bare_from_worktree(&worktree, &served.join("index.git"));
        let daemon = GitDaemon::start(&served);
        GitUpstream {
            home: root.join("home"),
            _tmp: tmp,
            worktree,
            bare,
            daemon,
        }
    }

    fn url(&self) -> String {
        self.daemon.repo_url("index.git")
    }

    /// Commits the index as `packages` and makes it the served HEAD.
    fn publish(&self, packages: &[(&str, Vec<String>)], message: &str) -> String {
        write_index(&self.worktree, packages);
        let commit = commit_all(&self.worktree, message);
        self.force_serve(&commit);
        commit
    }

    fn force_serve(&self, commit: &str) {
        git(
            &self.worktree,
            &[
                "push",
                "-q",
                "--force",
                self.bare.to_str().unwrap(),
                &format!("{commit}:refs/heads/main"),
            ],
        );
    }
}

#[test]
fn a_rewound_git_history_is_refused_until_allowed() {
    let demo = vec![line("demo", "1.0.0", 'a', false)];
    let upstream = GitUpstream::new(&[("demo", demo.clone())]);
    let url = upstream.url();
    assert_ok(&sync(&upstream.home, &url, &[]));
    let grown = vec![line("demo", "1.0.0", 'a', false), line("demo", "1.1.0", 'b', false)];
    let seen = upstream.publish(&[("demo", grown.clone())], "1.1.0");
    assert_ok(&sync(&upstream.home, &url, &[]));
    assert_eq!(clone_commit(&upstream.home), seen);

    // The same content under a rewritten history: a force-push.
    git(&upstream.worktree, &["commit", "-q", "--amend", "-m", "rewritten"]);
    let rewritten = rev_parse(&upstream.worktree, "HEAD");
    upstream.force_serve(&rewritten);
    let out = sync(&upstream.home, &url, &[]);
    assert_refused(&out, &[&seen, &rewritten, "does not descend", "--allow-rewind"]);
    assert_eq!(clone_commit(&upstream.home), seen, "the clone stays where it was");

    let out = sync(&upstream.home, &url, &["--allow-rewind", "--json"]);
    let report = json_of(&out);
    assert_ok(&out);
    assert_eq!(report["rewinds"][0]["remembered"], seen.as_str());
    assert_eq!(report["rewinds"][0]["fetched"], rewritten.as_str());
    assert_eq!(report["rewinds"][0]["accepted"], true);
    assert_eq!(clone_commit(&upstream.home), rewritten);
    // From then on the rewritten history is the one remembered.
    let report = json_of(&sync(&upstream.home, &url, &["--json"]));
    assert_eq!(report["rewinds"], json!([]), "{report}");

    // A fresh clone (the cache wiped) is held to the remembered commit too.
    fs::remove_dir_all(upstream.home.join("registries")).unwrap();
    upstream.force_serve(&seen);
    let out = sync(&upstream.home, &url, &[]);
    assert_refused(&out, &[&rewritten, &seen, "--allow-rewind"]);
    assert!(
        !upstream
            .home
            .join("registries")
            .read_dir()
            .unwrap()
            .any(|e| { e.unwrap().path().join("index.git").exists() })
    );
}

#[test]
fn a_git_fetch_that_rewrites_seen_versions_is_refused_with_every_change() {
    let before = [
        (
            "demo",
            vec![line("demo", "1.0.0", 'a', false), line("demo", "1.1.0", 'b', true)],
        ),
        ("other", vec![line("other", "1.0.0", 'c', false)]),
    ];
    let upstream = GitUpstream::new(&before);
    let url = upstream.url();
    let first = rev_parse(&upstream.worktree, "HEAD");
    assert_ok(&sync(&upstream.home, &url, &[]));

    // A new version and a yank pass silently.
    let normal = [
        (
            "demo",
            vec![line("demo", "1.0.0", 'a', false), line("demo", "1.1.0", 'b', true)],
        ),
        (
            "other",
            vec![line("other", "1.0.0", 'c', true), line("other", "1.1.0", 'd', false)],
        ),
    ];
    let good = upstream.publish(&normal, "yank other 1.0.0, publish other 1.1.0");
    let report = json_of(&sync(&upstream.home, &url, &["--json"]));
    assert_eq!(report["rewrites"], json!([]), "{report}");
    assert_eq!(clone_commit(&upstream.home), good);
    assert_ne!(good, first);

    // A checksum changed, a silent unyank, a vanished version.
    let rewritten = [
        (
            "demo",
            vec![line("demo", "1.0.0", 'e', false), line("demo", "1.1.0", 'b', false)],
        ),
        ("other", vec![line("other", "1.1.0", 'd', false)]),
    ];
    let bad = upstream.publish(&rewritten, "rewrite history");
    let out = sync(&upstream.home, &url, &[]);
    assert_refused(
        &out,
        &[
            "demo: version 1.0.0: `cksum` changed",
            "demo: version 1.1.0 was unyanked without a signed unyank notice",
            "other: version 1.0.0 vanished",
            "--accept-upstream-rewrite",
        ],
    );
    assert_eq!(clone_commit(&upstream.home), good, "the clone stays at the good commit");
    let out = sync(&upstream.home, &url, &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json_of(&out);
    assert_eq!(report["rewrites"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(report["rewrites"][0]["accepted"], false);

    let out = sync(&upstream.home, &url, &["--accept-upstream-rewrite", "--json"]);
    let report = json_of(&out);
    assert_ok(&out);
    assert_eq!(report["rewrites"][0]["name"], "demo");
    assert_eq!(report["rewrites"][0]["accepted"], true);
    assert_eq!(clone_commit(&upstream.home), bad);
    assert_eq!(
        versions_offline(&upstream.home, &url, "other"),
        owned(&[("1.1.0", false)])
    );
    // Taken, the new state is what is remembered: the next sync is quiet.
    assert_ok(&sync(&upstream.home, &url, &[]));
}

/// A sparse index served by nginx from a directory.
struct SparseUpstream {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    nginx: StaticServer,
    home: PathBuf,
}

impl SparseUpstream {
    fn new(packages: &[(&str, Vec<String>)]) -> SparseUpstream {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let dir = root.join("index");
        write_index(&dir, packages);
        let nginx = StaticServer::start(&dir);
        SparseUpstream {
            home: root.join("home"),
            _tmp: tmp,
            dir,
            nginx,
        }
    }

    fn url(&self) -> String {
        format!("sparse+{}", self.nginx.url())
    }
}

#[test]
fn a_sparse_file_that_rewrites_seen_versions_is_refused_and_the_cache_kept() {
    let upstream = SparseUpstream::new(&[(
        "demo",
        vec![line("demo", "1.0.0", 'a', false), line("demo", "1.1.0", 'b', false)],
    )]);
    let url = upstream.url();
    assert_ok(&sync(&upstream.home, &url, &["demo"]));

    // A yank and a new version pass silently.
    let yanked = vec![
        line("demo", "1.0.0", 'a', true),
        line("demo", "1.1.0", 'b', false),
        line("demo", "1.2.0", 'c', false),
    ];
    write_index(&upstream.dir, &[("demo", yanked)]);
    let report = json_of(&sync(&upstream.home, &url, &["--json"]));
    assert_eq!(report["rewrites"], json!([]), "{report}");
    let good = owned(&[("1.0.0", true), ("1.1.0", false), ("1.2.0", false)]);
    assert_eq!(versions_offline(&upstream.home, &url, "demo"), good);

    // A frozen or rolled-back copy: 1.2.0 gone, 1.0.0 unyanked.
    let rolled_back = vec![line("demo", "1.0.0", 'a', false), line("demo", "1.1.0", 'b', false)];
    write_index(&upstream.dir, &[("demo", rolled_back)]);
    let out = sync(&upstream.home, &url, &[]);
    assert_refused(
        &out,
        &[
            "demo: version 1.0.0 was unyanked",
            "demo: version 1.2.0 vanished",
            "--accept-upstream-rewrite",
        ],
    );
    assert_eq!(
        versions_offline(&upstream.home, &url, "demo"),
        good,
        "the cache is kept"
    );
    // Another command reading it online warns and uses the last good copy.
    let out = market(&upstream.home, &["--registry", &url, "info", "demo", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains("warning:") && stderr.contains("last good copy"),
        "{stderr}"
    );
    assert_eq!(json_of(&out)["versions"].as_array().unwrap().len(), 3);

    let out = sync(&upstream.home, &url, &["--accept-upstream-rewrite", "--json"]);
    let report = json_of(&out);
    assert_ok(&out);
    assert_eq!(report["rewrites"][0]["accepted"], true, "{report}");
    assert_eq!(
        versions_offline(&upstream.home, &url, "demo"),
        owned(&[("1.0.0", false), ("1.1.0", false)])
    );
    assert_ok(&sync(&upstream.home, &url, &[]));
}

#[test]
fn a_mirror_of_the_same_registry_is_held_to_what_the_registry_showed() {
    let current = vec![line("demo", "1.0.0", 'a', false), line("demo", "1.1.0", 'b', false)];
    let upstream = SparseUpstream::new(&[("demo", current)]);
    assert_ok(&sync(&upstream.home, &upstream.url(), &["demo"]));
    // A stale mirror (same config.json `id`) that never got 1.1.0.
    let stale = SparseUpstream::new(&[("demo", vec![line("demo", "1.0.0", 'a', false)])]);
    let out = sync(&upstream.home, &stale.url(), &["demo"]);
    assert_refused(&out, &["demo: version 1.1.0 vanished", "--accept-upstream-rewrite"]);
}
