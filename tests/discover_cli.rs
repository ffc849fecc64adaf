//! `search`, `info` and `sync` through the real `ggen-market` binary, each
//! test with its own `GGEN_HOME`: the crates.io index snapshot of
//! shared/corpora served over git daemon, smart HTTP and nginx (sparse),
//! then read again with the servers gone; registry selection by flag,
//! environment and config.toml; the canonical message of one version.
//!
//! Oracles are independent of the toolkit: `git show` / `git diff` on the
//! served repository, the served files themselves, nginx's access log, and
//! `format::canonical` applied to the stored line.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ggen_marketplace::format::canonical::canonical_form;
use ggen_marketplace::format::name::index_path;
use serde_json::Value;
use support::servers::{
    AccessLogLine, CORPUS_BRANCH, CORPUS_FILTERED_COMMIT as NEW, CORPUS_FULL_COMMIT as OLD, GitDaemon, GitHttpServer,
    StaticServer, apply_git_env, git,
};
use tempfile::TempDir;

// ---------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------

/// What one run of `ggen-market` did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Stdout of a run that must have succeeded.
    fn ok(self) -> String {
        assert_eq!(self.code, Some(0), "expected success; stderr:\n{}", self.stderr);
        self.stdout
    }

    /// Stdout of a successful `--json` run, parsed.
    fn json(self) -> Value {
        let stdout = self.ok();
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
    }

    /// Stderr of a run that must have failed with exit code 1 and printed
    /// nothing on stdout.
    fn failed(self) -> String {
        assert_eq!(
            self.code,
            Some(1),
            "expected exit 1; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(self.stdout.is_empty(), "a failure printed on stdout: {}", self.stdout);
        self.stderr
    }
}

/// One user: a `GGEN_HOME` of their own and, optionally, a registry given
/// with `--registry`.
struct User {
    home: TempDir,
    registry: Option<String>,
}

impl User {
    fn new(registry: Option<&str>) -> User {
        User {
            home: tempfile::tempdir().unwrap(),
            registry: registry.map(str::to_owned),
        }
    }

    /// The isolated command of the support harness with our `GGEN_HOME`.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = support::fixture::command(self.home.path(), &[]);
        if let Some(registry) = &self.registry {
            command.arg("--registry").arg(registry);
        }
        command.args(args);
        command
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        let output = command.output().expect("run ggen-market");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }
}

// ---------------------------------------------------------------------------
// The corpus and the oracles computed from it with git
// ---------------------------------------------------------------------------

/// A private copy of the corpus (a bare repository) in a temp dir.
struct Corpus {
    dir: TempDir,
}

const CORPUS_REPO: &str = "crates-io-index-2019.git";

