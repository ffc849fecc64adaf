//! Every network fault against every command that reads a sparse registry
//! over HTTP: the real binary against a [`FaultyServer`] on 127.0.0.1.
//!
//! The matrix: each fault of [`faults`] × {`sync` (index files), `install`
//! (archive downloads), `mirror create` and `mirror update` (index files
//! and archives)}. Each pair is one case with its expected outcome:
//! transient faults are retried with backoff and the command succeeds;
//! permanent ones fail with exit 1, an error naming the URL and the cause;
//! nothing waits without bound (`[net]` timeouts, set tiny here) and
//! nothing is read without bound (`[net]` size caps).
//!
//! The faulted file is always one that changed upstream since the home was
//! warmed (a new version `io.ggen.rust.axum 0.4.3`: its package file and its
//! archive), so the fault hits a full download, never a 304. After a
//! failure the home, the project and the mirror are byte-for-byte what they
//! were before (a snapshot of each tree): no temp file, no half-written or
//! wrong cache entry, no partial mirror. After a recovery the result is
//! checked by `verify`, `mirror verify` or an offline `info`.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use ggen_marketplace::format::name::index_path;
use serde_json::Value;
use support::fixture::{Package, Registry, assert_ok, assert_refused, copy_tree, market, snapshot};
use support::servers::{Fault, FaultPlan, FaultyServer};

/// Tiny limits so that every fault ends in a few seconds at most. Connect
/// and read timeouts stay generous (a loaded CI machine must not trip
/// them); the slow drip is cut by the total timeout.
const NET_CONFIG: &str = "[net]
connect-timeout = 10
read-timeout = 10
total-timeout = 3
retries = 2
max-redirects = 3
max-index-file-size = 65536
max-archive-size = 1048576
";

/// The package that changes upstream, and its new version.
const PACKAGE: &str = "io.ggen.rust.axum";
const NEW_VERSION: &str = "0.4.3";

/// What a fault is aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The package file of [`PACKAGE`].
    IndexFile,
    /// The archive of [`PACKAGE`] [`NEW_VERSION`].
    Archive,
}

impl Target {
    /// Its URL path on the server.
    fn path(self) -> String {
        match self {
            Target::IndexFile => format!("/{}", index_path(PACKAGE)),
            Target::Archive => format!("/archives/{PACKAGE}/{PACKAGE}-{NEW_VERSION}.tar.gz"),
        }
    }
}

/// What a command must do in the face of a fault.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// Succeed, after this many requests for the faulted file.
    Recovers { requests: usize },
    /// Exit 1 after this many requests, the error naming the URL and each
    /// needle; nothing changed on disk.
    Refused {
        requests: usize,
        needles: &'static [&'static str],
    },
}

/// One row of the fault table: its plan and its outcome per target.
struct FaultRow {
    name: &'static str,
    plan: FaultPlan,
    index_file: Outcome,
    archive: Outcome,
}

