//! `mirror update`: bring a mirror forward to its upstream, incrementally.
//!
//! The selection in `mirror.toml` is chosen again from the upstream as it
//! is now, and each package is compared with the mirror's copy **by
//! content**, line by line (matched by version), not by commit — so a
//! squashed or force-pushed upstream repository updates like any other:
//! - a version the mirror lacks is new: its line is appended (byte for
//!   byte) and its archive fetched and checked;
//! - a line that differs only in `yanked` is a yank (or unyank): the
//!   upstream's line replaces the mirror's, the archive stays;
//! - anything else is a **rewrite of published history**: a line whose
//!   `cksum`, `deps` or any other field changed, a version that vanished,
//!   an owner-keys file that lost or changed lines. The package is kept at
//!   its last good state, the rewrite is reported, and
//!   [`UpdateOptions::accept_upstream_rewrite`] takes the upstream's
//!   version of it (archives of vanished versions are removed).
//!
//! Only new archives are fetched: one already in place with the right
//! checksum is kept. When more than `mirror.toml` changes, the changes are
//! made in a next tree beside the mirror (its files hard-linked) and
//! swapped in with one atomic exchange (the private `next_tree` module),
//! so readers and a crash see the old mirror or the new one, never a mix;
//! the next update removes what a killed one left beside the mirror. A
//! failure before the exchange changes nothing. The mirror's lock is held
//! throughout.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::admit::{self, ArchiveJob, sha256_hex};
use super::layout::{LOCK_FILE, Layout};
use super::next_tree::{self, NextTree};
use super::record::{MirrorRecord, MissingRecord};
use super::selection::{self, ChosenPackage, MissingDependency};
use super::upstream::{Upstream, UpstreamFile};
use super::{MirrorError, mirror_config};
use crate::home::GgenHome;
use crate::sources::fallback::WarningSink;
use crate::sources::local::LocalSource;
use crate::sources::{EntryLine, PackageSource, parse_entry_lines};
use crate::trust::owner_keys_path;
use crate::util::fs::{FileLock, FsError, sync_files, write_atomic};
use crate::util::progress::Progress;
use crate::workflows::registry::NetOptions;

/// How to update.
#[derive(Debug, Clone, Default)]
pub struct UpdateOptions {
    /// Read the upstream from here instead of mirror.toml's URL (it must
    /// be the same registry: the same identity).
    pub from: Option<String>,
    /// Take the upstream's rewrites of published history.
    pub accept_upstream_rewrite: bool,
}

/// A package version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct VersionRef {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
}

/// A package whose published history the upstream changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rewrite {
    /// The package (file name).
    pub name: String,
    /// What changed, one sentence each.
    pub changes: Vec<String>,
    /// Whether the mirror took it (`--accept-upstream-rewrite`).
    pub accepted: bool,
}

/// What an update did, for people and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateReport {
    /// The upstream read.
    pub upstream: String,
    /// Its git commit before (as recorded) and now.
    pub previous_commit: Option<String>,
    /// Its git commit now.
    pub commit: Option<String>,
    /// Versions added.
    pub added: Vec<VersionRef>,
    /// Versions the upstream yanked since.
    pub yanked: Vec<VersionRef>,
    /// Versions the upstream unyanked since.
    pub unyanked: Vec<VersionRef>,
    /// Rewrites of published history, taken or not.
    pub rewrites: Vec<Rewrite>,
    /// Archives fetched.
    pub archives: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Dependencies the mirror does not satisfy.
    pub missing_dependencies: Vec<MissingDependency>,
    /// Whether any file of the mirror changed.
    pub changed: bool,
}

impl UpdateReport {
    /// The rewrites that were refused: those packages were left as they were.
    pub fn refused(&self) -> impl Iterator<Item = &Rewrite> {
        self.rewrites.iter().filter(|r| !r.accepted)
    }
}

