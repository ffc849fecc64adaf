//! Rollback and freeze protection: the [`HistoryGuard`] every registry a
//! command opens is held to, backed by what this client has seen of the
//! registry (`trust::seen`, in `GGEN_HOME/trust/seen/`).
//!
//! What is remembered, per registry identity (so a mirror is held to the
//! same history as the registry it stands for):
//! - for each git location, the last commit fetched: a fetch that does not
//!   descend from it is refused (unless [`RollbackOptions::allow_rewind`]);
//! - for each package whose file came over the wire — every file a sparse
//!   source fetched, every package file a git fetch changed — its versions
//!   with digests of `cksum` and `deps` and the yanked flag: a refreshed
//!   file that drops one, changes one, or unyanks one without a signed
//!   unyank notice is refused (unless
//!   [`RollbackOptions::accept_upstream_rewrite`], which records the new
//!   state).
//!
//! A first clone records only its commit, not the ~30,000 files of an
//! index the size of crates.io: the commit anchors them (every later fetch
//! must descend from it, and every file it changes is compared with the
//! clone's copy), and reading and hashing them all would cost seconds and
//! megabytes for files the client may never use.
//!
//! A refused git fetch leaves the clone at its commit; a refused sparse
//! file leaves the cached copy. Outside `sync`, a refusal is a warning and
//! the last good copy is used. What was let through is written by
//! [`SeenGuard::flush`] (and, best effort, when the guard is dropped).

use std::sync::{Mutex, OnceLock, PoisonError};

use serde::Serialize;

use crate::format::notice::{Action, Notices, notices_path};
use crate::format::{IndexConfig, RegistryIdentity};
use crate::home::GgenHome;
use crate::sources::PackageSource;
use crate::sources::fallback::WarningSink;
use crate::sources::guard::{HistoryGuard, HistoryRefusal, PackageRewrite};
use crate::trust::notices::verify_notice;
use crate::trust::seen::{HistoryChange, SeenError, SeenPackage, SeenRecord, SeenStore};
use crate::trust::{AllowedKeys, OwnerKeys, owner_keys_path};
use crate::workflows::registry::ChosenRegistry;

/// What a refresh may override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RollbackOptions {
    /// Take a git fetch that does not descend from the commit fetched
    /// before (`--allow-rewind`).
    pub allow_rewind: bool,
    /// Take package files that drop, change or silently unyank versions
    /// seen (`--accept-upstream-rewrite`).
    pub accept_upstream_rewrite: bool,
}

/// A git fetch that did not descend from the commit fetched before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rewind {
    /// The git location.
    pub location: String,
    /// The commit fetched before.
    pub remembered: String,
    /// The commit served now.
    pub fetched: String,
    /// Whether it was taken (`--allow-rewind`).
    pub accepted: bool,
}

/// What the guard decided during a run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct HistoryOutcome {
    /// Rewinds met, taken or not.
    pub rewinds: Vec<Rewind>,
    /// Packages whose history was rewritten, taken or not.
    pub rewrites: Vec<PackageRewrite>,
}

impl HistoryOutcome {
    /// The refusals, as the errors a command reports.
    pub fn refusals(&self, registry: &str) -> Vec<HistoryRefusal> {
        let mut refusals: Vec<HistoryRefusal> = self
            .rewinds
            .iter()
            .filter(|r| !r.accepted)
            .map(|r| HistoryRefusal::Rewound {
                location: r.location.clone(),
                remembered: r.remembered.clone(),
                fetched: r.fetched.clone(),
            })
            .collect();
        let rewrites: Vec<PackageRewrite> = self.rewrites.iter().filter(|r| !r.accepted).cloned().collect();
        if !rewrites.is_empty() {
            refusals.push(HistoryRefusal::Rewritten {
                registry: registry.to_owned(),
                rewrites,
            });
        }
        refusals
    }
}

