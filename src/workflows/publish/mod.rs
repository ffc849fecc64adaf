//! Publishing via pull request (DESIGN §5): the author's side of an index
//! whose CI decides. Every command here prepares one commit on a new branch
//! of the author's clone of the index, runs the same gate the index's CI
//! runs (`index check --base --head`), and only then creates the branch,
//! pushes it and prints where to open the pull request. No server of ours
//! is involved anywhere.
//!
//! - [`publish`]: pack a package reproducibly, sign its line, put the
//!   archive where `dl` points (in the same commit for a relative `dl`),
//!   append the line; a new package brings its first owner key.
//! - [`notices::yank`], [`notices::deprecate`]: a signed notice (and, for a
//!   yank, the `yanked` flip it vouches for).
//! - [`owners::add_owner`], [`owners::remove_owner`], [`owners::list_owners`]:
//!   owner-keys lines vouched for by a current owner.
//!
//! ```no_run
//! use ggen_marketplace::trust::{EnvOrTerminal, SecretKey};
//! use ggen_marketplace::workflows::publish::{publish, PublishOptions};
//! let key = SecretKey::read_file("keys/me.key".as_ref(), &EnvOrTerminal).unwrap();
//! let options = PublishOptions { index: "my-index-clone".into(), push: true, ..PublishOptions::default() };
//! let report = publish("my-package".as_ref(), &key, &options).unwrap();
//! println!("{} {} on branch {}", report.name, report.version, report.proposal.branch);
//! ```

pub mod notices;
pub mod owners;
pub mod proposal;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use self::proposal::{FileChange, Proposal, ProposalOptions, propose};
use crate::archive::inspect::summarize_bytes;
use crate::archive::pack;
use crate::archive::pack::PackError;
use crate::format::manifest::ManifestError;
use crate::format::name;
use crate::sources::git::GitRevision;
use crate::sources::{PackageSource, SourceError};
use crate::trust::{SecretKey, SignError, owner_keys_path, sign_entry_line};
use crate::util::fs::{FsError, write_atomic};
use crate::workflows::index_check::gate::{GateError, GateReport};
use crate::workflows::package::DEFAULT_OUT_DIR;

/// How to publish.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// The author's git clone of the index.
    pub index: PathBuf,
    /// The branch to create (default `publish/NAME-VERSION`).
    pub branch: Option<String>,
    /// For an absolute `dl`: copy the archive into this directory, at the
    /// path the download URL has, for the author to upload.
    pub upload: Option<PathBuf>,
    /// Push the branch to the clone's `origin`.
    pub push: bool,
    /// Check everything, create no branch.
    pub dry_run: bool,
}

/// Where the archive went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "placed", rename_all = "snake_case")]
pub enum ArchivePlacement {
    /// In the same commit, at the path a relative `dl` names.
    InCommit {
        /// Path in the index.
        path: String,
    },
    /// Copied into the `--upload` directory; upload it to `url`.
    Copied {
        /// The copy.
        path: PathBuf,
        /// Where clients download it from.
        url: String,
    },
    /// Nowhere yet: upload it to `url` before the pull request is merged.
    UploadTo {
        /// Where clients download it from.
        url: String,
    },
}

/// What `publish` did.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// SHA-256 of the archive.
    pub cksum: String,
    /// The signing key's id.
    pub signer: String,
    /// Whether the package is new to the index.
    pub new_package: bool,
    /// Where the archive is.
    pub archive: ArchivePlacement,
    /// The branch, the gate's verdict, the pull-request link.
    pub proposal: Proposal,
}

