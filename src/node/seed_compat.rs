//! The driver's seed-compatible mode (`membership.seed_compatible`): how a
//! frame from a node of the earlier Python (seed) system is read.

use crate::model::NodeId;
use crate::wire::{self, Message, WireError};

/// Decodes a frame: strictly, or as a seed-compatible node reads it
/// (extra fields of announcements dropped; see
/// [`wire::decode_seed_compatible`]).
pub(super) fn decode(seed_compatible: bool, text: &str) -> Result<Message, WireError> {
    if seed_compatible {
        wire::decode_seed_compatible(text.as_bytes())
    } else {
        wire::decode_str(text)
    }
}

/// Who sent a bare `gossip_announcement` (one that came without a greeting
/// on its connection, as a seed-system node sends it): its first listed
/// peer, which is how the seed system announces itself. None for any other
/// message, or an announcement that lists nobody.
pub(super) fn bare_sender(msg: &Message) -> Option<NodeId> {
    match msg {
        Message::GossipAnnouncement(g) => g.peers.first().map(|p| p.node_id().clone()),
        _ => None,
    }
}