/// Updates the mirror at `dir` from its upstream, opened under `home`
/// (warnings of its fallback mirrors, if any, go to `warn`).
pub fn update(
    dir: &Path,
    home: &GgenHome,
    net: NetOptions,
    options: &UpdateOptions,
    progress: &dyn Progress,
    warn: &WarningSink,
) -> Result<UpdateReport, MirrorError> {
    MirrorRecord::read(dir)?;
    let _lock = FileLock::exclusive(&dir.join(LOCK_FILE), |path| {
        progress.start(&format!("waiting for the lock on {}", path.display()), 0);
    })?;
    // Read under the lock: another update may have just finished.
    let record = MirrorRecord::read(dir)?;
    let url = options.from.clone().unwrap_or_else(|| record.upstream.url.clone());
    let upstream = Upstream::open(&url, home, net, progress, warn)?;
    if upstream.identity().id() != record.upstream.identity {
        return Err(MirrorError::IdentityChanged {
            url: url.clone(),
            recorded: record.upstream.identity.clone(),
            found: upstream.identity().id().to_owned(),
        });
    }
    let layout = record.layout(dir);
    let chosen = selection::choose(&record.selection, &upstream, progress)?;
    let mirror = LocalSource::open(layout.index_dir())?;
    let mirrored = mirror.package_names()?.unwrap_or_default();
    // Mirrored packages the selection no longer reaches are compared with
    // their upstream file too: a vanished one is a rewrite.
    let unreached: Vec<String> = mirrored
        .iter()
        .filter(|name| !chosen.packages.contains_key(*name))
        .cloned()
        .collect();
    let unreached_files: BTreeMap<String, Option<Arc<UpstreamFile>>> = unreached
        .iter()
        .cloned()
        .zip(upstream.read_packages(&unreached, progress))
        .map(|(name, file)| Ok((name, file?.map(Arc::new))))
        .collect::<Result<_, MirrorError>>()?;

    let mut plans = Vec::new();
    for name in chosen.packages.keys().chain(&unreached).collect::<BTreeSet<_>>() {
        let old = read_mirrored(&mirror, name)?;
        let (file, chosen_package) = match chosen.packages.get(name) {
            Some(package) => (Some(package.file.clone()), Some(package)),
            None => (unreached_files.get(name).cloned().flatten(), None),
        };
        plans.push(plan_package(
            name,
            &old,
            file.as_deref(),
            chosen_package,
            options.accept_upstream_rewrite,
        ));
    }

    let entering: Vec<(String, Vec<&EntryLine>)> = plans
        .iter()
        .map(|plan| (plan.name.clone(), plan.entering.iter().collect()))
        .collect();
    let upstream_keys = admit::check_signatures(&upstream, &entering, progress)?;
    for plan in &mut plans {
        if plan.kept_as_is() {
            continue;
        }
        let old_keys = mirror.read_index_file(&owner_keys_path(&plan.name))?;
        let Some(new_keys) = upstream_keys.get(&plan.name) else {
            continue;
        };
        match keys_change(old_keys.as_deref(), new_keys.as_deref()) {
            KeysChange::Same => {}
            KeysChange::Take => plan.keys = Some(new_keys.clone()),
            KeysChange::Rewrite(change) => plan.rewrite(change, options.accept_upstream_rewrite, new_keys.clone()),
        }
    }

    // More than mirror.toml changes: the changes go into a next tree,
    // swapped in whole (see `next_tree`); mirror.toml alone is one
    // atomic write in place. Either way, a killed run's leftovers go.
    next_tree::remove_leftovers(dir)?;
    let config_text = mirror_config(&upstream, &layout, record.base_url.as_deref(), record.index_only)?.to_json();
    let config_changes = std::fs::read_to_string(layout.config_file()).ok().as_deref() != Some(config_text.as_str());
    let archives_enter = !record.index_only && plans.iter().any(|plan| !plan.entering.is_empty());
    let next = if config_changes || archives_enter || plans.iter().any(PackagePlan::writes_files) {
        Some(NextTree::begin(dir)?)
    } else {
        None
    };
    let target = next
        .as_ref()
        .map_or_else(|| layout.clone(), |next| layout.at(next.root()));
    let fetched = fetch_new_archives(&target, &upstream, &record, &plans, progress)?;
    let mut record = record;
    let mut changed = fetched.fetched > 0;
    for plan in &plans {
        changed |= apply(plan, &target, &mut record)?;
    }
    if config_changes {
        write_atomic(&target.config_file(), config_text.as_bytes())?;
        changed = true;
    }
    let previous_commit = record.upstream.commit.clone();
    record.upstream.commit = upstream.commit().map(str::to_owned);
    record.missing = MissingRecord::of(&chosen.missing);
    write_atomic(&target.record_file(), record.to_toml().as_bytes())?;
    if let Some(next) = next {
        next.swap_in()?;
    }

    let mut report = UpdateReport {
        upstream: url,
        previous_commit,
        commit: upstream.commit().map(str::to_owned),
        added: Vec::new(),
        yanked: Vec::new(),
        unyanked: Vec::new(),
        rewrites: Vec::new(),
        archives: fetched.fetched,
        bytes: fetched.bytes,
        missing_dependencies: chosen.missing,
        changed,
    };
    for plan in plans {
        if !plan.kept_as_is() {
            report.added.extend(plan.added);
            report.yanked.extend(plan.yanked);
            report.unyanked.extend(plan.unyanked);
        }
        report.rewrites.extend(plan.rewrite);
    }
    Ok(report)
}

