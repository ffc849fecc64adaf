//! `ggen-market index …`: commands for registry operators.

use std::path::PathBuf;

use clap::Subcommand;

use super::progress::Bar;
use super::{CommandResult, output};
use ggen_marketplace::format::rules::{Finding, Severity};
use ggen_marketplace::trust::{EnvOrTerminal, SecretKey};
use ggen_marketplace::workflows::index_check::gate::{self, GateOptions, GateReport, Verdict};
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
    ///
    /// With --base and --head (in a git checkout): the pull-request gate.
    /// Checks only the change between the two commits — appended lines,
    /// names, versions, signatures, owner keys, notices, archives,
    /// dependencies — and exits 0 (pass), 1 (refuse) or 3 (needs review).
    Check {
        /// The index root (the directory holding config.json); for the gate,
        /// a git checkout of the index.
        dir: PathBuf,
        /// The pull request's base revision (e.g. origin/main or a commit id).
        #[arg(long, value_name = "REV", requires = "head")]
        base: Option<String>,
        /// The pull request's head revision (e.g. HEAD or a commit id).
        #[arg(long, value_name = "REV", requires = "base")]
        head: Option<String>,
        /// The gate never downloads an archive that `dl` puts on a server.
        #[arg(long, requires = "base")]
        offline: bool,
        /// Print one JSON object: counts and every finding.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// `github`: GitHub Actions annotations (::error file=…,line=…::…),
        /// so findings show on the pull request's lines.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
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
                    "Next: commit it to git; authors publish by pull request with `ggen-market publish DIR --index CLONE --key KEY`, operators add archives with `ggen-market index add {} ARCHIVE...`",
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
        IndexCommand::Check {
            dir,
            base: Some(base),
            head: Some(head),
            offline,
            json,
            format,
        } => {
            let options = GateOptions {
                offline,
                ..GateOptions::default()
            };
            let report = gate::check_change(&dir, &base, &head, &options)?;
            match (json, format) {
                (true, _) => output::print_json(&report),
                (false, Format::Github) => print_github_annotations(&report.findings),
                (false, Format::Text) => {}
            }
            if !json {
                print_gate_report(&report, format);
            }
            Ok(report.verdict.exit_code())
        }
        IndexCommand::Check { dir, json, format, .. } => {
            let report = index_check::check(&dir, &Bar::for_terminal())?;
            match (json, format) {
                (true, _) => output::print_json(&report),
                (false, Format::Github) => print_github_annotations(&report.findings),
                (false, Format::Text) => print_check_report(&report),
            }
            Ok(if report.passed() { 0 } else { 1 })
        }
    }
}

/// How `index check` prints findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `file:line: severity[kind]: message`, one per line.
    Text,
    /// GitHub Actions workflow commands.
    Github,
}

/// `::error file=F,line=N,title=KIND::MESSAGE` (review: `::warning`,
/// warnings: `::notice`), escaped as GitHub documents.
fn print_github_annotations(findings: &[Finding]) {
    for finding in findings {
        let level = match finding.severity {
            Severity::Error => "error",
            Severity::Review => "warning",
            Severity::Warning => "notice",
        };
        let line = finding.line.map(|l| format!(",line={l}")).unwrap_or_default();
        println!(
            "::{level} file={}{line},title={}::{}",
            escape_property(&finding.file),
            finding.kind,
            escape_data(&finding.message)
        );
    }
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

fn print_gate_report(report: &GateReport, format: Format) {
    if format == Format::Text {
        for finding in &report.findings {
            println!("{finding}");
        }
    }
    for version in &report.new_versions {
        println!("publishes {} {}", version.name, version.version);
    }
    let verdict = match report.verdict {
        Verdict::Pass => "pass",
        Verdict::Refuse => "refuse",
        Verdict::NeedsReview => "needs review",
    };
    println!(
        "{}..{}: {} files changed; {} errors, {} to review, {} warnings: {verdict}",
        &report.base[..10.min(report.base.len())],
        &report.head[..10.min(report.head.len())],
        report.changed_files.len(),
        report.errors,
        report.reviews,
        report.warnings
    );
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
