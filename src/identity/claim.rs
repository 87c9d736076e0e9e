//! Signed liveness claims: what only a node may say about itself (that it
//! is alive at an incarnation, that it leaves) and the proof that a
//! connection's greeting comes from the key's holder.
//!
//! A key-derived node id *is* the public key (`pd1` + its 64 hex digits),
//! so a claim about such a node is checked against its id alone: no record
//! is needed.

use ed25519_dalek::{Signature, Signer, VerifyingKey, PUBLIC_KEY_LENGTH};

use super::key::NODE_ID_PREFIX;
use super::record::is_key_derived_id;
use super::{Identity, VerifyError};
use crate::model::{Liveness, RecordSignature};

/// Domain separation prefix of a signed liveness claim.
pub const CLAIM_CONTEXT: &[u8] = b"peerdisc-claim-v1\n";
/// Domain separation prefix of a greeting proof.
pub const GREETING_CONTEXT: &[u8] = b"peerdisc-greeting-v1\n";

/// The bytes a liveness claim signature covers:
/// `peerdisc-claim-v1\n<node_id>\n<liveness>\n<incarnation>` (liveness as
/// on the wire: `alive`, `left`, ...; incarnation in decimal).
pub fn claim_bytes(node_id: &str, liveness: Liveness, incarnation: u64) -> Vec<u8> {
    let mut out = CLAIM_CONTEXT.to_vec();
    out.extend_from_slice(node_id.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(liveness.to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(incarnation.to_string().as_bytes());
    out
}

/// The bytes a greeting proof covers: `peerdisc-greeting-v1\n<sender's
/// node id>\n<the receiver's node id, as the sender knows it>\n<the
/// receiver's nonce>`. The receiver's id binds the proof to the
/// conversation: a node in the middle that relays one side's challenge to
/// the other gets a proof made out to itself.
pub fn greeting_bytes(node_id: &str, to: &str, nonce: &str) -> Vec<u8> {
    let mut out = GREETING_CONTEXT.to_vec();
    for part in [node_id, to] {
        out.extend_from_slice(part.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(nonce.as_bytes());
    out
}

/// Signs "`identity` is `liveness` at `incarnation`".
pub fn sign_claim(identity: &Identity, liveness: Liveness, incarnation: u64) -> RecordSignature {
    let id = identity.node_id();
    let bytes = claim_bytes(id.as_str(), liveness, incarnation);
    RecordSignature::from_bytes(identity.signing_key().sign(&bytes).to_bytes())
}

/// Proves, on one connection, that the sender holds `identity`'s key: a
/// signature of the other side's (`to`'s) fresh `nonce`.
pub fn sign_greeting(identity: &Identity, to: &str, nonce: &str) -> RecordSignature {
    let id = identity.node_id();
    let bytes = greeting_bytes(id.as_str(), to, nonce);
    RecordSignature::from_bytes(identity.signing_key().sign(&bytes).to_bytes())
}

/// The public key a key-derived node id names.
fn key_of(node_id: &str) -> Result<VerifyingKey, VerifyError> {
    let bad = |reason: &str| VerifyError::MalformedPublicKey {
        node_id: node_id.to_string(),
        reason: reason.to_string(),
    };
    if !is_key_derived_id(node_id) {
        return Err(bad("not a key-derived node id"));
    }
    let hex = &node_id[NODE_ID_PREFIX.len()..];
    let bytes = data_encoding::HEXLOWER
        .decode(hex.as_bytes())
        .map_err(|_| bad("not lowercase hex"))?;
    let bytes: [u8; PUBLIC_KEY_LENGTH] = bytes.try_into().map_err(|_| bad("wrong length"))?;
    super::key_cache::verifying_key(&bytes).map_err(|f| bad(f.reason()))
}

fn verify_with(node_id: &str, bytes: &[u8], sig: &RecordSignature) -> Result<(), VerifyError> {
    let key = key_of(node_id)?;
    key.verify_strict(bytes, &Signature::from_bytes(sig.as_bytes()))
        .map_err(|_| VerifyError::BadSignature {
            node_id: node_id.to_string(),
        })
}

/// Checks "`node_id` is `liveness` at `incarnation`", signed `sig`: the id
/// must be key-derived and the signature (strict Ed25519) its key's.
pub fn verify_claim(
    node_id: &str,
    liveness: Liveness,
    incarnation: u64,
    sig: &RecordSignature,
) -> Result<(), VerifyError> {
    verify_with(node_id, &claim_bytes(node_id, liveness, incarnation), sig)
}

/// Checks a greeting proof: `node_id`'s key signed the `nonce` of `to`
/// (this side).
pub fn verify_greeting(
    node_id: &str,
    to: &str,
    nonce: &str,
    proof: &RecordSignature,
) -> Result<(), VerifyError> {
    verify_with(node_id, &greeting_bytes(node_id, to, nonce), proof)
}

/// Whether what `node_id` says about itself must be signed: always for a
/// key-derived id, for any id when the receiver requires signatures.
pub fn must_sign(node_id: &str, require_signatures: bool) -> bool {
    require_signatures || is_key_derived_id(node_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_verifies_only_as_signed() {
        let me = Identity::generate();
        let id = me.node_id();
        let sig = sign_claim(&me, Liveness::Left, 7);
        assert!(verify_claim(id.as_str(), Liveness::Left, 7, &sig).is_ok());
        assert!(verify_claim(id.as_str(), Liveness::Left, 8, &sig).is_err());
        assert!(verify_claim(id.as_str(), Liveness::Alive, 7, &sig).is_err());
        let other = Identity::generate().node_id();
        assert!(verify_claim(other.as_str(), Liveness::Left, 7, &sig).is_err());
        assert!(verify_claim("node-1", Liveness::Left, 7, &sig).is_err());
    }

    #[test]
    fn a_greeting_proof_is_bound_to_the_nonce() {
        let me = Identity::generate();
        let id = me.node_id();
        let n = "00112233445566778899aabbccddeeff";
        let proof = sign_greeting(&me, "node-b", n);
        assert!(verify_greeting(id.as_str(), "node-b", n, &proof).is_ok());
        let other = "ffeeddccbbaa99887766554433221100";
        assert!(verify_greeting(id.as_str(), "node-b", other, &proof).is_err());
        // Made out to someone else: a relay in the middle cannot use it.
        assert!(verify_greeting(id.as_str(), "node-c", n, &proof).is_err());
        // A claim signature is not a greeting proof (domain separation).
        let claim = sign_claim(&me, Liveness::Alive, 0);
        assert!(verify_greeting(id.as_str(), "node-b", "0", &claim).is_err());
    }
}
