//! An index in a plain directory (a checkout, an unpacked mirror, the
//! bundled `examples/registry`): read directly, nothing to update.

use std::path::{Path, PathBuf};

use super::download::{DEFAULT_MAX_CONNECTIONS, Downloader};
use super::{PackageSource, SourceError, UpdateReport};
use crate::format::{CONFIG_FILE, IndexConfig, name};
use crate::util::progress::Progress;

/// An index read straight from a directory.
#[derive(Debug, Clone)]
pub struct LocalSource {
    root: PathBuf,
    downloader: Downloader,
}

impl LocalSource {
    /// Opens the index rooted at `root`, which must hold a `config.json`.
    /// Archives that `dl` puts on a server are downloaded when asked for;
    /// [`LocalSource::with_downloader`] sets other network settings.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, SourceError> {
        let root = root.into();
        if !root.join(CONFIG_FILE).is_file() {
            return Err(SourceError::NoConfig {
                location: root.display().to_string(),
            });
        }
        Ok(LocalSource {
            root,
            downloader: Downloader::new(false, DEFAULT_MAX_CONNECTIONS),
        })
    }

    /// The same index, downloading archives with `downloader`.
    pub fn with_downloader(self, downloader: Downloader) -> Self {
        LocalSource { downloader, ..self }
    }

    /// The index directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl PackageSource for LocalSource {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn config(&self) -> Result<IndexConfig, SourceError> {
        let path = self.root.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| SourceError::Io {
            path: path.clone(),
            source,
        })?;
        IndexConfig::from_json(&text).map_err(|source| SourceError::Config { path, source })
    }

    fn read_index_file(&self, relative: &str) -> Result<Option<String>, SourceError> {
        let path = self.root.join(relative);
        match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| SourceError::NotUtf8 {
                location: path.display().to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SourceError::Io { path, source }),
        }
    }

    fn package_names(&self) -> Result<Option<Vec<String>>, SourceError> {
        let mut names = Vec::new();
        collect_package_files(&self.root, &self.root, &mut names)?;
        names.sort();
        Ok(Some(names))
    }

    fn download_base(&self) -> String {
        self.root.display().to_string()
    }

    fn downloader(&self) -> &Downloader {
        &self.downloader
    }

    fn update(&self, _progress: &dyn Progress) -> Result<UpdateReport, SourceError> {
        Ok(UpdateReport {
            changed: false,
            summary: "a local directory is always current".into(),
        })
    }
}

/// Walks the shard directories, skipping what is not a package file: dot
/// entries at the root (`.git`, `.github`), `_`-prefixed trees (`_keys`),
/// `config.json` and anything whose path does not match its name's shard.
/// The sparse cache lists its copies the same way.
pub(super) fn collect_package_files(root: &Path, dir: &Path, names: &mut Vec<String>) -> Result<(), SourceError> {
    let read = std::fs::read_dir(dir).map_err(|source| SourceError::Io {
        path: dir.to_owned(),
        source,
    })?;
    for item in read {
        let item = item.map_err(|source| SourceError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let file_name = item.file_name().to_string_lossy().into_owned();
        let at_root = dir == root;
        if at_root && (file_name.starts_with('.') || file_name.starts_with('_') || file_name == CONFIG_FILE) {
            continue;
        }
        let path = item.path();
        let file_type = item.file_type().map_err(|source| SourceError::Io {
            path: path.clone(),
            source,
        })?;
        if file_type.is_dir() {
            collect_package_files(root, &path, names)?;
        } else if file_type.is_file() && is_at_its_shard(root, &path, &file_name) {
            names.push(file_name);
        }
    }
    Ok(())
}

fn is_at_its_shard(root: &Path, path: &Path, file_name: &str) -> bool {
    let relative = path.strip_prefix(root).map(|p| p.to_string_lossy().replace('\\', "/"));
    relative.is_ok_and(|rel| rel == name::index_path(file_name))
}
