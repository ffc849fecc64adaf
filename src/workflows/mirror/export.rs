//! `mirror export`: a directory tree into one file for carrying across an
//! air gap. See the [module docs](super) for the file's layout.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::manifest::{
    ExportManifest, MANIFEST_NAME, ManifestError, ManifestFile, PathProblem, SIGNATURE_NAME, check_path, sha256_hex,
};
use crate::archive::lower_hex;
use crate::trust::keys::{KeyError, KeyId, SecretKey};
use crate::util::fs::{FileLock, FsError, TEMP_PREFIX, remove_stale_temp_files, set_final_mode};
use crate::util::progress::Progress;
use crate::util::time::rfc3339_utc;

/// How to export.
#[derive(Debug, Clone, Copy)]
pub struct ExportOptions<'a> {
    /// The manifest of an earlier export (its `FILE.manifest.json`): make a
    /// delta carrying only the files new or changed since.
    pub since: Option<&'a Path>,
    /// Sign the manifest with this key.
    pub sign_key: Option<&'a SecretKey>,
    /// The time recorded as the export's creation.
    pub now: SystemTime,
}

/// Whether an export file carries the whole tree or only changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportKind {
    /// Every file.
    Full,
    /// The files new or changed since a base export.
    Delta,
}

/// What [`export`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// The export file.
    pub file: PathBuf,
    /// The copy of its manifest beside it (`FILE.manifest.json`): keep it
    /// for the next `--since`.
    pub manifest: PathBuf,
    /// The SHA-256 of the manifest, which a later delta names as its base.
    pub manifest_sha256: String,
    /// Full or delta.
    pub kind: ExportKind,
    /// For a delta, the SHA-256 of the base manifest.
    pub since: Option<String>,
    /// Files in the tree.
    pub files: usize,
    /// Bytes in the tree.
    pub bytes: u64,
    /// Files carried in the export file.
    pub carried_files: usize,
    /// Bytes of the files carried.
    pub carried_bytes: u64,
    /// The key that signed the manifest, if one did.
    pub signed_by: Option<KeyId>,
}

/// Why nothing was exported. The export file is then left as it was.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum ExportError {
    /// A filesystem operation failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The tree to export is not a directory.
    #[error("{} is not a directory; pass the index or mirror directory (the one holding config.json)", dir.display())]
    NotADirectory { dir: PathBuf },
    /// The export file would land inside the tree it exports.
    #[error("{} lies inside {}, the tree being exported; write the export file elsewhere", file.display(), dir.display())]
    FileInsideTree { file: PathBuf, dir: PathBuf },
    /// A symlink in the tree.
    #[error("{} is a symbolic link; exports hold regular files only: replace it with what it points to", path.display())]
    Symlink { path: PathBuf },
    /// A socket, fifo or device in the tree.
    #[error("{} is not a regular file or directory; remove it from the tree", path.display())]
    Special { path: PathBuf },
    /// A name an export cannot carry.
    #[error("{}: cannot export this path, which {problem}", path.display())]
    BadPath { path: PathBuf, problem: PathProblem },
    /// A name that is not UTF-8.
    #[error("{}: the name is not UTF-8; exports carry UTF-8 names only", path.display())]
    NonUtf8Name { path: PathBuf },
    /// The `--since` manifest is unusable.
    #[error("cannot use {} as the base of a delta: {source}; pass the FILE.manifest.json an earlier export wrote", path.display())]
    Base { path: PathBuf, source: ManifestError },
    /// Signing the manifest failed.
    #[error("cannot sign the manifest: {source}")]
    Sign { source: KeyError },
    /// A file changed while it was being exported.
    #[error("{} changed while it was being exported; run the export again when the tree is quiet", path.display())]
    Changed { path: PathBuf },
}

/// The lock exports into one directory take, in that directory.
const EXPORT_LOCK: &str = ".ggen-export.lock";

/// A file found in the tree, before hashing.
struct Found {
    relative: String,
    path: PathBuf,
    executable: bool,
}

