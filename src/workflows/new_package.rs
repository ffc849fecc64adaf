//! `new NAME`: a package skeleton that `package` and `publish` accept as it
//! is — a `ggen.toml` with name, version 0.1.0, description, licence,
//! keywords and readme; a README; `templates/` with one template to show
//! the layout; a `.gitignore` for the archives `package` writes.
//!
//! ```
//! use ggen_marketplace::workflows::new_package::new_package;
//! let dir = tempfile::tempdir().unwrap();
//! let made = new_package("io.acme.web", &dir.path().join("web")).unwrap();
//! assert!(made.files.contains(&"ggen.toml".to_string()));
//! let packed = ggen_marketplace::workflows::package::package(&made.dir, None).unwrap();
//! assert_eq!((packed.name.as_str(), packed.version.as_str()), ("io.acme.web", "0.1.0"));
//! ```

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::format::manifest::MANIFEST_FILE;
use crate::format::name::{self, NameError};
use crate::util::fs::{FsError, write_atomic};

/// What `new` created.
#[derive(Debug, Clone, Serialize)]
pub struct NewPackage {
    /// The package name.
    pub name: String,
    /// The package directory.
    pub dir: PathBuf,
    /// The files written, relative to `dir`.
    pub files: Vec<String>,
}

/// Why no skeleton was made.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum NewPackageError {
    #[error("`{name}` cannot be published: {source}")]
    Name { name: String, source: NameError },
    #[error("{} already exists and is not empty; choose another --dir", .0.display())]
    NotEmpty(PathBuf),
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Writes the skeleton of package `name` into `dir` (missing or empty).
pub fn new_package(name: &str, dir: &Path) -> Result<NewPackage, NewPackageError> {
    name::validate_for_publishing(name).map_err(|source| NewPackageError::Name {
        name: name.to_owned(),
        source,
    })?;
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(NewPackageError::NotEmpty(dir.to_owned()));
    }
    let short = name.rsplit('.').next().unwrap_or(name);
    let files = [
        (MANIFEST_FILE, manifest(name, short)),
        ("README.md", readme(name)),
        (
            "templates/README.md.tmpl",
            format!("# {{{{ project_name }}}}\n\nGenerated with {name}.\n"),
        ),
        (
            ".gitignore",
            "# Archives written by `ggen-market package`.\n/target/\n".to_owned(),
        ),
    ];
    for (path, contents) in &files {
        write_atomic(&dir.join(path), contents.as_bytes())?;
    }
    Ok(NewPackage {
        name: name.to_owned(),
        dir: dir.to_owned(),
        files: files.iter().map(|(path, _)| (*path).to_owned()).collect(),
    })
}

fn manifest(name: &str, short: &str) -> String {
    format!(
        "[package]\n\
         name = \"{name}\"\n\
         version = \"0.1.0\"\n\
         description = \"Templates for {short} projects\"\n\
         license = \"MIT OR Apache-2.0\"\n\
         keywords = [\"{short}\"]\n\
         readme = \"README.md\"\n\
         \n\
         # Other packages this one builds on, as name = \"semver requirement\":\n\
         [dependencies]\n"
    )
}

fn readme(name: &str) -> String {
    format!(
        "# {name}\n\n\
         A ggen template pack. Its templates live in `templates/`.\n\n\
         ## Publishing\n\n\
         ```sh\n\
         ggen-market package                      # a reproducible archive in target/package/\n\
         ggen-market publish --index ../my-index-clone --key ~/.ggen/keys/me.key --push\n\
         ```\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_names_and_non_empty_directories() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            new_package("Bad Name", &dir.path().join("x")),
            Err(NewPackageError::Name { .. })
        ));
        std::fs::write(dir.path().join("keep"), "mine").unwrap();
        assert!(matches!(
            new_package("ok", dir.path()),
            Err(NewPackageError::NotEmpty(_))
        ));
        assert_eq!(std::fs::read_to_string(dir.path().join("keep")).unwrap(), "mine");
    }

    #[test]
    fn the_manifest_meets_the_publishing_rules() {
        let dir = tempfile::tempdir().unwrap();
        let made = new_package("io.acme.web", &dir.path().join("web")).unwrap();
        let manifest = crate::format::Manifest::read(&made.dir.join(MANIFEST_FILE)).unwrap();
        let (entry, _) = manifest.index_entry(&"0".repeat(64)).unwrap();
        use crate::format::rules::publishing::{description_problem, license_problem};
        assert_eq!(description_problem(entry.description.as_deref()), None);
        assert_eq!(license_problem(entry.license.as_deref()), None);
    }
}
