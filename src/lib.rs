#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod format;
pub mod resolve;
pub mod sources;
pub mod util;
pub mod workflows;
