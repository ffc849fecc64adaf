//! An archive's `ggen.toml` against the index line that describes it: the
//! same name, version and dependencies (dev-dependencies aside, which a
//! manifest does not list). Install checks it after extraction; the
//! pull-request gate before anything is merged.

use std::collections::BTreeMap;

use crate::format::{DepKind, IndexEntry, Manifest};

/// How `manifest` disagrees with `entry`, in a sentence, or `None` when
/// they agree.
pub fn manifest_disagreement(manifest: &Manifest, entry: &IndexEntry) -> Option<String> {
    let Some(package) = manifest.package.as_ref() else {
        return Some("the archive's ggen.toml has no [package]".into());
    };
    if package.name != entry.name || package.version != entry.vers {
        return Some(format!(
            "the archive's ggen.toml says {} {}",
            package.name, package.version
        ));
    }
    let in_index: BTreeMap<&str, &str> = entry
        .deps
        .iter()
        .filter(|dep| dep.kind() != DepKind::Dev)
        .map(|dep| (dep.package_name(), dep.req.as_str()))
        .collect();
    let in_archive: BTreeMap<&str, &str> = manifest
        .dependencies
        .iter()
        .map(|(name, req)| (name.as_str(), req.as_str()))
        .collect();
    (in_index != in_archive).then(|| {
        format!("its dependencies differ: the index lists {in_index:?}, the archive's ggen.toml {in_archive:?}")
    })
}
