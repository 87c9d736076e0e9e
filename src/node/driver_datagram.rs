//! The driver's side of the datagram path: receiving datagrams, choosing
//! UDP or WebSocket for each message (see `datagram_path.rs`).

use super::datagram_path::{Channel, Route};
use super::driver::Driver;
use crate::datagram::Received;
use crate::membership::Target;
use crate::model::NodeId;
use crate::wire::Message;

impl Driver {
    /// Handles one received datagram: opened, checked, and passed to the
    /// core like a WebSocket frame; its direct answers go back over UDP.
    pub(super) fn on_datagram(&mut self, r: Received) {
        let now = self.now();
        let Some(path) = self.datagrams.as_mut() else {
            return;
        };
        let Some((from, msg)) = path.open(&r, self.keyring.as_ref()) else {
            return;
        };
        if self.registry.contains(from.as_str()) {
            let _ = self.registry.touch(from.as_str());
        }
        if !self.gossip && matches!(msg, Message::GossipAnnouncement(_)) {
            return;
        }
        self.reply_channel = Some((from.clone(), Channel::Datagram));
        self.core.handle_message(&from, msg, now);
        self.drain();
        self.reply_channel = None;
    }

    /// Handles a WebSocket message from `from`: its direct answers go back
    /// over WebSocket.
    pub(super) fn handle_over_websocket(&mut self, from: &NodeId, msg: Message, now: u64) {
        self.reply_channel = Some((from.clone(), Channel::WebSocket));
        self.core.handle_message(from, msg, now);
        self.drain();
        self.reply_channel = None;
    }

    /// Sends `message` as a datagram when the path serves it; returns
    /// whether it still has to go over WebSocket.
    pub(super) fn send_datagram(&mut self, to: &Target, message: &Message) -> bool {
        let (Target::Node(id), Some(path)) = (to, self.datagrams.as_mut()) else {
            return true;
        };
        let reply = match &self.reply_channel {
            Some((from, ch)) if from == id && is_answer(message) => Some(*ch),
            _ => None,
        };
        match path.route(id, message, reply, self.keyring.as_ref()) {
            Route::WebSocket => true,
            Route::Datagram {
                to,
                bytes,
                and_websocket,
            } => {
                if path.send(id, to, &bytes, message) {
                    self.counters.sent.datagram(message.kind(), bytes.len());
                }
                and_websocket
            }
        }
    }

    /// Whether `id` needs its WebSocket connection opened ahead of probes.
    pub(super) fn needs_websocket(&self, id: &NodeId) -> bool {
        self.datagrams
            .as_ref()
            .is_none_or(|p| p.needs_websocket(id))
    }
}

/// The direct answers to a message, sent back the way it came (a
/// `peer_list` only when it fits a datagram: `wire::datagram_allowed`).
fn is_answer(m: &Message) -> bool {
    matches!(m, Message::Ack(_) | Message::Nack(_) | Message::PeerList(_))
}
