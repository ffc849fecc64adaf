//! Where a mirror keeps its files: the index, the archives, `config.json`
//! and `mirror.toml`, for each format.
//!
//! | format | index files | archives | `dl` in config.json |
//! |---|---|---|---|
//! | `index` (ggen packages) | the root | `archives/{crate}/{crate}-{version}.tar.gz` | that path, relative (or under `--base-url`) |
//! | `index` (Cargo packages) | the root | `crates/{crate}/{crate}-{version}.crate` | that path, relative (or under `--base-url`) |
//! | `cargo-local` | `index/` | `{crate}-{version}.crate` in the root | `../{crate}-{version}.crate` |
//!
//! A `cargo-local` mirror is a Cargo *local registry* (`[source.x]
//! local-registry = "DIR"`): Cargo reads `index/` and the `.crate` files
//! beside it, and ignores `index/config.json`, which is there so that
//! `ggen-market --registry DIR/index` reads the same mirror.
//!
//! ```
//! use ggen_marketplace::format::IndexConfig;
//! use ggen_marketplace::workflows::mirror::layout::{ArchiveKind, Layout, MirrorFormat};
//! let crates_io = IndexConfig::with_dl("https://crates.io/api/v1/crates");
//! assert_eq!(ArchiveKind::of_upstream(&crates_io), ArchiveKind::Crate);
//! let layout = Layout::new("/srv/mirror", MirrorFormat::Index, ArchiveKind::Crate);
//! assert_eq!(layout.archive_path("Inflector", "0.11.4"), "crates/Inflector/Inflector-0.11.4.crate");
//! assert_eq!(layout.dl(Some("http://mirror.corp.example/")), "http://mirror.corp.example/crates/{crate}/{crate}-{version}.crate");
//! let local = Layout::new("/srv/local", MirrorFormat::CargoLocal, ArchiveKind::Crate);
//! assert_eq!(local.archive_path("itoa", "1.0.0"), "itoa-1.0.0.crate");
//! assert!(local.index_dir().ends_with("index"));
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::format::config::expand_dl;
use crate::format::{CONFIG_FILE, IndexConfig};

/// The file recording what a mirror holds and where it came from.
pub const RECORD_FILE: &str = "mirror.toml";

/// The lock every writer (and `verify`) of a mirror takes, in its root.
pub const LOCK_FILE: &str = ".ggen-mirror.lock";

/// How a mirror lays out its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MirrorFormat {
    /// An index like the upstream's with the archives inside it: served as
    /// static files it is a sparse registry for ggen-market and, with an
    /// absolute `dl` (`--base-url`), for Cargo.
    #[default]
    Index,
    /// A Cargo local registry: `index/` and `{name}-{version}.crate` files.
    CargoLocal,
}

/// What the upstream's archives are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArchiveKind {
    /// ggen packages: `.tar.gz` with a `ggen.toml`.
    Ggen,
    /// Cargo packages: `.crate` files.
    Crate,
}

impl ArchiveKind {
    /// Judged from the upstream's `dl`: `.crate` files, crates.io's
    /// `…/download` API (a `dl` without markers) or an index with Cargo's
    /// `api` hold Cargo packages; anything else ggen packages.
    pub fn of_upstream(config: &IndexConfig) -> Self {
        let example = expand_dl(&config.dl, "x", "1.0.0", "00");
        if example.ends_with(".crate") || example.ends_with("/download") || config.api.is_some() {
            ArchiveKind::Crate
        } else {
            ArchiveKind::Ggen
        }
    }
}

/// The paths of one mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
    format: MirrorFormat,
    kind: ArchiveKind,
}

impl Layout {
    /// The layout of a mirror rooted at `root`.
    pub fn new(root: impl Into<PathBuf>, format: MirrorFormat, kind: ArchiveKind) -> Self {
        Layout {
            root: root.into(),
            format,
            kind,
        }
    }

    /// The same layout rooted elsewhere (a staging directory).
    pub fn at(&self, root: impl Into<PathBuf>) -> Self {
        Layout {
            root: root.into(),
            ..self.clone()
        }
    }

    /// The mirror's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory holding `config.json`, the package files and `_keys/`.
    pub fn index_dir(&self) -> PathBuf {
        match self.format {
            MirrorFormat::Index => self.root.clone(),
            MirrorFormat::CargoLocal => self.root.join("index"),
        }
    }

    /// `config.json`.
    pub fn config_file(&self) -> PathBuf {
        self.index_dir().join(CONFIG_FILE)
    }

    /// `mirror.toml`.
    pub fn record_file(&self) -> PathBuf {
        self.root.join(RECORD_FILE)
    }

    /// A file of the index (`/`-separated path from the index root).
    pub fn index_file(&self, relative: &str) -> PathBuf {
        self.index_dir().join(relative)
    }

    /// The template of archive paths, relative to the mirror's root.
    fn template(&self) -> &'static str {
        match (self.format, self.kind) {
            (MirrorFormat::CargoLocal, _) => "{crate}-{version}.crate",
            (MirrorFormat::Index, ArchiveKind::Crate) => "crates/{crate}/{crate}-{version}.crate",
            (MirrorFormat::Index, ArchiveKind::Ggen) => "archives/{crate}/{crate}-{version}.tar.gz",
        }
    }

    /// Where the archive of `name@version` lives, relative to the root.
    pub fn archive_path(&self, name: &str, version: &str) -> String {
        expand_dl(self.template(), name, version, "")
    }

    /// The archive of `name@version` on disk.
    pub fn archive_file(&self, name: &str, version: &str) -> PathBuf {
        self.root.join(self.archive_path(name, version))
    }

    /// config.json's `dl`: relative to the index, or absolute under
    /// `base_url` (Cargo needs an absolute `dl` to download from a sparse
    /// registry).
    pub fn dl(&self, base_url: Option<&str>) -> String {
        match (self.format, base_url) {
            (MirrorFormat::CargoLocal, _) => format!("../{}", self.template()),
            (MirrorFormat::Index, Some(base)) => format!("{}/{}", base.trim_end_matches('/'), self.template()),
            (MirrorFormat::Index, None) => self.template().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_dl_reaches_the_archive_path_from_the_index() {
        for (format, kind) in [
            (MirrorFormat::Index, ArchiveKind::Ggen),
            (MirrorFormat::Index, ArchiveKind::Crate),
            (MirrorFormat::CargoLocal, ArchiveKind::Crate),
        ] {
            let layout = Layout::new("/m", format, kind);
            let config = IndexConfig::with_dl(layout.dl(None));
            let url = config.download_url(layout.index_dir().to_str().unwrap(), "a-b", "1.0.0", "ff");
            assert_eq!(
                PathBuf::from(url),
                layout.archive_file("a-b", "1.0.0"),
                "{format:?} {kind:?}"
            );
        }
    }

    #[test]
    fn archive_kinds_follow_the_upstream_dl() {
        for (dl, kind) in [
            ("archives/{crate}/{crate}-{version}.tar.gz", ArchiveKind::Ggen),
            (
                "https://static.crates.io/crates/{crate}/{crate}-{version}.crate",
                ArchiveKind::Crate,
            ),
            ("https://crates.io/api/v1/crates", ArchiveKind::Crate),
            ("https://cdn.example/{sha256-checksum}", ArchiveKind::Ggen),
        ] {
            assert_eq!(ArchiveKind::of_upstream(&IndexConfig::with_dl(dl)), kind, "{dl}");
        }
    }
}
