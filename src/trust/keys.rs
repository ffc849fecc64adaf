//! minisign (Ed25519) keys and signatures, in the formats the `minisign` CLI
//! reads and writes, so keys and signatures move freely between the two.
//!
//! The file formats (all base64 in standard alphabet, one value per line,
//! each preceded by an `untrusted comment:` line):
//!
//! | what | bytes |
//! |---|---|
//! | public key | `Ed` · key id (8) · Ed25519 public key (32) |
//! | secret key | `Ed` · kdf (`Sc` or two zero bytes) · `B2` · salt (32) · opslimit (8) · memlimit (8) · key id (8) · Ed25519 secret key (64) · BLAKE2b checksum (32) |
//! | signature | `ED` (BLAKE2b-prehashed) or `Ed` (legacy) · key id (8) · signature (64), then a `trusted comment:` line and a global signature over signature + trusted comment |
//!
//! With kdf `Sc` the last 104 bytes (id, key, checksum) are XORed with an
//! scrypt stream derived from the password. A key id is shown as the
//! little-endian 64-bit number in 16 uppercase hex digits, as minisign prints it.
//!
//! ```
//! use ggen_marketplace::trust::keys::{GeneratedKey, PublicKey, Signature};
//! let generated = GeneratedKey::unencrypted().unwrap();
//! let secret = generated.secret_key().unwrap();
//! let sig = secret.sign(b"hello", "greeting").unwrap();
//!
//! // The .pub text reads back to the same key, with minisign's id.
//! let public = PublicKey::from_minisign_text(&generated.public.to_minisign_text()).unwrap();
//! assert_eq!(public.id(), secret.id());
//! assert_eq!(public.id().to_string().len(), 16);
//!
//! let sig = Signature::parse(&sig).unwrap();
//! assert_eq!(sig.trusted_comment(), "greeting");
//! assert!(public.verifies(b"hello", &sig));
//! assert!(!public.verifies(b"hellO", &sig));
//! ```

use std::fmt;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::password::PasswordSource;

const ED25519: [u8; 2] = *b"Ed";
const SCRYPT: [u8; 2] = *b"Sc";
const NO_KDF: [u8; 2] = [0, 0];
const PUBLIC_KEY_BYTES: usize = 42;
const SECRET_KEY_BYTES: usize = 158;
const SIGNATURE_BYTES: usize = 74;
const SECRET_KEY_CHECKSUM_AT: usize = SECRET_KEY_BYTES - 32;
const COMMENT_PREFIX: &str = "untrusted comment: ";
/// The comment minisign writes on secret keys, encrypted or not.
const SECRET_KEY_COMMENT: &str = "minisign encrypted secret key";
const UNENCRYPTED_SECRET_KEY_COMMENT: &str = "minisign secret key, not encrypted";

/// A problem with a key or signature: unreadable, malformed, locked.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum KeyError {
    /// A key file could not be read.
    #[error("cannot read key file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// A key file does not hold what it should.
    #[error("{}: {source}", path.display())]
    InFile { path: PathBuf, source: Box<KeyError> },
    /// Text that should be a minisign public key is not one.
    #[error(
        "not a minisign public key ({reason}); expected the 56-character base64 line starting with `RW` from a .pub file"
    )]
    BadPublicKey { reason: &'static str },
    /// Text that should be a minisign secret key is not one.
    #[error(
        "not a minisign secret key ({reason}); expected a .key file written by `minisign -G` or `ggen-market keygen`"
    )]
    BadSecretKey { reason: &'static str },
    /// Text that should be a minisign signature is not one.
    #[error("not a minisign signature ({reason}); expected the four lines of a .minisig file")]
    BadSignature { reason: &'static str },
    /// A key id is not 16 hex digits.
    #[error("`{text}` is not a key id; a key id is 16 hex digits, as `ggen-market keygen` prints it")]
    BadKeyId { text: String },
    /// The secret key is encrypted with something other than scrypt.
    #[error(
        "the secret key is encrypted with an unknown method; re-create it with `ggen-market keygen` or `minisign -G`"
    )]
    UnsupportedEncryption,
    /// The password does not decrypt the secret key.
    #[error("wrong password for secret key {}", path.display())]
    WrongPassword { path: PathBuf },
    /// An unencrypted secret key failed its integrity check.
    #[error("secret key is damaged (its checksum or its key pair does not match); use a backup or make a new key")]
    CorruptSecretKey,
    /// A password is needed but there is nobody to ask.
    #[error(
        "a password is needed for {} but there is no terminal to ask on; set the environment variable GGEN_KEY_PASSWORD, or use a key made with --unencrypted (`minisign -G -W`)",
        path.display()
    )]
    NoTerminal { path: PathBuf },
    /// Reading the password from the terminal failed.
    #[error("cannot read the password from the terminal: {source}")]
    Prompt { source: std::io::Error },
    /// The two passwords typed for a new key differ.
    #[error("the passwords do not match; run the command again")]
    PasswordsDiffer,
    /// A new key was to be encrypted with an empty password.
    #[error("refusing an empty password; type one, or pass --unencrypted for a key without a password (for CI)")]
    EmptyPassword,
    /// The minisign crate failed to make a key or a signature.
    #[error("minisign failed: {source}")]
    Minisign { source: minisign::PError },
}

