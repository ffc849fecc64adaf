//! A registry with fallback mirrors (`mirrors = ["URL", …]` in
//! `[registries.NAME]`): one [`PackageSource`] over several, tried in order,
//! so nothing that reads a source needs to know.
//!
//! - Index reads (config.json, package and owner-keys files, listings) take
//!   the first source that answers. An *answer* includes "no such file": a
//!   reachable primary that has no package is believed, never overruled by
//!   a mirror. A failure — a connection that cannot be made, a 5xx after
//!   the retries, a missing cache offline — moves on to the next source,
//!   naming the failed one in a warning. A source that could not be reached
//!   is skipped for the rest of the run (warned about once).
//! - An archive is taken from the first source whose copy hashes to the
//!   entry's `cksum`; a mismatching copy is named in a warning and the next
//!   source is tried. If none matches, the last copy is returned for the
//!   caller's own checksum check to refuse, naming where it came from.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use ggen_marketplace::sources::{PackageSource, fallback::FallbackSource, local::LocalSource};
//! let write = |dir: &std::path::Path, version: &str| {
//!     std::fs::write(dir.join("config.json"), r#"{"dl":"a/{crate}-{version}.tar.gz"}"#).unwrap();
//!     std::fs::create_dir_all(dir.join("de/mo")).unwrap();
//!     let line = format!(r#"{{"name":"demo","vers":"{version}","deps":[],"cksum":"00","features":{{}}}}"#);
//!     std::fs::write(dir.join("de/mo/demo"), line).unwrap();
//! };
//! let (primary, mirror) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
//! write(primary.path(), "2.0.0");
//! write(mirror.path(), "1.0.0");
//! let warnings = Arc::new(Mutex::new(Vec::new()));
//! let sink = warnings.clone();
//! let source = FallbackSource::new(
//!     vec![Box::new(LocalSource::open(primary.path()).unwrap()), Box::new(LocalSource::open(mirror.path()).unwrap())],
//!     Arc::new(move |w: &str| sink.lock().unwrap().push(w.to_owned())),
//! );
//! assert_eq!(source.entries("demo").unwrap().unwrap()[0].vers, "2.0.0"); // the primary answers
//! std::fs::remove_file(primary.path().join("config.json")).unwrap();
//! assert!(source.config().is_ok()); // from the mirror…
//! assert!(warnings.lock().unwrap()[0].contains(&primary.path().display().to_string())); // …saying so
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use super::download::{DownloadError, Downloader};
use super::http::HttpError;
use super::{FetchedArchive, NameListing, PackageSource, SourceError, UpdateReport};
use crate::archive::lower_hex;
use crate::format::{IndexConfig, IndexEntry};
use crate::util::progress::Progress;

/// Where warnings go: the CLI prints them; a library caller decides.
pub type WarningSink = Arc<dyn Fn(&str) + Send + Sync>;

/// A primary source and its fallback mirrors, tried in order.
pub struct FallbackSource {
    sources: Vec<Box<dyn PackageSource>>,
    /// Sources that could not be reached: skipped from then on (the last
    /// one is always tried).
    down: Vec<AtomicBool>,
    warn: WarningSink,
}

impl std::fmt::Debug for FallbackSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sources: Vec<String> = self.sources.iter().map(|s| s.describe()).collect();
        f.debug_struct("FallbackSource").field("sources", &sources).finish()
    }
}

impl FallbackSource {
    /// `sources` in order of preference (at least one); warnings go to `warn`.
    pub fn new(sources: Vec<Box<dyn PackageSource>>, warn: WarningSink) -> Self {
        assert!(!sources.is_empty(), "a fallback source needs a source");
        let down = sources.iter().map(|_| AtomicBool::new(false)).collect();
        FallbackSource { sources, down, warn }
    }

