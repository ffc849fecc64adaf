//! `search`: find packages by name, keyword, category or description.
//!
//! Ranking: exact name, then name prefix, then name substring, then keyword,
//! then description; names compare ignoring case and treating `-` and `_`
//! alike, and within a kind hits are ordered by name ignoring case. Each hit shows the newest version that is not yanked; packages
//! whose every version is yanked are not shown.
//!
//! ```
//! use ggen_marketplace::sources::local::LocalSource;
//! use ggen_marketplace::workflows::search::{search, SearchQuery, MatchKind};
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("config.json"), r#"{"dl":"a/{crate}"}"#).unwrap();
//! for (name, desc) in [("axum", "web framework"), ("axum-extra", "extras"), ("tower", "for axum users")] {
//!     let path = dir.path().join(ggen_marketplace::format::name::index_path(name));
//!     std::fs::create_dir_all(path.parent().unwrap()).unwrap();
//!     std::fs::write(&path, format!(r#"{{"name":"{name}","vers":"1.0.0","deps":[],"cksum":"00","features":{{}},"yanked":false,"description":"{desc}"}}"#)).unwrap();
//! }
//! let source = LocalSource::open(dir.path()).unwrap();
//! let found = search(&source, &SearchQuery::text("axum")).unwrap();
//! let ranked: Vec<_> = found.hits.iter().map(|h| (h.name.as_str(), h.matched)).collect();
//! assert_eq!(ranked, [("axum", MatchKind::ExactName), ("axum-extra", MatchKind::NamePrefix), ("tower", MatchKind::Description)]);
//! ```

use rayon::prelude::*;
use serde::Serialize;

use crate::format::IndexEntry;
use crate::format::name::confusable_key;
use crate::sources::{PackageSource, SourceError};
use crate::workflows::info::{Deprecation, deprecation};

/// What to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// Free text matched against names, keywords and descriptions; empty
    /// matches everything (to list by keyword or category).
    pub text: String,
    /// Only packages with this keyword.
    pub keyword: Option<String>,
    /// Only packages in this category.
    pub category: Option<String>,
    /// At most this many hits.
    pub limit: usize,
}

impl SearchQuery {
    /// A plain text query with the default limit of 20.
    pub fn text(text: &str) -> Self {
        SearchQuery {
            text: text.to_owned(),
            keyword: None,
            category: None,
            limit: 20,
        }
    }

    fn has_filters(&self) -> bool {
        self.keyword.is_some() || self.category.is_some()
    }
}

/// How a package matched, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The name is the query.
    ExactName,
    /// The name starts with the query.
    NamePrefix,
    /// The name contains the query.
    NameSubstring,
    /// A keyword equals or contains the query.
    Keyword,
    /// The description contains the query.
    Description,
}

/// One package found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchHit {
    /// Package name as published.
    pub name: String,
    /// Newest non-yanked version.
    pub version: String,
    /// That version's description.
    pub description: Option<String>,
    /// That version's keywords.
    pub keywords: Vec<String>,
    /// How it matched.
    pub matched: MatchKind,
    /// The deprecation its owners signed, if any.
    pub deprecated: Option<Deprecation>,
}

/// The outcome of a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchResults {
    /// Hits, best first, at most `limit`.
    pub hits: Vec<SearchHit>,
    /// False when the source could only search part of the index (a sparse
    /// index searches what is cached).
    pub complete: bool,
}

/// Searches `source`.
pub fn search(source: &dyn PackageSource, query: &SearchQuery) -> Result<SearchResults, SourceError> {
    let listing = source.searchable_names()?;
    let needle = confusable_key(query.text.trim());
    let by_name = name_matches(&listing.names, &needle);
    let top_by_name = if query.has_filters() {
        None
    } else {
        top_name_hits(source, &by_name, &needle, query)?
    };
    let mut hits = match top_by_name {
        Some(hits) => hits,
        None => hits_among(source, &listing.names.iter().collect::<Vec<_>>(), &needle, query)?,
    };
    sort_best_first(&mut hits);
    hits.truncate(query.limit);
    for hit in &mut hits {
        hit.deprecated = deprecation(source, &hit.name)?;
    }
    Ok(SearchResults {
        hits,
        complete: listing.complete,
    })
}

