#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod archive;
pub mod format;
pub mod home;
pub mod resolve;
pub mod sources;
pub mod trust;
pub mod util;
pub mod workflows;
