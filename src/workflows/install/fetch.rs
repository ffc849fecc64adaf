//! Getting a package's archive for an install: from the content-addressed
//! cache in `GGEN_HOME/archives/`, else from the source
//! ([`PackageSource::fetch_archive`], the one download path); always checked
//! against the entry's `cksum` before it is cached or used.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::InstallError;
use crate::format::IndexEntry;
use crate::sources::download::DownloadError;
use crate::sources::{PackageSource, SourceError};
use crate::util::fs::write_atomic;

/// The archives of one install: a cache in front of one source.
pub struct ArchiveFetcher<'a> {
    source: &'a dyn PackageSource,
    cache_dir: PathBuf,
}

impl<'a> ArchiveFetcher<'a> {
    /// A fetcher of `source`'s archives, caching in `cache_dir`.
    pub fn new(source: &'a dyn PackageSource, cache_dir: PathBuf) -> Self {
        ArchiveFetcher { source, cache_dir }
    }

    /// The archive bytes of `entry`, whose SHA-256 equals `entry.cksum`.
    pub fn archive(&self, entry: &IndexEntry) -> Result<Vec<u8>, InstallError> {
        let expected = checked_cksum(entry)?;
        let cached = self.cache_dir.join(format!("{expected}.tar.gz"));
        // A damaged cache entry is replaced by a fresh download below.
        if let Ok(bytes) = std::fs::read(&cached)
            && sha256_hex(&bytes) == expected
        {
            return Ok(bytes);
        }
        let fetched = self.source.fetch_archive(entry).map_err(|e| match e {
            SourceError::Download(DownloadError::Offline { url }) => InstallError::Offline {
                name: entry.name.clone(),
                version: entry.vers.clone(),
                url,
            },
            other => InstallError::Source(other),
        })?;
        let actual = sha256_hex(&fetched.bytes);
        if actual != expected {
            return Err(InstallError::ChecksumMismatch {
                name: entry.name.clone(),
                version: entry.vers.clone(),
                url: fetched.origin,
                expected: expected.to_owned(),
                actual,
            });
        }
        write_atomic(&cached, &fetched.bytes)?;
        Ok(fetched.bytes)
    }
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
    use std::path::Path;

    use crate::sources::download::Downloader;
    use crate::sources::local::LocalSource;

    fn entry(cksum: &str) -> IndexEntry {
        IndexEntry::from_line(&format!(
            r#"{{"name":"p","vers":"1.0.0","deps":[],"cksum":"{cksum}","features":{{}},"yanked":false}}"#
        ))
        .unwrap()
    }

    /// An offline index in `dir/index` whose `dl` is `dl`.
    fn index_with_dl(dir: &Path, dl: &str) -> LocalSource {
        let index = dir.join("index");
        std::fs::create_dir_all(&index).unwrap();
        std::fs::write(index.join("config.json"), format!(r#"{{"dl":"{dl}"}}"#)).unwrap();
        LocalSource::open(index).unwrap().with_downloader(Downloader::offline())
    }

    #[test]
    fn reads_local_archives_checks_and_caches_them() {
        let dir = tempfile::tempdir().unwrap();
        let source = index_with_dl(dir.path(), "archives/{crate}-{version}.tar.gz");
        let archive = dir.path().join("index/archives/p-1.0.0.tar.gz");
        std::fs::create_dir_all(archive.parent().unwrap()).unwrap();
        std::fs::write(&archive, b"archive bytes").unwrap();
        let fetcher = ArchiveFetcher::new(&source, dir.path().join("cache"));
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
        let fetcher = ArchiveFetcher::new(&source, dir.path().join("cache"));
        let err = fetcher.archive(&entry(&sha256_hex(b"original"))).unwrap_err();
        assert!(matches!(err, InstallError::ChecksumMismatch { .. }), "{err}");
        assert!(!dir.path().join("cache").exists(), "nothing cached");
        let err = fetcher.archive(&entry("../../etc/passwd")).unwrap_err();
        assert!(matches!(err, InstallError::BadChecksumField { .. }), "{err}");
        let remote = index_with_dl(&dir.path().join("remote"), "http://127.0.0.1:9/{crate}.tgz");
        let fetcher = ArchiveFetcher::new(&remote, dir.path().join("cache"));
        let err = fetcher.archive(&entry(&"a".repeat(64))).unwrap_err();
        assert!(matches!(err, InstallError::Offline { .. }), "{err}");
    }

    #[test]
    fn a_url_of_another_scheme_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let source = index_with_dl(dir.path(), "git://127.0.0.1:9418/index.git/archives/{crate}.tar.gz");
        let fetcher = ArchiveFetcher::new(&source, dir.path().join("cache"));
        let err = fetcher.archive(&entry(&"a".repeat(64))).unwrap_err();
        assert!(
            matches!(&err, InstallError::Source(SourceError::Download(DownloadError::UnsupportedScheme { scheme, .. })) if scheme == "git"),
            "{err}"
        );
        assert!(err.to_string().contains("absolute http(s) `dl`"), "{err}");
    }
}
