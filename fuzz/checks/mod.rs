//! The body of every fuzz target, one file each: `fuzz_targets/NAME.rs`
//! includes `checks/NAME.rs` alone, and `tests/fuzz_corpus.rs` includes this
//! module to run every committed corpus file through the same checks on
//! stable. Each `check` returns on input the parser refuses and panics when
//! a parser panics or breaks a property stated beside it.

pub mod config_json;
pub mod ggen_lock;
pub mod ggen_toml;
pub mod index_line;
pub mod owner_keys;
pub mod signature;
pub mod tar_gz;

/// The body of a fuzz target: returns, or panics on a bug.
pub type Check = fn(&[u8]);

/// Every target: its name (`fuzz_targets/NAME.rs`, `corpus/NAME/`) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("config_json", config_json::check),
    ("ggen_lock", ggen_lock::check),
    ("ggen_toml", ggen_toml::check),
    ("index_line", index_line::check),
    ("owner_keys", owner_keys::check),
    ("signature", signature::check),
    ("tar_gz", tar_gz::check),
];
