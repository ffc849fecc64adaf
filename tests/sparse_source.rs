//! `SparseSource` against real servers on 127.0.0.1: nginx for ETag /
//! Last-Modified revalidation, the fault-injecting server for retries, and
//! no server at all for offline mode.
//!
//! The oracle for what a closure must fetch is an independent walk of the
//! served files (plain `serde_json::Value`s, its own shard rule), and the
//! oracle for content is the served files read from disk.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ggen_marketplace::sources::http::{self, HttpError, HttpLimits, RetryPolicy, Validators};
use ggen_marketplace::sources::sparse::{PrefetchReport, SparseOptions, SparseSource};
use ggen_marketplace::sources::{PackageSource, SourceError};
use ggen_marketplace::util::progress::NoProgress;
use serde_json::{Value, json};
use support::servers::{AccessLogLine, CORPUS_FULL_COMMIT, Fault, FaultPlan, FaultyServer, StaticServer, write_file};

// ---------------------------------------------------------------------------
// Oracles and fixtures
// ---------------------------------------------------------------------------

/// Cargo's shard rule, written out again so the tests do not trust ours.
fn shard_path(name: &str) -> String {
    let n = name.to_lowercase();
    match n.len() {
        1 => format!("1/{n}"),
        2 => format!("2/{n}"),
        3 => format!("3/{}/{n}", &n[..1]),
        _ => format!("{}/{}/{n}", &n[..2], &n[2..4]),
    }
}

/// The spellings of `name` with each `-`/`_` swapped either way.
fn spellings(name: &str) -> Vec<String> {
    let lower = name.to_lowercase();
    let mut all = vec![lower.clone()];
    let separators: Vec<usize> = lower.match_indices(['-', '_']).map(|(i, _)| i).collect();
    for mask in 0..(1u32 << separators.len().min(4)) {
        let mut bytes = lower.clone().into_bytes();
        for (bit, &i) in separators.iter().enumerate().take(4) {
            bytes[i] = if mask & (1 << bit) != 0 { b'_' } else { b'-' };
        }
        let spelled = String::from_utf8(bytes).unwrap();
        if !all.contains(&spelled) {
            all.push(spelled);
        }
    }
    all
}

/// What a closure fetch of `roots` from the index at `root` must find: the
/// files (index path → content) and the names with no file.
struct Closure {
    files: BTreeMap<String, String>,
    not_found: BTreeSet<String>,
}

fn expected_closure(root: &Path, roots: &[&str]) -> Closure {
    closure_by_reading(|path| std::fs::read_to_string(root.join(path)).ok(), roots)
}

/// The closure walk itself, reading files through `read` (index path →
/// content, `None` if there is no such file).
fn closure_by_reading(mut read: impl FnMut(&str) -> Option<String>, roots: &[&str]) -> Closure {
    let mut files = BTreeMap::new();
    let mut not_found = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut queue: Vec<String> = roots.iter().map(|s| s.to_string()).collect();
    while let Some(name) = queue.pop() {
        if !seen.insert(name.to_lowercase()) {
            continue;
        }
        let found = spellings(&name).into_iter().map(|s| shard_path(&s)).find_map(|path| {
            let text = read(&path)?;
            Some((path, text))
        });
        let Some((path, text)) = found else {
            not_found.insert(name);
            continue;
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let entry: Value = serde_json::from_str(line).unwrap();
            for dep in entry["deps"].as_array().into_iter().flatten() {
                let dev = dep["kind"].as_str() == Some("dev");
                let foreign = dep.get("registry").is_some_and(|r| !r.is_null());
                if !dev && !foreign {
                    let real = dep.get("package").and_then(Value::as_str);
                    queue.push(real.unwrap_or_else(|| dep["name"].as_str().unwrap()).to_string());
                }
            }
        }
        files.insert(path, text);
    }
    Closure { files, not_found }
}

