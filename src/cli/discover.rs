//! `search`, `info` and `sync`: finding out what a registry holds.

use clap::Args;
use ggen_marketplace::workflows::registry;
use ggen_marketplace::workflows::rollback::RollbackOptions;
use ggen_marketplace::workflows::stats;
use ggen_marketplace::workflows::sync::{self, SyncOptions};

use super::progress::Bar;
use ggen_marketplace::format::entry::DepKind;
use ggen_marketplace::workflows::info::{self, PackageInfo, VersionInfo};
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
pub struct StatsArgs {
    /// Show the N most used licences, most depended-upon packages and newest releases.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Print the figures as JSON.
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
    /// Take a git fetch whose commit does not descend from the one fetched
    /// before (a force-push or rewound history; refused by default as a
    /// possible rollback attack).
    #[arg(long)]
    allow_rewind: bool,
    /// Take index files that drop a version seen before, change a seen
    /// version's `cksum` or `deps`, or unyank one without a signed notice
    /// (refused by default: the previous state is kept).
    #[arg(long)]
    accept_upstream_rewrite: bool,
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
    let ids: Vec<String> = results
        .hits
        .iter()
        .map(|hit| format!("{} = \"{}\"", hit.name, hit.version))
        .collect();
    let width = ids.iter().map(|id| id.chars().count()).max().unwrap_or(0);
    for (id, hit) in ids.iter().zip(&results.hits) {
        let mut about = hit.description.as_deref().map(one_line).unwrap_or_default();
        if let Some(deprecated) = &hit.deprecated {
            about = format!("DEPRECATED ({}) {about}", one_line(&deprecated.message));
        }
        if !hit.keywords.is_empty() {
            let keywords = format!("[{}]", hit.keywords.join(", "));
            about = if about.is_empty() {
                keywords
            } else {
                format!("{about}  {keywords}")
            };
        }
        if about.is_empty() {
            println!("{id}");
        } else {
            println!("{id:<width$}  # {about}");
        }
    }
}

/// The longest description shown on a search line, in characters.
const DESCRIPTION_WIDTH: usize = 80;