impl Corpus {
    /// Unpacks the corpus with its served branch at `commit`.
    fn serving(commit: &str) -> Corpus {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("tar")
            .arg("--no-same-owner")
            .arg("-xf")
            .arg(support::servers::corpus_tar())
            .arg("-C")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "unpacking the corpus failed");
        let corpus = Corpus { dir };
        corpus.serve(commit);
        corpus
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join(CORPUS_REPO)
    }

    /// Moves the branch a clone or fetch gets.
    fn serve(&self, commit: &str) {
        git(
            &self.repo(),
            &["update-ref", &format!("refs/heads/{CORPUS_BRANCH}"), commit],
        );
    }

    /// Package files of `commit` whose path starts with `prefix`.
    fn paths(&self, commit: &str, prefix: &str) -> Vec<String> {
        git(&self.repo(), &["ls-tree", "-r", "--name-only", "--full-tree", commit])
            .lines()
            .filter(|path| path.starts_with(prefix) && path.contains('/'))
            .map(str::to_owned)
            .collect()
    }

    /// Paths with status `status` (`A`, `D`, `M`) from OLD to NEW, sorted.
    fn changed(&self, status: &str) -> Vec<String> {
        git(&self.repo(), &["diff", "--no-renames", "--name-status", OLD, NEW])
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .filter(|(s, _)| *s == status)
            .map(|(_, path)| path.to_owned())
            .collect()
    }

    /// The contents of `paths` at `commit`, from one `git cat-file --batch`.
    fn read(&self, commit: &str, paths: &[String]) -> Vec<String> {
        let mut child = apply_git_env(&mut Command::new("git"))
            .arg("-C")
            .arg(self.repo())
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let requests: Vec<String> = paths.iter().map(|path| format!("{commit}:{path}")).collect();
        let feeder = std::thread::spawn(move || {
            for request in requests {
                writeln!(stdin, "{request}").unwrap();
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut files = Vec::new();
        for path in paths {
            let mut header = String::new();
            out.read_line(&mut header).unwrap();
            assert!(!header.ends_with("missing\n"), "{commit}:{path} is missing");
            let size: usize = header.trim_end().rsplit(' ').next().unwrap().parse().unwrap();
            let mut contents = vec![0; size + 1];
            out.read_exact(&mut contents).unwrap();
            contents.pop();
            files.push(String::from_utf8(contents).unwrap());
        }
        feeder.join().unwrap();
        assert!(child.wait().unwrap().success());
        files
    }

    fn file(&self, commit: &str, path: &str) -> String {
        self.read(commit, &[path.to_owned()]).remove(0)
    }

    /// What `sync ROOTS…` must fetch from a sparse index of `commit`,
    /// worked out from the files with git and serde_json alone: the files
    /// of the roots and, transitively, of the normal and build dependencies
    /// of every version (renamed ones under their real name; other
    /// registries' skipped), found the way Cargo looks names up (case
    /// ignored, `-` and `_` alike). Returns path → contents, and the
    /// names depended on that the index lacks.
    fn closure(&self, commit: &str, roots: &[&str]) -> (BTreeMap<String, String>, BTreeSet<String>) {
        let key = |name: &str| name.to_lowercase().replace('_', "-");
        let by_key: HashMap<String, String> = self
            .paths(commit, "")
            .into_iter()
            .map(|path| (key(file_name(&path)), path))
            .collect();
        let mut files = BTreeMap::new();
        let mut not_found = BTreeSet::new();
        let mut wanted: Vec<String> = roots.iter().map(|root| root.to_string()).collect();
        while !wanted.is_empty() {
            let mut paths = BTreeSet::new();
            for name in wanted.drain(..) {
                match by_key.get(&key(&name)) {
                    Some(path) if !files.contains_key(path) => {
                        paths.insert(path.clone());
                    }
                    Some(_) => {}
                    None => {
                        not_found.insert(name);
                    }
                }
            }
            let paths: Vec<String> = paths.into_iter().collect();
            for (path, text) in paths.iter().zip(self.read(commit, &paths)) {
                for line in lines_of(&text) {
                    for dep in line["deps"].as_array().unwrap() {
                        if dep["kind"] != "dev" && dep["registry"].is_null() {
                            let name = dep["package"].as_str().or(dep["name"].as_str()).unwrap();
                            wanted.push(name.to_owned());
                        }
                    }
                }
                files.insert(path.clone(), text);
            }
        }
        (files, not_found)
    }
}

/// One version as a package file states it: what `info --json` must show.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stated {
    version: String,
    yanked: bool,
    checksum: String,
}

/// Every line of a package file, parsed with serde_json alone.
fn lines_of(file: &str) -> Vec<Value> {
    file.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The versions of a package file, newest first (semver order).
fn stated_versions(file: &str) -> Vec<Stated> {
    let mut versions: Vec<(semver::Version, Stated)> = lines_of(file)
        .iter()
        .map(|line| {
            let version = line["vers"].as_str().unwrap().to_owned();
            let stated = Stated {
                version: version.clone(),
                yanked: line["yanked"].as_bool().unwrap_or(false),
                checksum: line["cksum"].as_str().unwrap().to_owned(),
            };
            (semver::Version::parse(&version).unwrap(), stated)
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, stated)| stated).collect()
}

/// The versions `info --json` printed.
fn shown_versions(info: &Value) -> Vec<Stated> {
    info["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Stated {
            version: v["version"].as_str().unwrap().to_owned(),
            yanked: v["yanked"].as_bool().unwrap(),
            checksum: v["checksum"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// A search hit as `search --json` shows it: name, version, how it matched.
type Hit = (String, String, String);

fn shown_hits(results: &Value) -> Vec<Hit> {
    results["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| {
            (
                hit["name"].as_str().unwrap().to_owned(),
                hit["version"].as_str().unwrap().to_owned(),
                hit["matched"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// What a search for `serde` must list first, worked out from the files:
/// every package named `serde` or `serde…` (`-` and `_` alike, case
/// ignored: all such files live in `se/rd/`), exact name first, then by
/// name ignoring case, each with its newest non-yanked version; packages
/// whose every version is yanked are left out. Also returns the rank,
/// among all name matches, of the first package left out that way.
fn serde_name_hits(corpus: &Corpus, commit: &str) -> (Vec<Hit>, usize) {
    let mut paths = corpus.paths(commit, "se/rd/serde");
    paths.sort();
    let files = corpus.read(commit, &paths);
    let mut hits = Vec::new();
    let mut first_hidden = None;
    for (rank, file) in files.iter().enumerate() {
        let newest = lines_of(file)
            .into_iter()
            .filter(|line| line["yanked"] != Value::Bool(true))
            .max_by_key(|line| semver::Version::parse(line["vers"].as_str().unwrap()).unwrap());
        let Some(newest) = newest else {
            first_hidden.get_or_insert(rank);
            continue;
        };
        let name = newest["name"].as_str().unwrap().to_owned();
        let kind = if name.eq_ignore_ascii_case("serde") {
            "exact_name"
        } else {
            "name_prefix"
        };
        hits.push((name, newest["vers"].as_str().unwrap().to_owned(), kind.to_owned()));
    }
    hits.sort_by_key(|(name, _, kind)| (kind != "exact_name", name.to_lowercase()));
    (
        hits,
        first_hidden.expect("the corpus has a fully yanked serde… package"),
    )
}

/// The name a package file path holds.
fn file_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

// ---------------------------------------------------------------------------
// A tripwire on a stopped server's port
// ---------------------------------------------------------------------------

/// Listens on the port a stopped server used and counts the connections
/// made to it (closing each at once, so a client fails fast instead of
/// hanging): proof of whether a command tried the network.
struct Tripwire {
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Tripwire {
    fn on(port: u16) -> Tripwire {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("the stopped server's port {port} was taken: {e}"));
        listener.set_nonblocking(true).unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (connections, stop) = (connections.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            connections.fetch_add(1, Ordering::Relaxed);
                            drop(stream);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Tripwire {
            connections,
            stop,
            thread: Some(thread),
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Tripwire {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

// ---------------------------------------------------------------------------
// 1 + 3. Git registries: clone, read, fetch, then read with the server gone
// ---------------------------------------------------------------------------

enum GitServer {
    Daemon(GitDaemon),
    SmartHttp(GitHttpServer),
}

impl GitServer {
    /// The registry URL a user gives for the corpus repository.
    fn registry_url(&self) -> String {
        match self {
            GitServer::Daemon(daemon) => daemon.repo_url(CORPUS_REPO),
            GitServer::SmartHttp(server) => format!("git+{}", server.repo_url(CORPUS_REPO)),
        }
    }

    fn port(&self) -> u16 {
        match self {
            GitServer::Daemon(daemon) => daemon.port(),
            GitServer::SmartHttp(server) => server.port(),
        }
    }
}

#[test]
fn git_registry_over_git_daemon() {
    git_registry_end_to_end(|corpus| GitServer::Daemon(GitDaemon::start(corpus.dir.path())));
}

#[test]
fn git_registry_over_smart_http() {
    git_registry_end_to_end(|corpus| GitServer::SmartHttp(GitHttpServer::start(corpus.dir.path(), false)));
}

/// Clones the full 2019 registry through `start`'s server, checks `info`
/// and `search` against git, moves the served branch to the filtered
/// commit, syncs, checks a removed, a modified and an unchanged package,
/// then stops the server and reads again, offline and online.
fn git_registry_end_to_end(start: impl FnOnce(&Corpus) -> GitServer) {
    let corpus = Corpus::serving(OLD);
    let server = start(&corpus);
    let url = server.registry_url();
    let user = User::new(Some(&url));

    // The first sync clones.
    let report = user.run(&["sync", "--json"]).json();
    assert_eq!(report["changed"], true, "{report}");
    assert_eq!(report["summary"], format!("cloned {}", &OLD[..10]), "{report}");

    // info lists exactly the versions of the file, newest first.
    let serde_file = corpus.file(OLD, "se/rd/serde");
    let info = user.run(&["info", "serde", "--json"]).json();
    assert_eq!(info["name"], "serde");
    let expected = stated_versions(&serde_file);
    assert!(expected.len() > 100, "serde had {} versions in 2019", expected.len());
    assert_eq!(shown_versions(&info), expected);

    // search: `serde` first as the exact name, then serde… names only.
    let (name_hits, first_hidden) = serde_name_hits(&corpus, OLD);
    let found = user.run(&["search", "serde", "--limit", "5", "--json"]).json();
    assert_eq!(found["complete"], true);
    assert_eq!(shown_hits(&found), name_hits[..5]);
    assert_eq!(name_hits[0].2, "exact_name");
    assert!(
        name_hits[1..5].iter().all(|(name, _, kind)| kind == "name_prefix"
            && name.to_lowercase().starts_with("serde")
            && name != "serde")
    );
    // A page whose name matches include a package with every version yanked
    // is still full: the next name match takes its place.
    let limit = (first_hidden + 1).to_string();
    let found = user.run(&["search", "serde", "--limit", &limit, "--json"]).json();
    assert_eq!(shown_hits(&found), name_hits[..=first_hidden]);
    // The human output starts with the exact match and its newest version.
    let human = user.run(&["search", "serde", "--limit", "5"]).ok();
    let first = human.lines().next().unwrap();
    assert_eq!(first, format!("serde = \"{}\"", name_hits[0].1), "{human}");
    assert_eq!(human.lines().count(), 5, "{human}");

    // Packages to follow across the fetch, chosen by git.
    let removed = corpus
        .changed("D")
        .into_iter()
        .next()
        .expect("a package removed by the filter");
    let removed_name = file_name(&removed).to_owned();
    let modified = corpus
        .changed("M")
        .into_iter()
        .find(|path| stated_versions(&corpus.file(OLD, path)) != stated_versions(&corpus.file(NEW, path)))
        .expect("a package whose versions changed");
    let modified_name = file_name(&modified).to_owned();
    let touched: BTreeSet<String> = git(&corpus.repo(), &["diff", "--name-only", OLD, NEW])
        .lines()
        .map(str::to_owned)
        .collect();
    let unchanged = corpus
        .paths(NEW, "se/rd/")
        .into_iter()
        .find(|path| !touched.contains(path))
        .expect("a package the filter left alone");
    let unchanged_name = file_name(&unchanged).to_owned();
    assert_eq!(
        shown_versions(&user.run(&["info", &removed_name, "--json"]).json()),
        stated_versions(&corpus.file(OLD, &removed))
    );
    let unchanged_before = user.run(&["info", &unchanged_name, "--json"]).ok();
    let modified_before = shown_versions(&user.run(&["info", &modified_name, "--json"]).json());
    assert_eq!(modified_before, stated_versions(&corpus.file(OLD, &modified)));

    // Move the served branch and fetch.
    corpus.serve(NEW);
    // The filter drops versions this client has seen: rollback protection
    // refuses it, the clone stays, until the rewrite is accepted.
    let refused = user.run(&["sync"]).failed();
    assert!(refused.contains("vanished") && refused.contains("--accept-upstream-rewrite"));
    let summary = user.run(&["sync", "--accept-upstream-rewrite"]).ok();
    let summary = summary.lines().last().unwrap_or_default().to_owned();
    // The summary names the registry (as its transport sees it) and the fetch.
    let summary = summary.trim_end();
    assert!(summary.contains(&format!("127.0.0.1:{}", server.port())), "{summary}");
    assert!(
        summary.ends_with(&format!(": fetched {}..{}", &OLD[..10], &NEW[..10])),
        "{summary}"
    );
    let error = user.run(&["info", &removed_name]).failed();
    assert!(
        error.contains(&format!("package `{removed_name}` does not exist")),
        "{error}"
    );
    assert_eq!(user.run(&["info", &unchanged_name, "--json"]).ok(), unchanged_before);
    assert_eq!(
        shown_versions(&user.run(&["info", &modified_name, "--json"]).json()),
        stated_versions(&corpus.file(NEW, &modified))
    );
    let report = user.run(&["sync", "--json"]).json();
    assert_eq!(report["changed"], false, "{report}");

    // What the user sees at NEW, to compare with the reads below.
    let info_new = user.run(&["info", "serde", "--json"]).ok();
    assert_eq!(
        shown_versions(&serde_json::from_str(&info_new).unwrap()),
        stated_versions(&corpus.file(NEW, "se/rd/serde"))
    );
    let search_new = user.run(&["search", "serde", "--limit", "5", "--json"]).ok();

    // Stop the server; anything that still connects to its port is counted.
    let port = server.port();
    drop(server);
    let tripwire = Tripwire::on(port);
    let offline = [("GGEN_OFFLINE", "1")];
    assert_eq!(user.run(&["--offline", "info", "serde", "--json"]).ok(), info_new);
    assert_eq!(user.run_with(&["info", "serde", "--json"], &offline).ok(), info_new);
    assert_eq!(
        user.run(&["--offline", "search", "serde", "--limit", "5", "--json"])
            .ok(),
        search_new
    );
    assert_eq!(
        user.run_with(&["search", "serde", "--limit", "5", "--json"], &offline)
            .ok(),
        search_new
    );
    // Online, a read still answers from the clone: reads never fetch.
    assert_eq!(user.run(&["info", "serde", "--json"]).ok(), info_new);
    assert_eq!(
        user.run(&["search", "serde", "--limit", "5", "--json"]).ok(),
        search_new
    );
    assert_eq!(tripwire.connections(), 0, "a read tried to reach the stopped server");
    // Offline, sync fetches nothing and says so, as on every transport.
    let said = user.run(&["--offline", "sync"]).ok();
    assert!(said.contains("offline: nothing fetched"), "{said}");
    assert_eq!(tripwire.connections(), 0, "an offline sync tried the network");
    // Only sync fetches, and it does try (the tripwire works) and says so.
    let error = user.run(&["sync"]).failed();
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(tripwire.connections() > 0, "sync never tried to reach the server");
}

// ---------------------------------------------------------------------------
// 2 + 3 + 5. A sparse registry served by nginx
// ---------------------------------------------------------------------------

/// The access log lines after the first `skip`, once `count` more exist.
fn new_log_lines(server: &StaticServer, skip: usize, count: u64) -> Vec<AccessLogLine> {
    let lines = server.wait_for_access_log_lines(skip + count as usize);
    lines[skip..].to_vec()
}

/// The length of the access log once it stops growing: nginx logs a
/// request just after answering it, so the lines of a command that has
/// exited may still be on their way.
fn settled_log_len(server: &StaticServer) -> usize {
    let mut len = server.access_log_lines().len();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = server.access_log_lines().len();
        if now == len {
            return len;
        }
        len = now;
    }
}

fn paths_with_status(lines: &[AccessLogLine], status: u16) -> BTreeSet<String> {
    lines
        .iter()
        .filter(|l| l.status == status)
        .map(|l| l.path.clone())
        .collect()
}

/// `sync NAME --json`, returning the report and the requests nginx logged
/// for it (the report counts every request, `config.json` included).
fn sync_closure(user: &User, server: &StaticServer, name: &str) -> (Value, Vec<AccessLogLine>) {
    let logged = settled_log_len(server);
    let report = user.run(&["sync", name, "--json"]).json();
    let requests = report["requests"].as_u64().unwrap();
    let lines = new_log_lines(server, logged, requests);
    assert_eq!(lines.len() as u64, requests, "{lines:#?}");
    (report, lines)
}

#[test]
fn sparse_registry_end_to_end() {
    let corpus = Corpus::serving(OLD);
    // nginx serves the real files of the closure of serde_json (about 600)
    // rather than all 31,839: on a busy CI disk, writing and deleting the
    // whole tree takes minutes. Anything else the client asked for would
    // be a 404, counted in the report's `not_found` or `missing`.
    let (closure, closure_not_found) = corpus.closure(OLD, &["serde_json"]);
    assert!(closure.len() > 100, "a real closure: {} files", closure.len());
    assert_eq!(closure_not_found, BTreeSet::new());
    let served_dir = tempfile::tempdir().unwrap();
    let served = served_dir.path();
    support::servers::write_file(served, "config.json", corpus.file(OLD, "config.json"));
    for (path, text) in &closure {
        support::servers::write_file(served, path, text);
    }
    let server = StaticServer::start(served);
    let url = format!("sparse+{}", server.url());
    let user = User::new(Some(&url));

    // The closure of serde_json, fetched: every file once, with a 200.
    let (report, first) = sync_closure(&user, &server, "serde_json");
    let packages = report["packages"].as_u64().unwrap();
    assert!(packages > 1, "{report}");
    assert_eq!(packages, closure.len() as u64, "{report}");
    assert_eq!(report["not_found"], serde_json::json!([]), "{report}");
    assert_eq!(report["fetched"], packages + 1, "the closure and config.json: {report}");
    assert_eq!(
        report["missing"], 0,
        "every dependency is spelled as its file: {report}"
    );
    // Exactly the files of the closure and config.json, each once, each a 200.
    let fetched = paths_with_status(&first, 200);
    let mut expected: BTreeSet<String> = closure.keys().map(|path| format!("/{path}")).collect();
    expected.insert("/config.json".to_owned());
    assert_eq!(fetched, expected);
    assert_eq!(first.len(), fetched.len(), "{first:#?}");

    let serde_json_file = std::fs::read_to_string(served.join(index_path("serde_json"))).unwrap();
    let info = user.run(&["info", "serde_json", "--json"]).ok();
    assert_eq!(
        shown_versions(&serde_json::from_str(&info).unwrap()),
        stated_versions(&serde_json_file)
    );

    // Again: every file revalidated, nothing downloaded.
    let (report, second) = sync_closure(&user, &server, "serde_json");
    assert_eq!(report["packages"], packages);
    assert_eq!(report["fetched"], 0, "{report}");
    assert_eq!(report["not_modified"], packages + 1, "{report}");
    assert_eq!(paths_with_status(&second, 200), BTreeSet::new(), "{second:#?}");
    assert_eq!(paths_with_status(&second, 304), fetched);
    assert_eq!(second.len(), fetched.len(), "only 304s: {second:#?}");

    // A new version appended to a package of the closure is fetched (200)
    // and shown.
    let itoa_path = index_path("itoa");
    assert!(
        fetched.contains(&format!("/{itoa_path}")),
        "itoa is in the closure of serde_json"
    );
    let itoa_file = served.join(&itoa_path);
    let text = std::fs::read_to_string(&itoa_file).unwrap();
    let mut added = lines_of(&text).pop().unwrap();
    added["vers"] = "99.0.0".into();
    added["yanked"] = false.into();
    std::fs::write(&itoa_file, format!("{text}{added}\n")).unwrap();
    let (report, third) = sync_closure(&user, &server, "serde_json");
    assert_eq!(report["fetched"], 1, "{report}");
    assert_eq!(
        paths_with_status(&third, 200),
        BTreeSet::from([format!("/{itoa_path}")])
    );
    assert_eq!(paths_with_status(&third, 304).len(), fetched.len() - 1);
    let itoa = user.run(&["info", "itoa", "--json"]).json();
    assert_eq!(itoa["versions"][0]["version"], "99.0.0");
    assert_eq!(
        shown_versions(&itoa),
        stated_versions(&std::fs::read_to_string(&itoa_file).unwrap())
    );

    // `sync` without names revalidates the whole cache: nothing changed.
    let report = user.run(&["sync", "--json"]).json();
    assert_eq!(report["changed"], false, "{report}");

    // Search looks through the cache only, and says so.
    let human = user.run(&["search", "serde"]).ok();
    assert!(
        human.starts_with("note: this registry cannot list its packages; searched only what is cached"),
        "{human}"
    );
    let search = user.run(&["search", "serde", "--json"]).ok();
    let found: Value = serde_json::from_str(&search).unwrap();
    assert_eq!(found["complete"], false);
    let hits = shown_hits(&found);
    assert_eq!(hits[0].0, "serde");
    assert_eq!(hits[0].2, "exact_name");
    assert!(hits.iter().any(|(name, _, _)| name == "serde_json"), "{hits:?}");
    for (name, _, _) in &hits {
        assert!(
            fetched.contains(&format!("/{}", index_path(name))),
            "{name} was never fetched"
        );
    }

    // The canonical message of real versions: format::canonical of the line.
    for line in [
        serde_json_file.lines().next().unwrap(),
        serde_json_file.lines().last().unwrap(),
    ] {
        let vers = serde_json::from_str::<Value>(line).unwrap()["vers"]
            .as_str()
            .unwrap()
            .to_owned();
        let printed = user.run(&["info", "--canonical", &format!("serde_json@{vers}")]).ok();
        assert_eq!(printed, canonical_form(line).unwrap());
    }

    // The server stops: offline reads answer from the cache, without a socket.
    let never_fetched = corpus
        .paths(OLD, "to/ki/")
        .into_iter()
        .find(|path| !fetched.contains(&format!("/{path}")))
        .map(|path| file_name(&path).to_owned())
        .expect("a package outside the closure");
    let port = server.port();
    drop(server);
    let tripwire = Tripwire::on(port);
    let offline = [("GGEN_OFFLINE", "1")];
    assert_eq!(user.run(&["--offline", "info", "serde_json", "--json"]).ok(), info);
    assert_eq!(user.run_with(&["info", "serde_json", "--json"], &offline).ok(), info);
    assert_eq!(user.run(&["--offline", "search", "serde", "--json"]).ok(), search);
    assert_eq!(user.run_with(&["search", "serde", "--json"], &offline).ok(), search);
    for run in [
        user.run(&["--offline", "info", &never_fetched]),
        user.run_with(&["info", &never_fetched], &offline),
    ] {
        let error = run.failed();
        assert!(error.contains(&format!("package `{never_fetched}`")), "{error}");
        assert!(
            error.contains(&format!("run `ggen-market sync {never_fetched}`")),
            "{error}"
        );
    }
    assert_eq!(tripwire.connections(), 0, "an offline read opened a socket");
}

// ---------------------------------------------------------------------------
// 4. Which registry answers
// ---------------------------------------------------------------------------

/// A plain-directory index holding one package, `probe`, at `version`.
fn tiny_index(root: &Path, version: &str) -> String {
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(
        root.join("config.json"),
        r#"{"dl":"archives/{crate}-{version}.tar.gz"}"#,
    )
    .unwrap();
    let file = root.join(index_path("probe"));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let line = serde_json::json!({"name": "probe", "vers": version, "deps": [], "cksum": "00", "features": {}});
    std::fs::write(file, format!("{line}\n")).unwrap();
    root.to_str().unwrap().to_owned()
}

/// The version of `probe` the registry chosen for this run shows.
fn answering_version(run: Run) -> String {
    run.json()["versions"][0]["version"].as_str().unwrap().to_owned()
}

#[test]
fn registry_choice_flag_over_environment_over_config() {
    let indexes = tempfile::tempdir().unwrap();
    let alpha = tiny_index(&indexes.path().join("alpha"), "1.0.0");
    let beta = tiny_index(&indexes.path().join("beta"), "2.0.0");
    let gamma = tiny_index(&indexes.path().join("gamma"), "3.0.0");
    let user = User::new(None);
    let info = ["info", "probe", "--json"];

    // Nothing configured: every registry command says how to choose one.
    let config_file = user.home.path().join("config.toml");
    let config_file = config_file.to_str().unwrap();
    for args in [&info[..], &["search", "probe"], &["sync"]] {
        let error = user.run(args).failed();
        let needed = [
            "--registry",
            "GGEN_REGISTRY",
            config_file,
            "default-registry",
            "examples/registry",
        ];
        for needed in needed {
            assert!(error.contains(needed), "{args:?}: no {needed} in {error}");
        }
    }

    // The config's default, by name.
    let config = format!(
        "default-registry = \"alpha\"\n[registries.alpha]\nurl = {alpha:?}\n[registries.beta]\nurl = {beta:?}\n"
    );
    std::fs::write(user.home.path().join("config.toml"), config).unwrap();
    assert_eq!(answering_version(user.run(&info)), "1.0.0");
    // GGEN_REGISTRY overrides it, by name or by path.
    assert_eq!(
        answering_version(user.run_with(&info, &[("GGEN_REGISTRY", "beta")])),
        "2.0.0"
    );
    assert_eq!(
        answering_version(user.run_with(&info, &[("GGEN_REGISTRY", &gamma)])),
        "3.0.0"
    );
    // --registry overrides both.
    let flag = |registry: &str| {
        let mut args = vec!["--registry", registry];
        args.extend(info);
        answering_version(user.run_with(&args, &[("GGEN_REGISTRY", "beta")]))
    };
    assert_eq!(flag(&gamma), "3.0.0");
    assert_eq!(flag("alpha"), "1.0.0");
    // A name that is neither configured nor a path is named in the error.
    let error = user.run(&["--registry", "delta", "info", "probe"]).failed();
    assert!(error.contains("delta"), "{error}");

    // default-registry may be a path too.
    std::fs::write(
        user.home.path().join("config.toml"),
        format!("default-registry = {gamma:?}\n"),
    )
    .unwrap();
    assert_eq!(answering_version(user.run(&info)), "3.0.0");
}

// ---------------------------------------------------------------------------
// 5. The canonical message
// ---------------------------------------------------------------------------

#[test]
fn canonical_message_is_the_canonical_form_of_the_stored_line() {
    let index = tempfile::tempdir().unwrap();
    let root = tiny_index(index.path(), "0.1.0");
    // Keys out of order, nested objects, an unknown field, non-ASCII text,
    // escapes, and the two fields the canonical form leaves out.
    let lines = [
        r#"{"vers":"1.0.0","name":"probe","yanked":false,"sig":"untrusted comment: x\nRWQ=","features":{"z":["a"],"b":[]},"deps":[{"req":"^1","name":"dep","kind":"normal","optional":false,"features":[],"default_features":true,"target":null}],"cksum":"ab","x-extra":{"b":1,"a":"\u00e9\t\"q\""},"description":"Ünïcødé ✓"}"#,
        r#"{"cksum":"cd","yanked":true,"vers":"1.1.0","name":"probe","deps":[],"features":{}}"#,
    ];
    let file = Path::new(&root).join(index_path("probe"));
    let mut text = std::fs::read_to_string(&file).unwrap();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(&file, text).unwrap();
    let user = User::new(Some(&root));
    for (line, spec) in lines.iter().zip(["probe@1.0.0", "probe@=1.1.0"]) {
        let expected = canonical_form(line).unwrap();
        assert_ne!(&expected, line, "the canonical form differs from the stored line");
        assert_eq!(user.run(&["info", "--canonical", spec]).ok(), expected, "{spec}");
    }
    let error = user.run(&["info", "--canonical", "probe@9.9.9"]).failed();
    assert!(error.contains("no version matching `=9.9.9`"), "{error}");
    let error = user.run(&["info", "--canonical", "probe"]).failed();
    assert!(error.contains("NAME@VERSION"), "{error}");
}

// ---------------------------------------------------------------------------
// Output into a closed pipe (`ggen-market info NAME | head`)
// ---------------------------------------------------------------------------

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    let index = tempfile::tempdir().unwrap();
    let root = tiny_index(index.path(), "0.0.1");
    // Far more output than a pipe buffers (64 KiB), so the command is still
    // writing when the reader goes away, however late that is.
    let lines: String = (1..=3000)
        .map(|minor| {
            let line = serde_json::json!({"name": "probe", "vers": format!("1.{minor}.0"), "deps": [],
                "cksum": "00", "features": {}});
            format!("{line}\n")
        })
        .collect();
    std::fs::write(Path::new(&root).join(index_path("probe")), lines).unwrap();
    let user = User::new(Some(&root));
    let mut child = user
        .command(&["info", "probe"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut start = [0; 5];
    stdout.read_exact(&mut start).unwrap();
    assert_eq!(&start, b"probe");
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.is_empty(), "{stderr}");
    assert!(
        !output.status.success(),
        "the output was cut short, so the command failed"
    );
}