fn dep(name: &str, kind: &str) -> Value {
    json!({"name": name, "req": "^1", "features": [], "optional": false, "default_features": true, "target": null, "kind": kind})
}

fn line(name: &str, vers: &str, deps: Vec<Value>) -> String {
    let cksum = "0".repeat(64);
    json!({"name": name, "vers": vers, "deps": deps, "cksum": cksum, "features": {}, "yanked": false}).to_string()
}

fn publish(root: &Path, name: &str, lines: &[String]) -> PathBuf {
    write_file(root, &shard_path(name), lines.join("\n") + "\n")
}

/// A small index exercising every rule of the closure: normal, build and
/// dev dependencies, a rename, a dependency from another registry, a
/// dependency only an old version has, a cycle, a name spelled with `-`
/// whose file uses `_`, and a name that does not exist.
fn small_index(root: &Path) {
    write_file(root, "config.json", r#"{"dl":"archives/{crate}-{version}.tar.gz"}"#);
    let mut alias = dep("alias", "normal");
    alias["package"] = json!("real-pkg");
    let mut foreign = dep("elsewhere", "normal");
    foreign["registry"] = json!("https://other.example/index");
    publish(
        root,
        "app",
        &[
            line("app", "0.9.0", vec![dep("old-dep", "normal")]),
            line(
                "app",
                "1.0.0",
                vec![
                    dep("lib-a", "normal"),
                    dep("build-tool", "build"),
                    dep("test-only", "dev"),
                    alias,
                    foreign,
                    dep("under-score", "normal"),
                    dep("ghost", "normal"),
                ],
            ),
        ],
    );
    publish(
        root,
        "lib-a",
        &[line(
            "lib-a",
            "1.0.0",
            vec![dep("shared", "normal"), dep("app", "normal")],
        )],
    );
    publish(
        root,
        "build-tool",
        &[line("build-tool", "1.0.0", vec![dep("shared", "normal")])],
    );
    publish(
        root,
        "test-only",
        &[line("test-only", "1.0.0", vec![dep("dev-only-dep", "normal")])],
    );
    for leaf in [
        "real-pkg",
        "elsewhere",
        "old-dep",
        "shared",
        "dev-only-dep",
        "under_score",
        "newcomer",
    ] {
        publish(root, leaf, &[line(leaf, "1.0.0", vec![])]);
    }
}

fn fast_options(max_connections: usize) -> SparseOptions {
    SparseOptions {
        max_connections,
        limits: HttpLimits {
            retry: RetryPolicy {
                max_tries: 3,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
            },
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(10),
            ..HttpLimits::default()
        },
    }
}

fn open(url: &str, cache: &Path, offline: bool, options: SparseOptions) -> SparseSource {
    SparseSource::open(&format!("sparse+{url}"), cache, offline, options).unwrap()
}

fn prefetch(source: &SparseSource, roots: &[&str]) -> PrefetchReport {
    let roots: Vec<String> = roots.iter().map(|s| s.to_string()).collect();
    source.prefetch_closure(&roots, &NoProgress).unwrap()
}

/// The log lines after the first `skip`, once `count` more have arrived.
fn new_log_lines(server: &StaticServer, skip: usize, count: u64) -> Vec<AccessLogLine> {
    let lines = server.wait_for_access_log_lines(skip + count as usize);
    lines[skip..].to_vec()
}

fn paths_with_status(lines: &[AccessLogLine], status: u16) -> BTreeSet<String> {
    lines
        .iter()
        .filter(|l| l.status == status)
        .map(|l| l.path.trim_start_matches('/').to_string())
        .collect()
}

/// Asserts that the source returns exactly the served files.
fn assert_files_equal(source: &SparseSource, expected: &BTreeMap<String, String>) {
    for (path, text) in expected {
        let name = path.rsplit('/').next().unwrap();
        assert_eq!(
            source.read_package_file(name).unwrap().as_deref(),
            Some(text.as_str()),
            "{path}"
        );
    }
}

/// A port with a listener that accepts nothing: any connection attempt to
/// it would be queued and visible.
fn silent_port() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn assert_no_connection_attempted(listener: &TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("offline mode connected from {peer}"),
        Err(e) => panic!("accept failed: {e}"),
    }
}

