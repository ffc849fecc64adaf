//! The `ggen-market` command line: parse arguments, call a workflow, print
//! its result for people or, with `--json`, for scripts. No logic lives here.

mod discover;
mod index;
mod mirror;
mod output;
mod package;
mod progress;
mod project;
mod publish;
mod serve;
mod trust;

use clap::{Args, Parser, Subcommand};
use ggen_marketplace::format::RegistryIdentity;
use ggen_marketplace::home::GgenHome;
use ggen_marketplace::sources::SourceError;
use ggen_marketplace::workflows::registry::{self, ChosenRegistry, NetOptions, OpenedRegistry};
use ggen_marketplace::workflows::rollback::{RollbackOptions, SeenGuard};
use std::sync::Arc;

/// Static, git-backed package registries for ggen template packs (and any
/// other package kind): build, check, sync, resolve, verify and install.
#[derive(Debug, Parser)]
#[command(name = "ggen-market", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every command understands.
#[derive(Debug, Args)]
struct GlobalArgs {
    /// Registry to use: a name from GGEN_HOME/config.toml, or a URL
    /// (https://… or git+https://… for git, git://…, file://…,
    /// sparse+https://…) or path.
    #[arg(long, global = true, env = "GGEN_REGISTRY", value_name = "URL|NAME")]
    registry: Option<String>,
    /// Use only what is already cloned or cached; never open a socket
    /// (GGEN_OFFLINE=1 does the same).
    #[arg(long, global = true, env = "GGEN_OFFLINE", value_parser = clap::builder::BoolishValueParser::new())]
    offline: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Find packages by name, keyword, category or description.
    Search(discover::SearchArgs),
    /// Show every version of a package, or the canonical message of one.
    Info(discover::InfoArgs),
    /// Bring the local copy of the registry up to date.
    Sync(discover::SyncArgs),
    /// Figures of the registry: packages, versions, yanked, signed share,
    /// licences, the most depended-upon packages, the newest releases.
    Stats(discover::StatsArgs),
    /// Check the setup and the registry, each problem with its fix:
    /// configuration, reachability, an index and archive sample, pins,
    /// disk use, the clock.
    Doctor(discover::DoctorArgs),
    /// Add dependencies to ggen.toml, then resolve, install and lock.
    Add(project::AddArgs),
    /// Remove dependencies from ggen.toml, then re-resolve and lock.
    Remove(project::RemoveArgs),
    /// Install what ggen.toml and ggen.lock say (verified, atomic).
    Install(project::InstallArgs),
    /// Move locked versions to the newest compatible ones.
    Update(project::UpdateArgs),
    /// Show the resolved dependency graph from ggen.lock.
    Tree(project::ProjectArgs),
    /// Re-hash installed packages against ggen.lock and report any drift.
    Verify(project::ProjectArgs),
    /// Create, extend and check an index (registry operators).
    #[command(subcommand)]
    Index(index::IndexCommand),
    /// Make a minisign key pair for signing index entries (publishers).
    Keygen(trust::KeygenArgs),
    /// Sign entries of a local index in place with a minisign secret key.
    Sign(trust::SignArgs),
    /// Pack a package directory into its reproducible .tar.gz archive.
    Package(package::PackageArgs),
    /// Create a package skeleton that `package` and `publish` accept as is.
    New(publish::NewArgs),
    /// Publish a package version by pull request: pack, sign, check with
    /// the index's own gate, commit on a new branch of your index clone,
    /// push, and print the pull-request link.
    Publish(publish::PublishArgs),
    /// Yank (or un-yank) a version by pull request; yanked versions still
    /// install from a lock but are never chosen anew.
    Yank(publish::YankArgs),
    /// Deprecate a package (or lift it) by pull request: a signed notice
    /// that search, info and install show.
    Deprecate(publish::DeprecateArgs),
    /// List, add or withdraw the keys that may sign a package.
    #[command(subcommand)]
    Owner(publish::OwnerCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell), e.g. `ggen-market completions bash > ~/.local/share/bash-completion/completions/ggen-market`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Serve an index or mirror directory over HTTP for sparse clients
    /// (development and small air-gapped sites).
    Serve(serve::ServeArgs),
    /// Mirror an upstream registry for offline and air-gapped use
    /// (operators): create, update, verify, and carry it across an air gap
    /// as one verified file (export, import).
    #[command(subcommand)]
    Mirror(mirror::MirrorCommand),
}

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Search(args) => discover::search(&cli.global, args),
        Command::Info(args) => discover::info(&cli.global, args),
        Command::Sync(args) => discover::sync(&cli.global, args),
        Command::Stats(args) => discover::stats(&cli.global, args),
        Command::Doctor(args) => discover::doctor(&cli.global, args),
        Command::Add(args) => project::add(&cli.global, args),
        Command::Remove(args) => project::remove(&cli.global, args),
        Command::Install(args) => project::install(&cli.global, args),
        Command::Update(args) => project::update(&cli.global, args),
        Command::Tree(args) => project::tree(args),
        Command::Verify(args) => project::verify(args),
        Command::Index(command) => index::run(command),
        Command::Keygen(args) => trust::run_keygen(args),
        Command::Sign(args) => trust::run_sign(args),
        Command::Package(args) => package::run(args),
        Command::New(args) => publish::run_new(args),
        Command::Publish(args) => publish::run_publish(args),
        Command::Yank(args) => publish::run_yank(args),
        Command::Deprecate(args) => publish::run_deprecate(args),
        Command::Owner(command) => publish::run_owner(command),
        Command::Serve(args) => serve::run(args),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "ggen-market", &mut script);
            // Printed, not written by clap_complete, so a closed pipe ends
            // quietly like every other command's output.
            print!("{}", String::from_utf8_lossy(&script));
            Ok(0)
        }
        Command::Mirror(command) => mirror::run(&cli.global, command),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            output::print_error(err.as_ref());
            1
        }
    }
}

