//! `tree`: the resolved dependency graph of a project, from its lockfile.
//!
//! Like `cargo tree`, a package shown once is marked `repeated` further down
//! instead of being expanded again.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::install::InstallError;
use super::project::Project;
use crate::format::{Lockfile, req};

/// One node of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeNode {
    /// Package name.
    pub name: String,
    /// Locked version.
    pub version: String,
    /// Its features that are on.
    pub features: Vec<String>,
    /// Already shown above: not expanded again.
    pub repeated: bool,
    /// Its dependencies.
    pub dependencies: Vec<TreeNode>,
}

/// The project's dependencies as a tree, one root per `[dependencies]` line.
pub fn tree(project: &Project) -> Result<Vec<TreeNode>, InstallError> {
    let manifest = project.manifest()?;
    let lockfile = project
        .lockfile()?
        .ok_or_else(|| InstallError::NotInstalledYet(project.dir().to_owned()))?;
    let graph = Graph::of(&lockfile);
    let mut shown = BTreeSet::new();
    let roots = manifest
        .dependencies
        .iter()
        .filter_map(|(name, requirement)| graph.root_version(name, requirement))
        .map(|id| graph.node(id, &mut shown))
        .collect();
    Ok(roots)
}

type Id = (String, String);

struct Graph {
    edges: BTreeMap<Id, Vec<Id>>,
    features: BTreeMap<Id, Vec<String>>,
}

impl Graph {
    fn of(lockfile: &Lockfile) -> Self {
        let edges = lockfile
            .packages
            .iter()
            .map(|p| {
                let deps = p
                    .dependencies
                    .iter()
                    .filter_map(|d| d.split_once(' '))
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect();
                ((p.name.clone(), p.version.clone()), deps)
            })
            .collect();
        let features = lockfile
            .packages
            .iter()
            .map(|p| ((p.name.clone(), p.version.clone()), p.features.clone()))
            .collect();
        Graph { edges, features }
    }

    /// The highest locked version of `name` that `requirement` accepts.
    fn root_version(&self, name: &str, requirement: &str) -> Option<Id> {
        let matcher = req::parse(requirement).ok()?;
        self.edges
            .keys()
            .filter(|(n, _)| n == name)
            .filter_map(|id| semver::Version::parse(&id.1).ok().map(|v| (v, id)))
            .filter(|(v, _)| matcher.matches(v))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, id)| id.clone())
    }

    fn node(&self, id: Id, shown: &mut BTreeSet<Id>) -> TreeNode {
        let repeated = !shown.insert(id.clone());
        let dependencies = if repeated {
            Vec::new()
        } else {
            self.edges
                .get(&id)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|d| self.node(d, shown))
                .collect()
        };
        TreeNode {
            features: self.features.get(&id).cloned().unwrap_or_default(),
            name: id.0,
            version: id.1,
            repeated,
            dependencies,
        }
    }
}