/// The mirror's lines of a package (none if it has no file).
fn read_mirrored(mirror: &LocalSource, name: &str) -> Result<Vec<EntryLine>, MirrorError> {
    let Some(text) = mirror.read_package_file(name)? else {
        return Ok(Vec::new());
    };
    Ok(parse_entry_lines(&format!("{} {name}", mirror.describe()), &text)?)
}

/// What an update does to one package.
struct PackagePlan {
    name: String,
    /// The package file's path in the index.
    path: String,
    /// The file's new text; `None`: unchanged. `Some(None)`: removed.
    text: Option<Option<String>>,
    /// The owner-keys file's new text, if it changes.
    keys: Option<Option<String>>,
    /// Lines that enter the mirror (new, yank flips, accepted rewrites).
    entering: Vec<EntryLine>,
    /// Versions whose archives leave the mirror (accepted rewrites).
    leaving: Vec<VersionRef>,
    /// The upstream file's SHA-256, recorded when its versions are taken.
    upstream_sha256: Option<String>,
    added: Vec<VersionRef>,
    yanked: Vec<VersionRef>,
    unyanked: Vec<VersionRef>,
    rewrite: Option<Rewrite>,
    /// The upstream's lines for this package, for an accepted rewrite.
    upstream_text: Option<String>,
    upstream_lines: Vec<EntryLine>,
}

impl PackagePlan {
    /// Whether the package stays exactly as it is (a refused rewrite).
    fn kept_as_is(&self) -> bool {
        self.rewrite.as_ref().is_some_and(|r| !r.accepted)
    }

    /// Whether applying the plan writes or removes a file of the mirror.
    fn writes_files(&self) -> bool {
        !self.kept_as_is() && (self.text.is_some() || self.keys.is_some() || !self.leaving.is_empty())
    }

    /// Records a rewrite; if accepted, the package becomes the upstream's.
    fn rewrite(&mut self, change: String, accept: bool, keys: Option<String>) {
        let rewrite = self.rewrite.get_or_insert_with(|| Rewrite {
            name: self.name.clone(),
            changes: Vec::new(),
            accepted: accept,
        });
        rewrite.changes.push(change);
        if !accept {
            self.text = None;
            self.keys = None;
            self.entering.clear();
            self.leaving.clear();
            self.upstream_sha256 = None;
        } else {
            self.keys = Some(keys);
            self.take_upstream();
        }
    }

    /// The package as the upstream has it now (an accepted rewrite).
    fn take_upstream(&mut self) {
        self.text = Some(self.upstream_text.clone());
        self.entering = self.upstream_lines.clone();
    }
}

/// Compares the mirror's lines of a package with the upstream's file and
/// chosen lines.
fn plan_package(
    name: &str,
    old: &[EntryLine],
    file: Option<&UpstreamFile>,
    chosen: Option<&ChosenPackage>,
    accept: bool,
) -> PackagePlan {
    let version = |line: &EntryLine| VersionRef {
        name: line.entry.name.clone(),
        version: line.entry.vers.clone(),
    };
    let chosen_lines: Vec<EntryLine> = chosen.map(|c| c.entry_lines().cloned().collect()).unwrap_or_default();
    let mut plan = PackagePlan {
        name: name.to_owned(),
        path: crate::format::name::index_path(name),
        text: None,
        keys: None,
        entering: Vec::new(),
        leaving: Vec::new(),
        upstream_sha256: file.map(|f| sha256_hex(f.text.as_bytes())),
        added: Vec::new(),
        yanked: Vec::new(),
        unyanked: Vec::new(),
        rewrite: None,
        upstream_text: chosen.map(ChosenPackage::text),
        upstream_lines: chosen_lines.clone(),
    };
    let mut changes = Vec::new();
    let mut merged: Vec<String> = Vec::new();
    let mut edited = false;
    for line in old {
        let now = file.and_then(|f| f.lines.iter().find(|l| l.entry.vers == line.entry.vers));
        match now {
            None => {
                changes.push(format!("version {} vanished from the upstream", line.entry.vers));
                merged.push(line.line.clone());
            }
            Some(now) if now.line == line.line => merged.push(line.line.clone()),
            Some(now) => match changed_fields(&line.line, &now.line) {
                fields if fields.is_empty() => {
                    edited = true;
                    merged.push(now.line.clone());
                    plan.entering.push(now.clone());
                    if now.entry.yanked {
                        plan.yanked.push(version(now));
                    } else {
                        plan.unyanked.push(version(now));
                    }
                }
                fields => {
                    changes.push(format!("version {}: {} changed", line.entry.vers, fields.join(", ")));
                    merged.push(line.line.clone());
                }
            },
        }
    }
    if file.is_none() && !old.is_empty() {
        changes = vec!["the package vanished from the upstream".to_owned()];
    }
    for line in &chosen_lines {
        if !old.iter().any(|o| o.entry.vers == line.entry.vers) {
            edited = true;
            merged.push(line.line.clone());
            plan.entering.push(line.clone());
            plan.added.push(version(line));
        }
    }
    if edited {
        plan.text = Some(Some(merged.iter().map(|l| format!("{l}\n")).collect()));
    }
    for change in changes {
        plan.rewrite(change, accept, None);
    }
    if plan.rewrite.as_ref().is_some_and(|r| r.accepted) {
        plan.keys = None;
        plan.added = chosen_lines
            .iter()
            .filter(|l| !old.iter().any(|o| o.entry.vers == l.entry.vers))
            .map(version)
            .collect();
        plan.leaving = old
            .iter()
            .filter(|o| !chosen_lines.iter().any(|l| l.entry.vers == o.entry.vers))
            .map(version)
            .collect();
    }
    plan
}

