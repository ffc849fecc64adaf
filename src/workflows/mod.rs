//! What the toolkit does, composed from format, sources, resolve, trust and
//! archive. Each workflow returns a result value; printing is the caller's.

pub mod index_check;
pub mod index_init;
