//! `ggen.lock`, as `install` reads it (it travels with projects).

use ggen_marketplace::format::lockfile::Lockfile;

/// No panic, and a lockfile that parses is in canonical order and reads
/// back from its own text unchanged.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(lock) = Lockfile::parse(text) else {
        return;
    };
    assert_eq!(
        Lockfile::new(lock.packages.clone()),
        lock,
        "parse left the lock out of order"
    );
    let written = lock.to_toml();
    assert_eq!(
        Lockfile::parse(&written).expect("a written lockfile parses"),
        lock,
        "lockfile changed on its way through to_toml: {written}"
    );
}
