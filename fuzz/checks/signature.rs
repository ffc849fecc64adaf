//! A minisign signature file (`.minisig`: an entry's `sig`, a vouch, a
//! notice) and a public key (`.pub`, config.json `keys`, owner-key `key`).

use ggen_marketplace::trust::{PublicKey, Signature};

/// The key of the committed seed signatures (`corpus/signature/*`), over
/// [`MESSAGE`]: real signatures reach the verifying code.
const SEED_KEY: &str = "RWTTwkDt5kI3nN/rJn1zZKFWmHdUhHUp9Zj/9tL1jQNdxfB2jwsar1pz";
const MESSAGE: &[u8] = b"fuzz\n";

/// No panic, and:
/// - our parser accepts exactly what minisign-verify's decoder accepts,
///   and both read the same trusted comment;
/// - a signature that verifies was made by the key with its key id;
/// - a public key reads back from the `.pub` text it writes, with its id.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let decoded = minisign_verify::Signature::decode(text);
    match Signature::parse(text) {
        Ok(signature) => {
            let decoded = decoded.expect("we accept a signature minisign-verify refuses");
            assert_eq!(signature.trusted_comment(), decoded.trusted_comment());
            let key = PublicKey::from_base64(SEED_KEY).expect("the seed key is valid");
            if key.verifies(MESSAGE, &signature) {
                assert_eq!(signature.key_id(), key.id(), "verified with another key's id");
            }
        }
        Err(e) => assert!(decoded.is_err(), "we refuse a signature minisign-verify accepts: {e}"),
    }
    if let Ok(key) = PublicKey::from_minisign_text(text) {
        let again = PublicKey::from_minisign_text(&key.to_minisign_text()).expect("a written key reads back");
        assert_eq!(again, key);
        assert_eq!(
            PublicKey::from_base64(key.base64()).expect("base64 reads back").id(),
            key.id()
        );
    }
}
