//! `GitSource` against real repositories and servers on 127.0.0.1: the
//! crates.io index snapshot of shared/corpora, cloned over each transport
//! (path, `file://`, `git://`, smart HTTP) and checked against `git` itself
//! (`git ls-tree`, `git cat-file`, `git rev-list`) as the oracle.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ggen_marketplace::sources::download::Downloader;
use ggen_marketplace::sources::git::GitSource;
use ggen_marketplace::sources::http::HttpLimits;
use ggen_marketplace::sources::{PackageSource, SourceError};
use ggen_marketplace::util::progress::{NoProgress, Progress};
use support::servers::{
    CORPUS_BRANCH, CORPUS_FILTERED_COMMIT as NEW, CORPUS_FULL_COMMIT as OLD, GitDaemon, GitHttpServer, apply_git_env,
};

/// Runs git in `dir` with the harness's isolated environment and returns
/// its stdout untrimmed (file contents keep their last newline).
fn git(dir: &Path, args: &[&str]) -> String {
    let output = apply_git_env(&mut Command::new("git"))
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A private copy of the corpus, served as it is: its default branch
/// (`master`) is what a clone gets.
struct Corpus {
    dir: tempfile::TempDir,
    repo: PathBuf,
}

impl Corpus {
    /// Unpacks the corpus (22 MB, well under a second) with its default
    /// branch at `commit`.
    fn serving(commit: &str) -> Corpus {
        let dir = tempfile::tempdir().unwrap();
        let repo = support::servers::unpack_corpus(dir.path());
        let corpus = Corpus { dir, repo };
        corpus.serve(commit);
        corpus
    }

    fn repo(&self) -> PathBuf {
        self.repo.clone()
    }

    /// Moves the served branch.
    fn serve(&self, commit: &str) {
        let branch = format!("refs/heads/{CORPUS_BRANCH}");
        git(&self.repo(), &["update-ref", &branch, &self.full_id(commit)]);
    }

    fn full_id(&self, commit: &str) -> String {
        git(&self.repo(), &["rev-parse", &format!("{commit}^{{commit}}")])
            .trim()
            .to_owned()
    }

    /// Every file of `commit` with its blob id, by path, from `git ls-tree`.
    fn files(&self, commit: &str) -> BTreeMap<String, String> {
        git(&self.repo(), &["ls-tree", "-r", "--full-tree", commit])
            .lines()
            .map(|line| {
                let (meta, path) = line.split_once('\t').unwrap();
                let blob = meta.split_whitespace().nth(2).unwrap();
                (path.to_owned(), blob.to_owned())
            })
            .collect()
    }

    /// What a package listing must hold, by git's account: the file names
    /// of everything below the root (the root holds only `config.json`
    /// and, in the filtered commit, a README).
    fn package_names(&self, commit: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .files(commit)
            .keys()
            .filter_map(|path| path.rsplit_once('/').map(|(_, name)| name.to_owned()))
            .collect();
        names.sort();
        names
    }

    /// Calls `check(path, contents)` for every file of `commit` that
    /// `wanted` accepts, contents streamed from one `git cat-file --batch`.
    fn for_each_file(&self, commit: &str, mut wanted: impl FnMut(&str) -> bool, mut check: impl FnMut(&str, &[u8])) {
        let mut files = self.files(commit);
        files.retain(|path, _| wanted(path));
        let mut child = Command::new("git")
            .arg("-C")
            .arg(self.repo())
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let ids: Vec<String> = files.values().cloned().collect();
        let feeder = std::thread::spawn(move || {
            for id in ids {
                writeln!(stdin, "{id}").unwrap();
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut header = String::new();
        for path in files.keys() {
            header.clear();
            out.read_line(&mut header).unwrap();
            let size: usize = header.trim_end().rsplit(' ').next().unwrap().parse().unwrap();
            let mut contents = vec![0; size + 1];
            out.read_exact(&mut contents).unwrap();
            contents.pop();
            check(path, &contents);
        }
        feeder.join().unwrap();
        assert!(child.wait().unwrap().success());
    }

    /// Paths git reports for `old..new` with status `status` (`A`, `D`, `M`).
    fn changed(&self, status: &str) -> Vec<String> {
        git(&self.repo(), &["diff", "--name-status", OLD, NEW])
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .filter(|(s, _)| *s == status)
            .map(|(_, path)| path.to_owned())
            .collect()
    }

    /// Number of objects reachable from `include` but not from `exclude`.
    fn object_count(&self, include: &str, exclude: Option<&str>) -> usize {
        let mut args = vec!["rev-list", "--objects", include];
        let negated = exclude.map(|e| format!("^{e}"));
        args.extend(negated.as_deref());
        git(&self.repo(), &args).lines().count()
    }
}

/// The package name a file path holds.
fn file_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

/// Checks that `source` shows `commit` of the corpus: every package listed,
/// and the bytes of every file `wanted` accepts equal to git's; returns how
/// many package files were compared.
fn assert_shows_commit(source: &GitSource, corpus: &Corpus, commit: &str, wanted: impl FnMut(&str) -> bool) -> usize {
    assert_eq!(
        source.current_commit().as_deref(),
        Some(corpus.full_id(commit).as_str())
    );
    let names = source.package_names().unwrap().expect("a git index lists its packages");
    assert_eq!(names, corpus.package_names(commit));
    let mut compared = 0;
    corpus.for_each_file(commit, wanted, |path, contents| {
        if path == "config.json" {
            let config = source.config().unwrap();
            assert_eq!(config.dl, "https://crates.io/api/v1/crates");
            return;
        }
        if !path.contains('/') {
            return;
        }
        let ours = source.read_package_file(file_name(path)).unwrap();
        assert_eq!(ours.as_deref().map(str::as_bytes), Some(contents), "{path}");
        compared += 1;
    });
    compared
}

/// Object counts of the clone's packs, smallest first, from `git show-index`.
fn pack_object_counts(clone: &Path) -> Vec<usize> {
    let mut counts: Vec<usize> = std::fs::read_dir(clone.join("objects/pack"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "idx"))
        .map(|idx| {
            let output = Command::new("git")
                .arg("show-index")
                .stdin(std::fs::File::open(idx).unwrap())
                .output()
                .unwrap();
            String::from_utf8(output.stdout).unwrap().lines().count()
        })
        .collect();
    counts.sort();
    counts
}

#[test]
fn a_path_clone_shows_every_file_as_git_does_and_fetches_only_what_changed() {
    let corpus = Corpus::serving(OLD);
    let cache = tempfile::tempdir().unwrap();
    let url = corpus.repo().display().to_string();
    let source = GitSource::open(&url, cache.path(), false).unwrap();
    assert!(matches!(source.config(), Err(SourceError::NotFetched { .. })));

    let report = source.update(&NoProgress).unwrap();
    assert!(report.changed);
    assert_eq!(report.summary, format!("cloned {}", &corpus.full_id(OLD)[..10]));
    let compared = assert_shows_commit(&source, &corpus, OLD, |_| true);
    assert_eq!(compared, corpus.package_names(OLD).len(), "every package file compared");
    assert_eq!(source.download_base(), url);
    assert_eq!(
        pack_object_counts(&source.clone_dir()),
        vec![corpus.object_count(OLD, None)]
    );

    corpus.serve(NEW);
    let progress = RecordedProgress::default();
    let report = source.update(&progress).unwrap();
    assert!(report.changed);
    assert_eq!(
        report.summary,
        format!("fetched {}..{}", &corpus.full_id(OLD)[..10], &corpus.full_id(NEW)[..10])
    );
    assert_fetched_new(&source, &corpus);
    // Only the objects new in NEW travelled (as a thin pack, which gix
    // completes with local bases into a second pack).
    assert_eq!(progress.received_objects(), corpus.object_count(NEW, Some(OLD)) as u64);
    assert_eq!(pack_object_counts(&source.clone_dir()).len(), 2);

    // A reader opened now, in another process say, sees the new state too.
    let reopened = GitSource::open(&url, cache.path(), true).unwrap();
    assert_eq!(reopened.current_commit(), source.current_commit());
    let removed = corpus.changed("D");
    assert!(!removed.is_empty());
    for path in removed.iter().step_by(97) {
        assert_eq!(reopened.read_package_file(file_name(path)).unwrap(), None, "{path}");
    }

    let report = source.update(&NoProgress).unwrap();
    assert!(!report.changed);
    assert_eq!(report.summary, format!("up to date at {}", &corpus.full_id(NEW)[..10]));
}

/// Checks `source` after the fetch from OLD to NEW: the listing and every
/// file the commit changed against git, a sample of the others, and every
/// removed package gone.
fn assert_fetched_new(source: &GitSource, corpus: &Corpus) {
    let modified: BTreeSet<String> = corpus.changed("M").into_iter().collect();
    let mut sample = 0;
    let compared = assert_shows_commit(source, corpus, NEW, |path| {
        sample += 1;
        modified.contains(path) || sample % 50 == 0
    });
    assert!(compared > modified.len(), "{compared} files compared");
    let removed = corpus.changed("D");
    assert!(!removed.is_empty());
    for path in &removed {
        assert_eq!(source.read_package_file(file_name(path)).unwrap(), None, "{path}");
    }
}

/// What [`BreakingProxy`] does once the server has sent its limit.
#[derive(Clone, Copy)]
enum Break {
    /// Closes the connection: the server died.
    Cut,
    /// Closes the first connection that reaches the limit; later ones pass
    /// whole: a server that died once and came back.
    CutOnce,
    /// Holds the connection open and silent until the proxy is dropped: a
    /// fetch caught in the middle of a pack.
    Stall,
}

/// A TCP proxy to a local server that passes the client's bytes through
/// but breaks each connection once the server has sent `limit` bytes on it.
struct BreakingProxy {
    port: u16,
    broken: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl BreakingProxy {
    fn start(upstream_port: u16, limit: usize, how: Break) -> BreakingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let broken = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = std::thread::spawn({
            let (broken, stop) = (broken.clone(), stop.clone());
            move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let server = TcpStream::connect(("127.0.0.1", upstream_port)).unwrap();
                    let limit = match how {
                        Break::CutOnce if broken.load(Ordering::SeqCst) > 0 => usize::MAX,
                        _ => limit,
                    };
                    let (mut from_client, mut to_server) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    std::thread::spawn(move || std::io::copy(&mut from_client, &mut to_server));
                    let (broken, stop) = (broken.clone(), stop.clone());
                    std::thread::spawn(move || {
                        if forward_until(&server, &client, limit) {
                            broken.fetch_add(1, Ordering::SeqCst);
                            while matches!(how, Break::Stall) && !stop.load(Ordering::SeqCst) {
                                std::thread::sleep(std::time::Duration::from_millis(20));
                            }
                        }
                        let _ = client.shutdown(Shutdown::Both);
                        let _ = server.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        BreakingProxy {
            port,
            broken,
            stop,
            acceptor: Some(acceptor),
        }
    }

    fn url(&self) -> String {
        format!("git://127.0.0.1:{}/{CORPUS_REPO}", self.port)
    }

    /// Connections broken at the limit (rather than ended by the server).
    fn broken(&self) -> usize {
        self.broken.load(Ordering::SeqCst)
    }
}

/// Copies `server` to `client`; true if it stopped at `limit` bytes.
fn forward_until(mut server: &TcpStream, mut client: &TcpStream, limit: usize) -> bool {
    let mut sent = 0;
    let mut buf = [0; 16 * 1024];
    while let Ok(n @ 1..) = server.read(&mut buf) {
        let n = n.min(limit.saturating_sub(sent));
        if client.write_all(&buf[..n]).is_err() {
            return false;
        }
        sent += n;
        if sent == limit {
            return true;
        }
    }
    false
}

impl Drop for BreakingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// The files in the clone's pack directory that gix receives packs into.
fn packs_being_received(clone: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(clone.join("objects/pack"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().unwrap().to_string_lossy().starts_with(".tmp"))
        .collect()
}

const CORPUS_REPO: &str = "crates-io-index-2019.git";

#[test]
fn a_git_daemon_dying_or_stalling_mid_pack_leaves_the_clone_as_it_was_then_the_fetch_completes() {
    let corpus = Corpus::serving(OLD);
    let daemon = GitDaemon::start(corpus.dir.path());
    let url = daemon.repo_url(CORPUS_REPO);
    let cache = tempfile::tempdir().unwrap();
    let source = GitSource::open(&url, cache.path(), false).unwrap();
    source.update(&NoProgress).unwrap();
    let mut sample = 0;
    assert_shows_commit(&source, &corpus, OLD, |_| {
        sample += 1;
        sample % 25 == 0
    });
    assert_eq!(source.download_base(), url);

    corpus.serve(NEW);
    let old_serde = git(&corpus.repo(), &["show", &format!("{OLD}:se/rd/serde")]);
    let clone = source.clone_dir();
    let assert_still_old = |readers: &[&GitSource]| {
        let fresh = GitSource::open(&url, cache.path(), true).unwrap();
        for reader in readers.iter().chain([&&fresh]) {
            assert_eq!(reader.current_commit().as_deref(), Some(OLD));
            assert_eq!(reader.read_package_file("serde").unwrap().as_ref(), Some(&old_serde));
        }
        assert_eq!(git(&clone, &["rev-parse", "refs/ggen/index"]).trim(), OLD);
        git(&clone, &["fsck", "--connectivity-only", "refs/ggen/index"]);
    };

    // The server dies after 256 KiB of the pack.
    let proxy = BreakingProxy::start(daemon.port(), 256 * 1024, Break::Cut);
    let cut_short = GitSource::open(&proxy.url(), cache.path(), false).unwrap();
    let err = cut_short.update(&NoProgress).unwrap_err();
    assert!(proxy.broken() >= 1, "the pack was cut short, not refused: {err}");
    assert!(err.to_string().contains(&proxy.url()), "{err}");
    assert_still_old(&[&source, &cut_short]);
    assert!(packs_being_received(&clone).is_empty(), "gix removes its partial pack");

    // The server stalls mid-pack: while the fetch hangs, readers see the
    // old state whole; what a kill now would leave is a partial pack file.
    let proxy = BreakingProxy::start(daemon.port(), 256 * 1024, Break::Stall);
    let stalled = GitSource::open(&proxy.url(), cache.path(), false).unwrap();
    std::thread::scope(|scope| {
        let fetch = scope.spawn(|| stalled.update(&NoProgress));
        while proxy.broken() == 0 || packs_being_received(&clone).is_empty() {
            assert!(!fetch.is_finished(), "the fetch waits for the stalled server");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_still_old(&[&source, &stalled]);
        drop(proxy);
        assert!(fetch.join().unwrap().is_err());
    });
    // A killed fetch leaves its partial pack; the next update removes it.
    let left_by_a_kill = clone.join("objects/pack/.tmpKILLED");
    std::fs::write(&left_by_a_kill, vec![b'P'; 4096]).unwrap();

    let progress = RecordedProgress::default();
    let report = source.update(&progress).unwrap();
    assert_eq!(report.summary, format!("fetched {}..{}", &OLD[..10], &NEW[..10]));
    assert_eq!(progress.received_objects(), corpus.object_count(NEW, Some(OLD)) as u64);
    assert_fetched_new(&source, &corpus);
    assert!(packs_being_received(&clone).is_empty());
}

#[test]
fn a_fetch_cut_short_once_is_retried_and_completes() {
    let corpus = Corpus::serving(OLD);
    let daemon = GitDaemon::start(corpus.dir.path());
    // The server dies 256 KiB into the first pack, then serves whole.
    let proxy = BreakingProxy::start(daemon.port(), 256 * 1024, Break::CutOnce);
    let cache = tempfile::tempdir().unwrap();
    let source = GitSource::open(&proxy.url(), cache.path(), false).unwrap();
    let progress = RecordedProgress::default();
    let report = source.update(&progress).unwrap();
    assert_eq!(proxy.broken(), 1, "the first try was cut short");
    assert!(report.summary.starts_with("cloned"), "{}", report.summary);
    assert_eq!(source.current_commit().as_deref(), Some(OLD));
    assert!(packs_being_received(&source.clone_dir()).is_empty());
}

#[test]
fn smart_http_clones_and_fetches_incrementally() {
    let corpus = Corpus::serving(OLD);
    let server = GitHttpServer::start(corpus.dir.path(), false);
    let url = format!("git+{}", server.repo_url(CORPUS_REPO));
    let cache = tempfile::tempdir().unwrap();
    let source = GitSource::open(&url, cache.path(), false).unwrap();
    let progress = RecordedProgress::default();
    source.update(&progress).unwrap();
    assert_eq!(progress.received_objects(), corpus.object_count(OLD, None) as u64);
    let mut sample = 0;
    assert_shows_commit(&source, &corpus, OLD, |_| {
        sample += 1;
        sample % 25 == 0
    });
    assert_eq!(source.download_base(), server.repo_url(CORPUS_REPO));
    assert_eq!(source.describe(), url);

    corpus.serve(NEW);
    let progress = RecordedProgress::default();
    let report = source.update(&progress).unwrap();
    assert!(report.changed);
    assert_eq!(progress.received_objects(), corpus.object_count(NEW, Some(OLD)) as u64);
    assert_fetched_new(&source, &corpus);
}

#[test]
fn smart_http_follows_a_redirect_of_the_first_request_and_stays_there() {
    let corpus = Corpus::serving(OLD);
    let server = GitHttpServer::start(corpus.dir.path(), false);
    // Answers every request with a redirect to the same path on the real
    // server, and counts them: only `info/refs` may come here.
    let redirector = TcpListener::bind("127.0.0.1:0").unwrap();
    let moved_to = server.url();
    let redirected = Arc::new(Mutex::new(Vec::new()));
    let seen = redirected.clone();
    let port = redirector.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in redirector.incoming() {
            let mut stream = stream.unwrap();
            let mut request_line = String::new();
            BufReader::new(&stream).read_line(&mut request_line).unwrap();
            let path = request_line.split(' ').nth(1).unwrap_or_default().to_owned();
            let location = format!(
                "{}{}",
                moved_to.trim_end_matches('/'),
                path.strip_prefix("/git").unwrap_or(&path)
            );
            seen.lock().unwrap().push(request_line.trim_end().to_owned());
            let answer = format!(
                "HTTP/1.1 301 Moved Permanently\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(answer.as_bytes());
            let _ = stream.shutdown(Shutdown::Both);
        }
    });
    let url = format!("git+http://127.0.0.1:{port}/git/{CORPUS_REPO}");
    let cache = tempfile::tempdir().unwrap();
    let source = GitSource::open(&url, cache.path(), false).unwrap();
    source.update(&NoProgress).unwrap();
    assert_eq!(source.current_commit().as_deref(), Some(OLD));
    let requests = redirected.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        requests[0].starts_with("GET ") && requests[0].contains("/info/refs?service=git-upload-pack"),
        "{requests:?}"
    );
    // The fetch went on at the new place.
    server.wait_for_access_log(&format!("POST /git/{CORPUS_REPO}/git-upload-pack"));
}

#[test]
fn smart_http_gives_up_on_a_stalled_pack_after_the_read_timeout_and_says_which() {
    let corpus = Corpus::serving(OLD);
    let server = GitHttpServer::start(corpus.dir.path(), false);
    // lighttpd goes silent 256 KiB into each answer: mid-pack.
    let proxy = BreakingProxy::start(server.port(), 256 * 1024, Break::Stall);
    let url = format!("git+http://127.0.0.1:{}/git/{CORPUS_REPO}", proxy.port);
    let limits = HttpLimits {
        read_timeout: std::time::Duration::from_secs(1),
        ..HttpLimits::default()
    };
    let cache = tempfile::tempdir().unwrap();
    let source = GitSource::open(&url, cache.path(), false)
        .unwrap()
        .with_downloader(Downloader::new(false, 1).with_limits(limits));
    let started = std::time::Instant::now();
    let chain = cause_chain(&source.update(&NoProgress).unwrap_err());
    assert!(proxy.broken() >= 1, "the pack stalled: {chain}");
    assert!(chain.contains("raise `read-timeout`"), "{chain}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(source.current_commit(), None, "nothing half-fetched is taken");
}

#[test]
fn smart_http_names_a_missing_repository_and_the_status() {
    let corpus = Corpus::serving(OLD);
    let server = GitHttpServer::start(corpus.dir.path(), false);
    let url = format!("git+{}", server.repo_url("no-such-index.git"));
    let chain = failed_update(&url);
    assert!(
        chain.contains("no-such-index.git/info/refs?service=git-upload-pack") && chain.contains("404 Not Found"),
        "{chain}"
    );
}

/// Records what the fetch reports, phase by phase.
#[derive(Default)]
struct RecordedProgress {
    phases: Mutex<Vec<(String, u64, u64)>>,
}

impl RecordedProgress {
    /// The object count of the "receiving objects" phase, checked complete.
    fn received_objects(&self) -> u64 {
        let phases = self.phases.lock().unwrap();
        let receiving = phases.iter().find(|(task, ..)| task == "receiving objects");
        let (_, total, done) = receiving.unwrap_or_else(|| panic!("no receiving phase in {phases:?}"));
        assert_eq!(total, done, "{phases:?}");
        *done
    }
}

impl Progress for RecordedProgress {
    fn start(&self, task: &str, total: u64) {
        self.phases.lock().unwrap().push((task.to_owned(), total, 0));
    }
    fn advance(&self, steps: u64) {
        self.phases.lock().unwrap().last_mut().unwrap().2 += steps;
    }
    fn finish(&self) {}
}

#[test]
fn two_updates_at_once_over_file_urls_leave_one_consistent_clone() {
    let corpus = Corpus::serving(OLD);
    let cache = tempfile::tempdir().unwrap();
    let url = format!("file://{}", corpus.repo().display());
    let runs: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let source = GitSource::open(&url, cache.path(), false).unwrap();
                    let progress = RecordedProgress::default();
                    let report = source.update(&progress).unwrap();
                    (report, progress)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut summaries: Vec<_> = runs.iter().map(|(r, _)| r.summary.split(' ').next().unwrap()).collect();
    summaries.sort();
    assert_eq!(summaries, ["cloned", "up"], "one clones, the other finds it done");
    let (_, cloner) = runs.iter().find(|(r, _)| r.summary.starts_with("cloned")).unwrap();
    assert_eq!(cloner.received_objects(), corpus.object_count(OLD, None) as u64);

    let leftovers: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".lock")
        .collect();
    assert_eq!(leftovers, ["index.git"]);
    git(
        &cache.path().join("index.git"),
        &["fsck", "--connectivity-only", "refs/ggen/index"],
    );

    // Spot checks against git; the path clone compares every file.
    let source = GitSource::open(&url, cache.path(), true).unwrap();
    assert_eq!(source.current_commit().as_deref(), Some(OLD));
    assert_eq!(source.download_base(), corpus.repo().display().to_string());
    let serde = git(&corpus.repo(), &["show", &format!("{OLD}:se/rd/serde")]);
    assert_eq!(source.read_package_file("serde").unwrap(), Some(serde.clone()));
    let entries = source.entries("Serde").unwrap().unwrap();
    assert_eq!(entries.len(), serde.lines().count());
    assert_eq!(source.read_package_file("no-such-package-here").unwrap(), None);
}

/// A small index in a non-bare repository, as a publisher keeps it.
struct SmallIndex {
    dir: tempfile::TempDir,
}

impl SmallIndex {
    /// An index with a relative `dl` and one package, `demo`.
    fn new() -> SmallIndex {
        let index = SmallIndex {
            dir: tempfile::tempdir().unwrap(),
        };
        git(index.path(), &["init", "-q", "-b", "main"]);
        std::fs::write(
            index.path().join("config.json"),
            r#"{"dl":"archives/{crate}-{version}.tar.gz"}"#,
        )
        .unwrap();
        index.publish("de/mo/demo", "1.0.0");
        index
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn url(&self) -> String {
        self.path().display().to_string()
    }

    /// Appends a version of the package stored at `path` and commits;
    /// returns the commit id.
    fn publish(&self, path: &str, vers: &str) -> String {
        let name = file_name(path);
        let line =
            format!(r#"{{"name":"{name}","vers":"{vers}","deps":[],"cksum":"00","features":{{}},"yanked":false}}"#);
        let file = self.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let mut text = std::fs::read_to_string(&file).unwrap_or_default();
        text.push_str(&line);
        text.push('\n');
        std::fs::write(&file, text).unwrap();
        git(self.path(), &["add", "."]);
        let message = format!("{name} {vers}");
        git(
            self.path(),
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-q",
                "-m",
                &message,
            ],
        );
        git(self.path(), &["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// Removes one loose object, as a damaged server would have lost it.
    fn lose_object(&self, spec: &str) -> (PathBuf, Vec<u8>) {
        let id = git(self.path(), &["rev-parse", spec]).trim().to_owned();
        let path = self.path().join(".git/objects").join(&id[..2]).join(&id[2..]);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        (path, bytes)
    }
}

fn versions(source: &GitSource, name: &str) -> Option<Vec<String>> {
    let entries = source.entries(name).unwrap()?;
    Some(entries.into_iter().map(|e| e.vers).collect())
}

#[test]
fn a_fetch_from_a_broken_remote_leaves_the_previous_state_readable() {
    let index = SmallIndex::new();
    let cache = tempfile::tempdir().unwrap();
    let source = GitSource::open(&index.url(), cache.path(), false).unwrap();
    source.update(&NoProgress).unwrap();
    let first = source.current_commit().unwrap();

    index.publish("de/mo/demo", "1.1.0");
    index.publish("ne/w-/new-package", "0.1.0");
    // The server lost a blob it must send: git upload-pack dies after the
    // negotiation went well, without a pack.
    let (lost, bytes) = index.lose_object("HEAD:ne/w-/new-package");
    let err = source.update(&NoProgress).unwrap_err();
    assert!(matches!(err, SourceError::Git { .. }), "{err}");
    assert!(err.to_string().contains(&index.url()), "{err} names the remote");

    for reader in [&source, &GitSource::open(&index.url(), cache.path(), true).unwrap()] {
        assert_eq!(reader.current_commit(), Some(first.clone()));
        assert_eq!(versions(reader, "demo"), Some(vec!["1.0.0".to_string()]));
        assert_eq!(versions(reader, "new-package"), None);
    }
    let clone = source.clone_dir();
    assert_eq!(git(&clone, &["rev-parse", "refs/ggen/index"]).trim(), first);
    git(&clone, &["fsck", "--connectivity-only", "refs/ggen/index"]);

    // Once the server is repaired, the same clone catches up.
    std::fs::write(&lost, bytes).unwrap();
    let report = source.update(&NoProgress).unwrap();
    assert!(report.changed, "{report:?}");
    assert_eq!(
        versions(&source, "demo"),
        Some(vec!["1.0.0".to_string(), "1.1.0".to_string()])
    );
    assert_eq!(versions(&source, "new-package"), Some(vec!["0.1.0".to_string()]));
}

#[test]
fn a_first_clone_that_fails_leaves_nothing_behind() {
    let index = SmallIndex::new();
    index.lose_object("HEAD:config.json");
    let cache = tempfile::tempdir().unwrap();
    let source = GitSource::open(&index.url(), cache.path(), false).unwrap();
    assert!(source.update(&NoProgress).is_err());
    let left: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [".lock"], "no clone, complete or partial");
    let err = source.config().unwrap_err();
    assert!(matches!(err, SourceError::NotFetched { .. }), "{err}");
}

#[test]
fn offline_reads_the_clone_and_never_connects() {
    let index = SmallIndex::new();
    let cache = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let unreachable = format!("git://{}/index.git", listener.local_addr().unwrap());

    let err = GitSource::open(&unreachable, cache.path(), true).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, SourceError::Offline { .. }), "{message}");
    assert!(
        message.contains(&unreachable) && message.contains("ggen-market sync"),
        "{message}"
    );

    GitSource::open(&index.url(), cache.path(), false)
        .unwrap()
        .update(&NoProgress)
        .unwrap();
    let offline = GitSource::open(&unreachable, cache.path(), true).unwrap();
    assert_eq!(versions(&offline, "demo"), Some(vec!["1.0.0".to_string()]));
    let report = offline.update(&NoProgress).unwrap();
    assert!(!report.changed, "{report:?}");
    assert!(
        report.summary.starts_with("offline: nothing fetched") && report.summary.contains("--offline"),
        "{report:?}"
    );
    assert_eq!(
        listener.accept().map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "offline, nothing connected"
    );

    // The control: online, the same URL is contacted (and hung up on).
    listener.set_nonblocking(false).unwrap();
    let hang_up = std::thread::spawn(move || listener.accept().map(|_| ()));
    let online = GitSource::open(&unreachable, cache.path(), false).unwrap();
    assert!(online.update(&NoProgress).is_err());
    hang_up.join().unwrap().expect("online, the remote was contacted");
    assert_eq!(versions(&online, "demo"), Some(vec!["1.0.0".to_string()]));
}

/// Why a first update from `url` fails: the whole chain of causes.
fn failed_update(url: &str) -> String {
    let cache = tempfile::tempdir().unwrap();
    let source = GitSource::open(url, cache.path(), false).unwrap();
    cause_chain(&source.update(&NoProgress).unwrap_err())
}

/// An error and its sources, joined by ": ".
fn cause_chain(err: &SourceError) -> String {
    std::iter::successors(Some(err as &dyn std::error::Error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

#[test]
fn an_empty_remote_is_named_as_such() {
    let empty = tempfile::tempdir().unwrap();
    git(empty.path(), &["init", "-q", "--bare"]);
    let url = format!("file://{}", empty.path().display());
    let chain = failed_update(&url);
    assert!(chain.contains("empty repository") && chain.contains(&url), "{chain}");
}

#[test]
fn a_relative_dl_resolves_inside_a_path_index() {
    let index = SmallIndex::new();
    let cache = tempfile::tempdir().unwrap();
    let source = GitSource::open(&index.url(), cache.path(), false).unwrap();
    source.update(&NoProgress).unwrap();
    let config = source.config().unwrap();
    let url = config.download_url(&source.download_base(), "demo", "1.0.0", "00");
    assert_eq!(Path::new(&url), index.path().join("archives/demo-1.0.0.tar.gz"));
    assert_eq!(source.describe(), index.url());
}

/// Set in the environment of a child run of this test binary whose
/// SIGPIPE is at its default action.
const SIGPIPE_AT_DEFAULT: &str = "GGEN_TEST_SIGPIPE_AT_DEFAULT";

/// Puts SIGPIPE back to its default action (Rust programs start with it
/// ignored): a write into a closed pipe now kills the process.
fn restore_default_sigpipe() {
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    unsafe extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    // SAFETY: setting a signal's disposition to its default has no
    // precondition; this process runs only the one test that asked for it.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

/// A clone, then fetches of new commits, of a `file://` index. In the child
/// run of the next test, with SIGPIPE at its default action.
#[test]
fn file_url_syncs_one_after_another() {
    if std::env::var_os(SIGPIPE_AT_DEFAULT).is_some() {
        restore_default_sigpipe();
    }
    let index = SmallIndex::new();
    let cache = tempfile::tempdir().unwrap();
    let url = format!("file://{}", index.path().display());
    let source = GitSource::open(&url, cache.path(), false).unwrap();
    assert!(source.update(&NoProgress).unwrap().summary.starts_with("cloned"));
    for version in ["0.1.0", "0.2.0", "0.3.0", "0.4.0"] {
        let commit = index.publish("ne/w-/new-package", version);
        let report = source.update(&NoProgress).unwrap();
        assert!(report.summary.ends_with(&commit[..10]), "{report:?}");
        assert_eq!(versions(&source, "new-package").unwrap().last().unwrap(), version);
    }
}

/// Many programs restore SIGPIPE's default action (so `prog | head` ends
/// quietly). gix ends a fetch twice, and over `file://` the second write
/// goes into the pipe of a `git upload-pack` that has exited: SIGPIPE. The
/// write races the child's exit, hence several syncs.
#[test]
fn a_process_with_sigpipe_at_its_default_action_survives_file_url_syncs() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "file_url_syncs_one_after_another", "--test-threads=1"])
        .env(SIGPIPE_AT_DEFAULT, "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "the child ran the syncs: {stdout}");
}

fn size_of(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let meta = e.metadata().unwrap();
            if meta.is_dir() { size_of(&e.path()) } else { meta.len() }
        })
        .sum()
}

/// Fifty incremental fetches leave a clone within twice the size of a fresh
/// clone of the same commit: beyond `MAX_PACKS` packs it is repacked.
#[test]
fn many_incremental_fetches_keep_the_clone_compact() {
    let index = SmallIndex::new();
    let url = format!("file://{}", index.path().display());
    let fetched = tempfile::tempdir().unwrap();
    let source = GitSource::open(&url, fetched.path(), false).unwrap();
    source.update(&NoProgress).unwrap();
    for i in 0..50 {
        // Each commit adds a version and a file of its own, so every fetch
        // brings a pack with new blobs and trees.
        index.publish(&format!("pa/ck/pack-{i:02}"), "1.0.0");
        source.update(&NoProgress).unwrap();
    }
    let clone = fetched.path().join("index.git");
    let packs = std::fs::read_dir(clone.join("objects/pack"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".pack"))
        .count();
    assert!(
        packs <= ggen_marketplace::sources::git::MAX_PACKS,
        "{packs} packs after 50 fetches"
    );
    let fresh = tempfile::tempdir().unwrap();
    GitSource::open(&url, fresh.path(), false)
        .unwrap()
        .update(&NoProgress)
        .unwrap();
    let (after_fetches, fresh_size) = (
        size_of(&clone.join("objects")),
        size_of(&fresh.path().join("index.git/objects")),
    );
    println!("objects after 50 fetches: {after_fetches} bytes; a fresh clone: {fresh_size} bytes");
    assert!(
        after_fetches <= 2 * fresh_size,
        "{after_fetches} bytes after 50 fetches against {fresh_size} for a fresh clone"
    );
    assert_eq!(versions(&source, "pack-49"), Some(vec!["1.0.0".to_string()]));
    git(&clone, &["fsck", "--connectivity-only", "refs/ggen/index"]);
}
