//! Trust (DESIGN §4): minisign keys, signed index entries, who may sign a
//! package, and pinning the keys a client has seen.
//!
//! - [`keys`]: key ids, public and secret keys and signatures in the
//!   `minisign` CLI's formats, and key generation.
//! - [`sign`]: signing an entry line over its canonical form.
//! - [`owners`]: owner-keys files (`_keys/{shard}/{name}`) and vouches.
//! - [`notices`]: signed yank and deprecation notices.
//! - [`verify`]: checking an entry against the keys allowed for its package
//!   and the index's signature policy.
//! - [`pins`]: trust on first use, per registry and package.
//! - [`seen`]: what the client has seen of each registry (commits, versions
//!   and their checksums), against rollback and freeze attacks.
//! - [`password`]: where secret-key passwords come from.
//!
//! The whole round trip:
//!
//! ```
//! use ggen_marketplace::format::{IndexConfig, IndexEntry};
//! use ggen_marketplace::trust::{AllowedKeys, GeneratedKey, OwnerKeys, sign_entry_line, verify_entry};
//!
//! let key = GeneratedKey::unencrypted().unwrap().secret_key().unwrap();
//! let line = sign_entry_line(r#"{"name":"demo","vers":"1.0.0","cksum":"00"}"#, &key).unwrap();
//!
//! let owners = OwnerKeys::parse("_keys/de/mo/demo", &format!(r#"{{"key":"{}"}}"#, key.public().base64())).unwrap();
//! let allowed = AllowedKeys::new("demo", &IndexConfig::with_dl("a/{crate}"), owners).unwrap();
//! let verified = verify_entry(&line, &IndexEntry::from_line(&line).unwrap(), &allowed).unwrap();
//! assert_eq!(verified.key_id, Some(key.id()));
//! ```

pub mod keys;
pub mod notices;
pub mod owners;
pub mod password;
pub mod pins;
pub mod seen;
pub mod sign;
pub mod verify;

pub use keys::{GeneratedKey, KeyError, KeyId, PublicKey, SecretKey, Signature};
pub use owners::{OwnerKeys, OwnerKeysError, owner_keys_path};
pub use password::{EnvOrTerminal, PASSWORD_ENV, PasswordSource};
pub use pins::{NewPin, PinDecision, PinStore, PinStoreError};
pub use sign::{SignError, sign_entry_line};
pub use verify::{AllowedKeys, TrustError, Verified, verify_entry};
