//! Owner-keys files: who may sign a package (DESIGN §4).
//!
//! `_keys/{shard}/{name}` holds JSON lines, one key each: `key` (base64
//! public key, required), `id` (16 hex digits, must match `key`), `owner`
//! (for people), and `vouched_by` + `sig` together: the id of a key already
//! trusted for the package and its minisign signature over this line's
//! canonical form (the object without `sig`, keys sorted, no whitespace).
//! A line with `"revoked": true` withdraws its key: vouched for like any
//! other line (by a listed key, the revoked one included), it stops the key
//! from signing anything new — the pull-request gate refuses it — while
//! what it signed before (versions, vouches, notices) stays valid, so a
//! rotation leaves published versions installable and a client that pinned
//! the old key can follow it. (For a stolen key: revoke it and yank what it
//! signed.)
//! Unknown fields are ignored.
//!
//! ```
//! use ggen_marketplace::format::canonical::canonical_form;
//! use ggen_marketplace::trust::keys::GeneratedKey;
//! use ggen_marketplace::trust::owners::{OwnerKeys, owner_keys_path};
//!
//! let ada = GeneratedKey::unencrypted().unwrap().secret_key().unwrap();
//! let ci = GeneratedKey::unencrypted().unwrap().public;
//! // Ada vouches for the CI key by signing its line's canonical form.
//! let unsigned = format!(r#"{{"key":"{}","owner":"ci","vouched_by":"{}"}}"#, ci.base64(), ada.id());
//! let sig = ada.sign(canonical_form(&unsigned).unwrap().as_bytes(), "vouch").unwrap();
//! let vouched = format!(r#"{{"key":"{}","owner":"ci","vouched_by":"{}","sig":{}}}"#,
//!     ci.base64(), ada.id(), serde_json::to_string(&sig).unwrap());
//! let text = format!("{{\"key\":\"{}\",\"owner\":\"ada\"}}\n{vouched}\n", ada.public().base64());
//!
//! let path = owner_keys_path("io.ggen.rust.axum");
//! assert_eq!(path, "_keys/io/.g/io.ggen.rust.axum");
//! let owners = OwnerKeys::parse(&path, &text).unwrap();
//! assert_eq!(owners.keys().len(), 2);
//! let trusted = owners.vouched_from(&[ada.public().clone()]);
//! assert_eq!(trusted.get(&ci.id()), Some(&ada.id()));
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::keys::{KeyError, KeyId, PublicKey, Signature};
use crate::format::canonical::canonical_form;
use crate::format::name::index_path;

/// The directory of owner-keys files at the root of an index.
pub const OWNER_KEYS_DIR: &str = "_keys";

/// The path of a package's owner-keys file relative to the index root:
/// `_keys/` followed by the package file's own shard path.
pub fn owner_keys_path(name: &str) -> String {
    format!("{OWNER_KEYS_DIR}/{}", index_path(name))
}

/// An owner-keys file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum OwnerKeysError {
    /// A line is not a JSON object with a string `key`.
    #[error("{location}, line {line}: not an owner-key line ({source}); expected {{\"key\":\"RW…\", …}}")]
    Json {
        location: String,
        line: usize,
        source: serde_json::Error,
    },
    /// A key, key id or signature on a line is malformed.
    #[error("{location}, line {line}: {source}")]
    Key {
        location: String,
        line: usize,
        source: KeyError,
    },
    /// `id` names another key than `key`.
    #[error("{location}, line {line}: `id` says {stated} but the key's id is {actual}; fix or remove `id`")]
    IdMismatch {
        location: String,
        line: usize,
        stated: KeyId,
        actual: KeyId,
    },
    /// Only one of `vouched_by` and `sig` is present.
    #[error("{location}, line {line}: `vouched_by` and `sig` go together; add the missing one or remove both")]
    HalfVouch { location: String, line: usize },
    /// `sig` was made by another key than `vouched_by` names.
    #[error("{location}, line {line}: `vouched_by` is {vouched_by} but `sig` was made by key {signer}")]
    VoucherMismatch {
        location: String,
        line: usize,
        vouched_by: KeyId,
        signer: KeyId,
    },
}