/// A minisign key id: 8 random bytes chosen when the key was made, carried
/// by every signature so a verifier knows which key to try.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The id from its 8 bytes, in file order.
    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        KeyId(bytes)
    }

    fn from_slice(bytes: &[u8]) -> Self {
        KeyId(bytes.try_into().expect("callers pass exactly 8 bytes"))
    }
}

impl fmt::Display for KeyId {
    /// 16 uppercase hex digits of the little-endian number, as `minisign`
    /// prints it (always zero-padded to 16 digits here).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = KeyError;

    /// Parses up to 16 hex digits, in either case. The minisign CLI drops
    /// leading zeros in the comments it writes (`%PRIX64`), so a shorter id
    /// is read as zero-padded.
    fn from_str(text: &str) -> Result<Self, KeyError> {
        let bad = || KeyError::BadKeyId { text: text.to_owned() };
        if !(1..=16).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let number = u64::from_str_radix(text, 16).map_err(|_| bad())?;
        Ok(KeyId(number.to_le_bytes()))
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A minisign public key: what verifies signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    id: KeyId,
    base64: String,
    verifier: minisign_verify::PublicKey,
}

impl PublicKey {
    /// Parses the base64 form (`RW…`, the second line of a `.pub` file).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let bytes = BASE64
            .decode(text)
            .map_err(|_| KeyError::BadPublicKey { reason: "not base64" })?;
        if bytes.len() != PUBLIC_KEY_BYTES {
            return Err(KeyError::BadPublicKey { reason: "wrong length" });
        }
        if bytes[..2] != ED25519 {
            return Err(KeyError::BadPublicKey {
                reason: "not an Ed25519 key",
            });
        }
        let verifier = minisign_verify::PublicKey::from_base64(text).map_err(|_| KeyError::BadPublicKey {
            reason: "rejected by minisign-verify",
        })?;
        Ok(PublicKey {
            id: KeyId::from_slice(&bytes[2..10]),
            base64: text.to_owned(),
            verifier,
        })
    }

    /// Parses the text of a minisign `.pub` file (an `untrusted comment:`
    /// line, then the base64 key), or a bare base64 key.
    pub fn from_minisign_text(text: &str) -> Result<Self, KeyError> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let first = lines.next().ok_or(KeyError::BadPublicKey { reason: "empty" })?;
        if !first.starts_with(COMMENT_PREFIX.trim_end()) {
            return Self::from_base64(first);
        }
        let key = lines.next().ok_or(KeyError::BadPublicKey {
            reason: "no key after the comment line",
        })?;
        Self::from_base64(key)
    }

    /// Reads a minisign `.pub` file.
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let text = read_key_file(path)?;
        Self::from_minisign_text(&text).map_err(|e| in_file(path, e))
    }

    /// The key id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The base64 form, as in `config.json` `keys` and owner-keys files.
    pub fn base64(&self) -> &str {
        &self.base64
    }

    /// The text of a `.pub` file, exactly as `minisign -G` writes it.
    pub fn to_minisign_text(&self) -> String {
        format!("{COMMENT_PREFIX}minisign public key {}\n{}\n", self.id, self.base64)
    }

    /// Whether `signature` was made by this key over exactly `message`
    /// (prehashed signatures, minisign's default, and legacy ones).
    pub fn verifies(&self, message: &[u8], signature: &Signature) -> bool {
        self.verifier.verify(message, &signature.inner, true).is_ok()
    }
}

