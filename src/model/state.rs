use std::fmt;

use serde::{Deserialize, Serialize};

/// This node's connection to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// No connection is open or being opened.
    #[default]
    Disconnected,
    /// A connection is being opened.
    Connecting,
    /// A connection is open.
    Connected,
    /// The last attempt to connect failed.
    Failed,
}

/// Whether a peer is believed to be running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Liveness {
    /// Answering, or recently heard of as answering.
    #[default]
    Alive,
    /// Missed probes; may be dead, may refute.
    Suspect,
    /// Declared dead (suspicion expired, or told so).
    Dead,
    /// Left the network gracefully.
    Left,
}

impl Liveness {
    /// The order in which peers are given up when the registry is full:
    /// dead and departed peers first, then suspects, then live ones.
    pub(crate) fn eviction_rank(self) -> u8 {
        match self {
            Liveness::Dead => 0,
            Liveness::Left => 1,
            Liveness::Suspect => 2,
            Liveness::Alive => 3,
        }
    }

    /// Whether the peer counts as present (alive or suspect).
    pub fn is_present(self) -> bool {
        matches!(self, Liveness::Alive | Liveness::Suspect)
    }

    pub(crate) const ALL: [Liveness; 4] = [
        Liveness::Alive,
        Liveness::Suspect,
        Liveness::Dead,
        Liveness::Left,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl ConnectionState {
    pub(crate) const ALL: [ConnectionState; 4] = [
        ConnectionState::Disconnected,
        ConnectionState::Connecting,
        ConnectionState::Connected,
        ConnectionState::Failed,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Failed => "failed",
        })
    }
}

impl fmt::Display for Liveness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Liveness::Alive => "alive",
            Liveness::Suspect => "suspect",
            Liveness::Dead => "dead",
            Liveness::Left => "left",
        })
    }
}
