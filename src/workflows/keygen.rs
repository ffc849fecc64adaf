//! `keygen`: a new minisign key pair for signing index entries, written as
//! `NAME.key` (secret, mode 0600, encrypted with a password unless asked
//! not to) and `NAME.pub` (public), in the formats of `minisign -G`.
//!
//! ```
//! use ggen_marketplace::trust::{EnvOrTerminal, PublicKey};
//! use ggen_marketplace::workflows::keygen::{KeygenOptions, keygen};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let options = KeygenOptions { dir: dir.path().to_owned(), name: "ci".into(), encrypt: false, force: false };
//! let made = keygen(&options, &EnvOrTerminal).unwrap();
//! assert_eq!(made.secret_key_file, dir.path().join("ci.key"));
//! let public = PublicKey::read_file(&made.public_key_file).unwrap();
//! assert_eq!(public.id(), made.key_id);
//!
//! // A second run refuses to overwrite the key pair.
//! assert!(keygen(&options, &EnvOrTerminal).is_err());
//! ```

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::home::GgenHome;
use crate::trust::keys::{GeneratedKey, KeyError, KeyId};
use crate::trust::password::PasswordSource;
use crate::util::fs::{FileLock, FsError, write_atomic};

/// The key pair's name when none is given.
pub const DEFAULT_KEY_NAME: &str = "ggen";
/// The lock taken while a key pair is written, in the key directory.
const KEYS_LOCK_FILE: &str = ".ggen-keys.lock";

/// What to generate, and where.
#[derive(Debug, Clone)]
pub struct KeygenOptions {
    /// The directory to write the key files to (see [`default_key_dir`]).
    pub dir: PathBuf,
    /// The key pair's name: files `NAME.key` and `NAME.pub`.
    pub name: String,
    /// Whether to encrypt the secret key with a password.
    pub encrypt: bool,
    /// Whether to replace existing key files.
    pub force: bool,
}

/// The key pair written.
#[derive(Debug, Clone, Serialize)]
pub struct GeneratedKeyFiles {
    /// The key id, as minisign prints it.
    pub key_id: KeyId,
    /// The public key in base64, for `config.json` `keys` or an owner-keys file.
    pub public_key: String,
    /// The `.pub` file.
    pub public_key_file: PathBuf,
    /// The `.key` file.
    pub secret_key_file: PathBuf,
    /// Whether the secret key is encrypted with a password.
    pub encrypted: bool,
}

/// Why a key pair was not generated.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum KeygenError {
    /// A key file is already there.
    #[error("{} already exists; pass --force to replace it (the old key pair is then lost), or choose another --name", path.display())]
    Exists { path: PathBuf },
    /// The name would not make a plain file name.
    #[error("`{name}` cannot name a key file; use letters, digits, `-`, `_` and `.`, not starting with `.`")]
    BadName { name: String },
    /// Neither GGEN_HOME nor a home directory is known.
    #[error("cannot find a home directory for the default key directory; set GGEN_HOME or pass --out-dir")]
    NoHome,
    /// The password could not be had or the key not made.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Writing failed.
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Where key pairs go by default: `GGEN_HOME/keys`.
pub fn default_key_dir() -> Result<PathBuf, KeygenError> {
    GgenHome::from_env()
        .map(|home| home.keys_dir())
        .map_err(|_| KeygenError::NoHome)
}

/// Generates a key pair and writes its two files, asking `passwords` for
/// the secret key's password when `options.encrypt` is set.
pub fn keygen(options: &KeygenOptions, passwords: &dyn PasswordSource) -> Result<GeneratedKeyFiles, KeygenError> {
    check_name(&options.name)?;
    let secret_key_file = options.dir.join(format!("{}.key", options.name));
    let public_key_file = options.dir.join(format!("{}.pub", options.name));
    let _lock = FileLock::exclusive(&options.dir.join(KEYS_LOCK_FILE), |_| {})?;
    if !options.force {
        for path in [&secret_key_file, &public_key_file] {
            if path.exists() {
                return Err(KeygenError::Exists { path: path.clone() });
            }
        }
    }
    let generated = if options.encrypt {
        GeneratedKey::encrypted(&passwords.new_password(&secret_key_file)?)?
    } else {
        GeneratedKey::unencrypted()?
    };
    write_atomic(&secret_key_file, generated.secret_file_text.as_bytes())?;
    set_mode(&secret_key_file, 0o600)?;
    write_atomic(&public_key_file, generated.public.to_minisign_text().as_bytes())?;
    set_mode(&public_key_file, 0o644)?;
    Ok(GeneratedKeyFiles {
        key_id: generated.public.id(),
        public_key: generated.public.base64().to_owned(),
        public_key_file,
        secret_key_file,
        encrypted: generated.encrypted,
    })
}

fn check_name(name: &str) -> Result<(), KeygenError> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        Ok(())
    } else {
        Err(KeygenError::BadName { name: name.to_owned() })
    }
}

/// Sets the file mode. The temp file behind `write_atomic` is already
/// created 0600, so a secret key is never readable by others, even briefly.
#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), FsError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| FsError::new("set permissions of", path, e))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), FsError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::keys::SecretKey;
    use crate::trust::password::tests::Given;

    fn options(dir: &Path, encrypt: bool, force: bool) -> KeygenOptions {
        KeygenOptions {
            dir: dir.to_owned(),
            name: DEFAULT_KEY_NAME.into(),
            encrypt,
            force,
        }
    }

    #[test]
    fn writes_an_encrypted_pair_that_reads_back_with_its_password() {
        let dir = tempfile::tempdir().unwrap();
        let made = keygen(&options(dir.path(), true, false), &Given::password("pw")).unwrap();
        assert!(made.encrypted);
        let key = SecretKey::read_file(&made.secret_key_file, &Given::password("pw")).unwrap();
        assert_eq!(key.id(), made.key_id);
        assert_eq!(key.public().base64(), made.public_key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&made.secret_key_file), 0o600);
            assert_eq!(mode(&made.public_key_file), 0o644);
        }
    }

    #[test]
    fn refuses_to_overwrite_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let first = keygen(&options(dir.path(), false, false), &Given::none()).unwrap();
        let before = std::fs::read(&first.secret_key_file).unwrap();
        let err = keygen(&options(dir.path(), false, false), &Given::none()).unwrap_err();
        assert!(matches!(err, KeygenError::Exists { .. }), "{err}");
        assert_eq!(std::fs::read(&first.secret_key_file).unwrap(), before);
        let second = keygen(&options(dir.path(), false, true), &Given::none()).unwrap();
        assert_ne!(second.key_id, first.key_id);
    }

    #[test]
    fn an_encrypted_key_needs_a_password_source() {
        let dir = tempfile::tempdir().unwrap();
        let err = keygen(&options(dir.path(), true, false), &Given::none()).unwrap_err();
        assert!(matches!(err, KeygenError::Key(KeyError::NoTerminal { .. })), "{err}");
        assert!(!dir.path().join("ggen.key").exists());
    }

    #[test]
    fn refuses_names_that_are_not_plain_file_names() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["", "../x", ".hidden", "a/b"] {
            let mut o = options(dir.path(), false, false);
            o.name = name.into();
            assert!(
                matches!(keygen(&o, &Given::none()), Err(KeygenError::BadName { .. })),
                "{name}"
            );
        }
    }
}