impl serde::Serialize for PublicKey {
    /// The base64 form.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.base64)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PublicKey::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// A parsed minisign signature (the text of a `.minisig` file).
#[derive(Clone)]
pub struct Signature {
    key_id: KeyId,
    inner: minisign_verify::Signature,
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signature")
            .field("key_id", &self.key_id)
            .field("trusted_comment", &self.trusted_comment())
            .finish_non_exhaustive()
    }
}

impl Signature {
    /// Parses the text of a `.minisig` file: untrusted comment, signature,
    /// trusted comment, global signature.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let second_line = text.lines().nth(1).ok_or(KeyError::BadSignature {
            reason: "too few lines",
        })?;
        let bytes = BASE64.decode(second_line.trim()).map_err(|_| KeyError::BadSignature {
            reason: "second line is not base64",
        })?;
        if bytes.len() != SIGNATURE_BYTES {
            return Err(KeyError::BadSignature {
                reason: "second line has the wrong length",
            });
        }
        let inner = minisign_verify::Signature::decode(text).map_err(|e| KeyError::BadSignature {
            reason: match e {
                minisign_verify::Error::UnsupportedAlgorithm => "unknown signature algorithm",
                _ => "malformed lines",
            },
        })?;
        Ok(Signature {
            key_id: KeyId::from_slice(&bytes[2..10]),
            inner,
        })
    }

    /// The id of the key that made the signature.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The signed comment (after `trusted comment: `).
    pub fn trusted_comment(&self) -> &str {
        self.inner.trusted_comment()
    }
}

/// A minisign secret key, decrypted and ready to sign.
pub struct SecretKey {
    inner: minisign::SecretKey,
    /// The crate's form of the public key, to check every signature made.
    minisign_public: minisign::PublicKey,
    public: PublicKey,
}

impl fmt::Debug for SecretKey {
    /// Shows the key id only, never key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.public.id)
    }
}

impl SecretKey {
    /// Reads a minisign `.key` file, asking `passwords` only if the key is
    /// encrypted. Keys written unencrypted by the minisign CLI (`-W`) load
    /// too, although the `minisign` crate refuses them.
    pub fn read_file(path: &Path, passwords: &dyn PasswordSource) -> Result<Self, KeyError> {
        let text = read_key_file(path)?;
        Self::from_minisign_text(&text, path, passwords).map_err(|e| match e {
            KeyError::WrongPassword { .. } | KeyError::NoTerminal { .. } => e,
            other => in_file(path, other),
        })
    }

    /// Parses the text of a `.key` file; `path` names it in messages and
    /// password prompts.
    pub fn from_minisign_text(text: &str, path: &Path, passwords: &dyn PasswordSource) -> Result<Self, KeyError> {
        let bytes = decode_secret_key(text)?;
        let inner = match [bytes[2], bytes[3]] {
            SCRYPT => {
                let password = passwords.password(path)?;
                let boxed = minisign::SecretKeyBox::from_string(text).map_err(minisign_error)?;
                minisign::SecretKey::from_box(boxed, Some(password)).map_err(|e| match e.kind() {
                    // The checksum does not match after decryption.
                    minisign::ErrorKind::Verify => KeyError::WrongPassword { path: path.to_owned() },
                    _ => minisign_error(e),
                })?
            }
            NO_KDF => unencrypted_secret_key(text, &bytes)?,
            _ => return Err(KeyError::UnsupportedEncryption),
        };
        Self::from_decrypted(inner)
    }