/// One key allowed to sign a package.
#[derive(Debug, Clone)]
pub struct OwnerKey {
    /// The key.
    pub key: PublicKey,
    /// Who holds it, for people.
    pub owner: Option<String>,
    /// The key that approved this one, with its signature, if any.
    pub vouch: Option<Vouch>,
    /// The line withdraws the key instead of adding it.
    pub revoked: bool,
    /// The line as stored: a vouch covers its canonical form.
    line: String,
}

/// An approval of an owner key by another key.
#[derive(Debug, Clone)]
pub struct Vouch {
    /// The approving key.
    pub by: KeyId,
    /// Its signature over the owner-key line's canonical form.
    pub signature: Signature,
}

impl OwnerKey {
    /// Whether `voucher` (the key named by `vouched_by`) really signed this
    /// line's canonical form. False when there is no vouch.
    pub fn is_vouched_by(&self, voucher: &PublicKey) -> bool {
        let Some(vouch) = &self.vouch else {
            return false;
        };
        let Ok(message) = canonical_form(&self.line) else {
            return false;
        };
        vouch.by == voucher.id() && voucher.verifies(message.as_bytes(), &vouch.signature)
    }
}

/// The keys allowed to sign one package, from its owner-keys file.
#[derive(Debug, Clone, Default)]
pub struct OwnerKeys {
    /// Every line, revocations included, in file order.
    lines: Vec<OwnerKey>,
    /// The lines whose key may sign: listed and not validly revoked.
    keys: Vec<OwnerKey>,
    /// The lines of keys validly revoked since: they sign nothing new, but
    /// what they signed before stays valid.
    retired: Vec<OwnerKey>,
}

#[derive(Deserialize)]
struct OwnerKeyLine {
    key: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    vouched_by: Option<String>,
    #[serde(default)]
    sig: Option<String>,
    #[serde(default)]
    revoked: bool,
}

impl OwnerKeys {
    /// Parses an owner-keys file; `location` names it in errors. Blank
    /// lines are skipped.
    pub fn parse(location: &str, text: &str) -> Result<Self, OwnerKeysError> {
        let lines: Vec<OwnerKey> = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| parse_line(location, i + 1, line))
            .collect::<Result<_, _>>()?;
        let revoked: Vec<KeyId> = lines
            .iter()
            .filter(|line| line.revoked)
            .filter(|line| {
                lines
                    .iter()
                    .any(|voucher| !voucher.revoked && line.is_vouched_by(&voucher.key))
            })
            .map(|line| line.key.id())
            .collect();
        let (retired, keys) = lines
            .iter()
            .filter(|line| !line.revoked)
            .cloned()
            .partition(|line| revoked.contains(&line.key.id()));
        Ok(OwnerKeys { lines, keys, retired })
    }

    /// The keys that may sign, in file order.
    pub fn keys(&self) -> &[OwnerKey] {
        &self.keys
    }

    /// Every line, revocations included, in file order.
    pub fn lines(&self) -> &[OwnerKey] {
        &self.lines
    }

    /// The listed key with this id, if it may sign.
    pub fn key(&self, id: KeyId) -> Option<&OwnerKey> {
        self.keys.iter().find(|k| k.key.id() == id)
    }

    /// The revoked key with this id: what it signed before its revocation
    /// stays valid.
    pub fn retired_key(&self, id: KeyId) -> Option<&OwnerKey> {
        self.retired.iter().find(|k| k.key.id() == id)
    }

    /// The keys reachable from `trusted` through valid vouches, each with
    /// the key that vouched for it. Chains count: if A is trusted, A vouched
    /// for B and B for C, then B and C are reachable, so a package can rotate
    /// keys more than once. Keys in `trusted` themselves are not listed.
    /// Revoked keys are not reached, but their earlier vouches count.
    pub fn vouched_from(&self, trusted: &[PublicKey]) -> BTreeMap<KeyId, KeyId> {
        let mut known: Vec<PublicKey> = trusted.to_vec();
        let mut vouched = BTreeMap::new();
        loop {
            let newly: Vec<(PublicKey, KeyId)> = self
                .keys
                .iter()
                .filter(|k| !known.iter().any(|t| t.id() == k.key.id()))
                .filter_map(|k| {
                    let by = k.vouch.as_ref()?.by;
                    let voucher = known.iter().find(|t| t.id() == by)?;
                    k.is_vouched_by(voucher).then(|| (k.key.clone(), by))
                })
                .collect();
            if newly.is_empty() {
                return vouched;
            }
            for (key, by) in newly {
                vouched.insert(key.id(), by);
                known.push(key);
            }
        }
    }
}

