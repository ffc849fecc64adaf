//! The canonical form of an index entry: the exact bytes a signature covers
//! (DESIGN §4).
//!
//! It is the entry's JSON object without `sig` and `yanked`, with the keys of
//! every object sorted (byte-wise, as Rust's `str` orders them), no
//! whitespace, and serde_json's escaping (only `"`, `\` and control
//! characters are escaped; other Unicode is written as is). It covers `cksum`
//! and therefore the archive, and `deps`, so a tampered index cannot add a
//! dependency; yanking leaves it unchanged.
//!
//! It is computed from the line as stored, so fields this version of the
//! toolkit does not know are covered too.
//!
//! ```
//! use ggen_marketplace::format::canonical::canonical_form;
//! let line = r#"{"vers":"1.0.0","name":"a","yanked":true,"sig":"...","deps":[],"cksum":"ab","features":{"z":[],"a":["x"]}}"#;
//! assert_eq!(
//!     canonical_form(line).unwrap(),
//!     r#"{"cksum":"ab","deps":[],"features":{"a":["x"],"z":[]},"name":"a","vers":"1.0.0"}"#
//! );
//! ```

use serde_json::{Map, Value};

/// Fields left out of the canonical form: the signature itself, and the one
/// field allowed to change after publishing.
pub const UNSIGNED_FIELDS: [&str; 2] = ["sig", "yanked"];

/// Why a canonical form could not be made.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum CanonicalError {
    /// The line is not JSON.
    #[error("entry is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The line is JSON but not an object.
    #[error("entry is a JSON {0}, not an object")]
    NotAnObject(&'static str),
}

/// The canonical form of one index line.
pub fn canonical_form(line: &str) -> Result<String, CanonicalError> {
    canonical_form_of(serde_json::from_str(line)?)
}

/// The canonical form of an entry already parsed as JSON.
pub fn canonical_form_of(entry: Value) -> Result<String, CanonicalError> {
    let Value::Object(mut fields) = entry else {
        return Err(CanonicalError::NotAnObject(json_type(&entry)));
    };
    for field in UNSIGNED_FIELDS {
        fields.remove(field);
    }
    let sorted = sort_keys(Value::Object(fields));
    Ok(serde_json::to_string(&sorted).expect("a JSON value always serializes"))
}

fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(fields) => {
            let mut pairs: Vec<(String, Value)> = fields.into_iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(pairs.into_iter().map(|(k, v)| (k, sort_keys(v))).collect::<Map<_, _>>())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        scalar => scalar,
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact bytes are a contract with every signer that ever signed an
    /// entry: this test pins them.
    #[test]
    fn fixes_the_exact_bytes() {
        let line = concat!(
            r#"{"name":"io.ggen.rust.axum","vers":"0.3.1","deps":[{"name":"io.ggen.rust.base","req":"^0.4","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}],"#,
            r#""cksum":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","features":{},"yanked":false,"#,
            r#""description":"Axum \"web\" server\nwith ünïcode and \u0001","keywords":["rust","axum"],"license":"MIT","sig":"untrusted comment: x\nRW..."}"#
        );
        let expected = concat!(
            r#"{"cksum":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","#,
            r#""deps":[{"default_features":true,"features":[],"kind":"normal","name":"io.ggen.rust.base","optional":false,"req":"^0.4","target":null}],"#,
            r#""description":"Axum \"web\" server\nwith ünïcode and \u0001","features":{},"keywords":["rust","axum"],"license":"MIT","name":"io.ggen.rust.axum","vers":"0.3.1"}"#
        );
        assert_eq!(canonical_form(line).unwrap(), expected);
    }

    #[test]
    fn whitespace_key_order_and_yanking_do_not_change_it() {
        let a = r#"{"name":"a","vers":"1.0.0","yanked":false,"cksum":"00","deps":[],"features":{}}"#;
        let b = r#"{ "features": {}, "deps": [ ], "cksum": "00", "yanked": true, "vers": "1.0.0", "name": "a" }"#;
        assert_eq!(canonical_form(a).unwrap(), canonical_form(b).unwrap());
    }

    #[test]
    fn changed_dependencies_change_it() {
        let a = r#"{"name":"a","vers":"1.0.0","cksum":"00","deps":[]}"#;
        let b = r#"{"name":"a","vers":"1.0.0","cksum":"00","deps":[{"name":"evil","req":"*"}]}"#;
        assert_ne!(canonical_form(a).unwrap(), canonical_form(b).unwrap());
    }

    #[test]
    fn refuses_non_objects() {
        assert!(matches!(
            canonical_form("[1]"),
            Err(CanonicalError::NotAnObject("array"))
        ));
        assert!(matches!(canonical_form("{"), Err(CanonicalError::Json(_))));
    }
}