/// The guard of one registry for one run.
pub struct SeenGuard {
    store: SeenStore,
    chosen: ChosenRegistry,
    options: RollbackOptions,
    /// Where refusals go outside `sync` (`None`: the caller reports them).
    warn: Option<WarningSink>,
    /// The registry's identity, bound from the state held before the
    /// refresh where there is one (see [`SeenGuard::bind`]).
    identity: OnceLock<String>,
    state: Mutex<GuardState>,
}

#[derive(Default)]
struct GuardState {
    /// The record on disk, loaded on first use (or why it cannot be).
    record: Option<Result<SeenRecord, String>>,
    /// What this run let through, written by `flush`.
    pending: SeenRecord,
    outcome: HistoryOutcome,
}

impl SeenGuard {
    /// A guard for `chosen`, its record kept under `home`; refusals are
    /// warned about on `warn` if given.
    pub fn new(chosen: &ChosenRegistry, home: &GgenHome, options: RollbackOptions, warn: Option<WarningSink>) -> Self {
        SeenGuard {
            store: SeenStore::in_trust_dir(&home.trust_dir()),
            chosen: chosen.clone(),
            options,
            warn,
            identity: OnceLock::new(),
            state: Mutex::new(GuardState::default()),
        }
    }

    /// Binds the registry's identity from the config.json held before a
    /// refresh, so a refresh that changes `id` is still held to the record
    /// of the registry it was.
    pub fn bind(&self, config: &IndexConfig) {
        self.identity
            .get_or_init(|| self.chosen.identity(config).id().to_owned());
    }

    fn identity(&self, index: &dyn PackageSource) -> &str {
        self.identity.get_or_init(|| match index.config() {
            Ok(config) => self.chosen.identity(&config).id().to_owned(),
            Err(_) => RegistryIdentity::new(self.chosen.location.source_id()).id().to_owned(),
        })
    }

    /// What was met so far: rewinds and rewrites, taken or refused.
    pub fn outcome(&self) -> HistoryOutcome {
        self.lock().outcome.clone()
    }

