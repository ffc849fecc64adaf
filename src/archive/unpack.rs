//! Safe extraction of a package archive, for installation.
//!
//! An archive comes from the network and is trusted no further than its
//! checksum: every entry is checked before anything is written, and the
//! package appears at its destination only once all of it has been
//! written and verified.
//!
//! Refused, each with its own [`UnpackError`] variant naming the entry:
//! absolute paths, `..`, backslashes, `.` or empty path components, names
//! that are not UTF-8, entries outside `{name}-{version}/`, symbolic and
//! hard links, devices, fifos and other special entries, duplicate entries,
//! more file bytes than [`ExtractLimits::max_total_bytes`] (counted as they
//! are decompressed, so a header that understates a size cannot slip past)
//! or more entries than [`ExtractLimits::max_entries`], tar metadata (long
//! names, extension headers, padding) out of proportion to the files,
//! non-gzip input, truncated or corrupt gzip (the CRC is checked), bytes
//! after the gzip stream or non-zero data after the tar end marker, an
//! archive without `ggen.toml`, and a manifest whose name or version is not
//! the expected one.
//!
//! Modes are normalized: files 0644, or 0755 if any executable bit was set;
//! directories 0755 (less the umask). Setuid, setgid and sticky bits never
//! survive, nor do the archive's owners and mtimes.
//!
//! Files are not fsynced: whoever installs records completion (e.g. in a
//! lockfile written atomically) after `extract` returns.
//!
//! ```
//! use ggen_marketplace::archive::{pack, unpack::{extract, ExtractLimits}};
//! let package = tempfile::tempdir().unwrap();
//! std::fs::write(package.path().join("ggen.toml"), "[package]\nname = \"hello\"\nversion = \"1.0.0\"\n").unwrap();
//! std::fs::write(package.path().join("hello.tmpl"), "Hello!\n").unwrap();
//! let packed = pack(package.path(), &[]).unwrap();
//!
//! let home = tempfile::tempdir().unwrap();
//! let dest = home.path().join("packages/hello-1.0.0");
//! let version = semver::Version::new(1, 0, 0);
//! let extracted = extract(packed.bytes.as_slice(), ("hello", &version), &dest, &ExtractLimits::default()).unwrap();
//! assert_eq!(extracted.files, 2);
//! assert_eq!(std::fs::read_to_string(dest.join("hello.tmpl")).unwrap(), "Hello!\n");
//! ```

use std::cell::Cell;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::top_dir;
use crate::format::manifest::{MANIFEST_FILE, Manifest, ManifestError};

/// Bounds on what one archive may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    /// The most bytes of file contents, summed over every file.
    pub max_total_bytes: u64,
    /// The most tar entries (files, directories, metadata entries).
    pub max_entries: u64,
}

impl Default for ExtractLimits {
    /// 512 MiB and 100,000 entries: far above any template pack, far below
    /// what would hurt a machine.
    fn default() -> Self {
        ExtractLimits {
            max_total_bytes: 512 * 1024 * 1024,
            max_entries: 100_000,
        }
    }
}

/// What [`extract`] put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedPackage {
    /// The package's `ggen.toml`.
    pub manifest: Manifest,
    /// The number of regular files written.
    pub files: u64,
    /// The number of bytes of file contents written.
    pub bytes: u64,
}

/// Why an archive was not extracted. On every error the destination is
/// left absent and no temporary directory remains.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum UnpackError {
    /// The destination already exists.
    #[error("{} already exists; remove it first to reinstall", dest.display())]
    DestinationExists { dest: PathBuf },
    /// A filesystem operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The input is not gzip.
    #[error("not a gzip file; a package archive is a .tar.gz — download it again")]
    NotGzip,
    /// The gzip stream ends early.
    #[error("the archive is truncated; download it again")]
    Truncated { source: io::Error },
    /// gzip or tar could not be decoded.
    #[error("the archive is corrupt; download it again")]
    Corrupt { source: io::Error },
    /// Bytes follow the gzip stream.
    #[error("bytes follow the end of the gzip stream; the archive was not made by `ggen-market package`")]
    TrailingData,
    /// Non-zero data follows the tar end marker.
    #[error("data follows the tar end-of-archive marker; other tools would read entries this one skips")]
    DataAfterEnd,
    /// An absolute path.
    #[error("entry `{path}` has an absolute path")]
    AbsolutePath { path: String },
    /// A `..` component.
    #[error("entry `{path}` climbs out of its directory with `..`")]
    ParentDir { path: String },
    /// A backslash, which Windows reads as a separator.
    #[error("entry `{path}` has a backslash in its path")]
    Backslash { path: String },
    /// An empty or `.` component, or a file path ending in `/`.
    #[error("entry `{path}` has an empty or `.` path component")]
    UnusualPath { path: String },
    /// A path that is not UTF-8.
    #[error("entry `{path}` has a path that is not UTF-8")]
    NonUtf8Path { path: String },
    /// An entry outside `{name}-{version}/`.
    #[error("entry `{path}` lies outside `{prefix}/`")]
    OutsidePrefix { path: String, prefix: String },
    /// A symbolic link.
    #[error("entry `{path}` is a symbolic link (to `{target}`); packages hold only files and directories")]
    Symlink { path: String, target: String },
    /// A hard link.
    #[error("entry `{path}` is a hard link (to `{target}`); packages hold only files and directories")]
    Hardlink { path: String, target: String },
    /// A character or block device.
    #[error("entry `{path}` is a device file")]
    Device { path: String },
    /// A fifo.
    #[error("entry `{path}` is a fifo")]
    Fifo { path: String },
    /// Any other entry type (sparse, contiguous, vendor extensions).
    #[error("entry `{path}` has unsupported tar type {kind:?}")]
    UnsupportedEntry { path: String, kind: char },
    /// The same path twice, or a file where a directory is (or the reverse).
    #[error("entry `{path}` clashes with an earlier entry of the same path")]
    Duplicate { path: String },
    /// File contents beyond the size limit.
    #[error("entry `{path}` takes the unpacked size over the limit of {limit} bytes")]
    TooLarge { path: String, limit: u64 },
    /// More entries than the limit.
    #[error("entry `{path}` is over the limit of {limit} entries")]
    TooManyEntries { path: String, limit: u64 },
    /// Tar metadata out of proportion to the files (e.g. a huge long name).
    #[error("the archive holds over {limit} bytes of tar metadata and padding beyond its files' contents")]
    OversizedMetadata { limit: u64 },
    /// No `{name}-{version}/ggen.toml`.
    #[error("the archive has no `{prefix}/{MANIFEST_FILE}`")]
    NoManifest { prefix: String },
    /// The manifest does not parse.
    #[error("`{prefix}/{MANIFEST_FILE}` is not a valid package manifest")]
    Manifest { prefix: String, source: Box<ManifestError> },
    /// The manifest names another package or version.
    #[error(
        "the archive's manifest is for {found_name} {found_version}, not the expected {expected_name} \
         {expected_version}; the index and the archive disagree"
    )]
    ManifestMismatch {
        expected_name: String,
        expected_version: String,
        found_name: String,
        found_version: String,
    },
}

