//! A package archive (`.tar.gz`): inspected by `index add` and `publish`,
//! checked by the pull-request gate, extracted by `install`; and a Cargo
//! `.crate`, read by `index add`.

use std::path::Path;

use ggen_marketplace::archive::crate_file::summarize_crate;
use ggen_marketplace::archive::summarize_bytes;
use ggen_marketplace::archive::unpack::{ExtractLimits, check_archive, extract};

/// No panic, and:
/// - extracting writes only to its destination, which holds the whole
///   package on success and is absent, with no temporary directory left,
///   on failure;
/// - an extracted package holds only directories and regular files without
///   setuid, setgid or sticky bits, as many files as reported;
/// - extracting and the gate's check (nothing written) agree.
pub fn check(data: &[u8]) {
    let _ = summarize_crate(data);
    // The package the archive says it is, so seeds get past the name check.
    let (name, version) = summarize_bytes(data)
        .ok()
        .and_then(|s| {
            let package = s.manifest.package?;
            Some((package.name, semver::Version::parse(&package.version).ok()?))
        })
        .unwrap_or_else(|| ("fuzz".to_owned(), semver::Version::new(1, 0, 0)));
    let limits = ExtractLimits {
        max_total_bytes: 16 * 1024 * 1024,
        max_entries: 10_000,
    };
    let sandbox = tempfile::tempdir().expect("a temporary directory");
    let parent = sandbox.path().join("packages");
    let dest = parent.join("p");
    let extracted = extract(data, (&name, &version), &dest, &limits);
    let checked = check_archive(data, (&name, &version), &limits);
    assert_eq!(
        list(sandbox.path()),
        match &extracted {
            Ok(_) => vec!["packages".to_owned(), "packages/p".to_owned()],
            Err(_) => vec!["packages".to_owned()],
        },
        "extract wrote outside its destination ({extracted:?})"
    );
    match (&extracted, &checked) {
        (Ok(package), Ok(manifest)) => {
            assert_eq!(&package.manifest, manifest);
            assert_eq!(count_files(&dest), package.files);
        }
        (Err(_), Err(_)) => {}
        _ => panic!("extract and check_archive disagree: {extracted:?} vs {checked:?}"),
    }
}

/// Everything under `root` down to its grandchildren, `/`-separated, sorted.
fn list(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for child in std::fs::read_dir(root).expect("readable").flatten() {
        let name = child.file_name().to_string_lossy().into_owned();
        if child.path().is_dir() {
            for grandchild in std::fs::read_dir(child.path()).expect("readable").flatten() {
                found.push(format!("{name}/{}", grandchild.file_name().to_string_lossy()));
            }
        }
        found.push(name);
    }
    found.sort();
    found
}

/// The regular files under `dir`, checking that nothing else is there.
fn count_files(dir: &Path) -> u64 {
    let mut files = 0;
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let kind = entry.file_type().expect("a file type");
        let mode = std::os::unix::fs::PermissionsExt::mode(&entry.metadata().expect("metadata").permissions());
        assert_eq!(
            mode & 0o7000,
            0,
            "{} kept a setuid, setgid or sticky bit",
            entry.path().display()
        );
        if kind.is_dir() {
            files += count_files(&entry.path());
        } else {
            assert!(
                kind.is_file(),
                "{} is neither file nor directory",
                entry.path().display()
            );
            files += 1;
        }
    }
    files
}
