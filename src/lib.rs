#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
// Errors carry the paths, URLs and causes a good message needs; they are the
// cold path, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod archive;
pub mod format;
pub mod home;
pub mod resolve;
pub mod sources;
pub mod trust;
pub mod util;
pub mod workflows;
