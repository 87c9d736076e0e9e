use crate::model::{ModelError, NodeId};

/// Why a registry call was refused. A refused call changes nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The peer or record failed validation.
    #[error(transparent)]
    Invalid(#[from] ModelError),
    /// No peer with this id.
    #[error("no peer with node id {0}")]
    NotFound(NodeId),
    /// `add` of a peer that is already there (use `upsert` or `update`).
    #[error("a peer with node id {0} is already registered")]
    AlreadyExists(NodeId),
    /// The registry is at capacity and the newcomer ranks no higher than
    /// any evictable peer (connected peers are never evicted).
    #[error(
        "the registry is full ({capacity} peers) and {node_id} ranks below every evictable peer"
    )]
    Full { node_id: NodeId, capacity: usize },
    /// The configuration is not usable.
    #[error("invalid registry configuration: {0}")]
    InvalidConfig(&'static str),
    /// The callback dispatcher thread could not be started.
    #[error("could not start the event dispatcher thread: {0}")]
    Thread(String),
}
