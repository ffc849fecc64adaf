//! `ggen-market mirror …`: an operator's mirror of an upstream registry,
//! and carrying it across an air gap as one verified file.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::{Args, Subcommand, ValueEnum};
use ggen_marketplace::trust::{EnvOrTerminal, PublicKey, SecretKey};
use ggen_marketplace::workflows::mirror::create::{self, CreateOptions, CreateReport};
use ggen_marketplace::workflows::mirror::layout::MirrorFormat;
use ggen_marketplace::workflows::mirror::selection::{MissingDependency, Selection};
use ggen_marketplace::workflows::mirror::update::{self, UpdateOptions, UpdateReport};
use ggen_marketplace::workflows::mirror::upstream::Upstream;
use ggen_marketplace::workflows::mirror::verify::{self, VerifyReport};
use ggen_marketplace::workflows::mirror::{
    ExportKind, ExportOptions, ExportReport, ImportOptions, ImportReport, export, import,
};

use super::progress::Bar;
use super::{CommandResult, GlobalArgs, output};

#[derive(Debug, Subcommand)]
pub enum MirrorCommand {
    /// Mirror a selection of an upstream registry into a new directory.
    ///
    /// The upstream is ours or any registry in the crates.io index format.
    /// The mirror holds the index pruned to the selection (lines copied byte
    /// for byte), the archives (each checked against its checksum and its
    /// line's signature before it enters), config.json with the upstream's
    /// identity (so locks made against the upstream install from the
    /// mirror) and mirror.toml. It is built in a staging directory and
    /// renamed into place: a failure leaves nothing behind. Selections
    /// combine; dependencies the mirror does not satisfy are reported.
    Create(CreateArgs),
    /// Bring a mirror up to date with its upstream.
    ///
    /// New versions and yanks are taken and only new archives fetched. The
    /// upstream is compared by content, not by commit, so a squashed or
    /// force-pushed upstream is fine. A rewrite of published history (a
    /// line whose checksum or dependencies changed, a vanished version) is
    /// reported, the package kept at its last good state and the exit code
    /// is 1 — until --accept-upstream-rewrite takes it.
    Update(UpdateArgs),
    /// Check everything a mirror holds, again from disk.
    ///
    /// Every archive re-hashed against its checksum (on all cores), every
    /// signature, every index file, nothing missing and nothing extra.
    /// Exits 1 naming each problem.
    Verify(VerifyArgs),
    /// Pack an index or mirror directory into one file (a tar with a
    /// manifest of every file's SHA-256) for carrying across an air gap.
    /// Also writes FILE.manifest.json: keep it for the next `--since`.
    Export {
        /// The index or mirror directory (the one holding config.json).
        dir: PathBuf,
        /// The export file to write (replaced atomically).
        file: PathBuf,
        /// Make a delta: only files new or changed since the export whose
        /// manifest (FILE.manifest.json) this is.
        #[arg(long, value_name = "MANIFEST")]
        since: Option<PathBuf>,
        /// Sign the manifest with this minisign secret key (`keygen`'s
        /// NAME.key; password from GGEN_KEY_PASSWORD or the terminal).
        #[arg(long, value_name = "KEY")]
        sign_key: Option<PathBuf>,
        /// Print one JSON object: what the file holds.
        #[arg(long)]
        json: bool,
    },
    /// Unpack an export file into a directory: everything is verified
    /// first (signature, a delta's base, every file's size and SHA-256),
    /// then the new tree replaces DIR atomically. On any error DIR is left
    /// unchanged.
    Import {
        /// The export file (plain, or compressed with gzip).
        file: PathBuf,
        /// The directory to create or update; it becomes exactly the exported tree.
        dir: PathBuf,
        /// Require the manifest to be signed by this minisign public key
        /// (a .pub file, as `keygen` or `minisign -G` write it).
        #[arg(long, value_name = "PUBKEY")]
        trusted_key: Option<PathBuf>,
        /// Print one JSON object: what was imported.
        #[arg(long)]
        json: bool,
    },
}