/// A description on one line (index descriptions may hold newlines and runs
/// of spaces), cut at [`DESCRIPTION_WIDTH`] characters with an ellipsis.
fn one_line(description: &str) -> String {
    let text = description.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= DESCRIPTION_WIDTH {
        return text;
    }
    let cut: String = text.chars().take(DESCRIPTION_WIDTH - 1).collect();
    format!("{}…", cut.trim_end())
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
    if let Some(deprecated) = &package.deprecated {
        println!("  DEPRECATED: {}", deprecated.message);
    }
    let newest = package.versions.iter().find(|v| !v.yanked);
    if let Some(description) = newest.and_then(|v| v.description.as_deref()) {
        println!("  {}", description.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    if let Some(repository) = newest.and_then(|v| v.repository.as_deref()) {
        println!("  repository: {repository}");
    }
    let yanked = package.versions.iter().filter(|v| v.yanked).count();
    let count = match (package.versions.len(), &package.requirement) {
        (1, None) => "1 version".to_owned(),
        (1, Some(req)) => format!("1 version matching {req}"),
        (n, None) => format!("{n} versions"),
        (n, Some(req)) => format!("{n} versions matching {req}"),
    };
    let yanked = if yanked == 0 {
        String::new()
    } else {
        format!(", {yanked} yanked")
    };
    println!("  {count}{yanked}");
    for version in &package.versions {
        print_version(&package.name, version);
    }
}

fn print_version(name: &str, version: &VersionInfo) {
    let yanked = if version.yanked { "  (yanked)" } else { "" };
    println!();
    println!("{name} {}{yanked}", version.version);
    println!("  checksum: {}", version.checksum);
    println!("  signer:   {}", version.signer.as_deref().unwrap_or("unsigned"));
    if let Some(license) = &version.license {
        println!("  license:  {license}");
    }
    if !version.features.is_empty() {
        println!("  features:");
        for (feature, turns_on) in &version.features {
            println!("    {feature} = [{}]", turns_on.join(", "));
        }
    }
    if version.dependencies.is_empty() {
        println!("  dependencies: none");
        return;
    }
    println!("  dependencies:");
    let name_width = version.dependencies.iter().map(|d| d.name.len()).max().unwrap_or(0);
    let req_width = version.dependencies.iter().map(|d| d.req.len()).max().unwrap_or(0);
    for dep in &version.dependencies {
        let mut notes = Vec::new();
        if dep.kind != DepKind::Normal {
            notes.push(format!("{:?}", dep.kind).to_lowercase());
        }
        if dep.optional {
            notes.push("optional".to_owned());
        }
        if let Some(target) = &dep.target {
            notes.push(format!("only on {target}"));
        }
        let line = format!(
            "    {:<name_width$}  {:<req_width$}  {}",
            dep.name,
            dep.req,
            notes.join(", ")
        );
        println!("{}", line.trim_end());
    }
}

pub fn sync(global: &GlobalArgs, args: SyncArgs) -> CommandResult {
    let (home, net) = global.home_and_net()?;
    let chosen = registry::choose(global.registry.as_deref(), &home.load_config()?, &home.config_file())?;
    let options = SyncOptions {
        names: args.names,
        rollback: RollbackOptions {
            allow_rewind: args.allow_rewind,
            accept_upstream_rewrite: args.accept_upstream_rewrite,
        },
    };
    let report = sync::sync(&chosen, &home, net, &options, &Bar::for_terminal(), &output::warnings())?;
    let refusals = report.refusals();
    if args.json {
        output::print_json(&report);
    } else if refusals.is_empty() {
        for rewind in report.rewinds.iter().filter(|r| r.accepted) {
            println!(
                "took a rewound history (--allow-rewind): {} {} -> {}",
                rewind.location, rewind.remembered, rewind.fetched
            );
        }
        let taken: Vec<&str> = report.rewrites.iter().map(|r| r.name.as_str()).collect();
        if !taken.is_empty() {
            let shown = taken.iter().take(10).copied().collect::<Vec<_>>().join(", ");
            let more = if taken.len() > 10 { ", …" } else { "" };
            println!(
                "took rewritten history of {} packages (--accept-upstream-rewrite): {shown}{more}",
                taken.len()
            );
        }
        println!("{}: {}", report.registry, report.summary);
    }
    for refusal in &refusals {
        output::print_error(refusal);
    }
    Ok(if refusals.is_empty() { 0 } else { 1 })
}

pub fn stats(global: &GlobalArgs, args: StatsArgs) -> CommandResult {
    let registry = global.open_registry()?.registry;
    let figures = stats::stats(registry.source(), args.top)?;
    if args.json {
        output::print_json(&figures);
        return Ok(0);
    }
    if !figures.complete {
        println!("note: this registry cannot list its packages; counted only what is cached");
    }
    println!(
        "{} packages, {} versions ({} yanked), {:.1}% signed",
        figures.packages,
        figures.versions,
        figures.yanked,
        figures.signed_share * 100.0
    );
    let list = |title: &str, items: &[stats::Counted]| {
        if !items.is_empty() {
            println!("{title}:");
            for item in items {
                println!("  {:>7}  {}", item.count, item.name);
            }
        }
    };
    list("licences (newest version of each package)", &figures.licenses);
    list("most depended upon (distinct dependents)", &figures.most_depended_upon);
    if !figures.newest.is_empty() {
        println!("newest releases:");
        for release in &figures.newest {
            println!("  {}  {} {}", release.pubtime, release.name, release.version);
        }
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the checks as JSON.
    #[arg(long)]
    json: bool,
}

/// `doctor`: every check, each with its fix; exit 1 when one failed.
pub fn doctor(global: &GlobalArgs, args: DoctorArgs) -> CommandResult {
    let home = ggen_marketplace::home::GgenHome::from_env()?;
    let net = ggen_marketplace::workflows::registry::NetOptions {
        offline: global.offline,
        ..Default::default()
    };
    let report = ggen_marketplace::workflows::doctor::doctor(&home, global.registry.as_deref(), net);
    if args.json {
        output::print_json(&report);
    } else {
        for check in &report.checks {
            let status = format!("{:?}", check.status).to_lowercase();
            println!("{status:>8}  {:<10} {}", check.name, check.detail);
            if let Some(fix) = &check.fix {
                println!("{:>8}  {:<10} fix: {fix}", "", "");
            }
        }
        println!(
            "{}",
            if report.healthy {
                "healthy"
            } else {
                "problems found: see the fixes above"
            }
        );
    }
    Ok(if report.healthy { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_fit_on_one_line() {
        assert_eq!(one_line("  A  JSON\n serializer\t"), "A JSON serializer");
        let long = "word ".repeat(40);
        let shown = one_line(&long);
        assert_eq!(shown.chars().count(), DESCRIPTION_WIDTH);
        assert!(shown.ends_with("word…"), "{shown}");
        let exact = "é".repeat(DESCRIPTION_WIDTH);
        assert_eq!(one_line(&exact), exact);
    }
}
