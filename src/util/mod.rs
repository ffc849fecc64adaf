//! Small utilities kept apart from the domain: atomic file writes, file
//! locks and progress reporting.

pub mod fs;
pub mod progress;
