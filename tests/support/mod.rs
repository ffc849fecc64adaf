//! Shared helpers for the integration tests. Each test file that needs them
//! declares `mod support;`.
//!
//! Not every test binary uses every helper, hence the blanket allow.
#![allow(dead_code)]

pub mod fixture;
pub mod http;
pub mod servers;
