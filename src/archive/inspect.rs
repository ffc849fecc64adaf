//! Reading an archive for indexing: its manifest, its SHA-256 and its size,
//! at close to the speed of hashing alone.
//!
//! The file is read once, in chunks that stay in cache: every chunk is
//! hashed as it arrives, and gzip is decompressed only until the manifest
//! entry `{name}-{version}/ggen.toml` has been read — the first entry in
//! archives made by [`super::pack`], so a few KiB. If the manifest is not
//! first, the tar stream is scanned on (entries are skipped, never
//! buffered). The rest of the file is only hashed.
//!
//! Checked here: the file is gzip, the manifest parses and meets the
//! publishing rules ([`Manifest::package_for_publishing`]), and every entry
//! seen lies under `{name}-{version}/` of that manifest. Not checked (it
//! would need full decompression): the gzip CRC and the entries after the
//! manifest — [`super::unpack`] checks those when installing.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # std::fs::write(dir.path().join("ggen.toml"), "[package]\nname = \"hello\"\nversion = \"1.0.0\"\n").unwrap();
//! # let packed = ggen_marketplace::archive::pack(dir.path(), &[]).unwrap();
//! # let path = dir.path().join(packed.file_name());
//! # std::fs::write(&path, &packed.bytes).unwrap();
//! use ggen_marketplace::archive::read_package_archive;
//! let summary = read_package_archive(&path).unwrap();
//! assert_eq!(summary.manifest.package.unwrap().version, "1.0.0");
//! assert_eq!(summary.size, std::fs::metadata(&path).unwrap().len());
//! assert_eq!(summary.sha256, packed.sha256);
//! ```

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{lower_hex, top_dir};
use crate::format::manifest::{MANIFEST_FILE, Manifest, ManifestError};

/// The largest manifest read; real ones are a few hundred bytes.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// Read chunk size: large enough that syscalls cost little, small enough
/// that each chunk is still in cache when it is hashed.
const CHUNK: usize = 128 * 1024;

/// What an indexer needs from an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// The package's `ggen.toml`, meeting the publishing rules.
    pub manifest: Manifest,
    /// SHA-256 of every byte of the archive, lowercase hex.
    pub sha256: String,
    /// The archive's size in bytes.
    pub size: u64,
}

/// Why archive contents are not a package archive.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum InspectError {
    /// The bytes do not start with the gzip magic number.
    #[error("not a gzip file; a package archive is a .tar.gz made by `ggen-market package`")]
    NotGzip,
    /// gzip or tar could not be decoded (truncated, corrupt).
    #[error("cannot decode the .tar.gz (truncated or corrupt); pack the package again")]
    Corrupt(#[source] io::Error),
    /// The tar stream ended without `{name}-{version}/ggen.toml`.
    #[error("no {{name}}-{{version}}/{MANIFEST_FILE} in the archive; pack it with `ggen-market package`")]
    NoManifest,
    /// The manifest entry is implausibly large.
    #[error("{path} is {size} bytes, more than the {MAX_MANIFEST_BYTES} a manifest may have")]
    ManifestTooLarge { path: String, size: u64 },
    /// The manifest is not UTF-8 text.
    #[error("{path} is not UTF-8 text")]
    ManifestNotUtf8 { path: String },
    /// The manifest does not parse or breaks a publishing rule.
    #[error("{path}: invalid package manifest")]
    Manifest { path: String, source: Box<ManifestError> },
    /// Two entries lie under different top directories.
    #[error("entries lie under both `{first}/` and `{other}/`; a package archive has one top directory")]
    MixedTopDirs { first: String, other: String },
    /// The top directory is not `{name}-{version}` of the manifest.
    #[error("the top directory is `{found}/` but the manifest says `{expected}/`; pack the package again")]
    TopDirMismatch { found: String, expected: String },
}

/// An archive file that cannot be summarized.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum ReadArchiveError {
    /// The file could not be opened or read.
    #[error("cannot read {}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// The file is not a valid package archive.
    #[error("{} is not a valid package archive", path.display())]
    Invalid { path: PathBuf, source: InspectError },
}

/// Summarizes the archive file at `path`, reading it once.
pub fn read_package_archive(path: &Path) -> Result<ArchiveSummary, ReadArchiveError> {
    let io_error = |source| ReadArchiveError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    let expected_size = file.metadata().map_err(io_error)?.len();
    // A small archive fits one buffer and is read by one syscall.
    let capacity = usize::try_from(expected_size.saturating_add(1)).map_or(CHUNK, |size| size.min(CHUNK));
    let mut reader = BufReader::with_capacity(capacity, HashingReader::new(file));
    let manifest = find_manifest(&mut reader).map_err(|source| ReadArchiveError::Invalid {
        path: path.to_owned(),
        source,
    })?;
    // The rest only needs hashing: pull it through the same buffer.
    loop {
        let available = reader.fill_buf().map_err(io_error)?.len();
        if available == 0 {
            break;
        }
        reader.consume(available);
    }
    let hashing = reader.into_inner();
    Ok(ArchiveSummary {
        manifest,
        sha256: lower_hex(&hashing.hasher.finalize()),
        size: hashing.size,
    })
}

