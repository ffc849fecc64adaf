//! The resolver against an independent oracle for Cargo's features, optional
//! dependencies and `links`, on generated registries.
//!
//! Most requirements here match within one compatibility bucket, so in a
//! choice of at most one version per (package, bucket) each has at most one
//! possible target. A requirement that spans buckets (`*`, `>=1`) has
//! several: which one a dependency of a given dependent leads to is a
//! further choice, one per (dependent, dependency), as Cargo resolves each
//! dependency to one version. Given these choices, what they turn on is a
//! plain least fixpoint: start from the project's asks, follow each
//! dependency that is on, turn on each feature asked, until nothing is new.
//! The rules are written out again below, independently of
//! `format::features` (which the resolver uses):
//!
//! - A version's features are its table plus `X = ["dep:X"]` for each
//!   optional dependency `X` that no `dep:X` value names.
//! - A value `"f"` turns feature `f` on; `"dep:X"` turns dependency `X` on;
//!   `"X/f"` turns `X` on (with its implicit feature, if it has one) and asks
//!   `f` of it; a weak `"X?/f"` does the same without the implicit feature.
//! - Asking a feature a version lacks fails, and so does a value naming a
//!   dependency the version lacks (dev dependencies do not count).
//! - A dependent asks its features, and `default` when it keeps default
//!   features and the version has one.
//! - Required dependencies are always on, optional ones when turned on;
//!   each dependency that is on must be met; two chosen versions may not
//!   share a `links` value.
//!
//! A solution is checked by expanding the resolver's own choice (its
//! versions, and the targets of its edges) and comparing: features, edges,
//! nothing unreachable. A "no solution" is confirmed by trying every choice
//! of versions for the (package, bucket) slots an expansion reaches, and of
//! targets for the spanning dependencies it follows: each is decided the
//! first time the expansion needs it, once per possibility, and a slot
//! nothing needs stays empty. That is every assignment, less those that
//! differ only in what no requirement reaches.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::sample::Index;
use semver::{Version, VersionReq};

use super::super::memory::{MemoryIndex, entry};
use super::{NAMES, compatible};
use crate::format::features::FeatureAsk;
use crate::format::{DepKind, Dependency};
use crate::resolve::{Request, Resolution, ResolveError, resolve};

/// Feature names of the generated tables.
const FEATURES: [&str; 3] = ["default", "f", "g"];
/// What dependents ask for by name.
const ASKABLE: [&str; 2] = ["f", "g"];
/// A name no generated package has, for values naming a missing dependency.
const NOT_A_DEPENDENCY: &str = "zz";
/// The versions published here: fewer than the first property's, so that
/// most requirements match something.
const RELEASES: [&str; 7] = ["0.1.0", "0.1.1", "1.0.0", "1.1.0", "1.2.0-beta.1", "1.2.0", "2.0.0"];
/// Requirements whose matches among `RELEASES` lie in one bucket (checked
/// by `each_requirement_matches_within_one_bucket`), the broad ones first.
const BROAD: [&str; 4] = ["^1", "1.*", "^0.1", "^1.1"];
/// More single-bucket requirements, each matching one or two releases.
const NARROW: [&str; 5] = ["~1.1", "=1.1.0", "^1.2.0-beta", "=0.1.1", "^2"];
/// Requirements whose matches lie in several buckets (checked by
/// `each_spanning_requirement_matches_in_several_buckets`).
const SPANNING: [&str; 3] = ["*", ">=0.1, <2", ">=1"];

fn gen_requirement() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        6 => prop::sample::select(&BROAD[..]),
        2 => prop::sample::select(&NARROW[..]),
        1 => prop::sample::select(&SPANNING[..]),
    ]
}

#[derive(Debug, Clone)]
struct Dep {
    name: &'static str,
    req: &'static str,
    kind: DepKind,
    optional: bool,
    foreign: bool,
    features: Vec<&'static str>,
    default_features: bool,
}

