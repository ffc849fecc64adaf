//! Cargo's feature rules, in one place: what a feature value means, which
//! features a version has, and what asking for some of them turns on.
//!
//! ```
//! use ggen_marketplace::format::features::{FeatureAsk, FeatureTable};
//! use ggen_marketplace::format::{Dependency, IndexEntry};
//!
//! // `web` 1.0.0: `json` turns on the optional `serde` with its `derive`
//! // feature; `default` is `json`.
//! let line = r#"{"name":"web","vers":"1.0.0","cksum":"00","yanked":false,
//!   "deps":[{"name":"serde","req":"^1","optional":true,"features":[],"default_features":true,"target":null}],
//!   "features":{"default":["json"],"json":["serde/derive"]}}"#;
//! let entry = IndexEntry::from_line(&line.replace('\n', "")).unwrap();
//! let table = FeatureTable::new(&entry.features, entry.features2.as_ref(), &entry.deps);
//!
//! // `serde/derive` also turns on `serde`'s implicit feature.
//! let on = table.enable(&FeatureAsk::default_features()).unwrap();
//! assert_eq!(on.features.iter().collect::<Vec<_>>(), ["default", "json", "serde"]);
//! assert_eq!(on.dependencies["serde"].iter().collect::<Vec<_>>(), ["derive"]);
//!
//! // Without default features nothing is on, and `serde` stays off.
//! let off = table.enable(&FeatureAsk::none()).unwrap();
//! assert!(off.features.is_empty() && off.dependencies.is_empty());
//!
//! // A feature the version does not have cannot be asked for.
//! assert!(table.enable(&FeatureAsk::none().with("xml")).is_err());
//! ```
//!
//! # The rules (Cargo's, as its resolver applies them)
//! - A version's features are `features` and `features2` together, plus an
//!   implicit feature for each optional dependency that no `dep:NAME` value
//!   names (`NAME = ["dep:NAME"]`).
//! - A value is another feature (`"f"`), an optional dependency
//!   (`"dep:NAME"`), or a feature of a dependency (`"NAME/f"`, which also
//!   turns `NAME` on, with its implicit feature if it has one), or a weak one
//!   (`"NAME?/f"`). Like Cargo's resolver (which writes Cargo.lock), weak
//!   values turn the dependency on too: only the build narrows them.
//! - A dependent asks for a list of feature names and, unless
//!   `default-features = false`, for `default` when the version has it.
//!   Asking for a feature the version does not have makes the version
//!   unusable for that dependent; so does a value that names a dependency
//!   the version does not have (dev dependencies do not count).
//! - `NAME` here is the dependency's name in the dependent's manifest (the
//!   `name` of an index dependency, which `package` may rename).

use std::collections::{BTreeMap, BTreeSet};

use super::entry::{DepKind, Dependency, FeatureMap};

/// The feature name that dependents ask for unless they opt out.
pub const DEFAULT_FEATURE: &str = "default";

/// One value of a feature's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureValue<'a> {
    /// `"f"`: another feature of the same version.
    Feature(&'a str),
    /// `"dep:NAME"`: the optional dependency `NAME`.
    Dependency(&'a str),
    /// `"NAME/f"` or, weak, `"NAME?/f"`: feature `f` of dependency `NAME`.
    DependencyFeature {
        /// The dependency's name in the manifest.
        dependency: &'a str,
        /// The feature asked of it.
        feature: &'a str,
        /// `?/`: only if something else turns the dependency on (for the
        /// build; the resolver turns it on regardless).
        weak: bool,
    },
}

impl<'a> FeatureValue<'a> {
    /// Reads one value as Cargo does.
    pub fn parse(text: &'a str) -> Self {
        if let Some(dependency) = text.strip_prefix("dep:") {
            return FeatureValue::Dependency(dependency);
        }
        match text.split_once('/') {
            Some((dependency, feature)) => match dependency.strip_suffix('?') {
                Some(dependency) => FeatureValue::DependencyFeature {
                    dependency,
                    feature,
                    weak: true,
                },
                None => FeatureValue::DependencyFeature {
                    dependency,
                    feature,
                    weak: false,
                },
            },
            None => FeatureValue::Feature(text),
        }
    }
}

/// What a dependent asks of a package besides a version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FeatureAsk {
    /// Feature names, sorted, without duplicates or empty names.
    pub features: Vec<String>,
    /// Whether `default` is asked for too (when the version has it).
    pub default_features: bool,
}

