//! Package archives: `{name}-{version}.tar.gz`, every entry under
//! `{name}-{version}/`, the manifest `ggen.toml` first.
//!
//! - [`pack`] turns a package directory into reproducible archive bytes.
//! - [`inspect`] reads an archive's manifest and checksum for indexing,
//!   decompressing no further than the manifest.
//! - [`unpack`] extracts an archive safely for installation.
//! - [`crate_file`] reads a Cargo package (`.crate`) for indexing.
//!
//! ```
//! use ggen_marketplace::archive::{inspect, pack};
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("ggen.toml"), "[package]\nname = \"hello\"\nversion = \"1.0.0\"\n").unwrap();
//! std::fs::write(dir.path().join("hello.tmpl"), "Hello {{ name }}!\n").unwrap();
//!
//! let packed = pack::pack(dir.path(), &[]).unwrap();
//! assert_eq!(packed.file_name(), "hello-1.0.0.tar.gz");
//! assert_eq!(packed.files, 2);
//!
//! let summary = inspect::summarize_bytes(&packed.bytes).unwrap();
//! assert_eq!(summary.sha256, packed.sha256);
//! assert_eq!(summary.manifest.package.unwrap().name, "hello");
//! ```

pub mod crate_file;
pub mod inspect;
pub mod pack;
pub mod unpack;

pub use inspect::{ArchiveSummary, read_package_archive, summarize_bytes};
pub use pack::{PackedArchive, pack};

/// The directory every entry of a package's archive lives under.
pub fn top_dir(name: &str, version: &semver::Version) -> String {
    format!("{name}-{version}")
}

/// The file name of a package's archive: `{name}-{version}.tar.gz`.
pub fn archive_file_name(name: &str, version: &semver::Version) -> String {
    format!("{}.tar.gz", top_dir(name, version))
}

/// Lowercase hexadecimal, as index entries write checksums.
pub(crate) fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_matches_the_format_macro() {
        let bytes: Vec<u8> = (0..=255).collect();
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(lower_hex(&bytes), expected);
    }

    #[test]
    fn names_follow_name_dash_version() {
        let version = semver::Version::parse("0.3.1-beta.1+build.5").unwrap();
        assert_eq!(top_dir("io.ggen.axum", &version), "io.ggen.axum-0.3.1-beta.1+build.5");
        assert_eq!(archive_file_name("x", &version), "x-0.3.1-beta.1+build.5.tar.gz");
    }
}