/// Tar metadata allowed before any entry: covers the copy buffer read ahead
/// of crediting, headers and the end marker.
const BASE_METADATA_ALLOWANCE: u64 = 1024 * 1024;
/// Tar metadata allowed per entry: a header, padding and a long name.
const ENTRY_METADATA_ALLOWANCE: u64 = 4096;
const COPY_BUFFER: usize = 64 * 1024;

/// Extracts the package archive `archive` to `dest`, which must not exist,
/// checking that it holds `expected` = (name, version). See the module docs
/// for everything refused.
pub fn extract(
    archive: impl Read,
    expected: (&str, &semver::Version),
    dest: &Path,
    limits: &ExtractLimits,
) -> Result<ExtractedPackage, UnpackError> {
    if dest.symlink_metadata().is_ok() {
        return Err(UnpackError::DestinationExists { dest: dest.to_owned() });
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io_error("create directory", parent))?;
    // Beside `dest`, so the final rename stays on one filesystem. Dropping
    // it on any error removes everything written so far.
    let temp = tempfile::Builder::new()
        .prefix(".ggen-unpack-")
        .tempdir_in(parent)
        .map_err(io_error("create a temporary directory in", parent))?;

    let prefix = top_dir(expected.0, expected.1);
    let written = unpack_into(archive, &prefix, &mut Destination::Disk(temp.path()), limits)?;
    let manifest = check_manifest(&read_manifest_file(temp.path()), &prefix, expected)?;

    set_mode(temp.path(), 0o755)?;
    let staged = temp.keep();
    fs::rename(&staged, dest).map_err(|source| {
        let _ = fs::remove_dir_all(&staged);
        if dest.exists() {
            UnpackError::DestinationExists { dest: dest.to_owned() }
        } else {
            UnpackError::Io {
                action: "rename into place",
                path: dest.to_owned(),
                source,
            }
        }
    })?;
    Ok(ExtractedPackage {
        manifest,
        files: written.files,
        bytes: written.bytes,
    })
}

/// Everything [`extract`] checks, with nothing written anywhere: what the
/// pull-request gate asks of an archive before anyone installs it. Returns
/// the archive's manifest.
pub fn check_archive(
    archive: impl Read,
    expected: (&str, &semver::Version),
    limits: &ExtractLimits,
) -> Result<Manifest, UnpackError> {
    let prefix = top_dir(expected.0, expected.1);
    let mut tally = Tally::default();
    unpack_into(archive, &prefix, &mut Destination::Nowhere(&mut tally), limits)?;
    let manifest = tally.manifest.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    check_manifest(&manifest, &prefix, expected)
}

