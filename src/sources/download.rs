//! Getting one package archive from the place its index says: the one
//! download path of every command that needs archives (install, mirrors).
//!
//! Cargo's `RegistryData::download` is the model: the archive belongs to the
//! source. [`PackageSource::fetch_archive`](super::PackageSource::fetch_archive)
//! first asks the source for a copy it stores itself (a git index keeps its
//! archives in its commits), then downloads from where `dl` points with the
//! source's [`Downloader`]: over http(s) with the sparse source's retry rules,
//! or from a local path or `file://` URL. Offline, no socket is ever opened.
//! The bytes are not trusted here: callers check them against the entry's
//! `cksum` (see `workflows::install`).
//!
//! ```
//! use ggen_marketplace::sources::download::{DownloadError, Downloader};
//! let dir = tempfile::tempdir().unwrap();
//! let archive = dir.path().join("demo-1.0.0.tar.gz");
//! std::fs::write(&archive, b"bytes").unwrap();
//!
//! let offline = Downloader::offline();
//! assert_eq!(offline.get(archive.to_str().unwrap()).unwrap(), b"bytes");
//! let err = offline.get("https://example.invalid/demo-1.0.0.tar.gz").unwrap_err();
//! assert!(matches!(err, DownloadError::Offline { .. }));
//! ```

use std::path::PathBuf;
use std::sync::OnceLock;

use super::http::{self, HttpError, HttpLimits, Validators};

/// Parallel connections when nothing else is configured.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// Why an archive could not be had from where `dl` points.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum DownloadError {
    /// Offline, and the archive is only reachable over the network.
    #[error("offline mode forbids downloading {url}; run once while online")]
    Offline { url: String },
    /// The request failed (after retries where retrying could help).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The server answered, but not with the archive.
    #[error("GET {url} answered {status}; the registry's `dl` in config.json may be wrong, or the archive is missing")]
    Status { url: String, status: u16 },
    /// `dl` gives a URL no archive can be downloaded from.
    #[error(
        "cannot download {url}: archives come over http(s) or from a local path, not {scheme}://. A git index either commits its archives at the path its relative `dl` names inside the index (`index add` and `publish` put them there; this one is not in the commit), or needs an absolute http(s) `dl`"
    )]
    UnsupportedScheme { url: String, scheme: String },
    /// A local archive could not be read.
    #[error("cannot read archive {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
}

/// Downloads archives for one source; shared by all its downloads.
#[derive(Debug, Clone)]
pub struct Downloader {
    offline: bool,
    max_connections: usize,
    limits: HttpLimits,
    /// Made on the first http(s) download, never when offline.
    agent: OnceLock<ureq::Agent>,
}

/// Offline: a downloader nobody configured must not reach the network.
impl Default for Downloader {
    fn default() -> Self {
        Downloader::offline()
    }
}

impl Downloader {
    /// A downloader that may use the network (unless `offline`) with at
    /// most `max_connections` connections and the default [`HttpLimits`].
    pub fn new(offline: bool, max_connections: usize) -> Self {
        Downloader {
            offline,
            max_connections: max_connections.max(1),
            limits: HttpLimits::default(),
            agent: OnceLock::new(),
        }
    }

    /// The same downloader with other timeouts, retries and size caps
    /// (archives are capped at `limits.max_archive_size`).
    pub fn with_limits(self, limits: HttpLimits) -> Self {
        Downloader {
            limits,
            agent: OnceLock::new(),
            ..self
        }
    }

    /// A downloader that never opens a socket: local paths only.
    pub fn offline() -> Self {
        Downloader::new(true, 1)
    }

    /// Whether it refuses the network.
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// The timeouts, redirect bound and size caps its requests keep (a git
    /// index fetched over smart HTTP keeps them too).
    pub fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    /// The bytes at `url`: an http(s) URL, a `file://` URL or a local path.
    pub fn get(&self, url: &str) -> Result<Vec<u8>, DownloadError> {
        if url.starts_with("http://") || url.starts_with("https://") {
            if self.offline {
                return Err(DownloadError::Offline { url: url.to_owned() });
            }
            let agent = self
                .agent
                .get_or_init(|| http::new_agent(self.max_connections, &self.limits));
            let response = http::get_with_retries(
                agent,
                url,
                &Validators::default(),
                &self.limits.retry,
                self.limits.archive_cap(),
            )?;
            if !response.is_ok() {
                return Err(DownloadError::Status {
                    url: url.to_owned(),
                    status: response.status,
                });
            }
            return Ok(response.body);
        }
        if let Some((scheme, _)) = url.split_once("://")
            && scheme != "file"
        {
            return Err(DownloadError::UnsupportedScheme {
                url: url.to_owned(),
                scheme: scheme.to_owned(),
            });
        }
        let path = PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
        std::fs::read(&path).map_err(|source| DownloadError::Read { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_paths_and_file_urls_and_refuses_other_schemes() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tar.gz");
        std::fs::write(&archive, b"x").unwrap();
        let downloader = Downloader::new(false, 1);
        assert_eq!(downloader.get(&format!("file://{}", archive.display())).unwrap(), b"x");
        let err = downloader
            .get("git://127.0.0.1:9418/index.git/archives/a.tar.gz")
            .unwrap_err();
        assert!(
            matches!(&err, DownloadError::UnsupportedScheme { scheme, .. } if scheme == "git"),
            "{err}"
        );
        assert!(err.to_string().contains("absolute http(s) `dl`"), "{err}");
        let missing = downloader.get(dir.path().join("gone").to_str().unwrap()).unwrap_err();
        assert!(matches!(missing, DownloadError::Read { .. }), "{missing}");
    }

    #[test]
    fn offline_never_makes_an_agent() {
        let downloader = Downloader::offline();
        let err = downloader.get("http://127.0.0.1:9/a.tgz").unwrap_err();
        assert!(matches!(err, DownloadError::Offline { .. }), "{err}");
        assert!(downloader.agent.get().is_none());
    }
}