#[derive(Debug, Clone)]
struct Release {
    vers: &'static str,
    yanked: bool,
    locked: bool,
    links: Option<&'static str>,
    /// At most one dependency per name.
    deps: Vec<Dep>,
    features: BTreeMap<&'static str, Vec<String>>,
}

/// A requirement of the project, with the features it asks (`None`: the
/// default features only).
#[derive(Debug, Clone)]
struct RootDep {
    req: &'static str,
    ask: Option<(Vec<&'static str>, bool)>,
}

#[derive(Debug, Clone)]
struct Registry {
    packages: Vec<(&'static str, Vec<Release>)>,
    root: BTreeMap<&'static str, RootDep>,
}

/// A feature value before the version's dependencies are known: the
/// dependency it names is picked among them afterwards.
#[derive(Debug, Clone)]
enum RawValue {
    /// `"f"`.
    Feature(&'static str),
    /// `"dep:X"`, or `"X"` (the implicit feature) when `plain`.
    Dependency { which: Index, plain: bool },
    /// `"X/f"` or `"X?/f"`.
    DependencyFeature {
        which: Index,
        feature: &'static str,
        weak: bool,
    },
    /// `"dep:zz"` or `"zz/f"`: a dependency no version has.
    Missing { dep_form: bool },
}

impl RawValue {
    /// The value's text for a version with dependencies `deps`; mostly an
    /// optional one when it names a dependency, and feature `f` when there
    /// is none to name.
    fn render(&self, deps: &[Dep], optional_first: bool) -> String {
        let pick = |which: &Index| {
            let optional: Vec<&Dep> = deps.iter().filter(|d| d.optional).collect();
            let pool = if optional_first && !optional.is_empty() {
                optional
            } else {
                deps.iter().collect()
            };
            (!pool.is_empty()).then(|| pool[which.index(pool.len())].name)
        };
        match self {
            RawValue::Feature(name) => name.to_string(),
            RawValue::Dependency { which, plain } => match pick(which) {
                Some(name) if *plain => name.to_string(),
                Some(name) => format!("dep:{name}"),
                None => "f".to_string(),
            },
            RawValue::DependencyFeature { which, feature, weak } => match pick(which) {
                Some(name) => format!("{name}{}/{feature}", if *weak { "?" } else { "" }),
                None => "f".to_string(),
            },
            RawValue::Missing { dep_form: true } => format!("dep:{NOT_A_DEPENDENCY}"),
            RawValue::Missing { dep_form: false } => format!("{NOT_A_DEPENDENCY}/f"),
        }
    }
}

/// Features a dependent asks by name: mostly none.
fn gen_asked() -> impl Strategy<Value = Vec<&'static str>> {
    prop_oneof![3 => Just(Vec::new()), 2 => prop::sample::subsequence(&ASKABLE[..], 1..=2)]
}

fn gen_value() -> impl Strategy<Value = (RawValue, bool)> {
    let value = prop_oneof![
        4 => prop::sample::select(&FEATURES[..]).prop_map(RawValue::Feature),
        5 => (any::<Index>(), prop::bool::weighted(0.3))
            .prop_map(|(which, plain)| RawValue::Dependency { which, plain }),
        5 => (any::<Index>(), prop::sample::select(&ASKABLE[..]), prop::bool::weighted(0.3))
            .prop_map(|(which, feature, weak)| RawValue::DependencyFeature { which, feature, weak }),
        1 => any::<bool>().prop_map(|dep_form| RawValue::Missing { dep_form }),
    ];
    (value, prop::bool::weighted(0.8))
}

fn gen_dep() -> impl Strategy<Value = Dep> {
    let name = prop_oneof![30 => prop::sample::select(&NAMES[..]), 1 => Just("ghost")];
    let req = prop_oneof![30 => gen_requirement(), 1 => Just("not a requirement")];
    let kind = prop_oneof![6 => Just(DepKind::Normal), 1 => Just(DepKind::Build), 1 => Just(DepKind::Dev)];
    (
        name,
        req,
        kind,
        prop::bool::weighted(0.5),
        prop::bool::weighted(0.03),
        gen_asked(),
        prop::bool::weighted(0.7),
    )
        .prop_map(|(name, req, kind, optional, foreign, features, default_features)| Dep {
            name,
            req,
            kind,
            optional,
            foreign,
            features,
            default_features,
        })
}

fn gen_release() -> impl Strategy<Value = Release> {
    let links = prop_oneof![16 => Just(None), 3 => Just(Some("ssl")), 1 => Just(Some("z"))];
    let table = prop::collection::vec(
        (
            prop::sample::select(&FEATURES[..]),
            prop::collection::vec(gen_value(), 0..3),
        ),
        1..5,
    );
    (
        prop::sample::select(&RELEASES[..]),
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.1),
        links,
        prop::collection::vec(gen_dep(), 0..3),
        table,
    )
        .prop_map(|(vers, yanked, locked, links, mut deps, table)| {
            let mut seen = BTreeSet::new();
            deps.retain(|d| seen.insert(d.name));
            let features = table
                .into_iter()
                .map(|(name, values)| {
                    let values = values
                        .iter()
                        .map(|(v, optional_first)| v.render(&deps, *optional_first));
                    (name, values.collect())
                })
                .collect();
            Release {
                vers,
                yanked,
                locked,
                links,
                deps,
                features,
            }
        })
}

fn gen_registry() -> impl Strategy<Value = Registry> {
    let package = prop::collection::vec(gen_release(), 3..7).prop_map(|mut releases| {
        let mut seen = BTreeSet::new();
        releases.retain(|r| seen.insert(r.vers));
        releases
    });
    let packages = prop::collection::vec(package, NAMES.len()).prop_map(|all| NAMES.iter().copied().zip(all).collect());
    let ask = prop::option::weighted(0.5, (gen_asked(), any::<bool>()));
    let req = prop_oneof![3 => Just("^1"), 3 => Just("1.*"), 1 => Just("^1.1"), 1 => Just("^0.1")];
    let root_dep = (req, ask).prop_map(|(req, ask)| RootDep { req, ask });
    let root = prop::collection::vec((prop::sample::select(&NAMES[..]), root_dep), 1..3)
        .prop_map(|pairs| pairs.into_iter().collect());
    (packages, root).prop_map(|(packages, root)| Registry { packages, root })
}

impl Registry {
    fn index(&self) -> MemoryIndex {
        let mut index = MemoryIndex::new();
        for (name, releases) in &self.packages {
            for release in releases {
                let mut line = entry(name, release.vers, release.deps.iter().map(to_dependency).collect());
                line.yanked = release.yanked;
                line.links = release.links.map(str::to_owned);
                line.features = release
                    .features
                    .iter()
                    .map(|(name, values)| (name.to_string(), values.clone()))
                    .collect();
                index.add(line);
            }
        }
        index
    }

