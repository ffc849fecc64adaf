//! Dependency resolution: from a project's requirements to one version of
//! every package it needs, with pubgrub over semver and Cargo's rules.
//!
//! ```
//! use ggen_marketplace::resolve::{resolve, Request};
//! use ggen_marketplace::sources::local::LocalSource;
//!
//! // A tiny index: `web` 1.0.0 and 1.1.0, both needing `base ^0.4`.
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("config.json"), r#"{"dl":"archives"}"#).unwrap();
//! let line = |name: &str, vers: &str, deps: &str| format!(
//!     r#"{{"name":"{name}","vers":"{vers}","deps":[{deps}],"cksum":"00","features":{{}},"yanked":false}}"#);
//! let base_dep = r#"{"name":"base","req":"^0.4","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}"#;
//! std::fs::create_dir_all(dir.path().join("3/w")).unwrap();
//! std::fs::write(dir.path().join("3/w/web"),
//!     format!("{}\n{}\n", line("web", "1.0.0", base_dep), line("web", "1.1.0", base_dep))).unwrap();
//! std::fs::create_dir_all(dir.path().join("ba/se")).unwrap();
//! std::fs::write(dir.path().join("ba/se/base"),
//!     format!("{}\n{}\n", line("base", "0.4.2", ""), line("base", "0.5.0", ""))).unwrap();
//! let index = LocalSource::open(dir.path()).unwrap();
//!
//! // Newest compatible versions...
//! let resolution = resolve(&index, &Request::new([("web", "^1")])).unwrap();
//! let chosen: Vec<String> = resolution.packages.iter().map(|p| p.id.to_string()).collect();
//! assert_eq!(chosen, ["base 0.4.2", "web 1.1.0"]);
//! assert_eq!(resolution.packages[1].dependencies[0].to.to_string(), "base 0.4.2");
//!
//! // ...unless the lockfile pins another one that still fits.
//! let request = Request::new([("web", "^1")]).lock("web", semver::Version::new(1, 0, 0));
//! let resolution = resolve(&index, &request).unwrap();
//! assert_eq!(resolution.version_of("web"), Some(&semver::Version::new(1, 0, 0)));
//!
//! // A conflict is explained in words.
//! let err = resolve(&index, &Request::new([("web", "^2")])).unwrap_err();
//! assert!(err.to_string().contains("no version of `web` matches ^2"), "{err}");
//! ```
//!
//! # The rules
//!
//! - **Requirements** have Cargo's meaning (`format::req`): caret by
//!   default, `~`, `*`, `=`, comparisons, several comparators; pre-releases
//!   only when a comparator names that `major.minor.patch` with a
//!   pre-release. [`ranges`] explains how that becomes pubgrub ranges.
//! - **Several versions of a package** may be chosen when they are
//!   semver-incompatible, at most one per compatibility bucket (`1.x`,
//!   `0.3.x`, `0.0.4`): pubgrub resolves one package per (name, bucket). A
//!   requirement that spans buckets (`>=1, <3`, `*`, `>=0.1`) becomes a
//!   virtual package per (name, requirement) whose "versions" are the buckets
//!   holding a matching version, newest first, and each depends on the
//!   matching versions of its bucket. So it is met by exactly one bucket,
//!   which other requirements may share or not.
//! - **Preferences**: a version pinned by the lockfile ([`Request::lock`])
//!   is tried first while it still fits; otherwise the newest matching
//!   version. To update a package, drop its pin.
//! - **Yanked** versions are never chosen, unless the lockfile pins them.
//! - **Which dependencies count**: normal and build dependencies; dev
//!   dependencies of dependencies are ignored. Optional dependencies count
//!   when a feature turns them on. Target-specific dependencies are followed
//!   whatever the target, as Cargo's resolver does for its lockfile. A
//!   renamed dependency (`package`) names the real package.
//! - **Features** follow Cargo (`format::features`): a dependent asks for
//!   features (and `default` unless it opts out); one version per bucket
//!   serves every dependent with the union of what they ask, and a version
//!   that lacks an asked feature is passed over. Each (package, bucket,
//!   feature) is a pubgrub package whose version `v` depends on exactly `v`
//!   of the bucket and on what the feature turns on there.
//! - **`links`**: at most one (package, bucket) per `links` value: each
//!   value is a pubgrub package whose versions stand for the packages
//!   linking it.
//! - **Unusable versions**: a version one of whose requirements does not
//!   parse is skipped (as Cargo does), and so is one that depends on another
//!   registry (`registry` set): such packages cannot be fetched from this
//!   index, so they are reported as unsupported when nothing else works.
//!   Versions whose `vers` is not semver are ignored.
//! - **Cycles** between packages are allowed (the result is a graph).
//!
//! # Conflicts
//! [`ResolveError::NoSolution`] explains the conflict in sentences built from
//! pubgrub's derivation: requirements appear as requirements (`x ^1.2`), sets of a
//! package's versions as the simplest requirement covering the versions that
//! exist (`y ^1`, `y 1.0.0`), a missing package with what requires it, and
//! yanked versions that would have fitted are named. A requirement spanning
//! buckets is explained per series (`x >=1, <3` within 2.x).
//!
//! # Reading the index
//! The source is asked for a package's file only when a version being tried
//! first depends on it, and once per resolution, so a sparse index fetches
//! just the closure. A file is first read for each line's `name`, `vers`
//! and `yanked` only; a version's dependencies are parsed when it is tried
//! and its full entry when it is chosen (parsing every feature map of every
//! line cost more than solving). A line that is not a JSON entry is an
//! error, as in `PackageSource::entry_lines`; a source error stops the
//! resolution and comes back inside [`ResolveError::Source`].

