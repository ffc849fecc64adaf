//! An index held in memory, counting what the resolver reads.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::format::{DepKind, Dependency, IndexConfig, IndexEntry};
use crate::sources::download::Downloader;
use crate::sources::{PackageSource, SourceError, UpdateReport};
use crate::util::progress::Progress;

/// Package files by lowercased name, plus a log of every file read.
#[derive(Default)]
pub struct MemoryIndex {
    files: BTreeMap<String, String>,
    reads: Mutex<Vec<String>>,
    broken: Option<String>,
    downloader: Downloader,
}

impl MemoryIndex {
    pub fn new() -> Self {
        MemoryIndex::default()
    }

    /// Appends a version line to `name`'s file.
    pub fn publish(&mut self, name: &str, vers: &str, deps: Vec<Dependency>) -> &mut Self {
        self.add(entry(name, vers, deps))
    }

    /// Appends a yanked version line.
    pub fn publish_yanked(&mut self, name: &str, vers: &str, deps: Vec<Dependency>) -> &mut Self {
        let mut yanked = entry(name, vers, deps);
        yanked.yanked = true;
        self.add(yanked)
    }

    pub fn add(&mut self, entry: IndexEntry) -> &mut Self {
        let file = self.files.entry(entry.name.to_ascii_lowercase()).or_default();
        file.push_str(&entry.to_line());
        file.push('\n');
        self
    }

    /// Makes reading `name`'s file fail.
    pub fn break_file(&mut self, name: &str) -> &mut Self {
        self.broken = Some(name.to_owned());
        self
    }

    /// Every file name read so far, in order.
    pub fn reads(&self) -> Vec<String> {
        self.reads.lock().unwrap().clone()
    }
}

impl PackageSource for MemoryIndex {
    fn describe(&self) -> String {
        "the test index".into()
    }

    fn config(&self) -> Result<IndexConfig, SourceError> {
        Ok(IndexConfig::with_dl("archives"))
    }

    /// Only package files exist here (through `read_package_file`).
    fn read_index_file(&self, _path: &str) -> Result<Option<String>, SourceError> {
        Ok(None)
    }

    fn read_package_file(&self, file_name: &str) -> Result<Option<String>, SourceError> {
        self.reads.lock().unwrap().push(file_name.to_owned());
        if self.broken.as_deref() == Some(file_name) {
            return Err(SourceError::Io {
                path: file_name.into(),
                source: std::io::Error::other("disk on fire"),
            });
        }
        Ok(self.files.get(file_name).cloned())
    }

    fn package_names(&self) -> Result<Option<Vec<String>>, SourceError> {
        Ok(Some(self.files.keys().cloned().collect()))
    }

    fn download_base(&self) -> String {
        "memory".into()
    }

    fn downloader(&self) -> &Downloader {
        &self.downloader
    }

    fn update(&self, _progress: &dyn Progress) -> Result<UpdateReport, SourceError> {
        Ok(UpdateReport::default())
    }
}

pub fn entry(name: &str, vers: &str, deps: Vec<Dependency>) -> IndexEntry {
    IndexEntry {
        name: name.into(),
        vers: vers.into(),
        deps,
        cksum: "0".repeat(64),
        features: Default::default(),
        features2: None,
        v: None,
        yanked: false,
        links: None,
        rust_version: None,
        pubtime: None,
        description: None,
        keywords: Vec::new(),
        categories: Vec::new(),
        license: None,
        repository: None,
        sig: None,
    }
}

/// A normal dependency.
pub fn dep(name: &str, req: &str) -> Dependency {
    Dependency::normal(name, req)
}

/// A dependency of another kind.
pub fn dep_of_kind(name: &str, req: &str, kind: DepKind) -> Dependency {
    Dependency {
        kind: Some(kind),
        ..Dependency::normal(name, req)
    }
}
