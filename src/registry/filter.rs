use serde::Deserialize;

use crate::model::{CapabilityKind, ConnectionState, Liveness, Peer};

/// Which peers a listing returns. Every set field must match. Reads from
/// JSON: `{"liveness": ["alive"], "connection_state": "connected",
/// "min_health": 0.5, "capability": {"kind": "tool", "name": "search"},
/// "limit": 10}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeerFilter {
    /// Only these liveness states.
    pub liveness: Option<Vec<Liveness>>,
    /// Only this connection state.
    pub connection_state: Option<ConnectionState>,
    /// Only peers with at least this health score.
    pub min_health: Option<f64>,
    /// Only peers offering this capability (answered from the index).
    pub capability: Option<CapabilityFilter>,
    /// At most this many peers (the first by node id).
    pub limit: Option<usize>,
}

/// A capability to look for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityFilter {
    pub kind: CapabilityKind,
    pub name: String,
}

impl PeerFilter {
    /// Alive or suspect peers.
    pub fn alive() -> Self {
        PeerFilter {
            liveness: Some(vec![Liveness::Alive, Liveness::Suspect]),
            ..Default::default()
        }
    }

    /// Connected peers.
    pub fn connected() -> Self {
        PeerFilter {
            connection_state: Some(ConnectionState::Connected),
            ..Default::default()
        }
    }

    /// Whether a peer passes the filter (the capability test included).
    pub fn matches(&self, peer: &Peer) -> bool {
        if let Some(l) = &self.liveness {
            if !l.contains(&peer.liveness) {
                return false;
            }
        }
        if let Some(c) = self.connection_state {
            if peer.connection_state != c {
                return false;
            }
        }
        if let Some(h) = self.min_health {
            if peer.health.score() < h {
                return false;
            }
        }
        if let Some(cap) = &self.capability {
            if !peer.capabilities().contains(cap.kind, &cap.name) {
                return false;
            }
        }
        true
    }
}
