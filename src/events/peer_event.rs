use std::sync::Arc;

use serde::Serialize;

use crate::model::{ConnectionState, Liveness, NodeId, Peer};

/// A part of a peer that changed in an [`PeerEvent::Updated`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangedField {
    Addresses,
    PublicKey,
    Capabilities,
    Metadata,
    Version,
    Health,
    Incarnation,
}

/// Why a peer left the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RemovalReason {
    /// It was dead longer than the retention time.
    Dead,
    /// It left gracefully and the retention time passed.
    Left,
    /// The registry was full and it ranked lowest.
    Evicted,
    /// The user removed it.
    Removed,
}

/// A change of connection state or liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StateChange {
    Liveness {
        from: Liveness,
        to: Liveness,
    },
    Connection {
        from: ConnectionState,
        to: ConnectionState,
    },
}

/// Something that happened to a peer in the registry. In JSON:
/// `{"type": "added", "peer": {...}}`, `{"type": "updated", "peer": {...},
/// "changes": ["capabilities"]}`, `{"type": "removed", "peer": {...},
/// "reason": "dead"}`, `{"type": "state_changed", "peer": {...}, "change":
/// {"kind": "liveness", "from": "alive", "to": "suspect"}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PeerEvent {
    /// A new peer.
    Added { peer: Arc<Peer> },
    /// A peer's record or health changed.
    Updated {
        peer: Arc<Peer>,
        changes: Vec<ChangedField>,
    },
    /// A peer was removed; `peer` is its last state.
    Removed {
        peer: Arc<Peer>,
        reason: RemovalReason,
    },
    /// A peer's liveness or connection state changed.
    StateChanged {
        peer: Arc<Peer>,
        change: StateChange,
    },
}

impl PeerEvent {
    /// The peer the event is about.
    pub fn peer(&self) -> &Arc<Peer> {
        match self {
            PeerEvent::Added { peer }
            | PeerEvent::Updated { peer, .. }
            | PeerEvent::Removed { peer, .. }
            | PeerEvent::StateChanged { peer, .. } => peer,
        }
    }

    /// The node id the event is about.
    pub fn node_id(&self) -> &NodeId {
        self.peer().node_id()
    }

    /// The event as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an event always serializes")
    }
}
