//! Tests of the resolver: Cargo's semantics case by case, the wording of
//! conflicts, and a brute-force oracle over generated registries.

mod features;
mod memory;
mod messages;
mod oracle;
mod semantics;

use semver::Version;

use super::{Request, Resolution, ResolveError, resolve};
use memory::MemoryIndex;

fn v(text: &str) -> Version {
    Version::parse(text).unwrap()
}

/// Every chosen version as "name version", in the resolution's order.
fn chosen(resolution: &Resolution) -> Vec<String> {
    resolution.packages.iter().map(|p| p.id.to_string()).collect()
}

fn resolve_ok(index: &MemoryIndex, request: &Request) -> Resolution {
    resolve(index, request).unwrap_or_else(|e| panic!("{e}"))
}

fn no_solution(index: &MemoryIndex, request: &Request) -> String {
    match resolve(index, request) {
        Err(ResolveError::NoSolution { explanation }) => explanation,
        other => panic!("expected no solution, got {other:?}"),
    }
}
