//! What a served file says about itself: its content type, and the
//! validators (ETag, Last-Modified) a client revalidates with.

use std::fs::Metadata;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::format::name::index_path;
use crate::util::time::{http_date, parse_http_date};

/// The content type of the file at `relative` (`/`-separated). Package
/// files and owner-keys files are JSON lines, so text; their names carry
/// dots (`io.ggen.rust.axum`) that are not extensions, so they are
/// recognised by lying at their own shard path.
pub(crate) fn content_type(relative: &str) -> &'static str {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    let index_file = relative.strip_prefix("_keys/").unwrap_or(relative);
    if index_file == index_path(name) {
        return "text/plain; charset=utf-8";
    }
    let lower = name.to_ascii_lowercase();
    let types: &[(&str, &str)] = &[
        (".json", "application/json"),
        (".tar.gz", "application/gzip"),
        (".tgz", "application/gzip"),
        (".crate", "application/gzip"),
        (".gz", "application/gzip"),
        (".tar", "application/x-tar"),
        (".toml", "application/toml"),
        (".md", "text/markdown; charset=utf-8"),
        (".txt", "text/plain; charset=utf-8"),
        (".minisig", "text/plain; charset=utf-8"),
        (".pub", "text/plain; charset=utf-8"),
        (".yml", "text/plain; charset=utf-8"),
        (".yaml", "text/plain; charset=utf-8"),
        (".sh", "text/plain; charset=utf-8"),
        (".html", "text/html; charset=utf-8"),
        (".css", "text/css"),
        (".js", "text/javascript"),
        (".svg", "image/svg+xml"),
        (".png", "image/png"),
    ];
    types
        .iter()
        .find(|(suffix, _)| lower.ends_with(suffix))
        .map_or("application/octet-stream", |(_, kind)| kind)
}

/// A file's validators: a strong ETag from its size and modification time
/// (nanoseconds), which changes whenever a write replaces the file, without
/// reading it; and its Last-Modified time (whole seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validators {
    pub etag: String,
    pub modified: SystemTime,
}

impl Validators {
    pub fn of(meta: &Metadata) -> Validators {
        let modified = meta.modified().unwrap_or(UNIX_EPOCH);
        let since = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        Validators {
            etag: format!("\"{:x}-{:x}.{:x}\"", meta.len(), since.as_secs(), since.subsec_nanos()),
            modified,
        }
    }

    pub fn last_modified(&self) -> String {
        http_date(self.modified)
    }

    /// Whether a conditional request may be answered 304 Not Modified:
    /// `If-None-Match` decides when present (weak comparison, `*` matches);
    /// otherwise `If-Modified-Since`, if it is a valid date.
    pub fn not_modified(&self, if_none_match: Option<&str>, if_modified_since: Option<&str>) -> bool {
        if let Some(tags) = if_none_match {
            let ours = self.etag.trim_start_matches("W/");
            return tags
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours);
        }
        match if_modified_since.and_then(parse_http_date) {
            Some(since) => {
                let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
                secs(self.modified) <= secs(since)
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn content_types() {
        for (path, kind) in [
            ("config.json", "application/json"),
            ("io/.g/io.ggen.rust.axum", "text/plain; charset=utf-8"),
            ("_keys/io/.g/io.ggen.rust.axum", "text/plain; charset=utf-8"),
            ("3/s/syn", "text/plain; charset=utf-8"),
            ("1/a", "text/plain; charset=utf-8"),
            ("se/rd/serde.json", "text/plain; charset=utf-8"),
            ("archives/io.ggen.base/io.ggen.base-1.0.0.tar.gz", "application/gzip"),
            ("crates/serde/serde-1.0.0.crate", "application/gzip"),
            ("mirror.toml", "application/toml"),
            ("README.md", "text/markdown; charset=utf-8"),
            ("io/.g/other-name", "application/octet-stream"),
            ("blob", "application/octet-stream"),
        ] {
            assert_eq!(content_type(path), kind, "{path}");
        }
    }

    fn validators(secs: u64, nanos: u32) -> Validators {
        let modified = UNIX_EPOCH + Duration::new(secs, nanos);
        Validators {
            etag: "\"5-1.2\"".into(),
            modified,
        }
    }

    #[test]
    fn conditional_requests() {
        let v = validators(1_000_000, 500);
        let date = v.last_modified();
        assert!(v.not_modified(Some("\"5-1.2\""), None));
        assert!(v.not_modified(Some("\"a\", W/\"5-1.2\""), None));
        assert!(v.not_modified(Some("*"), None));
        assert!(!v.not_modified(Some("\"5-1.3\""), Some(&date)), "If-None-Match decides");
        assert!(v.not_modified(None, Some(&date)), "sub-second part ignored");
        assert!(!v.not_modified(None, Some(&http_date(UNIX_EPOCH + Duration::from_secs(999_999)))));
        assert!(!v.not_modified(None, Some("not a date")));
        assert!(!v.not_modified(None, None));
    }

    #[test]
    fn etags_change_with_size_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "one").unwrap();
        let first = Validators::of(&std::fs::metadata(&path).unwrap());
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(UNIX_EPOCH + Duration::new(7, 8)).unwrap();
        let touched = Validators::of(&std::fs::metadata(&path).unwrap());
        assert_eq!(touched.etag, "\"3-7.8\"");
        assert_ne!(first, touched);
    }
}
