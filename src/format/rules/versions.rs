//! Versions of a package: when two are the same release, and which
//! versions a package file already holds.

/// What makes two versions the same release: everything but build
/// metadata (`1.0.0` and `1.0.0+build` are one release to semver, to
/// Cargo's registry documentation and to crates.io).
pub fn release_key(version: &semver::Version) -> (u64, u64, u64, &semver::Prerelease) {
    (version.major, version.minor, version.patch, &version.pre)
}

/// Whether `a` and `b` are the same release (build metadata ignored).
pub fn same_release(a: &semver::Version, b: &semver::Version) -> bool {
    release_key(a) == release_key(b)
}

/// The published release equal to `version` (build metadata ignored), with
/// its line number, if any.
pub fn already_published<'p>(
    version: &semver::Version,
    published: &'p [(semver::Version, usize)],
) -> Option<&'p (semver::Version, usize)> {
    published.iter().find(|(v, _)| same_release(v, version))
}

/// The versions of a package file's lines with their 1-based line numbers,
/// read leniently: a line that is not an entry or has no semver `vers`
/// cannot collide with a new version.
pub fn published_versions(bytes: &[u8]) -> Vec<(semver::Version, usize)> {
    #[derive(serde::Deserialize)]
    struct Vers<'a> {
        #[serde(borrow)]
        vers: std::borrow::Cow<'a, str>,
    }
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, line)| {
            let vers = serde_json::from_slice::<Vers>(line).ok()?.vers;
            Some((semver::Version::parse(&vers).ok()?, i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_versions_are_read_leniently() {
        let text =
            b"{\"name\":\"a\",\"vers\":\"1.0.0\"}\nnot json\n{\"vers\":\"bad\"}\n{\"vers\":\"2.0.0+b\",\"x\":[]}\n";
        let versions = published_versions(text);
        assert_eq!(
            versions,
            vec![
                (semver::Version::new(1, 0, 0), 1),
                (semver::Version::parse("2.0.0+b").unwrap(), 4)
            ]
        );
        let build = semver::Version::parse("1.0.0+other").unwrap();
        assert_eq!(already_published(&build, &versions).map(|(_, line)| *line), Some(1));
        assert!(already_published(&semver::Version::new(1, 0, 1), &versions).is_none());
    }
}