    fn request(&self) -> Request {
        let mut request = Request::new(self.root.iter().map(|(name, root)| (*name, root.req)));
        for (name, root) in &self.root {
            if let Some((features, default_features)) = &root.ask {
                let ask = FeatureAsk {
                    default_features: *default_features,
                    ..FeatureAsk::none().with_all(features.iter().copied())
                };
                request = request.features(*name, ask);
            }
        }
        for (name, releases) in &self.packages {
            for release in releases.iter().filter(|r| r.locked) {
                request = request.lock(*name, Version::parse(release.vers).unwrap());
            }
        }
        request
    }
}

fn to_dependency(d: &Dep) -> Dependency {
    Dependency {
        kind: Some(d.kind),
        optional: d.optional,
        features: d.features.iter().map(|f| f.to_string()).collect(),
        default_features: d.default_features,
        registry: d.foreign.then(|| "https://elsewhere.example/index".to_string()),
        ..Dependency::normal(d.name, d.req)
    }
}

/// A usable version (not yanked, or pinned) with its features, implicit
/// ones included.
struct Candidate<'a> {
    version: Version,
    release: &'a Release,
    features: BTreeMap<&'a str, Vec<String>>,
}

impl<'a> Candidate<'a> {
    fn new(release: &'a Release) -> Self {
        let mut features: BTreeMap<&'a str, Vec<String>> = release
            .features
            .iter()
            .map(|(name, values)| (*name, values.clone()))
            .collect();
        let named_with_dep = |name: &str| {
            let value = format!("dep:{name}");
            release.features.values().flatten().any(|v| *v == value)
        };
        for dep in release.deps.iter().filter(|d| d.kind != DepKind::Dev && d.optional) {
            if !named_with_dep(dep.name) {
                features.insert(dep.name, vec![format!("dep:{}", dep.name)]);
            }
        }
        Candidate {
            version: Version::parse(release.vers).unwrap(),
            release,
            features,
        }
    }

