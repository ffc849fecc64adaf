//! The resolver against an independent oracle, on generated registries.
//!
//! Every solution is checked rule by rule with semver's own
//! `VersionReq::matches`; every "no solution" is confirmed by trying every
//! assignment of at most one version per (package, compatibility bucket).
//! The oracle shares no code with the resolver: not the ranges, not the
//! buckets (it computes Cargo's compatibility by hand), not the provider.
//! [`features`] does the same with features, optional dependencies and
//! `links`.

mod features;

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use semver::{Version, VersionReq};

use super::memory::{MemoryIndex, entry};
use crate::format::{DepKind, Dependency};
use crate::resolve::{Request, Resolution, ResolveError, resolve};

const NAMES: [&str; 4] = ["a", "b", "c", "d"];
const VERSIONS: [&str; 12] = [
    "0.0.1",
    "0.0.2",
    "0.1.0",
    "0.1.1",
    "0.2.0",
    "0.2.1",
    "1.0.0",
    "1.1.0",
    "1.1.1",
    "1.2.0-beta.1",
    "1.2.0",
    "2.0.0",
];
const REQUIREMENTS: [&str; 15] = [
    "^1",
    "^1.1",
    "^0.1",
    "~1.1",
    ">=0.1, <2",
    "*",
    "=1.1.0",
    "^1.2.0-beta",
    "<1.1",
    ">=1",
    "^0.0.1",
    "0.2",
    ">=0.1.1",
    "1.*",
    ">1.0.0, <=2.0.0",
];

#[derive(Debug, Clone)]
struct GenDep {
    name: &'static str,
    req: &'static str,
    kind: DepKind,
    optional: bool,
    foreign: bool,
}

#[derive(Debug, Clone)]
struct GenVersion {
    vers: &'static str,
    yanked: bool,
    locked: bool,
    deps: Vec<GenDep>,
}

#[derive(Debug, Clone)]
struct GenRegistry {
    packages: Vec<(&'static str, Vec<GenVersion>)>,
    root: BTreeMap<&'static str, &'static str>,
}

/// A package name; now and then one that does not exist.
fn gen_name() -> impl Strategy<Value = &'static str> {
    prop_oneof![30 => prop::sample::select(&NAMES[..]), 1 => Just("ghost")]
}

/// A requirement; now and then one that does not parse.
fn gen_requirement() -> impl Strategy<Value = &'static str> {
    prop_oneof![30 => prop::sample::select(&REQUIREMENTS[..]), 1 => Just("not a requirement")]
}

fn gen_dep() -> impl Strategy<Value = GenDep> {
    let kind = prop_oneof![6 => Just(DepKind::Normal), 1 => Just(DepKind::Build), 1 => Just(DepKind::Dev)];
    (
        gen_name(),
        gen_requirement(),
        kind,
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(name, req, kind, optional, foreign)| GenDep {
            name,
            req,
            kind,
            optional,
            foreign,
        })
}

fn gen_version() -> impl Strategy<Value = GenVersion> {
    (
        prop::sample::select(&VERSIONS[..]),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.1),
        prop::collection::vec(gen_dep(), 0..4),
    )
        .prop_map(|(vers, yanked, locked, deps)| GenVersion {
            vers,
            yanked,
            locked,
            deps,
        })
}

fn gen_registry() -> impl Strategy<Value = GenRegistry> {
    let package = prop::collection::vec(gen_version(), 2..9).prop_map(|mut versions| {
        let mut seen = BTreeSet::new();
        versions.retain(|v| seen.insert(v.vers));
        versions
    });
    let packages = prop::collection::vec(package, NAMES.len()).prop_map(|all| NAMES.iter().copied().zip(all).collect());
    let root = prop::collection::btree_map(gen_name(), prop::sample::select(&REQUIREMENTS[..]), 1..3);
    (packages, root).prop_map(|(packages, root)| GenRegistry { packages, root })
}

