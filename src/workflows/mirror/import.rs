//! `mirror import`: an export file into a directory, verified in full
//! before the directory changes, and applied atomically. See the
//! [module docs](super) for what is checked and how the tree is swapped.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::export::{ExportKind, HashingWriter, is_executable};
use super::manifest::{
    ExportManifest, MANIFEST_NAME, ManifestError, ManifestFile, PathProblem, SIGNATURE_NAME, check_path, sha256_hex,
};
use crate::archive::unpack::{MeteredReader, StreamMeter};
use crate::format::CONFIG_FILE;
use crate::trust::keys::{KeyError, KeyId, PublicKey, Signature};
use crate::util::fs::{FileLock, FsError, exchange};
use crate::util::progress::Progress;

/// The largest manifest read (a tree of a few million files).
const MAX_MANIFEST_BYTES: u64 = 1 << 30;
/// The largest signature member read.
const MAX_SIGNATURE_BYTES: u64 = 64 * 1024;
/// Tar metadata allowed per member (header, padding, a long name) and for
/// the whole file (end marker, record padding), beyond the members' data.
const MEMBER_ALLOWANCE: u64 = 8 * 1024;
const BASE_ALLOWANCE: u64 = 1 << 20;
const COPY_BUFFER: usize = 256 * 1024;

/// How to import.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions<'a> {
    /// Require the manifest to be signed by this key.
    pub trusted_key: Option<&'a PublicKey>,
}

/// What [`import`] did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// The directory imported into.
    pub dir: PathBuf,
    /// Full or delta.
    pub kind: ExportKind,
    /// For a delta, the SHA-256 of the base manifest.
    pub since: Option<String>,
    /// The SHA-256 of the imported manifest (the base for the next delta).
    pub manifest_sha256: String,
    /// Files in the tree now.
    pub files: usize,
    /// Bytes in the tree now.
    pub bytes: u64,
    /// Files taken from the export file.
    pub carried_files: usize,
    /// Bytes taken from the export file.
    pub carried_bytes: u64,
    /// Files kept from the directory's previous tree (a delta's unchanged files).
    pub reused_files: usize,
    /// The key id the manifest's signature names, if it is signed.
    pub signed_by: Option<KeyId>,
    /// Whether that signature was checked against a trusted key.
    pub signature_verified: bool,
}

/// Why nothing was imported. The directory is then exactly as it was.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum ImportError {
    /// A filesystem operation failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The directory cannot be imported into.
    #[error("cannot import into {}: {reason}", dir.display())]
    Target { dir: PathBuf, reason: &'static str },
    /// The directory holds something that is not a mirror or index.
    #[error(
        "{} is not empty and holds no config.json; a full import replaces the whole directory, so it imports only into a new or empty directory or an earlier import",
        dir.display()
    )]
    NotAMirror { dir: PathBuf },
    /// The file does not start with a manifest.
    #[error("{} is not a mirror export: {reason}", file.display())]
    NotAnExport { file: PathBuf, reason: String },
    /// The manifest is unusable.
    #[error("{}: {source}", file.display())]
    Manifest { file: PathBuf, source: ManifestError },
    /// A signature was required and there is none.
    #[error(
        "{} is not signed, but --trusted-key {trusted} requires a signature by that key; export it with `--sign-key`",
        file.display()
    )]
    Unsigned { file: PathBuf, trusted: KeyId },
    /// Signed by another key.
    #[error("{} is signed by key {signed_by}, not by the trusted key {trusted}; refusing it", file.display())]
    WrongKey {
        file: PathBuf,
        signed_by: KeyId,
        trusted: KeyId,
    },
    /// The signature does not match the manifest.
    #[error(
        "the signature of {}'s manifest does not verify with key {trusted}: the manifest was altered after signing; refusing it",
        file.display()
    )]
    BadSignature { file: PathBuf, trusted: KeyId },
    /// The signature member is malformed.
    #[error("{}: {source}", file.display())]
    Signature { file: PathBuf, source: KeyError },
    /// A delta whose base is not what the directory holds.
    #[error(
        "wrong delta: {} is not at the base this delta was made from: `{path}` {reason}; import the export whose manifest has SHA-256 {base} first, or a full export",
        dir.display()
    )]
    WrongDelta {
        dir: PathBuf,
        path: String,
        reason: String,
        base: String,
    },
    /// A member whose bytes differ from what the manifest says.
    #[error("{}: `{path}` {reason}: the file was damaged or altered after export; refusing it", file.display())]
    Tampered {
        file: PathBuf,
        path: String,
        reason: String,
    },
    /// A member the manifest does not list as carried, or a second copy.
    #[error(
        "{} holds `{path}`, which its manifest does not list as carried (or holds it twice): the file was altered after export; refusing it",
        file.display()
    )]
    ExtraMember { file: PathBuf, path: String },
    /// A member that is not a regular file.
    #[error("{} holds `{path}`, which is a {what}; exports hold regular files only; refusing it", file.display())]
    UnsafeMember { file: PathBuf, path: String, what: String },
    /// A member whose path could escape the directory.
    #[error("{} holds `{path}`, whose path {problem}; refusing it", file.display())]
    UnsafePath {
        file: PathBuf,
        path: String,
        problem: PathProblem,
    },
    /// The file ends before every carried file was read.
    #[error("{} is truncated: it ends before `{path}`; copy it again", file.display())]
    Missing { file: PathBuf, path: String },
    /// The file ends in the middle of a member.
    #[error("{} is truncated; copy it again", file.display())]
    Truncated { file: PathBuf, source: io::Error },
    /// The tar or gzip stream is damaged.
    #[error("{} is corrupt (not a tar file, or damaged gzip); copy it again", file.display())]
    Corrupt { file: PathBuf, source: io::Error },
    /// Bytes beyond what the manifest accounts for.
    #[error(
        "{} holds data beyond its manifest's files (after the end of the archive, or in oversized tar metadata); refusing it",
        file.display()
    )]
    TrailingData { file: PathBuf },
}

