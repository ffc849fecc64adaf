//! Package names: what may be read, what may be published, and where a
//! name's file lives in the index.
//!
//! Reading is lenient like Cargo (any case, `-` and `_`), publishing is strict
//! (DESIGN §1). Both share one shard rule:
//!
//! ```
//! use ggen_marketplace::format::name;
//! assert_eq!(name::index_path("a"), "1/a");
//! assert_eq!(name::index_path("Serde"), "se/rd/serde");
//! assert_eq!(name::index_path("io.ggen.rust.axum"), "io/.g/io.ggen.rust.axum");
//! assert!(name::validate_for_publishing("io.ggen.rust.axum").is_ok());
//! assert!(name::validate_for_publishing("Serde").is_err());
//! ```

use std::fmt;

/// The longest name we accept for a new package.
pub const MAX_PUBLISH_LEN: usize = 64;

/// Names that Windows cannot use as file names, whatever the extension.
const WINDOWS_DEVICE_NAMES: &[&str] = &[
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9", "lpt1", "lpt2",
    "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum NameError {
    /// No name at all.
    #[error("package name is empty")]
    Empty,
    /// Longer than the publishing limit.
    #[error("package name `{name}` is {len} characters long; the limit is {MAX_PUBLISH_LEN}")]
    TooLong { name: String, len: usize },
    /// A character outside the allowed set.
    #[error("package name `{name}` contains `{ch}`; use ASCII lowercase letters, digits, `-`, `_` and `.`")]
    InvalidChar { name: String, ch: char },
    /// Does not start with a letter.
    #[error("package name `{name}` must start with a letter")]
    BadStart { name: String },
    /// A dot-separated segment is empty.
    #[error("package name `{name}` contains `..`, an empty `.` segment or ends with `.`")]
    EmptySegment { name: String },
    /// A Windows device name.
    #[error("package name `{name}` is a reserved device name on Windows")]
    Reserved { name: String },
}

/// Accepts every name Cargo reads from an index (ASCII alphanumerics, `-`,
/// `_`, any case) plus the dotted ids of ggen packages.
pub fn validate_for_reading(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        Some(ch) => Err(NameError::InvalidChar {
            name: name.to_owned(),
            ch,
        }),
        None if has_empty_segment(name) => Err(NameError::EmptySegment { name: name.to_owned() }),
        None => Ok(()),
    }
}

/// The rules for a *new* package (DESIGN §1): 1–64 chars of ASCII lowercase
/// letters, digits, `-`, `_`, `.`; starts with a letter; no empty `.`
/// segment; not a Windows device name.
pub fn validate_for_publishing(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_PUBLISH_LEN {
        return Err(NameError::TooLong {
            name: name.to_owned(),
            len: name.len(),
        });
    }
    if let Some(ch) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')))
    {
        return Err(NameError::InvalidChar {
            name: name.to_owned(),
            ch,
        });
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(NameError::BadStart { name: name.to_owned() });
    }
    if has_empty_segment(name) {
        return Err(NameError::EmptySegment { name: name.to_owned() });
    }
    // Windows refuses `nul` and also `nul.txt`: check the part before the first dot.
    let stem = name.split('.').next().unwrap_or(name);
    if WINDOWS_DEVICE_NAMES.contains(&stem) {
        return Err(NameError::Reserved { name: name.to_owned() });
    }
    Ok(())
}

fn has_empty_segment(name: &str) -> bool {
    name.contains('.') && name.split('.').any(str::is_empty)
}

/// The key under which two names count as the same package: case is ignored
/// and `-` equals `_` (crates.io's rule, so `Foo_bar` cannot squat `foo-bar`).
pub fn confusable_key(name: &str) -> String {
    name.chars()
        .map(|c| if c == '_' { '-' } else { c.to_ascii_lowercase() })
        .collect()
}

/// The look-alike form of a name, for the stricter rule new names meet in
/// the pull-request gate: case ignored, `-`, `_` and `.` equal, and
/// characters that read alike in many fonts made equal (`0`/`o`,
/// `1`/`l`/`I`, `rn`/`m`). `io.ggen.rust.axum` and `io_ggen_ru5t…` differ,
/// but `serde` and `SERDE`, `rnath` and `math`, `l0g` and `log` do not.
pub fn lookalike_key(name: &str) -> String {
    let folded: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            '_' | '.' => '-',
            '0' => 'o',
            '1' | 'i' => 'l',
            other => other,
        })
        .collect();
    folded.replace("rn", "m")
}

/// Whether `a` and `b` are within Damerau–Levenshtein distance 1: equal, or
/// one edit apart (a character inserted, deleted or replaced, or two
/// neighbours swapped).
pub fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a.iter().rev().zip(b.iter().rev()).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);
    match (a.len(), b.len()) {
        (0, 0) | (0, 1) | (1, 0) | (1, 1) => true,
        (2, 2) => a[0] == b[1] && a[1] == b[0],
        _ => false,
    }
}

