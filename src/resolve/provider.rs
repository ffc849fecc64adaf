//! The bridge between an index and pubgrub: which pubgrub package a
//! dependency is, which versions it may take, what each version needs.
//!
//! Package files are read only when a dependency first names the package and
//! kept for the rest of the resolution, as are parsed requirements and the
//! version set each (package, requirement) pair maps to.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use pubgrub::{Dependencies, DependencyConstraints, DependencyProvider, PackageResolutionStatistics};
use semver::{Version, VersionReq};

use super::ResolveError;
use super::ranges::{Bucket, VersionSet, requirement_ranges};
use super::versions::PackageVersions;
use crate::format::{DepKind, Dependency, name, req};
use crate::sources::{PackageSource, SourceError};

/// What pubgrub resolves. Real packages are split by compatibility bucket so
/// that one resolution can hold `x 1.4.0` and `x 2.1.0`; the other variants
/// are virtual and never reach the [`Resolution`](super::Resolution).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pkg {
    /// The project: its one version depends on the `ggen.toml` requirements.
    Root,
    /// The versions of `name` in one compatibility bucket.
    Bucket { name: Arc<str>, bucket: Bucket },
    /// A requirement on `name` that spans several buckets (`>=1, <3`, `*`):
    /// its versions stand for the buckets it can be met from, and the
    /// version chosen depends on the matching versions of that bucket.
    Choice { name: Arc<str>, requirement: Arc<str> },
    /// A name the index does not have: no versions.
    Missing { name: Arc<str> },
    /// A dependency on another registry: unsupported, so no versions.
    Foreign { name: Arc<str>, registry: Arc<str> },
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root => f.write_str("the project"),
            Pkg::Bucket { name, bucket } => write!(f, "{name} ({bucket})"),
            Pkg::Choice { name, requirement } => write!(f, "{name} {requirement}"),
            Pkg::Missing { name } => write!(f, "{name} (missing)"),
            Pkg::Foreign { name, registry } => write!(f, "{name} (from {registry})"),
        }
    }
}

/// Why a version cannot be used although it exists and is not yanked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// One of its requirements does not parse (Cargo skips such versions too).
    InvalidRequirement { dependency: String, reason: String },
    /// It requires its own package at a version set that excludes itself.
    ExcludesItself { requirement: String },
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::InvalidRequirement { dependency, reason } => {
                write!(f, "its requirement on `{dependency}` is unreadable: {reason}")
            }
            Unusable::ExcludesItself { requirement } => {
                write!(
                    f,
                    "it requires its own package at `{requirement}`, which excludes itself"
                )
            }
        }
    }
}

/// A requirement that spans several buckets: the buckets it can be met
/// from, each with the versions it accepts there.
pub struct Choice {
    /// Ascending by bucket.
    pub buckets: Vec<(Bucket, VersionSet)>,
}

/// Where a (name, requirement) pair of a dependency leads.
#[derive(Clone)]
pub enum Target {
    /// A pubgrub package and the versions of it that satisfy the requirement.
    Constraint {
        package: Pkg,
        versions: VersionSet,
        /// The requirement, normalized (`^1.2`), for messages.
        requirement: String,
    },
    /// The requirement does not parse.
    Unreadable(String),
}

/// A dependency that counts for resolution: dev dependencies and optional
/// ones (features are not resolved) are left out; build dependencies count
/// as normal ones; target-specific ones are followed for every target.
pub fn counts(dep: &Dependency) -> bool {
    dep.kind() != DepKind::Dev && !dep.optional
}

/// The [`DependencyProvider`] over a [`PackageSource`].
pub struct IndexProvider<'a> {
    source: &'a dyn PackageSource,
    root: Vec<(String, String)>,
    /// Pinned versions by `name::confusable_key`, so a pin finds its
    /// package however a dependency spells the name.
    locked: HashMap<String, Vec<Version>>,
    /// Lowercased requested name → the package's published name, or `None`.
    names: RefCell<HashMap<String, Option<Arc<str>>>>,
    packages: RefCell<HashMap<Arc<str>, Rc<PackageVersions>>>,
    /// (lowercased name, requirement as written) → where it leads.
    targets: RefCell<HashMap<String, HashMap<String, Target>>>,
    choices: RefCell<HashMap<Pkg, Rc<Choice>>>,
}

