//! Cargo packages (`.crate` files) for indexing: the normalized
//! `Cargo.toml` that `cargo package` writes into `{name}-{version}/`, turned
//! into the index line crates.io would write for it.
//!
//! What crates.io records, and so what this writes: every dependency with
//! its kind (`normal`, `build`, `dev`), its `target` (the
//! `[target.'cfg(…)'.dependencies]` key), `optional`, `default_features`,
//! `features`, a rename as `name` = the key and `package` = the real name,
//! and `registry` for a dependency from another registry; the requirement
//! as Cargo prints it (`1.0` → `^1.0`); the `[features]` table, with the
//! features that use the `dep:` or `?/` syntax moved to `features2` and
//! `"v": 2`, as crates.io does so that old Cargos skip what they cannot
//! read; `links` and `rust_version`. Description, license, repository,
//! keywords and categories fill our own optional fields, so `search` finds
//! the crate.
//!
//! ```
//! use std::io::Write;
//! use ggen_marketplace::archive::crate_file::summarize_crate;
//! let manifest = r#"
//! [package]
//! name = "demo"
//! version = "1.2.0"
//! rust-version = "1.70"
//! [dependencies.log]
//! version = "0.4"
//! optional = true
//! [target."cfg(unix)".dependencies]
//! libc = "0.2"
//! [build-dependencies]
//! cc = { version = "1", default-features = false }
//! [features]
//! logging = ["dep:log"]
//! "#;
//! let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
//! let mut header = tar::Header::new_gnu();
//! header.set_size(manifest.len() as u64);
//! header.set_mode(0o644);
//! builder.append_data(&mut header, "demo-1.2.0/Cargo.toml", manifest.as_bytes()).unwrap();
//! let bytes = builder.into_inner().unwrap().finish().unwrap();
//!
//! let summary = summarize_crate(&bytes).unwrap();
//! let entry = summary.entry;
//! assert_eq!((entry.name.as_str(), entry.vers.as_str()), ("demo", "1.2.0"));
//! assert_eq!(entry.rust_version.as_deref(), Some("1.70"));
//! let deps: Vec<String> = entry.deps.iter().map(|d| format!("{} {} {:?} {:?}", d.name, d.req, d.kind(), d.target)).collect();
//! assert_eq!(deps, [r#"cc ^1 Build None"#, r#"libc ^0.2 Normal Some("cfg(unix)")"#, r#"log ^0.4 Normal None"#]);
//! assert!(entry.features.is_empty());
//! assert_eq!(entry.features2.unwrap()["logging"], ["dep:log"]);
//! assert_eq!(entry.v, Some(2));
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::lower_hex;
use crate::format::entry::{DepKind, Dependency, FeatureMap, IndexEntry};
use crate::format::name::{self, NameError};

/// The file name ending of a Cargo package.
pub const CRATE_EXTENSION: &str = ".crate";

/// The manifest inside a Cargo package.
const CARGO_TOML: &str = "Cargo.toml";

/// The largest `Cargo.toml` read (real ones are a few KiB).
const MAX_CARGO_TOML_BYTES: u64 = 4 * 1024 * 1024;

/// What indexing needs from a `.crate` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrateSummary {
    /// The crates.io-format index entry (unsigned, not yanked).
    pub entry: IndexEntry,
    /// The parsed version.
    pub version: semver::Version,
    /// The file's size in bytes.
    pub size: u64,
}

/// Why bytes are not a usable Cargo package.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum CrateFileError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// Not gzip, or the tar stream is damaged.
    #[error("cannot decode the .crate (a .tar.gz made by `cargo package`): {0}")]
    Corrupt(#[source] std::io::Error),
    /// No `{name}-{version}/Cargo.toml`.
    #[error("no {{name}}-{{version}}/Cargo.toml in the .crate; make it with `cargo package`")]
    NoManifest,
    /// `Cargo.toml` is not a normalized manifest we can read.
    #[error("{path}: {reason}; a .crate made by `cargo package` has a normalized Cargo.toml")]
    Manifest { path: String, reason: String },
    /// The package name cannot be in an index.
    #[error("{path}: {source}")]
    Name { path: String, source: NameError },
    /// The top directory does not match the manifest.
    #[error("the .crate's top directory is `{found}/` but its Cargo.toml says `{expected}/`")]
    TopDirMismatch { found: String, expected: String },
}

