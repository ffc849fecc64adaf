//! `stats`: what an index holds, at a glance — packages, versions, yanked
//! versions, the share of signed versions, licences, the packages most
//! depended upon, the newest releases (by `pubtime`, where the index has
//! it). A sparse index can only count what its cache holds, and says so.
//!
//! ```
//! use ggen_marketplace::sources::local::LocalSource;
//! use ggen_marketplace::workflows::stats::stats;
//! let index = LocalSource::open(ggen_marketplace::workflows::registry::bundled_example_registry()).unwrap();
//! let stats = stats(&index, 3).unwrap();
//! assert_eq!(stats.packages, 12);
//! assert_eq!(stats.signed, stats.versions); // every example entry is signed
//! assert_eq!(stats.most_depended_upon[0].name, "io.ggen.base");
//! ```

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::format::IndexEntry;
use crate::sources::{PackageSource, SourceError};

/// The figures of one index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexStats {
    /// Packages counted.
    pub packages: usize,
    /// Versions (lines) counted.
    pub versions: usize,
    /// Yanked versions.
    pub yanked: usize,
    /// Versions with a `sig`.
    pub signed: usize,
    /// `signed / versions`, 0 for an empty index.
    pub signed_share: f64,
    /// Licence expressions of each package's newest version, most used first.
    pub licenses: Vec<Counted>,
    /// Packages with the most distinct dependents (normal and build
    /// dependencies of any version), most first.
    pub most_depended_upon: Vec<Counted>,
    /// The most recently published versions, by `pubtime` (empty when the
    /// index does not record it).
    pub newest: Vec<Release>,
    /// False when the source could only count part of the index (a sparse
    /// index counts what is cached).
    pub complete: bool,
}

/// A name and how many times it counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counted {
    /// The licence expression or package name.
    pub name: String,
    /// How many.
    pub count: usize,
}

/// One published version with its publication time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Release {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// RFC 3339 publication time.
    pub pubtime: String,
}

/// What one package contributes.
#[derive(Default)]
struct PackageFigures {
    versions: usize,
    yanked: usize,
    signed: usize,
    license: Option<String>,
    depends_on: BTreeSet<String>,
    releases: Vec<Release>,
}

/// Counts the index behind `source`; each list holds at most `top` items.
pub fn stats(source: &dyn PackageSource, top: usize) -> Result<IndexStats, SourceError> {
    let listing = source.searchable_names()?;
    let figures: Vec<(String, PackageFigures)> = listing
        .names
        .par_iter()
        .map(|name| {
            let entries = source.entries(name)?.unwrap_or_default();
            Ok((name.clone(), figures_of(&entries)))
        })
        .collect::<Result<_, SourceError>>()?;
    let mut licenses: BTreeMap<String, usize> = BTreeMap::new();
    let mut dependents: BTreeMap<String, usize> = BTreeMap::new();
    let mut releases = Vec::new();
    let (mut versions, mut yanked, mut signed) = (0, 0, 0);
    for (_, package) in &figures {
        versions += package.versions;
        yanked += package.yanked;
        signed += package.signed;
        *licenses
            .entry(package.license.clone().unwrap_or_else(|| "(none)".into()))
            .or_default() += 1;
        for dependency in &package.depends_on {
            *dependents.entry(dependency.clone()).or_default() += 1;
        }
        releases.extend(package.releases.iter().cloned());
    }
    releases.sort_by(|a, b| b.pubtime.cmp(&a.pubtime).then_with(|| a.name.cmp(&b.name)));
    releases.truncate(top);
    Ok(IndexStats {
        packages: figures.len(),
        versions,
        yanked,
        signed,
        signed_share: if versions == 0 {
            0.0
        } else {
            signed as f64 / versions as f64
        },
        licenses: most_first(licenses, top),
        most_depended_upon: most_first(dependents, top),
        newest: releases,
        complete: listing.complete,
    })
}

fn figures_of(entries: &[IndexEntry]) -> PackageFigures {
    let newest = entries
        .iter()
        .filter_map(|e| Some((e.version().ok()?, e)))
        .max_by(|a, b| a.0.cmp(&b.0));
    PackageFigures {
        versions: entries.len(),
        yanked: entries.iter().filter(|e| e.yanked).count(),
        signed: entries.iter().filter(|e| e.sig.is_some()).count(),
        license: newest.and_then(|(_, e)| e.license.clone()),
        depends_on: entries
            .iter()
            .flat_map(|e| &e.deps)
            .filter(|dep| dep.kind() != crate::format::DepKind::Dev && dep.registry.is_none())
            .map(|dep| dep.package_name().to_ascii_lowercase())
            .collect(),
        releases: entries
            .iter()
            .filter_map(|e| {
                Some(Release {
                    name: e.name.clone(),
                    version: e.vers.clone(),
                    pubtime: e.pubtime.clone()?,
                })
            })
            .collect(),
    }
}

/// The `top` names with the highest counts, ties by name.
fn most_first(counts: BTreeMap<String, usize>, top: usize) -> Vec<Counted> {
    let mut counted: Vec<Counted> = counts
        .into_iter()
        .map(|(name, count)| Counted { name, count })
        .collect();
    counted.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    counted.truncate(top);
    counted
}
