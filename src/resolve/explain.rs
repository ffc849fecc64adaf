//! Conflicts in words: pubgrub's derivation tree rendered as sentences that
//! name packages and requirements the way a person wrote them, with the
//! bucket machinery and the `-0` bounds out of sight.
//!
//! pubgrub's reporter decides the order of the sentences; this formatter
//! decides their words. Sets of a dependent's versions are simplified
//! against the versions that exist (`1.0.0 or 1.0.1 or 1.1.0` of a package
//! that has nothing else in 1.x reads `^1`), a dependency's version set is
//! shown as the requirement it came from, and a missing package is named
//! with the package that requires it.

use std::collections::HashMap;
use std::sync::Arc;

use pubgrub::{DefaultStringReporter, DerivationTree, Derived, External, Map, ReportFormatter, Reporter, Term};
use semver::Version;

use super::provider::{Feature, IndexProvider, Pkg, Unusable, read_requirement};
use super::ranges::{VersionSet, describe};
use crate::format::features::FeatureAsk;

type Tree = DerivationTree<Pkg, VersionSet, Unusable>;
type Ext = External<Pkg, VersionSet, Unusable>;
type Terms = Map<Pkg, Term<VersionSet>>;

/// The explanation of a failed resolution, one sentence per line.
pub fn explain(provider: &IndexProvider<'_>, tree: &Tree) -> String {
    let words = Words {
        provider,
        index: provider.describe_source(),
        requirements: provider.requirement_texts(),
    };
    let trimmed = merge_same_reasons(&words.without_gaps(tree));
    DefaultStringReporter::report_with_formatter(&trimmed, &words)
}

/// The tree with each run of "version v of P cannot be used for reason R"
/// facts (pubgrub rules versions out one by one: a feature no version has
/// would take a line per version) folded into one fact over all of them.
fn merge_same_reasons(tree: &Tree) -> Tree {
    let DerivationTree::Derived(derived) = tree else {
        return tree.clone();
    };
    let cause1 = merge_same_reasons(&derived.cause1);
    let cause2 = merge_same_reasons(&derived.cause2);
    if let (
        DerivationTree::External(External::Custom(p1, _, why1)),
        DerivationTree::External(External::Custom(p2, _, why2)),
    ) = (&cause1, &cause2)
        && p1 == p2
        && why1 == why2
        && let [(package, Term::Positive(set))] = derived.terms.iter().collect::<Vec<_>>()[..]
        && package == p1
    {
        return DerivationTree::External(External::Custom(package.clone(), set.clone(), why1.clone()));
    }
    DerivationTree::Derived(Derived {
        terms: derived.terms.clone(),
        shared_id: derived.shared_id,
        cause1: Arc::new(cause1),
        cause2: Arc::new(cause2),
    })
}

struct Words<'p, 'a> {
    provider: &'p IndexProvider<'a>,
    index: String,
    requirements: HashMap<(Pkg, VersionSet), String>,
}

impl Words<'_, '_> {
    /// The tree without the "no version in the gaps between existing
    /// versions" facts pubgrub records while it walks a package's versions.
    /// Like pubgrub's `collapse_no_versions`, but it keeps the facts that
    /// matter — that nothing at all matches a requirement — and also folds
    /// gaps into derived facts. A gap only widens a set by versions that do
    /// not exist, which the simplified descriptions do not show anyway.
    fn without_gaps(&self, tree: &Tree) -> Tree {
        let DerivationTree::Derived(derived) = tree else {
            return tree.clone();
        };
        let gap_and_other = match (&*derived.cause1, &*derived.cause2) {
            (DerivationTree::External(External::NoVersions(p, gap)), other)
            | (other, DerivationTree::External(External::NoVersions(p, gap))) => Some((p, gap, other)),
            _ => None,
        };
        if let Some((package, gap, other)) = gap_and_other
            && self.is_gap(package, gap, other)
        {
            return self.without_gaps(other);
        }
        DerivationTree::Derived(Derived {
            terms: derived.terms.clone(),
            shared_id: derived.shared_id,
            cause1: Arc::new(self.without_gaps(&derived.cause1)),
            cause2: Arc::new(self.without_gaps(&derived.cause2)),
        })
    }

