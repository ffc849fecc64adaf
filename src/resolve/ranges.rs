//! Requirements as version sets, compatibility buckets, and the tidy text
//! of a version set for messages.
//!
//! pubgrub reasons about [`Ranges`] — unions of intervals in semver order —
//! while Cargo's requirements have one rule intervals cannot express: a
//! pre-release matches only when some comparator names that exact
//! `major.minor.patch` with a pre-release. So a requirement becomes:
//!
//! 1. the intersection of its comparators' intervals, built so that it is
//!    *exactly* the requirement on release versions (any build metadata) and
//!    a superset of it on pre-releases — bounds of the form `X.Y.Z-0` (the
//!    lowest version of a triple) exclude a triple's pre-releases wherever no
//!    comparator names that triple, so `<2.0.0` stops before `2.0.0-alpha`;
//! 2. minus the pre-releases that exist in the index and that
//!    `VersionReq::matches` (the final authority) rejects
//!    ([`exclude_unmatched_prereleases`]).
//!
//! Build metadata needs care because semver's `Ord` compares it: every bound
//! here has empty build metadata, inclusive lower bounds and exclusive upper
//! bounds, and `<= v` / `> v` use the successor of `v` (`1.2.4-0` after
//! `1.2.3`, `1.2.3-alpha.0` after `1.2.3-alpha`), so every build of a version
//! lands on the same side of a bound as the version itself.
//!
//! ```text
//! ^1.2          [1.2.0, 2.0.0-0)
//! >=1.0, <2.0.0 [1.0.0, 2.0.0-0)
//! <=1.2.3       [*, 1.2.4-0)
//! >1.2.3-alpha  [1.2.3-alpha.0, *)
//! ```

use std::fmt;
use std::ops::Bound;

use pubgrub::Ranges;
use semver::{BuildMetadata, Comparator, Op, Prerelease, Version, VersionReq};

/// A set of versions, as pubgrub sees it.
pub type VersionSet = Ranges<Version>;

/// A semver compatibility bucket: versions in one bucket are
/// semver-compatible, so a resolution holds at most one version per bucket.
/// `1.x.y` share `Major(1)`, `0.3.x` share `Minor(3)`, `0.0.4` is `Patch(4)`.
/// Buckets are ordered like their versions (the variants are in that order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bucket {
    /// `0.0.p`.
    Patch(u64),
    /// `0.m.x` for m ≥ 1.
    Minor(u64),
    /// `M.x.y` for M ≥ 1.
    Major(u64),
}

impl Bucket {
    /// The bucket of a version (its pre-releases included: `2.0.0-rc.1` is a 2.x).
    pub fn of(version: &Version) -> Bucket {
        match (version.major, version.minor) {
            (0, 0) => Bucket::Patch(version.patch),
            (0, minor) => Bucket::Minor(minor),
            (major, _) => Bucket::Major(major),
        }
    }

    /// Every version of the bucket: from its lowest pre-release up to the
    /// next bucket's.
    pub fn range(self) -> VersionSet {
        let (low, high) = match self {
            Bucket::Major(m) => (lowest(m, 0, 0), lowest(m.saturating_add(1), 0, 0)),
            Bucket::Minor(m) => (lowest(0, m, 0), lowest(0, m.saturating_add(1), 0)),
            Bucket::Patch(p) => (lowest(0, 0, p), lowest(0, 0, p.saturating_add(1))),
        };
        Ranges::between(low, high)
    }

    /// A version standing for the bucket, used as the "version" of the
    /// virtual package that chooses between buckets (`Bucket::of` gives the
    /// bucket back).
    pub fn as_version(self) -> Version {
        match self {
            Bucket::Major(m) => Version::new(m, 0, 0),
            Bucket::Minor(m) => Version::new(0, m, 0),
            Bucket::Patch(p) => Version::new(0, 0, p),
        }
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bucket::Major(m) => write!(f, "{m}.x"),
            Bucket::Minor(m) => write!(f, "0.{m}.x"),
            Bucket::Patch(p) => write!(f, "0.0.{p}"),
        }
    }
}