/// The directory to import into, and the names beside it used for the
/// lock, the staging tree and the previous tree during the swap.
struct Target {
    dir: PathBuf,
    lock: PathBuf,
    staging: PathBuf,
    previous: PathBuf,
}

impl Target {
    fn new(dir: &Path) -> Result<Target, ImportError> {
        let refuse = |reason| ImportError::Target {
            dir: dir.to_owned(),
            reason,
        };
        let absolute = std::path::absolute(dir).map_err(|e| FsError::new("resolve", dir, e))?;
        let name = absolute
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| refuse("name a directory by a path that ends in a UTF-8 name"))?
            .to_owned();
        let parent = absolute.parent().ok_or_else(|| refuse("it has no parent directory"))?;
        fs::create_dir_all(parent).map_err(|e| FsError::new("create directory", parent, e))?;
        let parent = parent.canonicalize().map_err(|e| FsError::new("open", parent, e))?;
        let beside = |what: &str| parent.join(format!(".{name}.ggen-import-{what}"));
        Ok(Target {
            dir: parent.join(&name),
            lock: beside("lock"),
            staging: beside("new"),
            previous: beside("old"),
        })
    }

    /// Finishes or undoes a swap a crash interrupted: with the previous
    /// tree still beside the directory, either the new tree is in place
    /// (remove the previous one) or the directory is missing (put the
    /// previous one back). A staging tree left behind is incomplete, or
    /// the previous tree after an exchange: removed either way.
    fn recover(&self) -> Result<(), ImportError> {
        if self.previous.symlink_metadata().is_ok() {
            if self.dir.symlink_metadata().is_ok() {
                remove_tree(&self.previous)?;
            } else {
                fs::rename(&self.previous, &self.dir).map_err(|e| FsError::new("restore", &self.dir, e))?;
            }
        }
        if self.staging.symlink_metadata().is_ok() {
            remove_tree(&self.staging)?;
        }
        Ok(())
    }

    /// Whether the directory exists; refuses anything else at its path.
    fn exists(&self) -> Result<bool, ImportError> {
        match self.dir.symlink_metadata() {
            Ok(meta) if meta.is_dir() => {
                if self.dir.join(".git").symlink_metadata().is_ok() {
                    return Err(ImportError::Target {
                        dir: self.dir.clone(),
                        reason: "it is a git work tree, whose .git an import would drop; import into a plain directory",
                    });
                }
                Ok(true)
            }
            Ok(meta) if meta.file_type().is_symlink() => Err(ImportError::Target {
                dir: self.dir.clone(),
                reason: "it is a symbolic link; pass the directory it points to",
            }),
            Ok(_) => Err(ImportError::Target {
                dir: self.dir.clone(),
                reason: "it exists and is not a directory",
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(FsError::new("read", &self.dir, e).into()),
        }
    }
}

fn remove_tree(path: &Path) -> Result<(), FsError> {
    fs::remove_dir_all(path).map_err(|e| FsError::new("remove", path, e))
}

/// The export file's byte stream: plain tar, or tar compressed with gzip
/// by the operator (`gzip FILE`), recognised by its magic bytes.
enum Stream {
    Plain(BufReader<File>),
    Gzip(flate2::bufread::GzDecoder<BufReader<File>>),
}

impl Stream {
    fn open(path: &Path) -> Result<Stream, ImportError> {
        let file = File::open(path).map_err(|e| FsError::new("open", path, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let head = reader.fill_buf().map_err(|e| FsError::new("read", path, e))?;
        Ok(if head.starts_with(&[0x1f, 0x8b]) {
            Stream::Gzip(flate2::bufread::GzDecoder::new(reader))
        } else {
            Stream::Plain(reader)
        })
    }

    /// Whether the gzip stream, if any, is followed by nothing.
    fn compressed_stream_ends_cleanly(self) -> io::Result<bool> {
        match self {
            Stream::Plain(_) => Ok(true),
            Stream::Gzip(decoder) => Ok(decoder.into_inner().fill_buf()?.is_empty()),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(r) => r.read(buf),
            Stream::Gzip(r) => r.read(buf),
        }
    }
}

/// Imports the export `file` into `dir`: everything is verified (manifest,
/// signature, a delta's base, every member's path, type, size and SHA-256,
/// no member unlisted), the complete new tree is built and synced beside
/// `dir`, then swapped into place under a lock. On any error `dir` is left
/// exactly as it was.
pub fn import(
    file: &Path,
    dir: &Path,
    options: &ImportOptions<'_>,
    progress: &dyn Progress,
) -> Result<ImportReport, ImportError> {
    let target = Target::new(dir)?;
    let _lock = FileLock::exclusive(&target.lock, |_| {})?;
    target.recover()?;
    let exists = target.exists()?;

    let meter = StreamMeter::new(MAX_MANIFEST_BYTES + BASE_ALLOWANCE);
    let mut archive = tar::Archive::new(MeteredReader::new(Stream::open(file)?, &meter));
    let reading = Reading { file, meter: &meter };
    let mut entries = archive.entries().map_err(|e| reading.error(e))?;

    // The manifest, then the signature, are checked before anything is written.
    let mut first = entries
        .next()
        .ok_or_else(|| reading.not_an_export("it is empty".into()))?
        .map_err(|e| reading.error(e))?;
    let first_path = String::from_utf8_lossy(&first.path_bytes()).into_owned();
    if first_path != MANIFEST_NAME || first.header().entry_type() != tar::EntryType::Regular {
        return Err(reading.not_an_export(format!("its first member is `{first_path}`, not `{MANIFEST_NAME}`")));
    }
    let manifest_bytes = reading.member_bytes(&mut first, MAX_MANIFEST_BYTES, MANIFEST_NAME)?;
    drop(first);
    let manifest = ExportManifest::parse(&manifest_bytes).map_err(|source| ImportError::Manifest {
        file: file.to_owned(),
        source,
    })?;
    let carried: Vec<&ManifestFile> = manifest.carried().collect();
    meter.allow(
        carried.iter().map(|f| f.size).sum::<u64>()
            + MAX_SIGNATURE_BYTES
            + (carried.len() as u64 + 2) * MEMBER_ALLOWANCE,
    );

    let mut next = entries.next().transpose().map_err(|e| reading.error(e))?;
    let mut signature = None;
    if let Some(entry) = next
        .as_mut()
        .filter(|e| e.path_bytes().as_ref() == SIGNATURE_NAME.as_bytes())
    {
        let bytes = reading.member_bytes(entry, MAX_SIGNATURE_BYTES, SIGNATURE_NAME)?;
        let text = String::from_utf8_lossy(&bytes);
        signature = Some(Signature::parse(&text).map_err(|source| ImportError::Signature {
            file: file.to_owned(),
            source,
        })?);
        next = entries.next().transpose().map_err(|e| reading.error(e))?;
    }
    let signature_verified = check_signature(file, &manifest_bytes, signature.as_ref(), options.trusted_key)?;

    if let Some(base) = &manifest.since {
        check_base(&target.dir, &manifest, base, progress)?;
    } else if exists && !target.dir.join(CONFIG_FILE).is_file() && !is_empty(&target.dir)? {
        return Err(ImportError::NotAMirror {
            dir: target.dir.clone(),
        });
    }

    // Every carried member goes into the staging tree, checked on the way.
    let staging = Staging::create(&target.staging)?;
    let by_path: HashMap<&str, &ManifestFile> = carried.iter().map(|f| (f.path.as_str(), *f)).collect();
    let mut received = HashSet::with_capacity(carried.len());
    progress.start("importing", carried.len() as u64);
    let mut buffer = vec![0u8; COPY_BUFFER];
    while let Some(mut entry) = next {
        let listed = reading.check_member(&entry, &by_path, &mut received)?;
        reading.receive(&mut entry, listed, &staging, &mut buffer)?;
        progress.advance(1);
        next = entries.next().transpose().map_err(|e| reading.error(e))?;
    }
    progress.finish();
    reading.finish(archive.into_inner())?;
    if let Some(missing) = carried.iter().find(|f| !received.contains(f.path.as_str())) {
        return Err(ImportError::Missing {
            file: file.to_owned(),
            path: missing.path.clone(),
        });
    }

    let reused: Vec<&ManifestFile> = manifest.files.iter().filter(|f| !f.carried).collect();
    for listed in &reused {
        staging.reuse(&target.dir.join(&listed.path), listed)?;
    }
    staging.sync()?;
    staging.swap_into(&target)?;

    let manifest_sha256 = sha256_hex(&manifest_bytes);
    Ok(ImportReport {
        dir: target.dir,
        kind: if manifest.is_delta() {
            ExportKind::Delta
        } else {
            ExportKind::Full
        },
        since: manifest.since.clone(),
        manifest_sha256,
        files: manifest.files.len(),
        bytes: manifest.files.iter().map(|f| f.size).sum(),
        carried_files: carried.len(),
        carried_bytes: carried.iter().map(|f| f.size).sum(),
        reused_files: reused.len(),
        signed_by: signature.map(|s| s.key_id()),
        signature_verified,
    })
}

/// Applies the signature policy: with a trusted key, the manifest must be
/// signed by exactly that key; without one, a signature is reported but
/// cannot be checked. Returns whether it was checked.
fn check_signature(
    file: &Path,
    manifest: &[u8],
    signature: Option<&Signature>,
    trusted: Option<&PublicKey>,
) -> Result<bool, ImportError> {
    let Some(trusted) = trusted else {
        return Ok(false);
    };
    let file = file.to_owned();
    let Some(signature) = signature else {
        return Err(ImportError::Unsigned {
            file,
            trusted: trusted.id(),
        });
    };
    if signature.key_id() != trusted.id() {
        return Err(ImportError::WrongKey {
            file,
            signed_by: signature.key_id(),
            trusted: trusted.id(),
        });
    }
    if !trusted.verifies(manifest, signature) {
        return Err(ImportError::BadSignature {
            file,
            trusted: trusted.id(),
        });
    }
    Ok(true)
}

/// A delta applies only to the tree it was made from: every file it does
/// not carry must be in `dir` with the manifest's size and SHA-256. The
/// first mismatch in manifest order is reported.
fn check_base(dir: &Path, manifest: &ExportManifest, base: &str, progress: &dyn Progress) -> Result<(), ImportError> {
    let unchanged: Vec<&ManifestFile> = manifest.files.iter().filter(|f| !f.carried).collect();
    progress.start("checking base", unchanged.len() as u64);
    let problems: Vec<Option<String>> = unchanged
        .par_iter()
        .map(|listed| {
            progress.advance(1);
            base_problem(&dir.join(&listed.path), listed)
        })
        .collect();
    progress.finish();
    match unchanged.iter().zip(problems).find_map(|(f, p)| Some((f, p?))) {
        None => Ok(()),
        Some((listed, reason)) => Err(ImportError::WrongDelta {
            dir: dir.to_owned(),
            path: listed.path.clone(),
            reason,
            base: base.to_owned(),
        }),
    }
}

/// What keeps `path` from being the manifest's unchanged `listed`.
fn base_problem(path: &Path, listed: &ManifestFile) -> Option<String> {
    let meta = match path.symlink_metadata() {
        Ok(meta) => meta,
        Err(_) => return Some("is missing".into()),
    };
    if !meta.is_file() {
        return Some("is not a regular file".into());
    }
    if meta.len() != listed.size {
        return Some(format!("is {} bytes, the base had {}", meta.len(), listed.size));
    }
    let mut hashing = HashingWriter::default();
    match File::open(path).and_then(|mut f| io::copy(&mut f, &mut hashing)) {
        Ok(_) if hashing.hex() == listed.sha256 => None,
        Ok(_) => Some("differs from the base".into()),
        Err(e) => Some(format!("cannot be read ({e})")),
    }
}

fn is_empty(dir: &Path) -> Result<bool, FsError> {
    Ok(fs::read_dir(dir)
        .map_err(|e| FsError::new("read directory", dir, e))?
        .next()
        .is_none())
}

/// Reading one export file: its name for messages, and its meter.
struct Reading<'a> {
    file: &'a Path,
    meter: &'a StreamMeter,
}

impl Reading<'_> {
    fn not_an_export(&self, reason: String) -> ImportError {
        ImportError::NotAnExport {
            file: self.file.to_owned(),
            reason,
        }
    }

    /// Classifies an error of the tar or gzip stream.
    fn error(&self, source: io::Error) -> ImportError {
        let file = self.file.to_owned();
        if self.meter.exhausted() {
            ImportError::TrailingData { file }
        } else if source.kind() == io::ErrorKind::UnexpectedEof {
            ImportError::Truncated { file, source }
        } else {
            ImportError::Corrupt { file, source }
        }
    }

    /// A whole small member (the manifest or the signature).
    fn member_bytes(&self, entry: &mut impl Read, limit: u64, name: &str) -> Result<Vec<u8>, ImportError> {
        let mut bytes = Vec::new();
        entry
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.error(e))?;
        if bytes.len() as u64 > limit {
            return Err(self.not_an_export(format!("its `{name}` is over {limit} bytes")));
        }
        Ok(bytes)
    }

    /// The manifest's record of a data member, after checking the member
    /// is a regular file at a safe path, listed as carried, seen once.
    fn check_member<'m, R: Read>(
        &self,
        entry: &tar::Entry<'_, R>,
        by_path: &HashMap<&str, &'m ManifestFile>,
        received: &mut HashSet<String>,
    ) -> Result<&'m ManifestFile, ImportError> {
        let file = self.file.to_owned();
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if let Err(problem) = check_path(&path) {
            return Err(ImportError::UnsafePath { file, path, problem });
        }
        let kind = entry.header().entry_type();
        if kind != tar::EntryType::Regular {
            let what = match kind {
                tar::EntryType::Symlink => "symbolic link".to_owned(),
                tar::EntryType::Link => "hard link".to_owned(),
                tar::EntryType::Char | tar::EntryType::Block => "device".to_owned(),
                tar::EntryType::Fifo => "fifo".to_owned(),
                tar::EntryType::Directory => "directory".to_owned(),
                other => format!("tar entry of type {:?}", char::from(other.as_byte())),
            };
            return Err(ImportError::UnsafeMember { file, path, what });
        }
        match by_path.get(path.as_str()) {
            Some(listed) if received.insert(path.clone()) => Ok(listed),
            _ => Err(ImportError::ExtraMember { file, path }),
        }
    }

    /// Writes one member into the staging tree, checking its size and hash.
    fn receive<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        listed: &ManifestFile,
        staging: &Staging,
        buffer: &mut [u8],
    ) -> Result<(), ImportError> {
        let tampered = |reason: String| ImportError::Tampered {
            file: self.file.to_owned(),
            path: listed.path.clone(),
            reason,
        };
        if entry.size() != listed.size {
            return Err(tampered(format!(
                "is {} bytes, its manifest says {}",
                entry.size(),
                listed.size
            )));
        }
        let (mut out, target) = staging.create_file(&listed.path)?;
        let mut hashing = HashingWriter::default();
        let mut written = 0u64;
        loop {
            let read = entry.read(buffer).map_err(|e| self.error(e))?;
            if read == 0 {
                break;
            }
            hashing.write_all(&buffer[..read]).expect("hashing never fails");
            out.write_all(&buffer[..read])
                .map_err(|e| FsError::new("write", &target, e))?;
            written += read as u64;
        }
        if written != listed.size {
            return Err(ImportError::Truncated {
                file: self.file.to_owned(),
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("`{}` ends after {written} of its {} bytes", listed.path, listed.size),
                ),
            });
        }
        let found = hashing.hex();
        if found != listed.sha256 {
            return Err(tampered(format!(
                "has SHA-256 {found}, its manifest says {}",
                listed.sha256
            )));
        }
        set_mode(&target, listed.executable)
    }

    /// After the tar end marker only zeros may follow, and nothing after a
    /// gzip stream: other tools would read what this one skips.
    fn finish(&self, rest: MeteredReader<'_, Stream>) -> Result<(), ImportError> {
        self.meter.allow(MEMBER_ALLOWANCE * 4);
        let mut rest = rest;
        let mut buffer = [0u8; 8192];
        loop {
            let read = rest.read(&mut buffer).map_err(|e| self.error(e))?;
            if read == 0 {
                break;
            }
            if buffer[..read].iter().any(|&b| b != 0) {
                return Err(ImportError::TrailingData {
                    file: self.file.to_owned(),
                });
            }
        }
        match rest.into_inner().compressed_stream_ends_cleanly() {
            Ok(true) => Ok(()),
            Ok(false) => Err(ImportError::TrailingData {
                file: self.file.to_owned(),
            }),
            Err(e) => Err(self.error(e)),
        }
    }
}

