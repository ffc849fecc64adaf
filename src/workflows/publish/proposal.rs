//! The branch flow every author command shares (publish, yank, deprecate,
//! owner): write the changed files into a new commit on top of the clone's
//! `HEAD` — with gix, straight into the object database, so the author's
//! work tree and checked-out branch are never touched — run the
//! pull-request gate on it exactly as the index's CI will, and only then
//! create the branch, push it (`git push`: gix has no push) and say where to
//! open the pull request.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use gix::objs::tree::EntryKind;
use serde::Serialize;

use super::PublishError;
use crate::sources::PackageSource;
use crate::sources::git::GitRevision;
use crate::util::fs::FileLock;
use crate::workflows::index_add::LOCK_FILE;
use crate::workflows::index_check::gate::{GateOptions, GateReport, Verdict, check_change};

/// One file a proposal writes, relative to the index root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// `/`-separated path.
    pub path: String,
    /// The whole new contents.
    pub contents: Vec<u8>,
}

impl FileChange {
    /// The file at `path` of `head` with `line` appended (a missing final
    /// newline of the old text supplied first).
    pub fn appending(head: &GitRevision, path: String, line: &str) -> Result<FileChange, PublishError> {
        let mut text = head.read_index_file(&path)?.unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
        Ok(FileChange {
            path,
            contents: text.into_bytes(),
        })
    }
}

/// The name `package` is published under at `head` (the index file is
/// found case-insensitively; lines keep the published spelling).
pub fn published_name(head: &GitRevision, package: &str) -> Result<String, PublishError> {
    let entries = head.entries(package)?.ok_or_else(|| PublishError::UnknownPackage {
        package: package.to_owned(),
    })?;
    Ok(entries.first().map_or(package, |e| e.name.as_str()).to_owned())
}

/// What to do with the proposed change.
#[derive(Debug, Clone, Default)]
pub struct ProposalOptions {
    /// The branch to create.
    pub branch: String,
    /// The commit message.
    pub message: String,
    /// Push the branch to the clone's `origin`.
    pub push: bool,
    /// Check only: create no branch, push nothing.
    pub dry_run: bool,
    /// Archives the gate may use by checksum instead of downloading them
    /// (an archive an author just packed, before it is uploaded).
    pub provided_archives: BTreeMap<String, Vec<u8>>,
}

/// A proposed change to an index, checked by the gate.
#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    /// The branch (created unless a dry run).
    pub branch: String,
    /// Whether the branch was created.
    pub branch_created: bool,
    /// The commit the branch starts from: the clone's `HEAD`.
    pub base: String,
    /// The new commit.
    pub commit: String,
    /// Whether the branch was pushed to `origin`.
    pub pushed: bool,
    /// Where to open the pull request, for GitHub, GitLab and Gitea remotes.
    pub pull_request_url: Option<String>,
    /// The gate command the index's CI runs on the pull request.
    pub gate_command: String,
    /// The gate's report, run locally.
    pub gate: GateReport,
}

/// Proposes `changes` to the index clone at `index`.
pub fn propose(index: &Path, changes: &[FileChange], options: &ProposalOptions) -> Result<Proposal, PublishError> {
    let _lock = FileLock::exclusive(&index.join(LOCK_FILE), |_| {})?;
    let repo = gix::open(index).map_err(|e| PublishError::NotAClone {
        index: index.to_owned(),
        reason: e.to_string(),
    })?;
    let git = |action: &str| {
        let action = action.to_owned();
        move |e: gix::Error| PublishError::Git {
            action: action.clone(),
            reason: e.to_string(),
        }
    };
    let base = repo.head_id().map_err(|e| PublishError::NotAClone {
        index: index.to_owned(),
        reason: format!("it has no commit at HEAD ({e})"),
    })?;
    let branch_ref = format!("refs/heads/{}", options.branch);
    let existing = repo
        .try_find_reference(branch_ref.as_str())
        .map_err(git("look up the branch"))?
        .map(|mut reference| reference.peel_to_id().map(gix::Id::detach))
        .transpose()
        .map_err(git("read the branch"))?;
    let commit = match existing {
        // A run killed after it made the branch: finish that proposal (gate,
        // push) instead of refusing, since a rerun cannot make the same
        // commit again (the signature holds the time).
        Some(made) if is_this_proposal(&repo, made, base.detach(), changes, &options.message) => made,
        Some(_) => {
            return Err(PublishError::BranchExists {
                branch: options.branch.clone(),
            });
        }
        None => {
            let base_tree = repo
                .find_commit(base)
                .map_err(git("read HEAD"))?
                .tree_id()
                .map_err(git("read HEAD's tree"))?;
            let mut editor = repo.edit_tree(base_tree).map_err(git("edit the tree"))?;
            for change in changes {
                let blob = repo.write_blob(&change.contents).map_err(git("write a blob"))?;
                editor
                    .upsert(change.path.as_str(), EntryKind::Blob, blob)
                    .map_err(git("edit the tree"))?;
            }
            let tree = editor.write().map_err(git("write the tree"))?;
            repo.new_commit(options.message.as_str(), tree, [base.detach()])
                .map_err(|e| PublishError::Identity { reason: e.to_string() })?
                .id
        }
    };
    let gate_options = GateOptions {
        offline: false,
        provided_archives: options.provided_archives.clone(),
    };
    let gate = check_change(index, &base.to_string(), &commit.to_string(), &gate_options)?;
    if gate.verdict == Verdict::Refuse {
        return Err(PublishError::Refused { report: Box::new(gate) });
    }
    let mut proposal = Proposal {
        branch: options.branch.clone(),
        branch_created: false,
        base: base.to_string(),
        commit: commit.to_string(),
        pushed: false,
        pull_request_url: None,
        gate_command: format!("ggen-market index check . --base {} --head {}", base, options.branch),
        gate,
    };
    if options.dry_run {
        return Ok(proposal);
    }
    if existing.is_none() {
        create_branch(&repo, &branch_ref, commit, options)?;
        proposal.branch_created = true;
    }
    let origin = origin_url(&repo);
    if options.push {
        push(index, &options.branch)?;
        proposal.pushed = true;
    }
    proposal.pull_request_url = origin.as_deref().and_then(|url| pull_request_url(url, &options.branch));
    Ok(proposal)
}

