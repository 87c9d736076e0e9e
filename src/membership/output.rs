use std::sync::Arc;

use crate::model::{Capabilities, Liveness, NodeId, PeerAddress, PeerRecord};
use crate::wire::Message;

/// Where a message goes: a known node (the driver looks up its address in
/// the records it was given) or a bare address (a seed whose id is not known
/// yet).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A node by id.
    Node(NodeId),
    /// An address (bootstrap seeds).
    Address(PeerAddress),
}

/// What the core asks its driver to do, drained with
/// [`Membership::poll_output`](super::Membership::poll_output).
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send `message` to `to`.
    Send {
        /// Destination.
        to: Target,
        /// The message (encode with [`crate::wire::encode`]).
        message: Message,
    },
    /// Apply a change to the peer registry.
    Registry(RegistryChange),
    /// Tell observers.
    Event(MembershipEvent),
}

/// A change for the driver's peer registry.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistryChange {
    /// A new record, or a newer version of a known one.
    Upsert(Arc<PeerRecord>),
    /// A peer's liveness (and the incarnation it holds for).
    Liveness {
        /// The peer.
        node_id: NodeId,
        /// Its new liveness.
        liveness: Liveness,
        /// At which incarnation.
        incarnation: u64,
    },
    /// A probe, connection or message outcome, for the peer's health.
    Outcome {
        /// The peer.
        node_id: NodeId,
        /// Whether it went well.
        success: bool,
    },
    /// Forget the peer.
    Remove {
        /// The peer.
        node_id: NodeId,
        /// Why.
        reason: RemovalReason,
    },
}

/// Why a peer was forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemovalReason {
    /// Dead for longer than the reclaim time.
    DeadReclaimed,
    /// Left for longer than the reclaim time.
    LeftReclaimed,
}

/// What happened to the membership, for observers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MembershipEvent {
    /// A peer became known.
    Joined {
        /// The peer.
        node_id: NodeId,
    },
    /// A known peer's record got a newer version.
    Updated {
        /// The peer.
        node_id: NodeId,
        /// The new version.
        version: u64,
    },
    /// A peer's liveness changed.
    LivenessChanged {
        /// The peer.
        node_id: NodeId,
        /// Before.
        from: Liveness,
        /// After.
        to: Liveness,
        /// The incarnation of the new state.
        incarnation: u64,
    },
    /// A peer was forgotten.
    Removed {
        /// The peer.
        node_id: NodeId,
        /// Why.
        reason: RemovalReason,
    },
    /// This node was suspected (or declared dead) and refuted it with a
    /// higher incarnation.
    Refuted {
        /// The new incarnation.
        incarnation: u64,
    },
    /// This node probed `node_id` and got no answer: it now suspects it.
    Suspected {
        /// The peer.
        node_id: NodeId,
    },
    /// This node's suspicion timer of `node_id` expired: it declared it dead.
    DeclaredDead {
        /// The peer.
        node_id: NodeId,
    },
    /// A record received from `from` failed its signature check and was
    /// dropped (nothing held here changed); counted against `from`'s
    /// health.
    RecordRefused {
        /// The node the record claims to be.
        node_id: NodeId,
        /// The sender it came from.
        from: NodeId,
        /// Why it was refused.
        reason: crate::identity::VerifyError,
    },
    /// A liveness claim received from `from` was refused (nothing held
    /// here changed); counted in
    /// [`Membership::claims_refused`](super::Membership::claims_refused)
    /// and against `from`'s health.
    ClaimRefused {
        /// Whom the claim is about.
        node_id: NodeId,
        /// The sender it came from.
        from: NodeId,
        /// Why it was refused.
        reason: ClaimRefusal,
    },
}

/// Why a liveness claim was refused (PROTOCOL.md, "Signed liveness").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimRefusal {
    /// An `alive` or `left` claim about a node that must sign what it says
    /// about itself carries no valid signature of that node.
    #[error("{liveness} claim at incarnation {incarnation} is not signed by the node: {reason}")]
    NotSigned {
        /// `alive` or `left`.
        liveness: Liveness,
        /// The claimed incarnation.
        incarnation: u64,
        /// What the signature check said.
        reason: crate::identity::VerifyError,
    },
    /// The incarnation is above [`MAX_INCARNATION`](crate::wire::MAX_INCARNATION)
    /// (or, for an accusation, not below it).
    #[error("incarnation {incarnation} is above the limit")]
    AboveLimit {
        /// The claimed incarnation.
        incarnation: u64,
    },
    /// A third party's `suspect`/`dead` (or a claim about this node) at an
    /// incarnation the node itself never took: only the node raises its
    /// incarnation.
    #[error("{liveness} claim at incarnation {incarnation}, but the node is at {held}")]
    AheadOfNode {
        /// The claim.
        liveness: Liveness,
        /// The claimed incarnation.
        incarnation: u64,
        /// The highest incarnation this node may believe.
        held: u64,
    },
}

/// A local command.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Command {
    /// Join through these seeds (retried with backoff until one answers).
    Join {
        /// Seed nodes or addresses.
        seeds: Vec<Target>,
    },
    /// Leave gracefully: tell the others, then stop probing.
    Leave,
    /// Replace this node's capabilities (raises the record version).
    UpdateCapabilities(Capabilities),
    /// Replace this node's whole record (same node id; raises the version).
    UpdateRecord(PeerRecord),
}
