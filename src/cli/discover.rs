//! `search`, `info` and `sync`: finding out what a registry holds.

use clap::Args;
use ggen_marketplace::workflows::registry::OpenedRegistry;

use super::progress::Bar;
use ggen_marketplace::workflows::info::{self, PackageInfo};
use ggen_marketplace::workflows::search::{self, SearchQuery, SearchResults};

use super::{CommandResult, GlobalArgs, output};

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Text to look for in names, keywords and descriptions.
    #[arg(default_value = "")]
    query: String,
    /// Only packages with this keyword.
    #[arg(long, value_name = "K")]
    keyword: Option<String>,
    /// Only packages in this category.
    #[arg(long, value_name = "C")]
    category: Option<String>,
    /// Show at most N results.
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// NAME or NAME@REQ (e.g. io.ggen.rust.base@^0.4).
    package: String,
    /// Print the canonical message of NAME@VERSION (the bytes its signature
    /// covers), e.g. for `minisign -V -m`.
    #[arg(long)]
    canonical: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Packages whose dependency closure to fetch (sparse registries); a git
    /// registry always fetches everything.
    names: Vec<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn search(global: &GlobalArgs, args: SearchArgs) -> CommandResult {
    let source = global.open_registry()?.registry;
    let query = SearchQuery {
        text: args.query,
        keyword: args.keyword,
        category: args.category,
        limit: args.limit,
    };
    let results = search::search(source.source(), &query)?;
    if args.json {
        output::print_json(&results);
    } else {
        print_search(&results);
    }
    Ok(0)
}

fn print_search(results: &SearchResults) {
    if !results.complete {
        println!(
            "note: this registry cannot list its packages; searched only what is cached (`ggen-market sync NAME…` fetches more)"
        );
    }
    if results.hits.is_empty() {
        println!("no packages found");
        return;
    }
    let width = results
        .hits
        .iter()
        .map(|h| h.name.len() + h.version.len() + 3)
        .max()
        .unwrap_or(0);
    for hit in &results.hits {
        let id = format!("{} = \"{}\"", hit.name, hit.version);
        let description = hit.description.as_deref().unwrap_or("");
        let keywords = if hit.keywords.is_empty() {
            String::new()
        } else {
            format!("  [{}]", hit.keywords.join(", "))
        };
        println!("{id:<width$}  # {description}{keywords}", width = width + 2);
    }
}

pub fn info(global: &GlobalArgs, args: InfoArgs) -> CommandResult {
    let source = global.open_registry()?.registry;
    let (name, requirement) = match args.package.split_once('@') {
        Some((name, req)) => (name, Some(req)),
        None => (args.package.as_str(), None),
    };
    if args.canonical {
        let version = requirement.ok_or("--canonical needs an exact version: NAME@VERSION")?;
        let message = info::canonical_message(source.source(), name, version.trim_start_matches('='))?;
        print!("{message}");
        return Ok(0);
    }
    let package = info::info(source.source(), name, requirement)?;
    if args.json {
        output::print_json(&package);
    } else {
        print_info(&package);
    }
    Ok(0)
}

fn print_info(package: &PackageInfo) {
    println!("{}", package.name);
    if let Some(description) = package
        .versions
        .iter()
        .find(|v| !v.yanked)
        .and_then(|v| v.description.as_ref())
    {
        println!("  {description}");
    }
    for version in &package.versions {
        let yanked = if version.yanked { "  (yanked)" } else { "" };
        println!();
        println!("{} {}{yanked}", package.name, version.version);
        println!("  checksum: {}", version.checksum);
        println!("  signer:   {}", version.signer.as_deref().unwrap_or("unsigned"));
        if let Some(license) = &version.license {
            println!("  license:  {license}");
        }
        if version.dependencies.is_empty() {
            println!("  dependencies: none");
        }
        for dep in &version.dependencies {
            let mut notes = Vec::new();
            if dep.kind != Default::default() {
                notes.push(format!("{:?}", dep.kind).to_lowercase());
            }
            if dep.optional {
                notes.push("optional".to_owned());
            }
            if let Some(target) = &dep.target {
                notes.push(target.clone());
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", notes.join(", "))
            };
            println!("  - {} {}{notes}", dep.name, dep.req);
        }
    }
}

pub fn sync(global: &GlobalArgs, args: SyncArgs) -> CommandResult {
    let registry = global.open_registry()?.registry;
    let progress = Bar::for_terminal();
    let described = registry.source().describe();
    match (&registry, args.names.is_empty()) {
        (OpenedRegistry::Sparse(sparse), false) => {
            let report = sparse.prefetch_closure(&args.names, &progress)?;
            if args.json {
                output::print_json(&report);
            } else {
                println!(
                    "{described}: {} packages in the closure of {} ({} fetched, {} unchanged, {} not found)",
                    report.packages,
                    args.names.join(", "),
                    report.fetched,
                    report.not_modified,
                    report.not_found.len()
                );
            }
        }
        _ => {
            let report = registry.source().update(&progress)?;
            if args.json {
                output::print_json(&report);
            } else {
                println!("{described}: {}", report.summary);
            }
        }
    }
    Ok(0)
}