    /// The dependency a feature value names (dev dependencies do not count).
    fn dependency(&self, name: &str) -> Option<&'a Dep> {
        self.release
            .deps
            .iter()
            .find(|d| d.name == name && d.kind != DepKind::Dev)
    }
}

/// The usable versions of one package in one compatibility bucket.
struct Slot<'a> {
    name: &'static str,
    candidates: Vec<Candidate<'a>>,
}

fn slots(registry: &Registry) -> Vec<Slot<'_>> {
    let mut slots: Vec<Slot<'_>> = Vec::new();
    for (name, releases) in &registry.packages {
        for release in releases.iter().filter(|r| !r.yanked || r.locked) {
            let candidate = Candidate::new(release);
            let slot = slots
                .iter_mut()
                .find(|s| s.name == *name && compatible(&s.candidates[0].version, &candidate.version));
            match slot {
                Some(slot) => slot.candidates.push(candidate),
                None => slots.push(Slot {
                    name,
                    candidates: vec![candidate],
                }),
            }
        }
    }
    slots
}

/// What a slot holds in a (partial) assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    /// Not decided yet.
    Open,
    /// No version.
    Empty,
    /// This candidate.
    Chosen(usize),
}

/// Why an expansion stopped.
#[derive(Debug)]
enum Stop {
    /// The assignment breaks a rule.
    Invalid(String),
    /// A requirement needs this slot, which is not decided.
    Open(usize),
    /// A spanning dependency is followed whose target is not decided: it
    /// may lead to any of these slots.
    OpenEdge(DependencyOf, Vec<usize>),
}

/// A dependency: (its dependent's slot, `None` for the project; its name).
type DependencyOf = (Option<usize>, &'static str);

/// The slot each spanning dependency leads to.
type EdgePicks = BTreeMap<DependencyOf, usize>;

/// What an assignment turns on.
#[derive(Default)]
struct Expansion<'a> {
    /// Reached slot → its features that are on.
    on: BTreeMap<usize, BTreeSet<&'a str>>,
    /// Dependent (`None`: the project) → (requirement, target slot) of each
    /// dependency that is on.
    edges: BTreeMap<Option<usize>, BTreeSet<(&'a str, usize)>>,
}

struct Expander<'a, 'p> {
    slots: &'a [Slot<'a>],
    picks: &'p [Pick],
    edge_picks: &'p EdgePicks,
    expansion: Expansion<'a>,
}

/// Expands the assignment (`picks`, `edge_picks`) from the project's
/// requirements.
fn expand<'a>(
    registry: &'a Registry,
    slots: &'a [Slot<'a>],
    picks: &[Pick],
    edge_picks: &EdgePicks,
) -> Result<Expansion<'a>, Stop> {
    let mut expander = Expander {
        slots,
        picks,
        edge_picks,
        expansion: Expansion::default(),
    };
    for (name, root) in &registry.root {
        let (features, default_features) = root.ask.clone().unwrap_or((Vec::new(), true));
        let target = expander.target(None, name, root.req, false)?;
        expander.follow(None, root.req, target, features, default_features)?;
    }
    let mut linked: BTreeMap<&str, usize> = BTreeMap::new();
    for slot in expander.expansion.on.keys() {
        if let Some(library) = expander.candidate(*slot).release.links
            && let Some(other) = linked.insert(library, *slot)
        {
            return Err(Stop::Invalid(format!(
                "{} and {} both link `{library}`",
                expander.id(other),
                expander.id(*slot)
            )));
        }
    }
    Ok(expander.expansion)
}