/// Where unpacked entries go.
enum Destination<'a> {
    /// Files written under this directory.
    Disk(&'a Path),
    /// Nothing written: paths remembered to find clashes, the manifest kept.
    Nowhere(&'a mut Tally),
}

/// What an archive would have unpacked to.
#[derive(Debug, Default)]
struct Tally {
    files: std::collections::HashSet<String>,
    dirs: std::collections::HashSet<String>,
    manifest: Option<Vec<u8>>,
}

impl Tally {
    /// Records a directory and its parents; a file in the way is a clash.
    fn dir(&mut self, relative: &str, entry_path: &str) -> Result<(), UnpackError> {
        let mut path = String::new();
        for component in relative.split('/').filter(|c| !c.is_empty()) {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(component);
            if self.files.contains(&path) {
                return Err(UnpackError::Duplicate {
                    path: entry_path.to_owned(),
                });
            }
            self.dirs.insert(path.clone());
        }
        Ok(())
    }

    /// Records a file; an earlier file or directory at its path is a clash.
    fn file(&mut self, relative: &str, entry_path: &str) -> Result<(), UnpackError> {
        if let Some((parent, _)) = relative.rsplit_once('/') {
            self.dir(parent, entry_path)?;
        }
        if self.dirs.contains(relative) || !self.files.insert(relative.to_owned()) {
            return Err(UnpackError::Duplicate {
                path: entry_path.to_owned(),
            });
        }
        Ok(())
    }
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> UnpackError {
    let path = path.to_owned();
    move |source| UnpackError::Io { action, path, source }
}

/// Counts decompressed bytes and refuses to deliver more than allowed; the
/// extractor raises the allowance as it writes files and meets entries.
/// Mirror imports bound their tar streams the same way.
#[derive(Debug)]
pub(crate) struct StreamMeter {
    read: Cell<u64>,
    allowed: Cell<u64>,
}

impl StreamMeter {
    /// A meter that allows `bytes` to start with.
    pub(crate) fn new(bytes: u64) -> Self {
        StreamMeter {
            read: Cell::new(0),
            allowed: Cell::new(bytes),
        }
    }

    /// Allows `bytes` more.
    pub(crate) fn allow(&self, bytes: u64) {
        self.allowed.set(self.allowed.get().saturating_add(bytes));
    }

    /// Whether everything allowed has been read (so a read error was the
    /// meter's refusal).
    pub(crate) fn exhausted(&self) -> bool {
        self.read.get() >= self.allowed.get()
    }
}

/// A reader that delivers no more than its meter allows.
pub(crate) struct MeteredReader<'m, R> {
    inner: R,
    meter: &'m StreamMeter,
}

impl<'m, R> MeteredReader<'m, R> {
    pub(crate) fn new(inner: R, meter: &'m StreamMeter) -> Self {
        MeteredReader { inner, meter }
    }

    pub(crate) fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for MeteredReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.meter.allowed.get().saturating_sub(self.meter.read.get());
        if remaining == 0 && !buf.is_empty() {
            return Err(io::Error::other("tar metadata allowance exhausted"));
        }
        let len = buf.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..len])?;
        self.meter.read.set(self.meter.read.get() + read as u64);
        Ok(read)
    }
}

/// What was written into the temp dir.
#[derive(Debug, Default)]
struct Written {
    files: u64,
    bytes: u64,
}

fn unpack_into(
    archive: impl Read,
    prefix: &str,
    destination: &mut Destination,
    limits: &ExtractLimits,
) -> Result<Written, UnpackError> {
    let mut compressed = BufReader::new(archive);
    let head = compressed
        .fill_buf()
        .map_err(|source| UnpackError::Corrupt { source })?;
    if !head.starts_with(&[0x1f, 0x8b]) {
        return Err(UnpackError::NotGzip);
    }
    let meter = StreamMeter::new(BASE_METADATA_ALLOWANCE);
    let classify = |source: io::Error| classify_stream_error(source, &meter, limits);
    let decoder = flate2::bufread::GzDecoder::new(&mut compressed);
    let mut tar = tar::Archive::new(MeteredReader::new(decoder, &meter));
    let mut written = Written::default();
    let mut entries = 0u64;
    let mut buffer = vec![0u8; COPY_BUFFER];
    for entry in tar.entries().map_err(classify)? {
        let mut entry = entry.map_err(classify)?;
        let raw_path = entry.path_bytes().into_owned();
        let display_path = String::from_utf8_lossy(&raw_path).into_owned();
        entries += 1;
        if entries > limits.max_entries {
            return Err(UnpackError::TooManyEntries {
                path: display_path,
                limit: limits.max_entries,
            });
        }
        meter.allow(ENTRY_METADATA_ALLOWANCE);
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            continue; // archive-wide metadata (e.g. from `git archive`), not a file
        }
        let path = String::from_utf8(raw_path).map_err(|_| UnpackError::NonUtf8Path {
            path: display_path.clone(),
        })?;
        let relative = relative_path(&path, prefix, kind == tar::EntryType::Directory)?;
        match kind {
            tar::EntryType::Regular => {
                let executable = entry.header().mode().map_err(classify)? & 0o111 != 0;
                let mut count = |n| {
                    written.bytes += n;
                    if written.bytes > limits.max_total_bytes {
                        Err(UnpackError::TooLarge {
                            path: path.clone(),
                            limit: limits.max_total_bytes,
                        })
                    } else {
                        Ok(())
                    }
                };
                let copied = match destination {
                    Destination::Disk(root) => {
                        let target = root.join(&relative);
                        write_file(&mut entry, &path, &target, executable, &mut buffer, &meter, &mut count)
                    }
                    Destination::Nowhere(tally) => {
                        tally.file(&relative, &path)?;
                        let mut kept = Vec::new();
                        let out: &mut dyn Write = if relative == MANIFEST_FILE {
                            &mut kept
                        } else {
                            &mut io::sink()
                        };
                        let copied = copy_counted(&mut entry, out, &mut buffer, &meter, &mut count);
                        if relative == MANIFEST_FILE {
                            tally.manifest = Some(kept);
                        }
                        copied
                    }
                };
                let bytes = copied.map_err(|err| match err {
                    StreamOrUnpack::Stream(source) => classify(source),
                    StreamOrUnpack::Unpack(err) => err,
                })?;
                check_complete(&path, bytes, entry.size())?;
                written.files += 1;
            }
            tar::EntryType::Directory => match destination {
                Destination::Disk(root) => create_dirs(&root.join(&relative), &path)?,
                Destination::Nowhere(tally) => tally.dir(&relative, &path)?,
            },
            _ => return Err(refuse_entry_type(&entry, kind, path)),
        }
    }
    finish_stream(tar.into_inner(), &meter, limits)?;
    if !compressed
        .fill_buf()
        .map_err(|source| UnpackError::Corrupt { source })?
        .is_empty()
    {
        return Err(UnpackError::TrailingData);
    }
    Ok(written)
}

/// Which layer an error in writing a file came from.
enum StreamOrUnpack {
    Stream(io::Error),
    Unpack(UnpackError),
}