    fn from_decrypted(inner: minisign::SecretKey) -> Result<Self, KeyError> {
        let minisign_public = minisign::PublicKey::from_secret_key(&inner).map_err(minisign_error)?;
        let public = PublicKey::from_base64(&minisign_public.to_base64())?;
        let key = SecretKey {
            inner,
            minisign_public,
            public,
        };
        // The public half stored inside the secret key must belong to the
        // secret half: a probe signature checked with it proves that.
        key.sign(b"ggen-market key check", "key check")
            .map_err(|_| KeyError::CorruptSecretKey)?;
        Ok(key)
    }

    /// The key id.
    pub fn id(&self) -> KeyId {
        self.public.id
    }

    /// The matching public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message` the way `minisign -S` does (BLAKE2b-prehashed) and
    /// returns the whole `.minisig` text. `trusted_comment` is signed too;
    /// line breaks in it become spaces, since the format is line based.
    pub fn sign(&self, message: &[u8], trusted_comment: &str) -> Result<String, KeyError> {
        let trusted_comment = trusted_comment.replace(['\r', '\n'], " ");
        let untrusted_comment = format!("signature from minisign secret key {}", self.id());
        let signature = minisign::sign(
            Some(&self.minisign_public),
            &self.inner,
            Cursor::new(message),
            Some(&trusted_comment),
            Some(&untrusted_comment),
        )
        .map_err(minisign_error)?;
        Ok(signature.into_string())
    }
}

/// A freshly generated key pair, as the text of its two files.
#[derive(Debug)]
pub struct GeneratedKey {
    /// The public key (its `.pub` text is [`PublicKey::to_minisign_text`]).
    pub public: PublicKey,
    /// The text of the `.key` file.
    pub secret_file_text: String,
    /// Whether the secret key is encrypted with a password.
    pub encrypted: bool,
}

impl GeneratedKey {
    /// A new key pair whose secret key is encrypted with `password`
    /// (scrypt, minisign's parameters), which must not be empty.
    pub fn encrypted(password: &str) -> Result<Self, KeyError> {
        if password.is_empty() {
            return Err(KeyError::EmptyPassword);
        }
        let pair = minisign::KeyPair::generate_encrypted_keypair(Some(password.to_owned())).map_err(minisign_error)?;
        Self::from_pair(pair, SECRET_KEY_COMMENT, true)
    }

    /// A new key pair whose secret key is stored without a password, for
    /// unattended signing (CI). Protect the file instead.
    pub fn unencrypted() -> Result<Self, KeyError> {
        let pair = minisign::KeyPair::generate_unencrypted_keypair().map_err(minisign_error)?;
        Self::from_pair(pair, UNENCRYPTED_SECRET_KEY_COMMENT, false)
    }

    fn from_pair(pair: minisign::KeyPair, comment: &str, encrypted: bool) -> Result<Self, KeyError> {
        let secret_file_text = pair.sk.to_box(Some(comment)).map_err(minisign_error)?.into_string();
        Ok(GeneratedKey {
            public: PublicKey::from_base64(&pair.pk.to_base64())?,
            secret_file_text,
            encrypted,
        })
    }

    /// The secret key itself, for an unencrypted pair (an encrypted one is
    /// read back with [`SecretKey::from_minisign_text`] and its password).
    pub fn secret_key(&self) -> Result<SecretKey, KeyError> {
        let bytes = decode_secret_key(&self.secret_file_text)?;
        SecretKey::from_decrypted(unencrypted_secret_key(&self.secret_file_text, &bytes)?)
    }
}

