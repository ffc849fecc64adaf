//! One line of a package file: the record of one published version.
//!
//! Reading is lenient like Cargo: unknown fields are ignored, a missing or
//! null dependency `kind` means `normal`, and absent collections are empty.
//! Writing is strict and compact, with Cargo's field order, so lines written
//! here look like crates.io's.
//!
//! ```
//! use ggen_marketplace::format::entry::{IndexEntry, DepKind};
//! let line = r#"{"name":"demo","vers":"1.0.0","deps":[{"name":"base","req":"^0.4","features":[],"optional":false,"default_features":true,"target":null}],"cksum":"00000000000000000000000000000000000000000000000000000000000000aa","features":{},"yanked":false,"future_field":1}"#;
//! let entry = IndexEntry::from_line(line).unwrap();
//! assert_eq!(entry.deps[0].kind(), DepKind::Normal);
//! assert_eq!(entry.version().unwrap(), semver::Version::new(1, 0, 0));
//! // Written back strictly: the explicit kind is added, the unknown field is not kept.
//! assert!(entry.to_line().contains(r#""kind":"normal""#));
//! assert!(!entry.to_line().contains("future_field"));
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Features of a package: feature name → what it enables.
pub type FeatureMap = BTreeMap<String, Vec<String>>;

/// A published version of a package, as one JSON line of the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The package name, in the case it was published with.
    pub name: String,
    /// The version, a semver string.
    pub vers: String,
    /// Dependencies of every kind.
    #[serde(default)]
    pub deps: Vec<Dependency>,
    /// SHA-256 of the archive, 64 lowercase hex digits.
    pub cksum: String,
    /// Cargo's feature table.
    #[serde(default)]
    pub features: FeatureMap,
    /// Cargo's second feature table (namespaced / weak features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features2: Option<FeatureMap>,
    /// Cargo's entry schema version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// Whether the version was withdrawn from new resolutions.
    #[serde(default)]
    pub yanked: bool,
    /// Cargo's `links` (native library name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<String>,
    /// Minimum Rust version (Cargo's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_version: Option<String>,
    /// Publish time, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubtime: Option<String>,
    /// One-line description (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Search keywords (ours).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// Categories (ours).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// SPDX licence expression (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Source repository URL (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// A minisign signature over the entry's canonical form (ours, DESIGN §4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

/// A dependency of a published version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// The name the dependent uses; the real package if `package` is absent.
    pub name: String,
    /// The version requirement, as written by the publisher.
    pub req: String,
    /// Features enabled on the dependency.
    #[serde(default)]
    pub features: Vec<String>,
    /// Whether the dependency is only pulled in by a feature.
    #[serde(default)]
    pub optional: bool,
    /// Whether the dependency's default features are enabled.
    #[serde(default = "default_true")]
    pub default_features: bool,
    /// A platform `cfg(...)` or target triple the dependency is limited to.
    #[serde(default)]
    pub target: Option<String>,
    /// normal, dev or build; missing or null means normal (old crates.io lines).
    #[serde(default)]
    pub kind: Option<DepKind>,
    /// The index URL of the dependency when it lives in another registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The real package name when the dependency is renamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

pub(super) fn default_true() -> bool {
    true
}

/// The kinds of dependency Cargo knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DepKind {
    /// Needed to use the package.
    #[default]
    Normal,
    /// Needed only to develop the package itself; ignored for dependencies.
    Dev,
    /// Needed by the package's build script.
    Build,
}

/// A line that is not a readable index entry.
#[derive(Debug, thiserror::Error)]
#[error("not a valid index entry: {0}")]
pub struct EntryParseError(#[from] pub serde_json::Error);

impl IndexEntry {
    /// Reads one line leniently.
    pub fn from_line(line: &str) -> Result<Self, EntryParseError> {
        Ok(serde_json::from_str(line)?)
    }

    /// Reads every non-blank line of a package file, keeping each line's
    /// 1-based number with its result.
    pub fn parse_file(text: &str) -> impl Iterator<Item = (usize, Result<Self, EntryParseError>)> + '_ {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| (i + 1, Self::from_line(line)))
    }

    /// The strict, compact JSON line (without the trailing newline).
    pub fn to_line(&self) -> String {
        let mut strict = self.clone();
        for dep in &mut strict.deps {
            dep.kind = Some(dep.kind());
        }
        serde_json::to_string(&strict).expect("an entry always serializes")
    }

    /// `vers` parsed as semver.
    pub fn version(&self) -> Result<semver::Version, semver::Error> {
        semver::Version::parse(&self.vers)
    }
}

