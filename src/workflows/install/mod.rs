//! Installing a project's packages: resolve → verify signatures → download
//! (in parallel, cached by checksum) → check SHA-256 → extract safely into
//! `GGEN_HOME/packages/{name}-{version}/` → write `ggen.lock` last.
//!
//! All or nothing: a failure removes every package directory this run
//! placed, and the old lockfile and packages stay exactly as they were. An
//! install lock in `GGEN_HOME` serializes concurrent runs.
//!
//! ```no_run
//! use ggen_marketplace::home::GgenHome;
//! use ggen_marketplace::sources::local::LocalSource;
//! use ggen_marketplace::util::progress::NoProgress;
//! use ggen_marketplace::workflows::install::{install, InstallOptions};
//! use ggen_marketplace::workflows::project::Project;
//!
//! let index = LocalSource::open("examples/registry").unwrap();
//! let home = GgenHome::at("/tmp/ggen-home");
//! let project = Project::at("/tmp/my-project"); // holds ggen.toml
//! let identity = "io.ggen.examples".into(); // config.json's `id`
//! let report = install(&project, None, &index, &identity, &home, &InstallOptions::default(), &NoProgress).unwrap();
//! for package in &report.packages {
//!     println!("{} {} in {}", package.name, package.version, package.path.display());
//! }
//! ```

mod fetch;
mod place;
mod plan;
mod signatures;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;

pub use place::{INSTALL_RECORD, InstallRecord, hash_files, package_dir, read_record};
pub use plan::{LockChange, Plan, Unpin, plan};

use self::fetch::ArchiveFetcher;
use self::place::Placement;
use self::signatures::SignatureCheck;
use super::project::{Project, ProjectError};
use crate::archive::unpack::UnpackError;
use crate::format::manifest::ManifestEditor;
use crate::format::{Lockfile, RegistryIdentity};
use crate::home::GgenHome;
use crate::resolve::{ResolveError, ResolvedPackage};
use crate::sources::download::DEFAULT_MAX_CONNECTIONS;
use crate::sources::location::RegistryLocation;
use crate::sources::{PackageSource, SourceError};
use crate::trust::{PinStoreError, TrustError};
use crate::util::fs::{FileLock, FsError, remove_stale_temp_files};
use crate::util::progress::Progress;
use crate::workflows::info::{Deprecation, deprecation};

/// How to install.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// Fail if the lockfile would change (CI, reproducible builds).
    pub locked: bool,
    /// Resolve and report, write nothing.
    pub dry_run: bool,
    /// Also copy the packages into this directory.
    pub into: Option<PathBuf>,
    /// Accept a signing key that no pinned key vouched for.
    pub accept_new_key: bool,
    /// Lockfile pins to drop first (`update`).
    pub unpin: Unpin,
    /// Parallel downloads (default 16); the source's own settings say
    /// whether it may use the network at all.
    pub max_connections: Option<usize>,
}

/// One package of the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledPackage {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// SHA-256 of its archive.
    pub checksum: String,
    /// The key id that signed its entry, if signed.
    pub signer: Option<String>,
    /// Where it is installed.
    pub path: PathBuf,
    /// Whether this run placed it (false: it was already installed).
    pub newly_installed: bool,
    /// The deprecation its owners signed, if any (advisory: a notice that
    /// cannot be read, e.g. offline and not cached, is not shown).
    pub deprecated: Option<Deprecation>,
}

/// What an install did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct InstallReport {
    /// Every package of the resolution.
    pub packages: Vec<InstalledPackage>,
    /// How the lockfile changed.
    pub changes: Vec<LockChange>,
    /// Whether ggen.lock was (or would be) written.
    pub lockfile_written: bool,
    /// True for a dry run: nothing was written.
    pub dry_run: bool,
}