/// Whether `path` names a Cargo package (ends in `.crate`).
pub fn is_crate_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().ends_with(CRATE_EXTENSION))
}

/// Reads the `.crate` at `path` and summarizes it.
pub fn read_crate_file(path: &Path) -> Result<CrateSummary, CrateFileError> {
    let bytes = std::fs::read(path).map_err(|source| CrateFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    summarize_crate(&bytes)
}

/// Summarizes `.crate` bytes: the index entry of the package (its `cksum`
/// the SHA-256 of `bytes`).
pub fn summarize_crate(bytes: &[u8]) -> Result<CrateSummary, CrateFileError> {
    let (top, text) = find_cargo_toml(bytes)?;
    let path = format!("{top}/{CARGO_TOML}");
    let manifest: CargoManifest = toml::from_str(&text).map_err(|e| CrateFileError::Manifest {
        path: path.clone(),
        reason: e.message().to_owned(),
    })?;
    let package = manifest.package.as_ref().ok_or_else(|| CrateFileError::Manifest {
        path: path.clone(),
        reason: "there is no [package] table".to_owned(),
    })?;
    name::validate_for_reading(&package.name).map_err(|source| CrateFileError::Name {
        path: path.clone(),
        source,
    })?;
    let version = semver::Version::parse(&package.version).map_err(|e| CrateFileError::Manifest {
        path: path.clone(),
        reason: format!("version `{}` is not semver: {e}", package.version),
    })?;
    let expected = format!("{}-{version}", package.name);
    if top != expected {
        return Err(CrateFileError::TopDirMismatch { found: top, expected });
    }
    let entry = manifest.index_entry(lower_hex(&Sha256::digest(bytes)));
    Ok(CrateSummary {
        entry,
        version,
        size: bytes.len() as u64,
    })
}

/// The top directory and the text of `{top}/Cargo.toml`.
fn find_cargo_toml(bytes: &[u8]) -> Result<(String, String), CrateFileError> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    for entry in archive.entries().map_err(CrateFileError::Corrupt)? {
        let entry = entry.map_err(CrateFileError::Corrupt)?;
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some((top, rest)) = path.split_once('/') else {
            continue;
        };
        if rest != CARGO_TOML || !entry.header().entry_type().is_file() {
            continue;
        }
        let top = top.to_owned();
        let mut raw = Vec::new();
        entry
            .take(MAX_CARGO_TOML_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(CrateFileError::Corrupt)?;
        let manifest_error = |reason: &str| CrateFileError::Manifest {
            path: path.clone(),
            reason: reason.to_owned(),
        };
        if raw.len() as u64 > MAX_CARGO_TOML_BYTES {
            return Err(manifest_error("it is larger than 4 MiB"));
        }
        let text = String::from_utf8(raw).map_err(|_| manifest_error("it is not UTF-8"))?;
        return Ok((top, text));
    }
    Err(CrateFileError::NoManifest)
}

/// The parts of a normalized `Cargo.toml` the index records.
#[derive(Debug, Deserialize)]
struct CargoManifest {
    package: Option<CargoPackage>,
    #[serde(default)]
    dependencies: BTreeMap<String, CargoDependency>,
    #[serde(default, alias = "dev_dependencies", rename = "dev-dependencies")]
    dev_dependencies: BTreeMap<String, CargoDependency>,
    #[serde(default, alias = "build_dependencies", rename = "build-dependencies")]
    build_dependencies: BTreeMap<String, CargoDependency>,
    #[serde(default)]
    target: BTreeMap<String, CargoTarget>,
    #[serde(default)]
    features: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct CargoPackage {
    name: String,
    version: String,
    links: Option<String>,
    #[serde(rename = "rust-version", alias = "rust_version")]
    rust_version: Option<String>,
    description: Option<String>,
    license: Option<String>,
    repository: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    categories: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct CargoTarget {
    #[serde(default)]
    dependencies: BTreeMap<String, CargoDependency>,
    #[serde(default, alias = "dev_dependencies", rename = "dev-dependencies")]
    dev_dependencies: BTreeMap<String, CargoDependency>,
    #[serde(default, alias = "build_dependencies", rename = "build-dependencies")]
    build_dependencies: BTreeMap<String, CargoDependency>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CargoDependency {
    Requirement(String),
    Detailed(DetailedDependency),
}

#[derive(Debug, Default, Deserialize)]
struct DetailedDependency {
    version: Option<String>,
    #[serde(default)]
    optional: bool,
    #[serde(rename = "default-features", alias = "default_features")]
    default_features: Option<bool>,
    #[serde(default)]
    features: Vec<String>,
    package: Option<String>,
    #[serde(rename = "registry-index")]
    registry_index: Option<String>,
}

impl CargoManifest {
    fn index_entry(&self, cksum: String) -> IndexEntry {
        let package = self.package.as_ref().expect("checked by summarize_crate");
        let mut deps = Vec::new();
        let mut add = |table: &BTreeMap<String, CargoDependency>, kind: DepKind, target: Option<&str>| {
            deps.extend(table.iter().map(|(key, dep)| dep.index_dependency(key, kind, target)));
        };
        add(&self.dependencies, DepKind::Normal, None);
        add(&self.build_dependencies, DepKind::Build, None);
        add(&self.dev_dependencies, DepKind::Dev, None);
        for (target, tables) in &self.target {
            add(&tables.dependencies, DepKind::Normal, Some(target));
            add(&tables.build_dependencies, DepKind::Build, Some(target));
            add(&tables.dev_dependencies, DepKind::Dev, Some(target));
        }
        deps.sort_by(|a, b| (&a.name, &a.target, kind_order(a)).cmp(&(&b.name, &b.target, kind_order(b))));
        let (features, features2): (FeatureMap, FeatureMap) = self
            .features
            .iter()
            .map(|(name, enables)| (name.clone(), enables.clone()))
            .partition(|(_, enables)| !enables.iter().any(|e| e.starts_with("dep:") || e.contains("?/")));
        let v = (!features2.is_empty()).then_some(2);
        IndexEntry {
            name: package.name.clone(),
            vers: package.version.clone(),
            deps,
            cksum,
            features,
            features2: (!features2.is_empty()).then_some(features2),
            v,
            yanked: false,
            links: package.links.clone(),
            rust_version: package.rust_version.clone(),
            pubtime: None,
            description: package.description.clone(),
            keywords: package.keywords.clone(),
            categories: package.categories.clone(),
            license: package.license.clone(),
            repository: package.repository.clone(),
            sig: None,
        }
    }
}

fn kind_order(dep: &Dependency) -> u8 {
    match dep.kind() {
        DepKind::Normal => 0,
        DepKind::Build => 1,
        DepKind::Dev => 2,
    }
}

impl CargoDependency {
    fn index_dependency(&self, key: &str, kind: DepKind, target: Option<&str>) -> Dependency {
        let detailed;
        let dep = match self {
            CargoDependency::Requirement(version) => {
                detailed = DetailedDependency {
                    version: Some(version.clone()),
                    ..DetailedDependency::default()
                };
                &detailed
            }
            CargoDependency::Detailed(dep) => dep,
        };
        Dependency {
            name: key.to_owned(),
            req: dep.version.as_deref().map_or_else(|| "*".to_owned(), cargo_requirement),
            features: dep.features.clone(),
            optional: dep.optional,
            default_features: dep.default_features.unwrap_or(true),
            target: target.map(str::to_owned),
            kind: Some(kind),
            registry: dep.registry_index.clone(),
            package: dep.package.clone(),
        }
    }
}

/// A requirement as Cargo sends it to the registry (`1.0` → `^1.0`); one the
/// semver crate cannot read is kept as written, for `index check` to report.
fn cargo_requirement(text: &str) -> String {
    semver::VersionReq::parse(text).map_or_else(|_| text.to_owned(), |req| req.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_bytes(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (path, contents) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(contents.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, path, contents.as_bytes()).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    const MANIFEST: &str = r#"
[package]
name = "demo"
version = "0.3.0"
links = "z"
description = "A demo"
license = "MIT"
keywords = ["x"]

[dependencies.core]
version = "1.0.0"
optional = true
package = "rustc-std-workspace-core"

[dependencies.serde]
version = "1"
default-features = false
features = ["derive"]

[dev-dependencies.quickcheck]
version = "1.0.3"

[target."cfg(windows)".build-dependencies.winres]
version = "0.1"

[features]
default = ["std"]
std = []
weak = ["serde?/std"]
"#;

    #[test]
    fn every_field_crates_io_records() {
        let bytes = crate_bytes(&[("demo-0.3.0/src/lib.rs", ""), ("demo-0.3.0/Cargo.toml", MANIFEST)]);
        let summary = summarize_crate(&bytes).unwrap();
        let entry = &summary.entry;
        assert_eq!(entry.cksum, lower_hex(&Sha256::digest(&bytes)));
        assert_eq!(entry.links.as_deref(), Some("z"));
        assert_eq!(entry.description.as_deref(), Some("A demo"));
        let line: serde_json::Value = serde_json::from_str(&entry.to_line()).unwrap();
        assert_eq!(
            line["deps"],
            serde_json::json!([
                {"name":"core","req":"^1.0.0","features":[],"optional":true,"default_features":true,"target":null,"kind":"normal","package":"rustc-std-workspace-core"},
                {"name":"quickcheck","req":"^1.0.3","features":[],"optional":false,"default_features":true,"target":null,"kind":"dev"},
                {"name":"serde","req":"^1","features":["derive"],"optional":false,"default_features":false,"target":null,"kind":"normal"},
                {"name":"winres","req":"^0.1","features":[],"optional":false,"default_features":true,"target":"cfg(windows)","kind":"build"}
            ])
        );
        assert_eq!(line["features"], serde_json::json!({"default":["std"],"std":[]}));
        assert_eq!(line["features2"], serde_json::json!({"weak":["serde?/std"]}));
        assert_eq!(line["v"], 2);
    }

    #[test]
    fn refuses_what_cargo_package_never_makes() {
        let no_manifest = crate_bytes(&[("demo-0.3.0/src/lib.rs", "")]);
        assert!(matches!(summarize_crate(&no_manifest), Err(CrateFileError::NoManifest)));
        let moved = crate_bytes(&[("demo-9.9.9/Cargo.toml", MANIFEST)]);
        assert!(matches!(
            summarize_crate(&moved),
            Err(CrateFileError::TopDirMismatch { .. })
        ));
        let workspace = crate_bytes(&[(
            "demo-0.3.0/Cargo.toml",
            "[package]\nname = \"demo\"\nversion.workspace = true\n",
        )]);
        let err = summarize_crate(&workspace).unwrap_err();
        assert!(matches!(err, CrateFileError::Manifest { .. }), "{err}");
        assert!(err.to_string().contains("cargo package"), "{err}");
        assert!(matches!(summarize_crate(b"not gzip"), Err(CrateFileError::Corrupt(_))));
        assert!(is_crate_file(Path::new("x/itoa-1.0.0.crate")));
        assert!(!is_crate_file(Path::new("x/itoa-1.0.0.tar.gz")));
    }
}