    /// Whether "no version of `package` in `gap`", combined with `other`,
    /// only narrows or widens `other` by versions that do not exist.
    fn is_gap(&self, package: &Pkg, gap: &VersionSet, other: &Tree) -> bool {
        match term_of(other, package) {
            // `other` forbids some versions of the package: adding a gap
            // to them changes nothing that exists.
            Some(Term::Positive(_)) => true,
            // `other` requires the package within a set: the gap is only a
            // gap if versions remain there.
            Some(Term::Negative(required)) => self.has_versions_in(package, &required.intersection(&gap.complement())),
            None => false,
        }
    }

    /// Whether some usable version of `package` lies in `set`.
    fn has_versions_in(&self, package: &Pkg, set: &VersionSet) -> bool {
        match package {
            Pkg::Bucket { name, bucket } | Pkg::Feature { name, bucket, .. } => self
                .provider
                .loaded(name)
                .in_bucket(*bucket)
                .iter()
                .any(|c| set.contains(&c.version)),
            Pkg::Choice { .. } => self
                .provider
                .choice(package)
                .is_some_and(|choice| choice.buckets.iter().any(|(b, _)| set.contains(&b.as_version()))),
            Pkg::Links { .. } => !self.claimants(set).is_empty(),
            Pkg::Root | Pkg::Missing { .. } | Pkg::Foreign { .. } => false,
        }
    }

    /// The packages (by bucket) a set of a `Pkg::Links`'s versions stands for.
    fn claimants(&self, set: &VersionSet) -> Vec<String> {
        let mut claimants = Vec::new();
        for at in 0.. {
            let version = Version::new(at, 0, 0);
            let Some((name, bucket)) = self.provider.claimant(&version) else {
                break;
            };
            if set.contains(&version) {
                claimants.push(format!("`{name}` {bucket}"));
            }
        }
        claimants
    }

    /// A package at some of its versions: "`x ^1.2`", "the project".
    fn subject(&self, package: &Pkg, set: &VersionSet) -> String {
        match package {
            Pkg::Root => "the project".into(),
            Pkg::Bucket { name, bucket } => {
                let versions = self.provider.loaded(name);
                let existing = versions.in_bucket(*bucket).iter().map(|c| &c.version);
                let mut inside = existing.clone().filter(|v| set.contains(v));
                if let (Some(only), None) = (inside.next(), inside.next()) {
                    return format!("`{name} {only}`");
                }
                let shown = set.simplify(existing).intersection(&bucket.range());
                format!("`{name} {}`", describe(&shown))
            }
            Pkg::Feature { name, bucket, feature } => {
                let base = Pkg::bucket_of(name, *bucket);
                format!("{}{}", self.subject(&base, set), with_feature(feature))
            }
            Pkg::Choice { name, requirement, .. } => {
                let Some(choice) = self.provider.choice(package) else {
                    return format!("`{name} {requirement}`");
                };
                let open: Vec<String> = choice
                    .buckets
                    .iter()
                    .filter(|(b, _)| set.contains(&b.as_version()))
                    .map(|(b, _)| b.to_string())
                    .collect();
                if open.is_empty() || open.len() == choice.buckets.len() {
                    format!("`{name} {requirement}`")
                } else {
                    format!("`{name} {requirement}` within {}", open.join(" or "))
                }
            }
            Pkg::Missing { name } => format!("`{name}`"),
            Pkg::Foreign { name, registry } => format!("`{name}` from {registry}"),
            Pkg::Links { library } => {
                format!(
                    "the native library `{library}` (`links`) linked by {}",
                    join_or(&self.claimants(set))
                )
            }
        }
    }

