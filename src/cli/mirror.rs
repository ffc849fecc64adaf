//! `ggen-market mirror …`: mirrors for operators, across an air gap.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::Subcommand;

use super::progress::Bar;
use super::{CommandResult, output};
use ggen_marketplace::trust::{EnvOrTerminal, PublicKey, SecretKey};
use ggen_marketplace::workflows::mirror::{
    ExportKind, ExportOptions, ExportReport, ImportOptions, ImportReport, export, import,
};

#[derive(Debug, Subcommand)]
pub enum MirrorCommand {
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

pub fn run(command: MirrorCommand) -> CommandResult {
    match command {
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
