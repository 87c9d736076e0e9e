//! Node-level events: what a node's discovery mechanisms found or could not
//! do, beyond the registry's peer events.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::model::{NodeId, PeerAddress};

/// How many node events wait for a reader before new ones are dropped.
pub(crate) const NODE_EVENT_CAPACITY: usize = 256;

/// Something a node's discovery did. Read them with
/// [`Node::node_events`](super::Node::node_events).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// mDNS is on but multicast cannot be used (no interface up, the socket
    /// cannot be bound); the node goes on with bootstrap and gossip.
    MdnsUnavailable {
        /// Why, in one line.
        reason: String,
    },
    /// mDNS resolved a service of our type that claims to be `node_id`
    /// (new, or changed). It is a candidate until its `hello` answer
    /// confirms it.
    MdnsCandidate {
        /// The node id its TXT record claims.
        node_id: NodeId,
        /// The address that is dialled.
        address: PeerAddress,
        /// Its TXT entries (lower-case keys).
        txt: BTreeMap<String, String>,
    },
    /// A candidate answered the `hello`: it is a peer now.
    MdnsPeerConfirmed {
        /// The node that answered (from its greeting).
        node_id: NodeId,
        /// The address dialled.
        address: PeerAddress,
    },
    /// A candidate did not answer the `hello` (connection refused, closed,
    /// or no answer in time). It is not a peer; it is tried again later
    /// with backoff while its service is announced.
    MdnsCandidateFailed {
        /// The node id its TXT record claimed.
        node_id: NodeId,
        /// The address dialled.
        address: PeerAddress,
        /// What went wrong.
        reason: String,
    },
    /// A service went away (mDNS goodbye or expiry). Nothing else happens
    /// to the peer: it is neither removed nor marked, and no extra probe is
    /// sent. It stays a member, probed in its turn by the ordinary probe
    /// cycle (one member per probe interval, round-robin), which finds it
    /// dead if it is gone; a graceful stop's `leave` arrives over the
    /// protocol on its own. Only a pending mDNS candidate of that id is
    /// forgotten.
    MdnsGone {
        /// The node id its TXT record claimed.
        node_id: NodeId,
    },
    /// A record received from `from` failed its signature check (forged,
    /// changed by a relay, claiming another node's id, or unsigned where a
    /// signature is required) and was dropped; nothing held here changed.
    RecordRefused {
        /// The node the record claims to be.
        node_id: NodeId,
        /// The peer that sent it.
        from: NodeId,
        /// Why it was refused, in one line.
        reason: String,
    },
}

/// The sending side: never blocks; drops and counts when the queue is full.
#[derive(Debug, Clone)]
pub(crate) struct NodeEventSink {
    tx: Sender<NodeEvent>,
    dropped: Arc<AtomicU64>,
}

impl NodeEventSink {
    pub fn new() -> (Self, Receiver<NodeEvent>) {
        let (tx, rx) = bounded(NODE_EVENT_CAPACITY);
        (
            NodeEventSink {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
            },
            rx,
        )
    }

    pub fn emit(&self, ev: NodeEvent) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(ev) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
