//! Admin queries from clients that are not members, such as
//! `peerdisc peers ws://host:port/path`: on a connection that has not
//! greeted, `{"v": 1, "type": "peer_table_request"}` is answered with
//! `{"v": 1, "type": "peer_table", "node_id": ..., "peers": [<Peer JSON>...],
//! "truncated": false}` (see PROTOCOL.md, "Admin queries").

use serde::{Deserialize, Serialize};

use crate::model::{NodeId, Peer};
use crate::registry::PeerRegistry;
use crate::wire::PROTOCOL_VERSION;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(default)]
    v: Option<u32>,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize)]
struct PeerTable<'a> {
    v: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    node_id: &'a NodeId,
    peers: Vec<&'a Peer>,
    truncated: bool,
}

/// Whether `text` is a peer-table request.
pub(crate) fn is_peer_table_request(text: &str) -> bool {
    text.len() < 256
        && text.contains("peer_table_request")
        && serde_json::from_str::<Request>(text).is_ok_and(|r| {
            r.kind == "peer_table_request" && r.v.is_none_or(|v| v == PROTOCOL_VERSION)
        })
}

/// The answer: every peer in the registry, within `max_bytes`.
pub(crate) fn peer_table(me: &NodeId, registry: &PeerRegistry, max_bytes: usize) -> String {
    let peers = registry.list();
    let mut refs: Vec<&Peer> = peers.iter().map(|p| &**p).collect();
    loop {
        let truncated = refs.len() < peers.len();
        let text = serde_json::to_string(&PeerTable {
            v: PROTOCOL_VERSION,
            kind: "peer_table",
            node_id: me,
            peers: refs.clone(),
            truncated,
        })
        .unwrap_or_default();
        if text.len() <= max_bytes || refs.is_empty() {
            return text;
        }
        refs.truncate(refs.len() / 2);
    }
}
