//! `yank` and `deprecate` through the branch flow: a yank flips the line's
//! `yanked` flag (a flip only: the line keeps every other field) and, with
//! an owner key, appends the signed notice that lets the gate pass it
//! without review; a deprecation appends a signed package-level notice that
//! clients show.

use serde::Serialize;
use serde_json::Value;

use super::proposal::{FileChange, Proposal, ProposalOptions, propose, published_name};
use super::{PublishError, PublishOptions};
use crate::format::notice::{Action, Notice, notices_path};
use crate::format::{IndexEntry, name};
use crate::sources::PackageSource;
use crate::sources::git::GitRevision;
use crate::trust::SecretKey;
use crate::trust::notices::sign_notice;

/// What `yank` or `deprecate` proposed.
#[derive(Debug, Clone, Serialize)]
pub struct NoticeReport {
    /// The package.
    pub name: String,
    /// The version, for a yank.
    pub version: Option<String>,
    /// What the change says.
    pub action: Action,
    /// Whether an owner signed it (else the gate asks for review).
    pub signed: bool,
    /// The branch, the gate's verdict, the pull-request link.
    pub proposal: Proposal,
}

/// Yanks (or, with `undo`, un-yanks) `version` of `package`.
pub fn yank(
    package: &str,
    version: &str,
    undo: bool,
    key: Option<&SecretKey>,
    options: &PublishOptions,
) -> Result<NoticeReport, PublishError> {
    let head = GitRevision::open(&options.index, "HEAD")?;
    let path = name::index_path(package);
    let text = head
        .read_index_file(&path)?
        .ok_or_else(|| PublishError::UnknownPackage {
            package: package.to_owned(),
        })?;
    let (flipped, real_name) = flip(&text, version, !undo).ok_or_else(|| PublishError::UnknownVersion {
        package: package.to_owned(),
        version: version.to_owned(),
    })??;
    let action = if undo { Action::Unyank } else { Action::Yank };
    let mut changes = vec![FileChange {
        path,
        contents: flipped.into_bytes(),
    }];
    let notice = Notice {
        package: real_name.clone(),
        action,
        version: Some(version.to_owned()),
        message: None,
        sig: None,
    };
    if let Some(key) = key {
        changes.push(append_notice(&head, &notice, key)?);
    }
    let verb = if undo { "unyank" } else { "yank" };
    let proposal = propose(
        &options.index,
        &changes,
        &proposal_options(
            options,
            format!("{verb}/{real_name}-{version}"),
            format!("{} {real_name} {version}", capitalized(verb)),
        ),
    )?;
    Ok(NoticeReport {
        name: real_name,
        version: Some(version.to_owned()),
        action,
        signed: key.is_some(),
        proposal,
    })
}

/// Deprecates `package` with `message` (or, with `undo`, lifts it).
pub fn deprecate(
    package: &str,
    message: Option<&str>,
    undo: bool,
    key: &SecretKey,
    options: &PublishOptions,
) -> Result<NoticeReport, PublishError> {
    let head = GitRevision::open(&options.index, "HEAD")?;
    let real_name = published_name(&head, package)?;
    let action = if undo { Action::Undeprecate } else { Action::Deprecate };
    if !undo && message.is_none_or(|m| m.trim().is_empty()) {
        return Err(PublishError::Refusal(
            "a deprecation needs --message saying why and what to use instead".into(),
        ));
    }
    let notice = Notice {
        package: real_name.clone(),
        action,
        version: None,
        message: message.filter(|_| !undo).map(str::to_owned),
        sig: None,
    };
    let change = append_notice(&head, &notice, key)?;
    let verb = if undo { "undeprecate" } else { "deprecate" };
    let proposal = propose(
        &options.index,
        &[change],
        &proposal_options(
            options,
            format!("{verb}/{real_name}"),
            format!("{} {real_name}", capitalized(verb)),
        ),
    )?;
    Ok(NoticeReport {
        name: real_name,
        version: None,
        action,
        signed: true,
        proposal,
    })
}

fn proposal_options(options: &PublishOptions, default_branch: String, message: String) -> ProposalOptions {
    ProposalOptions {
        branch: options.branch.clone().unwrap_or(default_branch),
        message,
        push: options.push,
        dry_run: options.dry_run,
        provided_archives: Default::default(),
    }
}

fn capitalized(verb: &str) -> String {
    let mut chars = verb.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The package file with `version`'s `yanked` set to `yanked`, and the
/// package's name as published; `None` if there is no such version, an
/// error if it already is in that state.
fn flip(text: &str, version: &str, yanked: bool) -> Option<Result<(String, String), PublishError>> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let position = lines
        .iter()
        .position(|line| IndexEntry::from_line(line).is_ok_and(|e| e.vers == version))?;
    let mut value: Value = serde_json::from_str(&lines[position]).ok()?;
    let name = value["name"].as_str().unwrap_or_default().to_owned();
    if value["yanked"].as_bool().unwrap_or(false) == yanked {
        let state = if yanked { "already yanked" } else { "not yanked" };
        return Some(Err(PublishError::Refusal(format!("{name} {version} is {state}"))));
    }
    value["yanked"] = yanked.into();
    lines[position] = value.to_string();
    Some(Ok((lines.join("\n") + "\n", name)))
}

/// The package's notice file with `notice` appended, signed by `key`.
fn append_notice(head: &GitRevision, notice: &Notice, key: &SecretKey) -> Result<FileChange, PublishError> {
    FileChange::appending(head, notices_path(&notice.package), &sign_notice(notice, key)?)
}
