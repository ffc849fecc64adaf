//! The `ggen-market` command line: parse arguments, call a workflow, print
//! its result for people or, with `--json`, for scripts. No logic lives here.

mod index;
mod output;
mod progress;

use clap::{Parser, Subcommand};

/// Static, git-backed package registries for ggen template packs (and any
/// other package kind): build, check, sync, resolve, verify and install.
#[derive(Debug, Parser)]
#[command(name = "ggen-market", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, extend and check an index (registry operators).
    #[command(subcommand)]
    Index(index::IndexCommand),
}

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Index(command) => index::run(command),
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
