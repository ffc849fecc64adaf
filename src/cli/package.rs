//! `ggen-market package`: pack a package directory into its archive.

use std::path::PathBuf;

use clap::Args;

use super::{CommandResult, output};
use ggen_marketplace::workflows::package::{self, PackagedArchive};

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The package directory (holding ggen.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where to write the archive [default: DIR/target/package].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: PackageArgs) -> CommandResult {
    let packaged = package::package(&args.dir, args.out.as_deref())?;
    if args.json {
        output::print_json(&packaged);
    } else {
        print_for_people(&packaged);
    }
    Ok(0)
}

fn print_for_people(packaged: &PackagedArchive) {
    let files = if packaged.files == 1 { "file" } else { "files" };
    println!(
        "Packed {} {} ({} {files}, {} bytes)",
        packaged.name, packaged.version, packaged.files, packaged.size
    );
    println!("  sha256  {}", packaged.sha256);
    println!("  path    {}", packaged.path.display());
}
