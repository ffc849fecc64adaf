//! The gate's rules for owner-keys and notice files: appended lines only,
//! each signed by a key trusted at base.

use super::{Gate, GateError, text_lines};
use crate::format::name;
use crate::format::notice::{Action, Notice};
use crate::format::rules::FindingKind;
use crate::sources::PackageSource;
use crate::trust::notices::verify_notice;
use crate::trust::{AllowedKeys, OwnerKeys, PublicKey};

impl Gate<'_> {
    /// `_keys/{shard}/{name}`: a package this change adds brings its first
    /// keys freely; any other change appends lines vouched for by a key
    /// that may sign the package at base.
    pub(super) fn owner_keys_change(&mut self, path: &str) -> Result<(), GateError> {
        let package = name::file_name_of(path).to_owned();
        let Some(head_text) = self.head.read_index_file(path)? else {
            self.find(
                path,
                None,
                FindingKind::FileDeleted,
                "deletes an owner-keys file; withdraw a key with a revocation line instead (`ggen-market owner remove`)".into(),
            );
            return Ok(());
        };
        let base_text = self.base.read_index_file(path)?;
        if base_text.is_none() && self.new_packages.contains(&package) {
            if let Err(e) = OwnerKeys::parse(path, &head_text) {
                self.find(path, None, FindingKind::UnvouchedOwnerChange, e.to_string());
            }
            return Ok(());
        }
        let base_text = base_text.unwrap_or_default();
        let Some(appended) = self.appended_lines(path, &base_text, &head_text) else {
            return Ok(());
        };
        let head_owners = match OwnerKeys::parse(path, &head_text) {
            Ok(owners) => owners,
            Err(e) => {
                self.find(path, None, FindingKind::UnvouchedOwnerChange, e.to_string());
                return Ok(());
            }
        };
        let trusted = self.trusted_at_base(path, &base_text);
        for (line, _) in appended {
            let owner = &head_owners.lines()[line - 1 - blank_lines_before(&head_text, line)];
            if !trusted.iter().any(|key| owner.is_vouched_by(key)) {
                self.find(
                    path,
                    Some(line),
                    FindingKind::UnvouchedOwnerChange,
                    format!(
                        "{} key {} without a vouch (`vouched_by` + `sig`) by a key that may sign {package} now; `ggen-market owner add|remove --key KEY` signs it",
                        if owner.revoked { "revokes" } else { "adds" },
                        owner.key.id()
                    ),
                );
            }
        }
        Ok(())
    }

    /// `_notices/{shard}/{name}`: appended notices, each signed by a key that
    /// may sign the package at base (or, for a new package, the keys it
    /// brings).
    pub(super) fn notices_change(&mut self, path: &str) -> Result<(), GateError> {
        let package = name::file_name_of(path).to_owned();
        let Some(head_text) = self.head.read_index_file(path)? else {
            self.find(
                path,
                None,
                FindingKind::FileDeleted,
                "deletes a notice file; append an undeprecate notice instead".into(),
            );
            return Ok(());
        };
        let base_text = self.base.read_index_file(path)?.unwrap_or_default();
        let Some(appended) = self.appended_lines(path, &base_text, &head_text) else {
            return Ok(());
        };
        let allowed = self.allowed_keys(&package)?;
        for (line, text) in appended {
            let verified = allowed
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|allowed| verify_notice(&text, allowed).map_err(|e| e.to_string()));
            match verified {
                Ok(_) => {
                    if let Ok(notice) = serde_json::from_str::<Notice>(&text)
                        && let (Action::Yank | Action::Unyank, Some(version)) = (notice.action, notice.version)
                    {
                        self.signed_yanks
                            .push((package.clone(), version, notice.action == Action::Yank));
                    }
                }
                Err(reason) => self.find(path, Some(line), FindingKind::UnsignedNotice, reason),
            }
        }
        Ok(())
    }

    /// The lines `head_text` appends to `base_text` with their numbers, or
    /// `None` (and a finding) when it changes what was there.
    fn appended_lines(&mut self, path: &str, base_text: &str, head_text: &str) -> Option<Vec<(usize, String)>> {
        let (old, new) = (text_lines(base_text), text_lines(head_text));
        if new.len() < old.len() || new[..old.len()] != old[..] {
            let line = old.iter().zip(&new).position(|(a, b)| a != b).unwrap_or(new.len()) + 1;
            self.find(
                path,
                Some(line),
                FindingKind::LineRewritten,
                "changes or removes a line; this file is only ever appended to".into(),
            );
            return None;
        }
        Some(
            new.iter()
                .enumerate()
                .skip(old.len())
                .filter(|(_, text)| !text.trim().is_empty())
                .map(|(i, text)| (i + 1, (*text).to_owned()))
                .collect(),
        )
    }

    /// The keys that may sign `package` as of base: its owner keys there and
    /// the index-wide keys.
    fn trusted_at_base(&mut self, path: &str, base_text: &str) -> Vec<PublicKey> {
        let owners = match OwnerKeys::parse(path, base_text) {
            Ok(owners) => owners,
            Err(e) => {
                self.find(path, None, FindingKind::UnvouchedOwnerChange, format!("at base: {e}"));
                return Vec::new();
            }
        };
        let mut keys: Vec<PublicKey> = owners.keys().iter().map(|k| k.key.clone()).collect();
        keys.extend(
            self.config
                .keys
                .iter()
                .filter_map(|key| PublicKey::from_base64(key).ok()),
        );
        keys
    }

    /// The keys allowed to sign `package`'s new lines and notices: owner
    /// keys at base, or at head for a package this change adds; revoked
    /// keys refused.
    pub(super) fn allowed_keys(&self, package: &str) -> Result<Result<AllowedKeys, String>, GateError> {
        let revision = if self.new_packages.contains(package) {
            self.head
        } else {
            self.base
        };
        let path = crate::trust::owner_keys_path(package);
        let text = revision.read_index_file(&path)?.unwrap_or_default();
        Ok(OwnerKeys::parse(&path, &text)
            .map_err(|e| e.to_string())
            .and_then(|owners| AllowedKeys::new(package, &self.config, owners).map_err(|e| e.to_string()))
            .map(AllowedKeys::for_new_signatures))
    }
}

/// Blank lines before 1-based `line` (owner-key parsing skips them).
fn blank_lines_before(text: &str, line: usize) -> usize {
    text.lines().take(line - 1).filter(|l| l.trim().is_empty()).count()
}
