//! A consumer project: a directory with `ggen.toml` (`[dependencies]`) and,
//! once installed, `ggen.lock`.

use std::path::{Path, PathBuf};

use crate::format::lockfile::{LOCKFILE, Lockfile, LockfileError};
use crate::format::manifest::{MANIFEST_FILE, Manifest, ManifestEditor, ManifestError};
use crate::util::fs::{FsError, write_atomic};

/// A project directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    dir: PathBuf,
}

/// Why a project's files cannot be used.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum ProjectError {
    /// No ggen.toml.
    #[error("no {MANIFEST_FILE} in {}; create one with a [dependencies] table, or run `ggen-market add NAME`", .0.display())]
    NoManifest(PathBuf),
    /// ggen.toml is not valid.
    #[error("{}: {source}", path.display())]
    Manifest { path: PathBuf, source: ManifestError },
    /// ggen.lock is not valid.
    #[error("{}: {source}", path.display())]
    Lockfile { path: PathBuf, source: LockfileError },
    /// Reading or writing failed.
    #[error(transparent)]
    Fs(#[from] FsError),
}

impl Project {
    /// The project in `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Project { dir: dir.into() }
    }

    /// The project directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `ggen.toml`.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(MANIFEST_FILE)
    }

    /// `ggen.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(LOCKFILE)
    }

    /// The manifest; an error if there is none.
    pub fn manifest(&self) -> Result<Manifest, ProjectError> {
        let path = self.manifest_path();
        let text = self
            .read(&path)?
            .ok_or_else(|| ProjectError::NoManifest(self.dir.clone()))?;
        let manifest = Manifest::parse(&text).map_err(|source| ProjectError::Manifest {
            path: path.clone(),
            source,
        })?;
        manifest
            .validate_dependencies()
            .map_err(|source| ProjectError::Manifest { path, source })?;
        Ok(manifest)
    }

    /// An editor over the manifest's text; an empty one if there is none.
    pub fn manifest_editor(&self) -> Result<ManifestEditor, ProjectError> {
        let path = self.manifest_path();
        let text = self.read(&path)?.unwrap_or_default();
        ManifestEditor::parse(&text).map_err(|source| ProjectError::Manifest { path, source })
    }

    /// The lockfile, if there is one.
    pub fn lockfile(&self) -> Result<Option<Lockfile>, ProjectError> {
        let path = self.lock_path();
        self.read(&path)?
            .map(|text| Lockfile::parse(&text).map_err(|source| ProjectError::Lockfile { path, source }))
            .transpose()
    }

    /// Writes the manifest text atomically.
    pub fn write_manifest(&self, editor: &ManifestEditor) -> Result<(), ProjectError> {
        Ok(write_atomic(&self.manifest_path(), editor.to_string().as_bytes())?)
    }

    /// Writes the lockfile atomically.
    pub fn write_lockfile(&self, lockfile: &Lockfile) -> Result<(), ProjectError> {
        Ok(write_atomic(&self.lock_path(), lockfile.to_toml().as_bytes())?)
    }

    fn read(&self, path: &Path) -> Result<Option<String>, ProjectError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(FsError::new("read", path, e).into()),
        }
    }
}