/// The first of `existing` that a new package `name` would be confused
/// with: the same look-alike key ([`lookalike_key`]) or within one edit of
/// it, ignoring case. A name is not confusable with itself.
pub fn confusable_with<'a>(name: &str, existing: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    let key = lookalike_key(name);
    existing.into_iter().find(|other| {
        let other_lower = other.to_ascii_lowercase();
        other_lower != lower && (lookalike_key(other) == key || within_one_edit(&lower, &other_lower))
    })
}

/// The names among `candidates` closest to a `wanted` name that does not
/// exist — at most `limit`, nearest first: what "did you mean" offers.
/// Case and `-`/`_` are ignored; a candidate counts when it is within a
/// third of the name's length in edits (at least 1), or contains the name.
pub fn closest_names<'a>(wanted: &str, candidates: &'a [String], limit: usize) -> Vec<&'a str> {
    let key = confusable_key(wanted);
    let budget = (key.chars().count() / 3).max(1);
    let mut near: Vec<(usize, &str)> = candidates
        .iter()
        .filter_map(|candidate| {
            let other = confusable_key(candidate);
            let distance = edit_distance(&key, &other);
            (distance <= budget || (key.len() >= 3 && other.contains(&key))).then_some((distance, candidate.as_str()))
        })
        .collect();
    near.sort();
    near.into_iter().take(limit).map(|(_, name)| name).collect()
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// The path of a package's file relative to the index root, `/`-separated:
/// Cargo's sharding of the lowercased name.
pub fn index_path(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    format!("{}/{lower}", Shard::of(&lower))
}

/// The directory part of a name's index path (`1`, `2`, `3/a`, `ab/cd`), in
/// the case of the name given: Cargo's `{prefix}` marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard<'a>(&'a str);

impl<'a> Shard<'a> {
    /// The shard of `name`, which should be non-empty.
    pub fn of(name: &'a str) -> Self {
        Shard(name)
    }
}

impl fmt::Display for Shard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Cargo cuts bytes; index names are ASCII, so cutting characters is
        // the same for every valid name and cannot split a character of an
        // invalid one (a file name in a hostile index).
        let name = self.0;
        let cut = |chars: usize| name.char_indices().nth(chars).map_or(name.len(), |(at, _)| at);
        match name.chars().count() {
            0 => Ok(()),
            1 => f.write_str("1"),
            2 => f.write_str("2"),
            3 => write!(f, "3/{}", &name[..cut(1)]),
            _ => write!(f, "{}/{}", &name[..cut(2)], &name[cut(2)..cut(4)]),
        }
    }
}

/// The names under which a package's file may be stored: Cargo looks a name
/// up with every combination of `-` and `_`, so `foo-bar` finds `foo_bar`.
/// The name as given comes first. Capped, since the number doubles with each
/// separator.
pub fn lookup_variants(name: &str) -> Vec<String> {
    const MAX_VARIANTS: usize = 16;
    let lower = name.to_ascii_lowercase();
    let positions: Vec<usize> = lower
        .char_indices()
        .filter(|(_, c)| matches!(c, '-' | '_'))
        .map(|(i, _)| i)
        .collect();
    let mut variants = vec![lower.clone()];
    let combos = 1usize.checked_shl(positions.len() as u32).unwrap_or(usize::MAX);
    for mask in 0..combos.min(MAX_VARIANTS) {
        let mut bytes = lower.clone().into_bytes();
        for (bit, &pos) in positions.iter().enumerate() {
            bytes[pos] = if mask & (1 << bit) != 0 { b'_' } else { b'-' };
        }
        let variant = String::from_utf8(bytes).expect("ASCII in, ASCII out");
        if !variants.contains(&variant) {
            variants.push(variant);
        }
    }
    variants
}