    /// The versions a dependency accepts, shown as the requirement it came
    /// from when there is one.
    fn requirement(&self, package: &Pkg, set: &VersionSet) -> String {
        let (name, key, features) = match package {
            Pkg::Bucket { name, .. } | Pkg::Missing { name } => (name, package.clone(), String::new()),
            Pkg::Feature { name, bucket, feature } => {
                let base = Pkg::bucket_of(name, *bucket);
                (name, base, with_feature(feature))
            }
            Pkg::Choice {
                name, requirement, ask, ..
            } => {
                // Requirement texts are recorded before a dependent asks
                // features of them.
                let key = Pkg::Choice {
                    name: name.clone(),
                    requirement: requirement.clone(),
                    ask: Default::default(),
                    dependent: None,
                };
                (name, key, with_features(ask))
            }
            Pkg::Root | Pkg::Foreign { .. } | Pkg::Links { .. } => return self.subject(package, set),
        };
        match self.requirements.get(&(key, set.clone())) {
            Some(requirement) => format!("`{name} {requirement}`{features}"),
            None => self.subject(package, set),
        }
    }

    fn external(&self, external: &Ext) -> String {
        match external {
            External::NotRoot(..) => "the project is being resolved".into(),
            External::NoVersions(package, set) => self.no_versions(package, set),
            External::FromDependencyOf(Pkg::Root, _, dep, dep_set) => {
                format!("the project depends on {}", self.requirement(dep, dep_set))
            }
            External::FromDependencyOf(
                choice @ Pkg::Choice { ask, dependent, .. },
                set,
                dep @ Pkg::Choice { .. },
                dep_set,
            ) => {
                let who = dependent
                    .as_ref()
                    .map_or_else(|| "the project".to_owned(), |dependent| format!("`{}`", dependent.0));
                format!(
                    "{}{} is the one version {who} depends on as {}",
                    self.subject(choice, set),
                    with_features(ask),
                    self.subject(dep, dep_set)
                )
            }
            External::FromDependencyOf(choice @ (Pkg::Choice { .. } | Pkg::Feature { .. }), set, dep, dep_set) => {
                format!("{} means {}", self.subject(choice, set), self.subject(dep, dep_set))
            }
            External::FromDependencyOf(package, set, Pkg::Links { library }, _) => {
                format!("{} links the native library `{library}`", self.subject(package, set))
            }
            External::FromDependencyOf(package, set, dep, dep_set) => {
                format!(
                    "{} depends on {}",
                    self.subject(package, set),
                    self.requirement(dep, dep_set)
                )
            }
            External::Custom(package, set, why) => format!("{} cannot be used: {why}", self.subject(package, set)),
        }
    }

    fn no_versions(&self, package: &Pkg, set: &VersionSet) -> String {
        match package {
            Pkg::Root => "the project cannot be resolved".into(),
            Pkg::Missing { name } => format!("package `{name}` does not exist in {}", self.index),
            Pkg::Foreign { name, registry } => foreign(name, registry, None),
            Pkg::Bucket { name, bucket } => {
                let shown = match self.requirements.get(&(package.clone(), set.clone())) {
                    Some(requirement) => requirement.clone(),
                    None => describe(&set.intersection(&bucket.range())),
                };
                let yanked = self.yanked(name, |v| set.contains(v));
                format!("no version of `{name}` matches {shown}{yanked}")
            }
            Pkg::Feature { name, bucket, feature } => {
                let base = Pkg::bucket_of(name, *bucket);
                format!("{}{}", self.no_versions(&base, set), with_feature(feature))
            }
            Pkg::Links { library } => format!("no package may link the native library `{library}` here"),
            Pkg::Choice { name, requirement, .. } => {
                let yanked = match read_requirement(requirement) {
                    Ok((req, _)) => self.yanked(name, |v| req.matches(v)),
                    Err(_) => String::new(),
                };
                format!("no version of `{name}` matches {requirement}{yanked}")
            }
        }
    }

    /// " (1.2.3 is yanked)" when yanked versions would otherwise have fit.
    fn yanked(&self, name: &str, fits: impl Fn(&Version) -> bool) -> String {
        const SHOWN: usize = 3;
        let versions = self.provider.loaded(name);
        let yanked: Vec<String> = versions
            .yanked
            .iter()
            .rev()
            .filter(|v| fits(v))
            .map(Version::to_string)
            .collect();
        match yanked.as_slice() {
            [] => String::new(),
            [one] => format!(" ({one} is yanked)"),
            many if many.len() <= SHOWN => format!(" ({} are yanked)", join_and(many)),
            many => format!(
                " ({}, … {} yanked versions in all)",
                many[..SHOWN].join(", "),
                many.len()
            ),
        }
    }

