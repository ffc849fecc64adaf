//! Reproducible packing: the same tree gives the same bytes, hence the same
//! SHA-256, whoever packs it, whenever, with whatever owners and mtimes.
//!
//! The archive's layout, fixed so that checksums are stable:
//! - `{name}-{version}/ggen.toml` is the **first** entry, so an indexer gets
//!   the manifest by decompressing only the first few KiB
//!   ([`super::inspect`]); every other file follows in byte-wise order of
//!   its path.
//! - Only regular files are stored, no directory entries: a directory is
//!   implied by the files under it, so an empty directory is not packed
//!   (keep a `.gitkeep` in it if it matters).
//! - GNU tar headers; mtime [`FIXED_MTIME`] (not 0, which some tar tools
//!   warn about as "implausibly old"); uid and gid 0; empty user and group
//!   names; mode 0755 for a file with any executable bit, else 0644.
//! - gzip at level 9 ([`COMPRESSION_LEVEL`]) with header mtime 0, no file
//!   name and OS byte 255 ("unknown").
//!
//! What is packed: every file under the directory except any `.git`
//! directory or file (at any depth) and the output directories the caller
//! names when they lie inside the tree (so archives written there, of this
//! or any other version, never end up inside a new one). No ignore files
//! are honoured: what is in the directory is what is published, so review
//! it before packing.
//!
//! Refused, with the path and a way out: a missing or invalid `ggen.toml`,
//! symbolic links, other non-regular files, names that are not UTF-8 or hold
//! a backslash (they would not extract everywhere), unreadable files.
//!
//! ```
//! use ggen_marketplace::archive::pack::pack;
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("ggen.toml"), "[package]\nname = \"hello\"\nversion = \"1.0.0\"\n").unwrap();
//! std::fs::create_dir(dir.path().join("templates")).unwrap();
//! std::fs::write(dir.path().join("templates/main.tmpl"), "fn main() {}\n").unwrap();
//!
//! let first = pack(dir.path(), &[]).unwrap();
//! let second = pack(dir.path(), &[]).unwrap();
//! assert_eq!(first.bytes, second.bytes);
//! assert_eq!(first.sha256.len(), 64);
//! ```

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};

use super::{archive_file_name, lower_hex, top_dir};
use crate::format::manifest::{MANIFEST_FILE, Manifest, ManifestError};

/// The mtime of every entry: 2006-07-24T01:21:28Z, the constant Cargo uses
/// for the same reason (0 makes some tar tools warn).
pub const FIXED_MTIME: u64 = 1_153_704_088;

/// The gzip level. Changing it (or the deflate implementation) changes every
/// checksum of a re-packed tree, never the checksum of an existing archive.
pub const COMPRESSION_LEVEL: u32 = 9;

/// A package packed in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedArchive {
    /// The package name from the manifest.
    pub name: String,
    /// The package version from the manifest.
    pub version: semver::Version,
    /// SHA-256 of [`Self::bytes`], lowercase hex (the index's `cksum`).
    pub sha256: String,
    /// The number of files in the archive, `ggen.toml` included.
    pub files: u64,
    /// The `.tar.gz` bytes.
    pub bytes: Vec<u8>,
}

impl PackedArchive {
    /// The archive's size in bytes.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// `{name}-{version}.tar.gz`.
    pub fn file_name(&self) -> String {
        archive_file_name(&self.name, &self.version)
    }
}

/// Why a directory cannot be packed.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum PackError {
    /// The directory has no `ggen.toml`.
    #[error(
        "{} has no {MANIFEST_FILE}; a package directory needs one with [package] name and version — \
         create it or point at the package's directory",
        dir.display()
    )]
    NoManifest { dir: PathBuf },
    /// `ggen.toml` does not parse or breaks a publishing rule.
    #[error("{}: invalid package manifest; fix it and pack again", path.display())]
    Manifest { path: PathBuf, source: ManifestError },
    /// A symbolic link in the tree.
    #[error(
        "{} is a symbolic link; packages hold only regular files — replace it with a copy of its target or remove it",
        path.display()
    )]
    Symlink { path: PathBuf },
    /// A fifo, socket or device in the tree.
    #[error("{} is a {kind}, not a regular file; remove it from the package directory", path.display())]
    SpecialFile { path: PathBuf, kind: &'static str },
    /// A file or directory name that is not UTF-8.
    #[error("{} has a name that is not UTF-8; rename it so every platform can extract it", path.display())]
    NonUtf8Name { path: PathBuf },
    /// A file or directory name with a backslash.
    #[error("{} has a backslash in its name; rename it so every platform can extract it", path.display())]
    Backslash { path: PathBuf },
    /// A file or directory that cannot be read.
    #[error("cannot read {}; check its permissions", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// The archive could not be assembled (a path the tar format refuses).
    #[error("cannot add {} to the archive", path.display())]
    Tar { path: PathBuf, source: io::Error },
}

