//! Putting a verified archive in place as `GGEN_HOME/packages/{name}-{version}/`.
//!
//! Extraction goes to a staging directory beside `packages/` contents
//! (`.staging-*`, same filesystem), the install record
//! (`.ggen-install.json`: checksum and the SHA-256 of every file) is written
//! into it, and only then is it renamed into place. So a package directory
//! with a record is always complete; a crash leaves at most a staging
//! directory, which the next run removes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::InstallError;
use super::fetch::sha256_hex;
use crate::archive::unpack::{ExtractLimits, extract};
use crate::format::rules::manifest::manifest_disagreement;
use crate::format::{IndexEntry, Manifest};
use crate::util::fs::{FsError, write_atomic};

/// The record written into every installed package.
pub const INSTALL_RECORD: &str = ".ggen-install.json";
const STAGING_PREFIX: &str = ".staging-";

/// What an installed package holds, for `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallRecord {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// SHA-256 of the archive it came from.
    pub checksum: String,
    /// Every file (relative, `/`-separated) and its SHA-256.
    pub files: BTreeMap<String, String>,
}

/// The directory of `name@version` under `packages_dir`.
pub fn package_dir(packages_dir: &Path, name: &str, version: &str) -> PathBuf {
    packages_dir.join(format!("{name}-{version}"))
}

/// Whether `dir` holds a complete install of the archive `checksum`.
pub fn is_installed(dir: &Path, checksum: &str) -> bool {
    read_record(dir).is_ok_and(|record| record.checksum == checksum)
}

/// Reads a package's install record.
pub fn read_record(dir: &Path) -> Result<InstallRecord, InstallError> {
    let path = dir.join(INSTALL_RECORD);
    let bytes = std::fs::read(&path).map_err(|e| FsError::new("read", &path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| InstallError::DamagedRecord {
        path,
        reason: e.to_string(),
    })
}

/// Removes staging directories a killed run left behind. Call under the
/// install lock.
pub fn remove_stale_staging(packages_dir: &Path) -> Result<(), InstallError> {
    let Ok(entries) = std::fs::read_dir(packages_dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
            remove_tree(&entry.path())?;
        }
    }
    Ok(())
}

/// A package directory an install put in place, and the install it
/// replaced (if any), set aside until the run's outcome is known: another
/// project may depend on it, so a failed run must put it back.
#[derive(Debug)]
pub struct Placement {
    dir: PathBuf,
    /// `.staging-*/replaced`: the previous contents of `dir`.
    previous: Option<PathBuf>,
}

impl Placement {
    /// The run succeeded: drop the replaced install.
    pub fn commit(self) {
        if let Some(staging) = self.previous.as_deref().and_then(Path::parent) {
            let _ = remove_tree(staging);
        }
    }

    /// The run failed: remove what was placed and put back what it
    /// replaced. Best effort; a leftover staging directory is removed by
    /// the next run.
    pub fn roll_back(self) {
        let _ = remove_tree(&self.dir);
        if let Some(previous) = &self.previous
            && std::fs::rename(previous, &self.dir).is_ok()
            && let Some(staging) = previous.parent()
        {
            let _ = remove_tree(staging);
        }
    }
}

/// Extracts `archive` (already checked against `entry.cksum`) into place
/// at `dest`, setting aside an incomplete or different install there.
pub fn place(archive: &[u8], entry: &IndexEntry, dest: &Path) -> Result<Placement, InstallError> {
    let parent = dest.parent().expect("a package dir has a parent");
    std::fs::create_dir_all(parent).map_err(|e| FsError::new("create directory", parent, e))?;
    let staging = tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .tempdir_in(parent)
        .map_err(|e| FsError::new("create staging directory in", parent, e))?;
    let staged = staging.path().join("package");
    let version = entry.version().map_err(|e| InstallError::BadVersion {
        name: entry.name.clone(),
        version: entry.vers.clone(),
        reason: e.to_string(),
    })?;
    let extracted =
        extract(archive, (&entry.name, &version), &staged, &ExtractLimits::default()).map_err(|source| {
            InstallError::Unpack {
                name: entry.name.clone(),
                version: entry.vers.clone(),
                source,
            }
        })?;
    check_manifest_matches(&extracted.manifest, entry)?;
    let record = InstallRecord {
        name: entry.name.clone(),
        version: entry.vers.clone(),
        checksum: sha256_hex(archive),
        files: hash_files(&staged)?,
    };
    write_atomic(
        &staged.join(INSTALL_RECORD),
        serde_json::to_string_pretty(&record)
            .expect("a record serializes")
            .as_bytes(),
    )?;
    make_read_only(&staged)?;
    let previous = staging.path().join("replaced");
    let replacing = dest.symlink_metadata().is_ok();
    if replacing {
        std::fs::rename(dest, &previous).map_err(|e| FsError::new("set aside", dest, e))?;
    }
    if let Err(e) = std::fs::rename(&staged, dest) {
        if replacing {
            let _ = std::fs::rename(&previous, dest);
        }
        return Err(FsError::new("move into place", dest, e).into());
    }
    Ok(Placement {
        dir: dest.to_owned(),
        // Kept past this function so a failed run can restore it.
        previous: replacing.then(|| staging.keep().join("replaced")),
    })
}

/// The archive's manifest must say what the signed index entry says: same
/// name, version and dependencies. Otherwise the package would install
/// something other than what the index (and its signature) describe.
fn check_manifest_matches(manifest: &Manifest, entry: &IndexEntry) -> Result<(), InstallError> {
    match manifest_disagreement(manifest, entry) {
        Some(detail) => Err(InstallError::ManifestMismatch {
            name: entry.name.clone(),
            version: entry.vers.clone(),
            detail,
        }),
        None => Ok(()),
    }
}

/// The SHA-256 of every file under `root`, keyed by relative path.
pub fn hash_files(root: &Path) -> Result<BTreeMap<String, String>, InstallError> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| FsError::new("read directory", &dir, e))? {
            let path = entry.map_err(|e| FsError::new("read directory", &dir, e))?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            if relative == INSTALL_RECORD {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| FsError::new("read", &path, e))?;
            files.insert(relative, sha256_hex(&bytes));
        }
    }
    Ok(files)
}

/// Installed files are read-only (0444, or 0555 if executable), so a
/// generator cannot change a shared package by accident. Directories stay
/// writable by the owner so the toolkit can replace or remove the package.
fn make_read_only(root: &Path) -> Result<(), InstallError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut pending = vec![root.to_owned()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).map_err(|e| FsError::new("read directory", &dir, e))? {
                let path = entry.map_err(|e| FsError::new("read directory", &dir, e))?.path();
                let meta = path.symlink_metadata().map_err(|e| FsError::new("stat", &path, e))?;
                if meta.is_dir() {
                    pending.push(path);
                } else {
                    let mode = if meta.permissions().mode() & 0o111 != 0 {
                        0o555
                    } else {
                        0o444
                    };
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                        .map_err(|e| FsError::new("set permissions of", &path, e))?;
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = root;
    Ok(())
}

/// Removes a directory tree (read-only files included).
pub fn remove_tree(path: &Path) -> Result<(), InstallError> {
    std::fs::remove_dir_all(path).map_err(|e| InstallError::Fs(FsError::new("remove", path, e)))
}
