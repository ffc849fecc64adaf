//! One line of a package file against the entry schema
//! (`schemas/index-entry.schema.json`), as typed checks.
//!
//! Two paths reach the same verdict. The fast path deserializes the line
//! into borrowed structs whose field types *are* the schema's types (strings
//! stay borrowed from the line, fields that only need their type checked are
//! visited without being stored); when serde accepts the line, it has the
//! schema's shape. Only a line the fast path refuses is parsed again as a
//! `serde_json::Value` and walked field by field, to name every field that
//! is missing or of the wrong type. The value rules (name pattern, checksum,
//! semver, requirements, dependency targets) are then the same code for
//! both paths.
//!
//! The versions of one package mostly repeat the same dependencies, byte
//! for byte: the fast path keeps each dependency as its JSON text first, and
//! one found clean in a file ([`CleanDependencies`]) is not parsed or
//! checked again on the file's later lines.

use std::borrow::{Borrow, Cow};
use std::collections::HashSet;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::num::NonZeroU64;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::FindingKind;
use crate::format::entry::{self, DepKind};
use crate::format::{name, req};

/// A problem found on one line: what kind, and a message for people.
pub type Problem = (FindingKind, String);

/// What a line is checked against besides its own content.
pub struct LineContext<'c> {
    /// The package file's name (the lowercased package name it should hold).
    pub file_name: &'c str,
    /// The packages of the index (files at their shard path): the names a
    /// dependency may point at.
    pub known: &'c dyn KnownPackages,
}

/// The packages an index holds, looked up by lowercased name.
pub trait KnownPackages: Sync {
    /// Whether the index has a package file for `lowercased`.
    fn holds(&self, lowercased: &str) -> bool;
}

/// A set of lowercased names (`&str` or `String`).
impl<S: Borrow<str> + Eq + Hash + Sync> KnownPackages for HashSet<S> {
    fn holds(&self, lowercased: &str) -> bool {
        self.contains(lowercased)
    }
}

/// The dependencies of one package file found clean so far, as their JSON
/// text: the same text on a later line of the file is the same dependency
/// with the same verdict.
#[derive(Default)]
pub struct CleanDependencies<'l>(hashbrown::HashSet<&'l str>);

/// Checks one line, pushing every problem found, and returns its version
/// when `vers` is valid semver (for the per-file duplicate check).
/// `clean` carries what earlier lines of the same file found clean; give a
/// fresh one to each file.
pub fn check_line<'l>(
    line: &'l [u8],
    ctx: &LineContext,
    clean: &mut CleanDependencies<'l>,
    problems: &mut Vec<Problem>,
) -> Option<semver::Version> {
    match parse_fast(line, clean) {
        Ok((entry, fresh)) => {
            let view = entry.view();
            let is_this_package = check_entry_fields(&view, ctx, problems);
            for (i, text, dep) in fresh {
                let before = problems.len();
                check_dependency(i, &dep.view(), ctx, problems);
                if problems.len() == before {
                    clean.0.insert(text);
                }
            }
            check_vers(view.vers, is_this_package, problems)
        }
        Err(fast_error) => check_slowly(line, &fast_error, ctx, problems),
    }
}

/// A dependency parsed by the fast path: its index in `deps`, its JSON
/// text and its fields.
type FreshDependency<'l> = (usize, &'l str, FastDep<'l>);

/// The fast path: the entry, and those of its dependencies not already in
/// `clean`; an error when any of them breaks the schema's types.
fn parse_fast<'l>(
    line: &'l [u8],
    clean: &CleanDependencies<'l>,
) -> Result<(FastEntry<'l>, Vec<FreshDependency<'l>>), serde_json::Error> {
    let entry: FastEntry = match std::str::from_utf8(line) {
        // Validated once here, the line's strings need no check of their own.
        Ok(text) => serde_json::from_str(text)?,
        // JSON is UTF-8: this fails, and its error says where.
        Err(_) => serde_json::from_slice(line)?,
    };
    let mut fresh = Vec::new();
    for (i, raw) in entry.deps.iter().enumerate() {
        let text = raw.get();
        if !clean.0.contains(text) {
            fresh.push((i, text, serde_json::from_str(text)?));
        }
    }
    Ok((entry, fresh))
}