/// Exports the tree `dir` into `file` (replaced atomically), writes its
/// manifest beside it as `FILE.manifest.json`, and reports what it holds.
/// `.git` directories and the lock files of our commands (`.ggen-*.lock`)
/// are left out; symlinks and special files are refused.
pub fn export(
    dir: &Path,
    file: &Path,
    options: &ExportOptions<'_>,
    progress: &dyn Progress,
) -> Result<ExportReport, ExportError> {
    let root = match dir.canonicalize() {
        Ok(root) if root.is_dir() => root,
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(FsError::new("open", dir, e).into()),
        _ => return Err(ExportError::NotADirectory { dir: dir.to_owned() }),
    };
    let parent = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| FsError::new("create directory", parent, e))?;
    let parent = parent.canonicalize().map_err(|e| FsError::new("open", parent, e))?;
    if parent.starts_with(&root) {
        return Err(ExportError::FileInsideTree {
            file: file.to_owned(),
            dir: dir.to_owned(),
        });
    }
    // Exports into one directory take turns, so that each may remove the
    // temp files a killed one left there.
    let _lock = FileLock::exclusive(&parent.join(EXPORT_LOCK), |_| {})?;
    // Under the lock: every temp file there is a killed export's.
    remove_stale_temp_files(&parent)?;
    let base = options.since.map(read_base).transpose()?;

    let found = walk(&root)?;
    progress.start("hashing", found.len() as u64);
    let hashed: Result<Vec<ManifestFile>, ExportError> = found
        .par_iter()
        .map(|f| {
            let (size, sha256) = hash_file(&f.path)?;
            progress.advance(1);
            let carried = base
                .as_ref()
                .is_none_or(|(_, files)| files.get(&f.relative) != Some(&(size, sha256.clone(), f.executable)));
            Ok(ManifestFile {
                path: f.relative.clone(),
                size,
                sha256,
                executable: f.executable,
                carried,
            })
        })
        .collect();
    progress.finish();
    let files = hashed?;

    let manifest = ExportManifest::new(rfc3339_utc(options.now), base.map(|(sha, _)| sha), files);
    let manifest_bytes = manifest.to_bytes();
    let manifest_sha256 = sha256_hex(&manifest_bytes);
    let signature = options
        .sign_key
        .map(|key| {
            let comment = format!(
                "ggen-market mirror export {}, {} files, manifest sha256 {manifest_sha256}",
                manifest.created,
                manifest.files.len()
            );
            key.sign(&manifest_bytes, &comment)
                .map(|sig| (key.id(), sig))
                .map_err(|source| ExportError::Sign { source })
        })
        .transpose()?;

    let mtime = options.now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let signature_text = signature.as_ref().map(|(_, text)| text.as_bytes());
    write_export(
        file,
        &parent,
        &root,
        &manifest,
        &manifest_bytes,
        signature_text,
        mtime,
        progress,
    )?;
    let manifest_file = PathBuf::from(format!("{}.manifest.json", file.display()));
    // Its temp file is named as the next export's clean-up expects.
    crate::util::fs::write_atomic(&manifest_file, &manifest_bytes)?;

    Ok(ExportReport {
        file: file.to_owned(),
        manifest: manifest_file,
        manifest_sha256,
        kind: if manifest.is_delta() {
            ExportKind::Delta
        } else {
            ExportKind::Full
        },
        since: manifest.since.clone(),
        files: manifest.files.len(),
        bytes: manifest.files.iter().map(|f| f.size).sum(),
        carried_files: manifest.carried().count(),
        carried_bytes: manifest.carried().map(|f| f.size).sum(),
        signed_by: signature.map(|(id, _)| id),
    })
}

/// The base manifest's SHA-256, and its files by path.
type Base = (String, HashMap<String, (u64, String, bool)>);

fn read_base(path: &Path) -> Result<Base, ExportError> {
    let bytes = fs::read(path).map_err(|e| FsError::new("read", path, e))?;
    let manifest = ExportManifest::parse(&bytes).map_err(|source| ExportError::Base {
        path: path.to_owned(),
        source,
    })?;
    let files = manifest
        .files
        .into_iter()
        .map(|f| (f.path, (f.size, f.sha256, f.executable)))
        .collect();
    Ok((sha256_hex(&bytes), files))
}

/// Every regular file under `root`, sorted by relative path.
fn walk(root: &Path) -> Result<Vec<Found>, ExportError> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| FsError::new("read directory", &dir, e))? {
            let entry = entry.map_err(|e| FsError::new("read directory", &dir, e))?;
            let path = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(ExportError::NonUtf8Name { path });
            };
            let kind = entry.file_type().map_err(|e| FsError::new("read", &path, e))?;
            if kind.is_dir() {
                if !name.eq_ignore_ascii_case(".git") {
                    pending.push(path);
                }
                continue;
            }
            if name.starts_with(".ggen-") && name.ends_with(".lock") {
                continue;
            }
            if kind.is_symlink() {
                return Err(ExportError::Symlink { path });
            }
            if !kind.is_file() {
                return Err(ExportError::Special { path });
            }
            let relative = path
                .strip_prefix(root)
                .expect("walked from root")
                .to_str()
                .expect("every component was checked to be UTF-8")
                .to_owned();
            check_path(&relative).map_err(|problem| ExportError::BadPath {
                path: path.clone(),
                problem,
            })?;
            let meta = entry.metadata().map_err(|e| FsError::new("read", &path, e))?;
            found.push(Found {
                relative,
                executable: is_executable(&meta),
                path,
            });
        }
    }
    found.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(found)
}

/// Whether any execute bit is set.
#[cfg(unix)]
pub(super) fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
pub(super) fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

/// A file's size and SHA-256, read in one pass.
fn hash_file(path: &Path) -> Result<(u64, String), ExportError> {
    let mut file = File::open(path).map_err(|e| FsError::new("open", path, e))?;
    let mut hashing = HashingWriter::default();
    let size = io::copy(&mut file, &mut hashing).map_err(|e| FsError::new("read", path, e))?;
    Ok((size, hashing.hex()))
}

