//! Registry locations: which transport a registry URL or path means, and
//! the stable id of its cache directory under `GGEN_HOME/registries/`.
//!
//! ```
//! use ggen_marketplace::sources::location::RegistryLocation;
//! let sparse = RegistryLocation::parse("sparse+https://ggen.io/index/").unwrap();
//! assert!(matches!(sparse, RegistryLocation::Sparse { .. }));
//! let git = RegistryLocation::parse("git+https://github.com/acme/index.git").unwrap();
//! assert!(matches!(git, RegistryLocation::Git { ref url } if url == "https://github.com/acme/index.git"));
//! assert!(git.cache_id().starts_with("github.com-"));
//! ```

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Where an index is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryLocation {
    /// A git repository, cloned with gix: `git+https://`, `git+http://`,
    /// `git://`, `file://` or a path to a repository. `url` is what git is
    /// given (without the `git+` prefix).
    Git {
        /// The URL or path given to git.
        url: String,
    },
    /// A sparse index fetched file by file over HTTP(S); `url` is the
    /// index's base URL without `sparse+`, ending in `/`.
    Sparse {
        /// The HTTP(S) base URL.
        url: String,
    },
    /// A plain directory read in place.
    Directory {
        /// The index root.
        path: PathBuf,
    },
}

/// A registry string that names no usable location.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum LocationError {
    /// A scheme we do not speak.
    #[error(
        "`{0}` is not a registry URL: use https://… or git+https://… (git), git://…, file://…, sparse+http(s)://… or a path to an index directory or git repository"
    )]
    Unsupported(String),
    /// A path that does not exist.
    #[error("{} does not exist; give the path of an index directory (with config.json) or of a git repository", .0.display())]
    MissingPath(PathBuf),
}

impl RegistryLocation {
    /// Parses a registry URL or path (DESIGN §3).
    pub fn parse(text: &str) -> Result<Self, LocationError> {
        if let Some(url) = text.strip_prefix("sparse+") {
            if url.starts_with("http://") || url.starts_with("https://") {
                let url = if url.ends_with('/') {
                    url.to_owned()
                } else {
                    format!("{url}/")
                };
                return Ok(RegistryLocation::Sparse { url });
            }
            return Err(LocationError::Unsupported(text.to_owned()));
        }
        if let Some(url) = text.strip_prefix("git+") {
            return Ok(RegistryLocation::Git { url: url.to_owned() });
        }
        // A bare http(s) URL is a git repository, as Cargo reads one;
        // sparse indexes say so with `sparse+`.
        if ["git://", "file://", "https://", "http://"]
            .iter()
            .any(|scheme| text.starts_with(scheme))
        {
            return Ok(RegistryLocation::Git { url: text.to_owned() });
        }
        if text.contains("://") {
            return Err(LocationError::Unsupported(text.to_owned()));
        }
        Self::from_path(Path::new(text))
    }

    /// A path: a git repository (bare, or with `.git`) is cloned like any
    /// remote, so its history and pinning work the same; any other
    /// directory is read in place.
    fn from_path(path: &Path) -> Result<Self, LocationError> {
        if !path.exists() {
            return Err(LocationError::MissingPath(path.to_owned()));
        }
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let is_git = path.join(".git").exists() || (path.join("HEAD").is_file() && path.join("objects").is_dir());
        if is_git {
            Ok(RegistryLocation::Git {
                url: path.display().to_string(),
            })
        } else {
            Ok(RegistryLocation::Directory { path })
        }
    }

    /// The canonical text of the location, as written in `ggen.lock`'s
    /// `source`: the transport, `+`, and a URL (paths become `file://`
    /// URLs): `git+https://…`, `git+file:///srv/index.git`,
    /// `sparse+https://…/`, `dir+file:///srv/index`.
    pub fn source_id(&self) -> String {
        match self {
            RegistryLocation::Git { url } if url.contains("://") => format!("git+{url}"),
            RegistryLocation::Git { url } => format!("git+file://{url}"),
            RegistryLocation::Sparse { url } => format!("sparse+{url}"),
            RegistryLocation::Directory { path } => format!("dir+file://{}", path.display()),
        }
    }

    /// The registry URL or path a [`RegistryLocation::source_id`] was made
    /// from, as config.toml or `--registry` take it; `None` for anything
    /// else (such as a config.json `id`).
    pub fn url_of_source_id(source_id: &str) -> Option<String> {
        if let Some(path) = source_id.strip_prefix("dir+file://") {
            return Some(path.to_owned());
        }
        let git = source_id.strip_prefix("git+");
        if let Some(url) = git.filter(|url| url.starts_with("git://") || url.starts_with("file://")) {
            return Some(url.to_owned());
        }
        (git.is_some() || source_id.starts_with("sparse+http")).then(|| source_id.to_owned())
    }