/// The line the fast path refused: say exactly why.
fn check_slowly(
    line: &[u8],
    fast_error: &serde_json::Error,
    ctx: &LineContext,
    problems: &mut Vec<Problem>,
) -> Option<semver::Version> {
    let value: Value = match serde_json::from_slice(line) {
        Ok(value) => value,
        Err(e) => {
            problems.push((FindingKind::InvalidJson, format!("not valid JSON: {e}")));
            return None;
        }
    };
    let Some(object) = value.as_object() else {
        problems.push((
            FindingKind::WrongType,
            format!("a line must be a JSON object, found {}", type_name(&value)),
        ));
        return None;
    };
    let before = problems.len();
    check_entry_shapes(object, problems);
    let deps: Vec<&Map<String, Value>> = match object.get("deps").and_then(Value::as_array) {
        Some(items) => items.iter().filter_map(Value::as_object).collect(),
        None => Vec::new(),
    };
    if problems.len() == before {
        // Every field has the schema's type, yet serde refused the line: a
        // repeated key, which Cargo's reader refuses too.
        problems.push((
            FindingKind::InvalidEntry,
            format!("Cargo cannot read this entry: {fast_error}"),
        ));
    }
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let view = EntryView {
        name: text("name"),
        vers: text("vers"),
        cksum: text("cksum"),
        pubtime: text("pubtime"),
        sig: text("sig"),
    };
    let is_this_package = check_entry_fields(&view, ctx, problems);
    for (i, dep) in deps.iter().enumerate() {
        let dep = DepView {
            name: dep.get("name").and_then(Value::as_str),
            req: dep.get("req").and_then(Value::as_str),
            package: dep.get("package").and_then(Value::as_str),
            registry: dep.get("registry").is_some_and(Value::is_string),
            required: entry::is_required(
                match dep.get("kind").and_then(Value::as_str) {
                    Some("dev") => DepKind::Dev,
                    Some("build") => DepKind::Build,
                    _ => DepKind::Normal,
                },
                dep.get("optional").and_then(Value::as_bool).unwrap_or(false),
            ),
        };
        check_dependency(i, &dep, ctx, problems);
    }
    check_vers(view.vers, is_this_package, problems)
}

/// The fields of an entry that value rules look at, however it was parsed.
struct EntryView<'a> {
    name: Option<&'a str>,
    vers: Option<&'a str>,
    cksum: Option<&'a str>,
    pubtime: Option<&'a str>,
    sig: Option<&'a str>,
}

/// The fields of a dependency that value rules look at.
struct DepView<'a> {
    name: Option<&'a str>,
    req: Option<&'a str>,
    package: Option<&'a str>,
    /// From another registry: its target is not looked for in this index.
    registry: bool,
    /// Needed by every build ([`entry::is_required`]): missing, an error;
    /// otherwise a warning.
    required: bool,
}

/// The rules on the entry's own values, beyond their types (`vers` comes
/// last, in [`check_vers`]); true when the entry names the file's package.
fn check_entry_fields(entry: &EntryView, ctx: &LineContext, problems: &mut Vec<Problem>) -> bool {
    // A line of another package must not count in this package's duplicate check.
    let is_this_package = entry
        .name
        .is_some_and(|name| check_entry_name(name, ctx.file_name, problems));
    if let Some(cksum) = entry.cksum
        && !is_sha256_hex(cksum)
    {
        problems.push((
            FindingKind::BadChecksum,
            format!("`cksum` must be a SHA-256 digest as 64 lowercase hex digits, found `{cksum}`"),
        ));
    }
    if let Some(pubtime) = entry.pubtime
        && !is_rfc3339_date_time(pubtime)
    {
        problems.push((
            FindingKind::InvalidField,
            format!("`pubtime` must be an RFC 3339 date-time such as 2025-03-01T12:00:00Z, found `{pubtime}`"),
        ));
    }
    if let Some(sig) = entry.sig
        && !is_minisign_signature(sig)
    {
        problems.push((
            FindingKind::InvalidField,
            "`sig` is not the text of a minisign signature file (untrusted comment, signature, trusted comment, global signature, one per line)".to_owned(),
        ));
    }
    is_this_package
}

/// `vers` is semver: the version, when the line is also the file's package.
fn check_vers(vers: Option<&str>, is_this_package: bool, problems: &mut Vec<Problem>) -> Option<semver::Version> {
    match vers {
        Some("") => {
            problems.push((FindingKind::InvalidField, "`vers` is empty".to_owned()));
            None
        }
        Some(vers) => match semver::Version::parse(vers) {
            Ok(version) => is_this_package.then_some(version),
            Err(e) => {
                problems.push((
                    FindingKind::InvalidVersion,
                    format!("`vers` `{vers}` is not a semver version ({e}); Cargo skips this line"),
                ));
                None
            }
        },
        None => None,
    }
}

/// Checks the entry's name; true when it is valid and the file's package.
fn check_entry_name(entry_name: &str, file_name: &str, problems: &mut Vec<Problem>) -> bool {
    if let Err(e) = name::validate_for_reading(entry_name) {
        problems.push((FindingKind::InvalidName, e.to_string()));
        false
    } else if !entry_name.eq_ignore_ascii_case(file_name) {
        problems.push((
            FindingKind::NameMismatch,
            format!(
                "the entry is for `{entry_name}` but the file holds `{file_name}`; it belongs in {}",
                name::index_path(entry_name)
            ),
        ));
        false
    } else {
        true
    }
}