impl FeatureAsk {
    /// The default features only: what a plain dependency asks.
    pub fn default_features() -> Self {
        FeatureAsk {
            features: Vec::new(),
            default_features: true,
        }
    }

    /// Nothing at all (`default-features = false`, no features).
    pub fn none() -> Self {
        FeatureAsk::default()
    }

    /// `features` (empty names left out), and `default` when
    /// `default_features`: what a dependency line or table asks.
    pub fn new(default_features: bool, features: &[String]) -> Self {
        FeatureAsk {
            features: Vec::new(),
            default_features,
        }
        .with_all(features.iter().map(String::as_str))
    }

    /// What a dependency line of an index entry asks.
    pub fn of_dependency(dep: &Dependency) -> Self {
        FeatureAsk::new(dep.default_features, &dep.features)
    }

    /// What `asks` (dependency name → ask) asks of `name`: its default
    /// features unless it says otherwise.
    pub fn asked_of(asks: &BTreeMap<String, FeatureAsk>, name: &str) -> Self {
        asks.get(name).cloned().unwrap_or_else(FeatureAsk::default_features)
    }

    /// This ask and feature `name` too.
    pub fn with(self, name: &str) -> Self {
        self.with_all([name])
    }

    /// This ask and these features too. Cargo ignores empty names (old
    /// crates.io lines have `"features":[""]`).
    pub fn with_all<'n>(mut self, names: impl IntoIterator<Item = &'n str>) -> Self {
        self.features
            .extend(names.into_iter().filter(|n| !n.is_empty()).map(str::to_owned));
        self.features.sort();
        self.features.dedup();
        self
    }

    /// Whether this asks for nothing a plain dependency would not.
    pub fn is_default(&self) -> bool {
        self.default_features && self.features.is_empty()
    }
}

/// A version's features, ready to be turned on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureTable {
    /// Explicit and implicit features.
    features: BTreeMap<String, Vec<String>>,
    /// Names of the dependencies that count (not dev), with whether each
    /// is optional (a name listed twice is optional if either line is).
    dependencies: BTreeMap<String, bool>,
}

/// What asking for some features of a version turns on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Enabled {
    /// The version's own features that are on.
    pub features: BTreeSet<String>,
    /// Dependency name (as in the manifest) → features asked of it, for
    /// each dependency a feature names (optional ones are turned on).
    pub dependencies: BTreeMap<String, BTreeSet<String>>,
}

impl Enabled {
    /// Whether dependency `dep` of the version is used: always for required
    /// dependencies, for optional ones when a feature turned them on.
    pub fn uses(&self, dep: &Dependency) -> bool {
        dep.kind() != DepKind::Dev && (!dep.optional || self.dependencies.contains_key(&dep.name))
    }

    /// What is asked of dependency `dep` once features are on: its own
    /// line's ask and what the features add.
    pub fn ask_of(&self, dep: &Dependency) -> FeatureAsk {
        let added = self.dependencies.get(&dep.name).into_iter().flatten();
        FeatureAsk::of_dependency(dep).with_all(added.map(String::as_str))
    }
}

/// Why features cannot be turned on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureError {
    /// The version has no feature of that name.
    #[error("it has no feature `{0}`")]
    MissingFeature(String),
    /// A feature value names a dependency the version does not have.
    #[error("its feature `{feature}` names `{dependency}`, which is not one of its dependencies")]
    MissingDependency {
        /// The feature holding the value.
        feature: String,
        /// The name it uses.
        dependency: String,
    },
}

