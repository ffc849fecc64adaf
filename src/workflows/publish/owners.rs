//! `owner list|add|remove`: who may sign a package, through the branch
//! flow. An added key's line is vouched for by the signing owner (its
//! `vouched_by` and `sig`), so clients that pinned the old key accept
//! versions signed by the new one; a removal appends a vouched revocation
//! line, so the file stays append-only and the gate can check it.

use serde::Serialize;

use super::proposal::{FileChange, Proposal, ProposalOptions, propose, published_name};
use super::{PublishError, PublishOptions};
use crate::format::canonical::canonical_form;
use crate::sources::PackageSource;
use crate::sources::git::GitRevision;
use crate::trust::{KeyId, OwnerKeys, PublicKey, SecretKey, owner_keys_path};

/// One owner-keys line, for `owner list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnerLine {
    /// The key's id.
    pub key_id: String,
    /// The public key (base64).
    pub public_key: String,
    /// Who holds it.
    pub owner: Option<String>,
    /// The key that vouched for this line.
    pub vouched_by: Option<String>,
    /// The line withdraws the key.
    pub revoked: bool,
    /// The key may sign now.
    pub active: bool,
}

/// What `owner add` or `owner remove` proposed.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerReport {
    /// The package.
    pub name: String,
    /// The key added or removed.
    pub key_id: String,
    /// Whether it was removed.
    pub removed: bool,
    /// The branch, the gate's verdict, the pull-request link.
    pub proposal: Proposal,
}

/// The owner-keys lines of `package` at the clone's `HEAD`.
pub fn list_owners(index: &std::path::Path, package: &str) -> Result<Vec<OwnerLine>, PublishError> {
    let head = GitRevision::open(index, "HEAD")?;
    let path = owner_keys_path(package);
    let text = head.read_index_file(&path)?.unwrap_or_default();
    let owners = OwnerKeys::parse(&path, &text).map_err(|e| PublishError::Refusal(e.to_string()))?;
    Ok(owners
        .lines()
        .iter()
        .map(|line| OwnerLine {
            key_id: line.key.id().to_string(),
            public_key: line.key.base64().to_owned(),
            owner: line.owner.clone(),
            vouched_by: line.vouch.as_ref().map(|v| v.by.to_string()),
            revoked: line.revoked,
            active: owners.key(line.key.id()).is_some(),
        })
        .collect())
}

/// Adds `new_key` as an owner of `package`, vouched for by `key`.
pub fn add_owner(
    package: &str,
    new_key: &PublicKey,
    owner: Option<&str>,
    key: &SecretKey,
    options: &PublishOptions,
) -> Result<OwnerReport, PublishError> {
    let mut fields = serde_json::json!({"key": new_key.base64(), "id": new_key.id().to_string()});
    if let Some(owner) = owner {
        fields["owner"] = owner.into();
    }
    propose_line(package, fields, new_key.id(), false, key, options)
}

/// Withdraws `old_key` from the owners of `package`, vouched for by `key`
/// (which may be `old_key` itself, in a rotation).
pub fn remove_owner(
    package: &str,
    old_key: &PublicKey,
    key: &SecretKey,
    options: &PublishOptions,
) -> Result<OwnerReport, PublishError> {
    let fields = serde_json::json!({"key": old_key.base64(), "id": old_key.id().to_string(), "revoked": true});
    propose_line(package, fields, old_key.id(), true, key, options)
}

fn propose_line(
    package: &str,
    mut fields: serde_json::Value,
    subject: KeyId,
    removed: bool,
    key: &SecretKey,
    options: &PublishOptions,
) -> Result<OwnerReport, PublishError> {
    let head = GitRevision::open(&options.index, "HEAD")?;
    let name = published_name(&head, package)?;
    fields["vouched_by"] = key.id().to_string().into();
    let message = canonical_form(&fields.to_string()).map_err(crate::trust::SignError::from)?;
    let comment = if removed {
        "revoke owner key"
    } else {
        "vouch for owner key"
    };
    fields["sig"] = key
        .sign(message.as_bytes(), comment)
        .map_err(crate::trust::SignError::from)?
        .into();
    let change = FileChange::appending(&head, owner_keys_path(&name), &fields.to_string())?;
    let verb = if removed { "remove" } else { "add" };
    let proposal = propose(
        &options.index,
        &[change],
        &ProposalOptions {
            branch: options
                .branch
                .clone()
                .unwrap_or_else(|| format!("owner-{verb}/{name}-{subject}")),
            message: format!("Owner {verb} {subject} for {name}"),
            push: options.push,
            dry_run: options.dry_run,
            provided_archives: Default::default(),
        },
    )?;
    Ok(OwnerReport {
        name,
        key_id: subject.to_string(),
        removed,
        proposal,
    })
}