fn check_dependency(i: usize, dep: &DepView, ctx: &LineContext, problems: &mut Vec<Problem>) {
    let label = dep.name.unwrap_or("?");
    for (field, value) in [("name", dep.name), ("package", dep.package)] {
        if let Some(Err(e)) = value.map(name::validate_for_reading) {
            problems.push((FindingKind::InvalidName, format!("`deps[{i}].{field}`: {e}")));
        }
    }
    match dep.req {
        Some("") => problems.push((
            FindingKind::InvalidField,
            format!("dependency `{label}` has an empty requirement"),
        )),
        Some(requirement) => {
            if let Err(e) = req::parse(requirement) {
                problems.push((
                    FindingKind::BadRequirement,
                    format!("dependency `{label}`: {e}; Cargo skips this version"),
                ));
            }
        }
        None => {}
    }
    let target = dep.package.or(dep.name);
    if let Some(target) = target.filter(|t| !dep.registry && name::validate_for_reading(t).is_ok())
        && !is_known(target, ctx.known)
    {
        let (kind, what) = if dep.required {
            (FindingKind::MissingDependency, "dependency")
        } else {
            (FindingKind::MissingOptionalDependency, "optional or dev dependency")
        };
        problems.push((
            kind,
            format!(
                "{what} `{label}` names package `{target}`, which is not in this index (no file {})",
                name::index_path(target)
            ),
        ));
    }
}

/// Whether `target` (a dependency's package name) has a package file,
/// looked up as Cargo does: by the lowercased name. `known` holds the
/// lowercased names of the index's packages.
pub fn is_known(target: &str, known: &dyn KnownPackages) -> bool {
    if target.bytes().any(|b| b.is_ascii_uppercase()) {
        known.holds(&target.to_ascii_lowercase())
    } else {
        known.holds(target)
    }
}

/// 64 lowercase hex digits.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// RFC 3339 `date-time` (JSON Schema's format): `YYYY-MM-DDTHH:MM:SS`, an
/// optional fraction, then `Z` or `±HH:MM`; fields within their ranges, and
/// a leap second (`:60`) only at 23:59 UTC.
fn is_rfc3339_date_time(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let punctuation_ok =
        b.len() >= 20 && b[4] == b'-' && b[7] == b'-' && matches!(b[10], b'T' | b't') && b[13] == b':' && b[16] == b':';
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
    ) else {
        return false;
    };
    if !punctuation_ok || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return false;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|d| d.is_ascii_digit()).count();
        if len == 0 {
            return false;
        }
        rest = &fraction[len..];
    }
    let offset_minutes = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] if [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()) => {
            let (hours, minutes) = (
                i32::from((h1 - b'0') * 10 + (h2 - b'0')),
                i32::from((m1 - b'0') * 10 + (m2 - b'0')),
            );
            if hours > 23 || minutes > 59 {
                return false;
            }
            if *sign == b'+' {
                hours * 60 + minutes
            } else {
                -(hours * 60 + minutes)
            }
        }
        _ => return false,
    };
    // A leap second ends a UTC day: 23:59:60 once the offset is applied.
    let utc_minute_of_day = (hour as i32 * 60 + minute as i32 - offset_minutes).rem_euclid(24 * 60);
    second < 60 || utc_minute_of_day == 23 * 60 + 59
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The schema's pattern for `sig`: a minisign signature file —
/// `untrusted comment: …`, `R[UW]` + 97 base64 characters + `=`,
/// `trusted comment: …`, 86 base64 characters + `==`, optional final newline.
fn is_minisign_signature(text: &str) -> bool {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').collect();
    let no_cr = |s: &str| !s.contains('\r');
    let base64 = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    match lines.as_slice() {
        [untrusted, signature, trusted, global] => {
            untrusted.strip_prefix("untrusted comment: ").is_some_and(no_cr)
                && signature.len() == 100
                && (signature.starts_with("RU") || signature.starts_with("RW"))
                && signature.ends_with('=')
                && base64(&signature[2..99])
                && trusted.strip_prefix("trusted comment: ").is_some_and(no_cr)
                && global.len() == 88
                && global.ends_with("==")
                && base64(&global[..86])
        }
        _ => false,
    }
}

// ---- The fast path: the schema's types as borrowed serde structs. ----

