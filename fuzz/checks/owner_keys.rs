//! An owner-keys file (`_keys/{shard}/{name}`): which keys may sign a
//! package, read from the index by every client that verifies.

use ggen_marketplace::trust::OwnerKeys;

/// No panic, and:
/// - every non-blank line is one owner-key line;
/// - the keys that may sign are listed, not revoked lines;
/// - every key reached through vouches from the first line's key may sign.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(owners) = OwnerKeys::parse("_keys/fu/zz/fuzz", text) else {
        return;
    };
    let non_blank = text.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(owners.lines().len(), non_blank, "lines lost or invented");
    for key in owners.keys() {
        assert!(!key.revoked, "a revocation line may sign");
        assert!(owners.key(key.key.id()).is_some());
    }
    let Some(first) = owners.lines().first() else {
        return;
    };
    for (reached, by) in owners.vouched_from(std::slice::from_ref(&first.key)) {
        assert!(owners.key(reached).is_some(), "vouched-for key {reached} may not sign");
        assert_ne!(reached, by, "a key vouched for itself");
    }
}
