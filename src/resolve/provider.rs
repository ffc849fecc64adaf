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
use super::versions::{Candidate, PackageVersions};
use crate::format::features::{FeatureAsk, FeatureError};
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
    /// A feature of the version chosen in a bucket: its versions are the
    /// bucket's, and version `v` depends on exactly `v` of the bucket and on
    /// what the feature turns on there. So every dependent shares one
    /// version, with the union of the features they ask for.
    Feature {
        name: Arc<str>,
        bucket: Bucket,
        feature: Feature,
    },
    /// A requirement on `name` that spans several buckets (`>=1, <3`, `*`):
    /// its versions stand for the buckets it can be met from, and the
    /// version chosen depends on the matching versions of that bucket, with
    /// the features `ask` names.
    ///
    /// One dependency resolves to one version (Cargo's rule), however many
    /// features of its dependent ask something of it. So a choice is made
    /// per `dependent` (`None`: the project), and one asking features
    /// settles on the bucket of the same choice asking none.
    Choice {
        name: Arc<str>,
        requirement: Arc<str>,
        ask: Arc<FeatureAsk>,
        dependent: Option<Dependent>,
    },
    /// A name the index does not have: no versions.
    Missing { name: Arc<str> },
    /// A dependency on another registry: unsupported, so no versions.
    Foreign { name: Arc<str>, registry: Arc<str> },
    /// A native library (`links`): its versions stand for the (package,
    /// bucket) pairs that link it, so only one of them can be chosen.
    Links { library: Arc<str> },
}

/// The package, in one bucket, a dependency belongs to.
pub type Dependent = Arc<(Arc<str>, Bucket)>;

/// The key of `dependent` (`None`: the project) in a [`Pkg::Choice`].
pub fn dependent_key(dependent: Option<(&Arc<str>, Bucket)>) -> Option<Dependent> {
    dependent.map(|(name, bucket)| Arc::new((name.clone(), bucket)))
}

impl Pkg {
    /// The bucket `bucket` of package `name`.
    pub fn bucket_of(name: &Arc<str>, bucket: Bucket) -> Pkg {
        Pkg::Bucket {
            name: name.clone(),
            bucket,
        }
    }
}

/// A feature a dependent asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Feature {
    /// `default`, asked implicitly: nothing if the version has no such feature.
    Default,
    /// A feature asked by name: the version must have it.
    Named(Arc<str>),
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Feature::Default => f.write_str("default"),
            Feature::Named(name) => f.write_str(name),
        }
    }
}

impl Feature {
    /// The feature packages an ask stands for.
    fn asked(ask: &FeatureAsk) -> impl Iterator<Item = Feature> + '_ {
        let named = ask.features.iter().map(|f| Feature::Named(f.as_str().into()));
        named.chain(ask.default_features.then_some(Feature::Default))
    }

    /// This feature as an ask of its own.
    fn ask(&self) -> FeatureAsk {
        match self {
            Feature::Default => FeatureAsk::default_features(),
            Feature::Named(name) => FeatureAsk::none().with(name),
        }
    }
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root => f.write_str("the project"),
            Pkg::Bucket { name, bucket } => write!(f, "{name} ({bucket})"),
            Pkg::Feature { name, bucket, feature } => write!(f, "{name} ({bucket}) feature {feature}"),
            Pkg::Choice { name, requirement, .. } => write!(f, "{name} {requirement}"),
            Pkg::Missing { name } => write!(f, "{name} (missing)"),
            Pkg::Foreign { name, registry } => write!(f, "{name} (from {registry})"),
            Pkg::Links { library } => write!(f, "links {library}"),
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
    /// A feature asked of it cannot be turned on.
    Features(FeatureError),
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
            Unusable::Features(error) => error.fmt(f),
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

/// A dependency every version needs: not a dev dependency (build ones count
/// as normal ones; target-specific ones count for every target) and not
/// optional (features turn those on).
pub fn always_needed(dep: &Dependency) -> bool {
    dep.kind() != DepKind::Dev && !dep.optional
}

/// The [`DependencyProvider`] over a [`PackageSource`].
pub struct IndexProvider<'a> {
    source: &'a dyn PackageSource,
    root: Vec<RootRequirement>,
    /// Pinned versions by `name::confusable_key`, so a pin finds its
    /// package however a dependency spells the name.
    locked: HashMap<String, Vec<Version>>,
    /// Lowercased requested name → the package's published name, or `None`.
    names: RefCell<HashMap<String, Option<Arc<str>>>>,
    packages: RefCell<HashMap<Arc<str>, Rc<PackageVersions>>>,
    /// (lowercased name, requirement as written) → where it leads.
    targets: RefCell<HashMap<String, HashMap<String, Target>>>,
    /// (name, requirement) of a multi-bucket requirement → its buckets.
    choices: RefCell<HashMap<ChoiceKey, Rc<Choice>>>,
    /// The version last picked in each bucket, which its features try first.
    picked: RefCell<HashMap<(Arc<str>, Bucket), Version>>,
    /// Each (package, bucket) that links a library, numbered in order of
    /// discovery: the "versions" of `Pkg::Links`.
    claimants: RefCell<Vec<(Arc<str>, Bucket)>>,
}

