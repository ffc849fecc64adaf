//! `doctor`: a health check of one user's setup and registry, each finding
//! with the fix — the configuration, whether the registry is reachable, a
//! sample of its index and of its archives (re-hashed against `cksum`), the
//! pin store, what `GGEN_HOME` holds on disk, and the clock against the
//! registry server's.
//!
//! ```
//! use ggen_marketplace::home::GgenHome;
//! use ggen_marketplace::workflows::doctor::{doctor, Status};
//! use ggen_marketplace::workflows::registry::{bundled_example_registry, NetOptions};
//! let home = tempfile::tempdir().unwrap();
//! let example = bundled_example_registry();
//! let report = doctor(&GgenHome::at(home.path()), example.to_str(), NetOptions::default());
//! assert!(report.healthy, "{:?}", report.checks);
//! assert!(report.checks.iter().any(|c| c.name == "archives" && c.status == Status::Ok));
//! ```

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::home::GgenHome;
use crate::sources::PackageSource;
use crate::sources::fallback::WarningSink;
use crate::sources::http::{self, RetryPolicy, Validators};
use crate::sources::location::RegistryLocation;
use crate::trust::pins::PINS_FILE;
use crate::util::progress::NoProgress;
use crate::workflows::registry::{self, ChosenRegistry, NetOptions};

/// Packages whose files are read in the index sample.
const INDEX_SAMPLE: usize = 20;
/// Archives fetched and re-hashed.
const ARCHIVE_SAMPLE: usize = 3;
/// A clock further off than this is reported.
const CLOCK_TOLERANCE: Duration = Duration::from_secs(300);

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but worth fixing.
    Warn,
    /// Broken: commands will fail.
    Fail,
    /// Could not be checked (offline, or an earlier check failed).
    Skipped,
}

/// One check: a stable name, how it came out, what was found, what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    /// `config`, `registry`, `reachable`, `index`, `archives`, `pins`,
    /// `disk` or `clock`.
    pub name: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do about it, when something is to be done.
    pub fix: Option<String>,
}

/// Every check, in order, and whether none failed.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// The checks.
    pub checks: Vec<HealthCheck>,
    /// No check failed.
    pub healthy: bool,
}

fn check(name: &'static str, status: Status, detail: impl Into<String>, fix: Option<String>) -> HealthCheck {
    HealthCheck {
        name,
        status,
        detail: detail.into(),
        fix,
    }
}

/// Checks `home` and the registry `flag_or_env` names (or its default):
/// never fails, every problem is a check.
pub fn doctor(home: &GgenHome, flag_or_env: Option<&str>, net: NetOptions) -> DoctorReport {
    let mut checks = Vec::new();
    let config = match home.load_config() {
        Ok(config) => {
            checks.push(check(
                "config",
                Status::Ok,
                format!(
                    "{}: {} named registries",
                    home.config_file().display(),
                    config.registries.len()
                ),
                None,
            ));
            config
        }
        Err(e) => {
            checks.push(check(
                "config",
                Status::Fail,
                e.to_string(),
                Some(format!("fix or move aside {}", home.config_file().display())),
            ));
            Default::default()
        }
    };
    let net = NetOptions {
        offline: net.offline || config.net.offline,
        max_connections: net.max_connections.or(config.net.max_connections),
        limits: config.net.limits(),
    };
    match registry::choose(flag_or_env, &config, &home.config_file()) {
        Ok(chosen) => {
            checks.push(check("registry", Status::Ok, chosen.location.source_id(), None));
            registry_checks(home, &chosen, net, &mut checks);
        }
        Err(e) => {
            checks.push(check(
                "registry",
                Status::Fail,
                e.to_string(),
                Some("choose a registry with --registry, GGEN_REGISTRY or default-registry".into()),
            ));
        }
    }
    checks.push(pins_check(home));
    checks.push(disk_check(home));
    let healthy = checks.iter().all(|c| c.status != Status::Fail);
    DoctorReport { checks, healthy }
}

fn registry_checks(home: &GgenHome, chosen: &ChosenRegistry, net: NetOptions, checks: &mut Vec<HealthCheck>) {
    let quiet: WarningSink = std::sync::Arc::new(|_: &str| {});
    let opened = registry::open(chosen, home, net, &NoProgress, &quiet);
    let opened = match opened.map_err(|e| e.to_string()).and_then(|o| {
        let config = o.registry.source().config().map_err(|e| e.to_string())?;
        Ok((o, config))
    }) {
        Ok(opened) => opened,
        Err(reason) => {
            checks.push(check(
                "reachable",
                Status::Fail,
                reason,
                Some("check the URL and the network, or work from what is cached with --offline".into()),
            ));
            return;
        }
    };
    let (opened, config) = opened;
    let source = opened.registry.source();
    checks.push(check(
        "reachable",
        Status::Ok,
        format!(
            "config.json read: identity {}, signatures {}",
            chosen.identity(&config).id(),
            format!("{:?}", config.signatures).to_lowercase()
        ),
        None,
    ));
    let sample = index_check(source, checks);
    checks.push(archives_check(source, &sample, net.offline));
    checks.push(clock_check(&chosen.location, source, net));
}