/// A regular file to pack.
#[derive(Debug)]
struct SourceFile {
    /// Path inside the package, `/`-separated.
    relative: String,
    /// Path on disk.
    path: PathBuf,
    executable: bool,
}

/// Packs the package directory `dir` in memory, leaving out the directories
/// in `skip` (output directories; see the module docs) where they lie inside it.
pub fn pack(dir: &Path, skip: &[&Path]) -> Result<PackedArchive, PackError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    if !manifest_path.is_file() {
        return Err(PackError::NoManifest { dir: dir.to_owned() });
    }
    let manifest = Manifest::read(&manifest_path).map_err(|source| manifest_error(&manifest_path, source))?;
    let package = manifest
        .package_for_publishing()
        .map_err(|source| manifest_error(&manifest_path, source))?;
    let name = package.meta.name.clone();
    let version = package.version;

    // Compared canonically, however either path was spelled; paths in
    // errors stay as the caller spelled them.
    let skip: Vec<PathBuf> = skip.iter().filter_map(|path| fs::canonicalize(path).ok()).collect();
    let mut files = Vec::new();
    collect_files(dir, "", &skip, &mut files)?;
    manifest_first_then_sorted(&mut files);

    let bytes = write_tar_gz(&top_dir(&name, &version), &files)?;
    Ok(PackedArchive {
        sha256: lower_hex(&Sha256::digest(&bytes)),
        name,
        version,
        files: files.len() as u64,
        bytes,
    })
}

fn manifest_error(path: &Path, source: ManifestError) -> PackError {
    PackError::Manifest {
        path: path.to_owned(),
        source,
    }
}

/// Appends every regular file under `dir` (whose path inside the package is
/// `prefix`) to `out`, refusing anything else.
fn collect_files(dir: &Path, prefix: &str, skip: &[PathBuf], out: &mut Vec<SourceFile>) -> Result<(), PackError> {
    let read_error = |path: &Path| {
        let path = path.to_owned();
        move |source| PackError::Read { path, source }
    };
    for entry in fs::read_dir(dir).map_err(read_error(dir))? {
        let entry = entry.map_err(read_error(dir))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name
            .to_str()
            .ok_or_else(|| PackError::NonUtf8Name { path: path.clone() })?;
        if name == ".git" {
            continue;
        }
        if name.contains('\\') {
            return Err(PackError::Backslash { path });
        }
        let relative = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        };
        let metadata = entry.metadata().map_err(read_error(&path))?;
        let file_type = metadata.file_type();
        if file_type.is_symlink() {
            return Err(PackError::Symlink { path });
        } else if file_type.is_dir() {
            if !is_skipped(&path, skip) {
                collect_files(&path, &relative, skip, out)?;
            }
        } else if file_type.is_file() {
            out.push(SourceFile {
                relative,
                path,
                executable: is_executable(&metadata),
            });
        } else {
            return Err(PackError::SpecialFile {
                kind: special_kind(&file_type),
                path,
            });
        }
    }
    Ok(())
}

fn is_skipped(dir: &Path, skip: &[PathBuf]) -> bool {
    !skip.is_empty() && fs::canonicalize(dir).is_ok_and(|dir| skip.contains(&dir))
}

/// `ggen.toml` first so indexers stop decompressing early, then byte-wise
/// order of the path, independent of locale and of the directory's order.
fn manifest_first_then_sorted(files: &mut [SourceFile]) {
    files.sort_by(|a, b| {
        let a_key = (a.relative != MANIFEST_FILE, a.relative.as_bytes());
        let b_key = (b.relative != MANIFEST_FILE, b.relative.as_bytes());
        a_key.cmp(&b_key)
    });
}