/// Every fault, with the outcome each target must show. `retries = 2`:
/// a transient fault is tried 3 times in all.
fn faults() -> Vec<FaultRow> {
    use Outcome::{Recovers, Refused};
    let both = |name, plan, outcome| FaultRow {
        name,
        plan,
        index_file: outcome,
        archive: outcome,
    };
    let not_the_archive = Refused {
        requests: 1,
        needles: &["has SHA-256", "but the index says"],
    };
    vec![
        both(
            "503 burst",
            FaultPlan::first(2, Fault::Status503),
            Recovers { requests: 3 },
        ),
        both(
            "503 forever",
            FaultPlan::always(Fault::Status503),
            Refused {
                requests: 3,
                needles: &["failed 3 time(s)", "503 Service Unavailable"],
            },
        ),
        both(
            "connection dropped",
            FaultPlan::first(2, Fault::DropConnection),
            Recovers { requests: 3 },
        ),
        both(
            "connection dropped mid-body",
            FaultPlan::first(2, Fault::DropMidBody),
            Recovers { requests: 3 },
        ),
        both(
            "body shorter than Content-Length",
            FaultPlan::first(2, Fault::TruncateBody),
            Recovers { requests: 3 },
        ),
        both(
            "body always short",
            FaultPlan::always(Fault::TruncateBody),
            Refused {
                requests: 3,
                needles: &["failed 3 time(s)", "cut short"],
            },
        ),
        FaultRow {
            name: "wrong bytes",
            plan: FaultPlan::always(Fault::WrongBytes),
            index_file: Refused {
                requests: 1,
                needles: &["is not an index file", "Nothing was cached"],
            },
            archive: not_the_archive,
        },
        both(
            "slow drip, 1 byte/s",
            FaultPlan::always(Fault::SlowDrip(Duration::from_secs(1))),
            Refused {
                requests: 1,
                needles: &["took longer than 3 s", "`total-timeout`", "[net]"],
            },
        ),
        FaultRow {
            name: "endless body",
            plan: FaultPlan::always(Fault::EndlessBody),
            index_file: Refused {
                requests: 1,
                needles: &["larger than 65536 bytes", "`max-index-file-size`"],
            },
            archive: Refused {
                requests: 1,
                needles: &["larger than 1048576 bytes", "`max-archive-size`"],
            },
        },
        FaultRow {
            name: "200 with an HTML error page",
            plan: FaultPlan::always(Fault::HtmlErrorPage),
            index_file: Refused {
                requests: 1,
                needles: &["is not an index file", "<!DOCTYPE html>"],
            },
            archive: not_the_archive,
        },
        both(
            "redirect chain (2 hops)",
            FaultPlan::first(1, Fault::Redirects(2)),
            Recovers { requests: 1 },
        ),
        both(
            "redirect loop",
            FaultPlan::always(Fault::RedirectToSelf),
            Refused {
                requests: 4,
                needles: &["more than 3 redirects", "`max-redirects`"],
            },
        ),
    ]
}

/// The registry before and after [`PACKAGE`] [`NEW_VERSION`] was published,
/// served from one directory that starts as the old state.
struct Upstream {
    registry: Registry,
    /// The index after the new version.
    new: PathBuf,
    /// What the server serves.
    served: PathBuf,
    server: FaultyServer,
}

impl Upstream {
    fn start() -> Upstream {
        let mut registry = Registry::with_catalog();
        let root = registry.root.clone();
        let old = copy_tree(&registry.index, &root.join("old"));
        registry.publish(
            &Package::new(PACKAGE, NEW_VERSION)
                .dep("io.ggen.rust.cli", "^0.3")
                .dep("io.ggen.base", "^1.0"),
        );
        registry.sign_all(&registry.key.clone());
        let new = registry.index.clone();
        let served = copy_tree(&old, &root.join("served"));
        let server = FaultyServer::start(&served, FaultPlan::none());
        Upstream {
            registry,
            new,
            served,
            server,
        }
    }

    fn url(&self) -> String {
        format!("sparse+{}", self.server.url())
    }

    /// Serves the new state: copies only the files that changed, so every
    /// other file keeps its ETag and revalidates as 304.
    fn publish_new_version(&self) {
        let served = snapshot(&self.served, &[]);
        for (relative, what) in snapshot(&self.new, &[&self.new.join(".git")]) {
            if what.starts_with("file ") && served.get(&relative) != Some(&what) {
                let target = self.served.join(&relative);
                fs::create_dir_all(target.parent().unwrap()).unwrap();
                fs::copy(self.new.join(&relative), target).unwrap();
            }
        }
    }

    /// A fresh directory for one case.
    fn case_dir(&self, label: &str) -> PathBuf {
        let dir = self
            .registry
            .root
            .join("cases")
            .join(label.replace([' ', ',', '/', '(', ')'], "-"));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A `GGEN_HOME` with the test's `[net]` limits.
    fn new_home(&self, dir: &Path) -> PathBuf {
        let home = dir.join("home");
        fs::create_dir_all(&home).unwrap();
        fs::write(home.join("config.toml"), NET_CONFIG).unwrap();
        home
    }

    /// `ggen-market --registry URL ARGS…`.
    fn market(&self, home: &Path, args: &[&str]) -> Output {
        let url = self.url();
        let mut all = vec!["--registry", url.as_str()];
        all.extend_from_slice(args);
        market(home, &all)
    }

    /// The URL of what `target` names.
    fn target_url(&self, target: Target) -> String {
        format!("{}{}", self.server.url(), &target.path()[1..])
    }

    fn requests_for(&self, path: &str) -> usize {
        self.server.request_count(path)
    }

    fn redirect_hops(&self) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/.redirect/"))
            .count()
    }
}