/// Summarizes archive bytes already in memory.
pub fn summarize_bytes(bytes: &[u8]) -> Result<ArchiveSummary, InspectError> {
    let manifest = find_manifest(&mut &bytes[..])?;
    Ok(ArchiveSummary {
        manifest,
        sha256: lower_hex(&Sha256::digest(bytes)),
        size: bytes.len() as u64,
    })
}

/// Hashes and counts every byte read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.size += read as u64;
        Ok(read)
    }
}

/// Decompresses `compressed` until the manifest has been read, leaving the
/// reader just past the compressed bytes that were needed.
fn find_manifest<R: BufRead>(compressed: &mut R) -> Result<Manifest, InspectError> {
    let head = compressed.fill_buf().map_err(InspectError::Corrupt)?;
    if !head.starts_with(&[0x1f, 0x8b]) {
        return Err(InspectError::NotGzip);
    }
    let mut archive = tar::Archive::new(flate2::bufread::GzDecoder::new(compressed));
    let mut top: Option<String> = None;
    for entry in archive.entries().map_err(InspectError::Corrupt)? {
        let mut entry = entry.map_err(InspectError::Corrupt)?;
        if entry.header().entry_type() == tar::EntryType::XGlobalHeader {
            continue; // archive-wide metadata (e.g. from `git archive`), not a file
        }
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let (first, rest) = path.split_once('/').unwrap_or((path.as_str(), ""));
        match &top {
            None => top = Some(first.to_owned()),
            Some(top) if top != first => {
                return Err(InspectError::MixedTopDirs {
                    first: top.clone(),
                    other: first.to_owned(),
                });
            }
            Some(_) => {}
        }
        if rest == MANIFEST_FILE && entry.header().entry_type().is_file() {
            let manifest = read_manifest(&mut entry, &path)?;
            check_top_dir(first, &manifest)?;
            return Ok(manifest);
        }
    }
    Err(InspectError::NoManifest)
}