// ---------------------------------------------------------------------------
// nginx: closure, revalidation, changes, missing packages
// ---------------------------------------------------------------------------

#[test]
fn closure_fetch_revalidation_and_changes_against_nginx() {
    let served = tempfile::tempdir().unwrap();
    small_index(served.path());
    let server = StaticServer::start(served.path());
    let cache = tempfile::tempdir().unwrap();

    // Cold: every file of the closure is fetched once, and nothing else.
    let expected = expected_closure(served.path(), &["app"]);
    let source = open(&server.url(), cache.path(), false, fast_options(4));
    let report = prefetch(&source, &["app"]);
    let lines = new_log_lines(&server, 0, report.requests);
    assert_eq!(lines.len() as u64, report.requests, "{lines:#?}");
    let mut fetched: BTreeSet<String> = expected.files.keys().cloned().collect();
    fetched.insert("config.json".into());
    assert_eq!(paths_with_status(&lines, 200), fetched);
    assert_eq!(report.fetched as usize, fetched.len());
    assert_eq!(report.packages, expected.files.len());
    assert_eq!(report.not_found, expected.not_found.iter().cloned().collect::<Vec<_>>());
    assert_eq!(report.not_found, ["ghost"], "the fixture has one missing name");
    // `under-score` is tried as spelled first, then found as `under_score`.
    assert_eq!(
        paths_with_status(&lines, 404),
        BTreeSet::from(["gh/os/ghost".to_string(), "un/de/under-score".to_string()])
    );
    for never in [
        "te/st/test-only",
        "de/v-/dev-only-dep",
        "el/se/elsewhere",
        "al/ia/alias",
    ] {
        assert!(lines.iter().all(|l| !l.path.ends_with(never)), "{never} was requested");
    }
    assert!(
        lines.iter().all(|l| !l.path.starts_with("/_keys/")),
        "no signatures, no owner keys"
    );
    let mut per_path = BTreeMap::new();
    for line in &lines {
        *per_path.entry(&line.path).or_insert(0) += 1;
    }
    assert!(per_path.values().all(|&n| n == 1), "a file fetched twice: {per_path:?}");
    let connections: BTreeSet<u64> = lines.iter().map(|l| l.connection).collect();
    assert!(connections.len() <= 4, "{connections:?}");

    // The answers are the served files, from memory: no more requests.
    assert_files_equal(&source, &expected.files);
    assert_eq!(source.read_package_file("ghost").unwrap(), None);
    assert_eq!(source.entries("under-score").unwrap().unwrap()[0].name, "under_score");
    assert_eq!(source.requests_sent(), report.requests);
    assert_eq!(server.access_log_lines().len(), lines.len());

    // Warm, in a new process: every file revalidated with a 304.
    let seen = server.access_log_lines().len();
    let warm = open(&server.url(), cache.path(), false, fast_options(4));
    let report = prefetch(&warm, &["app"]);
    let lines = new_log_lines(&server, seen, report.requests);
    assert_eq!(paths_with_status(&lines, 304), fetched);
    assert!(paths_with_status(&lines, 200).is_empty(), "{lines:#?}");
    assert_eq!(report.not_modified as usize, fetched.len());
    assert_eq!(report.fetched, 0);
    assert_files_equal(&warm, &expected.files);

    // A published version changes one file and adds a dependency: that file
    // is refetched, the new dependency fetched, the rest revalidated.
    let shared = shard_path("shared");
    let mut text = std::fs::read_to_string(served.path().join(&shared)).unwrap();
    text.push_str(&line("shared", "1.1.0", vec![dep("newcomer", "normal")]));
    text.push('\n');
    write_file(served.path(), &shared, &text);
    let expected = expected_closure(served.path(), &["app"]);
    let seen = server.access_log_lines().len();
    let changed = open(&server.url(), cache.path(), false, fast_options(4));
    let report = prefetch(&changed, &["app"]);
    let lines = new_log_lines(&server, seen, report.requests);
    assert_eq!(
        paths_with_status(&lines, 200),
        BTreeSet::from([shared.clone(), shard_path("newcomer")])
    );
    assert_eq!(changed.read_package_file("shared").unwrap().unwrap(), text);
    assert_files_equal(&changed, &expected.files);

    // Offline, the cache answers everything the closure needs, and knows
    // that `ghost` does not exist, without a socket.
    let offline = open(&server.url(), cache.path(), true, fast_options(4));
    let seen = server.access_log_lines().len();
    let report = prefetch(&offline, &["app"]);
    assert_eq!(report.requests, 0);
    assert_eq!(report.not_found, ["ghost"]);
    assert_files_equal(&offline, &expected.files);
    assert_eq!(offline.read_package_file("ghost").unwrap(), None);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.access_log_lines().len(), seen);
    let mut cached = offline.cached_package_names().unwrap();
    cached.sort();
    let mut want: Vec<String> = expected
        .files
        .keys()
        .map(|p| p.rsplit('/').next().unwrap().to_string())
        .collect();
    want.sort();
    assert_eq!(cached, want);
}

