//! `ggen.toml`: a package's manifest, or a consumer project's dependency list.
//!
//! ```
//! use ggen_marketplace::format::manifest::Manifest;
//! let manifest = Manifest::parse(r#"
//! [package]
//! name = "io.ggen.rust.axum"
//! version = "0.3.1"
//! description = "An axum web server"
//! license = "MIT"
//! keywords = ["rust", "axum"]
//!
//! [dependencies]
//! "io.ggen.rust.base" = "^0.4"
//! "#).unwrap();
//! let package = manifest.package_for_publishing().unwrap();
//! assert_eq!(package.version, semver::Version::new(0, 3, 1));
//! assert_eq!(manifest.dependencies["io.ggen.rust.base"], "^0.4");
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::entry::{Dependency, FeatureMap, IndexEntry};
use super::features::FeatureAsk;
use super::name::{self, NameError};
use super::req::{self, RequirementError};

/// The file name of a manifest.
pub const MANIFEST_FILE: &str = "ggen.toml";

/// A parsed `ggen.toml`. Sections other than `[package]` and
/// `[dependencies]` belong to ggen itself and are ignored here.
///
/// A dependency is a requirement (`"io.ggen.base" = "^1"`) or, to ask for
/// features, a table as in Cargo:
/// `"io.ggen.web" = { version = "^2", features = ["tls"], default-features = false }`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "RawManifest", into = "RawManifest")]
pub struct Manifest {
    /// Present in a package; absent in a consumer project.
    pub package: Option<PackageMeta>,
    /// Package name → version requirement.
    pub dependencies: BTreeMap<String, String>,
    /// Package name → the features asked of it, for the dependencies that
    /// ask anything but their default features.
    pub features: BTreeMap<String, FeatureAsk>,
}

/// `ggen.toml` as written.
#[derive(Serialize, Deserialize)]
struct RawManifest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    package: Option<PackageMeta>,
    #[serde(default)]
    dependencies: BTreeMap<String, DependencySpec>,
}

/// One `[dependencies]` value as written.
#[derive(Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a version requirement such as \"^1.2\", or a table such as { version = \"^1.2\", features = [\"tls\"], default-features = false }"
)]
enum DependencySpec {
    Requirement(String),
    Table(DependencyTable),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DependencyTable {
    version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    features: Vec<String>,
    #[serde(default = "super::entry::default_true", skip_serializing_if = "is_yes")]
    default_features: bool,
}

fn is_yes(value: &bool) -> bool {
    *value
}

impl From<Manifest> for RawManifest {
    fn from(manifest: Manifest) -> Self {
        let mut features = manifest.features;
        let dependencies = manifest
            .dependencies
            .into_iter()
            .map(|(name, version)| {
                let spec = match features.remove(&name) {
                    Some(ask) => DependencySpec::Table(DependencyTable {
                        version,
                        features: ask.features,
                        default_features: ask.default_features,
                    }),
                    None => DependencySpec::Requirement(version),
                };
                (name, spec)
            })
            .collect();
        RawManifest {
            package: manifest.package,
            dependencies,
        }
    }
}

impl From<RawManifest> for Manifest {
    fn from(raw: RawManifest) -> Self {
        let mut manifest = Manifest {
            package: raw.package,
            ..Manifest::default()
        };
        for (name, spec) in raw.dependencies {
            let requirement = match spec {
                DependencySpec::Requirement(requirement) => requirement,
                DependencySpec::Table(table) => {
                    let ask = FeatureAsk::new(table.default_features, &table.features);
                    if !ask.is_default() {
                        manifest.features.insert(name.clone(), ask);
                    }
                    table.version
                }
            };
            manifest.dependencies.insert(name, requirement);
        }
        manifest
    }
}

impl Manifest {
    /// What is asked of dependency `name`: its default features unless the
    /// manifest says otherwise.
    pub fn ask_of(&self, name: &str) -> FeatureAsk {
        FeatureAsk::asked_of(&self.features, name)
    }
}

/// The `[package]` table as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageMeta {
    /// The package name (strict publishing rules).
    pub name: String,
    /// The semver version.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// One line saying what the package generates.
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// SPDX licence expression.
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// Search keywords.
    pub keywords: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// Categories.
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Source repository URL.
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Path of the README inside the package.
    pub readme: Option<String>,
}

