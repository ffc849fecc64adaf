//! An index's `config.json`, as every client reads it first.

use ggen_marketplace::format::config::{IndexConfig, is_relative_reference};

/// Packages whose archive locations are worked out from the config.
const PACKAGES: [(&str, &str, &str); 3] = [
    ("a", "1.0.0", "00"),
    ("Serde", "1.0.0-beta.1+build", "ab"),
    ("io.ggen.rust.axum", "0.3.1", "ff"),
];

/// No panic, and:
/// - a valid config written by `to_json` reads back to the same config;
/// - a relative `dl` never leads above the index's host, and an archive
///   path inside the index never climbs out of it.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = IndexConfig::from_json(text) else {
        return;
    };
    let written = config.to_json();
    assert_eq!(
        IndexConfig::from_json(&written).expect("a written config reads back"),
        config,
        "config changed on its way through to_json: {written}"
    );
    for (name, version, cksum) in PACKAGES {
        let url = config.download_url("http://index.example/reg/index/", name, version, cksum);
        if config.dl_is_relative() {
            assert!(
                url.starts_with("http://index.example/"),
                "relative dl left the host: {url}"
            );
        }
        let _ = config.download_url("/srv/index", name, version, cksum);
        if let Some(path) = config.archive_path_in_index(name, version, cksum) {
            assert!(is_relative_reference(&path), "archive path is absolute: {path}");
            assert!(
                path.split('/')
                    .all(|s| !matches!(s, "" | "." | "..") && !s.contains(['\\', ':'])),
                "archive path has an empty, ., .. or Windows segment: {path}"
            );
        }
    }
}
