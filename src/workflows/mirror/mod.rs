//! Mirrors across an air gap: `mirror export` packs an index or mirror
//! directory into one file, `mirror import` unpacks it on the other side,
//! verified and atomically. Either works on any such directory (index
//! files, `_keys/`, archives where `dl` points, `mirror.toml`).
//!
//! - [`manifest`]: the export's manifest, which lists every file of the
//!   tree (path, size, SHA-256, executable bit, carried or not).
//! - [`export`](mod@export): tree → file, full or a delta `--since` an
//!   earlier export's manifest, optionally signed.
//! - [`import`](mod@import): file → tree, all checks before any change.
//!
//! The export file is a plain (uncompressed) tar: `ggen-mirror-manifest.json`
//! first, `ggen-mirror-manifest.json.minisig` second when signed, then the
//! files it carries at their relative paths. Plain, because nearly all of
//! a mirror's bytes are archives that are gzip already: compressing again
//! would cost CPU for a few percent, and `tar -tf` / `tar -xf` read it as it
//! is. An operator who wants the index files compressed may `gzip` the file;
//! import recognises gzip and reads it either way. The manifest is the
//! authority (only it is signed): every member must match it exactly.
//!
//! A delta carries the files that are new or changed since its base, and
//! its manifest still lists the whole new tree, so files deleted since are
//! simply absent. It applies only to a directory holding exactly the base's
//! versions of the files it does not carry.
//!
//! Import reads and checks everything before the directory changes: the
//! manifest, the signature (with a trusted key: required, by that key), a
//! delta's base, and each member's path, type, size and SHA-256, with no
//! member the manifest does not list as carried and none missing. Members
//! are checked as they are written into a staging tree beside the
//! directory; unchanged files of a delta are hard-linked in from the
//! current tree. Then the staging tree is synced and swapped in with
//! renames under a lock (`.DIR.ggen-import-lock` beside it), so a crash
//! leaves the old tree or the new one, never a mix; the next import
//! finishes or undoes an interrupted swap. The directory becomes exactly
//! the exported tree.
//!
//! ```
//! use std::time::SystemTime;
//! use ggen_marketplace::util::progress::NoProgress;
//! use ggen_marketplace::workflows::mirror::{ExportKind, ExportOptions, ImportOptions, export, import};
//!
//! let tmp = tempfile::tempdir().unwrap();
//! let index = tmp.path().join("index");
//! std::fs::create_dir_all(index.join("io/.g")).unwrap();
//! std::fs::write(index.join("config.json"), r#"{"dl":"archives/{crate}/{crate}-{version}.tar.gz"}"#).unwrap();
//! std::fs::write(index.join("io/.g/io.ggen.base"), "{\"name\":\"io.ggen.base\"}\n").unwrap();
//!
//! let file = tmp.path().join("usb/index.tar");
//! let options = ExportOptions { since: None, sign_key: None, now: SystemTime::now() };
//! let exported = export(&index, &file, &options, &NoProgress).unwrap();
//! assert_eq!((exported.kind, exported.files), (ExportKind::Full, 2));
//!
//! let copy = tmp.path().join("air-gapped/index");
//! let imported = import(&file, &copy, &ImportOptions::default(), &NoProgress).unwrap();
//! assert_eq!(imported.manifest_sha256, exported.manifest_sha256);
//! assert_eq!(std::fs::read(copy.join("io/.g/io.ggen.base")).unwrap(), std::fs::read(index.join("io/.g/io.ggen.base")).unwrap());
//!
//! // Later: only what changed travels, named against the earlier manifest.
//! std::fs::write(index.join("io/.g/io.ggen.base"), "{\"name\":\"io.ggen.base\",\"yanked\":true}\n").unwrap();
//! let delta = tmp.path().join("usb/delta.tar");
//! let options = ExportOptions { since: Some(&exported.manifest), ..options };
//! let exported = export(&index, &delta, &options, &NoProgress).unwrap();
//! assert_eq!((exported.kind, exported.carried_files), (ExportKind::Delta, 1));
//! let imported = import(&delta, &copy, &ImportOptions::default(), &NoProgress).unwrap();
//! assert_eq!(imported.reused_files, 1);
//! assert!(std::fs::read_to_string(copy.join("io/.g/io.ggen.base")).unwrap().contains("yanked"));
//! ```

pub mod export;
pub mod import;
pub mod manifest;

pub use export::{ExportError, ExportKind, ExportOptions, ExportReport, export};
pub use import::{ImportError, ImportOptions, ImportReport, import};
pub use manifest::{ExportManifest, ManifestFile};
