//! The registry URLs a git index may be given by, and what each one means for
//! fetching and for resolving a relative `dl`.

use std::path::{Path, PathBuf};

use super::super::SourceError;

/// A git index's location: as the user wrote it, as gix fetches it, and the
/// base a relative `dl` resolves against.
#[derive(Debug, Clone)]
pub(super) struct GitUrl {
    /// The location exactly as given, for messages.
    pub given: String,
    /// What gix connects to.
    pub fetch: gix::Url,
    /// The index's own location: the URL without `git+` for http(s) and
    /// git://, the repository's directory for `file://` and plain paths.
    pub download_base: String,
}

impl GitUrl {
    /// Accepts `git+https://…`, `git+http://…` (and the same without
    /// `git+`), `git://…`, `file://…` and a path to a repository; relative
    /// paths are made absolute so the clone does not depend on the current
    /// directory.
    pub fn parse(given: &str) -> Result<Self, SourceError> {
        let invalid = |reason: &str| SourceError::BadUrl {
            url: given.to_owned(),
            reason: reason.to_owned(),
        };
        let after_git_plus = given.strip_prefix("git+");
        if after_git_plus.is_some_and(|rest| !(rest.starts_with("http://") || rest.starts_with("https://"))) {
            return Err(invalid("`git+` must be followed by http:// or https://"));
        }
        let location = after_git_plus.unwrap_or(given);
        let (fetch, download_base) = match location.split_once("://") {
            Some(("http" | "https" | "git", _)) => {
                let url = gix::Url::try_from(location).map_err(|e| invalid(&e.to_string()))?;
                (url, location.to_owned())
            }
            Some(("file", _)) => {
                let url = gix::Url::try_from(location).map_err(|e| invalid(&e.to_string()))?;
                let path = gix::path::from_bstr(&url.path).map_err(|e| invalid(&e.to_string()))?;
                let base = path.display().to_string();
                (url, base)
            }
            Some((scheme, _)) => {
                return Err(invalid(&format!(
                    "`{scheme}://` is not a git index location; use git+https://, git+http://, git://, \
                     file:// or a path"
                )));
            }
            None => {
                let path = absolute(Path::new(given)).map_err(|e| invalid(&e.to_string()))?;
                let url = gix::Url::try_from(path.as_path()).map_err(|e| invalid(&e.to_string()))?;
                (url, path.display().to_string())
            }
        };
        Ok(GitUrl {
            given: given.to_owned(),
            fetch,
            download_base,
        })
    }
}

fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    if path.as_os_str().is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty path"));
    }
    std::path::absolute(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_git_plus_from_http_urls() {
        let url = GitUrl::parse("git+https://example.com/reg/index.git").unwrap();
        assert_eq!(url.fetch.scheme, gix::url::Scheme::Https);
        assert_eq!(url.download_base, "https://example.com/reg/index.git");
        assert_eq!(url.given, "git+https://example.com/reg/index.git");
        let plain = GitUrl::parse("http://127.0.0.1:8080/git/index").unwrap();
        assert_eq!(plain.fetch.scheme, gix::url::Scheme::Http);
        assert_eq!(plain.fetch.port, Some(8080));
    }

    #[test]
    fn git_daemon_urls_keep_their_scheme() {
        let url = GitUrl::parse("git://127.0.0.1:9418/index.git").unwrap();
        assert_eq!(url.fetch.scheme, gix::url::Scheme::Git);
        assert_eq!(url.download_base, "git://127.0.0.1:9418/index.git");
    }

    #[test]
    fn file_urls_and_paths_resolve_against_the_repository_directory() {
        let url = GitUrl::parse("file:///srv/registry/index.git").unwrap();
        assert_eq!(url.fetch.scheme, gix::url::Scheme::File);
        assert_eq!(url.download_base, "/srv/registry/index.git");

        let relative = GitUrl::parse("some/index").unwrap();
        assert_eq!(relative.fetch.scheme, gix::url::Scheme::File);
        let expected = std::env::current_dir().unwrap().join("some/index");
        assert_eq!(relative.download_base, expected.display().to_string());
    }

    #[test]
    fn refuses_other_schemes_with_the_accepted_forms() {
        for bad in [
            "sparse+https://x/index/",
            "ssh://host/x.git",
            "git+file:///x",
            "git+ssh://h/x",
            "",
        ] {
            let err = GitUrl::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err} names the URL");
        }
        let err = GitUrl::parse("ftp://host/x").unwrap_err().to_string();
        assert!(err.contains("git+https://"), "{err} lists the accepted forms");
    }
}
