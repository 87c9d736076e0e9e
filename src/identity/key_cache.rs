//! Public keys already decompressed, per thread. Turning 32 key bytes into
//! a curve point (`VerifyingKey::from_bytes`) costs a field inversion and a
//! square root, about a fifth of a signature check; a node checks the same
//! member's key again and again (each record version, each signed claim,
//! each connection's greeting), so it keeps the points it has made.
//!
//! The cache is per thread (no lock; a node's checks all run on its driver
//! thread) and bounded: when full it is emptied and refilled.

use std::cell::RefCell;
use std::collections::HashMap;

use ed25519_dalek::{VerifyingKey, PUBLIC_KEY_LENGTH};

/// Keys kept per thread (about 200 bytes each).
const CAPACITY: usize = 4_096;

thread_local! {
    static KEYS: RefCell<HashMap<[u8; PUBLIC_KEY_LENGTH], VerifyingKey>> =
        RefCell::new(HashMap::new());
}

/// The verifying key of `bytes`, refused when they are not a point or a
/// weak (small-order) one, as `parse` would. Only accepted keys are kept.
pub(super) fn verifying_key(bytes: &[u8; PUBLIC_KEY_LENGTH]) -> Result<VerifyingKey, KeyFault> {
    if let Some(k) = KEYS.with(|c| c.borrow().get(bytes).copied()) {
        return Ok(k);
    }
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyFault::NotAPoint)?;
    if key.is_weak() {
        return Err(KeyFault::Weak);
    }
    KEYS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CAPACITY {
            c.clear();
        }
        c.insert(*bytes, key);
    });
    Ok(key)
}

/// Why key bytes are not a usable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyFault {
    NotAPoint,
    Weak,
}

impl KeyFault {
    pub(super) fn reason(self) -> &'static str {
        match self {
            KeyFault::NotAPoint => "not an Ed25519 point",
            KeyFault::Weak => "a weak (small-order) key",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    #[test]
    fn a_cached_key_is_the_key_and_bad_keys_stay_refused() {
        let id = Identity::generate();
        let bytes = id.signing_key().verifying_key().to_bytes();
        let first = verifying_key(&bytes).unwrap();
        let again = verifying_key(&bytes).unwrap();
        assert_eq!(first, again);
        assert_eq!(first.to_bytes(), bytes);
        // The identity point is small-order: refused, also the second time.
        let mut weak = [0u8; PUBLIC_KEY_LENGTH];
        weak[0] = 1;
        assert_eq!(verifying_key(&weak), Err(KeyFault::Weak));
        assert_eq!(verifying_key(&weak), Err(KeyFault::Weak));
        // y = 2 is not on the curve.
        let mut off = [0u8; PUBLIC_KEY_LENGTH];
        off[0] = 2;
        assert_eq!(verifying_key(&off), Err(KeyFault::NotAPoint));
    }
}
