use ed25519_dalek::{Signature, Signer, VerifyingKey, PUBLIC_KEY_LENGTH};
use serde::{Deserialize, Serialize};

use super::key::{node_id_for, parse_public_key, NODE_ID_PREFIX};
use super::{Identity, VerifyError};
use crate::model::{PeerRecord, RecordSignature};

/// Domain separation prefix of the signed bytes (so a record signature can
/// never be taken for the signature of anything else).
pub const SIGNATURE_CONTEXT: &[u8] = b"peerdisc-record-v1\n";

/// The bytes a record signature covers: [`SIGNATURE_CONTEXT`] followed by
/// the record's compact JSON without its `signature` field
/// ([`PeerRecord::unsigned`]: fields in declaration order `node_id,
/// addresses, public_key, capabilities, metadata, version`, capability lists
/// in their order, metadata keys sorted, no whitespace).
///
/// Decoding a record and encoding it again gives the same JSON, so a
/// receiver recomputes these bytes from the record it decoded.
pub fn canonical_bytes(record: &PeerRecord) -> Vec<u8> {
    let mut out = SIGNATURE_CONTEXT.to_vec();
    serde_json::to_writer(&mut out, &record.unsigned()).expect("a record always serializes");
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
pub fn sign(identity: &Identity, record: PeerRecord) -> SignedRecord {
    let mut record = sign_record(identity, record);
    let signature = record.signature.take().expect("sign_record signs");
    SignedRecord {
        record,
        signature: signature.to_hex(),
    }
}

/// Signs `record` as `identity` and puts the signature inside it (field
/// `signature`, the form records travel in). As [`sign`], the record is
/// first stamped with the identity's node id and public key.
pub fn sign_record(identity: &Identity, mut record: PeerRecord) -> PeerRecord {
    record.node_id = identity.node_id();
    record.public_key = Some(identity.public_key_text().into_boxed_str());
    record.signature = None;
    let sig = identity.signing_key().sign(&canonical_bytes(&record));
    record.signature = Some(RecordSignature::from_bytes(sig.to_bytes()));
    record
}

/// Whether `node_id` has the form of an id derived from a public key
/// (`"pd1"` + 64 lowercase hex digits): the records of such a node must be
/// signed by that key.
pub fn is_key_derived_id(node_id: &str) -> bool {
    node_id.len() == NODE_ID_PREFIX.len() + 2 * PUBLIC_KEY_LENGTH
        && node_id.starts_with(NODE_ID_PREFIX)
        && node_id[NODE_ID_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks a record received from the network before it is accepted, the
/// rule every node applies ([`Membership`](crate::membership::Membership)
/// calls it for each record newer than the one it holds):
///
/// - a record that carries a `signature` must verify ([`verify_record`]);
/// - an unsigned record is refused ([`VerifyError::MissingSignature`]) when
///   its node id is derived from a key ([`is_key_derived_id`]: nobody but
///   the key's holder may speak for it) or when `require_signature` is set
///   (an open network where hand-picked ids are not welcome);
/// - otherwise (a hand-picked id, signatures not required) it is accepted
///   as it is: such a record is only as trustworthy as the network.
pub fn check_record(record: &PeerRecord, require_signature: bool) -> Result<(), VerifyError> {
    match &record.signature {
        Some(_) => verify_record(record),
        None if require_signature || is_key_derived_id(record.node_id.as_str()) => {
            Err(VerifyError::MissingSignature {
                node_id: record.node_id.to_string(),
            })
        }
        None => Ok(()),
    }
}

/// Checks a record that carries its signature (see [`verify`] for the
/// checks); [`VerifyError::MissingSignature`] when it carries none.
pub fn verify_record(record: &PeerRecord) -> Result<(), VerifyError> {
    let sig = record
        .signature
        .as_ref()
        .ok_or_else(|| VerifyError::MissingSignature {
            node_id: record.node_id.to_string(),
        })?;
    verify_parts(record, || Ok(Signature::from_bytes(sig.as_bytes())))
}

/// Checks a signed record and returns the record if it is genuine: the
/// record is within the model limits, `public_key` is present and well
/// formed, `node_id` is the one derived from that key, and the signature
/// (strict Ed25519 verification) matches the record's canonical bytes.
pub fn verify(signed: &SignedRecord) -> Result<&PeerRecord, VerifyError> {
    let record = &signed.record;
    verify_parts(record, || {
        let sig = RecordSignature::from_hex(&signed.signature).map_err(|reason| {
            VerifyError::MalformedSignature {
                node_id: record.node_id.to_string(),
                reason,
            }
        })?;
        Ok(Signature::from_bytes(sig.as_bytes()))
    })?;
    Ok(record)
}

/// The checks of [`verify`], in order; the signature is parsed only after
/// the key and node id passed.
fn verify_parts(
    record: &PeerRecord,
    signature: impl FnOnce() -> Result<Signature, VerifyError>,
) -> Result<(), VerifyError> {
    let p = prepare(record, signature)?;
    p.key
        .verify_strict(&p.bytes, &p.signature)
        .map_err(|_| VerifyError::BadSignature {
            node_id: record.node_id.to_string(),
        })
}

/// A record that passed every check but the signature's: what the
/// signature is to be verified against.
pub(super) struct Prepared {
    pub key: VerifyingKey,
    pub signature: Signature,
    pub bytes: Vec<u8>,
}

/// Every check of [`verify`] but the signature verification itself.
pub(super) fn prepare(
    record: &PeerRecord,
    signature: impl FnOnce() -> Result<Signature, VerifyError>,
) -> Result<Prepared, VerifyError> {
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
    Ok(Prepared {
        key,
        signature: signature()?,
        bytes: canonical_bytes(record),
    })
}
