//! Which connection serves which peer.
//!
//! Every connection starts with a greeting: the first frame each side sends
//! on it is an `alive` claim about itself (see PROTOCOL.md, "Connections").
//! It names the sender of every later frame on that connection. Outbound
//! connections also know the address they dialled.

use std::collections::HashMap;

use crate::model::{NodeId, PeerAddress};
use crate::transport::ConnectionId;

#[derive(Debug, Default)]
pub(crate) struct Conn {
    /// Who is at the other end, once known.
    pub peer: Option<NodeId>,
    /// The address dialled (outbound connections).
    pub dialed: Option<PeerAddress>,
    /// Whether this side has sent its greeting.
    pub greeted: bool,
    /// Whether the WebSocket handshake finished.
    pub open: bool,
    /// Driver time of the last frame either way.
    pub last_used_ms: u64,
    /// Refused (cluster key mismatch): frames are ignored and the
    /// connection is closed at this driver time, once the notice is out.
    pub close_at_ms: Option<u64>,
    /// The challenge this side sent in its greeting.
    pub nonce: Option<crate::wire::Nonce>,
    /// The other side's challenge, once its greeting arrived.
    pub their_nonce: Option<crate::wire::Nonce>,
    /// Whether the other side's greeting was accepted.
    pub heard_greeting: bool,
    /// Who the other side claims to be while its proof is awaited.
    pub claimed: Option<NodeId>,
    /// This side's frames waiting until it could prove its id (a dialer,
    /// before the listener's challenge arrived).
    pub held: Vec<String>,
    /// Driver time of the last `hello` this side sent on it (see
    /// `Driver::hello_pending`).
    pub hello_at_ms: Option<u64>,
}

/// The driver's view of connections and of peers' addresses.
#[derive(Debug, Default)]
pub(crate) struct Routing {
    pub conns: HashMap<ConnectionId, Conn>,
    addresses: HashMap<NodeId, PeerAddress>,
    by_address: HashMap<PeerAddress, NodeId>,
}

impl Routing {
    /// Remembers where `id` listens.
    pub fn set_address(&mut self, id: &NodeId, addr: &PeerAddress) {
        if let Some(old) = self.addresses.insert(id.clone(), addr.clone()) {
            if old != *addr {
                self.by_address.remove(&old);
            }
        }
        self.by_address.insert(addr.clone(), id.clone());
    }

    /// Forgets `id`'s address.
    pub fn forget(&mut self, id: &NodeId) {
        if let Some(a) = self.addresses.remove(id) {
            self.by_address.remove(&a);
        }
    }

    pub fn address_of(&self, id: &NodeId) -> Option<&PeerAddress> {
        self.addresses.get(id)
    }

    pub fn id_at(&self, addr: &PeerAddress) -> Option<&NodeId> {
        self.by_address.get(addr)
    }

    pub fn conn(&mut self, id: ConnectionId) -> &mut Conn {
        self.conns.entry(id).or_default()
    }

    /// The sender of frames on `conn`: the greeting's node, or the node
    /// listening at the address dialled.
    pub fn peer_of(&self, conn: ConnectionId) -> Option<NodeId> {
        let c = self.conns.get(&conn)?;
        c.peer.clone().or_else(|| {
            c.dialed
                .as_ref()
                .and_then(|a| self.by_address.get(a).cloned())
        })
    }

    /// Open connections to `id` other than `except`.
    pub fn has_other_conn(&self, id: &NodeId, except: ConnectionId) -> bool {
        self.conns
            .iter()
            .any(|(c, s)| *c != except && s.open && s.peer.as_ref() == Some(id))
    }

    /// An open connection whose other end is `id` (most recently used
    /// first).
    pub fn open_conn_to(&self, id: &NodeId) -> Option<ConnectionId> {
        self.conns
            .iter()
            .filter(|(_, s)| s.open && s.peer.as_ref() == Some(id))
            .max_by_key(|(c, s)| (s.last_used_ms, c.0))
            .map(|(c, _)| *c)
    }

    /// Inbound connections of `id` not yet tied to an address.
    pub fn conns_of(&self, id: &NodeId) -> Vec<ConnectionId> {
        self.conns
            .iter()
            .filter(|(_, s)| s.peer.as_ref() == Some(id))
            .map(|(c, _)| *c)
            .collect()
    }

    /// The least recently used connection other than `except`, to close
    /// when over the budget.
    pub fn least_recently_used(&self, except: Option<ConnectionId>) -> Option<ConnectionId> {
        self.conns
            .iter()
            .filter(|(c, _)| Some(**c) != except)
            .min_by_key(|(c, s)| (s.last_used_ms, c.0))
            .map(|(c, _)| *c)
    }
}
