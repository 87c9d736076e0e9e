//! Carrying a core's [`RegistryChange`]s out on a [`PeerRegistry`]: shared
//! by the node's driver and [`GossipDiscovery`](super::GossipDiscovery).

use super::{RegistryChange, RemovalReason as CoreRemoval};
use crate::events::RemovalReason;
use crate::model::NodeId;
use crate::registry::{PeerRegistry, UpsertOutcome};

/// Applies one change to `registry` (changes about `me` are skipped).
/// Returns true when the change added a peer the registry did not list.
pub(crate) fn apply_change(registry: &PeerRegistry, me: &NodeId, change: &RegistryChange) -> bool {
    match change {
        RegistryChange::Upsert(record) => {
            if record.node_id == *me {
                return false;
            }
            match registry.upsert((**record).clone()) {
                Ok(UpsertOutcome::Added) => return true,
                Ok(_) => {}
                Err(e) => log::debug!("peerdisc: registry refused {}: {e}", record.node_id),
            }
        }
        RegistryChange::Liveness {
            node_id,
            liveness,
            incarnation,
        } => {
            if registry.contains(node_id.as_str()) {
                let _ = registry.set_liveness_with_incarnation(
                    node_id.as_str(),
                    *liveness,
                    *incarnation,
                );
            }
        }
        RegistryChange::Outcome { node_id, success } => {
            if registry.contains(node_id.as_str()) {
                let _ = if *success {
                    registry.record_success(node_id.as_str())
                } else {
                    registry.record_failure(node_id.as_str())
                };
            }
        }
        RegistryChange::Remove { node_id, reason } => {
            let reason = match reason {
                CoreRemoval::LeftReclaimed => RemovalReason::Left,
                _ => RemovalReason::Dead,
            };
            registry.remove_for(node_id.as_str(), reason);
        }
    }
    false
}