/// A multi-bucket requirement: (published name, requirement).
type ChoiceKey = (Arc<str>, Arc<str>);

/// One of the project's requirements: name, requirement, features.
#[derive(Debug, Clone)]
pub struct RootRequirement {
    /// The package name as the project writes it.
    pub name: String,
    /// The version requirement.
    pub requirement: String,
    /// The features asked of it.
    pub ask: FeatureAsk,
}

/// pubgrub's pick: packages before their features (a feature then takes
/// the version its package got), most conflicts first, then the fewest
/// candidates.
type Priority = (bool, u32, Reverse<usize>);

impl<'a> IndexProvider<'a> {
    /// A provider for the project requirements `root`, preferring the
    /// `locked` versions.
    pub fn new(source: &'a dyn PackageSource, root: Vec<RootRequirement>, locked: &[(String, Version)]) -> Self {
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
            picked: RefCell::default(),
            claimants: RefCell::default(),
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

    /// Looks a package file up as Cargo does ([`PackageSource::package_file`])
    /// and lists its versions without parsing every entry in full (see
    /// [`super::versions`]).
    fn read_package(&self, name: &str) -> Result<Option<PackageVersions>, SourceError> {
        let locked = self
            .locked
            .get(&name::confusable_key(name))
            .map_or(&[][..], Vec::as_slice);
        self.source
            .package_file(name)?
            .map(|file| PackageVersions::read(name, file.location, file.text, locked))
            .transpose()
    }

    /// Reads something of a version pubgrub picked (its dependencies, its
    /// features, its entry), with a source error naming the package.
    pub fn read_version<T>(
        &self,
        name: &str,
        version: &Version,
        read: impl FnOnce(&PackageVersions, &Candidate) -> Result<T, SourceError>,
    ) -> Result<T, ResolveError> {
        let versions = self.loaded(name);
        let candidate = versions
            .candidate(version)
            .expect("pubgrub only picks offered versions");
        read(&versions, candidate).map_err(|source| ResolveError::Source {
            name: name.to_owned(),
            source,
        })
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
        let Pkg::Choice { name, requirement, .. } = package else {
            return None;
        };
        self.choices.borrow().get(&(name.clone(), requirement.clone())).cloned()
    }

    /// The (package, bucket) that version `claimant` of a `Pkg::Links`
    /// stands for.
    pub fn claimant(&self, claimant: &Version) -> Option<(Arc<str>, Bucket)> {
        let at = usize::try_from(claimant.major).ok()?;
        self.claimants.borrow().get(at).cloned()
    }

    /// The version to try in a bucket: the pinned one while it fits, else
    /// the newest in `range`.
    fn preferred_version(&self, name: &str, bucket: Bucket, range: &VersionSet) -> Option<Version> {
        let versions = self.loaded(name);
        let mut in_range = versions.in_bucket(bucket).iter().filter(|c| range.contains(&c.version));
        let pinned = in_range.clone().rfind(|c| c.locked);
        pinned.or_else(|| in_range.next_back()).map(|c| c.version.clone())
    }

    /// The `Pkg::Links` version standing for (name, bucket).
    fn claimant_version(&self, name: &Arc<str>, bucket: Bucket) -> Version {
        let mut claimants = self.claimants.borrow_mut();
        let at = match claimants.iter().position(|(n, b)| n == name && *b == bucket) {
            Some(at) => at,
            None => {
                claimants.push((name.clone(), bucket));
                claimants.len() - 1
            }
        };
        Version::new(at as u64, 0, 0)
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
                package: Pkg::bucket_of(&versions.name, bucket),
                versions: versions.exact_set(structural, req, bucket),
                requirement,
            };
        }
        let requirement_key: Arc<str> = requirement.as_str().into();
        let package = Pkg::Choice {
            name: versions.name.clone(),
            requirement: requirement_key.clone(),
            ask: Arc::new(FeatureAsk::none()),
            dependent: None,
        };
        let choice = Choice {
            buckets: bucket
                .into_iter()
                .map(|b| (b, versions.exact_set(structural, req, b)))
                .collect(),
        };
        self.choices
            .borrow_mut()
            .insert((versions.name.clone(), requirement_key), Rc::new(choice));
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