fn write_tar_gz(top: &str, files: &[SourceFile]) -> Result<Vec<u8>, PackError> {
    let gzip = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::new(COMPRESSION_LEVEL));
    let mut tar = tar::Builder::new(gzip);
    for file in files {
        let contents = fs::read(&file.path).map_err(|source| PackError::Read {
            path: file.path.clone(),
            source,
        })?;
        let mut header = file_header(contents.len() as u64, file.executable);
        let tar_error = |source| PackError::Tar {
            path: file.path.clone(),
            source,
        };
        tar.append_data(&mut header, format!("{top}/{}", file.relative), contents.as_slice())
            .map_err(tar_error)?;
    }
    let finish_error = |source| PackError::Tar {
        path: PathBuf::from(top),
        source,
    };
    let gzip = tar.into_inner().map_err(finish_error)?;
    let mut bytes = gzip.finish().map_err(finish_error)?;
    bytes.flush().map_err(finish_error)?;
    Ok(bytes)
}

/// A header carrying nothing of the packer's machine: fixed mtime, root
/// owner without names, one of two modes.
fn file_header(size: u64, executable: bool) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(if executable { 0o755 } else { 0o644 });
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(FIXED_MTIME);
    header
}

#[cfg(unix)]
fn is_executable(metadata: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_metadata: &fs::Metadata) -> bool {
    false
}