/// What one case runs: `prepare` copies the warm state into the case
/// directory and returns the trees to compare; `run` is the command under
/// test; `check` confirms a success.
struct Command<'a> {
    name: &'static str,
    prepare: &'a dyn Fn(&Path) -> Vec<PathBuf>,
    run: &'a dyn Fn(&Path) -> Output,
    check: &'a dyn Fn(&Path),
}

/// Runs every fault against `command` aimed at `target`; returns one line
/// per case for the failure message and the log.
fn run_matrix(upstream: &Upstream, command: &Command, target: Target) -> Vec<String> {
    let mut report = Vec::new();
    for row in faults() {
        let outcome = match target {
            Target::IndexFile => row.index_file,
            Target::Archive => row.archive,
        };
        let label = format!("{} {:?} {}", command.name, target, row.name);
        let dir = upstream.case_dir(&label);
        let trees = (command.prepare)(&dir);
        let before: Vec<_> = trees.iter().map(|tree| snapshot(tree, &[])).collect();
        let path = target.path();
        let requests_before = upstream.requests_for(&path);
        let hops_before = upstream.redirect_hops();
        upstream.server.set_plan(row.plan.clone().only_under(&path));
        let out = (command.run)(&dir);
        upstream.server.set_plan(FaultPlan::none());
        let requests = upstream.requests_for(&path) - requests_before;
        match outcome {
            Outcome::Recovers { requests: expected } => {
                assert_ok(&out);
                (command.check)(&dir);
                assert_eq!(requests, expected, "{label}: requests for {path}");
                if let Fault::Redirects(hops) = row.plan.fault {
                    assert_eq!(upstream.redirect_hops() - hops_before, hops, "{label}: redirect hops");
                }
                report.push(format!("{label}: recovered after {requests} request(s)"));
            }
            Outcome::Refused {
                requests: expected,
                needles,
            } => {
                let url = upstream.target_url(target);
                let mut all = vec![url.as_str()];
                all.extend_from_slice(needles);
                let stderr = assert_refused(&out, &all);
                assert_eq!(requests, expected, "{label}: requests for {path}\n{stderr}");
                for (tree, before) in trees.iter().zip(&before) {
                    assert_eq!(
                        &snapshot(tree, &[]),
                        before,
                        "{label}: {} changed although the command failed\n{stderr}",
                        tree.display()
                    );
                }
                report.push(format!(
                    "{label}: refused after {requests} request(s): {}",
                    stderr.trim()
                ));
            }
        }
    }
    for line in &report {
        eprintln!("{line}");
    }
    report
}

