//! Shared helpers for the integration tests. Each test file that needs them
//! declares `mod support;`.
//!
//! Every test runs `ggen-market` one way: `fixture::command(home, args)`
//! (or `fixture::market` to run it to completion), which gives the binary
//! `GGEN_HOME=home` (`fixture::throwaway_home()` for a command that should
//! read none) and nothing else of the test's environment that could change
//! what it does: no other `GGEN_*` variable (registry, offline, key
//! password), no proxy, no user or system git config, no askpass, stdin
//! empty. `fixture::isolate` does that to any command, such as a CI script
//! given the binary in `GGEN_MARKET`. Variables a test means to pass go on
//! top, after isolation.
//!
//! Not every test binary uses every helper, hence the blanket allow.
#![allow(dead_code)]

pub mod fixture;
pub mod http;
pub mod servers;
