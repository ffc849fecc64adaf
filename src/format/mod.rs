//! The index format: names and shard paths, entries, `config.json`, the
//! `ggen.toml` manifest, version requirements and the canonical form that
//! signatures cover. Pure data and rules: nothing here touches the network.

pub mod canonical;
pub mod config;
pub mod entry;
pub mod features;
pub mod identity;
pub mod lockfile;
pub mod manifest;
pub mod name;
pub mod notice;
pub mod req;
pub mod rules;

pub use config::{IndexConfig, SignaturePolicy};
pub use entry::{DepKind, Dependency, IndexEntry};
pub use identity::RegistryIdentity;
pub use lockfile::{LockedPackage, Lockfile};
pub use manifest::{Manifest, PackageMeta};

/// The file at the root of every index.
pub const CONFIG_FILE: &str = "config.json";
