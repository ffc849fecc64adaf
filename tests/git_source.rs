//! `GitSource` against real repositories: the crates.io index snapshot of
//! shared/corpora, cloned over each transport and checked against `git`
//! itself (`git ls-tree`, `git cat-file`, `git rev-list`) as the oracle.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use ggen_marketplace::sources::git::GitSource;
use ggen_marketplace::sources::{PackageSource, SourceError};
use ggen_marketplace::util::progress::{NoProgress, Progress};

const CORPUS_TAR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/corpora/crates-io-index-2019.git.tar"
);
/// The full registry of 2019-11-10, and its filtered child.
const OLD: &str = "5343e085";
const NEW: &str = "b28bb168";

/// Runs git in `dir` and returns its stdout; any failure fails the test.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn corpus_tar() -> PathBuf {
    let path = std::env::var_os("GGEN_CORPUS_TAR").map_or_else(|| PathBuf::from(CORPUS_TAR), PathBuf::from);
    assert!(path.is_file(), "the crates.io corpus is missing at {}", path.display());
    path
}

/// A private copy of the corpus, served as it is: its default branch
/// (`master`) is what a clone gets.
struct Corpus {
    dir: tempfile::TempDir,
}

impl Corpus {
    /// Unpacks the corpus (22 MB, well under a second) with its default
    /// branch at `commit`.
    fn serving(commit: &str) -> Corpus {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("tar")
            .arg("-xf")
            .arg(corpus_tar())
            .arg("-C")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        let corpus = Corpus { dir };
        corpus.serve(commit);
        corpus
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("crates-io-index-2019.git")
    }

    /// Moves the served branch.
    fn serve(&self, commit: &str) {
        git(
            &self.repo(),
            &["update-ref", "refs/heads/master", &self.full_id(commit)],
        );
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
    // Every file the commit changed, and a sample of the others.
    let modified: BTreeSet<String> = corpus.changed("M").into_iter().collect();
    let mut sample = 0;
    let compared = assert_shows_commit(&source, &corpus, NEW, |path| {
        sample += 1;
        modified.contains(path) || sample % 50 == 0
    });
    assert!(compared > modified.len(), "{compared} files compared");
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
fn a_file_url_clone_reports_progress_in_objects() {
    let corpus = Corpus::serving(OLD);
    let cache = tempfile::tempdir().unwrap();
    let url = format!("file://{}", corpus.repo().display());
    let source = GitSource::open(&url, cache.path(), false).unwrap();
    let progress = RecordedProgress::default();
    source.update(&progress).unwrap();
    assert_eq!(source.current_commit(), Some(corpus.full_id(OLD)));
    assert_eq!(source.download_base(), corpus.repo().display().to_string());

    assert_eq!(progress.received_objects(), corpus.object_count(OLD, None) as u64);

    // Spot checks against git; the path clone above compares every file.
    let serde = git(&corpus.repo(), &["show", &format!("{OLD}:se/rd/serde")]);
    assert_eq!(source.read_package_file("serde").unwrap(), Some(serde.clone()));
    let entries = source.entries("Serde").unwrap().unwrap();
    assert_eq!(entries.len(), serde.lines().count());
    assert_eq!(source.read_package_file("no-such-package-here").unwrap(), None);
}

#[test]
fn two_updates_at_once_leave_one_consistent_clone() {
    let corpus = Corpus::serving(OLD);
    let cache = tempfile::tempdir().unwrap();
    let url = corpus.repo().display().to_string();
    let reports: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let source = GitSource::open(&url, cache.path(), false).unwrap();
                    source.update(&NoProgress).unwrap()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut summaries: Vec<_> = reports.iter().map(|r| r.summary.split(' ').next().unwrap()).collect();
    summaries.sort();
    assert_eq!(
        summaries,
        ["cloned", "up"],
        "one clones, the other finds it done: {reports:?}"
    );

    let leftovers: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".lock")
        .collect();
    assert_eq!(leftovers, ["index.git"]);
    let fsck = Command::new("git")
        .arg("-C")
        .arg(cache.path().join("index.git"))
        .args(["fsck", "--connectivity-only", "refs/ggen/index"])
        .status()
        .unwrap();
    assert!(fsck.success(), "git finds the clone consistent");
    let source = GitSource::open(&url, cache.path(), true).unwrap();
    let serde = git(&corpus.repo(), &["show", &format!("{OLD}:se/rd/serde")]);
    assert_eq!(source.read_package_file("serde").unwrap(), Some(serde));
}
