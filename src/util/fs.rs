//! Crash-safe file writes and advisory file locks.
//!
//! Every write of shared state goes through [`write_atomic`] (temp file in the
//! same directory, fsync, rename) under a [`FileLock`], so a crash leaves the
//! old file or the new one, never half of either, and concurrent runs wait
//! for each other instead of interleaving. A run killed mid-write leaves its
//! temp file (`.ggen-tmp-*`) beside the target; the next writer removes it
//! under the same lock ([`remove_stale_temp_files`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A filesystem operation that failed, with the path it failed on.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}: {source}", path.display())]
pub struct FsError {
    /// What was being done ("write", "lock", …).
    pub action: &'static str,
    /// The path it was done to.
    pub path: PathBuf,
    /// The underlying error.
    pub source: io::Error,
}

impl FsError {
    /// Wraps `source` with what was done to which path.
    pub fn new(action: &'static str, path: &Path, source: io::Error) -> Self {
        FsError {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// The name prefix of [`write_atomic`]'s temp files, so that a leftover one
/// is recognizably ours.
pub const TEMP_PREFIX: &str = ".ggen-tmp-";

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync,
/// rename. Parent directories are created.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    write_via_temp(path, true, |temp| temp.write_all(bytes))
}

/// Copies the file at `from` to `to` as [`write_atomic`] writes (temp file,
/// fsync, rename), the bytes moved by the kernel (`copy_file_range`; a
/// reflink where the file system has them), never through memory.
pub fn copy_atomic(from: &Path, to: &Path) -> Result<(), FsError> {
    let mut source = fs::File::open(from).map_err(|e| FsError::new("open", from, e))?;
    write_via_temp(to, true, |temp| io::copy(&mut source, temp).map(drop))
}

/// Like [`write_atomic`] but without the fsync, which costs milliseconds a
/// file: readers still see the old file or the new one, never a mix, but a
/// power loss may leave the new one empty or torn. Only for caches that
/// verify what they read (by a checksum) and can fetch it again.
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    write_via_temp(path, false, |temp| temp.write_all(bytes))
}

/// Writes `path` through a temp file beside it that `fill` writes.
fn write_via_temp(path: &Path, sync: bool, fill: impl FnOnce(&mut fs::File) -> io::Result<()>) -> Result<(), FsError> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| FsError::new("create directory", parent, e))?;
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(parent)
        .map_err(|e| FsError::new("create temp file in", parent, e))?;
    fill(temp.as_file_mut()).map_err(|e| FsError::new("write", temp.path(), e))?;
    set_final_mode(temp.as_file(), path).map_err(|e| FsError::new("set permissions of", temp.path(), e))?;
    if sync {
        temp.as_file()
            .sync_all()
            .map_err(|e| FsError::new("sync", temp.path(), e))?;
    }
    temp.persist(path)
        .map_err(|e| FsError::new("rename into", path, e.error))?;
    Ok(())
}

/// Removes the temp files (`.ggen-tmp-*`) a killed [`write_atomic`] left
/// directly in `dir`; returns how many. Call it only while holding the lock
/// every writer of `dir` takes: a live writer's temp file looks the same.
pub fn remove_stale_temp_files(dir: &Path) -> Result<usize, FsError> {
    sweep_temp_files(dir, None)
}

/// [`remove_stale_temp_files`] in `root` and every directory below it but
/// those named `skip`, each directory listed once.
pub fn remove_stale_temp_files_under(root: &Path, skip: &str) -> Result<usize, FsError> {
    let mut pending = vec![root.to_owned()];
    let mut removed = 0;
    while let Some(dir) = pending.pop() {
        removed += sweep_temp_files(&dir, Some((skip, &mut pending)))?;
    }
    Ok(removed)
}

/// Removes the temp files directly in `dir`; with `below`, queues its
/// subdirectories not named `skip`.
fn sweep_temp_files(dir: &Path, mut below: Option<(&str, &mut Vec<PathBuf>)>) -> Result<usize, FsError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(FsError::new("read directory", dir, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| FsError::new("read directory", dir, e))?;
        let Ok(file_type) = entry.file_type() else { continue };
        if file_type.is_dir() {
            if let Some((skip, pending)) = below.as_mut()
                && entry.file_name() != *skip
            {
                pending.push(entry.path());
            }
        } else if file_type.is_file() && entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            let path = entry.path();
            match fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(FsError::new("remove", &path, e)),
            }
        }
    }
    Ok(removed)
}

/// Temp files are created private (0600); the file that replaces `path`
/// keeps `path`'s mode, or gets 0644 when new, so an index stays readable by
/// the web server that serves it.
#[cfg(unix)]
pub(crate) fn set_final_mode(temp: &File, path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    temp.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
pub(crate) fn set_final_mode(_temp: &File, _path: &Path) -> io::Result<()> {
    Ok(())
}

/// The most fsyncs [`sync_files`] keeps in flight.
const SYNC_THREADS: usize = 64;

/// Makes `paths` (files written without a sync) durable. An fsync mostly
/// waits for the disk, and a filesystem commits concurrent fsyncs together,
/// so they run on many plain threads at once.
pub fn sync_files(paths: &[PathBuf]) -> Result<(), FsError> {
    let per_thread = paths.len().div_ceil(SYNC_THREADS).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = paths
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk.iter().try_for_each(|path| {
                        File::open(path)
                            .and_then(|file| file.sync_all())
                            .map_err(|e| FsError::new("sync", path, e))
                    })
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|worker| worker.join().expect("an fsync thread does not panic"))
    })
}