impl GenRegistry {
    fn index(&self) -> MemoryIndex {
        let mut index = MemoryIndex::new();
        for (name, versions) in &self.packages {
            for version in versions {
                let deps = version.deps.iter().map(to_dependency).collect();
                let mut line = entry(name, version.vers, deps);
                line.yanked = version.yanked;
                index.add(line);
            }
        }
        index
    }

    fn request(&self) -> Request {
        let mut request = Request::new(self.root.iter().map(|(n, r)| (*n, *r)));
        for (name, versions) in &self.packages {
            for version in versions.iter().filter(|v| v.locked) {
                request = request.lock(*name, Version::parse(version.vers).unwrap());
            }
        }
        request
    }

    fn version(&self, name: &str, vers: &Version) -> Option<&GenVersion> {
        let (_, versions) = self.packages.iter().find(|(n, _)| *n == name)?;
        versions.iter().find(|v| Version::parse(v.vers).unwrap() == *vers)
    }

    /// A version the rules allow: not yanked unless pinned, every counted
    /// requirement readable, nothing from another registry.
    fn usable(&self, version: &GenVersion) -> bool {
        (!version.yanked || version.locked) && counted(version).all(|d| !d.foreign && VersionReq::parse(d.req).is_ok())
    }
}

fn to_dependency(d: &GenDep) -> Dependency {
    Dependency {
        kind: Some(d.kind),
        optional: d.optional,
        registry: d.foreign.then(|| "https://elsewhere.example/index".to_string()),
        ..Dependency::normal(d.name, d.req)
    }
}

fn counted(version: &GenVersion) -> impl Iterator<Item = &GenDep> {
    version.deps.iter().filter(|d| d.kind != DepKind::Dev && !d.optional)
}

/// Cargo's compatibility rule, written out independently of `ranges::Bucket`.
fn compatible(a: &Version, b: &Version) -> bool {
    match (a.major, b.major) {
        (0, 0) if a.minor == 0 && b.minor == 0 => a.patch == b.patch,
        (0, 0) => a.minor == b.minor,
        (x, y) => x == y,
    }
}

/// Checks a resolution rule by rule.
fn check_solution(registry: &GenRegistry, resolution: &Resolution) -> Result<(), String> {
    let chosen: BTreeSet<(String, Version)> = resolution
        .packages
        .iter()
        .map(|p| (p.id.name.clone(), p.id.version.clone()))
        .collect();
    for (i, a) in resolution.packages.iter().enumerate() {
        for b in &resolution.packages[i + 1..] {
            if a.id.name == b.id.name && compatible(&a.id.version, &b.id.version) {
                return Err(format!("{} and {} are compatible versions chosen together", a.id, b.id));
            }
        }
    }
    let satisfied = |edges: &[crate::resolve::Edge], name: &str, req: &str| -> bool {
        let req = VersionReq::parse(req).unwrap();
        edges.iter().any(|e| {
            e.to.name == name
                && req.matches(&e.to.version)
                && chosen.contains(&(e.to.name.clone(), e.to.version.clone()))
        })
    };
    for (name, req) in &registry.root {
        if !satisfied(&resolution.root, name, req) {
            return Err(format!("the project's `{name} {req}` is not met"));
        }
    }
    for package in &resolution.packages {
        let version = registry
            .version(&package.id.name, &package.id.version)
            .ok_or_else(|| format!("{} does not exist", package.id))?;
        if !registry.usable(version) {
            return Err(format!("{} is not usable (yanked or unreadable)", package.id));
        }
        for d in counted(version) {
            if !satisfied(&package.dependencies, d.name, d.req) {
                return Err(format!("{}'s `{} {}` is not met", package.id, d.name, d.req));
            }
        }
    }
    // Nothing extra: everything is reachable from the project.
    let mut reached = BTreeSet::new();
    let mut stack: Vec<&crate::resolve::PackageId> = resolution.root.iter().map(|e| &e.to).collect();
    while let Some(id) = stack.pop() {
        if reached.insert(id.clone()) {
            let package = resolution.packages.iter().find(|p| p.id == *id).unwrap();
            stack.extend(package.dependencies.iter().map(|e| &e.to));
        }
    }
    if reached.len() != resolution.packages.len() {
        return Err("some chosen packages are not needed".into());
    }
    Ok(())
}