/// Why an author command did nothing.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum PublishError {
    #[error(transparent)]
    Pack(#[from] PackError),
    #[error("the package cannot be published: {0}")]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Gate(#[from] GateError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{} is not a git clone of an index ({reason}); clone the index repository first (`git clone URL`)", index.display())]
    NotAClone { index: PathBuf, reason: String },
    #[error("cannot {action}: {reason}")]
    Git { action: String, reason: String },
    #[error(
        "git has no author identity to commit with ({reason}); set it: git config --global user.name \"Your Name\" && git config --global user.email you@example.com"
    )]
    Identity { reason: String },
    #[error(
        "branch {branch} already exists in the clone; delete it (`git branch -D {branch}`) or choose another with --branch"
    )]
    BranchExists { branch: String },
    #[error("the index's gate refuses this change, so no branch was made:\n{}", findings(report))]
    Refused { report: Box<GateReport> },
    #[error(
        "cannot push branch {branch} to origin: {reason}; the branch is made, push it yourself with `git push origin {branch}`"
    )]
    Push { branch: String, reason: String },
    #[error("{package} is not in the index")]
    UnknownPackage { package: String },
    #[error("{package} has no version {version} in the index")]
    UnknownVersion { package: String, version: String },
    #[error("{0}")]
    Refusal(String),
}

fn findings(report: &GateReport) -> String {
    let lines: Vec<String> = report.findings.iter().map(|f| format!("  {f}")).collect();
    lines.join("\n")
}

/// Publishes the package in `dir` to the index clone of `options`, signed
/// with `key`.
pub fn publish(dir: &Path, key: &SecretKey, options: &PublishOptions) -> Result<PublishReport, PublishError> {
    let packed = pack(dir, &[&dir.join(DEFAULT_OUT_DIR)])?;
    let summary = summarize_bytes(&packed.bytes).map_err(|e| PublishError::Refusal(e.to_string()))?;
    let (entry, _) = summary.manifest.index_entry(&packed.sha256)?;
    let line = sign_entry_line(&entry.to_line(), key)?;
    let head = GitRevision::open(&options.index, "HEAD")?;
    let config = head.config()?;
    let file = name::index_path(&entry.name);
    let new_package = head.read_index_file(&file)?.is_none();
    let mut changes = vec![FileChange::appending(&head, file, &line)?];
    if new_package && !config.keys.iter().any(|k| k == key.public().base64()) {
        changes.push(first_owner(&head, &entry.name, key)?);
    }
    let url = config.download_url(
        &options.index.display().to_string(),
        &entry.name,
        &entry.vers,
        &entry.cksum,
    );
    let archive = match config.archive_path_in_index(&entry.name, &entry.vers, &entry.cksum) {
        Some(path) => {
            changes.push(FileChange {
                path: path.clone(),
                contents: packed.bytes.clone(),
            });
            ArchivePlacement::InCommit { path }
        }
        None => match &options.upload {
            Some(dir) if !options.dry_run => {
                let path = dir.join(url_path(&url));
                write_atomic(&path, &packed.bytes)?;
                ArchivePlacement::Copied { path, url }
            }
            _ => ArchivePlacement::UploadTo { url },
        },
    };
    let proposal_options = ProposalOptions {
        branch: options
            .branch
            .clone()
            .unwrap_or_else(|| format!("publish/{}-{}", entry.name, entry.vers)),
        message: format!("Publish {} {}", entry.name, entry.vers),
        push: options.push,
        dry_run: options.dry_run,
        provided_archives: BTreeMap::from([(packed.sha256.clone(), packed.bytes.clone())]),
    };
    let proposal = propose(&options.index, &changes, &proposal_options)?;
    Ok(PublishReport {
        name: entry.name,
        version: entry.vers,
        cksum: packed.sha256,
        signer: key.id().to_string(),
        new_package,
        archive,
        proposal,
    })
}

/// The owner-keys file a new package brings: the author's key, unless the
/// index already has one (then publishing needs no new owner line).
fn first_owner(head: &GitRevision, package: &str, key: &SecretKey) -> Result<FileChange, PublishError> {
    let line = serde_json::json!({"key": key.public().base64(), "id": key.id().to_string()});
    FileChange::appending(head, owner_keys_path(package), &line.to_string())
}

/// The path part of a download URL (without scheme, host and query).
fn url_path(url: &str) -> String {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = without_scheme.split_once('/').map_or("", |(_, path)| path);
    path.split(['?', '#']).next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_copy_mirrors_the_download_url_path() {
        assert_eq!(
            url_path("https://dl.acme.test/ggen/io.x/io.x-1.0.0.tar.gz?sig=1"),
            "ggen/io.x/io.x-1.0.0.tar.gz"
        );
        assert_eq!(url_path("https://dl.acme.test"), "");
    }
}