    /// The constraints of some dependencies of `version` of `current` (a
    /// bucket or one of its features), each with what it asks, merged per
    /// package. A dependency on the version's own bucket is met by the
    /// version itself, and what it asks are features of this very version
    /// (without the package itself: pubgrub takes no self-dependency).
    fn version_dependencies<'d>(
        &self,
        name: &Arc<str>,
        bucket: Bucket,
        current: &Pkg,
        version: &Version,
        deps: impl Iterator<Item = (&'d Dependency, FeatureAsk)>,
    ) -> Result<Result<Vec<(Pkg, VersionSet)>, Unusable>, ResolveError> {
        let deps: Vec<(&Dependency, FeatureAsk)> = deps.collect();
        self.prefetch(deps.iter().map(|(dep, _)| *dep));
        let own = Pkg::bucket_of(name, bucket);
        let mut constraints: Vec<(Pkg, VersionSet)> = Vec::new();
        for (dep, ask) in deps {
            let (target, versions) = match self.dependency_target(dep)? {
                Target::Unreadable(reason) => {
                    return Ok(Err(Unusable::InvalidRequirement {
                        dependency: dep.package_name().to_owned(),
                        reason,
                    }));
                }
                Target::Constraint { package, versions, .. } => (package, versions),
            };
            if target == own {
                if !versions.contains(version) {
                    return Ok(Err(Unusable::ExcludesItself {
                        requirement: dep.req.clone(),
                    }));
                }
                for feature in Feature::asked(&ask) {
                    let package = Pkg::Feature {
                        name: name.clone(),
                        bucket,
                        feature,
                    };
                    if package != *current {
                        add_constraint(&mut constraints, package, VersionSet::singleton(version.clone()));
                    }
                }
                continue;
            }
            add_dependency(&mut constraints, Some((name, bucket)), target, versions, &ask);
        }
        Ok(Ok(constraints))
    }

    /// Lets the source fetch, all at once, the package files these
    /// dependencies will read that are not read yet.
    fn prefetch<'d>(&self, deps: impl Iterator<Item = &'d Dependency>) {
        let names = self.names.borrow();
        let mut unread: Vec<String> = deps
            .filter(|dep| dep.registry.is_none())
            .map(|dep| dep.package_name().to_owned())
            .filter(|name| !names.contains_key(&name.to_ascii_lowercase()))
            .collect();
        drop(names);
        unread.sort();
        unread.dedup();
        self.source.prefetch_packages(&unread);
    }

    /// A version of a bucket: what it always needs, and its `links`.
    fn bucket_dependencies(
        &self,
        name: &Arc<str>,
        bucket: Bucket,
        version: &Version,
    ) -> Result<Result<Vec<(Pkg, VersionSet)>, Unusable>, ResolveError> {
        let details = self.read_version(name, version, PackageVersions::details)?;
        let own = Pkg::bucket_of(name, bucket);
        let needed = details
            .deps
            .iter()
            .filter(|d| always_needed(d))
            .map(|d| (d, FeatureAsk::of_dependency(d)));
        let mut constraints = match self.version_dependencies(name, bucket, &own, version, needed)? {
            Ok(constraints) => constraints,
            Err(why) => return Ok(Err(why)),
        };
        if let Some(library) = &details.links {
            constraints.push((
                Pkg::Links {
                    library: library.as_str().into(),
                },
                VersionSet::singleton(self.claimant_version(name, bucket)),
            ));
        }
        Ok(Ok(constraints))
    }

    /// A feature at one version: exactly that version of its bucket, and
    /// the dependencies the feature turns on, with what it asks of them.
    fn feature_dependencies(
        &self,
        name: &Arc<str>,
        bucket: Bucket,
        feature: &Feature,
        version: &Version,
    ) -> Result<Result<Vec<(Pkg, VersionSet)>, Unusable>, ResolveError> {
        let details = self.read_version(name, version, PackageVersions::details)?;
        let table = self.read_version(name, version, PackageVersions::features)?;
        let enabled = match table.enable(&feature.ask()) {
            Ok(enabled) => enabled,
            Err(why) => return Ok(Err(Unusable::Features(why))),
        };
        let own = Pkg::bucket_of(name, bucket);
        let turned_on = details
            .deps
            .iter()
            .filter(|d| d.kind() != DepKind::Dev && enabled.dependencies.contains_key(&d.name))
            .map(|d| (d, enabled.ask_of(d)));
        let current = Pkg::Feature {
            name: name.clone(),
            bucket,
            feature: feature.clone(),
        };
        let mut constraints = match self.version_dependencies(name, bucket, &current, version, turned_on)? {
            Ok(constraints) => constraints,
            Err(why) => return Ok(Err(why)),
        };
        add_constraint(&mut constraints, own, VersionSet::singleton(version.clone()));
        Ok(Ok(constraints))
    }
}

