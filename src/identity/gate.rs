use std::collections::HashMap;

use super::{verify, SignedRecord, VerifyError};
use crate::model::NodeId;

/// What [`RecordGate::offer`] did with an accepted record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GateOutcome {
    /// First record of this node.
    Added,
    /// Replaced an older record of this node.
    Replaced {
        /// The version replaced.
        previous_version: u64,
    },
}

/// The newest verified record of each node: the admission check for
/// records received from the network. Pure (no I/O, no clock).
///
/// - [`offer`](RecordGate::offer) accepts a record only if it verifies and
///   its `version` is higher than the held one; an older or equal version
///   (a replay) is refused with [`VerifyError::Stale`] *before* the
///   signature is checked (cheap to refuse, and it changes nothing).
/// - Liveness news about a node (suspect, dead, left) has no way in here: a
///   node's signed record is only replaced by a newer record of its own,
///   or dropped by [`forget`](RecordGate::forget) when the owner decides it
///   is gone for good (the dead timeout).
/// - [`get`](RecordGate::get) gives the record with its signature, to relay
///   it unchanged.
#[derive(Debug, Default, Clone)]
pub struct RecordGate {
    records: HashMap<NodeId, SignedRecord>,
}

impl RecordGate {
    /// An empty gate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Verifies `signed` and keeps it if it is newer than the held record of
    /// its node. Nothing changes on error.
    pub fn offer(&mut self, signed: SignedRecord) -> Result<GateOutcome, VerifyError> {
        self.check(&signed)?;
        let id = signed.record.node_id.clone();
        Ok(match self.records.insert(id, signed) {
            None => GateOutcome::Added,
            Some(old) => GateOutcome::Replaced {
                previous_version: old.record.version,
            },
        })
    }

    /// Would `signed` be accepted? (Same checks as [`offer`](Self::offer),
    /// nothing kept.)
    pub fn check(&self, signed: &SignedRecord) -> Result<(), VerifyError> {
        if let Some(current) = self.records.get(&signed.record.node_id) {
            if signed.record.version <= current.record.version {
                return Err(VerifyError::Stale {
                    node_id: signed.record.node_id.to_string(),
                    offered: signed.record.version,
                    current: current.record.version,
                });
            }
        }
        verify(signed).map(|_| ())
    }

    /// The held record of `node_id`, with its signature.
    pub fn get(&self, node_id: &str) -> Option<&SignedRecord> {
        self.records.get(node_id)
    }

    /// The version held for `node_id`.
    pub fn version(&self, node_id: &str) -> Option<u64> {
        self.records.get(node_id).map(|s| s.record.version)
    }

    /// Drops the record of `node_id` (after a dead timeout). A later record
    /// of any version is then accepted again.
    pub fn forget(&mut self, node_id: &str) -> Option<SignedRecord> {
        self.records.remove(node_id)
    }

    /// How many nodes have a record here.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when no record is held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Every held record, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &SignedRecord> {
        self.records.values()
    }
}
