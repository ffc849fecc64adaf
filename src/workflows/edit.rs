//! `add` and `remove`: the edits to a project's `ggen.toml` that come
//! before an install. Nothing is written here: the install writes the
//! edited manifest only once every package is in place.

use super::info::{InfoError, info};
use super::project::{Project, ProjectError};
use crate::format::manifest::ManifestEditor;
use crate::format::name::confusable_key;
use crate::sources::PackageSource;

/// A dependency as `add` will write it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AddedDependency {
    /// The name as published.
    pub name: String,
    /// The requirement written to ggen.toml.
    pub requirement: String,
}

/// Why an edit cannot be made.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum EditError {
    /// ggen.toml is unusable.
    #[error(transparent)]
    Project(#[from] ProjectError),
    /// The package or version is unknown.
    #[error(transparent)]
    Info(#[from] InfoError),
    /// Every version is yanked.
    #[error("every version of `{0}` is yanked; name a version explicitly (NAME@=VERSION) if you really need one")]
    AllYanked(String),
    /// `remove` of something not depended on.
    #[error("`{0}` is not in the [dependencies] of ggen.toml")]
    NotADependency(String),
    /// The edit could not be applied.
    #[error("ggen.toml: {0}")]
    Manifest(#[from] crate::format::manifest::ManifestError),
}

/// Adds `specs` (`NAME` or `NAME@REQ`) to the project's dependencies. A bare
/// NAME gets `^` of its newest non-yanked version, as `cargo add` does. The
/// name is written as the index publishes it.
pub fn add(
    project: &Project,
    source: &dyn PackageSource,
    specs: &[String],
) -> Result<(ManifestEditor, Vec<AddedDependency>), EditError> {
    let mut editor = project.manifest_editor()?;
    let mut added = Vec::new();
    for spec in specs {
        let (name, requirement) = match spec.split_once('@') {
            Some((name, requirement)) => (name, Some(requirement)),
            None => (spec.as_str(), None),
        };
        let package = info(source, name, requirement)?;
        let requirement = match requirement {
            Some(requirement) => requirement.to_owned(),
            None => {
                let newest = package
                    .versions
                    .iter()
                    .find(|v| !v.yanked)
                    .ok_or_else(|| EditError::AllYanked(package.name.clone()))?;
                format!("^{}", newest.version)
            }
        };
        editor.set_dependency(&package.name, &requirement)?;
        added.push(AddedDependency {
            name: package.name,
            requirement,
        });
    }
    Ok((editor, added))
}

/// Removes `names` from the project's dependencies.
pub fn remove(project: &Project, names: &[String]) -> Result<ManifestEditor, EditError> {
    let mut editor = project.manifest_editor()?;
    let manifest = editor.manifest()?;
    for name in names {
        let listed = manifest
            .dependencies
            .keys()
            .find(|dep| confusable_key(dep) == confusable_key(name))
            .ok_or_else(|| EditError::NotADependency(name.clone()))?;
        editor.remove_dependency(listed);
    }
    Ok(editor)
}