/// The file name of an index path: the last `/`-separated part, which is
/// the lowercased package name for a package file.
pub fn file_name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closest_names_are_offered_nearest_first() {
        let names: Vec<String> = [
            "io.ggen.rust.axum",
            "io.ggen.rust.base",
            "io.ggen.base",
            "serde",
            "tokio",
        ]
        .iter()
        .map(|n| n.to_string())
        .collect();
        assert_eq!(
            closest_names("io.ggen.rust.axm", &names, 3),
            ["io.ggen.rust.axum", "io.ggen.rust.base"]
        );
        assert_eq!(closest_names("Serde", &names, 3), ["serde"]);
        assert_eq!(closest_names("axum", &names, 3), ["io.ggen.rust.axum"]);
        assert!(closest_names("zzzzzz", &names, 3).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn one_edit_is_damerau_levenshtein_one() {
        for (a, b) in [
            ("serde", "serde"),
            ("serde", "serd"),
            ("serde", "sserde"),
            ("serde", "sarde"),
            ("serde", "sedre"),
            ("", "a"),
        ] {
            assert!(within_one_edit(a, b), "{a} {b}");
            assert!(within_one_edit(b, a), "{b} {a}");
        }
        for (a, b) in [
            ("serde", "sedrf"),
            ("serde", "se"),
            ("abc", "cba"),
            ("tokio", "tokyo-rs"),
        ] {
            assert!(!within_one_edit(a, b), "{a} {b}");
        }
    }

    #[test]
    fn confusable_names_are_found_and_distinct_ones_pass() {
        let existing = ["io.ggen.rust.axum", "log", "math", "serde"];
        for (new, like) in [
            ("io.ggen.rust.axun", "io.ggen.rust.axum"),
            ("io-ggen_rust.axum", "io.ggen.rust.axum"),
            ("l0g", "log"),
            ("1og", "log"),
            ("rnath", "math"),
            ("serdes", "serde"),
        ] {
            assert_eq!(confusable_with(new, existing), Some(like), "{new}");
        }
        for new in ["io.ggen.rust.actix", "tokio", "serde-json", "log", "mathematics"] {
            assert_eq!(confusable_with(new, existing), None, "{new}");
        }
    }

    #[test]
    fn shards_like_cargo() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("ab"), "2/ab");
        assert_eq!(index_path("abc"), "3/a/abc");
        assert_eq!(index_path("abcd"), "ab/cd/abcd");
        assert_eq!(index_path("Inflector"), "in/fl/inflector");
        assert_eq!(Shard::of("Inflector").to_string(), "In/fl");
        assert_eq!(index_path("io.ggen.base"), "io/.g/io.ggen.base");
        assert_eq!(index_path("a.bc"), "a./bc/a.bc");
    }

    /// Found while writing the fuzz targets: a file or entry name whose
    /// multi-byte character straddled a shard cut made `index check`, the
    /// gate and the local source panic. Such a name is never valid, but
    /// its shard must still be computed without panicking.
    #[test]
    fn shards_non_ascii_names_without_panicking() {
        for name in ["aéb", "aé", "é", "éab", "abcé", "a\u{10FFFF}bc", "日本語のパッケージ"] {
            let _ = index_path(name);
        }
        assert_eq!(index_path("aéb"), "3/a/aéb");
        assert_eq!(index_path("abéd"), "ab/éd/abéd");
    }

    #[test]
    fn reading_accepts_what_cargo_accepts() {
        for ok in [
            "serde",
            "Inflector",
            "foo_bar-baz",
            "a",
            "io.ggen.rust.axum",
            "1password",
        ] {
            assert_eq!(validate_for_reading(ok), Ok(()), "{ok}");
        }
        for bad in ["", "foo/bar", "foo bar", "a..b", ".hidden", "trailing.", "é"] {
            assert!(validate_for_reading(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn publishing_is_strict() {
        for ok in ["io.ggen.rust.axum", "a", "foo_bar-baz", "x1.y2", "console"] {
            assert_eq!(validate_for_publishing(ok), Ok(()), "{ok}");
        }
        let long = "a".repeat(65);
        type IsExpected = fn(&NameError) -> bool;
        let cases: &[(&str, IsExpected)] = &[
            ("", |e| matches!(e, NameError::Empty)),
            (&long, |e| matches!(e, NameError::TooLong { len: 65, .. })),
            ("Serde", |e| matches!(e, NameError::InvalidChar { ch: 'S', .. })),
            ("1password", |e| matches!(e, NameError::BadStart { .. })),
            ("-x", |e| matches!(e, NameError::BadStart { .. })),
            ("io..ggen", |e| matches!(e, NameError::EmptySegment { .. })),
            ("io.", |e| matches!(e, NameError::EmptySegment { .. })),
            ("nul", |e| matches!(e, NameError::Reserved { .. })),
            ("com1.tools", |e| matches!(e, NameError::Reserved { .. })),
            ("a/b", |e| matches!(e, NameError::InvalidChar { ch: '/', .. })),
        ];
        for (name, expected) in cases {
            let err = validate_for_publishing(name).unwrap_err();
            assert!(expected(&err), "{name}: {err:?}");
        }
    }

    #[test]
    fn confusable_names_share_a_key() {
        assert_eq!(confusable_key("Foo_Bar"), confusable_key("foo-bar"));
        assert_ne!(confusable_key("foo.bar"), confusable_key("foo-bar"));
    }

    #[test]
    fn lookup_variants_cover_separators() {
        let v = lookup_variants("Foo-bar_baz");
        assert_eq!(v[0], "foo-bar_baz");
        for want in ["foo-bar-baz", "foo_bar_baz", "foo_bar-baz"] {
            assert!(v.contains(&want.to_owned()), "{want} in {v:?}");
        }
        assert_eq!(v.len(), 4);
        assert_eq!(lookup_variants("plain"), vec!["plain"]);
    }
}
