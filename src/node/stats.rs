use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde::Serialize;

use super::driver::DriverCounters;
use super::traffic::SentByChannel;
use crate::model::{NodeId, PeerAddress};
use crate::registry::{PeerRegistry, RegistryStats};
use crate::transport::{TransportHandle, TransportStats};

/// A snapshot of a node's counts.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct NodeStats {
    pub node_id: NodeId,
    /// The advertised address (`None` when not running).
    pub address: Option<PeerAddress>,
    pub running: bool,
    /// Members the protocol knows (any liveness).
    pub members: usize,
    /// Members alive or suspect.
    pub alive_members: usize,
    /// Lifeguard local health (0 = healthy).
    pub local_health: usize,
    /// Frames received and sent by the driver.
    pub frames_in: u64,
    pub frames_out: u64,
    /// Frames that did not decode.
    pub malformed: u64,
    /// Frames on connections whose sender was not known.
    pub unidentified: u64,
    /// Messages for peers with no known address.
    pub unroutable: u64,
    /// Frames refused for a cluster key mismatch (either way).
    pub refused: u64,
    /// Datagrams received (opened and decoded) and sent.
    pub datagrams_in: u64,
    pub datagrams_out: u64,
    /// Bytes of the datagrams sent (UDP payloads).
    pub datagram_bytes_out: u64,
    /// Datagrams refused as malformed (framing or message).
    pub datagrams_malformed: u64,
    /// Datagrams refused for a cluster key mismatch.
    pub datagrams_refused: u64,
    /// Datagrams lost at this node: its receive queue was full, or the
    /// kernel refused a send (send buffer full, destination unreachable).
    pub datagrams_dropped: u64,
    /// Peers reached over WebSocket because their datagrams go unanswered.
    pub datagram_fallback_peers: usize,
    /// Greetings that did not prove the sender's key, and frames sent on a
    /// connection before its greeting was proven (PROTOCOL.md, "Greeting").
    pub greetings_refused: u64,
    /// Liveness claims refused by the membership core: `alive`/`leave`
    /// not signed by their node, accusations ahead of the accused's own
    /// incarnation, incarnations above the limit.
    pub claims_refused: u64,
    /// `hello`s not sent again on a live connection that already carries
    /// one (a join retry that the stream makes needless).
    pub hellos_held_back: u64,
    /// Messages sent since the start, by type (`"ping"`, `"push_pull"`,
    /// ...) and channel; greetings count as `alive` on WebSocket.
    pub sent: BTreeMap<String, SentByChannel>,
    pub registry: RegistryStats,
    /// Transport counts (`None` when not running).
    pub transport: Option<TransportStats>,
}

impl NodeStats {
    pub(crate) fn collect(
        id: &NodeId,
        running: Option<(&PeerAddress, &TransportHandle)>,
        c: &DriverCounters,
        registry: &PeerRegistry,
    ) -> Self {
        NodeStats {
            node_id: id.clone(),
            address: running.map(|(a, _)| a.clone()),
            running: running.is_some(),
            members: c.members.load(Ordering::Relaxed),
            alive_members: c.alive_members.load(Ordering::Relaxed),
            local_health: c.local_health.load(Ordering::Relaxed),
            frames_in: c.frames_in.load(Ordering::Relaxed),
            frames_out: c.frames_out.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
            unidentified: c.unidentified.load(Ordering::Relaxed),
            unroutable: c.unroutable.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            datagrams_in: c.datagrams_in.load(Ordering::Relaxed),
            datagrams_out: c.datagrams_out.load(Ordering::Relaxed),
            datagram_bytes_out: c.datagram_bytes_out.load(Ordering::Relaxed),
            datagrams_malformed: c.datagrams_malformed.load(Ordering::Relaxed),
            datagrams_refused: c.datagrams_refused.load(Ordering::Relaxed),
            datagrams_dropped: c.datagrams_dropped.load(Ordering::Relaxed),
            datagram_fallback_peers: c.datagram_fallback_peers.load(Ordering::Relaxed),
            greetings_refused: c.greetings_refused.load(Ordering::Relaxed),
            claims_refused: c.claims_refused.load(Ordering::Relaxed),
            hellos_held_back: c.hellos_held_back.load(Ordering::Relaxed),
            sent: c.sent.snapshot(),
            registry: registry.stats(),
            transport: running.map(|(_, t)| t.stats()),
        }
    }
}