/// The version set of a requirement before pre-release exclusion (see the
/// module docs): exact on releases, a superset on pre-releases. `None` for a
/// comparator operator this semver release added after this code was
/// written; the caller treats such a requirement as unreadable.
pub fn requirement_ranges(req: &VersionReq) -> Option<VersionSet> {
    let named: Vec<(u64, u64, u64)> = req
        .comparators
        .iter()
        .filter(|c| !c.pre.is_empty())
        .map(|c| (c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0)))
        .collect();
    let mut set = VersionSet::full();
    for comparator in &req.comparators {
        let (low, high) = comparator_bounds(comparator)?;
        let low = low.map(|v| skip_unnamed_prereleases_above(v, &named));
        let high = high.map(|v| skip_unnamed_prereleases_below(v, &named));
        set = set.intersection(&interval(low, high));
    }
    Some(set)
}

/// Removes from `set` every version of `prereleases` that `req` does not
/// match, so that `set.contains(v) == req.matches(v)` for every version the
/// index holds (release versions already agree by construction).
pub fn exclude_unmatched_prereleases<'a>(
    mut set: VersionSet,
    req: &VersionReq,
    prereleases: impl IntoIterator<Item = &'a Version>,
) -> VersionSet {
    for version in prereleases {
        if set.contains(version) && !req.matches(version) {
            set = set.intersection(&VersionSet::singleton(version.clone()).complement());
        }
    }
    set
}

/// The inclusive lower and exclusive upper bound of the versions one
/// comparator accepts, ignoring the pre-release rule (semver's `matches_impl`).
fn comparator_bounds(c: &Comparator) -> Option<(Option<Version>, Option<Version>)> {
    let m = c.major;
    let next_major = m.saturating_add(1);
    Some(match (c.op, c.minor, c.patch) {
        (Op::Exact | Op::Wildcard | Op::Tilde, None, _) => (Some(release(m, 0, 0)), Some(lowest(next_major, 0, 0))),
        (Op::Exact | Op::Wildcard | Op::Tilde, Some(n), None) => {
            (Some(release(m, n, 0)), Some(lowest(m, n.saturating_add(1), 0)))
        }
        (Op::Exact | Op::Wildcard, Some(n), Some(p)) => {
            let v = named(c, n, p);
            let after = successor(&v);
            (Some(v), Some(after))
        }
        (Op::Tilde, Some(n), Some(p)) => (Some(named(c, n, p)), Some(lowest(m, n.saturating_add(1), 0))),
        (Op::Greater, None, _) => (Some(lowest(next_major, 0, 0)), None),
        (Op::Greater, Some(n), None) => (Some(lowest(m, n.saturating_add(1), 0)), None),
        (Op::Greater, Some(n), Some(p)) => (Some(successor(&named(c, n, p))), None),
        (Op::GreaterEq, None, _) => (Some(release(m, 0, 0)), None),
        (Op::GreaterEq, Some(n), None) => (Some(release(m, n, 0)), None),
        (Op::GreaterEq, Some(n), Some(p)) => (Some(named(c, n, p)), None),
        (Op::Less, None, _) => (None, Some(lowest(m, 0, 0))),
        (Op::Less, Some(n), None) => (None, Some(lowest(m, n, 0))),
        (Op::Less, Some(n), Some(p)) => (None, Some(named(c, n, p))),
        (Op::LessEq, None, _) => (None, Some(lowest(next_major, 0, 0))),
        (Op::LessEq, Some(n), None) => (None, Some(lowest(m, n.saturating_add(1), 0))),
        (Op::LessEq, Some(n), Some(p)) => (None, Some(successor(&named(c, n, p)))),
        (Op::Caret, None, _) => (Some(lowest(m, 0, 0)), Some(lowest(next_major, 0, 0))),
        (Op::Caret, Some(n), None) if m > 0 => (Some(lowest(m, n, 0)), Some(lowest(next_major, 0, 0))),
        (Op::Caret, Some(n), None) => (Some(lowest(0, n, 0)), Some(lowest(0, n.saturating_add(1), 0))),
        (Op::Caret, Some(n), Some(p)) => {
            let high = match (m, n) {
                (0, 0) => lowest(0, 0, p.saturating_add(1)),
                (0, n) => lowest(0, n.saturating_add(1), 0),
                (m, _) => lowest(m.saturating_add(1), 0, 0),
            };
            (Some(named(c, n, p)), Some(high))
        }
        _ => return None,
    })
}

