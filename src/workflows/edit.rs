//! `add` and `remove`: the edits to a project's `ggen.toml` that come
//! before an install. Nothing is written here: the install writes the
//! edited manifest only once every package is in place.

use super::info::{InfoError, PublishedVersions, published_versions};
use super::project::{Project, ProjectError};
use crate::format::features::FeatureAsk;
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
    /// The features asked of it, besides the default ones.
    pub features: Vec<String>,
    /// Whether its default features are asked for.
    pub default_features: bool,
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
    /// Features asked while adding several packages at once.
    #[error("--features and --no-default-features apply to one package: add the packages one at a time")]
    FeaturesOfSeveral,
    /// `remove` of something not depended on.
    #[error("`{0}` is not in the [dependencies] of ggen.toml")]
    NotADependency(String),
    /// The edit could not be applied.
    #[error("ggen.toml: {0}")]
    Manifest(#[from] crate::format::manifest::ManifestError),
}

/// Adds `specs` (`NAME` or `NAME@REQ`) to the project's dependencies,
/// asking `ask` of them (one package only, unless `ask` is the default
/// features). A bare NAME gets `^` of its newest stable non-yanked version,
/// as `cargo add` does. The name is written as the index publishes it.
pub fn add(
    project: &Project,
    source: &dyn PackageSource,
    specs: &[String],
    ask: &FeatureAsk,
) -> Result<(ManifestEditor, Vec<AddedDependency>), EditError> {
    if specs.len() > 1 && !ask.is_default() {
        return Err(EditError::FeaturesOfSeveral);
    }
    let mut editor = project.manifest_editor()?;
    let mut added = Vec::new();
    for spec in specs {
        let (name, requirement) = match spec.split_once('@') {
            Some((name, requirement)) => (name, Some(requirement)),
            None => (spec.as_str(), None),
        };
        let package = published_versions(source, name, requirement)?;
        let requirement = match requirement {
            Some(requirement) => requirement.to_owned(),
            None => format!("^{}", newest_to_add(&package)?),
        };
        editor.set_dependency(&package.name, &requirement, ask)?;
        added.push(AddedDependency {
            name: package.name,
            requirement,
            features: ask.features.clone(),
            default_features: ask.default_features,
        });
    }
    Ok((editor, added))
}

/// The version a bare `add NAME` asks for, as `cargo add` picks it: the
/// newest stable version that is not yanked, or the newest pre-release if
/// the package has nothing else. `versions` are newest first.
fn newest_to_add(package: &PublishedVersions) -> Result<&semver::Version, EditError> {
    let available = || package.versions.iter().filter(|(_, yanked)| !yanked).map(|(v, _)| v);
    available()
        .find(|v| v.pre.is_empty())
        .or_else(|| available().next())
        .ok_or_else(|| EditError::AllYanked(package.name.clone()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn package(versions: &[(&str, bool)]) -> PublishedVersions {
        PublishedVersions {
            name: "p".into(),
            versions: versions
                .iter()
                .map(|(version, yanked)| (semver::Version::parse(version).unwrap(), *yanked))
                .collect(),
        }
    }

    #[test]
    fn a_bare_add_prefers_the_newest_stable_version() {
        let p = package(&[("0.13.0-alpha.4", false), ("0.12.36", true), ("0.12.35", false)]);
        assert_eq!(newest_to_add(&p).unwrap().to_string(), "0.12.35");
        let only_pre = package(&[("2.0.0-beta.2", false), ("2.0.0-beta.1", false)]);
        assert_eq!(newest_to_add(&only_pre).unwrap().to_string(), "2.0.0-beta.2");
        assert!(matches!(
            newest_to_add(&package(&[("1.0.0", true)])),
            Err(EditError::AllYanked(_))
        ));
    }
}
