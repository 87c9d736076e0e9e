use crate::model::PeerAddress;
use crate::registry::RegistryError;
use crate::transport::TransportError;

/// Why a node call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The configuration is not usable.
    #[error("invalid node configuration: {0}")]
    Config(String),
    /// The transport could not start (for example, the listen port is
    /// taken).
    #[error("could not start the transport: {0}")]
    Transport(#[from] TransportError),
    /// A registry call failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The node is not running (never started, or stopped).
    #[error("the node is not running")]
    NotRunning,
    /// The node was already started.
    #[error("the node is already running")]
    AlreadyRunning,
    /// A worker thread could not be started.
    #[error("could not start thread {name}: {reason}")]
    Thread { name: &'static str, reason: String },
    /// `wait_for_peers` ran out of time.
    #[error("timed out with {found} of {wanted} peers alive")]
    Timeout { wanted: usize, found: usize },
    /// Bootstrap failed at every bootstrap node.
    #[error("no bootstrap node answered: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Bootstrap(Vec<BootstrapError>),
}

/// Why one bootstrap node did not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    /// The connection could not be opened (refused, unreachable, DNS,
    /// handshake).
    #[error("{address}: could not connect: {reason}")]
    Unreachable {
        address: PeerAddress,
        reason: String,
    },
    /// Connected, but no peer list came before the timeout.
    #[error("{address}: no answer within {timeout_ms} ms")]
    NoAnswer {
        address: PeerAddress,
        timeout_ms: u64,
    },
    /// It answered with something that is not a peer list.
    #[error("{address}: bad answer: {reason}")]
    BadAnswer {
        address: PeerAddress,
        reason: String,
    },
}
