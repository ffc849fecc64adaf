//! The crates.io index corpus (shared/corpora), unpacked for benches and
//! tests: never into the repository.

use std::path::{Path, PathBuf};

/// The commit holding the full registry of 2019-11-10.
pub const FULL_2019: &str = "5343e085";

const CORPUS_TAR: &str = "shared/corpora/crates-io-index-2019.git.tar";

/// The corpus tarball: `$GGEN_CORPUS_TAR`, or `shared/corpora/…` in the
/// nearest ancestor of the crate that has it.
pub fn tarball() -> PathBuf {
    std::env::var_os("GGEN_CORPUS_TAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|dir| dir.join(CORPUS_TAR))
                .find(|path| path.is_file())
                .expect("the corpus tarball: set GGEN_CORPUS_TAR (or GGEN_CORPUS_WORKTREE for benches)")
        })
}

/// Unpacks the corpus into `dir` and checks a worktree out at `commit`
/// (`None`: HEAD) in `dir/name`; returns the worktree.
pub fn worktree_at(dir: &Path, name: &str, commit: Option<&str>) -> PathBuf {
    let bare = dir.join("crates-io-index-2019.git");
    if !bare.exists() {
        run(
            "tar",
            &["-xf", &tarball().to_string_lossy(), "-C", &dir.to_string_lossy()],
        );
    }
    let work = dir.join(name);
    run(
        "git",
        &["clone", "-q", &bare.to_string_lossy(), &work.to_string_lossy()],
    );
    if let Some(commit) = commit {
        run("git", &["-C", &work.to_string_lossy(), "checkout", "-q", commit]);
    }
    work
}

/// `$GGEN_CORPUS_WORKTREE`, or the corpus unpacked into a temp dir (kept
/// alive by the returned guard) and checked out at 5343e085.
pub fn full_2019_worktree() -> (Option<tempfile::TempDir>, PathBuf) {
    if let Some(dir) = std::env::var_os("GGEN_CORPUS_WORKTREE") {
        return (None, PathBuf::from(dir));
    }
    let temp = tempfile::tempdir().unwrap();
    let work = worktree_at(temp.path(), "work", Some(FULL_2019));
    (Some(temp), work)
}

/// Every package file of a worktree (files below a top-level directory,
/// outside dot-directories), sorted.
pub fn package_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), depth + 1, files);
            } else if depth >= 1 {
                files.push(entry.path());
            }
        }
    }
    let mut files = Vec::new();
    walk(root, 0, &mut files);
    files.sort();
    files
}

fn run(program: &str, args: &[&str]) {
    let status = std::process::Command::new(program).args(args).status().unwrap();
    assert!(status.success(), "{program} {args:?} failed");
}