/// Copies one entry to `target` (a new file), calling `count` after each
/// chunk read so limits apply to bytes actually decompressed.
fn write_file(
    entry: &mut impl Read,
    path: &str,
    target: &Path,
    executable: bool,
    buffer: &mut [u8],
    meter: &StreamMeter,
    count: &mut impl FnMut(u64) -> Result<(), UnpackError>,
) -> Result<u64, StreamOrUnpack> {
    if let Some(parent) = target.parent() {
        create_dirs(parent, path).map_err(StreamOrUnpack::Unpack)?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(target)
        .map_err(|source| StreamOrUnpack::Unpack(clash_or_io(source, path, "create", target)))?;
    let total = copy_counted(entry, &mut file, buffer, meter, count).map_err(|err| match err {
        StreamOrUnpack::Unpack(UnpackError::Io { source, .. }) => {
            StreamOrUnpack::Unpack(io_error("write", target)(source))
        }
        other => other,
    })?;
    set_file_mode(&file, target, if executable { 0o755 } else { 0o644 }).map_err(StreamOrUnpack::Unpack)?;
    Ok(total)
}

/// Copies an entry's data to `out` chunk by chunk, counting each chunk
/// against the limits before it is written.
fn copy_counted(
    entry: &mut impl Read,
    out: &mut dyn Write,
    buffer: &mut [u8],
    meter: &StreamMeter,
    count: &mut impl FnMut(u64) -> Result<(), UnpackError>,
) -> Result<u64, StreamOrUnpack> {
    let mut total = 0u64;
    loop {
        let read = entry.read(buffer).map_err(StreamOrUnpack::Stream)?;
        if read == 0 {
            return Ok(total);
        }
        count(read as u64).map_err(StreamOrUnpack::Unpack)?;
        meter.allow(read as u64);
        out.write_all(&buffer[..read]).map_err(|source| {
            StreamOrUnpack::Unpack(UnpackError::Io {
                action: "write",
                path: PathBuf::new(),
                source,
            })
        })?;
        total += read as u64;
    }
}

/// A tar entry whose data ends before its header's size: the gzip stream
/// ended cleanly inside the tar stream.
fn check_complete(path: &str, written: u64, declared: u64) -> Result<(), UnpackError> {
    if written == declared {
        return Ok(());
    }
    Err(UnpackError::Truncated {
        source: io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("entry `{path}` ends after {written} of its {declared} bytes"),
        ),
    })
}

/// Reads what follows the tar end marker to the end of the gzip stream,
/// which checks the gzip CRC and length; only zero padding may be there.
fn finish_stream(mut rest: impl Read, meter: &StreamMeter, limits: &ExtractLimits) -> Result<(), UnpackError> {
    let mut buffer = [0u8; 8192];
    loop {
        let read = rest
            .read(&mut buffer)
            .map_err(|source| classify_stream_error(source, meter, limits))?;
        if read == 0 {
            return Ok(());
        }
        if buffer[..read].iter().any(|&b| b != 0) {
            return Err(UnpackError::DataAfterEnd);
        }
    }
}

fn classify_stream_error(source: io::Error, meter: &StreamMeter, limits: &ExtractLimits) -> UnpackError {
    if meter.exhausted() {
        UnpackError::OversizedMetadata {
            limit: BASE_METADATA_ALLOWANCE + ENTRY_METADATA_ALLOWANCE * limits.max_entries,
        }
    } else if source.kind() == io::ErrorKind::UnexpectedEof {
        UnpackError::Truncated { source }
    } else {
        UnpackError::Corrupt { source }
    }
}

/// The entry's path inside the package, after every path rule: `""` is
/// the package root itself (allowed only for a directory entry).
fn relative_path(path: &str, prefix: &str, is_dir: bool) -> Result<String, UnpackError> {
    let refuse = |make: fn(String) -> UnpackError| Err(make(path.to_owned()));
    if path.contains('\\') {
        return refuse(|path| UnpackError::Backslash { path });
    }
    let bytes = path.as_bytes();
    let windows_drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if path.starts_with('/') || windows_drive {
        return refuse(|path| UnpackError::AbsolutePath { path });
    }
    let trimmed = match path.strip_suffix('/') {
        Some(trimmed) if is_dir => trimmed,
        Some(_) => return refuse(|path| UnpackError::UnusualPath { path }),
        None => path,
    };
    let components: Vec<&str> = trimmed.split('/').collect();
    if components.contains(&"..") {
        return refuse(|path| UnpackError::ParentDir { path });
    }
    if components.iter().any(|c| c.is_empty() || *c == ".") {
        return refuse(|path| UnpackError::UnusualPath { path });
    }
    if components[0] != prefix {
        return Err(UnpackError::OutsidePrefix {
            path: path.to_owned(),
            prefix: prefix.to_owned(),
        });
    }
    if components.len() == 1 && !is_dir {
        return refuse(|path| UnpackError::UnusualPath { path });
    }
    Ok(components[1..].join("/"))
}

fn refuse_entry_type<R: Read>(entry: &tar::Entry<'_, R>, kind: tar::EntryType, path: String) -> UnpackError {
    let target = || {
        entry
            .link_name_bytes()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .unwrap_or_default()
    };
    match kind {
        tar::EntryType::Symlink => UnpackError::Symlink { path, target: target() },
        tar::EntryType::Link => UnpackError::Hardlink { path, target: target() },
        tar::EntryType::Char | tar::EntryType::Block => UnpackError::Device { path },
        tar::EntryType::Fifo => UnpackError::Fifo { path },
        other => UnpackError::UnsupportedEntry {
            path,
            kind: char::from(other.as_byte()),
        },
    }
}