/// Why an install failed. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum InstallError {
    /// ggen.toml or ggen.lock is unusable.
    #[error(transparent)]
    Project(#[from] ProjectError),
    /// No resolution.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The index could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A signature or key check failed.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// `--locked`, and the lockfile would change.
    #[error(
        "ggen.lock is out of date and --locked forbids changing it: {changes}; run `ggen-market install` without --locked and commit ggen.lock"
    )]
    LockfileOutOfDate { changes: String },
    /// `update NAME` of a package that is not in the lockfile.
    #[error(
        "`{name}` is not in ggen.lock, so there is nothing to update; `ggen-market tree` shows the locked packages"
    )]
    NothingToUpdate { name: String },
    /// `--locked`, and ggen.lock names another registry than the one used.
    #[error(
        "ggen.lock was made against registry `{locked}`, but {location} is registry `{used}`, and --locked forbids resolving afresh.\n\
         If {location} is a mirror or a copy of `{locked}`, say so{how}.\n\
         Otherwise run `ggen-market install` without --locked to lock against `{used}`"
    )]
    LockedToAnotherRegistry {
        locked: String,
        used: String,
        location: String,
        /// The ways to map one identity to the other that apply.
        how: String,
    },
    /// `--locked` without a lockfile.
    #[error("--locked needs a ggen.lock, and {} has none; run `ggen-market install` once and commit ggen.lock", .0.display())]
    NoLockfile(PathBuf),
    /// `tree` or `verify` before anything was installed.
    #[error("no ggen.lock in {}: nothing is installed yet; run `ggen-market install` (or `add NAME`) first", .0.display())]
    NotInstalledYet(PathBuf),
    /// The index now gives another checksum for a locked version.
    #[error(
        "the checksum of {name} {version} in the index ({index}) differs from ggen.lock ({locked}); the registry changed a published release. Do not install it: ask the registry's operators what happened"
    )]
    LockedChecksumChanged {
        name: String,
        version: String,
        locked: String,
        index: String,
    },
    /// `cksum` is not 64 lowercase hex digits.
    #[error(
        "{name} {version}: the index entry's cksum is not a SHA-256 (64 lowercase hex digits); the index is damaged"
    )]
    BadChecksumField { name: String, version: String },
    /// The entry's version is not semver.
    #[error("{name} {version}: the version is not semver ({reason})")]
    BadVersion {
        name: String,
        version: String,
        reason: String,
    },
    /// The downloaded bytes are not the ones the index describes.
    #[error(
        "{name} {version}: the archive from {url} has SHA-256 {actual}, but the index says {expected}; it was corrupted or tampered with, nothing was installed"
    )]
    ChecksumMismatch {
        name: String,
        version: String,
        url: String,
        expected: String,
        actual: String,
    },
    /// Offline, and the archive is not cached.
    #[error(
        "{name} {version} is not in the archive cache and --offline forbids downloading {url}; run the install once while online"
    )]
    Offline { name: String, version: String, url: String },
    /// The archive could not be extracted safely.
    #[error("{name} {version}: {source}")]
    Unpack {
        name: String,
        version: String,
        source: UnpackError,
    },
    /// The archive's manifest disagrees with the index entry.
    #[error("{name} {version}: the archive does not match its index entry: {detail}")]
    ManifestMismatch {
        name: String,
        version: String,
        detail: String,
    },
    /// An install record is unreadable.
    #[error("{}: {reason}; reinstall with `ggen-market install`", path.display())]
    DamagedRecord { path: PathBuf, reason: String },
    /// ggen.lock pins another signer.
    #[error(
        "{name} {version} is signed by key {found}, but ggen.lock records {locked} for {name}, and {locked} did not vouch for {found}; if the package really changed hands, pass --accept-new-key"
    )]
    LockedSignerChanged {
        name: String,
        version: String,
        locked: String,
        found: String,
    },
    /// The pin store failed.
    #[error(transparent)]
    Pins(#[from] PinStoreError),
    /// A filesystem operation failed.
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Installs what `project`'s ggen.toml asks for (or what `edited` makes of
/// it, for `add` and `remove`: the manifest is then written just before the
/// lockfile), from `source`, whose identity in ggen.lock and the pin store
/// is `identity`.
pub fn install(
    project: &Project,
    edited: Option<&ManifestEditor>,
    source: &dyn PackageSource,
    identity: &RegistryIdentity,
    home: &GgenHome,
    options: &InstallOptions,
    progress: &dyn Progress,
) -> Result<InstallReport, InstallError> {
    let manifest = match edited {
        Some(editor) => editor.manifest().map_err(|source| ProjectError::Manifest {
            path: project.manifest_path(),
            source,
        })?,
        None => project.manifest()?,
    };
    let written_lock = project.lockfile()?;
    if options.locked && written_lock.is_none() {
        return Err(InstallError::NoLockfile(project.dir().to_owned()));
    }
    // A lock written under one of the registry's aliases (an old lock's
    // URL, the registry a mirror stands in for) means the same packages.
    let old_lock = written_lock.as_ref().map(|lock| lock.migrated_to(identity));
    if options.locked {
        refuse_another_registry(old_lock.as_ref(), identity, source)?;
    }
    let plan = plan(&manifest, old_lock.as_ref(), source, identity, &options.unpin)?;
    if options.locked && old_lock.as_ref() != Some(&plan.lockfile) {
        return Err(InstallError::LockfileOutOfDate {
            changes: describe_changes(&plan.changes),
        });
    }
    // `--locked` never writes; otherwise a migrated lock is written too.
    let lock_changes = !options.locked && written_lock.as_ref() != Some(&plan.lockfile);
    let packages_dir = home.packages_dir();
    if options.dry_run {
        let packages = plan
            .resolution
            .packages
            .iter()
            .map(|package| planned(package, &packages_dir, registry_signer(&plan, package)))
            .collect();
        return Ok(InstallReport {
            packages: with_deprecations(packages, source),
            changes: plan.changes,
            lockfile_written: lock_changes,
            dry_run: true,
        });
    }
    let _lock = FileLock::exclusive(&home.install_lock(), |_| {})?;
    // What a killed run left: staging directories and temp files.
    place::remove_stale_staging(&packages_dir)?;
    remove_stale_temp_files(&home.archives_dir())?;
    remove_stale_temp_files(project.dir())?;
    let checker = SignatureCheck::new(source, identity, home, old_lock.as_ref(), options.accept_new_key)?;
    let (signers, new_pins): (Vec<_>, Vec<_>) = plan
        .resolution
        .packages
        .iter()
        .map(|package| checker.verify(package))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    let placed = Mutex::new(Vec::new());
    let result = place_all(&plan, &signers, source, home, options, progress, &placed);
    let result = result.and_then(|packages| {
        if let Some(into) = &options.into {
            copy_into(&packages, into)?;
        }
        checker.remember(new_pins)?;
        if let Some(editor) = edited {
            project.write_manifest(editor)?;
        }
        if lock_changes {
            project.write_lockfile(&plan.lockfile)?;
        }
        Ok(packages)
    });
    let placed = placed.into_inner().unwrap_or_else(|e| e.into_inner());
    match result {
        Ok(packages) => {
            placed.into_iter().for_each(Placement::commit);
            Ok(InstallReport {
                packages: with_deprecations(packages, source),
                changes: plan.changes,
                lockfile_written: lock_changes,
                dry_run: false,
            })
        }
        Err(err) => {
            placed.into_iter().for_each(Placement::roll_back);
            Err(err)
        }
    }
}

fn refuse_another_registry(
    lock: Option<&Lockfile>,
    identity: &RegistryIdentity,
    source: &dyn PackageSource,
) -> Result<(), InstallError> {
    let Some(locked) = lock.and_then(|lock| lock.foreign_source(identity)) else {
        return Ok(());
    };
    let mut how = format!(
        ": give its config.json the identity of the original, \"id\": \"{locked}\" (a mirror made by `ggen-market mirror create` has it)"
    );
    if let Some(url) = RegistryLocation::url_of_source_id(locked) {
        how = format!(
            " in one of two ways:\n  - give its config.json the identity of the original, \"id\": \"{locked}\" (a mirror made by `ggen-market mirror create` has it);\n  \
             - or declare the replacement in GGEN_HOME/config.toml:\n      \
             [registries.upstream]\n      url = \"{url}\"\n      replace-with = \"mirror\"\n      \
             [registries.mirror]\n      url = \"{}\"\n    and use --registry upstream",
            source.describe()
        );
    }
    Err(InstallError::LockedToAnotherRegistry {
        locked: locked.to_owned(),
        used: identity.id().to_owned(),
        location: source.describe(),
        how,
    })
}

/// The packages with the deprecations their owners signed.
fn with_deprecations(mut packages: Vec<InstalledPackage>, source: &dyn PackageSource) -> Vec<InstalledPackage> {
    for package in &mut packages {
        package.deprecated = deprecation(source, &package.name).ok().flatten();
    }
    packages
}

fn registry_signer(plan: &Plan, package: &ResolvedPackage) -> Option<String> {
    plan.lockfile
        .packages
        .iter()
        .find(|p| p.name == package.id.name && p.version == package.id.version.to_string())
        .and_then(|p| p.signer.clone())
}

fn planned(package: &ResolvedPackage, packages_dir: &Path, signer: Option<String>) -> InstalledPackage {
    let version = package.id.version.to_string();
    let path = package_dir(packages_dir, &package.id.name, &version);
    let checksum = package.entry.entry.cksum.clone();
    InstalledPackage {
        newly_installed: !place::is_installed(&path, &checksum),
        deprecated: None,
        name: package.id.name.clone(),
        version,
        checksum,
        signer,
        path,
    }
}

/// Downloads and places every package not installed yet, in parallel on a
/// pool as wide as the connection limit (the work is mostly waiting).
fn place_all(
    plan: &Plan,
    signers: &[Option<String>],
    source: &dyn PackageSource,
    home: &GgenHome,
    options: &InstallOptions,
    progress: &dyn Progress,
    placed: &Mutex<Vec<Placement>>,
) -> Result<Vec<InstalledPackage>, InstallError> {
    let connections = options.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS).max(1);
    let fetcher = ArchiveFetcher::new(source, home.archives_dir());
    let packages_dir = home.packages_dir();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(connections.min(plan.resolution.packages.len().max(1)))
        .build()
        .expect("a thread pool can be built");
    progress.start("installing", plan.resolution.packages.len() as u64);
    let result = pool.install(|| {
        plan.resolution
            .packages
            .par_iter()
            .zip(signers)
            .map(|(package, signer)| {
                let mut installed = planned(package, &packages_dir, signer.clone());
                if installed.newly_installed {
                    let entry = &package.entry.entry;
                    let archive = fetcher.archive(entry)?;
                    let placement = place::place(&archive, entry, &installed.path)?;
                    placed.lock().unwrap_or_else(|e| e.into_inner()).push(placement);
                } else {
                    installed.newly_installed = false;
                }
                progress.advance(1);
                Ok(installed)
            })
            .collect::<Result<Vec<_>, InstallError>>()
    });
    progress.finish();
    result
}

