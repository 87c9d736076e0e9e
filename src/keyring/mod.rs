//! An optional cluster key: a shared secret (as memberlist's keyring) that
//! seals every frame, so a node without it can neither join, read nor
//! inject anything.
//!
//! A [`Keyring`] holds one or more 32-byte keys. The first (primary) key
//! seals what this node sends; every key opens what it receives, so keys can
//! be rotated without a flag day: [install](Keyring::install) the new key
//! everywhere, [use](Keyring::use_key) it everywhere, then
//! [remove](Keyring::remove) the old one.
//!
//! A sealed frame is text (for WebSocket text frames), one JSON object:
//!
//! ```json
//! {"v":1,"type":"sealed","k":"<key id>","n":"<nonce>","c":"<ciphertext>"}
//! ```
//!
//! - `k`: the key id, 8 lowercase hex digits: the first 4 bytes of
//!   SHA-256(`"peerdisc-keyring-id-v1"` ‖ key). It names the key without
//!   revealing it, so a receiver picks the right key at once and an unknown
//!   key is a clear error.
//! - `n`: a fresh random 24-byte nonce (standard base64).
//! - `c`: XChaCha20-Poly1305 ciphertext and tag (standard base64) of the
//!   plaintext frame, with associated data `"peerdisc-sealed-v1:" + k`.
//!
//! A keyed node refuses plaintext ([`KeyringError::PlaintextRefused`]); a
//! plaintext node refuses sealed frames with [`check_plaintext`]
//! ([`KeyringError::SealedRefused`]).
//!
//! ```
//! use peerdisc::keyring::{check_plaintext, Keyring, KeyringError};
//!
//! let ring = Keyring::from_strings(&[Keyring::key_text(&Keyring::generate_key())]).unwrap();
//! let frame = ring.seal(r#"{"v":1,"type":"ping","seq":7,"target":"node-b"}"#);
//! assert_eq!(ring.open(&frame).unwrap(), r#"{"v":1,"type":"ping","seq":7,"target":"node-b"}"#);
//! assert!(matches!(check_plaintext(&frame), Err(KeyringError::SealedRefused)));
//! assert!(matches!(ring.open("{\"v\":1}"), Err(KeyringError::PlaintextRefused)));
//! ```

mod bytes;

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use data_encoding::{BASE64, BASE64URL, BASE64URL_NOPAD, BASE64_NOPAD, HEXLOWER_PERMISSIVE};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Size of a cluster key, in bytes.
pub const KEY_LEN: usize = 32;
/// Largest sealed frame accepted by [`Keyring::open`], in bytes (checked
/// before parsing): room for a 1 MiB message, base64-encoded.
pub const MAX_SEALED_FRAME_BYTES: usize = 1_500_000;
/// The sealed frame format version (field `v`).
pub const SEALED_VERSION: u64 = 1;
pub use bytes::SEAL_OVERHEAD;

const NONCE_LEN: usize = 24;
const AAD_PREFIX: &str = "peerdisc-sealed-v1:";
const KEY_ID_CONTEXT: &[u8] = b"peerdisc-keyring-id-v1";

/// Why a keyring could not be made or a frame could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// A keyring needs at least one key.
    #[error("a keyring needs at least one key")]
    NoKeys,
    /// A key is not 32 bytes in hex or base64.
    #[error("cluster key #{index} is invalid: {reason}")]
    BadKey {
        /// Position of the key in the list given.
        index: usize,
        /// What was wrong.
        reason: String,
    },
    /// The same key (or key id) is listed twice.
    #[error("cluster key #{index} is listed twice")]
    DuplicateKey {
        /// Position of the second copy.
        index: usize,
    },
    /// The key to remove is the primary key (make another key primary
    /// first) or is not in the keyring.
    #[error("cannot remove that key: {0}")]
    CannotRemove(&'static str),
    /// This node has a cluster key and the frame is not sealed: the peer
    /// runs without a cluster key (or is an intruder).
    #[error("plaintext frame refused: this node requires the cluster key (the peer has none)")]
    PlaintextRefused,
    /// This node has no cluster key and the frame is sealed: the peer runs
    /// with a cluster key.
    #[error("sealed frame refused: the peer uses a cluster key and this node has none")]
    SealedRefused,
    /// The frame is sealed with a key this node does not have.
    #[error("frame sealed with unknown cluster key {key_id} (not in this node's keyring)")]
    UnknownKey {
        /// The key id in the frame.
        key_id: String,
    },
    /// The frame names a known key but does not authenticate with it: it
    /// was changed in transit or forged.
    #[error("sealed frame failed authentication (tampered with or forged)")]
    Tampered,
    /// The frame says `"type":"sealed"` but is otherwise malformed.
    #[error("malformed sealed frame: {0}")]
    Malformed(String),
    /// The sealed frame format version is not [`SEALED_VERSION`].
    #[error("unsupported sealed frame version {0} (this build speaks 1)")]
    UnsupportedVersion(u64),
    /// The frame is larger than [`MAX_SEALED_FRAME_BYTES`].
    #[error("sealed frame is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// One or more cluster keys; the first seals, all open.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
    key: Zeroizing<[u8; KEY_LEN]>,
    id: String,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never prints a key, only the key ids.
        f.debug_struct("Keyring")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

/// The id of a key (see the module docs).
pub fn key_id(key: &[u8; KEY_LEN]) -> String {
    let mut h = Sha256::new();
    h.update(KEY_ID_CONTEXT);
    h.update(key);
    let d = h.finalize();
    data_encoding::HEXLOWER.encode(&d[..4])
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sealed<'a> {
    v: u64,
    #[serde(rename = "type")]
    kind: &'a str,
    k: &'a str,
    n: &'a str,
    c: &'a str,
}

#[derive(Deserialize)]
struct TypeOnly<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<std::borrow::Cow<'a, str>>,
}