#[test]
fn update_revalidates_the_cache_and_notices_changes_and_removals() {
    let served = tempfile::tempdir().unwrap();
    small_index(served.path());
    let server = StaticServer::start(served.path());
    let cache = tempfile::tempdir().unwrap();
    let first = open(&server.url(), cache.path(), false, fast_options(4));
    prefetch(&first, &["app"]);

    let unchanged = open(&server.url(), cache.path(), false, fast_options(4))
        .update(&NoProgress)
        .unwrap();
    assert!(!unchanged.changed, "{}", unchanged.summary);

    let text = line("lib-a", "1.0.0", vec![]) + "\n" + &line("lib-a", "2.0.0", vec![]) + "\n";
    write_file(served.path(), &shard_path("lib-a"), &text);
    std::fs::remove_file(served.path().join(shard_path("old-dep"))).unwrap();
    let seen = server.access_log_lines().len();
    let updated = open(&server.url(), cache.path(), false, fast_options(4));
    let report = updated.update(&NoProgress).unwrap();
    assert!(report.changed);
    assert!(report.summary.contains("1 changed, 1 removed"), "{}", report.summary);
    let lines = server.wait_for_access_log_lines(seen + 1)[seen..].to_vec();
    // Every cached file — present or known missing — was asked about once.
    let asked: BTreeSet<&str> = lines.iter().map(|l| l.path.as_str()).collect();
    assert_eq!(asked.len(), lines.len());
    assert!(
        asked.contains("/gh/os/ghost") && asked.contains("/config.json"),
        "{asked:?}"
    );

    let offline = open(&server.url(), cache.path(), true, fast_options(4));
    assert_eq!(offline.read_package_file("lib-a").unwrap().unwrap(), text);
    assert_eq!(offline.read_package_file("old-dep").unwrap(), None);
}