impl Dependency {
    /// The dependency's kind, with Cargo's default.
    pub fn kind(&self) -> DepKind {
        self.kind.unwrap_or_default()
    }

    /// Whether every build of the dependent needs it: see [`is_required`].
    pub fn is_required(&self) -> bool {
        is_required(self.kind(), self.optional)
    }

    /// The name of the package depended on (follows a rename).
    pub fn package_name(&self) -> &str {
        self.package.as_deref().unwrap_or(&self.name)
    }

    /// A plain normal dependency on `name` with requirement `req`.
    pub fn normal(name: &str, req: &str) -> Self {
        Dependency {
            name: name.to_owned(),
            req: req.to_owned(),
            features: Vec::new(),
            optional: false,
            default_features: true,
            target: None,
            kind: Some(DepKind::Normal),
            registry: None,
            package: None,
        }
    }
}

/// Whether a dependency is needed by every build of its dependent, so the
/// index must hold it: normal and build dependencies that are not
/// optional. A dev-dependency only builds the package's own tests, an
/// optional one only when a feature asks for it — a private registry built
/// from `.crate` files rarely has those.
pub fn is_required(kind: DepKind, optional: bool) -> bool {
    kind != DepKind::Dev && !optional
}

#[cfg(test)]
mod tests {
    use super::*;

    const CKSUM: &str = "4f3fdbbbbbf1a8b3b4a2f3d9f1e1bb0c7e64f7c1fa7e3d9b3a6f3c2b1a0f9e8d";

    #[test]
    fn reads_an_old_crates_io_line() {
        // The shape of 2015-era crates.io lines: no `kind`, no `v`, spaces allowed.
        let line = format!(
            r#"{{ "name": "Inflector", "vers": "0.1.0", "deps": [{{"name":"regex","req":"^0.1.41","features":[""],"optional":false,"default_features":true,"target":null}}], "cksum": "{CKSUM}", "features": {{}}, "yanked": false }}"#
        );
        let entry = IndexEntry::from_line(&line).unwrap();
        assert_eq!(entry.name, "Inflector");
        assert_eq!(entry.deps[0].kind, None);
        assert_eq!(entry.deps[0].kind(), DepKind::Normal);
        assert_eq!(entry.deps[0].features, vec![""]);
    }

    #[test]
    fn writes_cargo_field_order_compactly() {
        let entry = IndexEntry {
            name: "io.ggen.base".into(),
            vers: "1.0.0".into(),
            deps: vec![Dependency::normal("io.ggen.core", "^1")],
            cksum: CKSUM.into(),
            features: FeatureMap::new(),
            features2: None,
            v: None,
            yanked: false,
            links: None,
            rust_version: None,
            pubtime: None,
            description: Some("Common files".into()),
            keywords: vec!["base".into()],
            categories: vec![],
            license: Some("MIT".into()),
            repository: None,
            sig: None,
        };
        assert_eq!(
            entry.to_line(),
            format!(
                r#"{{"name":"io.ggen.base","vers":"1.0.0","deps":[{{"name":"io.ggen.core","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}}],"cksum":"{CKSUM}","features":{{}},"yanked":false,"description":"Common files","keywords":["base"],"license":"MIT"}}"#
            )
        );
        assert_eq!(IndexEntry::from_line(&entry.to_line()).unwrap(), entry);
    }

    #[test]
    fn renamed_dependency_names_the_real_package() {
        let mut dep = Dependency::normal("alias", "1");
        dep.package = Some("real".into());
        assert_eq!(dep.package_name(), "real");
    }

    #[test]
    fn parse_file_numbers_lines_and_skips_blanks() {
        let text = format!(
            "{{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"{CKSUM}\",\"features\":{{}},\"yanked\":false}}\n\nnot json\n"
        );
        let results: Vec<_> = IndexEntry::parse_file(&text).collect();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].0, 1);
        assert!(results[0].1.is_ok());
        assert_eq!(results[1].0, 3);
        assert!(results[1].1.is_err());
    }

    #[test]
    fn unknown_dependency_kind_is_an_error() {
        let line = format!(
            r#"{{"name":"a","vers":"1.0.0","deps":[{{"name":"b","req":"1","kind":"weird"}}],"cksum":"{CKSUM}","features":{{}},"yanked":false}}"#
        );
        assert!(IndexEntry::from_line(&line).is_err());
    }
}
