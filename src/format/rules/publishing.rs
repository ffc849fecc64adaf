//! What a newly published version must meet beyond a valid line: a
//! description, an SPDX licence, and a version that follows a published
//! one (Julia's General registry's rule: the next major, minor or patch of
//! some version, so a typo like 1.0.0 → 10.0.0 is caught before it
//! becomes the newest release).
//!
//! ```
//! use ggen_marketplace::format::rules::publishing::{follows, license_problem};
//! let v = |s: &str| semver::Version::parse(s).unwrap();
//! let published = [v("1.4.2"), v("2.0.0")];
//! assert!(follows(&v("2.1.0"), &published));
//! assert!(follows(&v("1.4.3"), &published)); // a backport
//! assert!(follows(&v("3.0.0-rc.1"), &published));
//! assert!(!follows(&v("4.0.0"), &published)); // a skip
//! assert!(follows(&v("0.1.0"), &[])); // a first version
//! assert!(license_problem(Some("MIT OR Apache-2.0")).is_none());
//! assert!(license_problem(Some("MIT or whatever")).is_some());
//! ```

/// Whether `new` is the next major, minor or patch of one of the released
/// `published` versions, or, for a first version, 0.0.1, 0.1.0 or 1.0.0;
/// pre-releases of those count too, as does the release of a published
/// pre-release.
pub fn follows(new: &semver::Version, published: &[semver::Version]) -> bool {
    let core = (new.major, new.minor, new.patch);
    if published.is_empty() {
        return matches!(core, (0, 0, 1) | (0, 1, 0) | (1, 0, 0));
    }
    published.iter().any(|old| {
        let old_core = (old.major, old.minor, old.patch);
        if !old.pre.is_empty() {
            // A pre-release leads only to its own release (or more of its
            // pre-releases): 1.0.0-beta.2 → 1.0.0, never straight to 2.0.0.
            return old_core == core;
        }
        let next = [
            (old.major + 1, 0, 0),
            (old.major, old.minor + 1, 0),
            (old.major, old.minor, old.patch + 1),
        ];
        next.contains(&core)
    })
}

/// Why `license` is not acceptable for a new version, or `None` when it is
/// a valid SPDX expression (`MIT`, `MIT OR Apache-2.0`, `GPL-3.0-only WITH
/// Classpath-exception-2.0`).
pub fn license_problem(license: Option<&str>) -> Option<String> {
    let Some(license) = license.filter(|l| !l.trim().is_empty()) else {
        return Some("no `license`; set one in ggen.toml, as an SPDX expression such as \"MIT OR Apache-2.0\"".into());
    };
    spdx::Expression::parse(license).err().map(|e| {
        format!("`license` `{license}` is not an SPDX expression ({e}); use identifiers from https://spdx.org/licenses/ joined by AND / OR, e.g. \"MIT OR Apache-2.0\"")
    })
}

/// Why `description` is not acceptable for a new version, or `None`.
pub fn description_problem(description: Option<&str>) -> Option<String> {
    description
        .filter(|d| !d.trim().is_empty())
        .is_none()
        .then(|| "no `description`; add one line saying what the package is to ggen.toml".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> semver::Version {
        semver::Version::parse(text).unwrap()
    }

    #[test]
    fn first_versions_and_successors() {
        for first in ["0.0.1", "0.1.0", "1.0.0", "1.0.0-alpha.1", "0.1.0+build"] {
            assert!(follows(&v(first), &[]), "{first}");
        }
        for skip in ["0.2.0", "2.0.0", "1.0.1", "0.0.2"] {
            assert!(!follows(&v(skip), &[]), "{skip}");
        }
        let published = [v("0.3.1"), v("1.0.0-beta.2")];
        for next in ["0.3.2", "0.4.0", "1.0.0", "1.0.0-rc.1", "0.3.2-alpha"] {
            assert!(follows(&v(next), &published), "{next}");
        }
        for skip in ["0.5.0", "2.0.0", "0.3.3"] {
            assert!(!follows(&v(skip), &published), "{skip}");
        }
    }

    #[test]
    fn licences_and_descriptions() {
        for good in [
            "MIT",
            "Apache-2.0 OR MIT",
            "GPL-3.0-only WITH Classpath-exception-2.0",
            "(MIT AND BSD-3-Clause)",
        ] {
            assert_eq!(license_problem(Some(good)), None, "{good}");
        }
        for bad in [None, Some(""), Some("MIT/Apache-2.0x"), Some("Proprietary license")] {
            assert!(license_problem(bad).is_some(), "{bad:?}");
        }
        assert!(description_problem(Some("Axum service templates")).is_none());
        assert!(description_problem(Some("  ")).is_some());
        assert!(description_problem(None).is_some());
    }
}