#[test]
fn owner_keys_are_fetched_where_signatures_are_in_use() {
    let served = tempfile::tempdir().unwrap();
    small_index(served.path());
    // One signed version, with its owner-keys file.
    let lib_a = shard_path("lib-a");
    let mut signed: Value = serde_json::from_str(&line("lib-a", "1.1.0", vec![])).unwrap();
    signed["sig"] = json!("untrusted comment: signature\nRUQ...");
    let text = std::fs::read_to_string(served.path().join(&lib_a)).unwrap() + &signed.to_string() + "\n";
    write_file(served.path(), &lib_a, text);
    let owners = r#"{"key":"RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"}"#.to_string() + "\n";
    write_file(served.path(), &format!("_keys/{lib_a}"), &owners);
    let expected = expected_closure(served.path(), &["app"]);

    let server = StaticServer::start(served.path());
    let cache = tempfile::tempdir().unwrap();
    let source = open(&server.url(), cache.path(), false, fast_options(4));
    let report = prefetch(&source, &["app"]);
    let lines = new_log_lines(&server, 0, report.requests);
    let keys: Vec<&str> = lines
        .iter()
        .map(|l| l.path.as_str())
        .filter(|p| p.starts_with("/_keys/"))
        .collect();
    assert_eq!(keys, [format!("/_keys/{lib_a}")], "only the signed package's owners");
    let offline = open(&server.url(), cache.path(), true, fast_options(4));
    assert_eq!(
        offline.read_index_file(&format!("_keys/{lib_a}")).unwrap().as_deref(),
        Some(owners.as_str())
    );

    // An index with keys of its own: every package's owners are looked up
    // (most are 404s, remembered as such).
    write_file(
        served.path(),
        "config.json",
        r#"{"dl":"archives/{crate}-{version}.tar.gz","keys":["RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"]}"#,
    );
    let seen = server.access_log_lines().len();
    let keyed = open(&server.url(), cache.path(), false, fast_options(4));
    let report = prefetch(&keyed, &["app"]);
    let lines = new_log_lines(&server, seen, report.requests);
    let keys: BTreeSet<String> = lines
        .iter()
        .filter_map(|l| l.path.strip_prefix("/_keys/"))
        .map(str::to_owned)
        .collect();
    let packages: BTreeSet<String> = expected.files.keys().cloned().collect();
    assert_eq!(keys, packages);
    let offline = open(&server.url(), cache.path(), true, fast_options(4));
    assert_eq!(
        offline
            .read_index_file(&format!("_keys/{}", shard_path("shared")))
            .unwrap(),
        None
    );

    // Updating revalidates owner-keys files like any other.
    let owners = owners + r#"{"key":"RWTsecondkeysecondkeysecondkeysecondkeysecondkeysecond"}"# + "\n";
    write_file(served.path(), &format!("_keys/{lib_a}"), &owners);
    let report = open(&server.url(), cache.path(), false, fast_options(4))
        .update(&NoProgress)
        .unwrap();
    assert!(report.summary.contains("1 changed"), "{}", report.summary);
    let offline = open(&server.url(), cache.path(), true, fast_options(4));
    assert_eq!(
        offline.read_index_file(&format!("_keys/{lib_a}")).unwrap().as_deref(),
        Some(owners.as_str())
    );
}

#[test]
fn answers_without_content_keep_the_connection() {
    let served = tempfile::tempdir().unwrap();
    small_index(served.path());
    let server = StaticServer::start(served.path());
    let cache = tempfile::tempdir().unwrap();
    let source = open(&server.url(), cache.path(), false, fast_options(1));
    let missing: Vec<String> = (0..8).map(|i| format!("absent{i}")).collect();
    for name in &missing {
        assert_eq!(source.read_package_file(name).unwrap(), None);
    }
    // A second process revalidates: 304s, and 404s again.
    let again = open(&server.url(), cache.path(), false, fast_options(1));
    for name in missing.iter().chain(&["shared".to_string()]) {
        again.read_package_file(name).unwrap();
    }
    let lines = server.wait_for_access_log_lines(1 + 8 + 1 + 9);
    let statuses: BTreeSet<u16> = lines.iter().map(|l| l.status).collect();
    assert_eq!(statuses, BTreeSet::from([200, 304, 404]), "{lines:#?}");
    let per_source = |range: std::ops::Range<usize>| lines[range].iter().map(|l| l.connection).collect::<BTreeSet<_>>();
    assert_eq!(
        per_source(0..9).len(),
        1,
        "one connection for config.json and eight 404s"
    );
    assert_eq!(per_source(9..19).len(), 1, "one connection for the second source");
}