/// Swaps the directory entries `a` and `b` (both must exist): in one
/// atomic step where the system can (Linux: `renameat2` with
/// `RENAME_EXCHANGE`), so that every reader and a crash see one or the
/// other; elsewhere, or on a file system without it, with three renames
/// through `aside`, between which a crash leaves `a` missing (it is then at
/// `aside` or `b`).
pub fn exchange(a: &Path, b: &Path, aside: &Path) -> Result<(), FsError> {
    #[cfg(target_os = "linux")]
    match exchange_atomically(a, b) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {}
        other => return other.map_err(|e| FsError::new("exchange", a, e)),
    }
    fs::rename(a, aside).map_err(|e| FsError::new("move aside", a, e))?;
    if let Err(e) = fs::rename(b, a) {
        let _ = fs::rename(aside, a);
        return Err(FsError::new("rename into", a, e));
    }
    fs::rename(aside, b).map_err(|e| FsError::new("rename into", b, e))
}

#[cfg(target_os = "linux")]
fn exchange_atomically(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c_path = |path: &Path| CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other);
    let (a, b) = (c_path(a)?, c_path(b)?);
    // SAFETY: two NUL-terminated paths that live across the call.
    let done = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// An exclusive advisory lock on a lock file, held until dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

/// Opens (creating it if missing, never truncating) a lock file.
fn open_lock_file(path: &Path) -> Result<fs::File, FsError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| FsError::new("open lock file", path, e))
}

impl FileLock {
    /// Takes the exclusive lock on `path` (created if missing), waiting for
    /// any other holder. Calls `on_wait` once if it has to wait, so a CLI
    /// can say "waiting for lock on …".
    pub fn exclusive(path: &Path, on_wait: impl FnOnce(&Path)) -> Result<Self, FsError> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| FsError::new("create directory", parent, e))?;
        }
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                on_wait(path);
                file.lock().map_err(|e| FsError::new("lock", path, e))?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(FsError::new("lock", path, e)),
        }
        Ok(FileLock {
            file,
            path: path.to_owned(),
        })
    }

    /// Takes the exclusive lock on `path` (created if missing) if no one
    /// holds it; `None` if someone does.
    pub fn try_exclusive(path: &Path) -> Result<Option<Self>, FsError> {
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_owned(),
            })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(FsError::new("lock", path, e)),
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases the lock as well; unlocking first makes
        // the release immediate even if the handle were leaked elsewhere.
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_swaps_two_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b, aside) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("aside"));
        for (dir, text) in [(&a, "old"), (&b, "new")] {
            fs::create_dir(dir).unwrap();
            fs::write(dir.join("f"), text).unwrap();
        }
        exchange(&a, &b, &aside).unwrap();
        assert_eq!(fs::read_to_string(a.join("f")).unwrap(), "new");
        assert_eq!(fs::read_to_string(b.join("f")).unwrap(), "old");
        assert!(!aside.exists());
        assert!(exchange(&a, &tmp.path().join("missing"), &aside).is_err());
        assert_eq!(
            fs::read_to_string(a.join("f")).unwrap(),
            "new",
            "a failed exchange changes nothing"
        );
    }
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn copy_atomic_replaces_the_target_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let (source, target) = (dir.path().join("source.tar.gz"), dir.path().join("in/index/a.tar.gz"));
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        fs::write(&source, &bytes).unwrap();
        write_atomic(&target, b"older").unwrap();
        copy_atomic(&source, &target).unwrap();
        assert_eq!(fs::read(&target).unwrap(), bytes);
        let missing = dir.path().join("missing.tar.gz");
        let err = copy_atomic(&missing, &target).unwrap_err();
        assert!(err.to_string().contains("missing.tar.gz"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), bytes, "a failed copy changes nothing");
        let names: Vec<_> = fs::read_dir(target.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.tar.gz"]);
    }

    #[test]
    fn atomic_write_replaces_whole_files() {
        for write in [write_atomic, write_atomic_unsynced] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("a/b/file.txt");
            write(&path, b"one").unwrap();
            write(&path, b"two").unwrap();
            assert_eq!(fs::read(&path).unwrap(), b"two");
            let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
            assert_eq!(leftovers.len(), 1, "no temp files left behind");
        }
    }

    #[test]
    fn stale_temp_files_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(&dir.path().join("kept.json"), b"{}").unwrap();
        fs::write(dir.path().join(format!("{TEMP_PREFIX}abc123")), b"half").unwrap();
        fs::write(dir.path().join(".tmp-not-ours"), b"user").unwrap();
        fs::create_dir(dir.path().join(format!("{TEMP_PREFIX}dir"))).unwrap();
        assert_eq!(remove_stale_temp_files(dir.path()).unwrap(), 1);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".ggen-tmp-dir", ".tmp-not-ours", "kept.json"]);
        assert_eq!(remove_stale_temp_files(&dir.path().join("missing")).unwrap(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_world_readable_and_replaced_files_keep_their_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("served.json");
        write_atomic(&path, b"{}").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&path, b"{ }").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_second_locker_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let first = FileLock::exclusive(&path, |_| panic!("nobody holds it yet")).unwrap();
        let (waited_tx, waited_rx) = mpsc::channel();
        let (got_tx, got_rx) = mpsc::channel();
        let path2 = path.clone();
        let waiter = std::thread::spawn(move || {
            let _second = FileLock::exclusive(&path2, |_| waited_tx.send(()).unwrap()).unwrap();
            got_tx.send(()).unwrap();
        });
        waited_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("second locker reports waiting");
        assert!(
            got_rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "lock is exclusive"
        );
        drop(first);
        got_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("lock is handed over");
        waiter.join().unwrap();
    }
}
