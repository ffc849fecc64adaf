//! The hook a source consults before a refresh replaces what it holds:
//! before a git fetch moves the clone, and before a refreshed package file
//! replaces the cached or cloned one. It is how rollback protection
//! (`trust::seen`, wired up by `workflows::rollback`) reaches the
//! transports without them knowing what is remembered, or where.
//!
//! A source without a guard takes every refresh, as `mirror update` wants:
//! it compares its upstream by content itself.

use serde::Serialize;

use super::PackageSource;

/// A package whose refreshed file departs from what was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageRewrite {
    /// The package file name.
    pub name: String,
    /// What changed, one sentence each.
    pub changes: Vec<String>,
    /// Whether it was taken anyway (`--accept-upstream-rewrite`).
    pub accepted: bool,
}

/// Why a guard refused a refresh.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryRefusal {
    /// A git fetch whose commit does not descend from the one last fetched.
    #[error(
        "{location} now serves commit {fetched}, which does not descend from commit {remembered} fetched before: \
         its history was rewound or rewritten (a rollback attack, or a force-push). The clone stays at the \
         commit it had; if the rewrite is known and wanted, run `ggen-market sync --allow-rewind`"
    )]
    Rewound {
        /// The git location.
        location: String,
        /// The commit fetched before.
        remembered: String,
        /// The commit served now.
        fetched: String,
    },
    /// Package files that drop versions seen, change a seen version's
    /// `cksum` or `deps`, or unyank one silently.
    #[error("{}", rewritten_message(.registry, .rewrites))]
    Rewritten {
        /// The registry, as described by its source.
        registry: String,
        /// Each package refused, with its changes.
        rewrites: Vec<PackageRewrite>,
    },
}

fn rewritten_message(registry: &str, rewrites: &[PackageRewrite]) -> String {
    let mut message = format!("{registry} rewrote published history this client has seen:");
    for rewrite in rewrites {
        for change in &rewrite.changes {
            message.push_str(&format!("\n  {}: {change}", rewrite.name));
        }
    }
    message.push_str(
        "\nThe previous state is kept. If the registry's operators made this change on purpose, \
         run `ggen-market sync --accept-upstream-rewrite` to take it",
    );
    message
}

/// Decides whether a refresh may replace what a source holds, and
/// remembers what it let through.
pub trait HistoryGuard: Send + Sync {
    /// The commit last fetched from the git `location`, if remembered.
    fn remembered_commit(&self, location: &str, index: &dyn PackageSource) -> Option<String>;

    /// Whether the clone of `location` may move from `remembered` to
    /// `fetched`; `descends` says whether `fetched` has `remembered` in its
    /// history. `index` is the index as of `fetched`.
    fn admit_commit(
        &self,
        location: &str,
        remembered: &str,
        fetched: &str,
        descends: bool,
        index: &dyn PackageSource,
    ) -> Result<(), HistoryRefusal>;

    /// Packages whose history is remembered beyond what the source holds
    /// (a fresh clone is checked against these).
    fn remembered_packages(&self, index: &dyn PackageSource) -> Vec<String>;

    /// Whether the package file `name` may go from `previous` (what the
    /// source held, `None` if nothing) to `now` (`None`: the file is gone);
    /// `index` is the index as it is now, for notices and keys. A refusal
    /// lists the changes.
    fn admit_package(
        &self,
        name: &str,
        previous: Option<&str>,
        now: Option<&str>,
        index: &dyn PackageSource,
    ) -> Result<(), PackageRewrite>;

    /// The clone of `location` moved to `commit`.
    fn commit_taken(&self, location: &str, commit: &str, index: &dyn PackageSource);
}

impl std::fmt::Debug for dyn HistoryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HistoryGuard")
    }
}