/// pubgrub's pick: most conflicts first, then the fewest candidates.
type Priority = (u32, Reverse<usize>);

impl<'a> IndexProvider<'a> {
    /// A provider for the project requirements `root` (name, requirement),
    /// preferring the `locked` versions.
    pub fn new(source: &'a dyn PackageSource, root: Vec<(String, String)>, locked: &[(String, Version)]) -> Self {
        let mut by_name: HashMap<String, Vec<Version>> = HashMap::new();
        for (name, version) in locked {
            by_name
                .entry(name::confusable_key(name))
                .or_default()
                .push(version.clone());
        }
        IndexProvider {
            source,
            root,
            locked: by_name,
            names: RefCell::default(),
            packages: RefCell::default(),
            targets: RefCell::default(),
            choices: RefCell::default(),
        }
    }

    /// The index's description, for messages.
    pub fn describe_source(&self) -> String {
        self.source.describe()
    }

    /// The versions of `name`, read from the source on first use.
    pub fn package(&self, name: &str) -> Result<Option<Rc<PackageVersions>>, ResolveError> {
        let key = name.to_ascii_lowercase();
        if let Some(known) = self.names.borrow().get(&key) {
            return Ok(known.as_ref().map(|published| self.loaded(published)));
        }
        let source_error = |source| ResolveError::Source {
            name: name.to_owned(),
            source,
        };
        let published = match self.read_package(name).map_err(source_error)? {
            None => None,
            Some(versions) => {
                let published = versions.name.clone();
                // Two spellings of one name share the first reading.
                self.packages
                    .borrow_mut()
                    .entry(published.clone())
                    .or_insert_with(|| Rc::new(versions));
                Some(published)
            }
        };
        self.names.borrow_mut().insert(key, published.clone());
        Ok(published.map(|published| self.loaded(&published)))
    }

    /// Looks a package file up the way `PackageSource::entry_lines` does
    /// (lowercased, then the `-`/`_` variants), but lists its versions
    /// without parsing every entry in full (see [`super::versions`]).
    fn read_package(&self, name: &str) -> Result<Option<PackageVersions>, SourceError> {
        let locked = self
            .locked
            .get(&name::confusable_key(name))
            .map_or(&[][..], Vec::as_slice);
        for variant in name::lookup_variants(name) {
            if let Some(text) = self.source.read_package_file(&variant)? {
                let location = format!("{} {}", self.source.describe(), name::index_path(&variant));
                return PackageVersions::read(name, location, text, locked).map(Some);
            }
        }
        Ok(None)
    }

    /// A package already read, by its published name.
    pub fn loaded(&self, published: &str) -> Rc<PackageVersions> {
        Rc::clone(&self.packages.borrow()[published])
    }

    /// Where a dependency on `name` with requirement `requirement` leads.
    pub fn target(&self, name: &str, requirement: &str) -> Result<Target, ResolveError> {
        let key = name.to_ascii_lowercase();
        if let Some(known) = self
            .targets
            .borrow()
            .get(&key)
            .and_then(|by_req| by_req.get(requirement))
        {
            return Ok(known.clone());
        }
        let target = match read_requirement(requirement) {
            Err(reason) => Target::Unreadable(reason),
            Ok((req, structural)) => match self.package(name)? {
                None => Target::Constraint {
                    package: Pkg::Missing { name: name.into() },
                    versions: VersionSet::full(),
                    requirement: req.to_string(),
                },
                Some(versions) => self.constraint_on(&versions, &req, &structural),
            },
        };
        self.targets
            .borrow_mut()
            .entry(key)
            .or_default()
            .insert(requirement.to_owned(), target.clone());
        Ok(target)
    }

    /// Every (package, version set) → requirement text seen, so messages can
    /// show a requirement as its author wrote it.
    pub fn requirement_texts(&self) -> HashMap<(Pkg, VersionSet), String> {
        let mut texts = HashMap::new();
        for by_req in self.targets.borrow().values() {
            for target in by_req.values() {
                if let Target::Constraint {
                    package,
                    versions,
                    requirement,
                } = target
                {
                    // Several spellings may mean one set (`1`, `^1`): pick one
                    // independently of the maps' order, so messages are stable.
                    texts
                        .entry((package.clone(), versions.clone()))
                        .and_modify(|known: &mut String| {
                            if requirement < known {
                                known.clone_from(requirement);
                            }
                        })
                        .or_insert_with(|| requirement.clone());
                }
            }
        }
        texts
    }

