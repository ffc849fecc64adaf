//! Notices: what a package's owners say about it after publishing, kept in
//! the index beside its file at `_notices/{shard}/{name}` (the `_` prefix
//! cannot collide with a package shard), one signed JSON line each, appended
//! in order.
//!
//! - `{"package":"io.ggen.base","action":"yank","version":"1.0.0","sig":"…"}`
//!   (or `"unyank"`): an owner's consent to a `yanked` flip in the package
//!   file. The flip itself is not covered by the entry's signature, so the
//!   pull-request gate accepts it unreviewed only with such a notice.
//! - `{"package":"io.ggen.base","action":"deprecate","message":"use io.ggen.core","sig":"…"}`
//!   (or `"undeprecate"`): a package-level notice clients show; the last
//!   one wins.
//!
//! `sig` is a minisign signature over the line's canonical form (the object
//! without `sig`, keys sorted, no whitespace), by a key allowed to sign the
//! package (see `trust::notices`).
//!
//! ```
//! use ggen_marketplace::format::notice::{Action, Notice, Notices, notices_path};
//! assert_eq!(notices_path("io.ggen.base"), "_notices/io/.g/io.ggen.base");
//! let text = concat!(
//!     r#"{"package":"io.ggen.base","action":"deprecate","message":"use io.ggen.core"}"#, "\n",
//!     r#"{"package":"io.ggen.base","action":"yank","version":"1.0.0"}"#, "\n",
//! );
//! let notices = Notices::parse(text).unwrap();
//! assert_eq!(notices.deprecation().unwrap().message.as_deref(), Some("use io.ggen.core"));
//! assert_eq!(notices.lines()[1].notice.action, Action::Yank);
//! ```

use serde::{Deserialize, Serialize};

use super::name::index_path;

/// The directory of notice files at the root of an index.
pub const NOTICES_DIR: &str = "_notices";

/// The path of a package's notice file relative to the index root.
pub fn notices_path(name: &str) -> String {
    format!("{NOTICES_DIR}/{}", index_path(name))
}

/// What a notice says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `version` is yanked.
    Yank,
    /// `version` is yanked no more.
    Unyank,
    /// The package is deprecated; `message` says why and what to use.
    Deprecate,
    /// The package is no longer deprecated.
    Undeprecate,
}

/// One notice, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The package it is about.
    pub package: String,
    /// What it says.
    pub action: Action,
    /// The version, for yank and unyank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why, and what to use instead, for a deprecation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The minisign signature over the canonical form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

impl Notice {
    /// The compact JSON line of this notice.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a notice always serializes")
    }
}

/// One line of a notice file with its parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeLine {
    /// The line as stored (its canonical form is what `sig` covers).
    pub line: String,
    /// The parsed notice.
    pub notice: Notice,
}

/// A package's notices, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notices {
    lines: Vec<NoticeLine>,
}

/// A notice line that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "notice line {line}: {source}; expected {{\"package\":…,\"action\":\"yank\"|\"unyank\"|\"deprecate\"|\"undeprecate\",…}}"
)]
pub struct NoticeError {
    /// The 1-based line.
    pub line: usize,
    /// Why.
    pub source: serde_json::Error,
}

impl Notices {
    /// Parses a notice file; blank lines are skipped.
    pub fn parse(text: &str) -> Result<Self, NoticeError> {
        let lines = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line)
                    .map(|notice| NoticeLine {
                        line: line.to_owned(),
                        notice,
                    })
                    .map_err(|source| NoticeError { line: i + 1, source })
            })
            .collect::<Result<_, _>>()?;
        Ok(Notices { lines })
    }

    /// Every line, in order.
    pub fn lines(&self) -> &[NoticeLine] {
        &self.lines
    }

    /// The deprecation in force: the last deprecate notice, unless an
    /// undeprecate follows it.
    pub fn deprecation(&self) -> Option<&Notice> {
        self.lines
            .iter()
            .rev()
            .map(|l| &l.notice)
            .find(|n| matches!(n.action, Action::Deprecate | Action::Undeprecate))
            .filter(|n| n.action == Action::Deprecate)
    }
}