#[test]
fn a_url_that_is_not_an_index_says_so() {
    let served = tempfile::tempdir().unwrap();
    write_file(served.path(), "se/rd/serde", line("serde", "1.0.0", vec![]));
    let server = StaticServer::start(served.path());
    let cache = tempfile::tempdir().unwrap();
    let source = open(&server.url(), cache.path(), false, fast_options(2));
    let error = source.read_package_file("serde").unwrap_err();
    assert!(matches!(error, SourceError::NoConfig { .. }), "{error}");
    assert!(error.to_string().contains(&server.url()), "{error}");
}

// ---------------------------------------------------------------------------
// The real corpus
// ---------------------------------------------------------------------------

/// Reads files of one corpus commit straight from the bare repository
/// (`git cat-file --batch`), so a test can serve a slice of the 31,839
/// packages without checking them all out.
struct CorpusReader {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::io::BufReader<std::process::ChildStdout>,
}

impl CorpusReader {
    fn open(bare: &Path) -> CorpusReader {
        use std::process::Stdio;
        let mut child = support::servers::git_command(bare)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = std::io::BufReader::new(child.stdout.take().unwrap());
        CorpusReader { child, input, output }
    }

    /// The file at `path` in the full 2019 registry, if there is one.
    fn read(&mut self, path: &str) -> Option<String> {
        use std::io::{BufRead, Read, Write};
        writeln!(self.input, "{CORPUS_FULL_COMMIT}:{path}").unwrap();
        self.input.flush().unwrap();
        let mut header = String::new();
        self.output.read_line(&mut header).unwrap();
        let size: usize = match header.trim_end().rsplit_once(' ') {
            Some((_, size)) if header.contains(" blob ") => size.parse().unwrap(),
            _ => return None,
        };
        let mut content = vec![0; size + 1];
        self.output.read_exact(&mut content).unwrap();
        content.pop();
        Some(String::from_utf8(content).unwrap())
    }
}

impl Drop for CorpusReader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn closure_of_real_crates_matches_the_served_corpus() {
    let tmp = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("tar")
        .arg("--no-same-owner")
        .arg("-xf")
        .arg(support::servers::corpus_tar())
        .arg("-C")
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(status.success());
    let mut corpus = CorpusReader::open(&tmp.path().join("crates-io-index-2019.git"));

    // Serve the closure of three real crates, plus config.json and a few
    // packages outside it that must not be fetched.
    let roots = ["serde_json", "regex", "Inflector"];
    let expected = closure_by_reading(|path| corpus.read(path), &roots);
    assert!(expected.files.len() > 100, "a real closure: {}", expected.files.len());
    let served = tmp.path().join("served");
    write_file(&served, "config.json", corpus.read("config.json").unwrap());
    for (path, text) in &expected.files {
        write_file(&served, path, text);
    }
    let outsiders: Vec<String> = [
        "rocket",
        "diesel",
        "ggez",
        "amethyst",
        "piston",
        "gtk",
        "sdl2",
        "actix-web",
    ]
    .map(shard_path)
    .into_iter()
    .filter(|path| !expected.files.contains_key(path))
    .collect();
    assert!(outsiders.len() >= 3, "{outsiders:?}");
    for path in &outsiders {
        write_file(&served, path, corpus.read(path).unwrap());
    }
    let server = StaticServer::start(&served);
    let cache = tempfile::tempdir().unwrap();