fn interval(low: Option<Version>, high: Option<Version>) -> VersionSet {
    match (low, high) {
        (None, None) => VersionSet::full(),
        (Some(low), None) => VersionSet::higher_than(low),
        (None, Some(high)) => VersionSet::strictly_lower_than(high),
        (Some(low), Some(high)) if low < high => VersionSet::between(low, high),
        (Some(_), Some(_)) => VersionSet::empty(),
    }
}

/// A lower bound at `X.Y.Z-0` admits `X.Y.Z`'s pre-releases; unless a
/// comparator names that triple, none of them can match, so start at `X.Y.Z`.
fn skip_unnamed_prereleases_above(bound: Version, named: &[(u64, u64, u64)]) -> Version {
    if is_lowest(&bound) && !named.contains(&triple(&bound)) {
        release(bound.major, bound.minor, bound.patch)
    } else {
        bound
    }
}

/// An exclusive upper bound at `X.Y.Z` admits `X.Y.Z`'s pre-releases; unless
/// a comparator names that triple, stop before them, at `X.Y.Z-0`.
fn skip_unnamed_prereleases_below(bound: Version, named: &[(u64, u64, u64)]) -> Version {
    if bound.pre.is_empty() && !named.contains(&triple(&bound)) {
        lowest(bound.major, bound.minor, bound.patch)
    } else {
        bound
    }
}

fn triple(v: &Version) -> (u64, u64, u64) {
    (v.major, v.minor, v.patch)
}

/// The release `M.m.p`, without pre-release or build.
fn release(major: u64, minor: u64, patch: u64) -> Version {
    Version::new(major, minor, patch)
}

/// `M.m.p-0`: the lowest version of a triple (no pre-release sorts below `0`).
fn lowest(major: u64, minor: u64, patch: u64) -> Version {
    Version {
        pre: Prerelease::new("0").expect("`0` is a valid pre-release"),
        ..Version::new(major, minor, patch)
    }
}

fn is_lowest(v: &Version) -> bool {
    v.pre.as_str() == "0" && v.build.is_empty()
}

/// The comparator's own version, with its pre-release.
fn named(c: &Comparator, minor: u64, patch: u64) -> Version {
    Version {
        major: c.major,
        minor,
        patch,
        pre: c.pre.clone(),
        build: BuildMetadata::EMPTY,
    }
}

/// The smallest version above `v` and all of `v`'s builds: `1.2.4-0` after
/// `1.2.3`, and `1.2.3-alpha.0` after `1.2.3-alpha` (a numeric identifier is
/// the smallest addition, and semver forbids leading zeros, so nothing sorts
/// between).
fn successor(v: &Version) -> Version {
    if v.pre.is_empty() {
        lowest(v.major, v.minor, v.patch.saturating_add(1))
    } else {
        Version {
            pre: Prerelease::new(&format!("{}.0", v.pre)).expect("appending `.0` keeps a pre-release valid"),
            ..v.clone()
        }
    }
}