/// SHA-256 of what passes through.
#[derive(Default)]
pub(super) struct HashingWriter(Sha256);

impl HashingWriter {
    pub(super) fn hex(self) -> String {
        lower_hex(&self.0.finalize())
    }
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes what is read through it.
struct HashingReader<R> {
    inner: R,
    hash: HashingWriter,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hash.0.update(&buf[..read]);
        Ok(read)
    }
}

/// Writes the export file through a temp file beside it: the manifest,
/// the signature, then every carried file, each re-hashed as it is copied
/// so a file changed since hashing fails the export instead of
/// contradicting the manifest.
#[allow(clippy::too_many_arguments)]
fn write_export(
    file: &Path,
    parent: &Path,
    root: &Path,
    manifest: &ExportManifest,
    manifest_bytes: &[u8],
    signature: Option<&[u8]>,
    mtime: u64,
    progress: &dyn Progress,
) -> Result<(), ExportError> {
    let temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(parent)
        .map_err(|e| FsError::new("create temp file in", parent, e))?;
    let write_error = |e| FsError::new("write", temp.path(), e);
    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, temp.as_file()));
    append(
        &mut tar,
        MANIFEST_NAME,
        manifest_bytes.len() as u64,
        false,
        mtime,
        manifest_bytes,
    )
    .map_err(write_error)?;
    if let Some(signature) = signature {
        append(
            &mut tar,
            SIGNATURE_NAME,
            signature.len() as u64,
            false,
            mtime,
            signature,
        )
        .map_err(write_error)?;
    }
    progress.start("writing", manifest.carried().count() as u64);
    for entry in manifest.carried() {
        let path = root.join(&entry.path);
        let source = File::open(&path).map_err(|e| FsError::new("open", &path, e))?;
        let mut reader = HashingReader {
            inner: source.take(entry.size),
            hash: HashingWriter::default(),
        };
        append(&mut tar, &entry.path, entry.size, entry.executable, mtime, &mut reader).map_err(write_error)?;
        let now_size = reader.inner.get_ref().metadata().map(|m| m.len()).ok();
        if reader.inner.limit() != 0 || now_size != Some(entry.size) || reader.hash.hex() != entry.sha256 {
            return Err(ExportError::Changed { path });
        }
        progress.advance(1);
    }
    progress.finish();
    let out = tar.into_inner().map_err(write_error)?;
    let out = out.into_inner().map_err(|e| write_error(e.into_error()))?;
    set_final_mode(out, file).map_err(|e| FsError::new("set permissions of", temp.path(), e))?;
    out.sync_all().map_err(write_error)?;
    temp.persist(file)
        .map_err(|e| FsError::new("rename into", file, e.error))?;
    Ok(())
}

fn append(
    tar: &mut tar::Builder<impl Write>,
    path: &str,
    size: u64,
    executable: bool,
    mtime: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(if executable { 0o755 } else { 0o644 });
    header.set_mtime(mtime);
    tar.append_data(&mut header, path, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::progress::NoProgress;

    fn options() -> ExportOptions<'static> {
        ExportOptions {
            since: None,
            sign_key: None,
            now: SystemTime::now(),
        }
    }

    #[test]
    fn only_the_temp_files_of_exports_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        for name in [".ggen-tmp-Ab12", ".ggen-export.lock", "mirror.tar", "notes.tmp"] {
            fs::write(tmp.path().join(name), b"x").unwrap();
        }
        remove_stale_temp_files(tmp.path()).unwrap();
        let mut left: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".ggen-export.lock", "mirror.tar", "notes.tmp"]);
    }

    #[test]
    fn leaves_out_git_and_lock_files() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        for file in [
            "config.json",
            ".git/HEAD",
            "sub/.git/config",
            ".ggen-index.lock",
            "io/.g/io.ggen.x",
        ] {
            let path = tree.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, file).unwrap();
        }
        let found: Vec<String> = walk(&tree).unwrap().into_iter().map(|f| f.relative).collect();
        assert_eq!(found, ["config.json", "io/.g/io.ggen.x"]);
    }

    #[cfg(unix)]
    #[test]
    fn refuses_symlinks_and_a_file_inside_the_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        fs::create_dir_all(&tree).unwrap();
        fs::write(tree.join("config.json"), "{}").unwrap();
        let err = export(&tree, &tree.join("sub/out.tar"), &options(), &NoProgress).unwrap_err();
        assert!(matches!(err, ExportError::FileInsideTree { .. }), "{err}");
        std::os::unix::fs::symlink("config.json", tree.join("alias.json")).unwrap();
        let out = tmp.path().join("out.tar");
        let err = export(&tree, &out, &options(), &NoProgress).unwrap_err();
        assert!(matches!(err, ExportError::Symlink { .. }), "{err}");
        assert!(!out.exists(), "nothing written");
        let err = export(&tmp.path().join("missing"), &out, &options(), &NoProgress).unwrap_err();
        assert!(matches!(err, ExportError::NotADirectory { .. }), "{err}");
    }
}