fn create_dirs(dir: &Path, entry_path: &str) -> Result<(), UnpackError> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o755);
    builder
        .create(dir)
        .map_err(|source| clash_or_io(source, entry_path, "create directory", dir))
}

/// A path taken by an earlier entry (file vs directory, or the same file
/// twice) is the archive's fault; anything else is the filesystem's.
fn clash_or_io(source: io::Error, entry_path: &str, action: &'static str, path: &Path) -> UnpackError {
    match source.kind() {
        io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory => {
            UnpackError::Duplicate {
                path: entry_path.to_owned(),
            }
        }
        _ => io_error(action, path)(source),
    }
}

#[cfg(unix)]
fn set_file_mode(file: &File, path: &Path, mode: u32) -> Result<(), UnpackError> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_error("set permissions of", path))
}

#[cfg(not(unix))]
fn set_file_mode(_file: &File, _path: &Path, _mode: u32) -> Result<(), UnpackError> {
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), UnpackError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_error("set permissions of", path))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), UnpackError> {
    Ok(())
}

/// The manifest file extracted under `root`, if any.
fn read_manifest_file(root: &Path) -> Option<String> {
    let bytes = fs::read(root.join(MANIFEST_FILE)).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Checks the manifest's text (`None`: the archive has none) names the
/// expected package.
fn check_manifest(
    text: &Option<String>,
    prefix: &str,
    expected: (&str, &semver::Version),
) -> Result<Manifest, UnpackError> {
    let Some(text) = text else {
        return Err(UnpackError::NoManifest {
            prefix: prefix.to_owned(),
        });
    };
    let manifest_error = |source| UnpackError::Manifest {
        prefix: prefix.to_owned(),
        source: Box::new(source),
    };
    let manifest = Manifest::parse(text).map_err(manifest_error)?;
    let meta = manifest
        .package
        .as_ref()
        .ok_or(ManifestError::NoPackage)
        .map_err(manifest_error)?;
    let version = semver::Version::parse(&meta.version).map_err(|source| {
        manifest_error(ManifestError::Version {
            version: meta.version.clone(),
            source,
        })
    })?;
    if meta.name != expected.0 || version != *expected.1 {
        return Err(UnpackError::ManifestMismatch {
            expected_name: expected.0.to_owned(),
            expected_version: expected.1.to_string(),
            found_name: meta.name.clone(),
            found_version: meta.version.clone(),
        });
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

    const MANIFEST: &[u8] = b"[package]\nname = \"demo\"\nversion = \"1.0.0\"\n";

    fn version() -> semver::Version {
        semver::Version::new(1, 0, 0)
    }

    /// One tar entry written byte by byte, so tests can say what the `tar`
    /// crate's builder refuses to write.
    struct Raw {
        path: Vec<u8>,
        kind: u8,
        mode: u32,
        data: Vec<u8>,
        link: Vec<u8>,
        /// The size field when it should lie about `data`.
        header_size: Option<u64>,
    }

    fn raw(path: impl AsRef<[u8]>, kind: u8, data: impl AsRef<[u8]>) -> Raw {
        Raw {
            path: path.as_ref().to_vec(),
            kind,
            mode: 0o644,
            data: data.as_ref().to_vec(),
            link: Vec::new(),
            header_size: None,
        }
    }

    fn file(path: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Raw {
        raw(path, b'0', data)
    }

    fn manifest() -> Raw {
        file("demo-1.0.0/ggen.toml", MANIFEST)
    }

    fn tar_bytes(entries: &[Raw]) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in entries {
            let mut header = tar::Header::new_gnu();
            let old = header.as_old_mut();
            old.name[..entry.path.len()].copy_from_slice(&entry.path);
            old.linkname[..entry.link.len()].copy_from_slice(&entry.link);
            header.set_mode(entry.mode);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_size(entry.header_size.unwrap_or(entry.data.len() as u64));
            header.set_entry_type(tar::EntryType::new(entry.kind));
            header.set_cksum();
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(&entry.data);
            out.resize(out.len().next_multiple_of(512), 0);
        }
        out.extend_from_slice(&[0; 1024]);
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn archive(entries: &[Raw]) -> Vec<u8> {
        gzip(&tar_bytes(entries))
    }

    /// Extracts into `root/installs/demo-1.0.0` expecting a refusal, and
    /// checks the aftermath: no destination, no temp dir, nothing written
    /// anywhere else under `root`.
    fn refused_with(build: impl FnOnce(&Path) -> Vec<u8>, limits: ExtractLimits) -> UnpackError {
        let root = tempfile::tempdir().unwrap();
        let installs = root.path().join("installs");
        let dest = installs.join("demo-1.0.0");
        let bytes = build(root.path());
        let err = extract(bytes.as_slice(), ("demo", &version()), &dest, &limits).unwrap_err();
        assert!(!dest.exists(), "{err}: the destination must stay absent");
        // The check that writes nothing refuses every archive the same way.
        let checked = check_archive(bytes.as_slice(), ("demo", &version()), &limits).unwrap_err();
        assert_eq!(
            std::mem::discriminant(&checked),
            std::mem::discriminant(&err),
            "check_archive: {checked}, extract: {err}"
        );
        let left: Vec<_> = fs::read_dir(&installs)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{err}: temp dir left behind: {left:?}");
        let top: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            top,
            ["installs"],
            "{err}: something was written outside the destination"
        );
        err
    }

    fn refused(bytes: Vec<u8>) -> UnpackError {
        refused_with(|_| bytes, ExtractLimits::default())
    }

    fn extracted(bytes: &[u8]) -> (tempfile::TempDir, PathBuf, ExtractedPackage) {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("demo-1.0.0");
        let package = extract(bytes, ("demo", &version()), &dest, &ExtractLimits::default()).unwrap();
        let checked = check_archive(bytes, ("demo", &version()), &ExtractLimits::default()).unwrap();
        assert_eq!(checked, package.manifest, "check_archive accepts what extract accepts");
        (root, dest, package)
    }

    #[test]
    fn round_trips_what_pack_wrote() {
        let source = tempfile::tempdir().unwrap();
        fs::write(source.path().join(MANIFEST_FILE), MANIFEST).unwrap();
        fs::create_dir_all(source.path().join("templates/deep")).unwrap();
        fs::write(source.path().join("templates/deep/a.tmpl"), "{{ a }}").unwrap();
        fs::write(source.path().join("run.sh"), "#!/bin/sh\n").unwrap();
        // Over 100 bytes: stored with a GNU long-name entry.
        let long = format!("templates/{}/{}.tmpl", "d".repeat(60), "f".repeat(60));
        fs::create_dir_all(source.path().join(&long).parent().unwrap()).unwrap();
        fs::write(source.path().join(&long), "long").unwrap();
        #[cfg(unix)]
        fs::set_permissions(source.path().join("run.sh"), fs::Permissions::from_mode(0o744)).unwrap();
        let packed = crate::archive::pack(source.path(), &[]).unwrap();
        let path = source.path().join(packed.file_name());
        fs::write(&path, &packed.bytes).unwrap();

        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("packages/demo-1.0.0");
        let package = extract(
            File::open(&path).unwrap(),
            ("demo", &version()),
            &dest,
            &ExtractLimits::default(),
        )
        .unwrap();
        assert_eq!(package.files, 4);
        let all = ["ggen.toml", "templates/deep/a.tmpl", "run.sh", long.as_str()];
        let expected_bytes: u64 = all
            .iter()
            .map(|p| fs::metadata(source.path().join(p)).unwrap().len())
            .sum();
        assert_eq!(package.bytes, expected_bytes);
        assert_eq!(
            package.manifest,
            Manifest::parse(std::str::from_utf8(MANIFEST).unwrap()).unwrap()
        );
        for relative in all {
            assert_eq!(
                fs::read(dest.join(relative)).unwrap(),
                fs::read(source.path().join(relative)).unwrap()
            );
        }
        #[cfg(unix)]
        {
            let mode = |p: &str| fs::metadata(dest.join(p)).unwrap().permissions().mode() & 0o7777;
            assert_eq!(mode("run.sh"), 0o755);
            assert_eq!(mode("ggen.toml"), 0o644);
            assert_eq!(mode(""), 0o755, "the package root is not left 0700 like a temp dir");
        }
        let siblings: Vec<_> = fs::read_dir(dest.parent().unwrap()).unwrap().collect();
        assert_eq!(siblings.len(), 1, "only the package, no temp dir");
    }

    #[cfg(unix)]
    #[test]
    fn drops_setuid_setgid_and_sticky_bits() {
        let mut setuid = file("demo-1.0.0/bin/tool", "#!/bin/sh\n");
        setuid.mode = 0o4755;
        let mut setgid = file("demo-1.0.0/shared.txt", "x");
        setgid.mode = 0o2664;
        let mut sticky = raw("demo-1.0.0/tmp/", b'5', "");
        sticky.mode = 0o1777;
        let (_root, dest, _) = extracted(&archive(&[manifest(), setuid, setgid, sticky]));
        let mode = |p: &str| fs::metadata(dest.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode("bin/tool"), 0o755);
        assert_eq!(mode("shared.txt"), 0o644);
        assert_eq!(mode("tmp") & 0o7000, 0, "no sticky bit on directories");
        assert_eq!(mode("tmp") & 0o022, 0, "directories not writable by others");
    }

    #[test]
    fn accepts_a_directory_entry_for_the_package_root() {
        let (_root, dest, package) = extracted(&archive(&[raw("demo-1.0.0/", b'5', ""), manifest()]));
        assert_eq!(package.files, 1);
        assert!(dest.join(MANIFEST_FILE).is_file());
    }

    #[test]
    fn refuses_absolute_paths() {
        let err = refused_with(
            |root| archive(&[manifest(), file(format!("{}/escaped", root.display()), "x")]),
            ExtractLimits::default(),
        );
        assert!(
            matches!(&err, UnpackError::AbsolutePath { path } if path.ends_with("/escaped")),
            "{err:?}"
        );
        let err = refused(archive(&[manifest(), file("C:/windows/evil", "x")]));
        assert!(matches!(err, UnpackError::AbsolutePath { .. }), "{err:?}");
    }

    #[test]
    fn refuses_parent_components() {
        for path in [
            "demo-1.0.0/../../escaped",
            "../escaped",
            "demo-1.0.0/a/../../../escaped",
        ] {
            let err = refused(archive(&[manifest(), file(path, "x")]));
            assert!(
                matches!(&err, UnpackError::ParentDir { path: p } if p == path),
                "{err:?}"
            );
        }
        // Also as a directory entry, with the file first so it is not the only clue.
        let err = refused(archive(&[manifest(), raw("demo-1.0.0/../up/", b'5', "")]));
        assert!(matches!(err, UnpackError::ParentDir { .. }), "{err:?}");
    }

    #[test]
    fn refuses_backslashes() {
        let err = refused(archive(&[manifest(), file("demo-1.0.0\\..\\escaped", "x")]));
        assert!(
            matches!(&err, UnpackError::Backslash { path } if path.contains('\\')),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_empty_and_dot_components_and_non_utf8() {
        for path in [
            "demo-1.0.0//a",
            "demo-1.0.0/./a",
            "./demo-1.0.0/a",
            "demo-1.0.0/a/",
            "demo-1.0.0",
        ] {
            let err = refused(archive(&[manifest(), file(path, "x")]));
            assert!(matches!(err, UnpackError::UnusualPath { .. }), "{path}: {err:?}");
        }
        let err = refused(archive(&[manifest(), file(b"demo-1.0.0/caf\xe9", "x")]));
        assert!(matches!(err, UnpackError::NonUtf8Path { .. }), "{err:?}");
    }

    #[test]
    fn refuses_entries_outside_the_prefix() {
        for path in ["other-1.0.0/x", "demo-1.0.1/x", "demo-1.0.0x/x", "x"] {
            let err = refused(archive(&[manifest(), file(path, "x")]));
            assert!(
                matches!(&err, UnpackError::OutsidePrefix { path: p, prefix } if p == path && prefix == "demo-1.0.0"),
                "{path}: {err:?}"
            );
        }
    }

    #[test]
    fn refuses_symlinks_and_hardlinks() {
        let mut link = raw("demo-1.0.0/passwd", b'2', "");
        link.link = b"/etc/passwd".to_vec();
        let err = refused(archive(&[manifest(), link]));
        assert!(
            matches!(&err, UnpackError::Symlink { path, target } if path == "demo-1.0.0/passwd" && target == "/etc/passwd"),
            "{err:?}"
        );
        let mut hard = raw("demo-1.0.0/copy", b'1', "");
        hard.link = b"demo-1.0.0/ggen.toml".to_vec();
        let err = refused(archive(&[manifest(), hard]));
        assert!(
            matches!(&err, UnpackError::Hardlink { path, .. } if path == "demo-1.0.0/copy"),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_devices_fifos_and_other_types() {
        for kind in [b'3', b'4'] {
            let err = refused(archive(&[manifest(), raw("demo-1.0.0/dev", kind, "")]));
            assert!(
                matches!(&err, UnpackError::Device { path } if path == "demo-1.0.0/dev"),
                "{err:?}"
            );
        }
        let err = refused(archive(&[manifest(), raw("demo-1.0.0/pipe", b'6', "")]));
        assert!(
            matches!(&err, UnpackError::Fifo { path } if path == "demo-1.0.0/pipe"),
            "{err:?}"
        );
        let err = refused(archive(&[manifest(), raw("demo-1.0.0/c", b'7', "x")]));
        assert!(
            matches!(err, UnpackError::UnsupportedEntry { kind: '7', .. }),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_duplicates_and_file_directory_clashes() {
        let err = refused(archive(&[
            manifest(),
            file("demo-1.0.0/a", "1"),
            file("demo-1.0.0/a", "2"),
        ]));
        assert!(
            matches!(&err, UnpackError::Duplicate { path } if path == "demo-1.0.0/a"),
            "{err:?}"
        );
        let err = refused(archive(&[
            manifest(),
            file("demo-1.0.0/a", "1"),
            file("demo-1.0.0/a/b", "2"),
        ]));
        assert!(
            matches!(&err, UnpackError::Duplicate { path } if path == "demo-1.0.0/a/b"),
            "{err:?}"
        );
        let err = refused(archive(&[
            manifest(),
            raw("demo-1.0.0/d/", b'5', ""),
            file("demo-1.0.0/d", "x"),
        ]));
        assert!(matches!(err, UnpackError::Duplicate { .. }), "{err:?}");
    }

    #[test]
    fn refuses_a_gzip_bomb() {
        let zeros = vec![0u8; 8 * 1024 * 1024];
        let bomb = archive(&[manifest(), file("demo-1.0.0/zeros", &zeros)]);
        assert!(bomb.len() < 64 * 1024, "the bomb is small: {} bytes", bomb.len());
        let limits = ExtractLimits {
            max_total_bytes: 1024 * 1024,
            ..ExtractLimits::default()
        };
        let err = refused_with(|_| bomb, limits);
        assert!(
            matches!(&err, UnpackError::TooLarge { path, limit } if path == "demo-1.0.0/zeros" && *limit == 1024 * 1024),
            "{err:?}"
        );
    }

    #[test]
    fn the_size_limit_sums_over_files() {
        let chunk = vec![b'x'; 300 * 1024];
        let entries = [
            manifest(),
            file("demo-1.0.0/1", &chunk),
            file("demo-1.0.0/2", &chunk),
            file("demo-1.0.0/3", &chunk),
            file("demo-1.0.0/4", &chunk),
        ];
        let limits = ExtractLimits {
            max_total_bytes: 1024 * 1024,
            ..ExtractLimits::default()
        };
        let err = refused_with(|_| archive(&entries), limits);
        assert!(
            matches!(&err, UnpackError::TooLarge { path, .. } if path == "demo-1.0.0/4"),
            "{err:?}"
        );
    }

    /// A pax `size` record overrides the header's size field: the limit
    /// counts the bytes really decompressed, not the header's small claim.
    #[test]
    fn a_header_understating_its_size_does_not_bypass_the_limit() {
        let big = vec![0u8; 3 * 1024 * 1024];
        let record_body = format!("size={}\n", big.len());
        let record = format!("{} {record_body}", record_body.len() + 3); // "NN " + body; NN is two digits
        assert_eq!(
            record.len(),
            record.split_once(' ').unwrap().0.parse::<usize>().unwrap()
        );
        let mut lying = file("demo-1.0.0/big", &big);
        lying.header_size = Some(10);
        let entries = [manifest(), raw("demo-1.0.0/PaxHeader", b'x', record), lying];
        let limits = ExtractLimits {
            max_total_bytes: 1024 * 1024,
            ..ExtractLimits::default()
        };
        let err = refused_with(|_| archive(&entries), limits);
        assert!(
            matches!(&err, UnpackError::TooLarge { path, .. } if path == "demo-1.0.0/big"),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_too_many_entries() {
        let mut entries = vec![manifest()];
        entries.extend((0..50).map(|i| file(format!("demo-1.0.0/f{i}"), "x")));
        let limits = ExtractLimits {
            max_entries: 20,
            ..ExtractLimits::default()
        };
        let err = refused_with(|_| archive(&entries), limits);
        assert!(
            matches!(&err, UnpackError::TooManyEntries { path, limit: 20 } if path == "demo-1.0.0/f19"),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_metadata_out_of_proportion_to_the_files() {
        // A GNU long name of 3 MiB: the tar crate would buffer it whole.
        let mut name = vec![b'a'; 3 * 1024 * 1024];
        name.push(0);
        let entries = [
            manifest(),
            raw("././@LongLink", b'L', name),
            file("demo-1.0.0/short", "x"),
        ];
        let err = refused(archive(&entries));
        assert!(matches!(err, UnpackError::OversizedMetadata { .. }), "{err:?}");
    }

    #[test]
    fn refuses_non_gzip_truncated_and_corrupt_input() {
        let tar = tar_bytes(&[manifest(), file("demo-1.0.0/a", "a")]);
        assert!(matches!(refused(tar.clone()), UnpackError::NotGzip));
        assert!(matches!(refused(Vec::new()), UnpackError::NotGzip));

        let noise: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        let whole = archive(&[manifest(), file("demo-1.0.0/noise", &noise)]);
        for cut in [20, whole.len() / 2, whole.len() - 4] {
            let err = refused(whole[..cut].to_vec());
            assert!(matches!(err, UnpackError::Truncated { .. }), "cut at {cut}: {err:?}");
        }
        let mut bad_crc = whole.clone();
        let crc_at = bad_crc.len() - 8;
        bad_crc[crc_at] ^= 0xff;
        assert!(matches!(refused(bad_crc), UnpackError::Corrupt { .. }));

        let mut bad_header = tar.clone();
        let second_header = 512 + MANIFEST.len().next_multiple_of(512);
        bad_header[second_header + 10] ^= 0x01; // the second entry's name, so its checksum fails
        assert!(matches!(refused(gzip(&bad_header)), UnpackError::Corrupt { .. }));
    }

    #[test]
    fn refuses_a_header_that_overstates_its_size() {
        let mut overstated = file("demo-1.0.0/a", "short");
        overstated.header_size = Some(100_000);
        let mut tar = tar_bytes(&[manifest(), overstated]);
        tar.truncate(tar.len() - 1024); // the data simply ends
        let err = refused(gzip(&tar));
        assert!(matches!(err, UnpackError::Truncated { .. }), "{err:?}");
    }

    #[test]
    fn refuses_bytes_after_the_end() {
        let mut trailing = archive(&[manifest()]);
        trailing.extend_from_slice(&archive(&[file("demo-1.0.0/hidden", "x")]));
        assert!(matches!(refused(trailing), UnpackError::TrailingData));

        let mut after_end = tar_bytes(&[manifest()]);
        after_end.extend_from_slice(&tar_bytes(&[file("demo-1.0.0/hidden", "x")]));
        assert!(matches!(refused(gzip(&after_end)), UnpackError::DataAfterEnd));
    }

    #[test]
    fn refuses_a_missing_or_mismatched_manifest() {
        let err = refused(archive(&[file("demo-1.0.0/readme.md", "no manifest")]));
        assert!(
            matches!(&err, UnpackError::NoManifest { prefix } if prefix == "demo-1.0.0"),
            "{err:?}"
        );
        let err = refused(archive(&[file("demo-1.0.0/sub/ggen.toml", MANIFEST)]));
        assert!(matches!(err, UnpackError::NoManifest { .. }), "{err:?}");

        let other_name = file(
            "demo-1.0.0/ggen.toml",
            "[package]\nname = \"evil\"\nversion = \"1.0.0\"\n",
        );
        let err = refused(archive(&[other_name]));
        assert!(
            matches!(&err, UnpackError::ManifestMismatch { found_name, expected_name, .. } if found_name == "evil" && expected_name == "demo"),
            "{err:?}"
        );
        let other_version = file(
            "demo-1.0.0/ggen.toml",
            "[package]\nname = \"demo\"\nversion = \"1.0.1\"\n",
        );
        let err = refused(archive(&[other_version]));
        assert!(
            matches!(&err, UnpackError::ManifestMismatch { found_version, .. } if found_version == "1.0.1"),
            "{err:?}"
        );
        let broken = file("demo-1.0.0/ggen.toml", "[package\n");
        assert!(matches!(refused(archive(&[broken])), UnpackError::Manifest { .. }));
    }

    #[test]
    fn never_touches_an_existing_destination() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("demo-1.0.0");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("mine.txt"), "keep").unwrap();
        let bytes = archive(&[manifest()]);
        let err = extract(bytes.as_slice(), ("demo", &version()), &dest, &ExtractLimits::default()).unwrap_err();
        assert!(
            matches!(&err, UnpackError::DestinationExists { dest: d } if d == &dest),
            "{err:?}"
        );
        assert_eq!(fs::read_to_string(dest.join("mine.txt")).unwrap(), "keep");
        assert!(!dest.join(MANIFEST_FILE).exists());
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);
    }
}
