//! Small utilities kept apart from the domain: atomic file writes, file
//! locks, progress reporting and timestamps as text.

pub mod fs;
pub mod progress;
pub mod time;