fn read_manifest(entry: &mut impl Read, path: &str) -> Result<Manifest, InspectError> {
    let mut bytes = Vec::new();
    // `take` guards against a header that understates the size.
    entry
        .take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(InspectError::Corrupt)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(InspectError::ManifestTooLarge {
            path: path.to_owned(),
            size: bytes.len() as u64,
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| InspectError::ManifestNotUtf8 { path: path.to_owned() })?;
    let manifest_error = |source| InspectError::Manifest {
        path: path.to_owned(),
        source: Box::new(source),
    };
    let manifest = Manifest::parse(&text).map_err(manifest_error)?;
    manifest.package_for_publishing().map_err(manifest_error)?;
    Ok(manifest)
}

fn check_top_dir(found: &str, manifest: &Manifest) -> Result<(), InspectError> {
    let package = manifest
        .package_for_publishing()
        .expect("read_manifest checked the publishing rules");
    let expected = top_dir(&package.meta.name, &package.version);
    if found == expected {
        Ok(())
    } else {
        Err(InspectError::TopDirMismatch {
            found: found.to_owned(),
            expected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::pack::pack;
    use std::io::Write;

    const MANIFEST: &str = "[package]\nname = \"demo\"\nversion = \"1.2.3\"\n";

    /// A .tar.gz of `(path, contents)` entries in the given order, built
    /// without our packer.
    fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (path, contents) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(contents.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, path, *contents).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn file_and_bytes_agree_with_an_independent_hash() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST_FILE), MANIFEST).unwrap();
        // Incompressible bytes make an archive larger than one read chunk.
        let mut noise = Vec::new();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..(3 * CHUNK / 8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            noise.extend_from_slice(&state.to_le_bytes());
        }
        std::fs::write(dir.path().join("noise.bin"), &noise).unwrap();
        let packed = pack(dir.path(), &[]).unwrap();
        assert!(packed.bytes.len() > 2 * CHUNK);
        let path = dir.path().join("demo.tar.gz");
        std::fs::write(&path, &packed.bytes).unwrap();

        let from_file = read_package_archive(&path).unwrap();
        let from_bytes = summarize_bytes(&packed.bytes).unwrap();
        assert_eq!(from_file, from_bytes);
        assert_eq!(from_file.sha256, sha256_hex(&packed.bytes));
        assert_eq!(from_file.size, packed.bytes.len() as u64);
        assert_eq!(from_file.manifest, Manifest::parse(MANIFEST).unwrap());
    }

    #[test]
    fn stops_decompressing_after_the_manifest() {
        // The manifest first, then data whose tail is garbage: a reader that
        // decompressed everything would fail on it (checked below).
        let noise: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut bytes = tar_gz(&[
            ("demo-1.2.3/ggen.toml", MANIFEST.as_bytes()),
            ("demo-1.2.3/noise", &noise),
        ]);
        let tail = bytes.len() - 2_000;
        bytes[tail..].fill(0xa5);
        let mut full = Vec::new();
        let full_read = flate2::read::GzDecoder::new(bytes.as_slice()).read_to_end(&mut full);
        assert!(full_read.is_err(), "the garbage tail must break full decompression");

        let summary = summarize_bytes(&bytes).unwrap();
        assert_eq!(summary.sha256, sha256_hex(&bytes));
        assert_eq!(summary.size, bytes.len() as u64);
    }

    #[test]
    fn scans_on_when_the_manifest_is_not_first() {
        let big = vec![b'x'; 300_000];
        let bytes = tar_gz(&[
            ("demo-1.2.3/a.txt", b"a"),
            ("demo-1.2.3/big.bin", &big),
            ("demo-1.2.3/ggen.toml", MANIFEST.as_bytes()),
        ]);
        let summary = summarize_bytes(&bytes).unwrap();
        assert_eq!(summary.manifest.package.unwrap().name, "demo");
    }

    #[test]
    fn a_nested_ggen_toml_is_not_the_manifest() {
        let bytes = tar_gz(&[("demo-1.2.3/templates/ggen.toml", MANIFEST.as_bytes())]);
        assert!(matches!(summarize_bytes(&bytes), Err(InspectError::NoManifest)));
    }

    #[test]
    fn refuses_a_top_directory_that_disagrees_with_the_manifest() {
        let bytes = tar_gz(&[("demo-1.2.4/ggen.toml", MANIFEST.as_bytes())]);
        let err = summarize_bytes(&bytes).unwrap_err();
        assert!(
            matches!(&err, InspectError::TopDirMismatch { found, expected } if found == "demo-1.2.4" && expected == "demo-1.2.3"),
            "{err:?}"
        );
        let bytes = tar_gz(&[("other-1.0.0/x", b"x"), ("demo-1.2.3/ggen.toml", MANIFEST.as_bytes())]);
        assert!(matches!(
            summarize_bytes(&bytes),
            Err(InspectError::MixedTopDirs { .. })
        ));
    }

    #[test]
    fn refuses_non_gzip_truncated_and_invalid_manifests() {
        assert!(matches!(
            summarize_bytes(b"PK\x03\x04 a zip file"),
            Err(InspectError::NotGzip)
        ));
        assert!(matches!(summarize_bytes(b""), Err(InspectError::NotGzip)));
        let bytes = tar_gz(&[("demo-1.2.3/ggen.toml", MANIFEST.as_bytes())]);
        assert!(matches!(summarize_bytes(&bytes[..20]), Err(InspectError::Corrupt(_))));

        let bad = tar_gz(&[(
            "demo-1.2.3/ggen.toml",
            b"[package]\nname = \"demo\"\nversion = \"1.2\"\n",
        )]);
        assert!(matches!(
            summarize_bytes(&bad),
            Err(InspectError::Manifest { source, .. }) if matches!(*source, ManifestError::Version { .. })
        ));
        let binary = tar_gz(&[("demo-1.2.3/ggen.toml", b"\xff\xfe")]);
        assert!(matches!(
            summarize_bytes(&binary),
            Err(InspectError::ManifestNotUtf8 { .. })
        ));
        let huge = vec![b'#'; MAX_MANIFEST_BYTES as usize + 1];
        let huge = tar_gz(&[("demo-1.2.3/ggen.toml", &huge)]);
        assert!(matches!(
            summarize_bytes(&huge),
            Err(InspectError::ManifestTooLarge { .. })
        ));
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.tar.gz");
        let err = read_package_archive(&path).unwrap_err();
        assert!(matches!(&err, ReadArchiveError::Io { path: p, .. } if p == &path));
        std::fs::File::create(&path).unwrap().write_all(b"plain text").unwrap();
        let err = read_package_archive(&path).unwrap_err();
        assert!(err.to_string().contains("missing.tar.gz"), "{err}");
        assert!(matches!(
            err,
            ReadArchiveError::Invalid {
                source: InspectError::NotGzip,
                ..
            }
        ));
    }
}
