//! `ggen-market keygen` and `ggen-market sign`: keys and signatures for
//! publishers.

use std::path::PathBuf;

use clap::Args;

use super::{CommandResult, output};
use ggen_marketplace::trust::{EnvOrTerminal, SecretKey, owner_keys_path};
use ggen_marketplace::workflows::keygen::{self, DEFAULT_KEY_NAME, KeygenOptions};
use ggen_marketplace::workflows::sign::{self, PackageVersion, Selection};

/// Arguments of `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory for the key files [default: GGEN_HOME/keys, GGEN_HOME defaulting to ~/.ggen].
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Name of the key pair: writes NAME.key (secret) and NAME.pub (public).
    #[arg(long, default_value = DEFAULT_KEY_NAME)]
    name: String,
    /// Store the secret key without a password (for CI; protect the file instead).
    /// Otherwise the password comes from GGEN_KEY_PASSWORD or is asked on the terminal.
    #[arg(long)]
    unencrypted: bool,
    /// Replace existing key files.
    #[arg(long)]
    force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The secret key file (minisign format, from `ggen-market keygen` or
    /// `minisign -G`). An encrypted key's password comes from
    /// GGEN_KEY_PASSWORD or is asked on the terminal.
    #[arg(long)]
    key: PathBuf,
    /// The index directory.
    index: PathBuf,
    /// The entries to sign, as NAME@VERSION; an existing signature is replaced.
    #[arg(required_unless_present = "all_unsigned", conflicts_with = "all_unsigned")]
    versions: Vec<PackageVersion>,
    /// Sign every entry of the index that has no signature.
    #[arg(long)]
    all_unsigned: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run_keygen(args: KeygenArgs) -> CommandResult {
    let dir = match args.out_dir {
        Some(dir) => dir,
        None => keygen::default_key_dir()?,
    };
    let options = KeygenOptions {
        dir,
        name: args.name,
        encrypt: !args.unencrypted,
        force: args.force,
    };
    let made = keygen::keygen(&options, &EnvOrTerminal)?;
    if args.json {
        output::print_json(&made);
        return Ok(0);
    }
    println!("Key id:      {}", made.key_id);
    println!("Public key:  {}", made.public_key);
    println!("Public file: {}", made.public_key_file.display());
    let protection = if made.encrypted {
        "encrypted with your password"
    } else {
        "NOT encrypted: keep this file secret"
    };
    println!("Secret file: {} ({protection})", made.secret_key_file.display());
    println!(
        "Next: list the public key in your package's owner-keys file (_keys/…) or in config.json \"keys\", then `ggen-market sign --key {} INDEX NAME@VERSION`",
        made.secret_key_file.display()
    );
    Ok(0)
}

pub fn run_sign(args: SignArgs) -> CommandResult {
    let key = SecretKey::read_file(&args.key, &EnvOrTerminal)?;
    let selection = if args.all_unsigned {
        Selection::AllUnsigned
    } else {
        Selection::Versions(args.versions)
    };
    let report = sign::sign_index(&args.index, &key, &selection, |lock| {
        eprintln!("waiting for the index lock {} …", lock.display());
    })?;
    if args.json {
        output::print_json(&report);
        return Ok(0);
    }
    if report.signed.is_empty() {
        println!("Nothing to sign: every entry is signed.");
    }
    for entry in &report.signed {
        let replaced = if entry.replaced_signature {
            " (replaced the previous signature)"
        } else {
            ""
        };
        println!(
            "Signed {}@{} with key {}{replaced}",
            entry.name, entry.vers, report.key_id
        );
    }
    let mut warned = Vec::new();
    for entry in report.signed.iter().filter(|e| !e.key_allowed) {
        if !warned.contains(&entry.name) {
            eprintln!(
                "warning: key {} may not sign {} yet: add it to {} or to config.json \"keys\", or clients will refuse these signatures",
                report.key_id,
                entry.name,
                owner_keys_path(&entry.name)
            );
            warned.push(entry.name.clone());
        }
    }
    Ok(0)
}
