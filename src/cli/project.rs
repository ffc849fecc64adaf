//! `add`, `remove`, `install`, `update`, `tree`, `verify`: a project's
//! packages.

use std::path::PathBuf;

use clap::Args;
use ggen_marketplace::format::features::FeatureAsk;
use ggen_marketplace::format::manifest::ManifestEditor;
use ggen_marketplace::workflows::edit;
use ggen_marketplace::workflows::install::{self, InstallOptions, InstallReport, LockChange, Unpin};
use ggen_marketplace::workflows::project::Project;
use ggen_marketplace::workflows::tree::{self, TreeNode};
use ggen_marketplace::workflows::verify::{self, Drift, VerifyReport};

use super::progress::Bar;
use super::{CommandResult, GlobalArgs, Session, output};

/// Options shared by the commands that install.
#[derive(Debug, Args)]
pub struct InstallFlags {
    /// The project directory (holding ggen.toml).
    #[arg(long, value_name = "DIR", default_value = ".")]
    project: PathBuf,
    /// Resolve and print the plan; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Accept a signing key that no pinned key vouched for (a package that
    /// really changed hands).
    #[arg(long)]
    accept_new_key: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// NAME or NAME@REQ (e.g. io.ggen.rust.axum or io.ggen.rust.axum@^0.3).
    #[arg(required = true, value_name = "NAME[@REQ]")]
    packages: Vec<String>,
    /// Features to turn on in the package (comma-separated or repeated).
    #[arg(long, short = 'F', value_delimiter = ',', value_name = "FEATURES")]
    features: Vec<String>,
    /// Do not turn on the package's default features.
    #[arg(long)]
    no_default_features: bool,
    #[command(flatten)]
    flags: InstallFlags,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Dependencies to remove from ggen.toml.
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
    #[command(flatten)]
    flags: InstallFlags,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Fail if ggen.lock is missing or would change.
    #[arg(long)]
    locked: bool,
    /// Also copy the installed packages into DIR/{name}-{version}/.
    #[arg(long, value_name = "DIR")]
    into: Option<PathBuf>,
    #[command(flatten)]
    flags: InstallFlags,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Update only these packages (default: all).
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    #[command(flatten)]
    flags: InstallFlags,
}

#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// The project directory (holding ggen.toml and ggen.lock).
    #[arg(long, value_name = "DIR", default_value = ".")]
    project: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn add(global: &GlobalArgs, args: AddArgs) -> CommandResult {
    let session = global.open_registry()?;
    let project = Project::at(&args.flags.project);
    let ask = FeatureAsk {
        features: Vec::new(),
        default_features: !args.no_default_features,
    }
    .with_all(args.features.iter().map(String::as_str));
    let (editor, added) = edit::add(&project, session.registry.source(), &args.packages, &ask)?;
    if !args.flags.json {
        for dependency in &added {
            println!(
                "      Adding {} = \"{}\"{}",
                dependency.name,
                dependency.requirement,
                features_note(dependency)
            );
        }
    }
    let options = options(&session, &args.flags);
    run_install(&session, &project, Some(&editor), &options, args.flags.json)
}

/// " with features a, b (no default features)" after an added dependency.
fn features_note(dependency: &edit::AddedDependency) -> String {
    let mut note = String::new();
    if !dependency.features.is_empty() {
        note = format!(" with features {}", dependency.features.join(", "));
    }
    if !dependency.default_features {
        note.push_str(" (no default features)");
    }
    note
}

pub fn remove(global: &GlobalArgs, args: RemoveArgs) -> CommandResult {
    let session = global.open_registry()?;
    let project = Project::at(&args.flags.project);
    let editor = edit::remove(&project, &args.names)?;
    let options = options(&session, &args.flags);
    run_install(&session, &project, Some(&editor), &options, args.flags.json)
}

pub fn install(global: &GlobalArgs, args: InstallArgs) -> CommandResult {
    let session = global.open_registry()?;
    let project = Project::at(&args.flags.project);
    let mut options = options(&session, &args.flags);
    options.locked = args.locked;
    options.into = args.into;
    run_install(&session, &project, None, &options, args.flags.json)
}

pub fn update(global: &GlobalArgs, args: UpdateArgs) -> CommandResult {
    let session = global.open_registry()?;
    let project = Project::at(&args.flags.project);
    let mut options = options(&session, &args.flags);
    options.unpin = if args.names.is_empty() {
        Unpin::All
    } else {
        Unpin::Only(args.names)
    };
    run_install(&session, &project, None, &options, args.flags.json)
}