    /// The cache directory name under `GGEN_HOME/registries/`: a readable
    /// host (or last path component) plus a hash of the full location, like
    /// Cargo's `index.crates.io-6f17d22bba15001f`.
    pub fn cache_id(&self) -> String {
        let source = self.source_id();
        let digest = Sha256::digest(source.as_bytes());
        let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("{}-{hash}", readable_label(&source))
    }
}

fn readable_label(source: &str) -> String {
    let after_scheme = source.split_once("://").map_or(source, |(_, rest)| rest);
    let label = if source.contains("://") && !source.contains("file://") {
        after_scheme.split(['/', ':']).next().unwrap_or("")
    } else {
        after_scheme.trim_end_matches('/').rsplit('/').next().unwrap_or("")
    };
    let cleaned: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() { "registry".into() } else { cleaned }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_maps_to_its_transport() {
        for (text, git_url) in [
            ("git+https://h/i.git", "https://h/i.git"),
            ("git+http://127.0.0.1:8080/git/i.git", "http://127.0.0.1:8080/git/i.git"),
            ("git://127.0.0.1:9418/i.git", "git://127.0.0.1:9418/i.git"),
            ("file:///srv/i.git", "file:///srv/i.git"),
        ] {
            assert_eq!(
                RegistryLocation::parse(text).unwrap(),
                RegistryLocation::Git { url: git_url.into() }
            );
        }
        assert_eq!(
            RegistryLocation::parse("sparse+http://127.0.0.1:1/idx").unwrap(),
            RegistryLocation::Sparse {
                url: "http://127.0.0.1:1/idx/".into()
            }
        );
        assert_eq!(
            RegistryLocation::parse("https://h/i.git").unwrap(),
            RegistryLocation::Git {
                url: "https://h/i.git".into()
            },
            "a bare https URL is git, as in Cargo"
        );
        for bad in ["sparse+ftp://h/", "ssh://h/i"] {
            assert!(
                matches!(RegistryLocation::parse(bad), Err(LocationError::Unsupported(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths_are_git_repositories_or_directories() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        assert!(matches!(
            RegistryLocation::parse(plain.to_str().unwrap()).unwrap(),
            RegistryLocation::Directory { .. }
        ));
        let bare = dir.path().join("bare.git");
        std::fs::create_dir_all(bare.join("objects")).unwrap();
        std::fs::write(bare.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        assert!(matches!(
            RegistryLocation::parse(bare.to_str().unwrap()).unwrap(),
            RegistryLocation::Git { .. }
        ));
        let missing = dir.path().join("missing");
        assert!(matches!(
            RegistryLocation::parse(missing.to_str().unwrap()),
            Err(LocationError::MissingPath(_))
        ));
    }

    #[test]
    fn source_ids_map_back_to_registry_urls() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().canonicalize().unwrap();
        for given in [
            "git+https://h/i.git",
            "git://127.0.0.1:9418/i.git",
            "file:///srv/i.git",
            "sparse+http://h/i/",
            plain.to_str().unwrap(),
        ] {
            let id = RegistryLocation::parse(given).unwrap().source_id();
            let url = RegistryLocation::url_of_source_id(&id).unwrap_or_else(|| panic!("{id}"));
            assert_eq!(RegistryLocation::parse(&url).unwrap().source_id(), id, "{given}");
        }
        assert_eq!(RegistryLocation::url_of_source_id("io.ggen.examples"), None);
    }

    #[test]
    fn cache_ids_are_readable_stable_and_distinct() {
        let a = RegistryLocation::parse("sparse+https://ggen.io/index/").unwrap();
        let b = RegistryLocation::parse("sparse+https://ggen.io/other/").unwrap();
        assert!(a.cache_id().starts_with("ggen.io-"));
        assert_eq!(
            a.cache_id(),
            RegistryLocation::parse("sparse+https://ggen.io/index")
                .unwrap()
                .cache_id()
        );
        assert_ne!(a.cache_id(), b.cache_id());
        let file = RegistryLocation::parse("file:///srv/acme-index.git").unwrap();
        assert!(file.cache_id().starts_with("acme-index.git-"), "{}", file.cache_id());
    }
}
