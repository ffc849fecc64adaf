//! `sync`: bring the local copy of a registry up to date — git: fetch;
//! sparse: revalidate the cache, or fetch the dependency closure of some
//! packages — holding every refresh to what this client has seen of the
//! registry (see `workflows::rollback`).
//!
//! A refused refresh keeps the previous state (the clone's commit, the
//! cached files) and is reported, each change named; the options override.

use std::sync::Arc;

use serde::Serialize;

use crate::home::GgenHome;
use crate::sources::SourceError;
use crate::sources::fallback::WarningSink;
use crate::sources::guard::{HistoryRefusal, PackageRewrite};
use crate::sources::sparse::PrefetchReport;
use crate::trust::seen::SeenError;
use crate::util::progress::Progress;
use crate::workflows::registry::{self, ChosenRegistry, NetOptions, OpenedRegistry, RegistryError};
use crate::workflows::rollback::{Rewind, RollbackOptions, SeenGuard};

/// What to sync.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Packages whose dependency closure to fetch (sparse registries); a
    /// git registry always fetches everything.
    pub names: Vec<String>,
    /// What the refresh may override.
    pub rollback: RollbackOptions,
}

/// What a sync did, for people and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    /// The registry, as its source describes it.
    pub registry: String,
    /// Whether the local copy changed.
    pub changed: bool,
    /// One line for people.
    pub summary: String,
    /// The closure fetch of `names` on a sparse registry.
    #[serde(flatten)]
    pub closure: Option<PrefetchReport>,
    /// Fetches that did not descend from the commit fetched before.
    pub rewinds: Vec<Rewind>,
    /// Packages whose seen history the refresh rewrote.
    pub rewrites: Vec<PackageRewrite>,
}

impl SyncReport {
    /// What was refused: the previous state was kept for these.
    pub fn refusals(&self) -> Vec<HistoryRefusal> {
        crate::workflows::rollback::HistoryOutcome {
            rewinds: self.rewinds.clone(),
            rewrites: self.rewrites.clone(),
        }
        .refusals(&self.registry)
    }
}

/// Why a sync failed (a refusal is not a failure: see
/// [`SyncReport::refusals`]).
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum SyncError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Source(#[from] SourceError),
    /// What was seen could not be recorded.
    #[error("the sync itself succeeded, but recording what was seen failed: {0}")]
    Record(#[from] SeenError),
}

/// Syncs `chosen` under `home` (warnings of fallback mirrors go to `warn`).
pub fn sync(
    chosen: &ChosenRegistry,
    home: &GgenHome,
    net: NetOptions,
    options: &SyncOptions,
    progress: &dyn Progress,
    warn: &WarningSink,
) -> Result<SyncReport, SyncError> {
    let guard = Arc::new(SeenGuard::new(chosen, home, options.rollback, None));
    let opened = match registry::open_guarded(chosen, home, net, progress, warn, guard.clone()) {
        Err(RegistryError::Source(SourceError::History(_))) => None,
        other => Some(other?),
    };
    let registry = opened
        .as_ref()
        .map_or(chosen.location.source_id(), |o| o.registry.source().describe());
    let (changed, summary, closure) = match &opened {
        None => (false, REFUSED.to_owned(), None),
        Some(opened) => refresh(opened, options, progress)?,
    };
    guard.flush()?;
    let outcome = guard.outcome();
    Ok(SyncReport {
        registry,
        changed,
        summary,
        closure,
        rewinds: outcome.rewinds,
        rewrites: outcome.rewrites,
    })
}

/// The summary of a refresh refused as a whole.
const REFUSED: &str = "refused: the previous state is kept";

/// Fetches, revalidates or fetches a closure; a refusal is recorded by the
/// guard and ends the refresh with the previous state kept.
fn refresh(
    opened: &registry::Opened,
    options: &SyncOptions,
    progress: &dyn Progress,
) -> Result<(bool, String, Option<PrefetchReport>), SyncError> {
    let refreshed = match (&opened.registry, options.names.is_empty()) {
        (OpenedRegistry::Sparse(sparse), false) => sparse.prefetch_closure(&options.names, progress).map(|report| {
            let summary = format!(
                "{} packages in the closure of {} ({} fetched, {} unchanged, {} not found)",
                report.packages,
                options.names.join(", "),
                report.fetched,
                report.not_modified,
                report.not_found.len()
            );
            (report.fetched > 0, summary, Some(report))
        }),
        // A registry cloned just now, on opening, needs no second fetch.
        _ => match &opened.cloned {
            Some(cloned) => Ok(cloned.clone()),
            None => opened.registry.source().update(progress),
        }
        .map(|report| (report.changed, report.summary, None)),
    };
    match refreshed {
        Err(SourceError::History(_)) => Ok((false, REFUSED.to_owned(), None)),
        other => Ok(other?),
    }
}
