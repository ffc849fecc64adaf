//! The next state of a mirror, built beside it and swapped in whole.
//!
//! `mirror update` changes many files at once: new archives, package files,
//! owner keys, config.json, mirror.toml. Written in place, a reader (the
//! web server, `mirror verify`) or a crash could meet half of them — lines
//! whose dependencies are not there yet, archives no line names. Instead
//! the next tree is made beside the mirror, `.NAME.ggen-update-new`: every
//! file of the mirror hard-linked in (no bytes copied), the changes written
//! over the links (always by replacing a link, never through it: the live
//! tree must not change), every directory synced, and then the two trees
//! are exchanged in one step ([`exchange`]). The old tree, now at the
//! beside name, is removed. A run killed before the exchange leaves the
//! next tree, after it the old one, at the beside name; either way the
//! mirror itself is whole, and the next update removes the leftover under
//! the mirror's lock. The lock file is linked too, so the lock stays the
//! same file across the exchange.

use std::path::{Path, PathBuf};

use crate::util::fs::{FsError, exchange, sync_files};

/// A mirror's next tree, removed on drop unless swapped in.
pub(super) struct NextTree {
    live: PathBuf,
    root: PathBuf,
    swapped: bool,
}

impl NextTree {
    /// Removes what a killed update left beside `live` (call it under the
    /// mirror's lock), then makes the next tree: `live`'s files linked in.
    pub(super) fn begin(live: &Path) -> Result<NextTree, FsError> {
        remove_leftovers(live)?;
        let live = live.canonicalize().map_err(|e| FsError::new("open", live, e))?;
        let root = beside(&live, "new");
        link_tree(&live, &root)?;
        Ok(NextTree {
            live,
            root,
            swapped: false,
        })
    }

    /// Where the next tree is being built.
    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    /// Syncs the next tree's directories (its new files the caller synced
    /// as it wrote them), exchanges it with the live tree and removes the
    /// old one.
    pub(super) fn swap_in(mut self) -> Result<(), FsError> {
        sync_files(&directories(&self.root)?)?;
        exchange(&self.live, &self.root, &beside(&self.live, "old"))?;
        self.swapped = true;
        let parent = self.live.parent().expect("a canonical mirror has a parent");
        sync_files(&[parent.to_owned()])?;
        // The old tree; a failure here leaves it for the next update.
        let _ = std::fs::remove_dir_all(&self.root);
        Ok(())
    }
}

impl Drop for NextTree {
    fn drop(&mut self) {
        if !self.swapped {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Removes what a killed update left beside `live`: a next tree never
/// swapped in, or the old tree of one that was (killed while removing it).
/// Call it under the mirror's lock, on every update: one with nothing to
/// change makes no next tree, and must still leave nothing beside.
pub(super) fn remove_leftovers(live: &Path) -> Result<(), FsError> {
    let live = live.canonicalize().map_err(|e| FsError::new("open", live, e))?;
    remove_leftover(&beside(&live, "new"))?;
    remove_leftover(&beside(&live, "old"))
}

/// `.NAME.ggen-update-WHAT` beside the mirror.
fn beside(live: &Path, what: &str) -> PathBuf {
    let name = live.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    live.with_file_name(format!(".{name}.ggen-update-{what}"))
}

fn remove_leftover(path: &Path) -> Result<(), FsError> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(FsError::new("remove", path, e)),
        _ => Ok(()),
    }
}

/// Recreates `from`'s directories under `to` (with their modes) and
/// hard-links its files there.
fn link_tree(from: &Path, to: &Path) -> Result<(), FsError> {
    let mut pending = vec![(from.to_owned(), to.to_owned())];
    while let Some((from, to)) = pending.pop() {
        std::fs::create_dir(&to).map_err(|e| FsError::new("create directory", &to, e))?;
        let meta = std::fs::metadata(&from).map_err(|e| FsError::new("read", &from, e))?;
        std::fs::set_permissions(&to, meta.permissions()).map_err(|e| FsError::new("set permissions of", &to, e))?;
        for entry in std::fs::read_dir(&from).map_err(|e| FsError::new("read directory", &from, e))? {
            let entry = entry.map_err(|e| FsError::new("read directory", &from, e))?;
            let target = to.join(entry.file_name());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push((entry.path(), target));
            } else {
                std::fs::hard_link(entry.path(), &target).map_err(|e| FsError::new("link", &target, e))?;
            }
        }
    }
    Ok(())
}

/// `root` and every directory under it.
fn directories(root: &Path) -> Result<Vec<PathBuf>, FsError> {
    let mut found = vec![root.to_owned()];
    let mut next = 0;
    while let Some(dir) = found.get(next).cloned() {
        next += 1;
        for entry in std::fs::read_dir(&dir).map_err(|e| FsError::new("read directory", &dir, e))? {
            let entry = entry.map_err(|e| FsError::new("read directory", &dir, e))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                found.push(entry.path());
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    #[test]
    fn the_live_tree_changes_only_at_the_swap_and_then_entirely() {
        let tmp = tempfile::tempdir().unwrap();
        let live = tmp.path().join("m");
        tree(
            &live,
            &[("config.json", "old"), ("io/.c/a", "a1\n"), ("archives/a/a-1", "x")],
        );
        let next = NextTree::begin(&live).unwrap();
        // Changes replace links, as write_atomic does.
        crate::util::fs::write_atomic(&next.root().join("io/.c/a"), b"a1\na2\n").unwrap();
        tree(next.root(), &[("archives/a/a-2", "y")]);
        assert_eq!(std::fs::read_to_string(live.join("io/.c/a")).unwrap(), "a1\n");
        assert!(!live.join("archives/a/a-2").exists());
        next.swap_in().unwrap();
        assert_eq!(std::fs::read_to_string(live.join("io/.c/a")).unwrap(), "a1\na2\n");
        assert_eq!(std::fs::read_to_string(live.join("archives/a/a-2")).unwrap(), "y");
        assert_eq!(std::fs::read_to_string(live.join("config.json")).unwrap(), "old");
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["m"], "nothing left beside the mirror");
    }

    #[test]
    fn leftovers_are_removed_without_making_a_next_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let live = tmp.path().join("m");
        tree(&live, &[("config.json", "live")]);
        tree(
            &tmp.path().join(".m.ggen-update-new"),
            &[("config.json", "old, half removed")],
        );
        remove_leftovers(&live).unwrap();
        remove_leftovers(&live).unwrap();
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["m"]);
    }

    #[test]
    fn leftovers_of_a_killed_update_are_removed_and_a_dropped_tree_too() {
        let tmp = tempfile::tempdir().unwrap();
        let live = tmp.path().join("m");
        tree(&live, &[("config.json", "live")]);
        // Killed before the exchange (a half-made next tree), or after it
        // (the old tree at the beside name).
        tree(&tmp.path().join(".m.ggen-update-new"), &[("config.json", "half")]);
        tree(&tmp.path().join(".m.ggen-update-old"), &[("config.json", "stale")]);
        let next = NextTree::begin(&live).unwrap();
        assert_eq!(
            std::fs::read_to_string(next.root().join("config.json")).unwrap(),
            "live"
        );
        assert!(!tmp.path().join(".m.ggen-update-old").exists());
        drop(next);
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["m"]);
        assert_eq!(std::fs::read_to_string(live.join("config.json")).unwrap(), "live");
    }
}