impl FeatureTable {
    /// The features of a version with these tables and dependencies.
    /// `features2` entries join `features` ones of the same name.
    pub fn new(features: &FeatureMap, features2: Option<&FeatureMap>, deps: &[Dependency]) -> Self {
        let mut table: BTreeMap<String, Vec<String>> = features.clone();
        for (name, values) in features2.into_iter().flatten() {
            table.entry(name.clone()).or_default().extend(values.iter().cloned());
        }
        let mut dependencies: BTreeMap<String, bool> = BTreeMap::new();
        for dep in deps.iter().filter(|d| d.kind() != DepKind::Dev) {
            *dependencies.entry(dep.name.clone()).or_default() |= dep.optional;
        }
        let named_with_dep: BTreeSet<&str> = table
            .values()
            .flatten()
            .filter_map(|v| match FeatureValue::parse(v) {
                FeatureValue::Dependency(name) => Some(name),
                _ => None,
            })
            .collect();
        let implicit: Vec<String> = dependencies
            .iter()
            .filter(|(name, optional)| **optional && !named_with_dep.contains(name.as_str()))
            .filter(|(name, _)| !table.contains_key(*name))
            .map(|(name, _)| name.clone())
            .collect();
        for name in implicit {
            let value = format!("dep:{name}");
            table.insert(name, vec![value]);
        }
        FeatureTable {
            features: table,
            dependencies,
        }
    }

    /// Whether the version has feature `name` (explicit or implicit).
    pub fn has(&self, name: &str) -> bool {
        self.features.contains_key(name)
    }

    /// Every feature with what it turns on, sorted by name.
    pub fn features(&self) -> &BTreeMap<String, Vec<String>> {
        &self.features
    }

    /// What `ask` turns on.
    pub fn enable(&self, ask: &FeatureAsk) -> Result<Enabled, FeatureError> {
        let mut enabled = Enabled::default();
        for feature in &ask.features {
            self.turn_on(feature, &mut enabled)?;
        }
        if ask.default_features && self.has(DEFAULT_FEATURE) {
            self.turn_on(DEFAULT_FEATURE, &mut enabled)?;
        }
        Ok(enabled)
    }