impl<'a> Expander<'a, '_> {
    /// The chosen candidate of a decided slot.
    fn candidate(&self, slot: usize) -> &'a Candidate<'a> {
        match self.picks[slot] {
            Pick::Chosen(at) => &self.slots[slot].candidates[at],
            other => unreachable!("slot {slot} is {other:?}"),
        }
    }

    fn id(&self, slot: usize) -> String {
        format!("{} {}", self.slots[slot].name, self.candidate(slot).version)
    }

    /// The slot whose chosen version meets the dependency `name req` of
    /// `from` (`None`: the project).
    fn target(&self, from: Option<usize>, name: &'static str, req: &str, foreign: bool) -> Result<usize, Stop> {
        let unmet = |why: &str| Stop::Invalid(format!("`{name} {req}` {why}"));
        if foreign {
            return Err(unmet("is from another registry"));
        }
        let parsed = VersionReq::parse(req).map_err(|_| unmet("is unreadable"))?;
        let matching: Vec<usize> = (0..self.slots.len())
            .filter(|&at| {
                let slot = &self.slots[at];
                slot.name == name && slot.candidates.iter().any(|c| parsed.matches(&c.version))
            })
            .collect();
        let slot = match matching[..] {
            [] => return Err(unmet("matches no usable version")),
            [only] => only,
            _ => *self
                .edge_picks
                .get(&(from, name))
                .ok_or(Stop::OpenEdge((from, name), matching))?,
        };
        match self.picks[slot] {
            Pick::Open => Err(Stop::Open(slot)),
            Pick::Chosen(at) if parsed.matches(&self.slots[slot].candidates[at].version) => Ok(slot),
            Pick::Chosen(_) | Pick::Empty => Err(unmet("is not met by the versions chosen")),
        }
    }

    /// Follows a dependency that is on, from `from` (`None`: the project)
    /// to `to`, asking these features.
    fn follow(
        &mut self,
        from: Option<usize>,
        req: &'a str,
        to: usize,
        features: Vec<&'a str>,
        default_features: bool,
    ) -> Result<(), Stop> {
        self.expansion.edges.entry(from).or_default().insert((req, to));
        let candidate = self.candidate(to);
        if let Entry::Vacant(first_visit) = self.expansion.on.entry(to) {
            first_visit.insert(BTreeSet::new());
            for dep in candidate
                .release
                .deps
                .iter()
                .filter(|d| d.kind != DepKind::Dev && !d.optional)
            {
                self.follow_dependency(to, dep, None)?;
            }
        }
        for feature in features {
            self.turn_on(to, feature)?;
        }
        if default_features && candidate.features.contains_key("default") {
            self.turn_on(to, "default")?;
        }
        Ok(())
    }

    /// Follows dependency `dep` of `from`, asking `extra` of it too.
    fn follow_dependency(&mut self, from: usize, dep: &'a Dep, extra: Option<&'a str>) -> Result<(), Stop> {
        let to = self.target(Some(from), dep.name, dep.req, dep.foreign)?;
        let features = dep.features.iter().copied().chain(extra).collect();
        self.follow(Some(from), dep.req, to, features, dep.default_features)
    }

    fn turn_on(&mut self, slot: usize, feature: &'a str) -> Result<(), Stop> {
        let candidate = self.candidate(slot);
        if self.expansion.on[&slot].contains(feature) {
            return Ok(());
        }
        let values = candidate
            .features
            .get(feature)
            .ok_or_else(|| Stop::Invalid(format!("{} has no feature `{feature}`", self.id(slot))))?;
        self.expansion.on.get_mut(&slot).unwrap().insert(feature);
        let id = self.id(slot);
        let dependency = |name: &str| {
            let missing = || format!("{id}'s feature `{feature}` names no dependency `{name}`");
            candidate.dependency(name).ok_or_else(|| Stop::Invalid(missing()))
        };
        for value in values {
            if let Some(name) = value.strip_prefix("dep:") {
                let dep = dependency(name)?;
                self.follow_dependency(slot, dep, None)?;
            } else if let Some((name, wanted)) = value.split_once('/') {
                let (name, weak) = match name.strip_suffix('?') {
                    Some(name) => (name, true),
                    None => (name, false),
                };
                let dep = dependency(name)?;
                // Feature names and dependency names differ here, so a
                // feature named after the dependency is its implicit one.
                if !weak && candidate.features.contains_key(name) {
                    self.turn_on(slot, dep.name)?;
                }
                self.follow_dependency(slot, dep, Some(wanted))?;
            } else {
                self.turn_on(slot, value)?;
            }
        }
        Ok(())
    }
}

