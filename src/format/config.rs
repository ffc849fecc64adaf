//! `config.json` at the root of an index: where archives are downloaded
//! from, and the index's trust settings.
//!
//! ```
//! use ggen_marketplace::format::config::IndexConfig;
//! let config = IndexConfig::from_json(r#"{"dl":"../archives/{crate}/{crate}-{version}.tar.gz"}"#).unwrap();
//! let url = config.download_url("http://mirror.local/index/", "io.ggen.base", "1.1.0", "ab12");
//! assert_eq!(url, "http://mirror.local/archives/io.ggen.base/io.ggen.base-1.1.0.tar.gz");
//!
//! // crates.io's own `dl` has no marker: `/{crate}/{version}/download` is appended.
//! let crates_io = IndexConfig::from_json(r#"{"dl":"https://crates.io/api/v1/crates","api":"https://crates.io"}"#).unwrap();
//! assert_eq!(
//!     crates_io.download_url("unused", "serde", "1.0.0", "ab12"),
//!     "https://crates.io/api/v1/crates/serde/1.0.0/download"
//! );
//! ```

use serde::{Deserialize, Serialize};

use super::identity::{BadRegistryId, check_id};
use super::name::Shard;

/// The markers Cargo expands in `dl`.
pub const DL_MARKERS: [&str; 5] = ["{crate}", "{version}", "{prefix}", "{lowerprefix}", "{sha256-checksum}"];

/// The parsed `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexConfig {
    /// Download URL template (absolute, or relative to the index root).
    pub dl: String,
    /// Cargo's web API base URL; ggen indexes have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// Whether every request needs credentials (Cargo's field).
    #[serde(rename = "auth-required", default, skip_serializing_if = "std::ops::Not::not")]
    pub auth_required: bool,
    /// The registry's stable identity, written in `ggen.lock` instead of
    /// its URL so a lock stays valid on every mirror and copy (see
    /// `format::identity`). Mirrors and copies keep it unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A display name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Index-wide signing keys: minisign public keys in base64 (`RW…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Whether entries must carry a valid signature.
    #[serde(default)]
    pub signatures: SignaturePolicy,
}

/// Whether an index demands signed entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignaturePolicy {
    /// Signed entries are verified; unsigned ones are accepted.
    #[default]
    Optional,
    /// Every entry must carry a valid signature.
    Required,
}

/// A `config.json` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum ConfigError {
    /// Not JSON, or a field of the wrong type.
    #[error("config.json is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// `dl` is empty.
    #[error(
        "config.json has an empty `dl`; set it to where archives are downloaded from, e.g. \"../archives/{{crate}}/{{crate}}-{{version}}.tar.gz\""
    )]
    EmptyDl,
    /// `dl` has a `{…}` marker Cargo does not define.
    #[error(
        "config.json `dl` has an unknown marker `{0}`; the markers are {{crate}}, {{version}}, {{prefix}}, {{lowerprefix}} and {{sha256-checksum}}"
    )]
    UnknownMarker(String),
    /// `id` is not a usable identity.
    #[error(transparent)]
    BadId(#[from] BadRegistryId),
}

impl IndexConfig {
    /// A config with only a `dl`.
    pub fn with_dl(dl: impl Into<String>) -> Self {
        IndexConfig {
            dl: dl.into(),
            api: None,
            auth_required: false,
            id: None,
            name: None,
            keys: Vec::new(),
            signatures: SignaturePolicy::Optional,
        }
    }