/// Name matches outrank every other kind, so when enough of them are shown
/// to fill the page (a package whose every version is yanked is not) and no
/// filter needs the entries, only their files have to be read: a page at a
/// time, best first, until the page is full. `None` if it never fills.
fn top_name_hits(
    source: &dyn PackageSource,
    by_name: &[(MatchKind, &String)],
    needle: &str,
    query: &SearchQuery,
) -> Result<Option<Vec<SearchHit>>, SourceError> {
    let mut hits = Vec::new();
    for page in by_name.chunks(query.limit.max(1)) {
        let names: Vec<&String> = page.iter().map(|(_, name)| *name).collect();
        hits.extend(hits_among(source, &names, needle, query)?);
        // Every later candidate ranks below every hit so far.
        if hits.len() >= query.limit {
            return Ok(Some(hits));
        }
    }
    Ok(None)
}

fn hits_among(
    source: &dyn PackageSource,
    names: &[&String],
    needle: &str,
    query: &SearchQuery,
) -> Result<Vec<SearchHit>, SourceError> {
    Ok(names
        .par_iter()
        .map(|name| hit_for(source, name, needle, query))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect())
}

/// By match kind, then by name ignoring case: the order of the (lowercase)
/// file names `name_matches` ranks candidates by, so reading only the first
/// candidates finds the same hits as reading them all.
fn sort_best_first(hits: &mut [SearchHit]) {
    hits.sort_by_cached_key(|hit| (hit.matched, hit.name.to_lowercase(), hit.name.clone()));
}

fn name_matches<'a>(names: &'a [String], needle: &str) -> Vec<(MatchKind, &'a String)> {
    let mut matches: Vec<_> = names
        .iter()
        .filter_map(|n| name_match(n, needle).map(|kind| (kind, n)))
        .collect();
    matches.sort();
    matches
}

fn name_match(name: &str, needle: &str) -> Option<MatchKind> {
    let key = confusable_key(name);
    if key == needle {
        Some(MatchKind::ExactName)
    } else if key.starts_with(needle) {
        Some(MatchKind::NamePrefix)
    } else if key.contains(needle) {
        Some(MatchKind::NameSubstring)
    } else {
        None
    }
}

fn hit_for(
    source: &dyn PackageSource,
    file_name: &str,
    needle: &str,
    query: &SearchQuery,
) -> Result<Option<SearchHit>, SourceError> {
    let Some(text) = source.read_package_file(file_name)? else {
        return Ok(None);
    };
    // A damaged line must not hide the rest of the package from search.
    let newest = IndexEntry::parse_file(&text)
        .filter_map(|(_, parsed)| parsed.ok())
        .filter(|entry| !entry.yanked)
        .filter_map(|entry| entry.version().ok().map(|v| (v, entry)))
        .max_by(|a, b| a.0.cmp(&b.0));
    let Some((_, entry)) = newest else {
        return Ok(None);
    };
    if !passes_filters(&entry, query) {
        return Ok(None);
    }
    let matched = name_match(&entry.name, needle).or_else(|| text_match(&entry, &query.text));
    Ok(matched.map(|matched| SearchHit {
        name: entry.name,
        version: entry.vers,
        description: entry.description,
        keywords: entry.keywords,
        matched,
        deprecated: None,
    }))
}

fn passes_filters(entry: &IndexEntry, query: &SearchQuery) -> bool {
    let has = |list: &[String], wanted: &Option<String>| {
        wanted
            .as_ref()
            .is_none_or(|w| list.iter().any(|item| item.eq_ignore_ascii_case(w)))
    };
    has(&entry.keywords, &query.keyword) && has(&entry.categories, &query.category)
}

