//! `index init`: a new index from the built-in template.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let index = dir.path().join("my-index");
//! let created = ggen_marketplace::workflows::index_init::init(&index, Some("Acme templates"), Some("com.acme.templates")).unwrap();
//! assert!(created.files.contains(&"config.json".to_string()));
//! let config = std::fs::read_to_string(index.join("config.json")).unwrap();
//! assert!(config.contains("Acme templates") && config.contains(r#""id": "com.acme.templates""#));
//! assert_eq!(created.id, "com.acme.templates");
//! ```

use std::path::{Path, PathBuf};

use serde::Serialize;

use sha2::{Digest, Sha256};

use crate::format::CONFIG_FILE;
use crate::format::identity::{BadRegistryId, check_id};
use crate::util::fs::{FsError, write_atomic};

/// The files of `index-template/`, embedded so an installed binary needs
/// nothing beside it: (path in the index, contents, executable).
const TEMPLATE: &[(&str, &str, bool)] = &[
    (CONFIG_FILE, include_str!("../../index-template/config.json"), false),
    ("README.md", include_str!("../../index-template/README.md"), false),
    (".nojekyll", include_str!("../../index-template/.nojekyll"), false),
    (".gitignore", include_str!("../../index-template/.gitignore"), false),
    (
        ".github/workflows/index-check.yml",
        include_str!("../../index-template/.github/workflows/index-check.yml"),
        false,
    ),
    (
        ".gitlab-ci.yml",
        include_str!("../../index-template/.gitlab-ci.yml"),
        false,
    ),
    (
        "ci/check-index.sh",
        include_str!("../../index-template/ci/check-index.sh"),
        true,
    ),
    (
        "ci/check-pr.sh",
        include_str!("../../index-template/ci/check-pr.sh"),
        true,
    ),
    (
        "_keys/README.md",
        include_str!("../../index-template/_keys/README.md"),
        false,
    ),
];

/// What `init` created.
#[derive(Debug, Serialize)]
pub struct CreatedIndex {
    /// The index directory.
    pub dir: PathBuf,
    /// The registry's identity, config.json's `id`.
    pub id: String,
    /// The files written, relative to `dir`.
    pub files: Vec<String>,
}

/// Why an index could not be created.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum InitError {
    #[error("{} already exists and is not empty; choose a new directory", .0.display())]
    NotEmpty(PathBuf),
    #[error(transparent)]
    BadId(#[from] BadRegistryId),
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Creates a new index in `dir` (which must be missing or empty), naming the
/// registry `name` in config.json when given. Its identity (config.json's
/// `id`, which every mirror and copy keeps) is `id`, or a new unique one.
pub fn init(dir: &Path, name: Option<&str>, id: Option<&str>) -> Result<CreatedIndex, InitError> {
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(InitError::NotEmpty(dir.to_owned()));
    }
    let id = match id {
        Some(id) => {
            check_id(id)?;
            id.to_owned()
        }
        None => unique_id(dir),
    };
    let mut files = Vec::new();
    for (path, contents, executable) in TEMPLATE {
        let target = dir.join(path);
        let contents = match *path {
            CONFIG_FILE => with_identity(contents, name, &id),
            _ => (*contents).to_owned(),
        };
        write_atomic(&target, contents.as_bytes())?;
        if *executable {
            make_executable(&target)?;
        }
        files.push((*path).to_owned());
    }
    Ok(CreatedIndex {
        dir: dir.to_owned(),
        id,
        files,
    })
}

/// The template's config.json with `id` (right after `dl`) and `name` set;
/// edited as JSON so every other field, `"keys": []` included, stays as the
/// template has it.
fn with_identity(template_config: &str, name: Option<&str>, id: &str) -> String {
    let template: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(template_config).expect("the template's config.json is an object");
    let mut config = serde_json::Map::new();
    for (key, value) in template {
        let is_dl = key == "dl";
        config.insert(key, value);
        if is_dl {
            config.insert("id".into(), id.into());
        }
    }
    if let Some(name) = name {
        config.insert("name".into(), name.into());
    }
    let mut text = serde_json::to_string_pretty(&config).expect("JSON always serializes");
    text.push('\n');
    text
}

/// An identity no other index has: `ggen-` and 16 hex digits of a hash of
/// the time, the process and the directory. Not a secret, only unique.
fn unique_id(dir: &Path) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let seed = format!("{now} {} {}", std::process::id(), dir.display());
    let digest = Sha256::digest(seed.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("ggen-{hex}")
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), FsError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| FsError::new("set permissions of", path, e))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<(), FsError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::IndexConfig;

    /// Every file of index-template/ is embedded, so the template and the
    /// binary cannot drift apart.
    #[test]
    fn embeds_the_whole_template() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("index-template");
        let mut on_disk = Vec::new();
        collect_files(&root, &root, &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = TEMPLATE.iter().map(|(p, _, _)| (*p).to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect_files(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn refuses_a_non_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
        assert!(matches!(init(dir.path(), None, None), Err(InitError::NotEmpty(_))));
        assert_eq!(std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(), "mine");
    }

    #[test]
    fn writes_a_valid_config_and_an_executable_check_script() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("idx");
        let created = init(&index, None, None).unwrap();
        let config = IndexConfig::from_json(&std::fs::read_to_string(index.join(CONFIG_FILE)).unwrap()).unwrap();
        assert_eq!(config.id.as_deref(), Some(created.id.as_str()));
        let other = init(&dir.path().join("other"), None, None).unwrap();
        assert_ne!(other.id, created.id, "every new index has an identity of its own");
        assert!(matches!(
            init(&dir.path().join("bad"), None, Some("no spaces")),
            Err(InitError::BadId(_))
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(index.join("ci/check-index.sh"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0o111);
        }
    }
}