    /// Parses and validates `config.json` text.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let config: IndexConfig = serde_json::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Pretty JSON with a trailing newline, as stored in an index.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a config always serializes");
        text.push('\n');
        text
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.dl.trim().is_empty() {
            return Err(ConfigError::EmptyDl);
        }
        if let Some(marker) = unknown_marker(&self.dl) {
            return Err(ConfigError::UnknownMarker(marker));
        }
        if let Some(id) = &self.id {
            check_id(id)?;
        }
        Ok(())
    }

    /// Whether `dl` is relative to the index root (no URL scheme, not an
    /// absolute path), so a mirror can move without rewriting it.
    pub fn dl_is_relative(&self) -> bool {
        // Judged on an expansion, as `download_url` judges it: the path
        // appended to a `dl` without markers can make it absolute (`c:`
        // becomes `c:/{crate}/…`). Markers never change it.
        is_relative_reference(&expand_dl(&self.dl, "a", "0.0.0", "0"))
    }

    /// Where a relative `dl` puts one archive inside the index itself: a
    /// `/`-separated path from the index root (`archives/a/a-1.0.0.tar.gz`),
    /// or `None` when `dl` is absolute or climbs out of the index (`../…`).
    /// A git index keeps such archives in its own commits; `index add` and
    /// `publish` write them there.
    ///
    /// A segment with `\` or `:` gives `None` too: Windows would read it as
    /// a separator or a drive (`x/../c:/…` is `c:/…` once `..` is applied),
    /// a way out of the index on the machines that read or write the path.
    pub fn archive_path_in_index(&self, name: &str, version: &str, cksum: &str) -> Option<String> {
        let expanded = expand_dl(&self.dl, name, version, cksum);
        if !is_relative_reference(&expanded) {
            return None;
        }
        let mut segments: Vec<&str> = Vec::new();
        for segment in expanded.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    segments.pop()?;
                }
                other if other.contains(['\\', ':']) => return None,
                other => segments.push(other),
            }
        }
        (!segments.is_empty()).then(|| segments.join("/"))
    }

    /// The download location of one archive: `dl` with its markers expanded
    /// and, if relative, resolved against `index_base` (the index's URL or
    /// directory, with or without a trailing `/`).
    pub fn download_url(&self, index_base: &str, name: &str, version: &str, cksum: &str) -> String {
        let expanded = expand_dl(&self.dl, name, version, cksum);
        if is_relative_reference(&expanded) {
            join_reference(index_base, &expanded)
        } else {
            expanded
        }
    }
}

/// Expands Cargo's markers in a `dl` template; a template without any marker
/// gets `/{crate}/{version}/download` appended, as Cargo does.
pub fn expand_dl(dl: &str, name: &str, version: &str, cksum: &str) -> String {
    if !DL_MARKERS.iter().any(|m| dl.contains(m)) {
        return format!("{}/{name}/{version}/download", dl.trim_end_matches('/'));
    }
    let prefix = Shard::of(name).to_string();
    dl.replace("{crate}", name)
        .replace("{version}", version)
        .replace("{prefix}", &prefix)
        .replace("{lowerprefix}", &prefix.to_ascii_lowercase())
        .replace("{sha256-checksum}", cksum)
}

fn unknown_marker(dl: &str) -> Option<String> {
    let mut rest = dl;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').map(|e| start + e + 1)?;
        let marker = &rest[start..end];
        if !DL_MARKERS.contains(&marker) {
            return Some(marker.to_owned());
        }
        rest = &rest[end..];
    }
    None
}

/// Whether a location is a relative reference: no scheme and not rooted.
pub fn is_relative_reference(location: &str) -> bool {
    !location.contains("://") && !location.starts_with('/') && !is_windows_absolute(location)
}

fn is_windows_absolute(location: &str) -> bool {
    let bytes = location.as_bytes();
    bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && matches!(bytes[2], b'\\' | b'/')
}

/// Resolves a relative reference against a base URL or directory path the
/// way a browser resolves a link from `base/`: `.` and `..` segments are
/// applied, never climbing above the URL's host.
pub fn join_reference(base: &str, relative: &str) -> String {
    let (root, path) = split_root(base);
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for segment in relative.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let separator = if root.is_empty() || root.ends_with('/') {
        ""
    } else {
        "/"
    };
    let trailing = if relative.ends_with('/') { "/" } else { "" };
    format!("{root}{separator}{}{trailing}", segments.join("/"))
}