    let source = open(&server.url(), cache.path(), false, SparseOptions::default());
    let report = prefetch(&source, &roots);
    assert_eq!(report.packages, expected.files.len());
    assert_eq!(report.not_found, expected.not_found.iter().cloned().collect::<Vec<_>>());
    assert_files_equal(&source, &expected.files);
    // Every line of the real files parses, through the source.
    for (path, text) in &expected.files {
        let name = path.rsplit('/').next().unwrap();
        let entries = source.entries(name).unwrap().unwrap();
        assert_eq!(entries.len(), text.lines().count(), "{path}");
    }
    let lines = server.wait_for_access_log_lines(report.requests as usize);
    assert_eq!(lines.len() as u64, report.requests);
    for outsider in &outsiders {
        assert!(
            lines.iter().all(|l| !l.path.ends_with(outsider.as_str())),
            "{outsider} fetched"
        );
    }
    let connections: BTreeSet<u64> = lines.iter().map(|l| l.connection).collect();
    assert!(
        connections.len() <= SparseOptions::default().max_connections,
        "{} connections for {} requests",
        connections.len(),
        lines.len()
    );
}

// ---------------------------------------------------------------------------
// Faults: retries, give-ups that keep the cache good, timeouts
// ---------------------------------------------------------------------------

#[test]
fn transient_faults_below_the_retry_limit_are_recovered() {
    let served = tempfile::tempdir().unwrap();
    small_index(served.path());
    let expected = expected_closure(served.path(), &["app"]);
    for fault in [Fault::Status503, Fault::DropConnection, Fault::TruncateBody] {
        // Two faults per file, three tries allowed.
        let server = FaultyServer::start(served.path(), FaultPlan::first(2, fault.clone()));
        let cache = tempfile::tempdir().unwrap();
        let source = open(&server.url(), cache.path(), false, fast_options(4));
        let report = prefetch(&source, &["app"]);
        assert_files_equal(&source, &expected.files);
        for path in expected.files.keys() {
            assert_eq!(server.request_count(&format!("/{path}")), 3, "{fault:?} {path}");
        }
        assert_eq!(report.requests as usize, server.total_requests(), "{fault:?}");
        // What was cached is whole: offline reads give the served files.
        let offline = open(&server.url(), cache.path(), true, fast_options(4));
        assert_files_equal(&offline, &expected.files);
    }
}

#[test]
fn persistent_faults_fail_naming_the_url_and_keep_the_good_copy() {
    let served = tempfile::tempdir().unwrap();
    small_index(served.path());
    let path = shard_path("shared");
    for (round, fault) in [Fault::TruncateBody, Fault::Status503, Fault::DropConnection]
        .into_iter()
        .enumerate()
    {
        let server = FaultyServer::start(served.path(), FaultPlan::none());
        let cache = tempfile::tempdir().unwrap();
        let good = std::fs::read_to_string(served.path().join(&path)).unwrap();
        let first = open(&server.url(), cache.path(), false, fast_options(4));
        assert_eq!(first.read_package_file("shared").unwrap().unwrap(), good);

        // The file changes on the server, so a refetch would be a 200 —
        // but every answer breaks off.
        let version = format!("2.0.{round}");
        write_file(
            served.path(),
            &path,
            good.clone() + &line("shared", &version, vec![]) + "\n",
        );
        server.set_plan(FaultPlan::always(fault.clone()).only_under("/sh/"));
        let source = open(&server.url(), cache.path(), false, fast_options(4));
        let error = source.read_package_file("shared").unwrap_err();
        let text = error.to_string();
        let url = format!("{}{path}", server.url());
        assert!(text.contains(&url) && text.contains("3 time"), "{fault:?}: {text}");
        assert!(
            matches!(&error, SourceError::Http(HttpError::GaveUp { tries: 3, .. })),
            "{error:?}"
        );
        assert_eq!(server.request_count(&format!("/{path}")), 1 + 3, "{fault:?}");

        let offline = open(&server.url(), cache.path(), true, fast_options(4));
        assert_eq!(offline.read_package_file("shared").unwrap().unwrap(), good, "{fault:?}");
    }
}