fn create_branch(
    repo: &gix::Repository,
    branch_ref: &str,
    commit: gix::ObjectId,
    options: &ProposalOptions,
) -> Result<(), PublishError> {
    repo.reference(
        branch_ref,
        commit,
        gix::refs::transaction::PreviousValue::MustNotExist,
        format!("ggen-market: {}", options.message.lines().next().unwrap_or_default()),
    )
    .map_err(|e| PublishError::Git {
        action: format!("create branch {}", options.branch),
        reason: e.to_string(),
    })?;
    Ok(())
}

/// Whether the branch's commit `made` is this very proposal, made by an
/// earlier run that did not finish: one commit on `base` with the same
/// message, holding every changed path.
fn is_this_proposal(
    repo: &gix::Repository,
    made: gix::ObjectId,
    base: gix::ObjectId,
    changes: &[FileChange],
    message: &str,
) -> bool {
    let Ok(commit) = repo.find_commit(made) else {
        return false;
    };
    let same_message = commit
        .message_raw()
        .is_ok_and(|raw| raw.to_string().trim_end() == message.trim_end());
    let on_base = commit.parent_ids().map(gix::Id::detach).eq([base]);
    let Ok(tree) = commit.tree() else {
        return false;
    };
    let holds_changes = changes.iter().all(|change| {
        tree.lookup_entry_by_path(change.path.as_str())
            .is_ok_and(|e| e.is_some())
    });
    same_message && on_base && holds_changes
}

/// The clone's `origin` URL, if any.
fn origin_url(repo: &gix::Repository) -> Option<String> {
    let remote = repo.find_remote("origin").ok()?;
    let url = remote.url(gix::remote::Direction::Push)?;
    Some(url.to_bstring().to_string())
}

/// `git push origin refs/heads/BRANCH`, with git's own credentials setup.
fn push(index: &Path, branch: &str) -> Result<(), PublishError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(index)
        .args([
            "push",
            "--quiet",
            "origin",
            &format!("refs/heads/{branch}:refs/heads/{branch}"),
        ])
        .output()
        .map_err(|e| PublishError::Push {
            branch: branch.to_owned(),
            reason: format!("cannot run git: {e}"),
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(PublishError::Push {
        branch: branch.to_owned(),
        reason: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

/// Where to open a pull request for `branch` on a GitHub, GitLab or Gitea
/// (Codeberg, Forgejo) remote; `None` for any other host.
pub fn pull_request_url(remote: &str, branch: &str) -> Option<String> {
    let (host, path) = host_and_path(remote)?;
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    if host == "github.com" || host.starts_with("github.") {
        Some(format!("https://{host}/{path}/pull/new/{branch}"))
    } else if host == "gitlab.com" || host.starts_with("gitlab.") {
        Some(format!(
            "https://{host}/{path}/-/merge_requests/new?merge_request%5Bsource_branch%5D={branch}"
        ))
    } else if host.contains("gitea") || host.contains("codeberg") || host.contains("forgejo") {
        Some(format!("https://{host}/{path}/compare/{branch}"))
    } else {
        None
    }
}

/// `https://host/owner/repo.git`, `ssh://git@host/owner/repo`,
/// `git@host:owner/repo.git` → (`host`, `owner/repo.git`).
fn host_and_path(remote: &str) -> Option<(String, String)> {
    if let Some((_, rest)) = remote.split_once("://") {
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit('@').next()?.split(':').next()?;
        return Some((host.to_owned(), path.to_owned()));
    }
    let (user_host, path) = remote.split_once(':')?;
    let host = user_host.rsplit('@').next()?;
    (!host.contains('/')).then(|| (host.to_owned(), path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_request_urls_for_known_forges() {
        let cases = [
            (
                "https://github.com/acme/index.git",
                Some("https://github.com/acme/index/pull/new/b"),
            ),
            (
                "git@github.com:acme/index.git",
                Some("https://github.com/acme/index/pull/new/b"),
            ),
            (
                "ssh://git@gitlab.com/acme/sub/index",
                Some("https://gitlab.com/acme/sub/index/-/merge_requests/new?merge_request%5Bsource_branch%5D=b"),
            ),
            (
                "https://codeberg.org/acme/index",
                Some("https://codeberg.org/acme/index/compare/b"),
            ),
            ("http://127.0.0.1:8080/git/index.git", None),
            ("/srv/index.git", None),
        ];
        for (remote, url) in cases {
            assert_eq!(pull_request_url(remote, "b").as_deref(), url, "{remote}");
        }
    }
}