/// The decoded bytes of a `.key` file, checked for size and algorithm.
fn decode_secret_key(text: &str) -> Result<Vec<u8>, KeyError> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let comment = lines.next().ok_or(KeyError::BadSecretKey { reason: "empty" })?;
    if !comment.starts_with(COMMENT_PREFIX.trim_end()) {
        return Err(KeyError::BadSecretKey {
            reason: "no `untrusted comment:` line",
        });
    }
    let encoded = lines.next().ok_or(KeyError::BadSecretKey {
        reason: "no key after the comment line",
    })?;
    let bytes = BASE64
        .decode(encoded)
        .map_err(|_| KeyError::BadSecretKey { reason: "not base64" })?;
    if bytes.len() != SECRET_KEY_BYTES {
        return Err(KeyError::BadSecretKey { reason: "wrong length" });
    }
    if bytes[..2] != ED25519 {
        return Err(KeyError::BadSecretKey {
            reason: "not an Ed25519 key",
        });
    }
    Ok(bytes)
}

/// An unencrypted secret key. The minisign CLI (`-W`) leaves the checksum
/// of such keys all zeros, which the `minisign` crate reads as corruption;
/// those keys are taken as they are and checked by the probe signature in
/// [`SecretKey::from_decrypted`] instead. Keys with a real checksum (written
/// by the crate, and so by `ggen-market keygen --unencrypted`) must match it.
fn unencrypted_secret_key(text: &str, bytes: &[u8]) -> Result<minisign::SecretKey, KeyError> {
    let checksum = &bytes[SECRET_KEY_CHECKSUM_AT..];
    let key = if checksum.iter().all(|&b| b == 0) {
        minisign::SecretKey::from_bytes(bytes)
    } else {
        minisign::SecretKey::from_unencrypted_box(minisign::SecretKeyBox::from_string(text).map_err(minisign_error)?)
    };
    key.map_err(|_| KeyError::CorruptSecretKey)
}

fn read_key_file(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })
}

fn in_file(path: &Path, source: KeyError) -> KeyError {
    KeyError::InFile {
        path: path.to_owned(),
        source: Box::new(source),
    }
}

