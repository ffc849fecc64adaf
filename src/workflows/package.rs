//! `package`: pack a package directory into its reproducible archive and
//! write it where `index add` and `publish` will pick it up.
//!
//! ```
//! use ggen_marketplace::workflows::package::package;
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("ggen.toml"), "[package]\nname = \"hello\"\nversion = \"1.0.0\"\n").unwrap();
//!
//! let packaged = package(dir.path(), None).unwrap();
//! assert_eq!(packaged.path, dir.path().join("target/package/hello-1.0.0.tar.gz"));
//! assert_eq!(std::fs::metadata(&packaged.path).unwrap().len(), packaged.size);
//! // Packing again gives the same bytes, and skips the output directory.
//! assert_eq!(package(dir.path(), None).unwrap().sha256, packaged.sha256);
//! ```

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::pack::{PackError, pack};
use crate::util::fs::{FsError, write_atomic};

/// Where archives go when no output directory is given, relative to the
/// package directory.
pub const DEFAULT_OUT_DIR: &str = "target/package";

/// The archive `package` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackagedArchive {
    /// The package name.
    pub name: String,
    /// The package version.
    pub version: String,
    /// SHA-256 of the archive, lowercase hex (the index's `cksum`).
    pub sha256: String,
    /// Where the archive was written.
    pub path: PathBuf,
    /// The archive's size in bytes.
    pub size: u64,
    /// The number of files in the archive.
    pub files: u64,
}

/// Why packaging failed.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum PackageError {
    /// The directory could not be packed.
    #[error(transparent)]
    Pack(#[from] PackError),
    /// The archive could not be written.
    #[error(transparent)]
    Write(#[from] FsError),
}

/// Packs the package in `dir` and writes `{name}-{version}.tar.gz` to
/// `out` (default `dir/target/package`, created if missing), atomically.
///
/// Both `out` and the default output directory are left out of the
/// archive, so earlier archives never end up inside a new one, whichever
/// `--out` they were written with.
pub fn package(dir: &Path, out: Option<&Path>) -> Result<PackagedArchive, PackageError> {
    let default_out = dir.join(DEFAULT_OUT_DIR);
    let out = out.map_or_else(|| default_out.clone(), Path::to_owned);
    let packed = pack(dir, &[&out, &default_out])?;
    let path = out.join(packed.file_name());
    write_atomic(&path, &packed.bytes)?;
    Ok(PackagedArchive {
        size: packed.size(),
        name: packed.name,
        version: packed.version.to_string(),
        sha256: packed.sha256,
        path,
        files: packed.files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_to_the_given_directory_and_nothing_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("dist/archives");
        std::fs::write(
            dir.path().join("ggen.toml"),
            "[package]\nname = \"x\"\nversion = \"0.1.0\"\n",
        )
        .unwrap();
        let packaged = package(dir.path(), Some(&out)).unwrap();
        assert_eq!(packaged.path, out.join("x-0.1.0.tar.gz"));
        let bytes = std::fs::read(&packaged.path).unwrap();
        let summary = crate::archive::summarize_bytes(&bytes).unwrap();
        assert_eq!(summary.sha256, packaged.sha256);
        assert_eq!(packaged.files, 1);
        std::fs::create_dir_all(dir.path().join(DEFAULT_OUT_DIR)).unwrap();
        std::fs::write(dir.path().join(DEFAULT_OUT_DIR).join("x-0.0.9.tar.gz"), "old").unwrap();
        let again = package(dir.path(), Some(&out)).unwrap();
        assert_eq!(again.sha256, packaged.sha256, "neither output directory is packed");

        std::fs::write(
            dir.path().join("ggen.toml"),
            "[package]\nname = \"x\"\nversion = \"0.2\"\n",
        )
        .unwrap();
        let err = package(dir.path(), Some(&out)).unwrap_err();
        assert!(matches!(err, PackageError::Pack(PackError::Manifest { .. })), "{err:?}");
        assert_eq!(
            std::fs::read_dir(&out).unwrap().count(),
            1,
            "no new archive, no temp file"
        );
    }
}
