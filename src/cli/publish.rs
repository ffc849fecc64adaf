//! `new`, `publish`, `yank`, `deprecate`, `owner`: an author's commands.
//! Each prepares a branch of the author's clone of the index and checks it
//! with the index's own gate before anything is pushed.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use ggen_marketplace::trust::{EnvOrTerminal, PublicKey, SecretKey};
use ggen_marketplace::workflows::index_check::gate::Verdict;
use ggen_marketplace::workflows::new_package::new_package;
use ggen_marketplace::workflows::publish::notices::{self, NoticeReport};
use ggen_marketplace::workflows::publish::owners::{self, OwnerReport};
use ggen_marketplace::workflows::publish::proposal::Proposal;
use ggen_marketplace::workflows::publish::{self, ArchivePlacement, PublishOptions};

use super::{CommandResult, output};

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The package name (e.g. io.acme.web).
    name: String,
    /// Where to create it [default: ./NAME].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Where and how a change is proposed: shared by every author command.
#[derive(Debug, Args)]
pub struct BranchArgs {
    /// Your git clone of the index repository.
    #[arg(long, value_name = "CLONE")]
    index: PathBuf,
    /// The branch to create [default: publish/NAME-VERSION, yank/…, …].
    #[arg(long, value_name = "B")]
    branch: Option<String>,
    /// Push the branch to the clone's origin (with `git push`).
    #[arg(long)]
    push: bool,
    /// Run every check, including the gate; create no branch.
    #[arg(long)]
    dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

impl BranchArgs {
    fn options(&self) -> PublishOptions {
        PublishOptions {
            index: self.index.clone(),
            branch: self.branch.clone(),
            upload: None,
            push: self.push,
            dry_run: self.dry_run,
        }
    }
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The package directory (holding ggen.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Your minisign secret key (`keygen`'s NAME.key; password from
    /// GGEN_KEY_PASSWORD or the terminal).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// For an index whose `dl` is absolute: copy the archive here, at the
    /// path of its download URL, for you to upload.
    #[arg(long, value_name = "DIR")]
    upload: Option<PathBuf>,
    #[command(flatten)]
    branch: BranchArgs,
}

#[derive(Debug, Args)]
pub struct YankArgs {
    /// The version to yank, as NAME@VERSION.
    #[arg(value_name = "NAME@VERSION")]
    package: String,
    /// Un-yank instead.
    #[arg(long)]
    undo: bool,
    /// Sign a yank notice with this owner key, so the index's gate passes
    /// the flip without a maintainer's review.
    #[arg(long, value_name = "KEY")]
    key: Option<PathBuf>,
    #[command(flatten)]
    branch: BranchArgs,
}

#[derive(Debug, Args)]
pub struct DeprecateArgs {
    /// The package.
    name: String,
    /// Why, and what to use instead (shown to users).
    #[arg(long, value_name = "TEXT", required_unless_present = "undo")]
    message: Option<String>,
    /// Lift the deprecation instead.
    #[arg(long)]
    undo: bool,
    /// An owner key of the package, to sign the notice.
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    #[command(flatten)]
    branch: BranchArgs,
}

#[derive(Debug, Subcommand)]
pub enum OwnerCommand {
    /// List the owner keys of a package at the clone's HEAD.
    List {
        /// The package.
        name: String,
        /// Your git clone of the index repository.
        #[arg(long, value_name = "CLONE")]
        index: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add an owner key, vouched for by your key (an owner's).
    Add {
        /// The package.
        name: String,
        /// The new key: a minisign .pub file or its RW… line.
        pubkey: String,
        /// Who holds the new key, for people.
        #[arg(long)]
        owner: Option<String>,
        /// An owner key of the package, to vouch for the new one.
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        #[command(flatten)]
        branch: BranchArgs,
    },
    /// Withdraw an owner key (a vouched revocation line).
    Remove {
        /// The package.
        name: String,
        /// The key to withdraw: a minisign .pub file or its RW… line.
        pubkey: String,
        /// An owner key of the package (the one withdrawn may sign its own removal).
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        #[command(flatten)]
        branch: BranchArgs,
    },
}

pub fn run_new(args: NewArgs) -> CommandResult {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    let made = new_package(&args.name, &dir)?;
    if args.json {
        output::print_json(&made);
    } else {
        println!("Created package {} at {}", made.name, made.dir.display());
        for file in &made.files {
            println!("  {file}");
        }
        println!(
            "Next: add templates, then `ggen-market publish {} --index CLONE --key KEY`",
            made.dir.display()
        );
    }
    Ok(0)
}

pub fn run_publish(args: PublishArgs) -> CommandResult {
    let key = SecretKey::read_file(&args.key, &EnvOrTerminal)?;
    let mut options = args.branch.options();
    options.upload = args.upload;
    let report = publish::publish(&args.dir, &key, &options)?;
    if args.branch.json {
        output::print_json(&report);
        return Ok(report.proposal.gate.verdict.exit_code());
    }
    let new = if report.new_package { " (new package)" } else { "" };
    println!(
        "Signed {} {}{new} with key {}; cksum {}",
        report.name, report.version, report.signer, report.cksum
    );
    match &report.archive {
        ArchivePlacement::InCommit { path } => println!("Archive committed at {path}"),
        ArchivePlacement::Copied { path, url } => {
            println!(
                "Archive copied to {}; upload it to {url} before the pull request is merged",
                path.display()
            )
        }
        ArchivePlacement::UploadTo { url } => {
            println!("Upload the archive (`ggen-market package`) to {url} before the pull request is merged")
        }
    }
    print_proposal(&report.proposal);
    Ok(report.proposal.gate.verdict.exit_code())
}

pub fn run_yank(args: YankArgs) -> CommandResult {
    let (name, version) = args
        .package
        .split_once('@')
        .ok_or_else(|| format!("`{}` is not NAME@VERSION", args.package))?;
    let key = args
        .key
        .as_ref()
        .map(|path| SecretKey::read_file(path, &EnvOrTerminal))
        .transpose()?;
    let report = notices::yank(name, version, args.undo, key.as_ref(), &args.branch.options())?;
    print_notice(&report, args.branch.json)
}

pub fn run_deprecate(args: DeprecateArgs) -> CommandResult {
    let key = SecretKey::read_file(&args.key, &EnvOrTerminal)?;
    let report = notices::deprecate(
        &args.name,
        args.message.as_deref(),
        args.undo,
        &key,
        &args.branch.options(),
    )?;
    print_notice(&report, args.branch.json)
}

pub fn run_owner(command: OwnerCommand) -> CommandResult {
    let (report, json) = match command {
        OwnerCommand::List { name, index, json } => {
            let lines = owners::list_owners(&index, &name)?;
            if json {
                output::print_json(&lines);
            } else {
                for line in &lines {
                    let state = match (line.revoked, line.active) {
                        (true, _) => "revokes".to_owned(),
                        (false, true) => "active".to_owned(),
                        (false, false) => "revoked".to_owned(),
                    };
                    let vouch = line
                        .vouched_by
                        .as_deref()
                        .map(|by| format!(", vouched by {by}"))
                        .unwrap_or_default();
                    let owner = line.owner.as_deref().map(|o| format!(" ({o})")).unwrap_or_default();
                    println!("{} {state}{owner}{vouch}", line.key_id);
                }
            }
            return Ok(0);
        }
        OwnerCommand::Add {
            name,
            pubkey,
            owner,
            key,
            branch,
        } => {
            let signer = SecretKey::read_file(&key, &EnvOrTerminal)?;
            let new_key = read_public_key(&pubkey)?;
            (
                owners::add_owner(&name, &new_key, owner.as_deref(), &signer, &branch.options())?,
                branch.json,
            )
        }
        OwnerCommand::Remove {
            name,
            pubkey,
            key,
            branch,
        } => {
            let signer = SecretKey::read_file(&key, &EnvOrTerminal)?;
            let old_key = read_public_key(&pubkey)?;
            (
                owners::remove_owner(&name, &old_key, &signer, &branch.options())?,
                branch.json,
            )
        }
    };
    print_owner(&report, json)
}

/// A public key given as a `.pub` file or its `RW…` line.
fn read_public_key(given: &str) -> Result<PublicKey, Box<dyn std::error::Error>> {
    if given.starts_with("RW") && !std::path::Path::new(given).exists() {
        return Ok(PublicKey::from_base64(given)?);
    }
    Ok(PublicKey::read_file(given.as_ref())?)
}

fn print_notice(report: &NoticeReport, json: bool) -> CommandResult {
    if json {
        output::print_json(report);
    } else {
        let version = report.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
        let signed = if report.signed {
            "signed"
        } else {
            "unsigned: a maintainer must review it"
        };
        println!("{:?} {}{version} ({signed})", report.action, report.name);
        print_proposal(&report.proposal);
    }
    Ok(report.proposal.gate.verdict.exit_code())
}

fn print_owner(report: &OwnerReport, json: bool) -> CommandResult {
    if json {
        output::print_json(report);
    } else {
        let verb = if report.removed { "Withdraw" } else { "Add" };
        println!("{verb} owner key {} of {}", report.key_id, report.name);
        print_proposal(&report.proposal);
    }
    Ok(report.proposal.gate.verdict.exit_code())
}

fn print_proposal(proposal: &Proposal) {
    for finding in &proposal.gate.findings {
        println!("  {finding}");
    }
    let verdict = match proposal.gate.verdict {
        Verdict::Pass => "passes this change",
        Verdict::NeedsReview => "asks a maintainer to review this change",
        Verdict::Refuse => "refuses this change",
    };
    println!("The index's gate {verdict}.");
    if !proposal.branch_created {
        println!(
            "Dry run: no branch made (commit {} would be on {}).",
            &proposal.commit[..10],
            proposal.branch
        );
        return;
    }
    let pushed = if proposal.pushed { ", pushed to origin" } else { "" };
    println!("Branch {} at {}{pushed}.", proposal.branch, &proposal.commit[..10]);
    match (&proposal.pull_request_url, proposal.pushed) {
        (Some(url), true) => println!("Open the pull request: {url}"),
        (_, false) => println!(
            "Push it with `git push origin {}`, then open a pull request.",
            proposal.branch
        ),
        (None, true) => println!(
            "Open a pull request from {}; the index's CI runs: {}",
            proposal.branch, proposal.gate_command
        ),
    }
}