/// What a command returns: an exit code, or an error to print.
type CommandResult = Result<i32, Box<dyn std::error::Error>>;

impl GlobalArgs {
    /// The user's home and the registry it selects, opened, with the id
    /// ggen.lock and the pin store know it by.
    fn open_registry(&self) -> Result<Session, Box<dyn std::error::Error>> {
        let (home, net) = self.home_and_net()?;
        let config = home.load_config()?;
        let chosen = registry::choose(self.registry.as_deref(), &config, &home.config_file())?;
        let warn = output::warnings();
        let guard = Arc::new(SeenGuard::new(
            &chosen,
            &home,
            RollbackOptions::default(),
            Some(warn.clone()),
        ));
        let opened = registry::open_guarded(&chosen, &home, net, &progress::Bar::for_terminal(), &warn, guard)?;
        Ok(Session {
            home,
            registry: opened.registry,
            chosen,
            net,
        })
    }
}

impl GlobalArgs {
    /// The user's home and the network settings of `--offline` and its
    /// config.toml `[net]`.
    fn home_and_net(&self) -> Result<(GgenHome, NetOptions), Box<dyn std::error::Error>> {
        let home = GgenHome::from_env()?;
        let config = home.load_config()?;
        let net = NetOptions {
            offline: self.offline || config.net.offline,
            max_connections: config.net.max_connections,
            limits: config.net.limits(),
        };
        Ok((home, net))
    }
}

/// What a command that reads a registry works with.
struct Session {
    home: GgenHome,
    registry: OpenedRegistry,
    /// What was chosen: the registry's identity follows from it.
    chosen: ChosenRegistry,
    /// The network settings the registry was opened with; downloads follow
    /// them too (`[net] offline` in config.toml must stop archive
    /// downloads as surely as `--offline`).
    net: NetOptions,
}

impl Session {
    /// The registry's identity in ggen.lock and the pin store.
    fn identity(&self) -> Result<RegistryIdentity, SourceError> {
        Ok(self.chosen.identity(&self.registry.source().config()?))
    }
}
