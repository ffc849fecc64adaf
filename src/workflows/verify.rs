//! `verify`: re-hash the installed packages of a project against its
//! lockfile and report any drift.
//!
//! Each package directory carries the SHA-256 of every file it was
//! extracted with (`.ggen-install.json`, tied to the archive checksum the
//! lockfile names), so a changed, missing or added file is found without
//! the network.

use std::collections::BTreeSet;

use serde::Serialize;

use super::install::{InstallError, hash_files, package_dir, read_record};
use super::project::Project;
use crate::home::GgenHome;

/// The state of one locked package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageCheck {
    /// Package name.
    pub name: String,
    /// Locked version.
    pub version: String,
    /// Every problem found; empty when intact.
    pub problems: Vec<Drift>,
}

/// One kind of drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "snake_case")]
pub enum Drift {
    /// The package is not installed.
    NotInstalled,
    /// Installed from another archive than the lockfile names.
    OtherArchive,
    /// A file's content changed.
    Modified(String),
    /// A file is gone.
    Missing(String),
    /// A file was added.
    Added(String),
}

/// The result of `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Every locked package.
    pub packages: Vec<PackageCheck>,
    /// Whether every package is intact.
    pub intact: bool,
}

/// Checks every package of `project`'s lockfile under `home`.
pub fn verify(project: &Project, home: &GgenHome) -> Result<VerifyReport, InstallError> {
    let lockfile = project
        .lockfile()?
        .ok_or_else(|| InstallError::NotInstalledYet(project.dir().to_owned()))?;
    let packages_dir = home.packages_dir();
    let packages = lockfile
        .packages
        .iter()
        .map(|locked| {
            let dir = package_dir(&packages_dir, &locked.name, &locked.version);
            let problems = drift(&dir, &locked.checksum)?;
            Ok(PackageCheck {
                name: locked.name.clone(),
                version: locked.version.clone(),
                problems,
            })
        })
        .collect::<Result<Vec<_>, InstallError>>()?;
    let intact = packages.iter().all(|p| p.problems.is_empty());
    Ok(VerifyReport { packages, intact })
}

fn drift(dir: &std::path::Path, checksum: &str) -> Result<Vec<Drift>, InstallError> {
    if !dir.is_dir() {
        return Ok(vec![Drift::NotInstalled]);
    }
    let record = read_record(dir)?;
    if record.checksum != checksum {
        return Ok(vec![Drift::OtherArchive]);
    }
    let now = hash_files(dir)?;
    let mut problems = Vec::new();
    let paths: BTreeSet<&String> = record.files.keys().chain(now.keys()).collect();
    for path in paths {
        match (record.files.get(path), now.get(path)) {
            (Some(was), Some(is)) if was != is => problems.push(Drift::Modified(path.clone())),
            (Some(_), None) => problems.push(Drift::Missing(path.clone())),
            (None, Some(_)) => problems.push(Drift::Added(path.clone())),
            _ => {}
        }
    }
    Ok(problems)
}