fn options(session: &Session, flags: &InstallFlags) -> InstallOptions {
    InstallOptions {
        dry_run: flags.dry_run,
        accept_new_key: flags.accept_new_key,
        max_connections: session.net.max_connections,
        ..InstallOptions::default()
    }
}

/// Installs into `project` from the session's registry and prints the
/// report: the shared end of add, remove, install and update.
fn run_install(
    session: &Session,
    project: &Project,
    edited: Option<&ManifestEditor>,
    options: &InstallOptions,
    json: bool,
) -> CommandResult {
    let identity = session.identity()?;
    let report = install::install(
        project,
        edited,
        session.registry.source(),
        &identity,
        &session.home,
        options,
        &Bar::for_terminal(),
    )?;
    print_install(&report, json);
    Ok(0)
}

fn print_install(report: &InstallReport, json: bool) {
    if json {
        output::print_json(report);
        return;
    }
    let verb = if report.dry_run { "Would install" } else { "Installed" };
    for package in &report.packages {
        let signer = package
            .signer
            .as_deref()
            .map_or("unsigned".to_owned(), |key| format!("signed by {key}"));
        if package.newly_installed {
            println!(
                "{verb:>12} {} {} ({signer}) -> {}",
                package.name,
                package.version,
                package.path.display()
            );
        } else {
            println!("{:>12} {} {} ({signer})", "Fresh", package.name, package.version);
        }
    }
    for package in &report.packages {
        if let Some(deprecated) = &package.deprecated {
            eprintln!("warning: {} is deprecated: {}", package.name, deprecated.message);
        }
    }
    for change in &report.changes {
        match change {
            LockChange::Added { name, version } => println!("{:>12} {name} {version}", "Locking"),
            LockChange::Removed { name, version } => println!("{:>12} {name} {version}", "Unlocking"),
        }
    }
    let lock = match (report.dry_run, report.lockfile_written) {
        (true, true) => "ggen.lock would change",
        (true, false) => "ggen.lock would stay as it is",
        (false, true) => "wrote ggen.lock",
        (false, false) => "ggen.lock is up to date",
    };
    println!("{:>12} {} packages; {lock}", "Done", report.packages.len());
}

pub fn tree(args: ProjectArgs) -> CommandResult {
    let roots = tree::tree(&Project::at(&args.project))?;
    if args.json {
        output::print_json(&roots);
    } else {
        for root in &roots {
            print_node(root, "", "");
        }
    }
    Ok(0)
}

fn print_node(node: &TreeNode, first: &str, rest: &str) {
    let repeated = if node.repeated { " (*)" } else { "" };
    let features = if node.features.is_empty() {
        String::new()
    } else {
        format!(" [{}]", node.features.join(", "))
    };
    println!("{first}{} {}{features}{repeated}", node.name, node.version);
    for (i, child) in node.dependencies.iter().enumerate() {
        let last = i + 1 == node.dependencies.len();
        let (branch, indent) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        print_node(child, &format!("{rest}{branch}"), &format!("{rest}{indent}"));
    }
}

pub fn verify(args: ProjectArgs) -> CommandResult {
    let home = ggen_marketplace::home::GgenHome::from_env()?;
    let report = verify::verify(&Project::at(&args.project), &home)?;
    if args.json {
        output::print_json(&report);
    } else {
        print_verify(&report);
    }
    Ok(if report.intact { 0 } else { 1 })
}

fn print_verify(report: &VerifyReport) {
    for package in &report.packages {
        if package.problems.is_empty() {
            println!("{:>12} {} {}", "ok", package.name, package.version);
        }
        for problem in &package.problems {
            let what = match problem {
                Drift::NotInstalled => "not installed; run `ggen-market install`".to_owned(),
                Drift::OtherArchive => "installed from another archive than ggen.lock names".to_owned(),
                Drift::Modified(path) => format!("{path} was modified"),
                Drift::Missing(path) => format!("{path} is missing"),
                Drift::Added(path) => format!("{path} was added"),
            };
            println!("{:>12} {} {}: {what}", "DRIFT", package.name, package.version);
        }
    }
    let verdict = if report.intact {
        "every package matches ggen.lock"
    } else {
        "drift found; `ggen-market install` restores changed packages after you remove them"
    };
    println!("{:>12} {verdict}", "Done");
}
