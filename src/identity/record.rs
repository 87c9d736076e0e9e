use data_encoding::HEXLOWER;
use ed25519_dalek::{Signature, Signer, SIGNATURE_LENGTH};
use serde::{Deserialize, Serialize};

use super::key::{node_id_for, parse_public_key};
use super::{Identity, VerifyError};
use crate::model::PeerRecord;

/// Domain separation prefix of the signed bytes (so a record signature can
/// never be taken for the signature of anything else).
pub const SIGNATURE_CONTEXT: &[u8] = b"peerdisc-record-v1\n";

/// The bytes a record signature covers: [`SIGNATURE_CONTEXT`] followed by
/// the record's compact JSON (`PeerRecord::to_json`: fields in declaration
/// order `node_id, addresses, public_key, capabilities, metadata, version`,
/// capability lists in their order, metadata keys sorted, no whitespace).
///
/// Decoding a record and encoding it again gives the same JSON, so a
/// receiver recomputes these bytes from the record it decoded.
pub fn canonical_bytes(record: &PeerRecord) -> Vec<u8> {
    let mut out = SIGNATURE_CONTEXT.to_vec();
    serde_json::to_writer(&mut out, record).expect("a record always serializes");
    out
}

/// A peer record with its owner's signature.
///
/// JSON: `{"record": {...PeerRecord...}, "signature": "<128 lowercase hex
/// digits>"}`; unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRecord {
    /// The record, exactly as signed.
    pub record: PeerRecord,
    /// Ed25519 signature of [`canonical_bytes`]`(record)`, 64 bytes as
    /// lowercase hex.
    pub signature: String,
}

impl SignedRecord {
    /// Encodes as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a signed record always serializes")
    }

    /// Decodes JSON (strict). The signature is not checked: call [`verify`].
    pub fn from_json(json: &str) -> Result<Self, VerifyError> {
        serde_json::from_str(json).map_err(|e| VerifyError::InvalidRecord(e.to_string()))
    }
}

/// Signs `record` as `identity`. The record is first stamped with the
/// identity's node id and public key (so the result always verifies); all
/// other fields, including `version` (the sequence number), are signed as
/// given.
pub fn sign(identity: &Identity, mut record: PeerRecord) -> SignedRecord {
    record.node_id = identity.node_id();
    record.public_key = Some(identity.public_key_text().into_boxed_str());
    let sig = identity.signing_key().sign(&canonical_bytes(&record));
    SignedRecord {
        record,
        signature: HEXLOWER.encode(&sig.to_bytes()),
    }
}

/// Checks a signed record and returns the record if it is genuine: the
/// record is within the model limits, `public_key` is present and well
/// formed, `node_id` is the one derived from that key, and the signature
/// (strict Ed25519 verification) matches the record's canonical bytes.
pub fn verify(signed: &SignedRecord) -> Result<&PeerRecord, VerifyError> {
    let record = &signed.record;
    let node_id = || record.node_id.to_string();
    record
        .validate()
        .map_err(|e| VerifyError::InvalidRecord(e.to_string()))?;
    let text = record
        .public_key
        .as_deref()
        .ok_or_else(|| VerifyError::MissingPublicKey { node_id: node_id() })?;
    let key = parse_public_key(text).map_err(|reason| VerifyError::MalformedPublicKey {
        node_id: node_id(),
        reason,
    })?;
    let derived = node_id_for(&key);
    if derived != record.node_id {
        return Err(VerifyError::NodeIdMismatch {
            claimed: node_id(),
            derived: derived.to_string(),
        });
    }
    let sig_hex = signed.signature.as_bytes();
    if sig_hex.len() != 2 * SIGNATURE_LENGTH {
        return Err(VerifyError::MalformedSignature {
            node_id: node_id(),
            reason: format!(
                "expected {} hex digits, found {}",
                2 * SIGNATURE_LENGTH,
                sig_hex.len()
            ),
        });
    }
    let mut bytes = [0u8; SIGNATURE_LENGTH];
    HEXLOWER
        .decode_mut(sig_hex, &mut bytes)
        .map_err(|_| VerifyError::MalformedSignature {
            node_id: node_id(),
            reason: "not lowercase hex".into(),
        })?;
    let sig = Signature::from_bytes(&bytes);
    key.verify_strict(&canonical_bytes(record), &sig)
        .map_err(|_| VerifyError::BadSignature { node_id: node_id() })?;
    Ok(record)
}