    /// The buckets a multi-bucket requirement can be met from.
    pub fn choice(&self, package: &Pkg) -> Option<Rc<Choice>> {
        self.choices.borrow().get(package).cloned()
    }

    fn constraint_on(&self, versions: &PackageVersions, req: &VersionReq, structural: &VersionSet) -> Target {
        let requirement = req.to_string();
        let matching = || {
            let mut buckets: Vec<Bucket> = versions
                .candidates
                .iter()
                .filter(|c| req.matches(&c.version))
                .map(|c| Bucket::of(&c.version))
                .collect();
            buckets.dedup();
            buckets
        };
        let bucket = single_bucket(structural).map(|b| vec![b]).unwrap_or_else(matching);
        if let [bucket] = bucket[..] {
            return Target::Constraint {
                package: Pkg::Bucket {
                    name: versions.name.clone(),
                    bucket,
                },
                versions: versions.exact_set(structural, req, bucket),
                requirement,
            };
        }
        let package = Pkg::Choice {
            name: versions.name.clone(),
            requirement: requirement.as_str().into(),
        };
        let choice = Choice {
            buckets: bucket
                .into_iter()
                .map(|b| (b, versions.exact_set(structural, req, b)))
                .collect(),
        };
        self.choices.borrow_mut().insert(package.clone(), Rc::new(choice));
        Target::Constraint {
            package,
            versions: VersionSet::full(),
            requirement,
        }
    }

    /// Where one dependency of an index entry leads. A dependency on another
    /// registry is not looked up in this one: it leads to an unsupported
    /// package, so versions that need it are not chosen.
    pub fn dependency_target(&self, dep: &Dependency) -> Result<Target, ResolveError> {
        match &dep.registry {
            Some(registry) => Ok(Target::Constraint {
                package: Pkg::Foreign {
                    name: dep.package_name().into(),
                    registry: registry.as_str().into(),
                },
                versions: VersionSet::full(),
                requirement: dep.req.clone(),
            }),
            None => self.target(dep.package_name(), &dep.req),
        }
    }

    /// The constraints of one version's dependencies, merged per package.
    fn version_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
        deps: &[Dependency],
    ) -> Result<Result<Vec<(Pkg, VersionSet)>, Unusable>, ResolveError> {
        let mut constraints: Vec<(Pkg, VersionSet)> = Vec::with_capacity(deps.len());
        for dep in deps.iter().filter(|d| counts(d)) {
            let (target, versions) = match self.dependency_target(dep)? {
                Target::Unreadable(reason) => {
                    return Ok(Err(Unusable::InvalidRequirement {
                        dependency: dep.package_name().to_owned(),
                        reason,
                    }));
                }
                Target::Constraint { package, versions, .. } => (package, versions),
            };
            if target == *package {
                if versions.contains(version) {
                    continue;
                }
                return Ok(Err(Unusable::ExcludesItself {
                    requirement: dep.req.clone(),
                }));
            }
            add_constraint(&mut constraints, target, versions);
        }
        Ok(Ok(constraints))
    }
}

/// Adds a constraint, intersecting it with an earlier one on the same
/// package (a normal and a build dependency, or two spellings of one name):
/// pubgrub expects one constraint per package.
fn add_constraint(constraints: &mut Vec<(Pkg, VersionSet)>, package: Pkg, versions: VersionSet) {
    match constraints.iter_mut().find(|(p, _)| *p == package) {
        Some((_, existing)) => *existing = existing.intersection(&versions),
        None => constraints.push((package, versions)),
    }
}

/// Parses a requirement and maps it to its version set.
pub fn read_requirement(text: &str) -> Result<(VersionReq, VersionSet), String> {
    let req = req::parse(text).map_err(|e| e.to_string())?;
    let set =
        requirement_ranges(&req).ok_or_else(|| format!("`{text}` uses an operator this resolver does not know"))?;
    Ok((req, set))
}

