//! Version requirements with Cargo's semantics.
//!
//! Cargo parses requirements with the `semver` crate, which already accepts
//! the common historic spellings (`>= 1.0`, `1.*`, `1.x`, a bare `1.2.3`
//! meaning `^1.2.3`). Anything it refuses, Cargo refuses too: an index version
//! whose dependency does not parse is skipped by Cargo's resolver, and so by
//! ours; `index check` reports it.
//!
//! ```
//! use ggen_marketplace::format::req;
//! let r = req::parse(">= 0.2, < 0.4").unwrap();
//! assert!(r.matches(&semver::Version::new(0, 3, 9)));
//! assert!(req::parse("^1.0 || ^2.0").is_err());
//! ```

/// A requirement string that is not valid.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{requirement}` is not a valid version requirement ({source}); write it like \"^1.2\", \"~0.3.1\", \">=1.0, <2.0\" or \"*\""
)]
pub struct RequirementError {
    /// The requirement as written.
    pub requirement: String,
    /// What the semver parser objected to.
    pub source: semver::Error,
}

/// Parses a requirement the way Cargo does.
pub fn parse(requirement: &str) -> Result<semver::VersionReq, RequirementError> {
    semver::VersionReq::parse(requirement).map_err(|source| RequirementError {
        requirement: requirement.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use semver::Version;

    #[test]
    fn accepts_historic_spellings() {
        for (text, yes, no) in [
            ("0.1", "0.1.9", "0.2.0"),
            ("1.*", "1.9.0", "2.0.0"),
            ("= 1.2.3", "1.2.3", "1.2.4"),
            (">= 1.0, < 1.5", "1.4.0", "1.5.0"),
            ("~1.2", "1.2.7", "1.3.0"),
            ("*", "9.9.9", "1.0.0-alpha"),
        ] {
            let r = parse(text).unwrap_or_else(|e| panic!("{e}"));
            assert!(r.matches(&Version::parse(yes).unwrap()), "{text} matches {yes}");
            assert!(!r.matches(&Version::parse(no).unwrap()), "{text} rejects {no}");
        }
    }

    #[test]
    fn the_error_says_how_to_write_one() {
        let err = parse("latest").unwrap_err();
        assert!(err.to_string().contains("`latest`"));
        assert!(err.to_string().contains("^1.2"));
    }
}