fn minisign_error(source: minisign::PError) -> KeyError {
    KeyError::Minisign { source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::password::tests::Given;

    /// Where the key id starts in a decoded secret key: after algorithm, kdf,
    /// checksum algorithm, salt, opslimit and memlimit.
    const SECRET_KEY_ID_AT: usize = 2 + 2 + 2 + 32 + 8 + 8;

    #[test]
    fn key_ids_print_like_minisign() {
        // From a key made by `minisign -G`: the file stores the id bytes
        // 65 11 84 56 4f 64 28 68 and minisign prints 6828644F56841165.
        let key = PublicKey::from_base64("RWRlEYRWT2QoaMfnPGnOLmANabNxjYmV2qNKT2S7wnax4WYWa6Xkl+GX").unwrap();
        assert_eq!(key.id().to_string(), "6828644F56841165");
        assert_eq!("6828644f56841165".parse::<KeyId>().unwrap(), key.id());
        // minisign writes ids without leading zeros in .pub comments.
        let short: KeyId = "1B064C9522E8E5E".parse().unwrap();
        assert_eq!(short.to_string(), "01B064C9522E8E5E");
        for bad in ["", "6828644F5684116G", "16828644F56841165", "-828644F56841165"] {
            assert!(bad.parse::<KeyId>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&key.id()).unwrap();
        assert_eq!(json, "\"6828644F56841165\"");
        assert_eq!(serde_json::from_str::<KeyId>(&json).unwrap(), key.id());
    }

    #[test]
    fn public_keys_read_from_pub_files_and_base64() {
        let pub_file = "untrusted comment: minisign public key 6828644F56841165\nRWRlEYRWT2QoaMfnPGnOLmANabNxjYmV2qNKT2S7wnax4WYWa6Xkl+GX\n";
        let from_file = PublicKey::from_minisign_text(pub_file).unwrap();
        assert_eq!(from_file.to_minisign_text(), pub_file);
        let bare = PublicKey::from_minisign_text("RWRlEYRWT2QoaMfnPGnOLmANabNxjYmV2qNKT2S7wnax4WYWa6Xkl+GX").unwrap();
        assert_eq!(bare, from_file);
        for bad in ["", "RWRl", "not base64 at all!", "untrusted comment: x\n"] {
            assert!(PublicKey::from_minisign_text(bad).is_err(), "{bad:?}");
        }
    }

    /// A secret key written by `minisign -G -W` (minisign 0.11), with its
    /// all-zero checksum, and its public key.
    const CLI_UNENCRYPTED_KEY: &str = "untrusted comment: minisign encrypted secret key\nRWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAZRGEVk9kKGgMmCpGOHvCzuFGWdrVwnYDvOVCGzAV7sqc/3edyFUi5MfnPGnOLmANabNxjYmV2qNKT2S7wnax4WYWa6Xkl+GXAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    const CLI_UNENCRYPTED_PUB: &str = "RWRlEYRWT2QoaMfnPGnOLmANabNxjYmV2qNKT2S7wnax4WYWa6Xkl+GX";

    #[test]
    fn reads_unencrypted_keys_written_by_the_minisign_cli() {
        // The crate alone refuses this key: the reason this code exists.
        assert!(
            minisign::SecretKey::from_unencrypted_box(
                minisign::SecretKeyBox::from_string(CLI_UNENCRYPTED_KEY).unwrap()
            )
            .is_err()
        );
        let key = SecretKey::from_minisign_text(CLI_UNENCRYPTED_KEY, Path::new("w.key"), &Given::none()).unwrap();
        let public = PublicKey::from_base64(CLI_UNENCRYPTED_PUB).unwrap();
        assert_eq!(key.id(), public.id());
        let sig = Signature::parse(&key.sign(b"message", "c").unwrap()).unwrap();
        assert!(public.verifies(b"message", &sig));
    }

    #[test]
    fn refuses_a_damaged_unencrypted_key() {
        let mut bytes = BASE64.decode(CLI_UNENCRYPTED_KEY.lines().nth(1).unwrap()).unwrap();
        bytes[SECRET_KEY_ID_AT + 8] ^= 1; // first byte of the Ed25519 seed
        let text = format!("untrusted comment: x\n{}\n", BASE64.encode(&bytes));
        let err = SecretKey::from_minisign_text(&text, Path::new("w.key"), &Given::none()).unwrap_err();
        assert!(matches!(err, KeyError::CorruptSecretKey), "{err}");
    }

    #[test]
    fn encrypted_keys_need_the_right_password() {
        let generated = GeneratedKey::encrypted("correct horse").unwrap();
        let path = Path::new("k.key");
        let key = SecretKey::from_minisign_text(&generated.secret_file_text, path, &Given::password("correct horse"))
            .unwrap();
        assert_eq!(key.id(), generated.public.id());
        let err =
            SecretKey::from_minisign_text(&generated.secret_file_text, path, &Given::password("wrong")).unwrap_err();
        assert!(matches!(err, KeyError::WrongPassword { .. }), "{err}");
        let err = SecretKey::from_minisign_text(&generated.secret_file_text, path, &Given::none()).unwrap_err();
        assert!(matches!(err, KeyError::NoTerminal { .. }), "{err}");
        assert!(matches!(GeneratedKey::encrypted(""), Err(KeyError::EmptyPassword)));
    }

    #[test]
    fn unencrypted_generated_keys_ask_for_no_password() {
        let generated = GeneratedKey::unencrypted().unwrap();
        let key =
            SecretKey::from_minisign_text(&generated.secret_file_text, Path::new("k.key"), &Given::none()).unwrap();
        assert_eq!(key.public(), &generated.public);
        assert!(!generated.encrypted);
    }

    #[test]
    fn signatures_name_their_key_and_reject_other_keys() {
        let a = GeneratedKey::unencrypted().unwrap().secret_key().unwrap();
        let b = GeneratedKey::unencrypted().unwrap().secret_key().unwrap();
        let sig = Signature::parse(&a.sign(b"m", "multi\nline").unwrap()).unwrap();
        assert_eq!(sig.key_id(), a.id());
        assert_eq!(sig.trusted_comment(), "multi line");
        assert!(a.public().verifies(b"m", &sig));
        assert!(!b.public().verifies(b"m", &sig));
        assert!(matches!(
            Signature::parse("untrusted comment: x\nRWQ=\n"),
            Err(KeyError::BadSignature { .. })
        ));
    }
}