/// Copies each package into `into/{name}-{version}/` (without the install
/// record), replacing an older copy there.
fn copy_into(packages: &[InstalledPackage], into: &Path) -> Result<(), InstallError> {
    for package in packages {
        let dest = into.join(format!("{}-{}", package.name, package.version));
        let record = read_record(&package.path)?;
        let staging = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(create_dir(into)?)
            .map_err(|e| FsError::new("create staging directory in", into, e))?;
        for relative in record.files.keys() {
            let from = package.path.join(relative);
            let to = staging.path().join(relative);
            create_dir(to.parent().expect("files have parents"))?;
            std::fs::copy(&from, &to).map_err(|e| FsError::new("copy", &from, e))?;
        }
        if dest.exists() {
            place::remove_tree(&dest)?;
        }
        let staged = staging.keep();
        std::fs::rename(&staged, &dest).map_err(|e| FsError::new("move into place", &dest, e))?;
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<&Path, InstallError> {
    std::fs::create_dir_all(dir).map_err(|e| FsError::new("create directory", dir, e))?;
    Ok(dir)
}

fn describe_changes(changes: &[LockChange]) -> String {
    if changes.is_empty() {
        return "its entries would be rewritten (dependencies or signers changed)".into();
    }
    changes
        .iter()
        .map(|change| match change {
            LockChange::Added { name, version } => format!("add {name} {version}"),
            LockChange::Removed { name, version } => format!("remove {name} {version}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