fn text_match(entry: &IndexEntry, text: &str) -> Option<MatchKind> {
    let text = text.trim().to_lowercase();
    if entry.keywords.iter().any(|k| k.to_lowercase().contains(&text)) {
        Some(MatchKind::Keyword)
    } else if entry
        .description
        .as_ref()
        .is_some_and(|d| d.to_lowercase().contains(&text))
    {
        Some(MatchKind::Description)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::local::LocalSource;

    fn index(entries: &[(&str, &str, bool, &[&str], &str)]) -> (tempfile::TempDir, LocalSource) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"dl":"a/{crate}"}"#).unwrap();
        for (name, vers, yanked, keywords, desc) in entries {
            let path = dir.path().join(crate::format::name::index_path(name));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let line = serde_json::json!({"name": name, "vers": vers, "deps": [], "cksum": "00", "features": {},
                "yanked": yanked, "keywords": keywords, "description": desc, "categories": ["templates"]});
            let mut text = std::fs::read_to_string(&path).unwrap_or_default();
            text.push_str(&format!("{line}\n"));
            std::fs::write(&path, text).unwrap();
        }
        let source = LocalSource::open(dir.path()).unwrap();
        (dir, source)
    }

    #[test]
    fn shows_newest_non_yanked_and_hides_fully_yanked() {
        let (_dir, source) = index(&[
            ("web", "1.0.0", false, &[], "a"),
            ("web", "2.0.0", true, &[], "b"),
            ("web", "1.5.0", false, &[], "c"),
            ("webgone", "1.0.0", true, &[], "d"),
        ]);
        let found = search(&source, &SearchQuery::text("web")).unwrap();
        assert_eq!(found.hits.len(), 1);
        assert_eq!(found.hits[0].version, "1.5.0");
        assert_eq!(found.hits[0].description.as_deref(), Some("c"));
    }

    #[test]
    fn filters_and_ranks_every_kind() {
        let (_dir, source) = index(&[
            ("io.ggen.rust", "1.0.0", false, &["rust"], "Rust base"),
            ("rust_cli", "1.0.0", false, &["cli"], "clap"),
            ("my-rust-web", "1.0.0", false, &["web"], "axum"),
            ("serde-like", "1.0.0", false, &["rust-serde"], "codecs"),
            ("docs", "1.0.0", false, &["book"], "for rust projects"),
            ("unrelated", "1.0.0", false, &["x"], "nothing"),
        ]);
        let found = search(&source, &SearchQuery::text("rust")).unwrap();
        let kinds: Vec<_> = found.hits.iter().map(|h| (h.name.as_str(), h.matched)).collect();
        assert_eq!(
            kinds,
            [
                ("rust_cli", MatchKind::NamePrefix),
                ("io.ggen.rust", MatchKind::NameSubstring),
                ("my-rust-web", MatchKind::NameSubstring),
                ("serde-like", MatchKind::Keyword),
                ("docs", MatchKind::Description),
            ]
        );
        let mut by_keyword = SearchQuery::text("");
        by_keyword.keyword = Some("CLI".into());
        let found = search(&source, &by_keyword).unwrap();
        assert_eq!(
            found.hits.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
            ["rust_cli"]
        );
        let mut limited = SearchQuery::text("rust");
        limited.limit = 2;
        let found = search(&source, &limited).unwrap();
        assert_eq!(found.hits.len(), 2);
        assert!(found.complete);
    }

    #[test]
    fn a_hidden_name_match_does_not_shorten_the_page() {
        let (_dir, source) = index(&[
            ("web", "1.0.0", false, &[], "a"),
            ("web-a", "1.0.0", true, &[], "every version yanked"),
            ("web-b", "1.0.0", false, &[], "b"),
            ("web-c", "1.0.0", false, &[], "c"),
            ("other", "1.0.0", false, &["web"], "keyword match"),
        ]);
        let mut query = SearchQuery::text("web");
        query.limit = 3;
        let found = search(&source, &query).unwrap();
        let names: Vec<_> = found.hits.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["web", "web-b", "web-c"]);
        query.limit = 4;
        let found = search(&source, &query).unwrap();
        let names: Vec<_> = found.hits.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["web", "web-b", "web-c", "other"]);
    }

    #[test]
    fn hits_of_one_kind_are_ordered_ignoring_case_whatever_the_limit() {
        let (_dir, source) = index(&[
            ("app-b", "1.0.0", false, &[], "x"),
            ("App-C", "1.0.0", false, &[], "x"),
            ("app-a", "1.0.0", false, &[], "x"),
        ]);
        let full = search(&source, &SearchQuery::text("app")).unwrap();
        let names: Vec<_> = full.hits.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["app-a", "app-b", "App-C"]);
        for limit in 1..=3 {
            let mut query = SearchQuery::text("app");
            query.limit = limit;
            assert_eq!(
                search(&source, &query).unwrap().hits,
                full.hits[..limit],
                "limit {limit}"
            );
        }
    }

    #[test]
    fn separators_and_case_do_not_matter_for_names() {
        let (_dir, source) = index(&[("Foo_Bar", "1.0.0", false, &[], "x")]);
        let found = search(&source, &SearchQuery::text("foo-bar")).unwrap();
        assert_eq!(found.hits[0].matched, MatchKind::ExactName);
        assert_eq!(found.hits[0].name, "Foo_Bar");
    }
}
