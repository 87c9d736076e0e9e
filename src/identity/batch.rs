//! Checking the records of one message together: the signatures of those
//! that pass every other check are verified in one Ed25519 batch
//! (ed25519-dalek's `verify_batch`), about half the cost per signature of
//! verifying them one at a time. An anti-entropy answer or a `peer_list`
//! of a cold start carries dozens of records, and every node checks every
//! other node's record once: this is where a cold start spends its CPU.

use ed25519_dalek::Signature;

use super::record::{check_record, prepare, Prepared};
use super::VerifyError;
use crate::model::PeerRecord;

/// Checks each of `records` as [`check_record`] does and returns one
/// verdict per record, in order.
///
/// The verdicts are those of [`check_record`] with one difference, which
/// accepts nothing forged: the batch equation does not refuse the
/// malleated forms (a small-order component added to `R`) of a genuine
/// signature that strict verification refuses. Such a form still names the
/// same record under the same key, and weak keys are refused as before.
/// When the batch fails (at least one signature is bad), each signature is
/// verified alone (strictly), so a forged record fails by itself and never
/// takes a genuine one with it.
pub fn check_records(
    records: &[&PeerRecord],
    require_signature: bool,
) -> Vec<Result<(), VerifyError>> {
    let mut verdicts: Vec<Result<(), VerifyError>> = Vec::with_capacity(records.len());
    // (index, what to verify) of the signed records that passed the rest.
    let mut pending: Vec<(usize, Prepared)> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let Some(sig) = &record.signature else {
            verdicts.push(check_record(record, require_signature));
            continue;
        };
        match prepare(record, || Ok(Signature::from_bytes(sig.as_bytes()))) {
            Ok(p) => {
                pending.push((i, p));
                verdicts.push(Ok(()));
            }
            Err(e) => verdicts.push(Err(e)),
        }
    }
    if pending.len() >= 2 && batch_holds(&pending) {
        return verdicts;
    }
    for (i, p) in &pending {
        if p.key.verify_strict(&p.bytes, &p.signature).is_err() {
            verdicts[*i] = Err(VerifyError::BadSignature {
                node_id: records[*i].node_id.to_string(),
            });
        }
    }
    verdicts
}

fn batch_holds(pending: &[(usize, Prepared)]) -> bool {
    let messages: Vec<&[u8]> = pending.iter().map(|(_, p)| p.bytes.as_slice()).collect();
    let signatures: Vec<Signature> = pending.iter().map(|(_, p)| p.signature).collect();
    let keys: Vec<_> = pending.iter().map(|(_, p)| p.key).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{sign_record, Identity};
    use crate::model::RecordSignature;

    fn signed(version: u64) -> PeerRecord {
        let id = Identity::generate();
        let mut r = PeerRecord::new(id.node_id());
        r.version = version;
        sign_record(&id, r)
    }

    #[test]
    fn genuine_records_pass_together() {
        let rs: Vec<PeerRecord> = (0..8).map(signed).collect();
        let refs: Vec<&PeerRecord> = rs.iter().collect();
        assert!(check_records(&refs, false).iter().all(Result::is_ok));
    }

    #[test]
    fn a_forged_record_fails_alone_and_the_others_pass() {
        let mut rs: Vec<PeerRecord> = (0..6).map(signed).collect();
        rs[2].version += 1; // changed after signing
        let other = signed(9);
        rs[4].signature = other.signature.clone(); // someone else's signature
        rs[5].signature = Some(RecordSignature::from_bytes([7u8; 64]));
        let refs: Vec<&PeerRecord> = rs.iter().collect();
        let verdicts = check_records(&refs, false);
        let bad: Vec<usize> = (0..6).filter(|&i| verdicts[i].is_err()).collect();
        assert_eq!(bad, vec![2, 4, 5]);
        for (v, r) in verdicts.iter().zip(&rs) {
            assert_eq!(
                v.is_ok(),
                check_record(r, false).is_ok(),
                "same verdict as one at a time"
            );
        }
    }

    #[test]
    fn unsigned_and_malformed_records_get_the_single_verdicts() {
        let mut hand_picked = PeerRecord::new(crate::NodeId::new("node_a").unwrap());
        hand_picked.version = 1;
        let mut stripped = signed(1);
        stripped.signature = None;
        let mut no_key = signed(1);
        no_key.public_key = None;
        let rs = [hand_picked, stripped, no_key, signed(2)];
        let refs: Vec<&PeerRecord> = rs.iter().collect();
        for require in [false, true] {
            let verdicts = check_records(&refs, require);
            for (v, r) in verdicts.iter().zip(&rs) {
                assert_eq!(
                    v.as_ref().err().map(ToString::to_string),
                    check_record(r, require).err().map(|e| e.to_string())
                );
            }
        }
    }
}
