//! `ggen-market index …`: commands for registry operators.

use std::path::PathBuf;

use clap::Subcommand;

use super::{CommandResult, output};
use ggen_marketplace::workflows::index_init;

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
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: IndexCommand) -> CommandResult {
    match command {
        IndexCommand::Init { dir, name, json } => {
            let created = index_init::init(&dir, name.as_deref())?;
            if json {
                output::print_json(&created);
            } else {
                println!("Created index at {}", created.dir.display());
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
    }
}