#[cfg(unix)]
fn special_kind(file_type: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "fifo"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_file_type: &fs::FileType) -> &'static str {
    "special file"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn package_dir(name: &str, version: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let manifest = format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\n");
        fs::write(dir.path().join(MANIFEST_FILE), manifest).unwrap();
        dir
    }

    fn write(dir: &Path, relative: &str, contents: &str) {
        let path = dir.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    /// One entry's header as read back.
    struct Listed {
        path: String,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        user: Vec<u8>,
        group: Vec<u8>,
        kind: tar::EntryType,
    }

    fn entries(bytes: &[u8]) -> Vec<Listed> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let header = entry.header();
                Listed {
                    path: entry.path().unwrap().to_string_lossy().into_owned(),
                    mode: header.mode().unwrap(),
                    uid: header.uid().unwrap(),
                    gid: header.gid().unwrap(),
                    mtime: header.mtime().unwrap(),
                    user: header.username_bytes().unwrap_or_default().to_vec(),
                    group: header.groupname_bytes().unwrap_or_default().to_vec(),
                    kind: header.entry_type(),
                }
            })
            .collect()
    }

    #[test]
    fn manifest_comes_first_then_byte_wise_order() {
        let dir = package_dir("order", "1.0.0");
        // Byte-wise on the whole path: "a-b" < "a.d/…" < "a/b" < "a0" ('-' < '.' < '/' < '0'),
        // which a walk sorting each directory's children would not give ("a/b" first).
        let files = ["zz", "a/b", "a-b", "a0", "_", "Z", "A", "a.d/ggen.toml"];
        for path in files {
            write(dir.path(), path, path);
        }
        let packed = pack(dir.path(), &[]).unwrap();
        let paths: Vec<String> = entries(&packed.bytes).into_iter().map(|e| e.path).collect();
        let mut rest: Vec<String> = files.iter().map(|p| format!("order-1.0.0/{p}")).collect();
        rest.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut expected = vec!["order-1.0.0/ggen.toml".to_owned()];
        expected.extend(rest);
        assert_eq!(paths, expected);
        let position = |p: &str| paths.iter().position(|x| x.ends_with(p)).unwrap();
        assert!(position("/a-b") < position("/a.d/ggen.toml") && position("/a.d/ggen.toml") < position("/a/b"));
        assert_eq!(packed.files, 9);
    }

    #[test]
    fn headers_carry_nothing_of_the_machine() {
        let dir = package_dir("meta", "0.1.0");
        write(dir.path(), "run.sh", "#!/bin/sh\n");
        write(dir.path(), "notes.txt", "hi");
        write(dir.path(), "private.txt", "hi");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir.path().join("run.sh"), fs::Permissions::from_mode(0o4710)).unwrap();
            fs::set_permissions(dir.path().join("private.txt"), fs::Permissions::from_mode(0o600)).unwrap();
        }
        let packed = pack(dir.path(), &[]).unwrap();
        for entry in entries(&packed.bytes) {
            let path = &entry.path;
            let expected_mode = if path.ends_with("run.sh") && cfg!(unix) {
                0o755
            } else {
                0o644
            };
            assert_eq!(entry.mode, expected_mode, "{path}");
            assert_eq!((entry.uid, entry.gid, entry.mtime), (0, 0, FIXED_MTIME), "{path}");
            assert!(entry.user.is_empty() && entry.group.is_empty(), "{path}");
            assert_eq!(entry.kind, tar::EntryType::Regular, "{path}");
        }
    }

    #[test]
    fn gzip_header_has_no_time_and_no_name() {
        let dir = package_dir("gz", "0.1.0");
        let packed = pack(dir.path(), &[]).unwrap();
        let header = &packed.bytes[..10];
        assert_eq!(&header[..3], &[0x1f, 0x8b, 8], "gzip magic and deflate");
        assert_eq!(header[3], 0, "no FNAME, FCOMMENT, FEXTRA or FHCRC flag");
        assert_eq!(&header[4..8], &[0, 0, 0, 0], "mtime 0");
        assert_eq!(header[9], 255, "OS unknown");
    }

    #[test]
    fn contents_round_trip_and_the_checksum_is_sha256_of_the_bytes() {
        let dir = package_dir("round", "2.0.0-rc.1");
        write(dir.path(), "templates/deep/very/far/file.tmpl", "{{ x }}");
        let long = format!("{}/{}.txt", "d".repeat(80), "n".repeat(90));
        write(dir.path(), &long, "long path");
        let packed = pack(dir.path(), &[]).unwrap();
        assert_eq!(packed.sha256, lower_hex(&Sha256::digest(&packed.bytes)));
        assert_eq!(packed.size(), packed.bytes.len() as u64);
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(packed.bytes.as_slice()));
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut contents = String::new();
            entry.read_to_string(&mut contents).unwrap();
            let relative = path.strip_prefix("round-2.0.0-rc.1/").unwrap().to_owned();
            assert_eq!(contents, fs::read_to_string(dir.path().join(&relative)).unwrap());
            seen.push(relative);
        }
        assert!(
            seen.contains(&long),
            "GNU long names keep paths over 100 bytes: {seen:?}"
        );
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn skips_git_and_the_output_directory() {
        let dir = package_dir("skips", "1.0.0");
        write(dir.path(), ".git/HEAD", "ref: refs/heads/main");
        write(dir.path(), "sub/.git", "gitdir: ../.git/modules/sub");
        write(dir.path(), "sub/kept.txt", "kept");
        write(dir.path(), "target/package/skips-0.9.0.tar.gz", "an older archive");
        write(
            dir.path(),
            "target/other.txt",
            "kept: only the output directory is skipped",
        );
        let out = dir.path().join("target/package");
        let packed = pack(dir.path(), &[&out]).unwrap();
        let paths: Vec<String> = entries(&packed.bytes).into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            ["ggen.toml", "sub/kept.txt", "target/other.txt"].map(|p| format!("skips-1.0.0/{p}"))
        );
    }

    #[test]
    fn refuses_a_missing_or_invalid_manifest() {
        let empty = tempfile::tempdir().unwrap();
        let err = pack(empty.path(), &[]).unwrap_err();
        assert!(
            matches!(&err, PackError::NoManifest { dir } if dir == empty.path()),
            "{err:?}"
        );
        assert!(err.to_string().contains("has no ggen.toml"), "{err}");

        let bad_name = package_dir("Bad_Name", "1.0.0");
        let err = pack(bad_name.path(), &[]).unwrap_err();
        assert!(
            matches!(
                &err,
                PackError::Manifest {
                    source: ManifestError::Name(_),
                    ..
                }
            ),
            "{err:?}"
        );
        let bad_version = package_dir("fine", "1.0");
        let err = pack(bad_version.path(), &[]).unwrap_err();
        assert!(
            matches!(&err, PackError::Manifest { source: ManifestError::Version { .. }, path } if path.ends_with(MANIFEST_FILE)),
            "{err:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn refuses_symlinks_and_special_files_naming_them() {
        let dir = package_dir("links", "1.0.0");
        write(dir.path(), "templates/real.txt", "real");
        std::os::unix::fs::symlink("real.txt", dir.path().join("templates/alias.txt")).unwrap();
        let err = pack(dir.path(), &[]).unwrap_err();
        assert!(
            matches!(&err, PackError::Symlink { path } if path.ends_with("templates/alias.txt")),
            "{err:?}"
        );
        assert!(err.to_string().contains("alias.txt"), "{err}");

        let dir = package_dir("fifos", "1.0.0");
        let fifo = dir.path().join("pipe");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(status.success());
        let err = pack(dir.path(), &[]).unwrap_err();
        assert!(
            matches!(&err, PackError::SpecialFile { path, kind: "fifo" } if path.ends_with("pipe")),
            "{err:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn refuses_names_other_platforms_cannot_extract() {
        use std::os::unix::ffi::OsStrExt;
        let dir = package_dir("names", "1.0.0");
        write(dir.path(), "a\\b.txt", "backslash");
        assert!(matches!(pack(dir.path(), &[]), Err(PackError::Backslash { .. })));

        let dir = package_dir("names", "1.0.0");
        fs::write(dir.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9")), "latin-1").unwrap();
        assert!(matches!(pack(dir.path(), &[]), Err(PackError::NonUtf8Name { .. })));
    }

    #[test]
    fn the_same_tree_in_another_directory_gives_the_same_bytes() {
        let one = package_dir("same", "1.0.0");
        let two = package_dir("same", "1.0.0");
        // Created in opposite orders, so directory order differs too.
        for path in ["b", "a/z", "a/y", "c"] {
            write(one.path(), path, path);
        }
        for path in ["c", "a/y", "a/z", "b"] {
            write(two.path(), path, path);
        }
        assert_eq!(pack(one.path(), &[]).unwrap(), pack(two.path(), &[]).unwrap());
    }

    /// GNU tar as an independent reader: owners, modes, and the manifest first.
    #[cfg(unix)]
    #[test]
    fn system_tar_lists_root_owners_fixed_modes_and_the_manifest_first() {
        use std::os::unix::fs::PermissionsExt;
        let dir = package_dir("listed", "3.0.0");
        write(dir.path(), "bin/gen.sh", "#!/bin/sh\n");
        write(dir.path(), "a.txt", "a");
        fs::set_permissions(dir.path().join("bin/gen.sh"), fs::Permissions::from_mode(0o700)).unwrap();
        let packed = pack(dir.path(), &[]).unwrap();
        let out = tempfile::tempdir().unwrap();
        let archive = out.path().join(packed.file_name());
        fs::write(&archive, &packed.bytes).unwrap();
        let listing = std::process::Command::new("tar")
            .env("TZ", "UTC")
            .args(["--numeric-owner", "-tvzf"])
            .arg(&archive)
            .output()
            .unwrap();
        assert!(listing.status.success(), "{}", String::from_utf8_lossy(&listing.stderr));
        let listing = String::from_utf8(listing.stdout).unwrap();
        let lines: Vec<Vec<&str>> = listing.lines().map(|l| l.split_whitespace().collect()).collect();
        // -rw-r--r-- 0/0 SIZE DATE TIME PATH
        let paths: Vec<&str> = lines.iter().map(|l| *l.last().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "listed-3.0.0/ggen.toml",
                "listed-3.0.0/a.txt",
                "listed-3.0.0/bin/gen.sh"
            ]
        );
        for line in &lines {
            assert_eq!(line[1], "0/0", "{line:?}");
            let expected = if line[5].ends_with(".sh") {
                "-rwxr-xr-x"
            } else {
                "-rw-r--r--"
            };
            assert_eq!(line[0], expected, "{line:?}");
            assert_eq!(line[3], "2006-07-24", "{line:?}");
        }
    }

    /// Touching and chowning every file changes nothing in the archive.
    #[cfg(unix)]
    #[test]
    fn mtimes_and_owners_do_not_reach_the_archive() {
        let dir = package_dir("stable", "1.0.0");
        write(dir.path(), "t/one.tmpl", "one");
        let before = pack(dir.path(), &[]).unwrap();
        let when = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        for path in [dir.path().join(MANIFEST_FILE), dir.path().join("t/one.tmpl")] {
            fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(when)
                .unwrap();
            // Only root may give files away; elsewhere the mtime half still runs.
            let _ = std::os::unix::fs::chown(&path, Some(4242), Some(4343));
        }
        assert_eq!(pack(dir.path(), &[]).unwrap().bytes, before.bytes);
    }
}
