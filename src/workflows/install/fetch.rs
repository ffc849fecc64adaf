//! Getting a package's archive: from the content-addressed cache in
//! `GGEN_HOME/archives/`, a local path, or HTTP with the sparse source's
//! retry rules; always checked against the entry's `cksum`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::InstallError;
use crate::format::{IndexConfig, IndexEntry};
use crate::sources::PackageSource;
use crate::sources::http::{self, RetryPolicy, Validators};
use crate::util::fs::{FsError, write_atomic};

/// Where the archives of one source come from, shared by every download
/// of one install.
pub struct ArchiveFetcher<'a> {
    source: &'a dyn PackageSource,
    config: IndexConfig,
    base: String,
    cache_dir: PathBuf,
    agent: Option<ureq::Agent>,
    retry: RetryPolicy,
}

impl<'a> ArchiveFetcher<'a> {
    /// A fetcher of `source`'s archives caching in `cache_dir`; with
    /// `offline`, no agent exists and no socket can be opened.
    pub fn new(
        source: &'a dyn PackageSource,
        cache_dir: PathBuf,
        offline: bool,
        max_connections: usize,
    ) -> Result<Self, InstallError> {
        let agent = (!offline).then(|| http::new_agent(max_connections, std::time::Duration::from_secs(30)));
        Ok(ArchiveFetcher {
            config: source.config()?,
            base: source.download_base(),
            source,
            cache_dir,
            agent,
            retry: RetryPolicy::default(),
        })
    }

    /// The archive bytes of `entry`, whose SHA-256 equals `entry.cksum`:
    /// from the cache, else as the source stores it in the index (a git
    /// index's commits), else downloaded from where `dl` points.
    pub fn archive(&self, entry: &IndexEntry) -> Result<Vec<u8>, InstallError> {
        let expected = checked_cksum(entry)?;
        let cached = self.cache_dir.join(format!("{expected}.tar.gz"));
        // A damaged cache entry is replaced by a fresh download below.
        if let Ok(bytes) = std::fs::read(&cached)
            && sha256_hex(&bytes) == expected
        {
            return Ok(bytes);
        }
        let url = self
            .config
            .download_url(&self.base, &entry.name, &entry.vers, &entry.cksum);
        let stored = match self
            .config
            .archive_path_in_index(&entry.name, &entry.vers, &entry.cksum)
        {
            Some(path) => self.source.read_stored_archive(&path)?,
            None => None,
        };
        let bytes = match stored {
            Some(bytes) => bytes,
            None => self.download(entry, &url)?,
        };
        let actual = sha256_hex(&bytes);
        if actual != expected {
            return Err(InstallError::ChecksumMismatch {
                name: entry.name.clone(),
                version: entry.vers.clone(),
                url,
                expected: expected.to_owned(),
                actual,
            });
        }
        write_atomic(&cached, &bytes)?;
        Ok(bytes)
    }

    fn download(&self, entry: &IndexEntry, url: &str) -> Result<Vec<u8>, InstallError> {
        if url.starts_with("http://") || url.starts_with("https://") {
            let agent = self.agent.as_ref().ok_or_else(|| InstallError::Offline {
                name: entry.name.clone(),
                version: entry.vers.clone(),
                url: url.to_owned(),
            })?;
            let response = http::get_with_retries(agent, url, &Validators::default(), &self.retry)?;
            if !response.is_ok() {
                return Err(InstallError::DownloadStatus {
                    url: url.to_owned(),
                    status: response.status,
                });
            }
            return Ok(response.body);
        }
        if let Some((scheme, _)) = url.split_once("://")
            && scheme != "file"
        {
            return Err(InstallError::UnsupportedDownloadUrl {
                url: url.to_owned(),
                scheme: scheme.to_owned(),
            });
        }
        let path = url
            .strip_prefix("file://")
            .map_or_else(|| PathBuf::from(url), PathBuf::from);
        read_local(&path)
    }
}