    /// Two facts in one clause: a missing package with what requires it,
    /// two requirements of the project together, or simply "A and B".
    fn both(&self, a: &Ext, b: &Ext) -> String {
        if let Some(cause) = self.unavailable_with_dependent(a, b) {
            return cause;
        }
        if let (
            External::FromDependencyOf(a, set_a, Pkg::Links { library }, _),
            External::FromDependencyOf(b, set_b, Pkg::Links { library: other }, _),
        ) = (a, b)
            && library == other
        {
            return format!(
                "{} and {} both link the native library `{library}`, which only one package may link",
                self.subject(a, set_a),
                self.subject(b, set_b)
            );
        }
        if let (
            External::FromDependencyOf(Pkg::Root, _, dep_a, set_a),
            External::FromDependencyOf(Pkg::Root, _, dep_b, set_b),
        ) = (a, b)
        {
            return format!(
                "the project depends on {} and {}",
                self.requirement(dep_a, set_a),
                self.requirement(dep_b, set_b)
            );
        }
        format!("{} and {}", self.external(a), self.external(b))
    }

    /// A missing or foreign package named together with what requires it.
    fn unavailable_with_dependent(&self, a: &Ext, b: &Ext) -> Option<String> {
        let ((External::NoVersions(missing, _), External::FromDependencyOf(dependent, set, dep, _))
        | (External::FromDependencyOf(dependent, set, dep, _), External::NoVersions(missing, _))) = (a, b)
        else {
            return None;
        };
        if missing != dep {
            return None;
        }
        let required_by = self.subject(dependent, set);
        match missing {
            Pkg::Missing { name } => Some(format!(
                "package `{name}` (required by {required_by}) does not exist in {}",
                self.index
            )),
            Pkg::Foreign { name, registry } => Some(foreign(name, registry, Some(&required_by))),
            _ => None,
        }
    }

    fn terms(&self, terms: &Terms) -> String {
        let terms: Vec<(&Pkg, &Term<VersionSet>)> = terms.iter().collect();
        match terms.as_slice() {
            [] => "no choice of versions works".into(),
            [(Pkg::Root, Term::Positive(_))] => "the project's requirements cannot be met".into(),
            [(package, Term::Positive(set))] => format!("{} cannot be used", self.subject(package, set)),
            [(package, Term::Negative(set))] => format!("{} is required", self.requirement(package, set)),
            [(package, Term::Positive(set)), (dep, Term::Negative(dep_set))]
            | [(dep, Term::Negative(dep_set)), (package, Term::Positive(set))] => {
                format!(
                    "{} requires {}",
                    self.subject(package, set),
                    self.requirement(dep, dep_set)
                )
            }
            many => self.several_terms(many),
        }
    }

    /// "`a ^1` and `b 2.0.0` together require `x ^1` or `y ^2`": the
    /// packages of positive terms cannot be used unless one of the negative
    /// terms' requirements is met. The project is always there, so it is
    /// only named when nothing else is.
    fn several_terms(&self, terms: &[(&Pkg, &Term<VersionSet>)]) -> String {
        let mut used = Vec::new();
        let mut needed = Vec::new();
        for (package, term) in terms {
            match term {
                Term::Positive(set) => used.push((*package, set)),
                Term::Negative(set) => needed.push(self.requirement(package, set)),
            }
        }
        if used.len() > 1 {
            used.retain(|(package, _)| **package != Pkg::Root);
        }
        let used: Vec<String> = used.into_iter().map(|(p, set)| self.subject(p, set)).collect();
        match (used.len(), needed.is_empty()) {
            (_, true) => format!("{} cannot be used together", join_and(&used)),
            (0, false) => format!("{} is required", needed.join(" or ")),
            (1, false) => format!("{} requires {}", used[0], needed.join(" or ")),
            (_, false) => format!("{} together require {}", join_and(&used), needed.join(" or ")),
        }
    }
}

