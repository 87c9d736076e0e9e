//! Sealing of binary payloads (datagrams): the same keys and cipher as
//! text frames, without the JSON and base64 wrapping, so that a sealed
//! datagram costs 44 bytes more than its plaintext.
//!
//! Layout of a sealed payload: the 4-byte key id (the bytes whose hex is
//! [`key_id`](super::key_id)), a random 24-byte nonce, then the
//! XChaCha20-Poly1305 ciphertext with its 16-byte tag. The associated data
//! is the caller's `context` followed by the key id, so the caller binds
//! its own header (format and version) to the seal.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use data_encoding::HEXLOWER;
use rand::RngCore;

use super::{Keyring, KeyringError, NONCE_LEN};

/// Bytes a binary seal adds: key id, nonce and tag.
pub const SEAL_OVERHEAD: usize = KEY_ID_LEN + NONCE_LEN + TAG_LEN;

const KEY_ID_LEN: usize = 4;
const TAG_LEN: usize = 16;

fn aad(context: &[u8], key_id: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(context.len() + key_id.len());
    a.extend_from_slice(context);
    a.extend_from_slice(key_id);
    a
}

impl Keyring {
    /// Seals `plain` with the primary key: key id, nonce, ciphertext and
    /// tag, authenticating `context` too (see the module docs).
    pub fn seal_bytes(&self, context: &[u8], plain: &[u8]) -> Vec<u8> {
        let entry = &self.keys[0];
        let kid = HEXLOWER
            .decode(entry.id.as_bytes())
            .expect("a key id is 8 lowercase hex digits");
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new(&Key::from(*entry.key));
        let ct = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: &aad(context, &kid),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any message that fits in memory");
        let mut out = Vec::with_capacity(SEAL_OVERHEAD + plain.len());
        out.extend_from_slice(&kid);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens what [`seal_bytes`](Self::seal_bytes) made, with whichever
    /// held key it names: [`KeyringError::Malformed`] when too short,
    /// [`KeyringError::UnknownKey`], [`KeyringError::Tampered`].
    pub fn open_bytes(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KeyringError> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(KeyringError::Malformed(format!(
                "a sealed payload has at least {SEAL_OVERHEAD} bytes, this one {}",
                sealed.len()
            )));
        }
        let (kid, rest) = sealed.split_at(KEY_ID_LEN);
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let id = HEXLOWER.encode(kid);
        let entry = self
            .keys
            .iter()
            .find(|e| e.id == id)
            .ok_or(KeyringError::UnknownKey { key_id: id })?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
        let cipher = XChaCha20Poly1305::new(&Key::from(*entry.key));
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: &aad(context, kid),
                },
            )
            .map_err(|_| KeyringError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new(vec![Keyring::generate_key()]).unwrap()
    }

    #[test]
    fn a_sealed_payload_opens_with_its_key_and_context_only() {
        let r = ring();
        let s = r.seal_bytes(b"ctx", b"hello");
        assert_eq!(s.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(r.open_bytes(b"ctx", &s).unwrap(), b"hello");
        assert_eq!(r.open_bytes(b"other", &s), Err(KeyringError::Tampered));
        assert!(matches!(
            ring().open_bytes(b"ctx", &s),
            Err(KeyringError::UnknownKey { .. })
        ));
        let mut bad = s.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(r.open_bytes(b"ctx", &bad), Err(KeyringError::Tampered));
        assert!(matches!(
            r.open_bytes(b"ctx", &s[..10]),
            Err(KeyringError::Malformed(_))
        ));
    }

    #[test]
    fn a_second_key_opens_what_the_first_of_another_ring_sealed() {
        let (a, b) = (Keyring::generate_key(), Keyring::generate_key());
        let old = Keyring::new(vec![a]).unwrap();
        let mut new = Keyring::new(vec![b]).unwrap();
        new.install(a);
        let s = old.seal_bytes(b"c", b"x");
        assert_eq!(new.open_bytes(b"c", &s).unwrap(), b"x");
    }
}