#[derive(serde::Deserialize)]
struct FastEntry<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow)]
    vers: Text<'a>,
    /// Each dependency's JSON text, parsed as a [`FastDep`] unless already
    /// found clean.
    #[serde(borrow)]
    deps: Vec<&'a RawValue>,
    #[serde(borrow)]
    cksum: Text<'a>,
    #[serde(rename = "features")]
    _features: FeatureMap,
    #[serde(rename = "features2", default, deserialize_with = "present")]
    _features2: Option<FeatureMap>,
    #[serde(rename = "v", default, deserialize_with = "present")]
    _v: Option<NonZeroU64>,
    #[serde(rename = "yanked")]
    _yanked: bool,
    #[serde(rename = "links", default)]
    _links: Option<AnyString>,
    #[serde(rename = "rust_version", default)]
    _rust_version: Option<AnyString>,
    #[serde(default, borrow, deserialize_with = "present")]
    pubtime: Option<Text<'a>>,
    #[serde(rename = "description", default, deserialize_with = "present")]
    _description: Option<AnyString>,
    #[serde(rename = "keywords", default, deserialize_with = "present")]
    _keywords: Option<StringList>,
    #[serde(rename = "categories", default, deserialize_with = "present")]
    _categories: Option<StringList>,
    #[serde(rename = "license", default, deserialize_with = "present")]
    _license: Option<AnyString>,
    #[serde(rename = "repository", default, deserialize_with = "present")]
    _repository: Option<AnyString>,
    #[serde(default, borrow, deserialize_with = "present")]
    sig: Option<Text<'a>>,
}

impl FastEntry<'_> {
    fn view(&self) -> EntryView<'_> {
        EntryView {
            name: Some(&self.name.0),
            vers: Some(&self.vers.0),
            cksum: Some(&self.cksum.0),
            pubtime: self.pubtime.as_ref().map(|t| &*t.0),
            sig: self.sig.as_ref().map(|t| &*t.0),
        }
    }
}

#[derive(serde::Deserialize)]
struct FastDep<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow)]
    req: Text<'a>,
    #[serde(rename = "features")]
    _features: StringList,
    optional: bool,
    #[serde(rename = "default_features")]
    _default_features: bool,
    #[serde(rename = "target", default)]
    _target: Option<AnyString>,
    #[serde(default)]
    kind: Option<Kind>,
    #[serde(default)]
    registry: Option<AnyString>,
    #[serde(default, borrow)]
    package: Option<Text<'a>>,
}

impl FastDep<'_> {
    fn view(&self) -> DepView<'_> {
        DepView {
            name: Some(&self.name.0),
            req: Some(&self.req.0),
            package: self.package.as_ref().map(|t| &*t.0),
            registry: self.registry.is_some(),
            required: entry::is_required(
                match self.kind {
                    Some(Kind::Dev) => DepKind::Dev,
                    Some(Kind::Build) => DepKind::Build,
                    Some(Kind::Normal) | None => DepKind::Normal,
                },
                self.optional,
            ),
        }
    }
}

/// The dependency kinds the schema allows (null and missing mean normal).
#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Normal,
    Dev,
    Build,
}

/// An optional field that, when present, must not be null.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// A string, borrowed from the line unless it has escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(TextVisitor(PhantomData))
    }
}

/// Any string: its type is checked, its value not kept.
struct AnyString;

impl<'de> Deserialize<'de> for AnyString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnyStringVisitor;
        impl Visitor<'_> for AnyStringVisitor {
            type Value = AnyString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<AnyString, E> {
                Ok(AnyString)
            }
        }
        deserializer.deserialize_str(AnyStringVisitor)
    }
}

/// An array of strings, checked and not kept.
struct StringList;

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StringListVisitor;
        impl<'de> Visitor<'de> for StringListVisitor {
            type Value = StringList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StringList, A::Error> {
                while seq.next_element::<AnyString>()?.is_some() {}
                Ok(StringList)
            }
        }
        deserializer.deserialize_seq(StringListVisitor)
    }
}

/// A feature table (feature name → array of strings), checked and not kept.
struct FeatureMap;

impl<'de> Deserialize<'de> for FeatureMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FeatureMapVisitor;
        impl<'de> Visitor<'de> for FeatureMapVisitor {
            type Value = FeatureMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string arrays")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FeatureMap, A::Error> {
                while map.next_entry::<IgnoredAny, StringList>()?.is_some() {}
                Ok(FeatureMap)
            }
        }
        deserializer.deserialize_map(FeatureMapVisitor)
    }
}

// ---- The slow path: the same types, field by field, with messages. ----

/// A JSON type the schema asks for.
#[derive(Debug, Clone, Copy)]
enum Shape {
    String,
    StringOrNull,
    Bool,
    StringList,
    FeatureMap,
    PositiveInteger,
    Kind,
    Array,
}

/// Whether a field must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    Required,
    Optional,
}

use Presence::{Optional, Required};

const ENTRY_FIELDS: &[(&str, Shape, Presence)] = &[
    ("name", Shape::String, Required),
    ("vers", Shape::String, Required),
    ("deps", Shape::Array, Required),
    ("cksum", Shape::String, Required),
    ("features", Shape::FeatureMap, Required),
    ("features2", Shape::FeatureMap, Optional),
    ("v", Shape::PositiveInteger, Optional),
    ("yanked", Shape::Bool, Required),
    ("links", Shape::StringOrNull, Optional),
    ("rust_version", Shape::StringOrNull, Optional),
    ("pubtime", Shape::String, Optional),
    ("description", Shape::String, Optional),
    ("keywords", Shape::StringList, Optional),
    ("categories", Shape::StringList, Optional),
    ("license", Shape::String, Optional),
    ("repository", Shape::String, Optional),
    ("sig", Shape::String, Optional),
];