/// The term a derivation holds about `package`.
fn term_of(tree: &Tree, package: &Pkg) -> Option<Term<VersionSet>> {
    match tree {
        DerivationTree::Derived(derived) => derived.terms.get(package).cloned(),
        DerivationTree::External(external) => match external {
            External::FromDependencyOf(p, set, _, _) if p == package => Some(Term::Positive(set.clone())),
            External::FromDependencyOf(_, _, dep, dep_set) if dep == package => Some(Term::Negative(dep_set.clone())),
            External::NoVersions(p, set) | External::Custom(p, set, _) if p == package => {
                Some(Term::Positive(set.clone()))
            }
            _ => None,
        },
    }
}

fn foreign(name: &str, registry: &str, required_by: Option<&str>) -> String {
    let required_by = required_by.map(|r| format!(" (required by {r})")).unwrap_or_default();
    format!("`{name}`{required_by} comes from another registry ({registry}), which this resolver does not support")
}

/// " with feature `f`", " with its default features".
fn with_feature(feature: &Feature) -> String {
    match feature {
        Feature::Default => " with its default features".into(),
        Feature::Named(name) => format!(" with feature `{name}`"),
    }
}

/// What an ask adds to a requirement: nothing for the default features.
fn with_features(ask: &FeatureAsk) -> String {
    let named: Vec<String> = ask.features.iter().map(|f| format!("`{f}`")).collect();
    let default = if ask.default_features {
        ""
    } else {
        " without default features"
    };
    match named.as_slice() {
        [] => default.into(),
        [one] => format!(" with feature {one}{default}"),
        many => format!(" with features {}{default}", join_and(many)),
    }
}

fn join_or(parts: &[String]) -> String {
    match parts {
        [] => "no package".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

impl ReportFormatter<Pkg, VersionSet, Unusable> for Words<'_, '_> {
    type Output = String;

    fn format_external(&self, external: &Ext) -> String {
        self.external(external)
    }

    fn format_terms(&self, terms: &Terms) -> String {
        self.terms(terms)
    }

    fn explain_both_external(&self, external1: &Ext, external2: &Ext, current_terms: &Terms) -> String {
        format!(
            "Because {}, {}.",
            self.both(external1, external2),
            self.terms(current_terms)
        )
    }

    fn explain_both_ref(
        &self,
        ref_id1: usize,
        derived1: &Derived<Pkg, VersionSet, Unusable>,
        ref_id2: usize,
        derived2: &Derived<Pkg, VersionSet, Unusable>,
        current_terms: &Terms,
    ) -> String {
        format!(
            "Because {} ({ref_id1}) and {} ({ref_id2}), {}.",
            self.terms(&derived1.terms),
            self.terms(&derived2.terms),
            self.terms(current_terms)
        )
    }

    fn explain_ref_and_external(
        &self,
        ref_id: usize,
        derived: &Derived<Pkg, VersionSet, Unusable>,
        external: &Ext,
        current_terms: &Terms,
    ) -> String {
        format!(
            "Because {} ({ref_id}) and {}, {}.",
            self.terms(&derived.terms),
            self.external(external),
            self.terms(current_terms)
        )
    }

    fn and_explain_external(&self, external: &Ext, current_terms: &Terms) -> String {
        format!(
            "And because {}, {}.",
            self.external(external),
            self.terms(current_terms)
        )
    }

    fn and_explain_ref(
        &self,
        ref_id: usize,
        derived: &Derived<Pkg, VersionSet, Unusable>,
        current_terms: &Terms,
    ) -> String {
        format!(
            "And because {} ({ref_id}), {}.",
            self.terms(&derived.terms),
            self.terms(current_terms)
        )
    }

    fn and_explain_prior_and_external(&self, prior_external: &Ext, external: &Ext, current_terms: &Terms) -> String {
        format!(
            "And because {}, {}.",
            self.both(prior_external, external),
            self.terms(current_terms)
        )
    }
}