mod explain;
mod provider;
pub mod ranges;
pub(crate) mod versions;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use pubgrub::PubGrubError;
use semver::Version;

use crate::format::features::FeatureAsk;
use crate::sources::{EntryLine, PackageSource, SourceError};
use provider::{
    Dependent, Feature, IndexProvider, Pkg, RootRequirement, Target, dependent_key, read_requirement, root_version,
};
use ranges::Bucket;
use versions::PackageVersions;

/// What to resolve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The project's requirements (ggen.toml `[dependencies]`): name →
    /// requirement.
    pub dependencies: BTreeMap<String, String>,
    /// Versions the lockfile pins, preferred while they fit, allowed even
    /// when yanked. Several versions of one name may be pinned (one per
    /// compatibility bucket).
    pub locked: Vec<(String, Version)>,
    /// Features asked of the project's dependencies, by name; a dependency
    /// not listed gets its default features.
    pub features: BTreeMap<String, FeatureAsk>,
}

impl Request {
    /// A request for these (name, requirement) pairs, nothing pinned.
    pub fn new<N: Into<String>, R: Into<String>>(dependencies: impl IntoIterator<Item = (N, R)>) -> Self {
        Request {
            dependencies: dependencies.into_iter().map(|(n, r)| (n.into(), r.into())).collect(),
            locked: Vec::new(),
            features: BTreeMap::new(),
        }
    }

    /// Asks `ask` of dependency `name` instead of its default features.
    pub fn features(mut self, name: impl Into<String>, ask: FeatureAsk) -> Self {
        self.features.insert(name.into(), ask);
        self
    }

    /// What is asked of dependency `name`.
    fn ask_of(&self, name: &str) -> FeatureAsk {
        FeatureAsk::asked_of(&self.features, name)
    }

    /// Adds a lockfile pin.
    pub fn lock(mut self, name: impl Into<String>, version: Version) -> Self {
        self.locked.push((name.into(), version));
        self
    }
}

/// A package at one version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageId {
    /// The name as published in the index.
    pub name: String,
    /// The version.
    pub version: Version,
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