/// Adds what `dependent` (`None`: the project) depending on `target` at
/// `versions` with `ask` means: those versions of the package and, for a
/// bucket, the same versions of each feature asked (a multi-bucket
/// requirement carries the ask to the bucket it settles on).
fn add_dependency(
    constraints: &mut Vec<(Pkg, VersionSet)>,
    dependent: Option<(&Arc<str>, Bucket)>,
    target: Pkg,
    versions: VersionSet,
    ask: &FeatureAsk,
) {
    match target {
        Pkg::Bucket { name, bucket } => {
            for feature in Feature::asked(ask) {
                let package = Pkg::Feature {
                    name: name.clone(),
                    bucket,
                    feature,
                };
                add_constraint(constraints, package, versions.clone());
            }
            add_constraint(constraints, Pkg::Bucket { name, bucket }, versions);
        }
        Pkg::Choice { name, requirement, .. } => {
            let package = Pkg::Choice {
                name,
                requirement,
                ask: Arc::new(ask.clone()),
                dependent: dependent_key(dependent),
            };
            add_constraint(constraints, package, versions);
        }
        other => add_constraint(constraints, other, versions),
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
            Pkg::Root | Pkg::Missing { .. } | Pkg::Foreign { .. } | Pkg::Links { .. } => 0,
            Pkg::Bucket { name, bucket } | Pkg::Feature { name, bucket, .. } => self
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
        let is_package = !matches!(package, Pkg::Feature { .. });
        (is_package, stats.conflict_count(), Reverse(candidates))
    }

    fn choose_version(&self, package: &Pkg, range: &VersionSet) -> Result<Option<Version>, ResolveError> {
        Ok(match package {
            Pkg::Root => Some(root_version()),
            Pkg::Missing { .. } | Pkg::Foreign { .. } => None,
            Pkg::Bucket { name, bucket } => {
                let chosen = self.preferred_version(name, *bucket, range);
                if let Some(version) = &chosen {
                    self.picked
                        .borrow_mut()
                        .insert((name.clone(), *bucket), version.clone());
                }
                chosen
            }
            Pkg::Feature { name, bucket, .. } => {
                let picked = self.picked.borrow().get(&(name.clone(), *bucket)).cloned();
                match picked {
                    Some(version) if range.contains(&version) => Some(version),
                    _ => self.preferred_version(name, *bucket, range),
                }
            }
            Pkg::Links { .. } => {
                let claimants = self.claimants.borrow().len() as u64;
                (0..claimants)
                    .map(|at| Version::new(at, 0, 0))
                    .find(|v| range.contains(v))
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
                for root in &self.root {
                    // Root requirements were checked before solving.
                    if let Target::Constraint { package, versions, .. } = self.target(&root.name, &root.requirement)? {
                        add_dependency(&mut constraints, None, package, versions, &root.ask);
                    }
                }
                constraints
            }
            Pkg::Bucket { name, bucket } => match self.bucket_dependencies(name, *bucket, version)? {
                Ok(constraints) => constraints,
                Err(why) => return Ok(Dependencies::Unavailable(why)),
            },
            Pkg::Feature { name, bucket, feature } => {
                match self.feature_dependencies(name, *bucket, feature, version)? {
                    Ok(constraints) => constraints,
                    Err(why) => return Ok(Dependencies::Unavailable(why)),
                }
            }
            Pkg::Choice {
                name,
                requirement,
                ask,
                dependent,
            } => {
                let bucket = Bucket::of(version);
                let choice = self.choice(package).expect("a choice is registered when it is created");
                let (_, set) = choice
                    .buckets
                    .iter()
                    .find(|(b, _)| *b == bucket)
                    .expect("a choice's versions are its buckets");
                let mut constraints = Vec::new();
                let target = Pkg::bucket_of(name, bucket);
                add_dependency(&mut constraints, None, target, set.clone(), ask);
                if **ask != FeatureAsk::none() {
                    let asking_none = Pkg::Choice {
                        name: name.clone(),
                        requirement: requirement.clone(),
                        ask: Arc::new(FeatureAsk::none()),
                        dependent: dependent.clone(),
                    };
                    add_constraint(&mut constraints, asking_none, VersionSet::singleton(version.clone()));
                }
                constraints
            }
            // These have no dependencies (the first two have no versions).
            Pkg::Missing { .. } | Pkg::Foreign { .. } | Pkg::Links { .. } => Vec::new(),
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