/// Reads a spread of package files; returns the newest version of each.
fn index_check(source: &dyn PackageSource, checks: &mut Vec<HealthCheck>) -> Vec<crate::format::IndexEntry> {
    let listing = match source.searchable_names() {
        Ok(listing) => listing,
        Err(e) => {
            checks.push(check(
                "index",
                Status::Fail,
                e.to_string(),
                Some("run `ggen-market sync`".into()),
            ));
            return Vec::new();
        }
    };
    let step = (listing.names.len() / INDEX_SAMPLE).max(1);
    let mut newest = Vec::new();
    let mut problems = Vec::new();
    for name in listing.names.iter().step_by(step).take(INDEX_SAMPLE) {
        match source.entries(name) {
            Ok(Some(entries)) => newest.extend(
                entries
                    .into_iter()
                    .filter(|e| !e.yanked)
                    .filter_map(|e| Some((e.version().ok()?, e)))
                    .max_by(|a, b| a.0.cmp(&b.0))
                    .map(|(_, e)| e),
            ),
            Ok(None) => problems.push(format!("{name}: listed but no file")),
            Err(e) => problems.push(e.to_string()),
        }
    }
    let scope = if listing.complete {
        "packages"
    } else {
        "packages cached (a sparse index cannot list more)"
    };
    if problems.is_empty() {
        checks.push(check(
            "index",
            Status::Ok,
            format!(
                "{} {scope}; a sample of {} read cleanly",
                listing.names.len(),
                newest.len()
            ),
            None,
        ));
    } else {
        checks.push(check(
            "index",
            Status::Fail,
            problems.join("; "),
            Some("run `ggen-market index check` on the index (operators) or report it to them".into()),
        ));
    }
    newest
}

fn archives_check(source: &dyn PackageSource, sample: &[crate::format::IndexEntry], offline: bool) -> HealthCheck {
    if sample.is_empty() {
        return check("archives", Status::Skipped, "no versions to sample", None);
    }
    let mut mismatched = Vec::new();
    let mut fetched = 0;
    for entry in sample.iter().take(ARCHIVE_SAMPLE) {
        match source.fetch_archive(entry) {
            Ok(archive) => {
                fetched += 1;
                let actual: String = Sha256::digest(&archive.bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                if actual != entry.cksum {
                    mismatched.push(format!(
                        "{} {} from {} has SHA-256 {actual}, cksum {}",
                        entry.name, entry.vers, archive.origin, entry.cksum
                    ));
                }
            }
            Err(_) if offline => {}
            Err(e) => mismatched.push(format!("{} {}: {e}", entry.name, entry.vers)),
        }
    }
    match (mismatched.is_empty(), fetched) {
        (true, 0) => check("archives", Status::Skipped, "offline: archives not fetched", None),
        (true, n) => check(
            "archives",
            Status::Ok,
            format!("{n} sampled archives match their cksum"),
            None,
        ),
        (false, _) => check(
            "archives",
            Status::Fail,
            mismatched.join("; "),
            Some(
                "the registry serves archives that do not match its index: tell its operators (installs refuse them)"
                    .into(),
            ),
        ),
    }
}

fn clock_check(location: &RegistryLocation, source: &dyn PackageSource, net: NetOptions) -> HealthCheck {
    let base = match location {
        RegistryLocation::Sparse { url } => url.clone(),
        _ => source.download_base(),
    };
    if net.offline || !(base.starts_with("http://") || base.starts_with("https://")) {
        return check("clock", Status::Skipped, "no HTTP server to compare with", None);
    }
    let agent = http::new_agent(1, &net.limits);
    let url = crate::format::config::join_reference(&base, "config.json");
    let policy = RetryPolicy {
        max_tries: 1,
        ..net.limits.retry
    };
    let date = http::get_with_retries(
        &agent,
        &url,
        &Validators::default(),
        &policy,
        net.limits.index_file_cap(),
    )
    .ok()
    .and_then(|response| response.date);
    let Some(server) = date else {
        return check("clock", Status::Skipped, format!("{url} sent no Date header"), None);
    };
    let now = SystemTime::now();
    let skew = now.duration_since(server).unwrap_or_else(|e| e.duration());
    if skew <= CLOCK_TOLERANCE {
        check(
            "clock",
            Status::Ok,
            format!("{}s from the server's clock", skew.as_secs()),
            None,
        )
    } else {
        check(
            "clock",
            Status::Warn,
            format!("{}s off the server's clock", skew.as_secs()),
            Some("set the system clock (e.g. `timedatectl set-ntp true`): signatures' timestamps and caches depend on it".into()),
        )
    }
}

fn pins_check(home: &GgenHome) -> HealthCheck {
    let path = home.trust_dir().join(PINS_FILE);
    match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => check("pins", Status::Ok, "no keys pinned yet", None),
        Err(e) => check(
            "pins",
            Status::Fail,
            format!("cannot read {}: {e}", path.display()),
            None,
        ),
        Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(pins) => {
                let registries = pins["registries"].as_object().map_or(0, |r| r.len());
                let packages: usize = pins["registries"]
                    .as_object()
                    .map_or(0, |r| r.values().filter_map(|p| p.as_object()).map(|p| p.len()).sum());
                check(
                    "pins",
                    Status::Ok,
                    format!("{packages} packages pinned in {registries} registries"),
                    None,
                )
            }
            Err(e) => check(
                "pins",
                Status::Fail,
                format!("{} is damaged: {e}", path.display()),
                Some(format!(
                    "move {} aside; keys are learned again on next use",
                    path.display()
                )),
            ),
        },
    }
}

fn disk_check(home: &GgenHome) -> HealthCheck {
    let size = |dir: &Path| -> u64 { dir_size(dir) };
    let (registries, archives, packages) = (
        size(&home.root().join("registries")),
        size(&home.archives_dir()),
        size(&home.packages_dir()),
    );
    check(
        "disk",
        Status::Ok,
        format!(
            "{}: registries {}, archive cache {}, packages {}",
            home.root().display(),
            megabytes(registries),
            megabytes(archives),
            megabytes(packages)
        ),
        None,
    )
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => dir_size(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}
