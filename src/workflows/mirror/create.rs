//! `mirror create`: a new mirror, built whole in a staging directory beside
//! its destination and renamed into place only when complete.
//!
//! A failure at any point — an archive that does not match its `cksum`, a
//! signature that does not verify, the network — removes the staging
//! directory and leaves nothing at the destination: there is never a
//! half-made mirror. Every file is synced to disk before the rename.
//!
//! A create holds the lock of its staging directory (the mirror's lock
//! file once renamed into place). A process killed outright leaves its
//! staging directory (`.NAME.staging-*` beside the destination); the next
//! create of that destination removes every one whose lock no one holds.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use super::admit::{self, ArchiveJob, sha256_hex};
use super::layout::{ArchiveKind, LOCK_FILE, Layout, MirrorFormat};
use super::record::{MirrorRecord, MissingRecord, RECORD_VERSION, UpstreamState};
use super::selection::{self, Chosen, MissingDependency, Selection};
use super::upstream::Upstream;
use super::{MirrorError, mirror_config};
use crate::util::fs::{FileLock, FsError, sync_files};
use crate::util::progress::Progress;

/// What to mirror, and how.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The packages and versions.
    pub selection: Selection,
    /// The layout.
    pub format: MirrorFormat,
    /// Write config.json's `dl` absolute under this URL (where the mirror
    /// will be served), as Cargo requires; default: relative.
    pub base_url: Option<String>,
    /// Mirror only the index; archives stay where the upstream's `dl` says.
    pub index_only: bool,
}

/// What a mirror holds, for people and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateReport {
    /// The mirror's directory.
    pub dir: PathBuf,
    /// Its layout.
    pub format: MirrorFormat,
    /// The upstream as given.
    pub upstream: String,
    /// The identity the mirror keeps.
    pub identity: String,
    /// The upstream's git commit, if any.
    pub commit: Option<String>,
    /// Package files mirrored.
    pub packages: usize,
    /// Versions mirrored.
    pub versions: usize,
    /// Archives in the mirror.
    pub archives: u64,
    /// Their total size.
    pub bytes: u64,
    /// Dependencies the mirror does not satisfy.
    pub missing_dependencies: Vec<MissingDependency>,
}

/// Creates a mirror of what `options.selection` chooses from `upstream`
/// at `dir`, which must not exist or be empty.
pub fn create(
    dir: &Path,
    upstream: &Upstream,
    options: &CreateOptions,
    progress: &dyn Progress,
) -> Result<CreateReport, MirrorError> {
    check_options(upstream, options)?;
    let dir = std::path::absolute(dir).map_err(|e| FsError::new("resolve", dir, e))?;
    let parent = dir.parent().ok_or_else(|| MirrorError::NotEmpty { dir: dir.clone() })?;
    std::fs::create_dir_all(parent).map_err(|e| FsError::new("create directory", parent, e))?;
    let dir_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging_prefix = format!(".{dir_name}.staging-");
    remove_stale_staging(parent, &staging_prefix)?;
    if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) || dir.is_file() {
        return Err(MirrorError::NotEmpty { dir });
    }
    let chosen = selection::choose(&options.selection, upstream, progress)?;
    let kind = ArchiveKind::of_upstream(upstream.config());
    let staging = tempfile::Builder::new()
        .prefix(&staging_prefix)
        .tempdir_in(parent)
        .map_err(|e| FsError::new("create staging directory in", parent, e))?;
    // Held until the mirror is in place (it becomes the mirror's lock), so
    // that no other create takes this staging directory for a dead one's.
    let _lock = FileLock::exclusive(&staging.path().join(LOCK_FILE), |_| {})?;
    let layout = Layout::new(staging.path(), options.format, kind);
    let (archives, bytes) = build(&layout, upstream, options, &chosen, progress)?;
    let staged = staging.keep();
    std::fs::rename(&staged, &dir).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        match e.kind() {
            std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists => {
                MirrorError::NotEmpty { dir: dir.clone() }
            }
            _ => MirrorError::Fs(FsError::new("rename into", &dir, e)),
        }
    })?;
    sync_files(&[parent.to_owned()])?;
    Ok(CreateReport {
        dir,
        format: options.format,
        upstream: upstream.url().to_owned(),
        identity: upstream.identity().id().to_owned(),
        commit: upstream.commit().map(str::to_owned),
        packages: chosen.packages.len(),
        versions: chosen.versions(),
        archives,
        bytes,
        missing_dependencies: chosen.missing,
    })
}

/// Removes the staging directories (`.NAME.staging-*` in `parent`) of
/// creates that were killed: those whose lock no one holds.
fn remove_stale_staging(parent: &Path, prefix: &str) -> Result<(), FsError> {
    for entry in std::fs::read_dir(parent).map_err(|e| FsError::new("read directory", parent, e))? {
        let entry = entry.map_err(|e| FsError::new("read directory", parent, e))?;
        if !entry.file_name().to_string_lossy().starts_with(prefix) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        // A create that has just made its directory but not yet locked it
        // loses it here and fails; two creates of one destination cannot
        // both succeed anyway.
        if let Some(_dead) = FileLock::try_exclusive(&path.join(LOCK_FILE))? {
            std::fs::remove_dir_all(&path).map_err(|e| FsError::new("remove", &path, e))?;
        }
    }
    Ok(())
}