/// The oracle gives up above this many assignments (the case is skipped).
const MAX_ASSIGNMENTS: usize = 50_000;

/// A usable version for the oracle, its requirements parsed once.
struct OracleVersion {
    name: &'static str,
    version: Version,
    needs: Vec<(&'static str, VersionReq)>,
}

/// Whether any assignment of at most one usable version per (package,
/// compatibility class) meets every requirement: tries them all. `None`
/// when there are too many to try.
fn brute_force_has_solution(registry: &GenRegistry) -> Option<bool> {
    // Slots: groups of mutually compatible usable versions of one package.
    let mut slots: Vec<Vec<OracleVersion>> = Vec::new();
    for (name, versions) in &registry.packages {
        for version in versions.iter().filter(|v| registry.usable(v)) {
            let candidate = OracleVersion {
                name,
                version: Version::parse(version.vers).unwrap(),
                needs: counted(version)
                    .map(|d| (d.name, VersionReq::parse(d.req).unwrap()))
                    .collect(),
            };
            let slot = slots
                .iter_mut()
                .find(|s| s[0].name == *name && compatible(&s[0].version, &candidate.version));
            match slot {
                Some(slot) => slot.push(candidate),
                None => slots.push(vec![candidate]),
            }
        }
    }
    let assignments = slots.iter().try_fold(1usize, |n, slot| n.checked_mul(slot.len() + 1));
    if assignments.is_none_or(|n| n > MAX_ASSIGNMENTS) {
        return None;
    }
    let root: Vec<(&str, VersionReq)> = registry
        .root
        .iter()
        .map(|(name, req)| (*name, VersionReq::parse(req).unwrap()))
        .collect();
    let mut picks = vec![0usize; slots.len()]; // 0 = none, i = slot[i - 1]
    let mut chosen: Vec<&OracleVersion> = Vec::with_capacity(slots.len());
    loop {
        chosen.clear();
        chosen.extend(
            slots
                .iter()
                .zip(&picks)
                .filter(|(_, pick)| **pick > 0)
                .map(|(slot, pick)| &slot[pick - 1]),
        );
        let met = |(name, req): &(&str, VersionReq)| chosen.iter().any(|c| c.name == *name && req.matches(&c.version));
        if root.iter().all(met) && chosen.iter().all(|c| c.needs.iter().all(met)) {
            return Some(true);
        }
        // Next assignment, like an odometer.
        let mut i = 0;
        loop {
            if i == slots.len() {
                return Some(false);
            }
            picks[i] += 1;
            if picks[i] <= slots[i].len() {
                break;
            }
            picks[i] = 0;
            i += 1;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn resolutions_obey_the_rules_and_failures_are_real(registry in gen_registry()) {
        let index = registry.index();
        match resolve(&index, &registry.request()) {
            Ok(resolution) => {
                if let Err(broken) = check_solution(&registry, &resolution) {
                    prop_assert!(false, "{broken}\n{resolution:#?}");
                }
                let again = resolve(&registry.index(), &registry.request()).ok();
                prop_assert_eq!(again.as_ref(), Some(&resolution), "not deterministic");
            }
            Err(ResolveError::NoSolution { explanation }) => {
                let exists = brute_force_has_solution(&registry);
                prop_assume!(exists.is_some(), "too many assignments to try");
                prop_assert_eq!(exists, Some(false), "the resolver found no solution but one exists:\n{}", explanation);
                prop_assert!(!explanation.is_empty());
            }
            Err(other) => prop_assert!(false, "unexpected error: {other}"),
        }
    }
}
