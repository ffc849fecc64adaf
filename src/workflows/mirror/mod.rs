//! Mirrors (DESIGN §6): what an operator copies from an upstream registry
//! — ours, or any registry in the crates.io index format — so that ggen
//! users and Cargo install from it without the upstream, even air-gapped.
//!
//! A mirror is an index pruned to what is mirrored plus the archives, in
//! one directory:
//! - the package files of the mirrored packages, each holding the mirrored
//!   versions' lines copied byte for byte (never re-serialized, so
//!   signatures and every field Cargo reads stay intact), and their
//!   owner-keys files (`_keys/`);
//! - the archives, at the path a relative `dl` names (see [`layout`]);
//! - `config.json` with that `dl`, the upstream's `keys`, `signatures` and
//!   `name`, and as `id` the upstream's identity, so a `ggen.lock` made
//!   against the upstream installs unchanged from the mirror;
//! - `mirror.toml` ([`record`]): the upstream, the selection
//!   ([`selection`]) and the upstream state it was made from.
//!
//! [`create`] builds one in a staging directory and renames it into place;
//! [`update`] brings it forward incrementally and never takes a rewrite of
//! published history silently; [`verify`] re-checks everything. Archives
//! come through [`PackageSource::fetch_archive`](crate::sources::PackageSource::fetch_archive)
//! and enter a mirror only once they hash to their line's `cksum` and the
//! line's signature verifies ([`admit`]).
//!
//! ```
//! use ggen_marketplace::home::GgenHome;
//! use ggen_marketplace::sources::fallback::WarningSink;
//! use ggen_marketplace::util::progress::NoProgress;
//! use ggen_marketplace::workflows::{index_init, registry::NetOptions};
//! use ggen_marketplace::workflows::mirror::{create, selection::Selection, upstream::Upstream, verify};
//! use sha2::{Digest, Sha256};
//!
//! // An upstream index with one package and its archive where `dl` points.
//! let tmp = tempfile::tempdir().unwrap();
//! let index = tmp.path().join("upstream");
//! index_init::init(&index, None, Some("io.example.templates")).unwrap();
//! let archive = b"the archive's bytes";
//! let cksum: String = Sha256::digest(archive).iter().map(|b| format!("{b:02x}")).collect();
//! std::fs::create_dir_all(index.join("archives/demo")).unwrap();
//! std::fs::write(index.join("archives/demo/demo-1.0.0.tar.gz"), archive).unwrap();
//! std::fs::create_dir_all(index.join("de/mo")).unwrap();
//! let line = format!(r#"{{"name":"demo","vers":"1.0.0","deps":[],"cksum":"{cksum}","features":{{}},"yanked":false}}"#);
//! std::fs::write(index.join("de/mo/demo"), format!("{line}\n")).unwrap();
//!
//! let home = GgenHome::at(tmp.path().join("home"));
//! let net = NetOptions { offline: true, ..NetOptions::default() };
//! let quiet: WarningSink = std::sync::Arc::new(|_: &str| {}); // no fallback mirrors here
//! let upstream = Upstream::open(index.to_str().unwrap(), &home, net, &NoProgress, &quiet).unwrap();
//! let mut selection = Selection::default();
//! selection.add_closure("demo").unwrap();
//! let options = create::CreateOptions { selection, ..Default::default() };
//! let mirror = tmp.path().join("mirror");
//! let report = create::create(&mirror, &upstream, &options, &NoProgress).unwrap();
//! assert_eq!((report.versions, report.archives), (1, 1));
//! assert_eq!(std::fs::read_to_string(mirror.join("de/mo/demo")).unwrap(), format!("{line}\n"));
//! assert!(std::fs::read_to_string(mirror.join("config.json")).unwrap().contains(r#""id": "io.example.templates""#));
//!
//! // Every archive re-hashed, every line checked: intact.
//! assert!(verify::verify(&mirror, &NoProgress).unwrap().intact);
//! std::fs::write(mirror.join("archives/demo/demo-1.0.0.tar.gz"), b"tampered").unwrap();
//! assert!(!verify::verify(&mirror, &NoProgress).unwrap().intact);
//! ```
//!
//! # Across an air gap
//!
//! `mirror export` packs an index or mirror
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
//! current tree. Then the staging tree is synced and exchanged with the
//! directory in one step (`renameat2` on Linux; elsewhere renames) under a
//! lock (`.DIR.ggen-import-lock` beside it), so a crash leaves the old tree
//! or the new one, never a mix; the next import removes what is left
//! beside it, or finishes an interrupted swap. The directory becomes exactly
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

pub mod admit;
pub mod create;
pub mod export;
pub mod import;
pub mod layout;
pub mod manifest;
mod next_tree;
pub mod record;
pub mod selection;
pub mod update;
pub mod upstream;
pub mod verify;

pub use export::{ExportError, ExportKind, ExportOptions, ExportReport, export};
pub use import::{ImportError, ImportOptions, ImportReport, import};
pub use manifest::{ExportManifest, ManifestFile};