const DEP_FIELDS: &[(&str, Shape, Presence)] = &[
    ("name", Shape::String, Required),
    ("req", Shape::String, Required),
    ("features", Shape::StringList, Required),
    ("optional", Shape::Bool, Required),
    ("default_features", Shape::Bool, Required),
    ("target", Shape::StringOrNull, Optional),
    ("kind", Shape::Kind, Optional),
    ("registry", Shape::StringOrNull, Optional),
    ("package", Shape::StringOrNull, Optional),
];

/// Every field of an entry and of its dependencies against the schema's
/// types: the slow path's counterpart of the fast path's serde types.
fn check_entry_shapes(object: &Map<String, Value>, problems: &mut Vec<Problem>) {
    check_shapes(object, ENTRY_FIELDS, "", problems);
    for (i, dep) in object
        .get("deps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match dep.as_object() {
            Some(dep) => check_shapes(dep, DEP_FIELDS, &format!("deps[{i}]."), problems),
            None => problems.push((
                FindingKind::WrongType,
                format!("`deps[{i}]` must be an object, found {}", type_name(dep)),
            )),
        }
    }
}

fn check_shapes(
    object: &Map<String, Value>,
    fields: &[(&str, Shape, Presence)],
    prefix: &str,
    problems: &mut Vec<Problem>,
) {
    for &(field, shape, presence) in fields {
        match object.get(field) {
            None if presence == Required => problems.push((
                FindingKind::MissingField,
                format!("required field `{prefix}{field}` is missing"),
            )),
            None => {}
            Some(value) => {
                if let Some((kind, wanted)) = shape_problem(value, shape) {
                    problems.push((
                        kind,
                        format!("`{prefix}{field}` must be {wanted}, found {}", describe(value)),
                    ));
                }
            }
        }
    }
}