/// The one bucket a version set lies in, if its shape alone says so.
fn single_bucket(set: &VersionSet) -> Option<Bucket> {
    let (low, _) = set.iter().next()?;
    let low = match low {
        std::ops::Bound::Included(v) | std::ops::Bound::Excluded(v) => v,
        std::ops::Bound::Unbounded => return None,
    };
    let bucket = Bucket::of(low);
    set.subset_of(&bucket.range()).then_some(bucket)
}

impl DependencyProvider for IndexProvider<'_> {
    type P = Pkg;
    type V = Version;
    type VS = VersionSet;
    type M = Unusable;
    type Err = ResolveError;
    type Priority = Priority;

    fn prioritize(&self, package: &Pkg, range: &VersionSet, stats: &PackageResolutionStatistics) -> Priority {
        let candidates = match package {
            Pkg::Root | Pkg::Missing { .. } | Pkg::Foreign { .. } => 0,
            Pkg::Bucket { name, bucket } => self
                .loaded(name)
                .in_bucket(*bucket)
                .iter()
                .filter(|c| range.contains(&c.version))
                .count(),
            Pkg::Choice { .. } => self.choice(package).map_or(0, |choice| {
                choice
                    .buckets
                    .iter()
                    .filter(|(b, _)| range.contains(&b.as_version()))
                    .count()
            }),
        };
        (stats.conflict_count(), Reverse(candidates))
    }

    fn choose_version(&self, package: &Pkg, range: &VersionSet) -> Result<Option<Version>, ResolveError> {
        Ok(match package {
            Pkg::Root => Some(root_version()),
            Pkg::Missing { .. } | Pkg::Foreign { .. } => None,
            Pkg::Bucket { name, bucket } => {
                let versions = self.loaded(name);
                let mut in_range = versions
                    .in_bucket(*bucket)
                    .iter()
                    .filter(|c| range.contains(&c.version));
                let pinned = in_range.clone().rfind(|c| c.locked);
                pinned.or_else(|| in_range.next_back()).map(|c| c.version.clone())
            }
            Pkg::Choice { name, .. } => {
                let choice = self.choice(package).expect("a choice is registered when it is created");
                let versions = self.loaded(name);
                let mut open = choice.buckets.iter().filter(|(b, _)| range.contains(&b.as_version()));
                let holds_pin = |(bucket, set): &&(Bucket, VersionSet)| {
                    versions
                        .in_bucket(*bucket)
                        .iter()
                        .any(|c| c.locked && set.contains(&c.version))
                };
                let pinned = open.clone().rfind(holds_pin);
                pinned.or_else(|| open.next_back()).map(|(b, _)| b.as_version())
            }
        })
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, VersionSet, Unusable>, ResolveError> {
        let constraints = match package {
            Pkg::Root => {
                let mut constraints = Vec::with_capacity(self.root.len());
                for (name, requirement) in &self.root {
                    // Root requirements were checked before solving.
                    if let Target::Constraint { package, versions, .. } = self.target(name, requirement)? {
                        add_constraint(&mut constraints, package, versions);
                    }
                }
                constraints
            }
            Pkg::Bucket { name, .. } => {
                let versions = self.loaded(name);
                let candidate = versions
                    .candidate(version)
                    .expect("pubgrub only picks offered versions");
                let deps = versions
                    .dependencies(candidate)
                    .map_err(|source| ResolveError::Source {
                        name: name.to_string(),
                        source,
                    })?;
                match self.version_dependencies(package, version, &deps)? {
                    Ok(constraints) => constraints,
                    Err(why) => return Ok(Dependencies::Unavailable(why)),
                }
            }
            Pkg::Choice { name, .. } => {
                let bucket = Bucket::of(version);
                let choice = self.choice(package).expect("a choice is registered when it is created");
                let (_, set) = choice
                    .buckets
                    .iter()
                    .find(|(b, _)| *b == bucket)
                    .expect("a choice's versions are its buckets");
                vec![(
                    Pkg::Bucket {
                        name: name.clone(),
                        bucket,
                    },
                    set.clone(),
                )]
            }
            // These have no versions, so pubgrub never asks.
            Pkg::Missing { .. } | Pkg::Foreign { .. } => Vec::new(),
        };
        Ok(Dependencies::Available(
            constraints.into_iter().collect::<DependencyConstraints<_, _>>(),
        ))
    }
}

/// The project's own (only) version.
pub fn root_version() -> Version {
    Version::new(0, 0, 0)
}
