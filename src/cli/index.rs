//! `ggen-market index …`: commands for registry operators.

use std::path::PathBuf;

use clap::Subcommand;

use super::progress::Bar;
use super::{CommandResult, output};
use ggen_marketplace::trust::{EnvOrTerminal, SecretKey};
use ggen_marketplace::workflows::{index_add, index_check, index_init};

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Create a new index from the built-in template: config.json, an
    /// operator's README and CI files that check pull requests.
    Init {
        /// Directory to create (must not exist or be empty).
        dir: PathBuf,
        /// Display name of the registry, written to config.json.
        #[arg(long)]
        name: Option<String>,
        /// The registry's stable identity, config.json's `id`: ggen.lock
        /// records it instead of a URL, so locks stay valid on every mirror
        /// and copy (e.g. com.acme.templates; default: a new unique id).
        #[arg(long)]
        id: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a batch of package archives to an index, all or nothing: every
    /// archive is read and checked first (manifest, duplicates, confusable
    /// names, dependencies), then every changed package file is written.
    Add {
        /// The index root (the directory holding config.json).
        index: PathBuf,
        /// Package archives (.tar.gz, or Cargo's .crate), or directories
        /// whose *.tar.gz and *.crate files are added.
        #[arg(required = true, value_name = "ARCHIVE|DIR")]
        archives: Vec<PathBuf>,
        /// Sign every new entry with this minisign secret key (`keygen`'s
        /// NAME.key; password from GGEN_KEY_PASSWORD or the terminal).
        #[arg(long, value_name = "KEY")]
        sign_key: Option<PathBuf>,
        /// Print one JSON object: the versions added and the number of packages.
        #[arg(long)]
        json: bool,
    },
    /// Check every package file of an index: the entry schema, shard paths,
    /// names, versions (semver, unique), checksums, requirements, that every
    /// dependency is in the index, and config.json. Exits 0 when there are
    /// no errors (warnings allowed), 1 otherwise.
    Check {
        /// The index root (the directory holding config.json).
        dir: PathBuf,
        /// Print one JSON object: counts and every finding.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: IndexCommand) -> CommandResult {
    match command {
        IndexCommand::Init { dir, name, id, json } => {
            let created = index_init::init(&dir, name.as_deref(), id.as_deref())?;
            if json {
                output::print_json(&created);
            } else {
                println!("Created index {} at {}", created.id, created.dir.display());
                for file in &created.files {
                    println!("  {file}");
                }
                println!(
                    "Next: commit it to git, then add packages with `ggen-market index add {} ARCHIVE...`",
                    created.dir.display()
                );
            }
            Ok(0)
        }
        IndexCommand::Add {
            index,
            archives,
            sign_key,
            json,
        } => {
            let key = sign_key
                .map(|path| SecretKey::read_file(&path, &EnvOrTerminal))
                .transpose()?;
            let report = index_add::add(&index, &archives, key.as_ref(), &Bar::for_terminal())?;
            if json {
                output::print_json(&report);
            } else {
                for added in &report.added {
                    println!("added {} {} ({})", added.name, added.version, added.file);
                }
                println!(
                    "added {} versions of {} packages to {}",
                    report.added.len(),
                    report.packages,
                    index.display()
                );
            }
            Ok(0)
        }
        IndexCommand::Check { dir, json } => {
            let report = index_check::check(&dir, &Bar::for_terminal())?;
            if json {
                output::print_json(&report);
            } else {
                print_check_report(&report);
            }
            Ok(if report.passed() { 0 } else { 1 })
        }
    }
}

fn print_check_report(report: &index_check::CheckReport) {
    for finding in &report.findings {
        println!("{finding}");
    }
    println!(
        "checked {} packages, {} versions: {} errors, {} warnings{}",
        report.packages,
        report.versions,
        report.errors,
        report.warnings,
        if report.passed() { "" } else { " (check failed)" }
    );
}