/// True if `frame` is a sealed frame (a JSON object whose `type` is
/// `"sealed"`), whatever its other fields.
pub fn is_sealed(frame: &str) -> bool {
    // Cheap pre-check: every sealed frame is a JSON object naming "sealed".
    if !frame.trim_start().starts_with('{') || !frame.contains("sealed") {
        return false;
    }
    if frame.len() > MAX_SEALED_FRAME_BYTES {
        // Too large to be opened anyway; look only at its beginning.
        return frame.trim_start().starts_with(r#"{"v":1,"type":"sealed""#);
    }
    matches!(
        serde_json::from_str::<TypeOnly>(frame),
        Ok(TypeOnly { kind: Some(k) }) if k == "sealed"
    )
}

/// The check of a node without a cluster key: refuses a sealed frame with
/// [`KeyringError::SealedRefused`], passes anything else.
pub fn check_plaintext(frame: &str) -> Result<(), KeyringError> {
    if is_sealed(frame) {
        Err(KeyringError::SealedRefused)
    } else {
        Ok(())
    }
}

impl Keyring {
    /// A keyring of these keys; the first is the primary (sending) key.
    pub fn new(keys: Vec<[u8; KEY_LEN]>) -> Result<Self, KeyringError> {
        if keys.is_empty() {
            return Err(KeyringError::NoKeys);
        }
        let mut ring = Keyring { keys: Vec::new() };
        for (index, key) in keys.into_iter().enumerate() {
            let key = Zeroizing::new(key);
            ring.push(key, index)?;
        }
        Ok(ring)
    }

    /// A keyring of keys in text form: each 32 bytes as 64 hex digits or as
    /// base64 (standard or URL-safe, padded or not). The first is primary.
    pub fn from_strings<S: AsRef<str>>(keys: &[S]) -> Result<Self, KeyringError> {
        if keys.is_empty() {
            return Err(KeyringError::NoKeys);
        }
        let mut ring = Keyring { keys: Vec::new() };
        for (index, text) in keys.iter().enumerate() {
            let key = parse_key(text.as_ref())
                .map_err(|reason| KeyringError::BadKey { index, reason })?;
            ring.push(key, index)?;
        }
        Ok(ring)
    }

    fn push(&mut self, key: Zeroizing<[u8; KEY_LEN]>, index: usize) -> Result<(), KeyringError> {
        let id = key_id(&key);
        if self.keys.iter().any(|e| e.id == id) {
            return Err(KeyringError::DuplicateKey { index });
        }
        self.keys.push(Entry { key, id });
        Ok(())
    }

    /// A new random key.
    pub fn generate_key() -> [u8; KEY_LEN] {
        let mut k = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut k);
        k
    }

    /// The text form of a key (standard base64, 44 characters).
    pub fn key_text(key: &[u8; KEY_LEN]) -> String {
        BASE64.encode(key)
    }

    /// The key ids, primary first.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(|e| e.id.clone()).collect()
    }

    /// The primary key's id.
    pub fn primary_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a keyring has at least one key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds a key that opens frames (not used to send). Adding a held key
    /// does nothing.
    pub fn install(&mut self, key: [u8; KEY_LEN]) {
        let key = Zeroizing::new(key);
        let _ = self.push(key, self.keys.len());
    }

    /// Makes `key` the primary (sending) key, adding it if needed; the
    /// previous primary keeps opening frames.
    pub fn use_key(&mut self, key: [u8; KEY_LEN]) {
        let id = key_id(&key);
        self.install(key);
        let pos = self
            .keys
            .iter()
            .position(|e| e.id == id)
            .expect("installed");
        let entry = self.keys.remove(pos);
        self.keys.insert(0, entry);
    }

    /// Removes a key that is not the primary one.
    pub fn remove(&mut self, key: &[u8; KEY_LEN]) -> Result<(), KeyringError> {
        let id = key_id(key);
        match self.keys.iter().position(|e| e.id == id) {
            Some(0) => Err(KeyringError::CannotRemove("it is the primary key")),
            Some(pos) => {
                self.keys.remove(pos);
                Ok(())
            }
            None => Err(KeyringError::CannotRemove("it is not in the keyring")),
        }
    }

    /// Seals `plaintext` with the primary key and a fresh random nonce.
    pub fn seal(&self, plaintext: &str) -> String {
        let entry = &self.keys[0];
        let cipher = XChaCha20Poly1305::new(&Key::from(*entry.key));
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = format!("{AAD_PREFIX}{}", entry.id);
        let ct = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any message that fits in memory");
        let n = BASE64.encode(&nonce);
        let c = BASE64.encode(&ct);
        serde_json::to_string(&Sealed {
            v: SEALED_VERSION,
            kind: "sealed",
            k: &entry.id,
            n: &n,
            c: &c,
        })
        .expect("a sealed frame serializes")
    }

    /// Opens a sealed frame with whichever held key sealed it.
    pub fn open(&self, frame: &str) -> Result<String, KeyringError> {
        if frame.len() > MAX_SEALED_FRAME_BYTES {
            if is_sealed(frame) {
                return Err(KeyringError::TooLarge {
                    len: frame.len(),
                    max: MAX_SEALED_FRAME_BYTES,
                });
            }
            return Err(KeyringError::PlaintextRefused);
        }
        if !is_sealed(frame) {
            return Err(KeyringError::PlaintextRefused);
        }
        let s: Sealed =
            serde_json::from_str(frame).map_err(|e| KeyringError::Malformed(e.to_string()))?;
        if s.v != SEALED_VERSION {
            return Err(KeyringError::UnsupportedVersion(s.v));
        }
        let entry =
            self.keys
                .iter()
                .find(|e| e.id == s.k)
                .ok_or_else(|| KeyringError::UnknownKey {
                    key_id: s.k.chars().take(16).collect(),
                })?;
        let nonce = BASE64
            .decode(s.n.as_bytes())
            .map_err(|e| KeyringError::Malformed(format!("nonce: {e}")))?;
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| KeyringError::Malformed("nonce is not 24 bytes".into()))?;
        let ct = BASE64
            .decode(s.c.as_bytes())
            .map_err(|e| KeyringError::Malformed(format!("ciphertext: {e}")))?;
        let cipher = XChaCha20Poly1305::new(&Key::from(*entry.key));
        let aad = format!("{AAD_PREFIX}{}", entry.id);
        let plain = cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| KeyringError::Tampered)?;
        // Authenticated, so it is what a key holder sealed: `seal` takes
        // text, but a key holder could seal other bytes.
        String::from_utf8(plain)
            .map_err(|_| KeyringError::Malformed("plaintext is not UTF-8".into()))
    }
}

fn parse_key(text: &str) -> Result<Zeroizing<[u8; KEY_LEN]>, String> {
    let text = text.trim();
    let decoded = if text.len() == 2 * KEY_LEN {
        HEXLOWER_PERMISSIVE.decode(text.as_bytes()).ok()
    } else {
        [&BASE64, &BASE64_NOPAD, &BASE64URL, &BASE64URL_NOPAD]
            .iter()
            .find_map(|enc| enc.decode(text.as_bytes()).ok())
    };
    let decoded = Zeroizing::new(decoded.ok_or_else(|| {
        "expected 32 bytes as 64 hex digits or as base64 (44 characters)".to_string()
    })?);
    let key: [u8; KEY_LEN] = decoded[..]
        .try_into()
        .map_err(|_| format!("expected 32 bytes, found {}", decoded.len()))?;
    Ok(Zeroizing::new(key))
}