/// The top-level fields of two entry lines that differ, `yanked` aside.
fn changed_fields(old: &str, new: &str) -> Vec<String> {
    type Fields = serde_json::Map<String, serde_json::Value>;
    let (Ok(old), Ok(new)) = (serde_json::from_str::<Fields>(old), serde_json::from_str::<Fields>(new)) else {
        return vec!["the line".to_owned()];
    };
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).filter(|k| *k != "yanked").collect();
    keys.into_iter()
        .filter(|key| old.get(*key) != new.get(*key))
        .map(|key| format!("`{key}`"))
        .collect()
}

/// How an owner-keys file changed.
enum KeysChange {
    Same,
    /// New keys appended (a rotation), or the first file: taken.
    Take,
    /// Keys removed or changed: a rewrite.
    Rewrite(String),
}

fn keys_change(old: Option<&str>, new: Option<&str>) -> KeysChange {
    match (old, new) {
        (old, new) if old == new => KeysChange::Same,
        (None, Some(_)) => KeysChange::Take,
        (Some(_), None) => KeysChange::Rewrite("its owner-keys file vanished from the upstream".to_owned()),
        (Some(old), Some(new)) if new.starts_with(old) => KeysChange::Take,
        _ => KeysChange::Rewrite("lines of its owner-keys file were changed or removed".to_owned()),
    }
}

/// Fetches the archive of every entering line into `layout` (the next
/// tree); one already there with the right checksum is kept.
fn fetch_new_archives(
    layout: &Layout,
    upstream: &Upstream,
    record: &MirrorRecord,
    plans: &[PackagePlan],
    progress: &dyn Progress,
) -> Result<admit::Fetched, MirrorError> {
    if record.index_only {
        return Ok(admit::Fetched::default());
    }
    let jobs: Vec<ArchiveJob<'_>> = plans
        .iter()
        .flat_map(|plan| &plan.entering)
        .map(|line| ArchiveJob {
            entry: &line.entry,
            dest: layout.archive_file(&line.entry.name, &line.entry.vers),
        })
        .collect();
    let written = Mutex::new(Vec::new());
    let store = |dest: &Path, bytes: &[u8]| -> Result<(), FsError> {
        let parent = dest.parent().expect("archive paths have directories");
        std::fs::create_dir_all(parent).map_err(|e| FsError::new("create directory", parent, e))?;
        // A file of the live tree is linked here: replace it, never write
        // through it.
        match std::fs::remove_file(dest) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(FsError::new("remove", dest, e)),
            _ => {}
        }
        std::fs::write(dest, bytes).map_err(|e| FsError::new("write", dest, e))?;
        written.lock().unwrap_or_else(|e| e.into_inner()).push(dest.to_owned());
        Ok(())
    };
    let fetched = admit::fetch_archives(upstream, &jobs, &store, progress)?;
    sync_files(&written.into_inner().unwrap_or_else(|e| e.into_inner()))?;
    Ok(fetched)
}