fn read_local(path: &Path) -> Result<Vec<u8>, InstallError> {
    std::fs::read(path).map_err(|e| InstallError::Fs(FsError::new("read archive", path, e)))
}

/// `cksum` must be 64 lowercase hex digits before it names a cache file.
fn checked_cksum(entry: &IndexEntry) -> Result<&str, InstallError> {
    let cksum = entry.cksum.as_str();
    if cksum.len() == 64 && cksum.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(cksum)
    } else {
        Err(InstallError::BadChecksumField {
            name: entry.name.clone(),
            version: entry.vers.clone(),
        })
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::local::LocalSource;

    fn entry(cksum: &str) -> IndexEntry {
        IndexEntry::from_line(&format!(
            r#"{{"name":"p","vers":"1.0.0","deps":[],"cksum":"{cksum}","features":{{}},"yanked":false}}"#
        ))
        .unwrap()
    }

    /// An index in `dir/index` whose `dl` is `dl`.
    fn index_with_dl(dir: &Path, dl: &str) -> LocalSource {
        let index = dir.join("index");
        std::fs::create_dir_all(&index).unwrap();
        std::fs::write(index.join("config.json"), format!(r#"{{"dl":"{dl}"}}"#)).unwrap();
        LocalSource::open(index).unwrap()
    }

    #[test]
    fn reads_local_archives_checks_and_caches_them() {
        let dir = tempfile::tempdir().unwrap();
        let source = index_with_dl(dir.path(), "archives/{crate}-{version}.tar.gz");
        let archive = dir.path().join("index/archives/p-1.0.0.tar.gz");
        std::fs::create_dir_all(archive.parent().unwrap()).unwrap();
        std::fs::write(&archive, b"archive bytes").unwrap();
        let fetcher = ArchiveFetcher::new(&source, dir.path().join("cache"), true, 1).unwrap();
        let good = entry(&sha256_hex(b"archive bytes"));
        assert_eq!(fetcher.archive(&good).unwrap(), b"archive bytes");
        // Now served from the cache even though the original is gone.
        std::fs::remove_file(&archive).unwrap();
        assert_eq!(fetcher.archive(&good).unwrap(), b"archive bytes");
    }

    #[test]
    fn refuses_wrong_bytes_bad_cksums_and_the_network_offline() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("p.tar.gz");
        std::fs::write(&archive, b"tampered").unwrap();
        let source = index_with_dl(dir.path(), &format!("file://{}/{{crate}}.tar.gz", dir.path().display()));
        let fetcher = ArchiveFetcher::new(&source, dir.path().join("cache"), true, 1).unwrap();
        let err = fetcher.archive(&entry(&sha256_hex(b"original"))).unwrap_err();
        assert!(matches!(err, InstallError::ChecksumMismatch { .. }), "{err}");
        assert!(!dir.path().join("cache").exists(), "nothing cached");
        let err = fetcher.archive(&entry("../../etc/passwd")).unwrap_err();
        assert!(matches!(err, InstallError::BadChecksumField { .. }), "{err}");
        let remote = index_with_dl(&dir.path().join("remote"), "http://127.0.0.1:9/{crate}.tgz");
        let fetcher = ArchiveFetcher::new(&remote, dir.path().join("cache"), true, 1).unwrap();
        let err = fetcher.archive(&entry(&"a".repeat(64))).unwrap_err();
        assert!(matches!(err, InstallError::Offline { .. }), "{err}");
    }

    #[test]
    fn a_url_of_another_scheme_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let source = index_with_dl(dir.path(), "git://127.0.0.1:9418/index.git/archives/{crate}.tar.gz");
        let fetcher = ArchiveFetcher::new(&source, dir.path().join("cache"), false, 1).unwrap();
        let err = fetcher.archive(&entry(&"a".repeat(64))).unwrap_err();
        assert!(
            matches!(&err, InstallError::UnsupportedDownloadUrl { scheme, .. } if scheme == "git"),
            "{err}"
        );
        assert!(err.to_string().contains("absolute http(s) `dl`"), "{err}");
    }
}
