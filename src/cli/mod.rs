//! The `ggen-market` command line: parse arguments, call a workflow, print
//! its result for people or, with `--json`, for scripts. No logic lives here.

mod discover;
mod index;
mod output;
mod package;
mod progress;
mod trust;

use clap::{Args, Parser, Subcommand};
use ggen_marketplace::home::GgenHome;
use ggen_marketplace::workflows::registry::{self, NetOptions, OpenedRegistry};

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
    /// (git+https://…, git://…, file://…, sparse+https://…) or path.
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
    /// Create, extend and check an index (registry operators).
    #[command(subcommand)]
    Index(index::IndexCommand),
    /// Make a minisign key pair for signing index entries (publishers).
    Keygen(trust::KeygenArgs),
    /// Sign entries of a local index in place with a minisign secret key.
    Sign(trust::SignArgs),
    /// Pack a package directory into its reproducible .tar.gz archive.
    Package(package::PackageArgs),
}

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Search(args) => discover::search(&cli.global, args),
        Command::Info(args) => discover::info(&cli.global, args),
        Command::Sync(args) => discover::sync(&cli.global, args),
        Command::Index(command) => index::run(command),
        Command::Keygen(args) => trust::run_keygen(args),
        Command::Sign(args) => trust::run_sign(args),
        Command::Package(args) => package::run(args),
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
    /// The user's home, its config, and the registry it selects, opened.
    fn open_registry(&self) -> Result<(GgenHome, OpenedRegistry), Box<dyn std::error::Error>> {
        let home = GgenHome::from_env()?;
        let config = home.load_config()?;
        let chosen = registry::choose(self.registry.as_deref(), &config)?;
        let net = NetOptions {
            offline: self.offline || config.net.offline,
            max_connections: config.net.max_connections,
        };
        let source = registry::open(&chosen, &home, net)?;
        Ok((home, source))
    }
}