/// A package's identity after every publishing rule has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishablePackage<'a> {
    /// The `[package]` table.
    pub meta: &'a PackageMeta,
    /// The parsed version.
    pub version: semver::Version,
}

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    /// Not TOML, or a field of the wrong type or unknown.
    #[error("{MANIFEST_FILE} is not valid TOML or has a field of the wrong type: {0}")]
    Toml(#[from] toml::de::Error),
    /// A package manifest without `[package]`.
    #[error("{MANIFEST_FILE} has no [package] table; a package needs `name` and `version` under [package]")]
    NoPackage,
    /// The package name breaks the publishing rules.
    #[error("{MANIFEST_FILE}: {0}")]
    Name(#[from] NameError),
    /// The version is not semver.
    #[error("{MANIFEST_FILE}: version `{version}` is not semver (e.g. 1.2.3): {source}")]
    Version { version: String, source: semver::Error },
    /// A dependency requirement does not parse.
    #[error("{MANIFEST_FILE}: dependency `{name}`: {source}")]
    Dependency { name: String, source: RequirementError },
    /// A dependency name is not a valid name.
    #[error("{MANIFEST_FILE}: dependency name: {0}")]
    DependencyName(NameError),
    /// The text cannot be edited (not TOML, or `[dependencies]` is not a table).
    #[error("{MANIFEST_FILE} cannot be edited: {0}")]
    Edit(String),
}

impl Manifest {
    /// Parses manifest text.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        Ok(toml::from_str(text)?)
    }

    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Checks every rule a new package version must meet: a strict name, a
    /// semver version, valid dependency names and requirements.
    pub fn package_for_publishing(&self) -> Result<PublishablePackage<'_>, ManifestError> {
        let meta = self.package.as_ref().ok_or(ManifestError::NoPackage)?;
        name::validate_for_publishing(&meta.name)?;
        let version = semver::Version::parse(&meta.version).map_err(|source| ManifestError::Version {
            version: meta.version.clone(),
            source,
        })?;
        self.validate_dependencies()?;
        Ok(PublishablePackage { meta, version })
    }

    /// The index line of this package version, whose archive has SHA-256
    /// `cksum`: name, version, the `[dependencies]` as normal dependencies
    /// with the features they ask, description, keywords, categories, license and repository; no
    /// features, not yanked, no `v` (Cargo reads a missing `v` as 1), not
    /// signed. The manifest must meet the publishing rules.
    pub fn index_entry(&self, cksum: &str) -> Result<(IndexEntry, semver::Version), ManifestError> {
        let PublishablePackage { meta, version } = self.package_for_publishing()?;
        let entry = IndexEntry {
            name: meta.name.clone(),
            vers: version.to_string(),
            deps: self
                .dependencies
                .iter()
                .map(|(dep, req)| {
                    let ask = self.ask_of(dep);
                    Dependency {
                        features: ask.features,
                        default_features: ask.default_features,
                        ..Dependency::normal(dep, req)
                    }
                })
                .collect(),
            cksum: cksum.to_owned(),
            features: FeatureMap::new(),
            features2: None,
            v: None,
            yanked: false,
            links: None,
            rust_version: None,
            pubtime: None,
            description: meta.description.clone(),
            keywords: meta.keywords.clone(),
            categories: meta.categories.clone(),
            license: meta.license.clone(),
            repository: meta.repository.clone(),
            sig: None,
        };
        Ok((entry, version))
    }

    /// Checks dependency names and requirements.
    pub fn validate_dependencies(&self) -> Result<(), ManifestError> {
        for (dep, requirement) in &self.dependencies {
            name::validate_for_reading(dep).map_err(ManifestError::DependencyName)?;
            req::parse(requirement).map_err(|source| ManifestError::Dependency {
                name: dep.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// Edits a manifest's text in place, keeping comments, order and layout:
/// what `add` and `remove` do to a project's `ggen.toml`.
///
/// ```
/// use ggen_marketplace::format::features::FeatureAsk;
/// use ggen_marketplace::format::manifest::ManifestEditor;
/// let mut editor = ManifestEditor::parse("# my project\n[dependencies]\nb = \"1\" # pinned\n").unwrap();
/// editor.set_dependency("io.ggen.base", "^1.1", &FeatureAsk::default_features()).unwrap();
/// assert!(editor.remove_dependency("b"));
/// assert_eq!(editor.to_string(), "# my project\n[dependencies]\n\"io.ggen.base\" = \"^1.1\"\n");
///
/// // Features make a table, as in Cargo.
/// editor.set_dependency("web", "^2", &FeatureAsk::none().with("tls")).unwrap();
/// assert!(editor.to_string().ends_with(
///     "web = { version = \"^2\", features = [\"tls\"], default-features = false }\n"));
/// assert_eq!(editor.manifest().unwrap().ask_of("web").features, ["tls"]);
/// ```
#[derive(Debug, Clone)]
pub struct ManifestEditor {
    document: toml_edit::DocumentMut,
}

impl ManifestEditor {
    /// Parses manifest text for editing; an empty text is an empty project.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let document = text
            .parse::<toml_edit::DocumentMut>()
            .map_err(|e| ManifestError::Edit(e.to_string()))?;
        Manifest::parse(text)?;
        Ok(ManifestEditor { document })
    }

    /// Sets `name = "requirement"` under `[dependencies]`, creating the
    /// table; an inline table with `features` and `default-features` when
    /// `ask` is not just the default features.
    pub fn set_dependency(&mut self, name: &str, requirement: &str, ask: &FeatureAsk) -> Result<(), ManifestError> {
        let table = self
            .document
            .entry("dependencies")
            .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
            .as_table_like_mut()
            .ok_or_else(|| ManifestError::Edit("[dependencies] is not a table".into()))?;
        if ask.is_default() {
            table.insert(name, toml_edit::value(requirement));
            return Ok(());
        }
        let mut spec = toml_edit::InlineTable::new();
        spec.insert("version", requirement.into());
        if !ask.features.is_empty() {
            spec.insert("features", ask.features.iter().collect::<toml_edit::Array>().into());
        }
        if !ask.default_features {
            spec.insert("default-features", false.into());
        }
        table.insert(name, toml_edit::value(spec));
        Ok(())
    }

    /// Removes `name` from `[dependencies]`; false if it was not there.
    pub fn remove_dependency(&mut self, name: &str) -> bool {
        self.document
            .get_mut("dependencies")
            .and_then(|item| item.as_table_like_mut())
            .is_some_and(|table| table.remove(name).is_some())
    }

    /// The parsed manifest as edited.
    pub fn manifest(&self) -> Result<Manifest, ManifestError> {
        Manifest::parse(&self.to_string())
    }
}

impl std::fmt::Display for ManifestEditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_may_be_tables_that_ask_for_features() {
        let manifest = Manifest::parse(
            "[dependencies]\na = \"1\"\nb = { version = \"^2\", features = [\"x\", \"\"] }\nc = { version = \"3\", default-features = false }\nd = { version = \"4\" }\n",
        )
        .unwrap();
        assert_eq!(manifest.dependencies["b"], "^2");
        assert_eq!(manifest.ask_of("a"), FeatureAsk::default_features());
        assert_eq!(manifest.ask_of("b"), FeatureAsk::default_features().with("x"));
        assert_eq!(manifest.ask_of("c"), FeatureAsk::none());
        assert!(!manifest.features.contains_key("d"));
        let err = Manifest::parse("[dependencies]\nb = { version = \"^2\", feature = [\"x\"] }\n").unwrap_err();
        assert!(err.to_string().contains("or a table such as { version"), "{err}");
    }

    #[test]
    fn a_consumer_project_has_only_dependencies() {
        let manifest = Manifest::parse("[dependencies]\n\"io.ggen.base\" = \"1\"\n[ggen]\nout = \"gen\"\n").unwrap();
        assert!(manifest.package.is_none());
        assert!(manifest.validate_dependencies().is_ok());
        assert!(matches!(
            manifest.package_for_publishing(),
            Err(ManifestError::NoPackage)
        ));
    }

    #[test]
    fn refuses_bad_names_versions_and_requirements() {
        let bad_name = Manifest::parse("[package]\nname = \"Bad Name\"\nversion = \"1.0.0\"\n").unwrap();
        assert!(matches!(bad_name.package_for_publishing(), Err(ManifestError::Name(_))));
        let bad_version = Manifest::parse("[package]\nname = \"ok\"\nversion = \"1.0\"\n").unwrap();
        let err = bad_version.package_for_publishing().unwrap_err();
        assert!(err.to_string().contains("`1.0` is not semver"), "{err}");
        let bad_req =
            Manifest::parse("[package]\nname = \"ok\"\nversion = \"1.0.0\"\n[dependencies]\nx = \"not a req\"\n")
                .unwrap();
        assert!(matches!(bad_req.package_for_publishing(), Err(ManifestError::Dependency { name, .. }) if name == "x"));
    }

    #[test]
    fn editing_keeps_the_rest_of_the_file() {
        let text = "[package]\nname = \"p\"\nversion = \"1.0.0\"\n\n[ggen]\nout = \"gen\" # where\n";
        let mut editor = ManifestEditor::parse(text).unwrap();
        editor
            .set_dependency("a", "^1", &FeatureAsk::default_features())
            .unwrap();
        editor
            .set_dependency("a", "^2", &FeatureAsk::default_features())
            .unwrap();
        let edited = editor.to_string();
        assert!(edited.starts_with(text), "{edited}");
        assert_eq!(editor.manifest().unwrap().dependencies["a"], "^2");
        assert!(!editor.remove_dependency("zzz"));
        assert!(ManifestEditor::parse("dependencies = 3\n").is_err());
    }

    #[test]
    fn refuses_unknown_package_fields() {
        let err = Manifest::parse("[package]\nname = \"ok\"\nversion = \"1.0.0\"\nauthor = \"me\"\n").unwrap_err();
        assert!(err.to_string().contains("author"), "{err}");
    }
}