    /// Writes what this run let through into the record.
    pub fn flush(&self) -> Result<(), SeenError> {
        let Some(identity) = self.identity.get() else {
            return Ok(());
        };
        let pending = std::mem::take(&mut self.lock().pending);
        self.store.save(identity, &pending)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GuardState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The record, loaded once; `Err` says why it cannot be read.
    fn with_record<T>(
        &self,
        index: &dyn PackageSource,
        read: impl FnOnce(&SeenRecord, &SeenRecord) -> T,
    ) -> Result<T, String> {
        let identity = self.identity(index);
        let mut guard = self.lock();
        let state = &mut *guard;
        let loaded = state
            .record
            .get_or_insert_with(|| self.store.load(identity).map_err(|e| e.to_string()));
        match loaded {
            Ok(record) => Ok(read(record, &state.pending)),
            Err(why) => Err(why.clone()),
        }
    }

    fn refuse(&self, rewrite: PackageRewrite) -> PackageRewrite {
        if let Some(warn) = &self.warn {
            let changes = rewrite.changes.join("; ");
            warn(&format!(
                "{}: refused an index file of `{}` that rewrites history seen before ({changes}); the last good copy is used. \
                 Run `ggen-market sync` for the report, or `ggen-market sync --accept-upstream-rewrite` to take it",
                self.chosen.location.source_id(),
                rewrite.name
            ));
        }
        self.lock().outcome.rewrites.push(rewrite.clone());
        rewrite
    }
}

impl Drop for SeenGuard {
    /// Best effort for commands that do not flush themselves: what was let
    /// through is only remembered less, never wrongly, if this fails.
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl HistoryGuard for SeenGuard {
    fn remembered_commit(&self, location: &str, index: &dyn PackageSource) -> Option<String> {
        self.with_record(index, |record, pending| {
            pending.commit(location).or(record.commit(location)).map(str::to_owned)
        })
        .ok()
        .flatten()
    }

    fn admit_commit(
        &self,
        location: &str,
        remembered: &str,
        fetched: &str,
        descends: bool,
        _index: &dyn PackageSource,
    ) -> Result<(), HistoryRefusal> {
        if descends {
            return Ok(());
        }
        let rewind = Rewind {
            location: location.to_owned(),
            remembered: remembered.to_owned(),
            fetched: fetched.to_owned(),
            accepted: self.options.allow_rewind,
        };
        self.lock().outcome.rewinds.push(rewind);
        if self.options.allow_rewind {
            return Ok(());
        }
        Err(HistoryRefusal::Rewound {
            location: location.to_owned(),
            remembered: remembered.to_owned(),
            fetched: fetched.to_owned(),
        })
    }

    fn remembered_packages(&self, index: &dyn PackageSource) -> Vec<String> {
        self.with_record(index, |record, _| record.packages.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn admit_package(
        &self,
        name: &str,
        previous: Option<&str>,
        now: Option<&str>,
        index: &dyn PackageSource,
    ) -> Result<(), PackageRewrite> {
        let seen = self.with_record(index, |record, pending| {
            pending
                .package(name)
                .or(record.package(name))
                .cloned()
                .unwrap_or_default()
        });
        let seen = match seen {
            Ok(seen) => seen,
            Err(damaged) => {
                return Err(self.refuse(PackageRewrite {
                    name: name.to_owned(),
                    changes: vec![damaged],
                    accepted: false,
                }));
            }
        };
        let seen = match previous {
            Some(previous) => seen.merged_with(&SeenPackage::of_text(previous)),
            None => seen,
        };
        let current = now.map(SeenPackage::of_text).unwrap_or_default();
        let changes = seen.changes_to(&current, |version| unyank_noticed(index, name, version));
        if seen.is_empty() && current.is_empty() {
            return Ok(());
        }
        if changes.is_empty() || self.options.accept_upstream_rewrite {
            let mut state = self.lock();
            state.pending.packages.insert(name.to_owned(), current);
            if !changes.is_empty() {
                state.outcome.rewrites.push(rewrite_of(name, &changes, true));
            }
            return Ok(());
        }
        Err(self.refuse(rewrite_of(name, &changes, false)))
    }

    fn commit_taken(&self, location: &str, commit: &str, index: &dyn PackageSource) {
        self.identity(index);
        self.lock()
            .pending
            .commits
            .insert(location.to_owned(), commit.to_owned());
    }
}

fn rewrite_of(name: &str, changes: &[HistoryChange], accepted: bool) -> PackageRewrite {
    PackageRewrite {
        name: name.to_owned(),
        changes: changes.iter().map(ToString::to_string).collect(),
        accepted,
    }
}

/// Whether the package's last yank or unyank notice for `version` in
/// `index` is an unyank signed by a key allowed for the package.
fn unyank_noticed(index: &dyn PackageSource, package: &str, version: &str) -> bool {
    let Ok(Some(text)) = index.read_index_file(&notices_path(package)) else {
        return false;
    };
    let (Ok(notices), Ok(config)) = (Notices::parse(&text), index.config()) else {
        return false;
    };
    let keys_path = owner_keys_path(package);
    let owners = index.read_index_file(&keys_path).ok().flatten().unwrap_or_default();
    let Ok(allowed) = OwnerKeys::parse(&keys_path, &owners).map(|owners| AllowedKeys::new(package, &config, owners))
    else {
        return false;
    };
    let Ok(allowed) = allowed else {
        return false;
    };
    notices
        .lines()
        .iter()
        .filter(|line| line.notice.version.as_deref() == Some(version))
        .filter(|line| matches!(line.notice.action, Action::Yank | Action::Unyank))
        .rfind(|line| verify_notice(&line.line, &allowed).is_ok())
        .is_some_and(|line| line.notice.action == Action::Unyank)
}
