use std::collections::VecDeque;

use super::{
    Command, MemberView, Membership, MembershipConfig, MembershipError, MembershipEvent, Output,
    Target,
};
use crate::model::{Capabilities, Liveness, NodeId, PeerRecord};
use crate::registry::PeerRegistry;
use crate::wire::{self, WireError};

/// Gossip over an application's own transport, as in the seed system: give
/// it a send function, feed it what you receive
/// ([`handle_announcement`](Self::handle_announcement)), and call
/// [`tick`](Self::tick) now and then. No WebSocket is involved; messages are
/// JSON strings. Made [`with_registry`](Self::with_registry), it applies
/// every change it learns (new peers, newer records, liveness, health,
/// removals) to that [`PeerRegistry`], as a [`Node`](crate::Node) does.
///
/// ```
/// use peerdisc::membership::{GossipDiscovery, MembershipConfig};
/// use peerdisc::{NodeId, PeerRecord, PeerRegistry};
///
/// let registry = PeerRegistry::new();
/// let me = PeerRecord::new(NodeId::new("a").unwrap());
/// let mut gossip = GossipDiscovery::with_registry(
///     registry.clone(), me, MembershipConfig::default(), 1, |_: &NodeId, _: &str| {},
/// )
/// .unwrap();
/// let hello = r#"{"type":"gossip_announcement","timestamp":1764000000.5,
///                 "peers":[{"node_id":"b","address":"ws://127.0.0.1:8000"}]}"#;
/// gossip.handle_announcement(hello, &NodeId::new("b").unwrap()).unwrap();
/// assert!(registry.contains("b"));
/// ```
///
/// ```
/// use peerdisc::membership::{GossipDiscovery, MembershipConfig};
/// use peerdisc::{NodeId, PeerRecord};
///
/// let me = PeerRecord::new(NodeId::new("a").unwrap());
/// let mut outbox = Vec::new();
/// let mut gossip = GossipDiscovery::new(me, MembershipConfig::default(), 1, |to: &NodeId, json: &str| {
///     outbox.push((to.clone(), json.to_string()));
/// })
/// .unwrap();
/// gossip.join(&[NodeId::new("b").unwrap()], 0).unwrap();
/// drop(gossip);
/// assert!(outbox[0].1.contains(r#""type":"hello""#));
/// ```
pub struct GossipDiscovery<F: FnMut(&NodeId, &str)> {
    core: Membership,
    send: F,
    events: VecDeque<MembershipEvent>,
    now: u64,
    registry: Option<PeerRegistry>,
}

impl<F: FnMut(&NodeId, &str)> std::fmt::Debug for GossipDiscovery<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GossipDiscovery")
            .field("core", &self.core)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl<F: FnMut(&NodeId, &str)> GossipDiscovery<F> {
    /// A gossiping node; `send(to, json)` must deliver `json` to `to` (best
    /// effort: losses are tolerated).
    pub fn new(
        identity: PeerRecord,
        config: MembershipConfig,
        rng_seed: u64,
        send: F,
    ) -> Result<Self, MembershipError> {
        Ok(GossipDiscovery {
            core: Membership::new(identity, config, rng_seed)?,
            send,
            events: VecDeque::new(),
            now: 0,
            registry: None,
        })
    }

    /// Like [`new`](Self::new), applying every change to `registry` (the
    /// seed system's `GossipDiscovery(registry, ...)`).
    pub fn with_registry(
        registry: PeerRegistry,
        identity: PeerRecord,
        config: MembershipConfig,
        rng_seed: u64,
        send: F,
    ) -> Result<Self, MembershipError> {
        let mut g = Self::new(identity, config, rng_seed, send)?;
        g.registry = Some(registry);
        Ok(g)
    }

    /// The registry changes are applied to, if any.
    pub fn registry(&self) -> Option<&PeerRegistry> {
        self.registry.as_ref()
    }

    /// Unix time (ms) at time 0 of the clock given to
    /// [`tick`](Self::tick), so that announcements carry Unix timestamps.
    pub fn set_unix_epoch_ms(&mut self, unix_ms_at_zero: u64) {
        self.core.set_unix_epoch_ms(unix_ms_at_zero);
    }

    /// The time last given (ms).
    pub fn now_ms(&self) -> u64 {
        self.now
    }

    /// Handles one received message (any protocol message, including the
    /// seed's `gossip_announcement`). A message that does not decode is
    /// counted against the sender's health and changes nothing else.
    pub fn handle_announcement(
        &mut self,
        message_json: &str,
        sender: &NodeId,
    ) -> Result<(), WireError> {
        if let Some(reg) = &self.registry {
            if reg.contains(sender.as_str()) {
                let _ = reg.touch(sender.as_str());
            }
        }
        let r = self
            .core
            .handle_bytes(sender, message_json.as_bytes(), self.now);
        self.flush();
        r
    }

    /// Like [`handle_announcement`](Self::handle_announcement), first
    /// advancing time to `now_ms`.
    pub fn handle_announcement_at(
        &mut self,
        message_json: &str,
        sender: &NodeId,
        now_ms: u64,
    ) -> Result<(), WireError> {
        self.now = self.now.max(now_ms);
        self.handle_announcement(message_json, sender)
    }

    /// Advances time to `now_ms` and runs what is due.
    pub fn tick(&mut self, now_ms: u64) {
        self.now = self.now.max(now_ms);
        self.core.handle_tick(self.now);
        self.flush();
    }

    /// When to call [`tick`](Self::tick) next.
    pub fn next_deadline(&self) -> Option<u64> {
        self.core.next_deadline()
    }

    /// Joins through these nodes.
    pub fn join(&mut self, seeds: &[NodeId], now_ms: u64) -> Result<(), MembershipError> {
        self.now = self.now.max(now_ms);
        let seeds = seeds.iter().cloned().map(Target::Node).collect();
        let r = self.core.handle_command(Command::Join { seeds }, self.now);
        self.flush();
        r
    }

    /// Leaves gracefully.
    pub fn leave(&mut self) -> Result<(), MembershipError> {
        let r = self.core.handle_command(Command::Leave, self.now);
        self.flush();
        r
    }

    /// Announces new capabilities.
    pub fn update_capabilities(&mut self, caps: Capabilities) -> Result<(), MembershipError> {
        let r = self
            .core
            .handle_command(Command::UpdateCapabilities(caps), self.now);
        self.flush();
        r
    }

    /// Every member known (any liveness).
    pub fn members(&self) -> Vec<MemberView> {
        self.core.members().collect()
    }

    /// Members believed alive.
    pub fn alive_members(&self) -> Vec<MemberView> {
        self.core
            .members()
            .filter(|m| m.liveness == Liveness::Alive)
            .collect()
    }

    /// The next membership event, if any. Events accumulate until polled.
    pub fn poll_event(&mut self) -> Option<MembershipEvent> {
        self.events.pop_front()
    }

    /// The core state machine.
    pub fn core(&self) -> &Membership {
        &self.core
    }

    fn flush(&mut self) {
        while let Some(o) = self.core.poll_output() {
            match o {
                Output::Send {
                    to: Target::Node(id),
                    message,
                } => {
                    let json = wire::encode(&message);
                    (self.send)(&id, &json);
                }
                // This facade addresses peers by node id only.
                Output::Send { .. } => {}
                Output::Event(e) => self.events.push_back(e),
                Output::Registry(change) => {
                    if let Some(reg) = &self.registry {
                        super::apply_change(reg, self.core.node_id(), &change);
                    }
                }
            }
        }
    }
}