    /// The sources still worth trying, in order, with their positions.
    fn candidates(&self) -> impl Iterator<Item = (usize, &dyn PackageSource)> {
        let last = self.sources.len() - 1;
        self.sources
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i == last || !self.down[*i].load(Ordering::Relaxed))
            .map(|(i, s)| (i, s.as_ref()))
    }

    /// Notes that source `i` failed with `error`, warning unless it was
    /// already known to be down.
    fn failed(&self, i: usize, what: &str, error: &SourceError) {
        let unreachable = is_unreachable(error);
        let was_down = unreachable && self.down[i].swap(true, Ordering::Relaxed);
        if was_down || i + 1 == self.sources.len() {
            return;
        }
        let skipped = if unreachable {
            "; skipping it for the rest of this run"
        } else {
            ""
        };
        (self.warn)(&format!(
            "{}: cannot {what}: {error}{skipped}; trying the next mirror",
            self.sources[i].describe()
        ));
    }

    /// The first answer of `read`, trying each source in turn.
    fn first<T>(
        &self,
        what: &str,
        read: impl Fn(&dyn PackageSource) -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        let mut last_error = None;
        for (i, source) in self.candidates() {
            match read(source) {
                Ok(answer) => return Ok(answer),
                Err(error) => {
                    self.failed(i, what, &error);
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.expect("the last source is always tried"))
    }
}

/// Whether an error means the source could not be reached at all.
fn is_unreachable(error: &SourceError) -> bool {
    matches!(
        error,
        SourceError::Http(HttpError::GaveUp { .. })
            | SourceError::Download(DownloadError::Http(HttpError::GaveUp { .. }))
            | SourceError::Git { .. }
    )
}

impl PackageSource for FallbackSource {
    fn describe(&self) -> String {
        self.sources[0].describe()
    }

    fn config(&self) -> Result<IndexConfig, SourceError> {
        self.first("read config.json", |s| s.config())
    }

    fn read_index_file(&self, path: &str) -> Result<Option<String>, SourceError> {
        self.first(&format!("read {path}"), |s| s.read_index_file(path))
    }

    fn package_names(&self) -> Result<Option<Vec<String>>, SourceError> {
        self.first("list its packages", |s| s.package_names())
    }

    fn searchable_names(&self) -> Result<NameListing, SourceError> {
        self.first("list its packages", |s| s.searchable_names())
    }

    fn download_base(&self) -> String {
        self.sources[0].download_base()
    }

    fn downloader(&self) -> &Downloader {
        self.sources[0].downloader()
    }

    fn fetch_archive(&self, entry: &IndexEntry) -> Result<FetchedArchive, SourceError> {
        let what = format!("fetch the archive of {} {}", entry.name, entry.vers);
        let mut last_error = None;
        let mut mismatched = None;
        for (i, source) in self.candidates() {
            match source.fetch_archive(entry) {
                Ok(archive) if lower_hex(&Sha256::digest(&archive.bytes)) == entry.cksum => return Ok(archive),
                Ok(archive) => {
                    if i + 1 < self.sources.len() {
                        (self.warn)(&format!(
                            "{}: the archive of {} {} does not match its checksum; trying the next mirror",
                            archive.origin, entry.name, entry.vers
                        ));
                    }
                    mismatched = Some(archive);
                }
                Err(error) => {
                    self.failed(i, &what, &error);
                    last_error = Some(error);
                }
            }
        }
        match (mismatched, last_error) {
            (Some(archive), _) => Ok(archive),
            (None, error) => Err(error.expect("the last source is always tried")),
        }
    }

    /// Updates every source; fails only if none could be updated.
    fn update(&self, progress: &dyn Progress) -> Result<UpdateReport, SourceError> {
        let mut reports = Vec::new();
        let mut changed = false;
        let mut last_error = None;
        for (i, source) in self.candidates() {
            match source.update(progress) {
                Ok(report) => {
                    changed |= report.changed;
                    reports.push(format!("{}: {}", source.describe(), report.summary));
                }
                Err(error) => {
                    self.failed(i, "update", &error);
                    last_error = Some(error);
                }
            }
        }
        if reports.is_empty() {
            return Err(last_error.expect("the last source is always tried"));
        }
        Ok(UpdateReport {
            changed,
            summary: reports.join("; "),
        })
    }
}