/// The new tree being built beside the directory; removed on drop unless
/// swapped into place.
struct Staging {
    root: PathBuf,
    swapped: bool,
}

impl Staging {
    fn create(root: &Path) -> Result<Staging, ImportError> {
        fs::create_dir(root).map_err(|e| FsError::new("create directory", root, e))?;
        Ok(Staging {
            root: root.to_owned(),
            swapped: false,
        })
    }

    /// Where `relative` (a checked path) goes, its directories created.
    fn place(&self, relative: &str) -> Result<PathBuf, ImportError> {
        let path = self.root.join(relative);
        let parent = path.parent().expect("under the staging root");
        fs::create_dir_all(parent).map_err(|e| FsError::new("create directory", parent, e))?;
        Ok(path)
    }

    fn create_file(&self, relative: &str) -> Result<(File, PathBuf), ImportError> {
        let path = self.place(relative)?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| FsError::new("create", &path, e))?;
        Ok((file, path))
    }

    /// Puts the directory's current copy of an unchanged file into the new
    /// tree: a hard link when its mode is right, else a copy.
    fn reuse(&self, from: &Path, listed: &ManifestFile) -> Result<(), ImportError> {
        let to = self.place(&listed.path)?;
        let meta = from.symlink_metadata().map_err(|e| FsError::new("read", from, e))?;
        if is_executable(&meta) == listed.executable && fs::hard_link(from, &to).is_ok() {
            return Ok(());
        }
        fs::copy(from, &to).map_err(|e| FsError::new("copy", from, e))?;
        set_mode(&to, listed.executable)
    }

    /// Makes every directory 0755 and syncs every file and directory, so
    /// the whole tree is on disk before it is renamed into place. Syncs run
    /// in parallel, which lets the file system share journal commits.
    fn sync(&self) -> Result<(), ImportError> {
        let mut dirs = Vec::new();
        let mut pending = vec![self.root.clone()];
        let mut files = Vec::new();
        while let Some(dir) = pending.pop() {
            for entry in fs::read_dir(&dir).map_err(|e| FsError::new("read directory", &dir, e))? {
                let entry = entry.map_err(|e| FsError::new("read directory", &dir, e))?;
                let kind = entry.file_type().map_err(|e| FsError::new("read", &entry.path(), e))?;
                if kind.is_dir() {
                    pending.push(entry.path());
                } else {
                    files.push(entry.path());
                }
            }
            set_permissions(&dir, 0o755)?;
            dirs.push(dir);
        }
        files.extend(dirs);
        sync_all(&files)
    }

    /// Swaps the new tree into place: exchanged with the directory in one
    /// step ([`exchange`]), or renamed to its name if there is none; the
    /// parent synced, and the previous tree (now at the staging name)
    /// removed. A crash in between is mended by the next import's
    /// [`Target::recover`].
    fn swap_into(mut self, target: &Target) -> Result<(), ImportError> {
        let parent = target.dir.parent().expect("the target has a parent");
        let had_tree = target.dir.symlink_metadata().is_ok();
        if had_tree {
            exchange(&target.dir, &self.root, &target.previous)?;
        } else {
            fs::rename(&self.root, &target.dir).map_err(|e| FsError::new("rename into", &target.dir, e))?;
        }
        self.swapped = true;
        sync_path(parent)?;
        if had_tree {
            // The previous tree; a leftover is removed next time.
            let _ = fs::remove_dir_all(&self.root);
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.swapped {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// Threads that sync files at once. A sync mostly waits for the disk, and
/// concurrent syncs share the file system's journal commits, so more
/// threads than cores pay off.
const SYNC_THREADS: usize = 16;

/// Syncs every path, [`SYNC_THREADS`] at a time.
fn sync_all(paths: &[PathBuf]) -> Result<(), ImportError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..SYNC_THREADS.min(paths.len()))
            .map(|_| {
                scope.spawn(|| -> Result<(), FsError> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(path) = paths.get(i) else {
                            return Ok(());
                        };
                        sync_path(path)?;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|worker| worker.join().expect("a sync thread panicked"))
    })?;
    Ok(())
}

fn sync_path(path: &Path) -> Result<(), FsError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| FsError::new("sync", path, e))
}

