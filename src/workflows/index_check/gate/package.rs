//! The gate's rules for a changed package file: only appended lines (or a
//! `yanked` flip), and every new line publishable.

use std::collections::HashSet;

use serde_json::Value;

use super::{Gate, GateError, PublishedVersion, YankFlip, text_lines};
use crate::format::name::{self, confusable_with};
use crate::format::rules::FindingKind;
use crate::format::rules::line::{CleanDependencies, LineContext, check_line};
use crate::format::rules::publishing::{description_problem, follows, license_problem};
use crate::format::rules::versions::already_published;
use crate::format::{IndexEntry, SignaturePolicy};
use crate::resolve::{self, Request};
use crate::sources::PackageSource;
use crate::trust::verify_entry;

impl Gate<'_> {
    pub(super) fn package_change(&mut self, path: &str) -> Result<(), GateError> {
        let Some(head_text) = self.head.read_index_file(path)? else {
            self.find(
                path,
                None,
                FindingKind::FileDeleted,
                "deletes a package; published versions are never removed (yank them instead)".into(),
            );
            return Ok(());
        };
        let base_text = self.base.read_index_file(path)?.unwrap_or_default();
        let (old, new) = (text_lines(&base_text), text_lines(&head_text));
        for (i, old_line) in old.iter().enumerate() {
            match new.get(i) {
                Some(new_line) if new_line == old_line => {}
                Some(new_line) => self.changed_line(path, i + 1, old_line, new_line),
                None => self.find(
                    path,
                    Some(i + 1),
                    FindingKind::LineRewritten,
                    "removes a published line; lines are never removed (yank the version instead)".into(),
                ),
            }
        }
        let mut published: Vec<(semver::Version, usize)> = old
            .iter()
            .enumerate()
            .filter_map(|(i, line)| Some((IndexEntry::from_line(line).ok()?.version().ok()?, i + 1)))
            .collect();
        for (i, line) in new.iter().enumerate().skip(old.len()) {
            if let Some(version) = self.new_line(path, i + 1, line, &published)? {
                published.push((version, i + 1));
            }
        }
        Ok(())
    }

    /// A published line that differs: a `yanked` flip waits for its notice,
    /// anything else is refused.
    fn changed_line(&mut self, path: &str, line: usize, old: &str, new: &str) {
        let without_yanked = |text: &str| {
            let mut value: Value = serde_json::from_str(text).ok()?;
            let yanked = value
                .as_object_mut()?
                .remove("yanked")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            Some((value, yanked))
        };
        match (without_yanked(old), without_yanked(new)) {
            (Some((old_fields, was)), Some((new_fields, now))) if old_fields == new_fields && was != now => {
                let field = |key: &str| new_fields[key].as_str().unwrap_or_default().to_owned();
                self.flips.push(YankFlip {
                    file: path.to_owned(),
                    line,
                    name: field("name"),
                    version: field("vers"),
                    yanked: now,
                });
            }
            _ => self.find(
                path,
                Some(line),
                FindingKind::LineRewritten,
                "rewrites a published line; only its `yanked` flag may change, and new versions are appended at the end".into(),
            ),
        }
    }

    /// Checks one appended line; returns its version when it is valid.
    fn new_line(
        &mut self,
        path: &str,
        line: usize,
        text: &str,
        published: &[(semver::Version, usize)],
    ) -> Result<Option<semver::Version>, GateError> {
        let file_name = name::file_name_of(path);
        let known = self.known_dependencies(text, file_name)?;
        let mut problems = Vec::new();
        let version = check_line(
            text.as_bytes(),
            &LineContext {
                file_name,
                known: &known,
            },
            &mut CleanDependencies::default(),
            &mut problems,
        );
        for (kind, message) in problems {
            self.find(path, Some(line), kind, message);
        }
        let (Some(version), Ok(entry)) = (version, IndexEntry::from_line(text)) else {
            return Ok(None);
        };
        let at = |gate: &mut Self, kind, message| gate.find(path, Some(line), kind, message);
        if let Some((same, first)) = already_published(&version, published) {
            at(
                self,
                FindingKind::DuplicateVersion,
                format!(
                    "{} {version} is already published as {same} on line {first}; bump the version",
                    entry.name
                ),
            );
            return Ok(None);
        }
        self.new_versions.push(PublishedVersion {
            name: entry.name.clone(),
            version: entry.vers.clone(),
        });
        if self.new_packages.contains(file_name) && published.is_empty() {
            self.new_name(path, line, &entry.name)?;
        }
        let released: Vec<semver::Version> = published.iter().map(|(v, _)| v.clone()).collect();
        if !follows(&version, &released) {
            let expected = if released.is_empty() {
                "a first version is 0.0.1, 0.1.0 or 1.0.0".to_owned()
            } else {
                "a new version is the next major, minor or patch of a published one".to_owned()
            };
            at(
                self,
                FindingKind::VersionSkip,
                format!(
                    "{} {version} skips versions ({expected}); a maintainer must confirm it is not a typo",
                    entry.name
                ),
            );
        }
        if let Some(problem) = description_problem(entry.description.as_deref()) {
            at(self, FindingKind::MissingDescription, problem);
        }
        if let Some(problem) = license_problem(entry.license.as_deref()) {
            at(self, FindingKind::InvalidLicense, problem);
        }
        self.signature(path, line, text, &entry)?;
        self.archive(path, line, &entry, &version)?;
        self.resolves(path, line, &entry, &known);
        Ok(Some(version))
    }

    /// The lowercased names of the package itself and of each dependency of
    /// `text` that has a package file at head: what `check_line` may find.
    fn known_dependencies(&self, text: &str, file_name: &str) -> Result<HashSet<String>, GateError> {
        let mut known = HashSet::from([file_name.to_owned()]);
        if let Ok(entry) = IndexEntry::from_line(text) {
            for dep in &entry.deps {
                let target = dep.package_name().to_ascii_lowercase();
                if dep.registry.is_none()
                    && name::validate_for_reading(&target).is_ok()
                    && self.head.read_package_file(&target)?.is_some()
                {
                    known.insert(target);
                }
            }
        }
        Ok(known)
    }

    fn new_name(&mut self, path: &str, line: usize, package: &str) -> Result<(), GateError> {
        if let Err(e) = name::validate_for_publishing(package) {
            self.find(path, Some(line), FindingKind::InvalidNewName, e.to_string());
        }
        let names = self.base_names()?;
        if let Some(other) = confusable_with(package, names.iter().map(String::as_str)) {
            let other = other.to_owned();
            self.find(
                path,
                Some(line),
                FindingKind::ConfusableName,
                format!(
                    "`{package}` is too close to `{other}` (same look-alike form, or one edit away) and could be mistaken for it; choose a clearly different name"
                ),
            );
        }
        Ok(())
    }

    /// The line's signature by a key allowed for its package: the owner
    /// keys at base, or, for a package this change adds, the ones it adds.
    fn signature(&mut self, path: &str, line: usize, text: &str, entry: &IndexEntry) -> Result<(), GateError> {
        let refused = match self.allowed_keys(name::file_name_of(path))? {
            Ok(allowed) if entry.sig.is_none() && allowed.policy() == SignaturePolicy::Optional => None,
            Ok(allowed) => verify_entry(text, entry, &allowed).err().map(|e| e.to_string()),
            Err(e) => Some(e),
        };
        if let Some(reason) = refused {
            self.find(path, Some(line), FindingKind::SignatureRefused, reason);
        }
        Ok(())
    }

    /// The new version's normal dependencies resolve against head.
    fn resolves(&mut self, path: &str, line: usize, entry: &IndexEntry, known: &HashSet<String>) {
        let all_exist = entry
            .deps
            .iter()
            .filter(|dep| dep.registry.is_none())
            .all(|dep| known.contains(&dep.package_name().to_ascii_lowercase()));
        if !all_exist {
            return; // already a missing_dependency
        }
        let request = Request::new([(entry.name.as_str(), format!("={}", entry.vers))]);
        if let Err(e) = resolve::resolve(self.head, &request) {
            self.find(
                path,
                Some(line),
                FindingKind::Unresolvable,
                format!("{} {} cannot be installed: {e}", entry.name, entry.vers),
            );
        }
    }
}