/// A version set as a person would write it: `^1.2`, `>=1.0.0, <1.5.0`,
/// `1.2.3`, `*`, several ranges joined by "or". The `-0` bounds and the holes
/// where unmatched pre-releases were cut out are hidden.
pub fn describe(set: &VersionSet) -> String {
    let segments = merge_prerelease_holes(set);
    if segments.is_empty() {
        return "no version".into();
    }
    segments
        .iter()
        .map(|(low, high)| describe_segment(low, high))
        .collect::<Vec<_>>()
        .join(" or ")
}

type Segment = (Bound<Version>, Bound<Version>);

/// Joins segments separated only by a single excluded pre-release.
fn merge_prerelease_holes(set: &VersionSet) -> Vec<Segment> {
    let mut merged: Vec<Segment> = Vec::new();
    for (low, high) in set.iter() {
        if let (Some(last), Bound::Excluded(v)) = (merged.last_mut(), low)
            && last.1 == Bound::Excluded(v.clone())
            && !v.pre.is_empty()
        {
            last.1 = high.clone();
            continue;
        }
        merged.push((low.clone(), high.clone()));
    }
    merged
}

fn describe_segment(low: &Bound<Version>, high: &Bound<Version>) -> String {
    let low = low.as_ref().map(plain);
    let high = high.as_ref().map(plain);
    match (&low, &high) {
        (Bound::Unbounded, Bound::Unbounded) => "*".into(),
        (Bound::Included(a), Bound::Included(b)) if a == b => a.to_string(),
        (Bound::Included(a), Bound::Excluded(b)) => {
            if *b == plain(&successor(a)) {
                return a.to_string();
            }
            match caret_form(a, b) {
                Some(caret) => caret,
                None => format!(">={a}, <{b}"),
            }
        }
        _ => [lower_text(&low), upper_text(&high)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn lower_text(bound: &Bound<Version>) -> Option<String> {
    match bound {
        Bound::Included(v) => Some(format!(">={v}")),
        Bound::Excluded(v) => Some(format!(">{v}")),
        Bound::Unbounded => None,
    }
}

fn upper_text(bound: &Bound<Version>) -> Option<String> {
    match bound {
        Bound::Included(v) => Some(format!("<={v}")),
        Bound::Excluded(v) => Some(format!("<{v}")),
        Bound::Unbounded => None,
    }
}

/// `X.Y.Z-0` shown as `X.Y.Z`: the `-0` only says "before the pre-releases".
fn plain(v: &Version) -> Version {
    if is_lowest(v) {
        release(v.major, v.minor, v.patch)
    } else {
        v.clone()
    }
}

/// The shortest caret requirement (`^1`, `^1.2`, `^1.2.3`) covering exactly
/// `[low, high)`, if there is one.
fn caret_form(low: &Version, high: &Version) -> Option<String> {
    if !low.pre.is_empty() || !low.build.is_empty() {
        return None;
    }
    let forms = [
        (low.minor == 0 && low.patch == 0).then_some((None, None)),
        (low.patch == 0).then_some((Some(low.minor), None)),
        Some((Some(low.minor), Some(low.patch))),
    ];
    forms.into_iter().flatten().find_map(|(minor, patch)| {
        let caret = Comparator {
            op: Op::Caret,
            major: low.major,
            minor,
            patch,
            pre: Prerelease::EMPTY,
        };
        let (Some(a), Some(b)) = comparator_bounds(&caret)? else {
            return None;
        };
        (plain(&a) == *low && plain(&b) == *high).then(|| caret.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn ranges(text: &str) -> VersionSet {
        requirement_ranges(&VersionReq::parse(text).unwrap()).unwrap()
    }

    #[test]
    fn upper_bounds_stop_before_prereleases() {
        let below_two = ranges("<2.0.0");
        assert!(below_two.contains(&v("1.9.9")));
        assert!(!below_two.contains(&v("2.0.0-alpha")));
        let caret = ranges("^1.2");
        assert!(!caret.contains(&v("2.0.0-alpha")));
        assert!(!caret.contains(&v("1.2.0-rc.1")));
        assert!(caret.contains(&v("1.2.0+build.7")));
    }

    #[test]
    fn a_named_prerelease_keeps_its_triple_open() {
        // `2.0.0-beta` matches both comparators and is named by the second.
        let req = VersionReq::parse("<2.0.0, >=2.0.0-alpha").unwrap();
        let set = requirement_ranges(&req).unwrap();
        assert!(req.matches(&v("2.0.0-beta")));
        assert!(set.contains(&v("2.0.0-beta")));
        assert!(!set.contains(&v("2.0.0")));
    }

    #[test]
    fn build_metadata_falls_on_its_versions_side() {
        assert!(ranges("<=1.2.3").contains(&v("1.2.3+zstd.1")));
        assert!(!ranges(">1.2.3").contains(&v("1.2.3+zstd.1")));
        assert!(ranges("<=1.2.3-beta").contains(&v("1.2.3-beta+b")));
        assert!(!ranges(">1.2.3-beta").contains(&v("1.2.3-beta+b")));
        assert!(ranges(">1.2.3-beta").contains(&v("1.2.3-beta.0")));
        assert!(ranges("=1.2.3").contains(&v("1.2.3+b")));
    }

    #[test]
    fn unmatched_prereleases_are_cut_out() {
        let req = VersionReq::parse("^1.0").unwrap();
        let existing = [v("1.5.0-beta"), v("1.0.0")];
        let set = exclude_unmatched_prereleases(requirement_ranges(&req).unwrap(), &req, &existing);
        assert!(!set.contains(&v("1.5.0-beta")));
        assert!(set.contains(&v("1.4.0")) && set.contains(&v("1.6.0")));
        assert_eq!(describe(&set), "^1");
    }

    #[test]
    fn buckets_follow_cargo_compatibility() {
        assert_eq!(Bucket::of(&v("1.9.3")), Bucket::Major(1));
        assert_eq!(Bucket::of(&v("0.3.9")), Bucket::Minor(3));
        assert_eq!(Bucket::of(&v("0.0.4")), Bucket::Patch(4));
        assert_eq!(Bucket::of(&v("2.0.0-rc.1")), Bucket::Major(2));
        assert!(Bucket::Major(2).range().contains(&v("2.0.0-rc.1")));
        assert!(!Bucket::Major(1).range().contains(&v("2.0.0-rc.1")));
        for bucket in [Bucket::Major(3), Bucket::Minor(2), Bucket::Patch(7)] {
            assert_eq!(Bucket::of(&bucket.as_version()), bucket);
        }
    }

    proptest! {
        /// Buckets sort like their versions, and their ranges partition the versions.
        #[test]
        fn buckets_partition_versions_in_order(a in arb_version(), b in arb_version()) {
            if a <= b {
                prop_assert!(Bucket::of(&a) <= Bucket::of(&b));
            }
            prop_assert!(Bucket::of(&a).range().contains(&a));
            prop_assert_eq!(Bucket::of(&b).range().contains(&a), Bucket::of(&a) == Bucket::of(&b));
        }
    }

    #[test]
    fn descriptions_read_like_requirements() {
        for (req, shown) in [
            ("^1.2", "^1.2"),
            (">=1.2.0, <2.0.0", "^1.2"),
            ("^0.3.1", "^0.3.1"),
            ("~1.2.3", ">=1.2.3, <1.3.0"),
            (">=1.0, <1.5", ">=1.0.0, <1.5.0"),
            ("=1.2.3", "1.2.3"),
            ("*", "*"),
            (">=0.5", ">=0.5.0"),
            ("<3", "<3.0.0"),
            ("<=1.2.3", "<1.2.4"),
        ] {
            assert_eq!(describe(&ranges(req)), shown, "{req}");
        }
        assert_eq!(describe(&Bucket::Major(1).range()), "^1");
        assert_eq!(describe(&Bucket::Minor(3).range()), "^0.3");
        let two = ranges("=1.0.0").union(&ranges("=1.2.0"));
        assert_eq!(describe(&two), "1.0.0 or 1.2.0");
        assert_eq!(describe(&VersionSet::empty()), "no version");
    }

    fn arb_version() -> impl Strategy<Value = Version> {
        let pre = prop_oneof![
            Just(""),
            Just("0"),
            Just("alpha"),
            Just("alpha.0"),
            Just("beta.2"),
            Just("rc.1")
        ];
        let build = prop_oneof![3 => Just(""), 1 => Just("b.1")];
        (0u64..3, 0u64..3, 0u64..3, pre, build).prop_map(|(major, minor, patch, pre, build)| Version {
            major,
            minor,
            patch,
            pre: Prerelease::new(pre).unwrap(),
            build: BuildMetadata::new(build).unwrap(),
        })
    }

    fn arb_comparator() -> impl Strategy<Value = String> {
        let op = prop_oneof![
            Just("="),
            Just(">"),
            Just(">="),
            Just("<"),
            Just("<="),
            Just("~"),
            Just("^"),
            Just("")
        ];
        let pre = prop_oneof![3 => Just(""), 1 => Just("-alpha"), 1 => Just("-beta.2")];
        let shape = prop_oneof![
            (0u64..3).prop_map(|m| format!("{m}")),
            (0u64..3, 0u64..3).prop_map(|(m, n)| format!("{m}.{n}")),
            (0u64..3, 0u64..3, 0u64..3, pre).prop_map(|(m, n, p, pre)| format!("{m}.{n}.{p}{pre}")),
            (0u64..3).prop_map(|m| format!("{m}.*")),
            (0u64..3, 0u64..3).prop_map(|(m, n)| format!("{m}.{n}.*")),
        ];
        (op, shape).prop_map(|(op, shape)| {
            if shape.contains('*') {
                shape
            } else {
                format!("{op}{shape}")
            }
        })
    }

    fn arb_requirement() -> impl Strategy<Value = VersionReq> {
        prop_oneof![
            1 => Just("*".to_string()),
            8 => proptest::collection::vec(arb_comparator(), 1..4).prop_map(|c| c.join(", ")),
        ]
        .prop_filter_map("semver rejects it", |text| VersionReq::parse(&text).ok())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The oracle is semver's own `VersionReq::matches`.
        #[test]
        fn ranges_agree_with_semver(req in arb_requirement(), versions in proptest::collection::vec(arb_version(), 1..12)) {
            let structural = requirement_ranges(&req).unwrap();
            for version in &versions {
                if req.matches(version) {
                    prop_assert!(structural.contains(version), "{req} must contain {version}");
                }
                if version.pre.is_empty() {
                    prop_assert_eq!(structural.contains(version), req.matches(version), "{} on {}", req, version);
                }
            }
            let prereleases = versions.iter().filter(|v| !v.pre.is_empty());
            let exact = exclude_unmatched_prereleases(structural, &req, prereleases);
            for version in &versions {
                prop_assert_eq!(exact.contains(version), req.matches(version), "{} on {}", req, version);
            }
        }

        /// A caret or comparator description means the same versions as the set.
        #[test]
        fn descriptions_mean_the_set(req in arb_requirement(), versions in proptest::collection::vec(arb_version(), 1..12)) {
            let set = requirement_ranges(&req).unwrap();
            let shown = describe(&set);
            if shown != "no version" && !shown.contains(" or ") {
                let as_requirement = if Version::parse(&shown).is_ok() { format!("={shown}") } else { shown.clone() };
                let reparsed = requirement_ranges(&VersionReq::parse(&as_requirement).unwrap()).unwrap();
                for version in versions.iter().filter(|v| v.pre.is_empty()) {
                    prop_assert_eq!(reparsed.contains(version), set.contains(version), "{} shown as {} on {}", req, shown, version);
                }
            }
        }
    }
}