#[cfg(unix)]
fn set_permissions(path: &Path, mode: u32) -> Result<(), ImportError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| FsError::new("set permissions of", path, e).into())
}

#[cfg(not(unix))]
fn set_permissions(_path: &Path, _mode: u32) -> Result<(), ImportError> {
    Ok(())
}

/// Files are 0644, or 0755 when executable, whatever the umask.
fn set_mode(path: &Path, executable: bool) -> Result<(), ImportError> {
    set_permissions(path, if executable { 0o755 } else { 0o644 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree_with(dir: &Path, file: &str, text: &str) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(file), text).unwrap();
    }

    /// A crash between the two renames of a swap leaves the previous tree
    /// beside the directory: with the directory missing it is put back,
    /// with the new tree in place it is removed. A staging tree left
    /// behind is incomplete and removed.
    #[test]
    fn an_interrupted_swap_is_undone_or_finished() {
        let tmp = tempfile::tempdir().unwrap();
        let target = Target::new(&tmp.path().join("index")).unwrap();

        tree_with(&target.previous, "config.json", "old");
        tree_with(&target.staging, "config.json", "half-written");
        target.recover().unwrap();
        assert_eq!(fs::read_to_string(target.dir.join("config.json")).unwrap(), "old");
        assert!(!target.previous.exists() && !target.staging.exists());

        tree_with(&target.previous, "config.json", "old");
        fs::write(target.dir.join("config.json"), "new").unwrap();
        target.recover().unwrap();
        assert_eq!(fs::read_to_string(target.dir.join("config.json")).unwrap(), "new");
        assert!(!target.previous.exists());
    }

    #[test]
    fn targets_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, "x").unwrap();
        assert!(matches!(
            Target::new(&file).unwrap().exists(),
            Err(ImportError::Target { .. })
        ));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(tmp.path(), tmp.path().join("link")).unwrap();
            let err = Target::new(&tmp.path().join("link")).unwrap().exists().unwrap_err();
            assert!(err.to_string().contains("symbolic link"), "{err}");
        }
        assert!(!Target::new(&tmp.path().join("new/index")).unwrap().exists().unwrap());
        assert!(tmp.path().join("new").is_dir(), "the parent is made for the lock");
        assert!(Target::new(Path::new("/")).is_err());
    }
}