#[test]
fn a_slow_answer_times_out_and_is_retried() {
    let served = tempfile::tempdir().unwrap();
    small_index(served.path());
    let server = FaultyServer::start(
        served.path(),
        FaultPlan::first(1, Fault::Delay(Duration::from_secs(3))).only_under("/sh/"),
    );
    let cache = tempfile::tempdir().unwrap();
    let mut options = fast_options(2);
    options.limits.read_timeout = Duration::from_millis(300);
    let source = open(&server.url(), cache.path(), false, options);
    let start = std::time::Instant::now();
    let text = source.read_package_file("shared").unwrap().unwrap();
    assert_eq!(
        text,
        std::fs::read_to_string(served.path().join(shard_path("shared"))).unwrap()
    );
    assert_eq!(server.request_count("/sh/ar/shared"), 2);
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
}

#[test]
fn connection_refused_is_retried_then_reported() {
    let port = support::servers::free_port();
    let url = format!("http://127.0.0.1:{port}/config.json");
    let limits = HttpLimits {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        ..HttpLimits::default()
    };
    let agent = http::new_agent(1, &limits);
    let policy = RetryPolicy {
        max_tries: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
    };
    let error =
        http::get_with_retries(&agent, &url, &Validators::default(), &policy, limits.index_file_cap()).unwrap_err();
    assert!(matches!(error, HttpError::GaveUp { tries: 2, .. }), "{error:?}");
    assert!(error.to_string().contains(&url), "{error}");
}

#[test]
fn client_errors_fail_at_once_with_the_status() {
    let server = FixedStatusServer::start(403);
    let cache = tempfile::tempdir().unwrap();
    let source = open(&server.url(), cache.path(), false, fast_options(2));
    let error = source.config().unwrap_err();
    let text = error.to_string();
    assert!(text.contains("403 Forbidden") && text.contains(&server.url()), "{text}");
    assert_eq!(server.requests(), 1, "no retry");
    assert_eq!(source.requests_sent(), 1);
}

/// Answers every request with one status and an empty body, counting them.
struct FixedStatusServer {
    port: u16,
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FixedStatusServer {
    fn start(status: u16) -> FixedStatusServer {
        use std::io::{BufRead, BufReader, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                // Read the request head, then answer and close.
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        FixedStatusServer { port, count }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn requests(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------
// Offline: no socket at all
// ---------------------------------------------------------------------------

#[test]
fn offline_never_opens_a_socket() {
    let (listener, port) = silent_port();
    let url = format!("http://127.0.0.1:{port}/");
    let cache = tempfile::tempdir().unwrap();
    let source = open(&url, cache.path(), true, SparseOptions::default());

    let error = source.read_package_file("serde").unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, SourceError::Offline { .. }), "{error:?}");
    assert!(
        text.contains("`serde`") && text.contains("ggen-market sync serde"),
        "{text}"
    );
    assert!(matches!(source.config().unwrap_err(), SourceError::Offline { .. }));
    let error = source
        .prefetch_closure(&["serde".to_string()], &NoProgress)
        .unwrap_err();
    assert!(matches!(error, SourceError::Offline { .. }), "{error:?}");
    assert!(!source.update(&NoProgress).unwrap().changed);
    assert_eq!(source.cached_package_names().unwrap(), Vec::<String>::new());

    assert_eq!(source.requests_sent(), 0);
    assert_no_connection_attempted(&listener);
}

#[test]
fn two_sources_filling_one_cache_at_once_leave_it_whole() {
    let served = tempfile::tempdir().unwrap();
    small_index(served.path());
    let expected = expected_closure(served.path(), &["app"]);
    let server = StaticServer::start(served.path());
    let cache = tempfile::tempdir().unwrap();
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                let source = open(&server.url(), cache.path(), false, fast_options(4));
                prefetch(&source, &["app"]);
            });
        }
    });
    let offline = open(&server.url(), cache.path(), true, fast_options(4));
    assert_files_equal(&offline, &expected.files);
    let leftovers: Vec<_> = walk(cache.path())
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(ggen_marketplace::util::fs::TEMP_PREFIX)
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
