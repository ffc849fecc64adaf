//! From a request target to a file under the root, or a refusal.
//!
//! The target is split on `/` *before* percent-decoding, so `%2f` can never
//! make a separator, and every decoded segment must be a plain file name:
//! not empty, not `.` or `..`, without `/`, `\` or NUL, valid UTF-8. The
//! file is then found by joining those segments to the root and resolving
//! symlinks; the result must still lie under the root. Any `.git` segment,
//! requested or reached through a symlink, is hidden (404); other dot
//! names are served, since package shards live in `io/.g/…`.

use std::path::{Path, PathBuf};

/// Why a request target does not name a servable file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A malformed or dangerous target: 400.
    BadRequest(&'static str),
    /// Nothing to serve there (absent, hidden, a directory, outside): 404.
    NotFound,
}

/// The decoded segments of an origin-form target (`/a/b?query`), checked
/// as the module docs say. A trailing `/` names a directory, which is never
/// served.
pub(crate) fn segments(target: &str) -> Result<Vec<String>, Refusal> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let Some(path) = path.strip_prefix('/') else {
        return Err(Refusal::BadRequest("the request target must start with `/`"));
    };
    let raw: Vec<&str> = path.split('/').collect();
    let mut out = Vec::with_capacity(raw.len());
    for (i, segment) in raw.iter().enumerate() {
        if segment.is_empty() {
            if i + 1 == raw.len() {
                return Err(Refusal::NotFound); // a directory
            }
            return Err(Refusal::BadRequest("empty path segment"));
        }
        let decoded = percent_decode(segment).ok_or(Refusal::BadRequest("bad percent-encoding"))?;
        let decoded = String::from_utf8(decoded).map_err(|_| Refusal::BadRequest("path is not UTF-8"))?;
        if decoded.contains(['/', '\\', '\0']) {
            return Err(Refusal::BadRequest("encoded separator or NUL in the path"));
        }
        if decoded == "." || decoded == ".." {
            return Err(Refusal::BadRequest("`.` or `..` in the path"));
        }
        if is_git_dir(&decoded) {
            return Err(Refusal::NotFound);
        }
        out.push(decoded);
    }
    Ok(out)
}

/// The regular file `segments` name under `root` (which must be canonical),
/// symlinks resolved, if it lies under the root and outside any `.git`.
pub(crate) fn resolve(root: &Path, segments: &[String]) -> Result<PathBuf, Refusal> {
    let mut path = root.to_owned();
    path.extend(segments);
    let real = path.canonicalize().map_err(|_| Refusal::NotFound)?;
    let inside = real.strip_prefix(root).map_err(|_| Refusal::NotFound)?;
    if inside
        .components()
        .any(|c| c.as_os_str().to_str().is_none_or(is_git_dir))
    {
        return Err(Refusal::NotFound);
    }
    Ok(real)
}

fn is_git_dir(name: &str) -> bool {
    name.eq_ignore_ascii_case(".git")
}

/// `%XX` escapes decoded; `None` for a `%` not followed by two hex digits.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(target: &str) -> Vec<String> {
        segments(target).unwrap_or_else(|e| panic!("{target}: {e:?}"))
    }

    #[test]
    fn plain_and_encoded_names() {
        assert_eq!(ok("/config.json"), ["config.json"]);
        assert_eq!(ok("/io/.g/io.ggen.rust.axum"), ["io", ".g", "io.ggen.rust.axum"]);
        assert_eq!(
            ok("/_keys/io/.g/io.ggen.base?x=1#f"),
            ["_keys", "io", ".g", "io.ggen.base"]
        );
        assert_eq!(ok("/a/b%2Bc%20d-1.0.0+meta.tar.gz"), ["a", "b+c d-1.0.0+meta.tar.gz"]);
        assert_eq!(ok("/.github/ci.yml"), [".github", "ci.yml"]);
        assert_eq!(ok("/..x/x.."), ["..x", "x.."]);
    }

    #[test]
    fn escapes_are_bad_requests() {
        for target in [
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2fetc%2fpasswd",
            "/a%2f..%2f..%2fetc",
            "/a/%2e/b",
            "/./config.json",
            "/..\\..\\etc\\passwd",
            "/a%5c..%5cb",
            "/config.json%00.txt",
            "//etc/passwd",
            "/a//b",
            "etc/passwd",
            "http://127.0.0.1/config.json",
            "*",
            "/%zz",
            "/%2",
            "/%ff%fe",
        ] {
            assert!(
                matches!(segments(target), Err(Refusal::BadRequest(_))),
                "{target}: {:?}",
                segments(target)
            );
        }
    }

    #[test]
    fn git_dirs_and_directories_are_not_found() {
        for target in ["/.git/config", "/a/.GIT/HEAD", "/%2egit/config", "/", "/io/"] {
            assert_eq!(segments(target), Err(Refusal::NotFound), "{target}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_may_not_leave_the_root_or_reach_git() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/config"), "c").unwrap();
        std::fs::write(root.join("config.json"), "{}").unwrap();
        symlink(outside.path(), root.join("out")).unwrap();
        symlink(root.join(".git"), root.join("git-alias")).unwrap();
        symlink("config.json", root.join("alias.json")).unwrap();

        let find = |target: &str| resolve(&root, &segments(target).unwrap());
        assert_eq!(find("/out/secret"), Err(Refusal::NotFound));
        assert_eq!(find("/git-alias/config"), Err(Refusal::NotFound));
        assert_eq!(find("/missing"), Err(Refusal::NotFound));
        assert_eq!(find("/alias.json"), Ok(root.join("config.json")));
        assert_eq!(find("/config.json"), Ok(root.join("config.json")));
    }
}