/// The `--format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// An index with its archives, servable as a sparse registry.
    Index,
    /// A Cargo local registry (`local-registry = "DIR"`), needs no server.
    CargoLocal,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The new mirror's directory (must not exist, or be empty).
    dir: PathBuf,
    /// The upstream: a registry URL (git+https://…, git://…, file://…,
    /// sparse+https://…), a path, or a name from GGEN_HOME/config.toml.
    #[arg(long, value_name = "REGISTRY")]
    from: String,
    /// Every version of every package (not from a sparse upstream, which
    /// cannot list its packages).
    #[arg(long)]
    all: bool,
    /// An approved list: NAME (every version) or NAME@REQ (the matching
    /// ones), comma-separated; repeatable.
    #[arg(long, value_name = "NAME[@REQ],...")]
    packages: Vec<String>,
    /// The list, plus everything its versions can depend on (normal and
    /// build dependencies, every target, optional ones too), transitively.
    #[arg(long, value_name = "NAME[@REQ],...")]
    closure: Vec<String>,
    /// Exactly the registry packages and versions of a ggen.lock or a
    /// Cargo.lock; repeatable.
    #[arg(long, value_name = "FILE")]
    lockfile: Vec<PathBuf>,
    /// How to lay the mirror out.
    #[arg(long, value_enum, default_value = "index")]
    format: FormatArg,
    /// Write config.json's `dl` as an absolute URL under this one, where
    /// the mirror will be served (Cargo needs an absolute `dl`); default: a
    /// relative `dl`, so the mirror can move.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Mirror only the index: archives keep coming from the upstream's
    /// `dl`, made absolute.
    #[arg(long)]
    index_only: bool,
    /// Print one JSON object: counts, upstream and missing dependencies.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The mirror's directory.
    dir: PathBuf,
    /// Read the upstream from here instead of the URL in mirror.toml (it
    /// must be the same registry).
    #[arg(long, value_name = "REGISTRY")]
    from: Option<String>,
    /// Take the upstream's rewrites of published history (changed entries,
    /// vanished versions) instead of keeping the packages as they were.
    #[arg(long)]
    accept_upstream_rewrite: bool,
    /// Print one JSON object: what was added, yanked and rewritten.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The mirror's directory.
    dir: PathBuf,
    /// Print one JSON object: counts and every problem.
    #[arg(long)]
    json: bool,
}

pub fn run(global: &GlobalArgs, command: MirrorCommand) -> CommandResult {
    match command {
        MirrorCommand::Create(args) => run_create(global, args),
        MirrorCommand::Update(args) => run_update(global, args),
        MirrorCommand::Verify(args) => run_verify(args),
        MirrorCommand::Export {
            dir,
            file,
            since,
            sign_key,
            json,
        } => {
            let key = sign_key
                .map(|path| SecretKey::read_file(&path, &EnvOrTerminal))
                .transpose()?;
            let options = ExportOptions {
                since: since.as_deref(),
                sign_key: key.as_ref(),
                now: SystemTime::now(),
            };
            let report = export(&dir, &file, &options, &Bar::for_terminal())?;
            if json {
                output::print_json(&report);
            } else {
                print_export(&report);
            }
            Ok(0)
        }
        MirrorCommand::Import {
            file,
            dir,
            trusted_key,
            json,
        } => {
            let key = trusted_key.map(|path| PublicKey::read_file(&path)).transpose()?;
            let options = ImportOptions {
                trusted_key: key.as_ref(),
            };
            let report = import(&file, &dir, &options, &Bar::for_terminal())?;
            if json {
                output::print_json(&report);
            } else {
                print_import(&report);
            }
            Ok(0)
        }
    }
}

fn run_create(global: &GlobalArgs, args: CreateArgs) -> CommandResult {
    let mut selection = Selection {
        all: args.all,
        ..Selection::default()
    };
    for list in &args.packages {
        selection.add_packages(list)?;
    }
    for list in &args.closure {
        selection.add_closure(list)?;
    }
    for lockfile in &args.lockfile {
        selection.add_lockfile(lockfile)?;
    }
    let options = CreateOptions {
        selection,
        format: match args.format {
            FormatArg::Index => MirrorFormat::Index,
            FormatArg::CargoLocal => MirrorFormat::CargoLocal,
        },
        base_url: args.base_url,
        index_only: args.index_only,
    };
    let (home, net) = global.home_and_net()?;
    let progress = Bar::for_terminal();
    let upstream = Upstream::open(&args.from, &home, net, &progress, &output::warnings())?;
    let report = create::create(&args.dir, &upstream, &options, &progress)?;
    if args.json {
        output::print_json(&report);
    } else {
        print_create(&report);
    }
    Ok(0)
}

fn print_create(report: &CreateReport) {
    let commit = report
        .commit
        .as_deref()
        .map(|c| format!(" at {}", &c[..c.len().min(10)]))
        .unwrap_or_default();
    println!(
        "mirrored {} versions of {} packages from {}{commit} into {}",
        report.versions,
        report.packages,
        report.upstream,
        report.dir.display()
    );
    println!("  {} archives, {}", report.archives, size(report.bytes));
    println!(
        "  identity: {} (ggen.lock files of the upstream install from it)",
        report.identity
    );
    print_missing(&report.missing_dependencies);
}

fn print_missing(missing: &[MissingDependency]) {
    if missing.is_empty() {
        return;
    }
    println!(
        "missing dependencies ({}): mirrored versions depend on them, the mirror lacks them",
        missing.len()
    );
    for dependency in missing {
        let mut by: Vec<String> = dependency
            .required_by
            .iter()
            .map(|r| {
                let optional = if r.optional { ", optional" } else { "" };
                format!("{} {} ({}{optional})", r.name, r.version, r.req)
            })
            .collect();
        if by.len() > 3 {
            let more = by.len() - 3;
            by.truncate(3);
            by.push(format!("{more} more"));
        }
        println!(
            "  {} ({}): required by {}",
            dependency.name,
            dependency.reason.describe(),
            by.join(", ")
        );
    }
}