/// Splits the part a reference cannot climb above (`scheme://host/`, or `/`
/// for an absolute path, or nothing) from the path that follows it.
fn split_root(base: &str) -> (&str, &str) {
    let path_start = match base.find("://") {
        Some(i) => match base[i + 3..].find('/') {
            Some(j) => i + 3 + j + 1,
            None => return (base, ""),
        },
        None if base.starts_with('/') => 1,
        None => 0,
    };
    base.split_at(path_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_all_five_markers() {
        let dl = "https://dl.example/{prefix}/{lowerprefix}/{crate}/{version}/{sha256-checksum}.tgz";
        assert_eq!(
            expand_dl(dl, "Serde", "1.0.0", "abcd"),
            "https://dl.example/Se/rd/se/rd/Serde/1.0.0/abcd.tgz"
        );
        assert_eq!(
            expand_dl(dl, "ab", "0.1.0", "ff"),
            "https://dl.example/2/2/ab/0.1.0/ff.tgz"
        );
        assert_eq!(
            expand_dl(dl, "Abc", "0.1.0", "ff"),
            "https://dl.example/3/A/3/a/Abc/0.1.0/ff.tgz"
        );
    }

    #[test]
    fn appends_download_path_without_markers() {
        assert_eq!(
            expand_dl("https://x/api/", "a", "1.0.0", "ff"),
            "https://x/api/a/1.0.0/download"
        );
    }

    #[test]
    fn resolves_relative_dl_against_urls_and_directories() {
        let config = IndexConfig::with_dl("archives/{crate}-{version}.tar.gz");
        assert_eq!(
            config.download_url("http://h:8080/reg/index", "a", "1.0.0", "ff"),
            "http://h:8080/reg/index/archives/a-1.0.0.tar.gz"
        );
        assert_eq!(
            config.download_url("/srv/index/", "a", "1.0.0", "ff"),
            "/srv/index/archives/a-1.0.0.tar.gz"
        );
        assert_eq!(
            config.download_url("http://h", "a", "1.0.0", "ff"),
            "http://h/archives/a-1.0.0.tar.gz"
        );
        let up = IndexConfig::with_dl("../../../{crate}.tgz");
        assert_eq!(up.download_url("http://h/a/", "x", "1.0.0", "ff"), "http://h/x.tgz");
        assert_eq!(up.download_url("rel/dir", "x", "1.0.0", "ff"), "x.tgz");
        assert!(up.dl_is_relative());
        assert!(!IndexConfig::with_dl("file:///srv/{crate}").dl_is_relative());
        assert!(!IndexConfig::with_dl("/srv/{crate}").dl_is_relative());
    }

    #[test]
    fn archives_inside_the_index_have_a_path_there() {
        let inside = IndexConfig::with_dl("archives/./{crate}/../{crate}/{crate}-{version}.tar.gz");
        assert_eq!(
            inside.archive_path_in_index("a", "1.0.0", "ff").as_deref(),
            Some("archives/a/a-1.0.0.tar.gz")
        );
        for outside in [
            "../archives/{crate}.tgz",
            "https://cdn/{crate}",
            "/srv/{crate}",
            "x/../../{crate}",
            // Found by the `config_json` fuzz target: `..` brought a drive
            // letter to the front, an absolute path on Windows.
            "hr:/../e:/{crate}",
            "x\\..\\..\\{crate}",
            "c:{crate}",
        ] {
            assert_eq!(
                IndexConfig::with_dl(outside).archive_path_in_index("a", "1.0.0", "ff"),
                None,
                "{outside}"
            );
        }
    }

    /// Found by the `config_json` fuzz target: `dl` `h:` looked relative,
    /// but `download_url` made it `h:/{crate}/…`, a Windows absolute path,
    /// so a mirror would have put archives elsewhere than clients look.
    #[test]
    fn relative_means_what_download_url_does() {
        for dl in [
            "h:",
            "c:{crate}",
            "archives",
            "./x/{crate}",
            "/srv",
            "https://cdn",
            "c:/x",
        ] {
            let config = IndexConfig::with_dl(dl);
            let url = config.download_url("http://h/index/", "a", "1.0.0", "ff");
            assert_eq!(config.dl_is_relative(), url.starts_with("http://h/"), "{dl}: {url}");
        }
        assert!(!IndexConfig::with_dl("h:").dl_is_relative());
    }

    #[test]
    fn absolute_dl_is_left_alone() {
        let config = IndexConfig::with_dl("https://cdn.example/{crate}/{version}");
        assert_eq!(
            config.download_url("/ignored", "a", "1.0.0", "ff"),
            "https://cdn.example/a/1.0.0"
        );
    }

    #[test]
    fn validates_and_round_trips() {
        let text = r#"{"dl":"x/{crate}","api":null,"auth-required":true,"name":"Acme","keys":["RWQ"],"signatures":"required","extra":1}"#;
        let config = IndexConfig::from_json(text).unwrap();
        assert!(config.auth_required);
        assert_eq!(config.signatures, SignaturePolicy::Required);
        assert_eq!(IndexConfig::from_json(&config.to_json()).unwrap(), config);
        assert!(matches!(
            IndexConfig::from_json(r#"{"dl":" "}"#),
            Err(ConfigError::EmptyDl)
        ));
        assert!(matches!(
            IndexConfig::from_json(r#"{"dl":"x/{name}"}"#),
            Err(ConfigError::UnknownMarker(m)) if m == "{name}"
        ));
        assert!(matches!(
            IndexConfig::from_json(r#"{"dl":"x","id":"two words"}"#),
            Err(ConfigError::BadId(_))
        ));
        assert_eq!(
            IndexConfig::from_json(r#"{"dl":"x","id":"io.acme"}"#)
                .unwrap()
                .id
                .as_deref(),
            Some("io.acme")
        );
        assert!(matches!(
            IndexConfig::from_json(r#"{"dl":"x","signatures":"maybe"}"#),
            Err(ConfigError::Json(_))
        ));
    }
}