/// Checks a resolution by expanding the versions it chose.
fn check_solution(registry: &Registry, slots: &[Slot<'_>], resolution: &Resolution) -> Result<(), String> {
    let mut picks = vec![Pick::Empty; slots.len()];
    let mut chosen = Vec::new();
    for package in &resolution.packages {
        let id = &package.id;
        let found = slots.iter().enumerate().find_map(|(slot, s)| {
            let at = s.candidates.iter().position(|c| c.version == id.version);
            at.filter(|_| s.name == id.name).map(|at| (slot, at))
        });
        let (slot, at) = found.ok_or_else(|| format!("{id} does not exist or is yanked"))?;
        if picks[slot] != Pick::Empty {
            return Err(format!("{id} is chosen with a compatible version"));
        }
        picks[slot] = Pick::Chosen(at);
        chosen.push((slot, package));
    }
    let slot_of = |id: &crate::resolve::PackageId| {
        let at = |s: &Slot<'_>| s.name == id.name && s.candidates.iter().any(|c| c.version == id.version);
        slots.iter().position(at)
    };
    let mut edge_picks = EdgePicks::new();
    let dependents = chosen
        .iter()
        .map(|(slot, package)| (Some(*slot), &package.dependencies));
    for (from, edges) in dependents.chain([(None, &resolution.root)]) {
        for edge in edges {
            let (Some(to), Some(name)) = (slot_of(&edge.to), NAMES.iter().find(|n| **n == edge.to.name)) else {
                return Err(format!("an edge leads to {}, which is not chosen", edge.to));
            };
            edge_picks.insert((from, *name), to);
        }
    }
    let expansion = match expand(registry, slots, &picks, &edge_picks) {
        Ok(expansion) => expansion,
        Err(Stop::Invalid(why)) => return Err(why),
        Err(Stop::Open(slot)) => unreachable!("every slot is decided, {slot} too"),
        Err(Stop::OpenEdge((from, name), _)) => {
            let from = from.map_or_else(|| "the project".to_owned(), |slot| slots[slot].name.to_owned());
            return Err(format!("{from}'s dependency on {name} has no edge"));
        }
    };
    let id = |slot: usize| match picks[slot] {
        Pick::Chosen(at) => format!("{} {}", slots[slot].name, slots[slot].candidates[at].version),
        _ => unreachable!("only chosen slots are reached"),
    };
    let expected_edges = |from: Option<usize>| -> BTreeSet<(String, String)> {
        let edges = expansion.edges.get(&from).into_iter().flatten();
        edges.map(|(req, to)| (req.to_string(), id(*to))).collect()
    };
    let edges = |edges: &[crate::resolve::Edge]| -> BTreeSet<(String, String)> {
        edges
            .iter()
            .map(|e| (e.requirement.clone(), e.to.to_string()))
            .collect()
    };
    if edges(&resolution.root) != expected_edges(None) {
        return Err(format!("the project's edges should be {:?}", expected_edges(None)));
    }
    for (slot, package) in chosen {
        let on = expansion
            .on
            .get(&slot)
            .ok_or_else(|| format!("{} is chosen but nothing needs it", package.id))?;
        if package.features.iter().map(String::as_str).ne(on.iter().copied()) {
            return Err(format!("{} should have the features {on:?}", package.id));
        }
        if edges(&package.dependencies) != expected_edges(Some(slot)) {
            return Err(format!(
                "{}'s edges should be {:?}",
                package.id,
                expected_edges(Some(slot))
            ));
        }
    }
    Ok(())
}

/// The search gives up after this many expansions (the case is skipped).
const MAX_EXPANSIONS: usize = 20_000;

/// Whether some assignment expands without breaking a rule: decides each
/// slot when a requirement first needs it, trying each of its versions,
/// and each spanning dependency's target when it is first followed, trying
/// each slot it may lead to. `None` when that takes more than `budget`
/// expansions.
fn has_solution(
    registry: &Registry,
    slots: &[Slot<'_>],
    picks: &mut [Pick],
    edge_picks: &mut EdgePicks,
    budget: &mut usize,
) -> Option<bool> {
    *budget = budget.checked_sub(1)?;
    match expand(registry, slots, picks, edge_picks) {
        Ok(_) => Some(true),
        Err(Stop::Invalid(_)) => Some(false),
        Err(Stop::Open(slot)) => {
            for at in 0..slots[slot].candidates.len() {
                picks[slot] = Pick::Chosen(at);
                if has_solution(registry, slots, picks, edge_picks, budget)? {
                    return Some(true);
                }
            }
            picks[slot] = Pick::Open;
            Some(false)
        }
        Err(Stop::OpenEdge(dependency, targets)) => {
            for target in targets {
                edge_picks.insert(dependency, target);
                if has_solution(registry, slots, picks, edge_picks, budget)? {
                    return Some(true);
                }
            }
            edge_picks.remove(&dependency);
            Some(false)
        }
    }
}

/// The releases `req` matches.
fn releases_matching(req: &str) -> Vec<Version> {
    let parsed = VersionReq::parse(req).unwrap();
    RELEASES
        .iter()
        .map(|v| Version::parse(v).unwrap())
        .filter(|v| parsed.matches(v))
        .collect()
}

#[test]
fn each_requirement_matches_within_one_bucket() {
    for req in BROAD.iter().chain(&NARROW) {
        let matching = releases_matching(req);
        assert!(!matching.is_empty(), "`{req}` matches nothing");
        assert!(
            matching.iter().all(|v| compatible(v, &matching[0])),
            "`{req}` matches {matching:?}"
        );
    }
}

#[test]
fn each_spanning_requirement_matches_in_several_buckets() {
    for req in SPANNING {
        let matching = releases_matching(req);
        assert!(
            matching.iter().any(|v| !compatible(v, &matching[0])),
            "`{req}` matches {matching:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6000))]

    #[test]
    fn features_and_links_obey_the_rules_and_failures_are_real(registry in gen_registry()) {
        let slots = slots(&registry);
        match resolve(&registry.index(), &registry.request()) {
            Ok(resolution) => {
                if let Err(broken) = check_solution(&registry, &slots, &resolution) {
                    prop_assert!(false, "{broken}\n{resolution:#?}");
                }
                let again = resolve(&registry.index(), &registry.request()).ok();
                prop_assert_eq!(again.as_ref(), Some(&resolution), "not deterministic");
            }
            Err(ResolveError::NoSolution { explanation }) => {
                let mut picks = vec![Pick::Open; slots.len()];
                let mut budget = MAX_EXPANSIONS;
                let exists = has_solution(&registry, &slots, &mut picks, &mut EdgePicks::new(), &mut budget);
                prop_assume!(exists.is_some(), "too many assignments to try");
                prop_assert_eq!(exists, Some(false), "the resolver found no solution but one exists:\n{}", explanation);
            }
            Err(other) => prop_assert!(false, "unexpected error: {other}"),
        }
    }
}