fn check_options(upstream: &Upstream, options: &CreateOptions) -> Result<(), MirrorError> {
    let refuse = |reason: &str| {
        Err(MirrorError::Options {
            reason: reason.to_owned(),
        })
    };
    if options.selection.is_empty() {
        return refuse("nothing selected: give --all, --packages, --closure or --lockfile");
    }
    if options.format == MirrorFormat::CargoLocal && options.base_url.is_some() {
        return refuse("a cargo-local mirror is read from disk and has no base URL; drop --base-url");
    }
    if options.format == MirrorFormat::CargoLocal && options.index_only {
        return refuse("a cargo-local mirror must hold its .crate files; drop --index-only");
    }
    if let Some(base) = &options.base_url
        && !(base.starts_with("http://") || base.starts_with("https://"))
    {
        return refuse("--base-url is the http(s) URL the mirror will be served at, e.g. http://mirror.corp.example/");
    }
    if options.index_only
        && upstream.commit().is_some()
        && upstream.config().archive_path_in_index("x", "1.0.0", "00").is_some()
    {
        return refuse(
            "the upstream keeps its archives in its git commits, which no URL serves; an index-only mirror could not reach them",
        );
    }
    Ok(())
}

/// Writes the whole mirror under `layout`'s root (the staging directory):
/// index files, owner keys, archives, config.json, mirror.toml; syncs them.
/// Returns the number of archives and their bytes.
fn build(
    layout: &Layout,
    upstream: &Upstream,
    options: &CreateOptions,
    chosen: &Chosen,
    progress: &dyn Progress,
) -> Result<(u64, u64), MirrorError> {
    let lines: Vec<(String, Vec<_>)> = chosen
        .packages
        .iter()
        .map(|(name, package)| (name.clone(), package.entry_lines().collect()))
        .collect();
    let owner_keys = admit::check_signatures(upstream, &lines, progress)?;
    let written = Mutex::new(Vec::new());
    let store = |path: &Path, bytes: &[u8]| -> Result<(), FsError> {
        let parent = path.parent().expect("mirror files live in directories");
        std::fs::create_dir_all(parent).map_err(|e| FsError::new("create directory", parent, e))?;
        std::fs::write(path, bytes).map_err(|e| FsError::new("write", path, e))?;
        written.lock().unwrap_or_else(|e| e.into_inner()).push(path.to_owned());
        Ok(())
    };
    let mut files = std::collections::BTreeMap::new();
    for (name, package) in &chosen.packages {
        store(&layout.index_file(&package.file.path), package.text().as_bytes())?;
        files.insert(package.file.path.clone(), sha256_hex(package.file.text.as_bytes()));
        if let Some(Some(keys)) = owner_keys.get(name) {
            store(
                &layout.index_file(&crate::trust::owner_keys_path(name)),
                keys.as_bytes(),
            )?;
        }
    }
    let fetched = if options.index_only {
        admit::Fetched::default()
    } else {
        let jobs: Vec<ArchiveJob<'_>> = chosen
            .packages
            .values()
            .flat_map(|package| package.entry_lines())
            .map(|line| ArchiveJob {
                entry: &line.entry,
                dest: layout.archive_file(&line.entry.name, &line.entry.vers),
            })
            .collect();
        // Straight into the staging directory; `store` records them for
        // the sync below.
        admit::fetch_archives(upstream, &jobs, &store, progress)?
    };
    let config = mirror_config(upstream, layout, options.base_url.as_deref(), options.index_only)?;
    store(&layout.config_file(), config.to_json().as_bytes())?;
    let record = MirrorRecord {
        version: RECORD_VERSION,
        format: options.format,
        archive_kind: ArchiveKind::of_upstream(upstream.config()),
        base_url: options.base_url.clone(),
        index_only: options.index_only,
        upstream: UpstreamState {
            url: upstream.url().to_owned(),
            identity: upstream.identity().id().to_owned(),
            commit: upstream.commit().map(str::to_owned),
            files,
        },
        selection: options.selection.clone(),
        missing: MissingRecord::of(&chosen.missing),
    };
    store(&layout.record_file(), record.to_toml().as_bytes())?;
    let written: Vec<PathBuf> = written.into_inner().unwrap_or_else(|e| e.into_inner());
    sync_files(&written)?;
    Ok((fetched.fetched + fetched.reused, fetched.bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stale_staging_of_this_destination_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        for dir in [".m.staging-dead/archives", ".m.staging-live", ".mm.staging-other", "m2"] {
            std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
        }
        let _live = FileLock::exclusive(&tmp.path().join(".m.staging-live").join(LOCK_FILE), |_| {}).unwrap();
        remove_stale_staging(tmp.path(), ".m.staging-").unwrap();
        let mut left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".m.staging-live", ".mm.staging-other", "m2"]);
    }
}