/// Writes one package's new files, removes what leaves, and records the
/// upstream state taken. Returns whether anything changed.
fn apply(plan: &PackagePlan, layout: &Layout, record: &mut MirrorRecord) -> Result<bool, MirrorError> {
    if plan.kept_as_is() {
        return Ok(false);
    }
    let mut changed = false;
    let mut write = |path: PathBuf, text: &Option<String>| -> Result<(), MirrorError> {
        changed = true;
        match text {
            Some(text) => write_atomic(&path, text.as_bytes())?,
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(FsError::new("remove", &path, e).into());
                }
                _ => {}
            },
        }
        Ok(())
    };
    if let Some(text) = &plan.text {
        write(layout.index_file(&plan.path), text)?;
    }
    if let Some(keys) = &plan.keys {
        write(layout.index_file(&owner_keys_path(&plan.name)), keys)?;
    }
    for leaving in &plan.leaving {
        write(layout.archive_file(&leaving.name, &leaving.version), &None)?;
    }
    match (&plan.upstream_sha256, &plan.text) {
        (_, Some(None)) => {
            record.upstream.files.remove(&plan.path);
        }
        (Some(sha), _) => {
            record.upstream.files.insert(plan.path.clone(), sha.clone());
        }
        (None, _) => {}
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::IndexEntry;

    fn line(vers: &str, cksum: &str, yanked: bool) -> EntryLine {
        let text = format!(
            r#"{{"name":"demo","vers":"{vers}","deps":[],"cksum":"{}","features":{{}},"yanked":{yanked}}}"#,
            cksum.repeat(64)
        );
        EntryLine {
            entry: IndexEntry::from_line(&text).unwrap(),
            line: text,
        }
    }

    fn file(lines: &[EntryLine]) -> UpstreamFile {
        UpstreamFile {
            name: "demo".into(),
            path: "de/mo/demo".into(),
            text: lines.iter().map(|l| format!("{}\n", l.line)).collect(),
            lines: lines.to_vec(),
        }
    }

    fn chosen_all(file: &UpstreamFile) -> ChosenPackage {
        ChosenPackage {
            file: Arc::new(file.clone()),
            lines: (0..file.lines.len()).collect(),
        }
    }

    #[test]
    fn new_versions_and_yanks_are_taken() {
        let old = vec![line("1.0.0", "a", false)];
        let upstream = file(&[line("1.0.0", "a", true), line("1.1.0", "b", false)]);
        let plan = plan_package("demo", &old, Some(&upstream), Some(&chosen_all(&upstream)), false);
        assert!(plan.rewrite.is_none());
        assert_eq!(plan.text, Some(Some(upstream.text.clone())));
        assert_eq!(plan.yanked.len(), 1);
        assert_eq!(plan.added[0].version, "1.1.0");
        assert_eq!(plan.entering.len(), 2);
    }

    #[test]
    fn a_changed_checksum_or_a_vanished_version_is_refused_unless_accepted() {
        let old = vec![line("1.0.0", "a", false), line("1.1.0", "b", false)];
        let upstream = file(&[line("1.0.0", "c", false), line("1.2.0", "d", false)]);
        let chosen = chosen_all(&upstream);
        let refused = plan_package("demo", &old, Some(&upstream), Some(&chosen), false);
        let rewrite = refused.rewrite.as_ref().unwrap();
        assert!(!rewrite.accepted);
        assert_eq!(
            rewrite.changes,
            [
                "version 1.0.0: `cksum` changed",
                "version 1.1.0 vanished from the upstream"
            ]
        );
        assert!(refused.kept_as_is() && refused.text.is_none() && refused.entering.is_empty());

        let accepted = plan_package("demo", &old, Some(&upstream), Some(&chosen), true);
        assert_eq!(accepted.text, Some(Some(upstream.text.clone())));
        assert_eq!(accepted.leaving[0].version, "1.1.0");
        assert_eq!(accepted.added[0].version, "1.2.0");

        let gone = plan_package("demo", &old, None, None, true);
        assert_eq!(gone.text, Some(None));
        assert_eq!(gone.leaving.len(), 2);
    }

    #[test]
    fn owner_keys_may_only_grow() {
        assert!(matches!(keys_change(Some("a\n"), Some("a\n")), KeysChange::Same));
        assert!(matches!(keys_change(Some("a\n"), Some("a\nb\n")), KeysChange::Take));
        assert!(matches!(keys_change(None, Some("a\n")), KeysChange::Take));
        assert!(matches!(keys_change(Some("a\n"), Some("b\n")), KeysChange::Rewrite(_)));
        assert!(matches!(keys_change(Some("a\n"), None), KeysChange::Rewrite(_)));
    }
}