/// What is wrong with `value` for `shape`, if anything: the finding kind and
/// what was wanted.
fn shape_problem(value: &Value, shape: Shape) -> Option<(FindingKind, &'static str)> {
    let is_string_list = |v: &Value| v.as_array().is_some_and(|items| items.iter().all(Value::is_string));
    let ok = match shape {
        Shape::String => value.is_string(),
        Shape::StringOrNull => value.is_string() || value.is_null(),
        Shape::Bool => value.is_boolean(),
        Shape::Array => value.is_array(),
        Shape::StringList => is_string_list(value),
        Shape::FeatureMap => value.as_object().is_some_and(|map| map.values().all(is_string_list)),
        Shape::PositiveInteger => {
            if value.as_u64() == Some(0) {
                return Some((FindingKind::InvalidField, "an integer of 1 or more"));
            }
            value.as_u64().is_some()
        }
        Shape::Kind => match value {
            Value::Null => true,
            Value::String(kind) if matches!(kind.as_str(), "normal" | "dev" | "build") => true,
            Value::String(_) => return Some((FindingKind::InvalidField, "\"normal\", \"dev\", \"build\" or null")),
            _ => false,
        },
    };
    let wanted = match shape {
        Shape::String => "a string",
        Shape::StringOrNull => "a string or null",
        Shape::Bool => "true or false",
        Shape::Array => "an array",
        Shape::StringList => "an array of strings",
        Shape::FeatureMap => "an object whose values are arrays of strings",
        Shape::PositiveInteger => "an integer of 1 or more",
        Shape::Kind => "\"normal\", \"dev\", \"build\" or null",
    };
    (!ok).then_some((FindingKind::WrongType, wanted))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value for a message: short ones in full, long ones by type.
fn describe(value: &Value) -> String {
    let text = value.to_string();
    if text.len() <= 40 {
        format!("{} {text}", type_name(value))
    } else {
        type_name(value).to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// A line using every field of the schema, valid.
    fn complete_entry() -> Value {
        json!({
            "name": "Demo", "vers": "1.2.3-beta.1+build.5",
            "deps": [
                {"name": "base", "req": "^0.4", "features": ["x", ""], "optional": false,
                 "default_features": true, "target": null, "kind": "normal"},
                {"name": "alias", "req": ">= 1.0, < 2", "features": [], "optional": true,
                 "default_features": false, "target": "cfg(unix)", "kind": null, "registry": null, "package": "Base"},
                {"name": "elsewhere", "req": "*", "features": [], "optional": false,
                 "default_features": true, "kind": "dev", "registry": "https://example.com/index"},
                {"name": "base", "req": "0.4", "features": [], "optional": false, "default_features": true}
            ],
            "cksum": "0123456789abcdef".repeat(4),
            "features": {"default": ["std"], "std": []},
            "features2": {"serde": ["dep:serde"]},
            "v": 2, "yanked": false, "links": null, "rust_version": "1.70",
            "pubtime": "2025-03-01T12:00:00.5+01:00",
            "description": "An \"escaped\" description \u{e9}",
            "keywords": ["a"], "categories": [], "license": "MIT", "repository": "https://example.com/demo",
            "sig": signature(),
            "future_field": {"anything": [1, 2]}
        })
    }

    fn signature() -> String {
        format!(
            "untrusted comment: signed by ggen\nRW{}=\ntrusted comment: demo 1.2.3\n{}==\n",
            "A".repeat(97),
            "B".repeat(86)
        )
    }

    fn kinds_of(line: &str) -> Vec<FindingKind> {
        problems_of(line).into_iter().map(|(kind, _)| kind).collect()
    }

    fn problems_of(line: &str) -> Vec<Problem> {
        let known = HashSet::from(["base", "demo"]);
        let ctx = LineContext {
            file_name: "demo",
            known: &known,
        };
        let mut problems = Vec::new();
        check_line(line.as_bytes(), &ctx, &mut CleanDependencies::default(), &mut problems);
        problems
    }

    fn with(mutate: impl FnOnce(&mut Value)) -> String {
        let mut entry = complete_entry();
        mutate(&mut entry);
        entry.to_string()
    }

    #[test]
    fn a_complete_line_passes_and_yields_its_version() {
        let line = complete_entry().to_string();
        assert!(
            parse_fast(line.as_bytes(), &CleanDependencies::default()).is_ok(),
            "takes the fast path"
        );
        assert_eq!(problems_of(&line), vec![]);
        let known = HashSet::from(["base"]);
        let ctx = LineContext {
            file_name: "demo",
            known: &known,
        };
        let version = check_line(
            line.as_bytes(),
            &ctx,
            &mut CleanDependencies::default(),
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(version, semver::Version::parse("1.2.3-beta.1+build.5").unwrap());
    }

    #[test]
    fn every_broken_field_is_named() {
        let cases: Vec<(String, FindingKind, &str)> = vec![
            ("{not json".into(), FindingKind::InvalidJson, "not valid JSON"),
            ("[1,2]".into(), FindingKind::WrongType, "JSON object"),
            (
                with(|e| drop(e.as_object_mut().unwrap().remove("cksum"))),
                FindingKind::MissingField,
                "`cksum`",
            ),
            (
                with(|e| e["yanked"] = json!("no")),
                FindingKind::WrongType,
                "`yanked` must be true or false",
            ),
            (
                with(|e| e["features"]["std"] = json!([1])),
                FindingKind::WrongType,
                "`features`",
            ),
            (with(|e| e["v"] = json!(0)), FindingKind::InvalidField, "`v`"),
            (with(|e| e["v"] = json!(1.5)), FindingKind::WrongType, "`v`"),
            (
                with(|e| e["description"] = json!(null)),
                FindingKind::WrongType,
                "`description`",
            ),
            (
                with(|e| e["deps"][1]["kind"] = json!("weird")),
                FindingKind::InvalidField,
                "`deps[1].kind`",
            ),
            (
                with(|e| drop(e["deps"][0].as_object_mut().unwrap().remove("optional"))),
                FindingKind::MissingField,
                "`deps[0].optional`",
            ),
            (
                with(|e| e["deps"][2] = json!("base")),
                FindingKind::WrongType,
                "`deps[2]` must be an object",
            ),
            (
                with(|e| e["cksum"] = json!("AB".repeat(32))),
                FindingKind::BadChecksum,
                "64 lowercase hex",
            ),
            (
                with(|e| e["name"] = json!("de mo")),
                FindingKind::InvalidName,
                "`de mo`",
            ),
            (
                with(|e| e["name"] = json!("other")),
                FindingKind::NameMismatch,
                "ot/he/other",
            ),
            (with(|e| e["vers"] = json!("1.0")), FindingKind::InvalidVersion, "`1.0`"),
            (
                with(|e| e["vers"] = json!("")),
                FindingKind::InvalidField,
                "`vers` is empty",
            ),
            (
                with(|e| e["deps"][0]["req"] = json!("^0-.11.0")),
                FindingKind::BadRequirement,
                "`^0-.11.0`",
            ),
            (
                with(|e| e["deps"][0]["name"] = json!("gone")),
                FindingKind::MissingDependency,
                "`gone`",
            ),
            (
                with(|e| e["deps"][1]["package"] = json!("Gone")),
                FindingKind::MissingOptionalDependency,
                "`Gone`",
            ),
            (
                with(|e| e["pubtime"] = json!("2025-02-30T00:00:00Z")),
                FindingKind::InvalidField,
                "`pubtime`",
            ),
            (
                with(|e| e["sig"] = json!("untrusted comment: x\nRWshort=\n")),
                FindingKind::InvalidField,
                "minisign",
            ),
            (
                complete_entry()
                    .to_string()
                    .replacen("\"yanked\":false", "\"yanked\":false,\"yanked\":true", 1),
                FindingKind::InvalidEntry,
                "duplicate field",
            ),
        ];
        for (line, kind, words) in cases {
            let problems = problems_of(&line);
            assert_eq!(problems.len(), 1, "{line}: {problems:?}");
            assert_eq!(problems[0].0, kind, "{line}: {problems:?}");
            assert!(
                problems[0].1.contains(words),
                "{:?} should mention {words}",
                problems[0].1
            );
        }
    }

    #[test]
    fn a_missing_kind_means_normal_and_a_foreign_registry_is_not_looked_up() {
        let line = with(|e| {
            e["deps"][0].as_object_mut().unwrap().remove("kind");
            e["deps"][2]["name"] = json!("nowhere-here");
        });
        assert_eq!(kinds_of(&line), vec![]);
    }

    #[test]
    fn dependency_targets_are_looked_up_lowercased() {
        assert_eq!(kinds_of(&with(|e| e["deps"][0]["name"] = json!("BASE"))), vec![]);
    }

    #[test]
    fn rfc3339_date_times() {
        for ok in [
            "2019-11-10T00:00:00Z",
            "2024-02-29T23:59:60.123z",
            "2025-03-01t12:00:00-05:30",
        ] {
            assert!(is_rfc3339_date_time(ok), "{ok}");
        }
        for bad in [
            "2019-11-10",
            "2019-11-10 00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2019-13-01T00:00:00Z",
            "2019-11-10T24:00:00Z",
            "2019-11-10T00:00:00",
            "2019-11-10T00:00:00.Z",
            "2019-11-10T00:00:00+0100",
            "2016-12-31T23:59:60+01:00",
        ] {
            assert!(!is_rfc3339_date_time(bad), "{bad}");
        }
    }

    #[test]
    fn minisign_signature_shape() {
        assert!(is_minisign_signature(&signature()));
        assert!(is_minisign_signature(signature().trim_end()));
        assert!(!is_minisign_signature(&signature().replace("RW", "RX")));
        assert!(!is_minisign_signature(&signature().replacen('A', "*", 1)));
        assert!(!is_minisign_signature(&format!("{}extra\n", signature())));
    }

    /// Values of every JSON type, to put in place of a field.
    fn any_value() -> impl Strategy<Value = Value> {
        prop::sample::select(vec![
            json!(null),
            json!(true),
            json!(0),
            json!(1),
            json!(-1),
            json!(1.5),
            json!(""),
            json!("normal"),
            json!("weird"),
            json!([]),
            json!(["x"]),
            json!([1]),
            json!({}),
            json!({"a": ["x"]}),
            json!({"a": [1]}),
            json!({"a": "x"}),
        ])
    }

    /// The entry schema, with `format` checked (`pubtime` is a date-time).
    fn schema() -> &'static jsonschema::Validator {
        static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
        SCHEMA.get_or_init(|| {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/index-entry.schema.json");
            let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .unwrap()
        })
    }

    /// The finding kinds that stand for a schema rule; the others are rules
    /// beyond the schema (file name, semver, requirements, dependencies).
    fn breaks_schema(kind: FindingKind) -> bool {
        matches!(
            kind,
            FindingKind::InvalidJson
                | FindingKind::MissingField
                | FindingKind::WrongType
                | FindingKind::InvalidField
                | FindingKind::InvalidName
                | FindingKind::BadChecksum
        )
    }

    /// Values that probe the schema's value rules (patterns, lengths,
    /// formats, enums) as well as its types.
    fn schema_probe() -> impl Strategy<Value = Value> {
        prop_oneof![
            any_value(),
            prop::sample::select(vec![
                json!("Bad Name"),
                json!("a..b"),
                json!("io.ggen.x"),
                json!("UPPER_ok-1"),
                json!("AB".repeat(32)),
                json!("ab".repeat(32)),
                json!("ab".repeat(31)),
                json!("2025-03-01T12:00:00Z"),
                json!("2025-02-30T00:00:00Z"),
                json!("2025-03-01 12:00:00"),
                json!(signature()),
                json!(signature().replace("RW", "RX")),
                json!("dev"),
                json!("build"),
                json!(["dep:x", ""]),
            ]),
        ]
    }

    /// Hand-made lines, one rule broken in each, judged by the JSON Schema.
    #[test]
    fn typed_checks_agree_with_the_json_schema_on_hand_made_lines() {
        let lines = [
            complete_entry(),
            json!({"name": "demo", "vers": "1.0.0", "deps": [], "cksum": "ab".repeat(32), "features": {}, "yanked": false}),
            json!({"name": "demo", "vers": "1.0.0", "deps": [], "cksum": "ab".repeat(32), "features": {}}),
            json!({"name": "demo", "vers": "", "deps": [], "cksum": "ab".repeat(32), "features": {}, "yanked": false}),
            json!({"name": "de/mo", "vers": "1.0.0", "deps": [], "cksum": "ab".repeat(32), "features": {}, "yanked": false}),
            json!({"name": "demo", "vers": "1.0.0", "deps": [{"name": "base", "req": ""}], "cksum": "ab".repeat(32), "features": {}, "yanked": false}),
            json!({"name": "demo", "vers": "1.0.0", "deps": [], "cksum": "ab".repeat(32), "features": {"a": "b"}, "yanked": false}),
            json!({"name": "demo", "vers": "1.0.0", "deps": [], "cksum": "ab".repeat(32), "features": {}, "yanked": false, "v": 0}),
            json!({"name": "demo", "vers": "1.0.0", "deps": [], "cksum": "ab".repeat(32), "features": {}, "yanked": false, "pubtime": "yesterday"}),
            json!({"name": "demo", "vers": "1.0.0", "deps": [], "cksum": "ab".repeat(32), "features": {}, "yanked": false, "keywords": "web"}),
            json!([1, 2]),
            json!("just a string"),
        ];
        for line in lines {
            let problems = problems_of(&line.to_string());
            let ours = problems.iter().any(|(kind, _)| breaks_schema(*kind));
            assert_eq!(!schema().is_valid(&line), ours, "{line}: {problems:?}");
        }
    }

    /// A complete entry with one field (of the entry, or of its first
    /// dependency when `in_dep`) removed (`None`) or replaced.
    fn with_field_changed(in_dep: bool, field: usize, replacement: Option<Value>) -> Value {
        let mut entry = complete_entry();
        let (target, fields) = if in_dep {
            (&mut entry["deps"][0], DEP_FIELDS)
        } else {
            (&mut entry, ENTRY_FIELDS)
        };
        let name = fields[field % fields.len()].0;
        let object = target.as_object_mut().unwrap();
        match replacement {
            Some(value) => {
                object.insert(name.to_owned(), value);
            }
            None => {
                object.remove(name);
            }
        }
        entry
    }

    proptest! {
        /// For any field of an entry or of a dependency, removed or given
        /// a probing value, the typed checks find a schema problem exactly
        /// when the JSON Schema (an independent implementation of the
        /// same rules) refuses the line.
        #[test]
        fn typed_checks_agree_with_the_json_schema(
            in_dep in any::<bool>(),
            field in 0usize..ENTRY_FIELDS.len().max(DEP_FIELDS.len()),
            replacement in prop::option::of(schema_probe()),
        ) {
            let entry = with_field_changed(in_dep, field, replacement);
            let problems = problems_of(&entry.to_string());
            let ours = problems.iter().any(|(kind, _)| breaks_schema(*kind));
            prop_assert_eq!(!schema().is_valid(&entry), ours, "{} {:?}", entry, problems);
        }

        /// Our RFC 3339 check against the schema validator's `date-time`
        /// format on date-like strings, valid and not.
        #[test]
        fn date_times_agree_with_the_json_schema_format(
            text in "[0-9]{4}-[0-1][0-9]-[0-3][0-9][Tt ]([0-2][0-9]:[0-6][0-9]|23:59|1[89]:59|0[0-2]:59):(60|[0-6][0-9])(\\.[0-9]{1,3})?(Z|z|[+-]0[0-5]:(00|30)|[+-][0-2][0-9]:[0-6][0-9]|)"
        ) {
            let instance = json!({"name": "demo", "vers": "1.0.0", "deps": [], "cksum": "ab".repeat(32), "features": {}, "yanked": false, "pubtime": text});
            prop_assert_eq!(schema().is_valid(&instance), is_rfc3339_date_time(&text), "{}", text);
        }
    }

    proptest! {
        /// The fast path (serde types) and the slow path (the field table)
        /// are two statements of the same schema types: for any field of an
        /// entry or of a dependency, removed or replaced by a value of any
        /// type, serde accepts the line exactly when the walk finds nothing.
        #[test]
        fn fast_and_slow_paths_agree_on_types(
            in_dep in any::<bool>(),
            field in 0usize..ENTRY_FIELDS.len().max(DEP_FIELDS.len()),
            replacement in prop::option::of(any_value()),
        ) {
            let entry = with_field_changed(in_dep, field, replacement);
            let line = entry.to_string();
            let fast_ok = parse_fast(line.as_bytes(), &CleanDependencies::default()).is_ok();
            let mut problems = Vec::new();
            check_entry_shapes(entry.as_object().unwrap(), &mut problems);
            prop_assert_eq!(fast_ok, problems.is_empty(), "{} {:?}", line, problems);
        }
    }
}