    fn turn_on(&self, feature: &str, enabled: &mut Enabled) -> Result<(), FeatureError> {
        if enabled.features.contains(feature) {
            return Ok(());
        }
        let values = self
            .features
            .get(feature)
            .ok_or_else(|| FeatureError::MissingFeature(feature.to_owned()))?;
        enabled.features.insert(feature.to_owned());
        for value in values {
            match FeatureValue::parse(value) {
                FeatureValue::Feature(other) => self.turn_on(other, enabled)?,
                FeatureValue::Dependency(dependency) => {
                    self.dependency(feature, dependency)?;
                    enabled.dependencies.entry(dependency.to_owned()).or_default();
                }
                FeatureValue::DependencyFeature {
                    dependency,
                    feature: wanted,
                    weak,
                } => {
                    let optional = self.dependency(feature, dependency)?;
                    if optional && !weak && self.has(dependency) {
                        self.turn_on(dependency, enabled)?;
                    }
                    let asked = enabled.dependencies.entry(dependency.to_owned()).or_default();
                    if !wanted.is_empty() {
                        asked.insert(wanted.to_owned());
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the dependency a value of `feature` names is optional; an
    /// error if the version has no such dependency.
    fn dependency(&self, feature: &str, dependency: &str) -> Result<bool, FeatureError> {
        self.dependencies
            .get(dependency)
            .copied()
            .ok_or_else(|| FeatureError::MissingDependency {
                feature: feature.to_owned(),
                dependency: dependency.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, optional: bool) -> Dependency {
        Dependency {
            optional,
            ..Dependency::normal(name, "^1")
        }
    }

    fn map(pairs: &[(&str, &[&str])]) -> FeatureMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn on(table: &FeatureTable, ask: &FeatureAsk) -> (Vec<String>, Vec<(String, Vec<String>)>) {
        let enabled = table.enable(ask).unwrap();
        let deps = enabled
            .dependencies
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect();
        (enabled.features.into_iter().collect(), deps)
    }

    #[test]
    fn values_read_as_cargo_reads_them() {
        assert_eq!(FeatureValue::parse("std"), FeatureValue::Feature("std"));
        assert_eq!(FeatureValue::parse("dep:serde"), FeatureValue::Dependency("serde"));
        assert_eq!(
            FeatureValue::parse("serde?/std"),
            FeatureValue::DependencyFeature {
                dependency: "serde",
                feature: "std",
                weak: true
            }
        );
        assert_eq!(
            FeatureValue::parse("serde/std"),
            FeatureValue::DependencyFeature {
                dependency: "serde",
                feature: "std",
                weak: false
            }
        );
    }

    #[test]
    fn optional_dependencies_get_implicit_features_unless_named_with_dep() {
        let deps = [dep("a", true), dep("b", true), dep("c", false)];
        let table = FeatureTable::new(&map(&[("with-b", &["dep:b"])]), None, &deps);
        let names: Vec<&str> = table.features().keys().map(String::as_str).collect();
        assert_eq!(names, ["a", "with-b"]);
        assert_eq!(
            on(&table, &FeatureAsk::none().with("a")),
            (vec!["a".into()], vec![("a".into(), vec![])])
        );
        assert_eq!(
            table.enable(&FeatureAsk::none().with("b")),
            Err(FeatureError::MissingFeature("b".into()))
        );
    }

    #[test]
    fn features2_joins_features_and_default_is_asked_only_if_present() {
        let deps = [dep("serde", true)];
        let table = FeatureTable::new(
            &map(&[("default", &["std"]), ("std", &[])]),
            Some(&map(&[("std", &["serde?/std"])])),
            &deps,
        );
        assert_eq!(
            on(&table, &FeatureAsk::default_features()),
            (
                vec!["default".into(), "std".into()],
                vec![("serde".into(), vec!["std".into()])]
            )
        );
        let without_default = FeatureTable::new(&FeatureMap::new(), None, &[]);
        assert_eq!(on(&without_default, &FeatureAsk::default_features()), (vec![], vec![]));
        assert_eq!(
            without_default.enable(&FeatureAsk::none().with("default")),
            Err(FeatureError::MissingFeature("default".into()))
        );
    }

    #[test]
    fn a_dependency_feature_turns_the_optional_dependency_and_its_implicit_feature_on() {
        let deps = [dep("log", true), dep("core", false)];
        let table = FeatureTable::new(&map(&[("trace", &["log/std", "core/x"])]), None, &deps);
        let (features, deps) = on(&table, &FeatureAsk::none().with("trace"));
        assert_eq!(features, ["log", "trace"]);
        assert_eq!(
            deps,
            [
                ("core".to_string(), vec!["x".to_string()]),
                ("log".into(), vec!["std".into()])
            ]
        );
    }

    #[test]
    fn values_naming_unknown_or_dev_dependencies_are_errors() {
        let dev = Dependency {
            kind: Some(DepKind::Dev),
            ..dep("tester", false)
        };
        let table = FeatureTable::new(&map(&[("t", &["tester/x"])]), None, &[dev]);
        assert_eq!(
            table.enable(&FeatureAsk::none().with("t")),
            Err(FeatureError::MissingDependency {
                feature: "t".into(),
                dependency: "tester".into()
            })
        );
    }

    #[test]
    fn cycles_between_features_end() {
        let table = FeatureTable::new(&map(&[("a", &["b"]), ("b", &["a"])]), None, &[]);
        assert_eq!(on(&table, &FeatureAsk::none().with("a")).0, ["a", "b"]);
    }

    #[test]
    fn an_ask_ignores_empty_names_and_keeps_order() {
        let line = Dependency {
            features: vec!["".into(), "z".into(), "a".into(), "z".into()],
            default_features: false,
            ..dep("x", false)
        };
        let ask = FeatureAsk::of_dependency(&line);
        assert_eq!(ask.features, ["a", "z"]);
        assert!(!ask.default_features && !ask.is_default());
    }
}
