//! What the toolkit does, composed from format, sources, resolve, trust and
//! archive. Each workflow returns a result value; printing is the caller's.

pub mod doctor;
pub mod edit;
pub mod index_add;
pub mod index_check;
pub mod index_init;
pub mod info;
pub mod install;
pub mod keygen;
pub mod mirror;
pub mod new_package;
pub mod package;
pub mod project;
pub mod publish;
pub mod registry;
pub mod rollback;
pub mod search;
pub mod serve;
pub mod sign;
pub mod stats;
pub mod sync;
pub mod tree;
pub mod verify;