/// Offline, `info` shows the new version: the cache holds the new file.
fn check_cached_new_version(upstream: &Upstream, home: &Path) {
    let out = upstream.market(home, &["--offline", "info", PACKAGE, "--json"]);
    let info: Value = serde_json::from_str(&assert_ok(&out)).unwrap();
    let versions: Vec<&str> = info["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert!(versions.contains(&NEW_VERSION), "{versions:?}");
}

/// The mirror verifies and holds the new version.
fn check_mirror(home: &Path, mirror: &Path) {
    assert_ok(&market(home, &["mirror", "verify", mirror.to_str().unwrap()]));
    let text = fs::read_to_string(mirror.join(index_path(PACKAGE))).unwrap();
    assert!(text.contains(&format!("\"vers\":\"{NEW_VERSION}\"")), "{text}");
    assert!(
        mirror
            .join(format!("archives/{PACKAGE}/{PACKAGE}-{NEW_VERSION}.tar.gz"))
            .is_file()
    );
}

#[test]
fn sync_faces_every_fault_on_an_index_file() {
    let upstream = Upstream::start();
    // A home that synced the old state: the faulted file is a changed one.
    let warm = upstream.new_home(&upstream.registry.root.join("warm"));
    assert_ok(&upstream.market(&warm, &["sync", PACKAGE]));
    upstream.publish_new_version();
    let command = Command {
        name: "sync",
        prepare: &|dir| vec![copy_tree(&warm, &dir.join("home"))],
        run: &|dir| upstream.market(&dir.join("home"), &["sync", PACKAGE]),
        check: &|dir| check_cached_new_version(&upstream, &dir.join("home")),
    };
    run_matrix(&upstream, &command, Target::IndexFile);
}

#[test]
fn install_faces_every_fault_on_an_archive_download() {
    let upstream = Upstream::start();
    // A home with the old versions installed, and the new index files
    // cached: the install's only download is the new archive.
    let root = upstream.registry.root.join("warm");
    let warm = upstream.new_home(&root);
    let project = root.join("project");
    fs::create_dir_all(&project).unwrap();
    assert_ok(&upstream.market(&warm, &["add", PACKAGE, "--project", project.to_str().unwrap()]));
    upstream.publish_new_version();
    assert_ok(&upstream.market(&warm, &["sync", PACKAGE]));
    let command = Command {
        name: "install",
        prepare: &|dir| {
            let project = dir.join("project");
            fs::create_dir_all(&project).unwrap();
            fs::copy(root.join("project/ggen.toml"), project.join("ggen.toml")).unwrap();
            vec![copy_tree(&warm, &dir.join("home")), project]
        },
        run: &|dir| {
            let project = dir.join("project");
            upstream.market(&dir.join("home"), &["install", "--project", project.to_str().unwrap()])
        },
        check: &|dir| {
            let project = dir.join("project");
            let lock = fs::read_to_string(project.join("ggen.lock")).unwrap();
            assert!(lock.contains(&format!("version = \"{NEW_VERSION}\"")), "{lock}");
            assert_ok(&market(
                &dir.join("home"),
                &["verify", "--project", project.to_str().unwrap()],
            ));
        },
    };
    run_matrix(&upstream, &command, Target::Archive);
}

/// `mirror create` against a home that synced the old state (index-file
/// faults) or the new one (archive faults).
fn mirror_create_matrix(target: Target) {
    let upstream = Upstream::start();
    let warm = upstream.new_home(&upstream.registry.root.join("warm"));
    assert_ok(&upstream.market(&warm, &["sync", PACKAGE]));
    upstream.publish_new_version();
    if target == Target::Archive {
        assert_ok(&upstream.market(&warm, &["sync", PACKAGE]));
    }
    let url = upstream.url();
    let command = Command {
        name: "mirror create",
        prepare: &|dir| {
            let mirrors = dir.join("mirrors");
            fs::create_dir_all(&mirrors).unwrap();
            vec![copy_tree(&warm, &dir.join("home")), mirrors]
        },
        run: &|dir| mirror_create(&dir.join("home"), &dir.join("mirrors/m"), &url),
        check: &|dir| check_mirror(&dir.join("home"), &dir.join("mirrors/m")),
    };
    run_matrix(&upstream, &command, target);
}

#[test]
fn mirror_create_faces_every_fault_on_an_index_file() {
    mirror_create_matrix(Target::IndexFile);
}

#[test]
fn mirror_create_faces_every_fault_on_an_archive() {
    mirror_create_matrix(Target::Archive);
}

/// `mirror create MIRROR --from URL --closure PACKAGE` with `home`.
fn mirror_create(home: &Path, mirror: &Path, url: &str) -> Output {
    let args = [
        "mirror",
        "create",
        mirror.to_str().unwrap(),
        "--from",
        url,
        "--closure",
        PACKAGE,
    ];
    market(home, &args)
}

/// `mirror update` of a mirror made from the old state.
fn mirror_update_matrix(target: Target) {
    let upstream = Upstream::start();
    let root = upstream.registry.root.join("warm");
    let warm = upstream.new_home(&root);
    let mirror = root.join("mirror");
    assert_ok(&mirror_create(&warm, &mirror, &upstream.url()));
    // An update with nothing new leaves the mirror's lock file, as any
    // update does: the trees compared below start with it.
    assert_ok(&market(&warm, &["mirror", "update", mirror.to_str().unwrap()]));
    upstream.publish_new_version();
    if target == Target::Archive {
        assert_ok(&upstream.market(&warm, &["sync", PACKAGE]));
    }
    let command = Command {
        name: "mirror update",
        prepare: &|dir| {
            vec![
                copy_tree(&warm, &dir.join("home")),
                copy_tree(&mirror, &dir.join("mirror")),
            ]
        },
        run: &|dir| {
            let mirror = dir.join("mirror");
            market(&dir.join("home"), &["mirror", "update", mirror.to_str().unwrap()])
        },
        check: &|dir| check_mirror(&dir.join("home"), &dir.join("mirror")),
    };
    run_matrix(&upstream, &command, target);
}

#[test]
fn mirror_update_faces_every_fault_on_an_index_file() {
    mirror_update_matrix(Target::IndexFile);
}

#[test]
fn mirror_update_faces_every_fault_on_an_archive() {
    mirror_update_matrix(Target::Archive);
}