use std::path::PathBuf;

use self::layout::Layout;
use self::selection::SelectionError;
use self::upstream::Upstream;
use crate::format::IndexConfig;
use crate::format::config::join_reference;
use crate::format::identity::{BadRegistryId, check_id};
use crate::home::HomeError;
use crate::sources::SourceError;
use crate::trust::TrustError;
use crate::util::fs::FsError;
use crate::workflows::index_check::CheckError;
use crate::workflows::registry::RegistryError;

/// Why a mirror could not be made, updated or checked. Nothing was changed
/// in the mirror unless the variant says otherwise.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum MirrorError {
    /// GGEN_HOME's config.toml is unusable.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The upstream could not be chosen or opened.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The upstream (or the mirror, read as an index) could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The selection is not usable.
    #[error(transparent)]
    Selection(#[from] SelectionError),
    /// Options that do not go together.
    #[error("{reason}")]
    Options { reason: String },
    /// `create` into a directory that holds something.
    #[error(
        "{} already exists and is not empty; choose a new directory, or bring the mirror there up to date with `ggen-market mirror update {}`",
        dir.display(), dir.display()
    )]
    NotEmpty { dir: PathBuf },
    /// No `mirror.toml`.
    #[error("{} is not a mirror (no mirror.toml); make one with `ggen-market mirror create {} --from REGISTRY …`", dir.display(), dir.display())]
    NotAMirror { dir: PathBuf },
    /// `mirror.toml` is unreadable.
    #[error("{}: {reason}", path.display())]
    Record { path: PathBuf, reason: String },
    /// `--all` of an upstream that cannot list its packages.
    #[error(
        "{upstream} is a sparse index, which cannot list its packages, so --all cannot be mirrored from it; name the packages (--packages, --closure, --lockfile) or mirror from its git URL"
    )]
    CannotList { upstream: String },
    /// Packages or locked versions the upstream does not have.
    #[error("not in the upstream {upstream}: {}; check the names (and versions) and the upstream URL", missing.join(", "))]
    NotInUpstream { upstream: String, missing: Vec<String> },
    /// A lockfile's checksum that the upstream does not agree with.
    #[error(
        "{name} {version}: the lockfile says checksum {locked}, the upstream {upstream}; the upstream changed a published release or the lock is from another registry. Nothing was mirrored"
    )]
    LockedChecksum {
        name: String,
        version: String,
        locked: String,
        upstream: String,
    },
    /// An upstream line's `cksum` is not a SHA-256.
    #[error(
        "{name} {version}: the upstream entry's cksum is not a SHA-256 (64 lowercase hex digits); the upstream index is damaged"
    )]
    BadChecksumField { name: String, version: String },
    /// An archive that is not the one its line describes.
    #[error(
        "{name} {version}: the archive from {origin} has SHA-256 {actual}, but the index says {expected}; it was corrupted or tampered with and was not mirrored"
    )]
    ChecksumMismatch {
        name: String,
        version: String,
        origin: String,
        expected: String,
        actual: String,
    },
    /// A line whose signature does not verify.
    #[error("{name} {version} was not mirrored: {source}")]
    Untrusted {
        name: String,
        version: String,
        source: TrustError,
    },
    /// Owner keys or index keys that cannot be read.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// An archive could not be fetched.
    #[error("{name} {version}: cannot fetch the archive: {source}")]
    Fetch {
        name: String,
        version: String,
        source: SourceError,
    },
    /// The upstream's identity cannot be a config.json `id`.
    #[error("the upstream's identity cannot be the mirror's config.json id: {0}")]
    Identity(#[from] BadRegistryId),
    /// The upstream is another registry than the one mirrored.
    #[error(
        "the upstream {url} is registry `{found}`, but this mirror holds registry `{recorded}`; locks of one do not install from the other. Make a new mirror of {url} instead"
    )]
    IdentityChanged {
        url: String,
        recorded: String,
        found: String,
    },
    /// The index check of `verify` could not run.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// A filesystem operation failed.
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// The mirror's config.json: its own `dl` (or, for an index-only mirror,
/// the upstream's, made absolute), the upstream's identity as `id`, and the
/// upstream's name, keys and signature policy.
fn mirror_config(
    upstream: &Upstream,
    layout: &Layout,
    base_url: Option<&str>,
    index_only: bool,
) -> Result<IndexConfig, MirrorError> {
    let from = upstream.config();
    let dl = if !index_only {
        layout.dl(base_url)
    } else if from.dl_is_relative() {
        join_reference(&upstream.source().download_base(), &from.dl)
    } else {
        from.dl.clone()
    };
    let id = upstream.identity().id();
    check_id(id)?;
    Ok(IndexConfig {
        dl,
        api: None,
        auth_required: false,
        id: Some(id.to_owned()),
        name: from.name.clone(),
        keys: from.keys.clone(),
        signatures: from.signatures,
    })
}