/// An edge of the resolved graph: a requirement and the version that meets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The requirement, as written by the dependent.
    pub requirement: String,
    /// The chosen version that meets it.
    pub to: PackageId,
}

/// One chosen version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPackage {
    /// Name and version.
    pub id: PackageId,
    /// The index line of this version (for checksums and signatures).
    pub entry: EntryLine,
    /// Its features that are on (what dependents asked for, and what
    /// those features turn on in turn), sorted.
    pub features: Vec<String>,
    /// What this version depends on, sorted by target; one edge per target.
    pub dependencies: Vec<Edge>,
}

/// The outcome of a resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The project's requirements and what meets them, by name.
    pub root: Vec<Edge>,
    /// Every chosen version, sorted by name, then version.
    pub packages: Vec<ResolvedPackage>,
}

impl Resolution {
    /// The highest chosen version of `name` (several may be chosen when
    /// they are semver-incompatible).
    pub fn version_of(&self, name: &str) -> Option<&Version> {
        self.packages
            .iter()
            .filter(|p| p.id.name.eq_ignore_ascii_case(name))
            .map(|p| &p.id.version)
            .next_back()
    }

    /// Every edge: `None` is the project.
    pub fn edges(&self) -> impl Iterator<Item = (Option<&PackageId>, &Edge)> {
        let root = self.root.iter().map(|e| (None, e));
        let others = self
            .packages
            .iter()
            .flat_map(|p| p.dependencies.iter().map(move |e| (Some(&p.id), e)));
        root.chain(others)
    }
}

/// Why a resolution failed.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum ResolveError {
    /// A requirement of the project itself does not parse.
    #[error("ggen.toml: dependency `{name}`: {reason}")]
    InvalidRequirement { name: String, reason: String },
    /// The index could not be read.
    #[error("cannot read package `{name}` from the index: {source}")]
    Source { name: String, source: SourceError },
    /// No choice of versions meets every requirement.
    #[error(
        "no set of package versions meets every requirement:\n{explanation}\nChange the requirements in ggen.toml, or ask the packages' maintainers to publish compatible versions."
    )]
    NoSolution { explanation: String },
}

/// Resolves `request` against the index `source`.
pub fn resolve(source: &dyn PackageSource, request: &Request) -> Result<Resolution, ResolveError> {
    for (name, requirement) in &request.dependencies {
        read_requirement(requirement).map_err(|reason| ResolveError::InvalidRequirement {
            name: name.clone(),
            reason,
        })?;
    }
    let root: Vec<RootRequirement> = request
        .dependencies
        .iter()
        .map(|(name, requirement)| RootRequirement {
            name: name.clone(),
            requirement: requirement.clone(),
            ask: request.ask_of(name),
        })
        .collect();
    let provider = IndexProvider::new(source, root.clone(), &request.locked);
    let solution = match pubgrub::resolve(&provider, Pkg::Root, root_version()) {
        Ok(solution) => solution,
        Err(PubGrubError::NoSolution(tree)) => {
            return Err(ResolveError::NoSolution {
                explanation: explain::explain(&provider, &tree),
            });
        }
        Err(PubGrubError::ErrorRetrievingDependencies { source, .. })
        | Err(PubGrubError::ErrorChoosingVersion { source, .. }) => return Err(source),
        Err(PubGrubError::ErrorInShouldCancel(source)) => return Err(source),
    };
    let chosen: HashMap<Pkg, Version> = solution.into_iter().collect();
    build_resolution(&provider, &root, &chosen)
}