fn parse_line(location: &str, line_number: usize, line: &str) -> Result<OwnerKey, OwnerKeysError> {
    let key_error = |source| OwnerKeysError::Key {
        location: location.to_owned(),
        line: line_number,
        source,
    };
    let fields: OwnerKeyLine = serde_json::from_str(line).map_err(|source| OwnerKeysError::Json {
        location: location.to_owned(),
        line: line_number,
        source,
    })?;
    let key = PublicKey::from_base64(&fields.key).map_err(key_error)?;
    if let Some(stated) = &fields.id {
        let stated: KeyId = stated.parse().map_err(key_error)?;
        if stated != key.id() {
            return Err(OwnerKeysError::IdMismatch {
                location: location.to_owned(),
                line: line_number,
                stated,
                actual: key.id(),
            });
        }
    }
    let vouch = match (fields.vouched_by, fields.sig) {
        (None, None) => None,
        (Some(by), Some(sig)) => {
            let by: KeyId = by.parse().map_err(key_error)?;
            let signature = Signature::parse(&sig).map_err(key_error)?;
            if signature.key_id() != by {
                return Err(OwnerKeysError::VoucherMismatch {
                    location: location.to_owned(),
                    line: line_number,
                    vouched_by: by,
                    signer: signature.key_id(),
                });
            }
            Some(Vouch { by, signature })
        }
        _ => {
            return Err(OwnerKeysError::HalfVouch {
                location: location.to_owned(),
                line: line_number,
            });
        }
    };
    Ok(OwnerKey {
        key,
        owner: fields.owner,
        vouch,
        revoked: fields.revoked,
        line: line.to_owned(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::trust::keys::{GeneratedKey, SecretKey};

    pub(crate) fn new_key() -> SecretKey {
        GeneratedKey::unencrypted().unwrap().secret_key().unwrap()
    }

    pub(crate) fn plain_line(key: &PublicKey) -> String {
        format!(r#"{{"key":"{}","id":"{}"}}"#, key.base64(), key.id())
    }

    /// An owner-key line for `key`, vouched for by `voucher`.
    pub(crate) fn vouched_line(key: &PublicKey, voucher: &SecretKey) -> String {
        let unsigned = format!(r#"{{"key":"{}","vouched_by":"{}"}}"#, key.base64(), voucher.id());
        let sig = voucher
            .sign(canonical_form(&unsigned).unwrap().as_bytes(), "vouch")
            .unwrap();
        let mut value: serde_json::Value = serde_json::from_str(&unsigned).unwrap();
        value["sig"] = sig.into();
        value.to_string()
    }

    /// A line withdrawing `key`, vouched for by `voucher`.
    pub(crate) fn revocation_line(key: &PublicKey, voucher: &SecretKey) -> String {
        let unsigned = format!(
            r#"{{"key":"{}","revoked":true,"vouched_by":"{}"}}"#,
            key.base64(),
            voucher.id()
        );
        let sig = voucher
            .sign(canonical_form(&unsigned).unwrap().as_bytes(), "revoke")
            .unwrap();
        let mut value: serde_json::Value = serde_json::from_str(&unsigned).unwrap();
        value["sig"] = sig.into();
        value.to_string()
    }

    #[test]
    fn a_vouched_revocation_withdraws_a_key_but_keeps_its_vouches() {
        let (old, new, stranger) = (new_key(), new_key(), new_key());
        let base = format!("{}\n{}\n", plain_line(old.public()), vouched_line(new.public(), &old));
        let rotated = format!("{base}{}\n", revocation_line(old.public(), &old));
        let owners = OwnerKeys::parse("o", &rotated).unwrap();
        let ids: Vec<KeyId> = owners.keys().iter().map(|k| k.key.id()).collect();
        assert_eq!(ids, [new.id()]);
        assert!(owners.retired_key(old.id()).is_some());
        assert_eq!(owners.lines().len(), 3);
        // A client that pinned the old key still follows its vouch.
        assert_eq!(
            owners.vouched_from(&[old.public().clone()]).get(&new.id()),
            Some(&old.id())
        );
        // A revocation signed by an unlisted key withdraws nothing.
        let forged = format!("{base}{}\n", revocation_line(old.public(), &stranger));
        assert_eq!(OwnerKeys::parse("o", &forged).unwrap().keys().len(), 2);
    }

    #[test]
    fn reads_the_example_of_the_index_template() {
        let readme = include_str!("../../index-template/_keys/README.md");
        let example = readme
            .split("## Example")
            .nth(1)
            .and_then(|s| s.split("```json\n").nth(1))
            .and_then(|s| s.split("```").next())
            .unwrap();
        let owners = OwnerKeys::parse("example", example).unwrap();
        assert_eq!(owners.keys().len(), 2);
        let ada = &owners.keys()[0].key;
        assert_eq!(ada.id().to_string(), "E18F1437FBFE5BFB");
        let ci = &owners.keys()[1];
        assert_eq!(ci.vouch.as_ref().unwrap().by, ada.id());
        assert_eq!(ci.owner.as_deref(), Some("ci@example.org"));
        assert!(ci.is_vouched_by(ada), "the README's vouch must verify");
    }

    #[test]
    fn follows_vouch_chains_and_ignores_forged_vouches() {
        let (a, b, c, mallory) = (new_key(), new_key(), new_key(), new_key());
        let b_line = vouched_line(b.public(), &a);
        // A genuine signature by A, copied onto a line A never signed.
        let copied_sig = serde_json::from_str::<serde_json::Value>(&b_line).unwrap()["sig"].clone();
        let forged = serde_json::json!({"key": mallory.public().base64(), "vouched_by": a.id(), "sig": copied_sig});
        let text = [
            plain_line(a.public()),
            vouched_line(c.public(), &b),
            b_line,
            forged.to_string(),
        ]
        .join("\n");
        let owners = OwnerKeys::parse("t", &text).unwrap();
        let reachable = owners.vouched_from(&[a.public().clone()]);
        assert_eq!(reachable.get(&b.id()), Some(&a.id()));
        assert_eq!(reachable.get(&c.id()), Some(&b.id()));
        assert!(!reachable.contains_key(&mallory.id()));
        assert_eq!(reachable.len(), 2);
        assert!(owners.vouched_from(&[c.public().clone()]).is_empty());
    }

    #[test]
    fn refuses_malformed_lines_with_their_line_number() {
        let a = new_key();
        let b = new_key();
        let cases = [
            ("not json".to_owned(), "Json"),
            (r#"{"id":"0000000000000000"}"#.to_owned(), "Json"),
            (r#"{"key":"RWnope"}"#.to_owned(), "Key"),
            (
                format!(r#"{{"key":"{}","id":"{}"}}"#, a.public().base64(), b.id()),
                "IdMismatch",
            ),
            (
                format!(r#"{{"key":"{}","vouched_by":"{}"}}"#, a.public().base64(), b.id()),
                "HalfVouch",
            ),
            (
                vouched_line(a.public(), &a).replace(&a.id().to_string(), &b.id().to_string()),
                "VoucherMismatch",
            ),
        ];
        for (line, expected) in cases {
            let text = format!("{}\n\n{line}\n", plain_line(b.public()));
            let err = OwnerKeys::parse("_keys/1/a", &text).unwrap_err();
            assert!(format!("{err:?}").starts_with(expected), "{line}: {err:?}");
            assert!(err.to_string().starts_with("_keys/1/a, line 3:"), "{err}");
        }
    }
}