fn size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes >= 1024 * 1024 {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

fn run_update(global: &GlobalArgs, args: UpdateArgs) -> CommandResult {
    let (home, net) = global.home_and_net()?;
    let options = UpdateOptions {
        from: args.from,
        accept_upstream_rewrite: args.accept_upstream_rewrite,
    };
    let report = update::update(
        &args.dir,
        &home,
        net,
        &options,
        &Bar::for_terminal(),
        &output::warnings(),
    )?;
    if args.json {
        output::print_json(&report);
    } else {
        print_update(&report, &args.dir);
    }
    let refused: Vec<&str> = report.refused().map(|r| r.name.as_str()).collect();
    if refused.is_empty() {
        return Ok(0);
    }
    eprintln!(
        "error: the upstream rewrote published history of {}; kept at the last good state. Ask the upstream's operators what happened, then take it with `ggen-market mirror update {} --accept-upstream-rewrite`",
        refused.join(", "),
        args.dir.display()
    );
    Ok(1)
}

fn print_update(report: &UpdateReport, dir: &std::path::Path) {
    for added in &report.added {
        println!("added    {} {}", added.name, added.version);
    }
    for yanked in &report.yanked {
        println!("yanked   {} {}", yanked.name, yanked.version);
    }
    for unyanked in &report.unyanked {
        println!("unyanked {} {}", unyanked.name, unyanked.version);
    }
    for rewrite in &report.rewrites {
        let verdict = if rewrite.accepted { "taken" } else { "REFUSED" };
        println!("rewrite  {} ({verdict}): {}", rewrite.name, rewrite.changes.join("; "));
    }
    let state = if report.changed { "updated" } else { "up to date:" };
    println!(
        "{state} {} from {}: {} added, {} yanked, {} unyanked, {} rewrites; {} archives fetched ({})",
        dir.display(),
        report.upstream,
        report.added.len(),
        report.yanked.len(),
        report.unyanked.len(),
        report.rewrites.len(),
        report.archives,
        size(report.bytes)
    );
    print_missing(&report.missing_dependencies);
}

fn run_verify(args: VerifyArgs) -> CommandResult {
    let report = verify::verify(&args.dir, &Bar::for_terminal())?;
    if args.json {
        output::print_json(&report);
    } else {
        print_verify(&report, &args.dir);
    }
    Ok(if report.intact { 0 } else { 1 })
}

fn print_verify(report: &VerifyReport, dir: &std::path::Path) {
    for problem in &report.problems {
        println!("{}: {}: {}", problem.path, problem.kind.as_str(), problem.message);
    }
    let verdict = if report.intact {
        "intact".to_owned()
    } else {
        format!("{} problems", report.problems.len())
    };
    println!(
        "{}: {} packages, {} versions, {} archives ({}) checked: {verdict}",
        dir.display(),
        report.packages,
        report.versions,
        report.archives,
        size(report.bytes)
    );
}

fn print_export(report: &ExportReport) {
    match (report.kind, &report.since) {
        (ExportKind::Delta, Some(since)) => println!(
            "Exported a delta to {}: {} of {} files ({} bytes), since manifest {since}",
            report.file.display(),
            report.carried_files,
            report.files,
            report.carried_bytes
        ),
        _ => println!(
            "Exported {} files ({} bytes) to {}",
            report.files,
            report.bytes,
            report.file.display()
        ),
    }
    match report.signed_by {
        Some(key) => println!("Signed by key {key}"),
        None => println!("Not signed (importers cannot use --trusted-key; sign with --sign-key)"),
    }
    println!(
        "Manifest: {} (sha256 {})",
        report.manifest.display(),
        report.manifest_sha256
    );
    println!(
        "Next: keep the manifest for the next `--since`; on the other side run `ggen-market mirror import {} DIR`",
        report.file.display()
    );
}

fn print_import(report: &ImportReport) {
    let kind = match report.kind {
        ExportKind::Full => "a full export",
        ExportKind::Delta => "a delta",
    };
    println!(
        "Imported {kind} into {}: {} files ({} bytes), {} from the file, {} kept",
        report.dir.display(),
        report.files,
        report.bytes,
        report.carried_files,
        report.reused_files
    );
    match (report.signed_by, report.signature_verified) {
        (Some(key), true) => println!("Signature by trusted key {key}: verified"),
        (Some(key), false) => println!("Signed by key {key}, not checked: pass --trusted-key KEY.pub to require it"),
        (None, _) => println!("Not signed"),
    }
    println!("Manifest sha256 {}", report.manifest_sha256);
}