/// Turns pubgrub's (package, version) pairs into the graph of real packages.
fn build_resolution(
    provider: &IndexProvider<'_>,
    root: &[RootRequirement],
    chosen: &HashMap<Pkg, Version>,
) -> Result<Resolution, ResolveError> {
    let settled = settled_choices(chosen);
    let mut asked: HashMap<(&str, Bucket), FeatureAsk> = HashMap::new();
    for package in chosen.keys() {
        if let Pkg::Feature { name, bucket, feature } = package {
            let ask = asked.entry((name, *bucket)).or_default();
            match feature {
                Feature::Default => ask.default_features = true,
                Feature::Named(feature) => *ask = std::mem::take(ask).with(feature),
            }
        }
    }
    let mut packages = Vec::new();
    for (package, version) in chosen {
        let Pkg::Bucket { name, bucket } = package else {
            continue;
        };
        let entry = provider.read_version(name, version, PackageVersions::entry_line)?;
        let ask = asked.remove(&(&**name, *bucket)).unwrap_or_default();
        let enabled = provider
            .read_version(name, version, PackageVersions::features)?
            .enable(&ask)
            .expect("pubgrub only chooses features a version has");
        let mut dependencies = Vec::new();
        for dep in entry.entry.deps.iter().filter(|d| enabled.uses(d)) {
            let target = provider.dependency_target(dep)?;
            if let Some(to) = resolved_target(chosen, &settled, target, Some((name, *bucket))) {
                dependencies.push(Edge {
                    requirement: dep.req.clone(),
                    to,
                });
            }
        }
        packages.push(ResolvedPackage {
            id: PackageId {
                name: name.to_string(),
                version: version.clone(),
            },
            entry,
            features: enabled.features.into_iter().collect(),
            dependencies: tidy_edges(dependencies),
        });
    }
    packages.sort_by(|a, b| a.id.cmp(&b.id));
    let mut root_edges = Vec::new();
    for requirement in root {
        let target = provider.target(&requirement.name, &requirement.requirement)?;
        if let Some(to) = resolved_target(chosen, &settled, target, None) {
            root_edges.push(Edge {
                requirement: requirement.requirement.clone(),
                to,
            });
        }
    }
    Ok(Resolution {
        root: root_edges,
        packages,
    })
}

/// A multi-bucket requirement of one dependent (`None`: the project).
type ChoiceOf = (Arc<str>, Arc<str>, Option<Dependent>);

/// The bucket pubgrub settled each multi-bucket requirement of each
/// dependent on (all the features asked of it settle on one).
fn settled_choices(chosen: &HashMap<Pkg, Version>) -> HashMap<ChoiceOf, Bucket> {
    chosen
        .iter()
        .filter_map(|(package, version)| match package {
            Pkg::Choice {
                name,
                requirement,
                dependent,
                ..
            } => Some((
                (name.clone(), requirement.clone(), dependent.clone()),
                Bucket::of(version),
            )),
            _ => None,
        })
        .collect()
}

/// The chosen version a dependency of `dependent` (`None`: the project)
/// leads to, through the choice it made if the requirement spans buckets.
fn resolved_target(
    chosen: &HashMap<Pkg, Version>,
    settled: &HashMap<ChoiceOf, Bucket>,
    target: Target,
    dependent: Option<(&Arc<str>, Bucket)>,
) -> Option<PackageId> {
    let Target::Constraint { package, .. } = target else {
        return None;
    };
    let (name, bucket) = match package {
        Pkg::Bucket { name, bucket } => (name, bucket),
        Pkg::Choice { name, requirement, .. } => {
            let bucket = *settled.get(&(name.clone(), requirement, dependent_key(dependent)))?;
            (name, bucket)
        }
        Pkg::Root | Pkg::Missing { .. } | Pkg::Foreign { .. } | Pkg::Feature { .. } | Pkg::Links { .. } => {
            return None;
        }
    };
    let version = chosen.get(&Pkg::bucket_of(&name, bucket))?;
    Some(PackageId {
        name: name.to_string(),
        version: version.clone(),
    })
}

/// Sorted by target, one edge per target (a package may name the same
/// dependency as normal and build dependency).
fn tidy_edges(mut edges: Vec<Edge>) -> Vec<Edge> {
    edges.sort_by(|a, b| a.to.cmp(&b.to));
    edges.dedup_by(|later, first| later.to == first.to);
    edges
}
