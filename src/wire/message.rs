use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{
    AnnouncedPeer, MemberState, WireError, MAX_PEERS_PER_MESSAGE, MAX_REQUESTED_IDS,
    MAX_STATES_PER_MESSAGE,
};
use super::{DigestSummary, Nonce, SummaryBuckets};
use crate::model::{NodeId, PeerRecord, RecordSignature};

/// One protocol message. The JSON form is an object with `"v"` (the
/// protocol version) and `"type"` (the snake_case variant name) beside the
/// payload's fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Message {
    /// "This is me": sent to a seed to join (answered with a `peer_list`).
    Hello(Hello),
    /// Asks for records (bootstrap, or the records a digest showed missing).
    PeerListRequest(PeerListRequest),
    /// Records and states, answering `hello` or `peer_list_request`.
    PeerList(PeerList),
    /// Dissemination: changed records and liveness updates (the seed
    /// system's message, same shape).
    GossipAnnouncement(GossipAnnouncement),
    /// Direct probe.
    Ping(Ping),
    /// Answer to a probe (direct or relayed).
    Ack(Ack),
    /// A relay could not reach the target of a `ping_req` in time.
    Nack(Nack),
    /// Indirect probe: "please ping `target` for me".
    PingReq(PingReq),
    /// Anti-entropy: a digest of states; answered with the answering side's
    /// digest and the records the asker lacks.
    PushPull(PushPull),
    /// "`node_id` did not answer my probes."
    Suspect(StateClaim),
    /// "`node_id` is alive at this incarnation" (a refutation).
    Alive(StateClaim),
    /// "`node_id` is dead."
    Dead(StateClaim),
    /// "`node_id` (the sender) leaves the network."
    Leave(StateClaim),
}

/// `hello`: the sender's record and incarnation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// The sender's own record.
    #[serde(serialize_with = "super::record_form::record")]
    pub record: Arc<PeerRecord>,
    /// The sender's incarnation.
    pub incarnation: u64,
    /// The sender's signature of "alive at `incarnation`" (above
    /// incarnation 0, from a node with an identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<RecordSignature>,
}

/// `peer_list_request`: empty `node_ids` asks for a sample of everything.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerListRequest {
    /// The records wanted (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_ids: Vec<NodeId>,
}

/// `peer_list`: full records plus their states.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerList {
    /// Full records.
    #[serde(default, serialize_with = "super::record_form::records")]
    pub peers: Vec<Arc<PeerRecord>>,
    /// Liveness of those (and maybe other) peers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<MemberState>,
}

/// `gossip_announcement`: `{"type": "gossip_announcement", "timestamp":
/// <float seconds>, "peers": [...]}`, plus compact `states`. `v` may be
/// omitted (the seed system sends none).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GossipAnnouncement {
    /// Sender's time, seconds (informational).
    pub timestamp: f64,
    /// Changed records (or seed-shaped peers).
    #[serde(default)]
    pub peers: Vec<AnnouncedPeer>,
    /// Liveness updates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<MemberState>,
}

/// `ping`: a probe of `target`, with piggybacked updates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ping {
    /// Probe sequence number, echoed in the `ack`.
    pub seq: u64,
    /// Whom the sender means to probe (a node with another id ignores it).
    pub target: NodeId,
    /// Piggybacked records.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "super::record_form::records"
    )]
    pub peers: Vec<Arc<PeerRecord>>,
    /// Piggybacked liveness updates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<MemberState>,
}

impl Ping {
    /// A ping with nothing piggybacked.
    pub fn new(seq: u64, target: NodeId) -> Self {
        Ping {
            seq,
            target,
            peers: Vec::new(),
            states: Vec::new(),
        }
    }
}

/// `ack`: "the probe's target is alive", answering probe `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    /// The probe's sequence number.
    pub seq: u64,
    /// The node that answered (the probe's target) when it is not the
    /// sender: a relay forwarding the answer to a `ping_req` names it. A
    /// direct answer leaves it out (the sender is the target): the most
    /// frequent message of the protocol carries no id it does not need.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<NodeId>,
    /// Piggybacked records.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "super::record_form::records"
    )]
    pub peers: Vec<Arc<PeerRecord>>,
    /// Piggybacked liveness updates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<MemberState>,
}

/// `nack`: the relay of `ping_req` `seq` got no answer from `target`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nack {
    /// The `ping_req`'s sequence number.
    pub seq: u64,
    /// The target that did not answer.
    pub target: NodeId,
}

/// `ping_req`: "ping `target` and send me its `ack` with my `seq`".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingReq {
    /// The asker's probe sequence number.
    pub seq: u64,
    /// Whom to probe.
    pub target: NodeId,
}

/// `push_pull`: anti-entropy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushPull {
    /// `false` on the request, `true` on the answer.
    #[serde(default)]
    pub reply: bool,
    /// `true` when `states` lists every member the sender knows (so a
    /// member missing from it is unknown to the sender).
    #[serde(default)]
    pub complete: bool,
    /// The digest: one state per member (with its record version).
    #[serde(default)]
    pub states: Vec<MemberState>,
    /// Records the other side lacks (on the answer).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "super::record_form::records"
    )]
    pub peers: Vec<Arc<PeerRecord>>,
    /// On a request: the sender's table as bucket sums instead of a full
    /// digest (`states` then carries only the sender's own state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<DigestSummary>,
    /// On the answer to a summary (itself a request): the buckets over
    /// which `states` is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<SummaryBuckets>,
}

impl PushPull {
    /// A summary and a bucket list are for requests only, never together;
    /// a summary stands for the digest (no states but the sender's own,
    /// no records), and a digest complete over some buckets is not also
    /// complete over all.
    fn check_shape(&self) -> Result<(), WireError> {
        let bad = |reason: &str| {
            Err(WireError::Invalid {
                kind: "push_pull",
                reason: reason.into(),
            })
        };
        if self.reply && (self.summary.is_some() || self.within.is_some()) {
            return bad("a summary or bucket list on an answer");
        }
        if self.summary.is_some() && self.within.is_some() {
            return bad("both a summary and a bucket list");
        }
        if self.summary.is_some()
            && (self.states.len() > 1 || !self.peers.is_empty() || self.complete)
        {
            return bad("a summary with a digest or records");
        }
        if self.within.is_some() && self.complete {
            return bad("a bucket list on a complete digest");
        }
        Ok(())
    }
}

/// `suspect` / `alive` / `dead` / `leave`: one liveness claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateClaim {
    /// Whom the claim is about.
    pub node_id: NodeId,
    /// At which incarnation.
    pub incarnation: u64,
    /// The newest record version of `node_id` the sender holds.
    #[serde(default)]
    pub version: u64,
    /// The accuser (suspect, dead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NodeId>,
    /// On `alive` and `leave` (what only `node_id` may say about itself):
    /// `node_id`'s signature of the claim
    /// ([`identity::claim_bytes`](crate::identity::claim_bytes)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<RecordSignature>,
    /// On a greeting: a fresh challenge for the other side to sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<Nonce>,
    /// On a greeting: the sender's signature of the other side's `nonce`
    /// ([`identity::greeting_bytes`](crate::identity::greeting_bytes)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<RecordSignature>,
}

impl StateClaim {
    /// A claim about `node_id` with no accuser, signature or greeting
    /// fields.
    pub fn new(node_id: NodeId, incarnation: u64, version: u64) -> Self {
        StateClaim {
            node_id,
            incarnation,
            version,
            from: None,
            sig: None,
            nonce: None,
            proof: None,
        }
    }
}

impl Message {
    /// The `type` string of this message.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello(_) => "hello",
            Message::PeerListRequest(_) => "peer_list_request",
            Message::PeerList(_) => "peer_list",
            Message::GossipAnnouncement(_) => "gossip_announcement",
            Message::Ping(_) => "ping",
            Message::Ack(_) => "ack",
            Message::Nack(_) => "nack",
            Message::PingReq(_) => "ping_req",
            Message::PushPull(_) => "push_pull",
            Message::Suspect(_) => "suspect",
            Message::Alive(_) => "alive",
            Message::Dead(_) => "dead",
            Message::Leave(_) => "leave",
        }
    }

    /// Checks the per-message list limits.
    pub fn check_limits(&self) -> Result<(), WireError> {
        fn check(what: &'static str, count: usize, max: usize) -> Result<(), WireError> {
            if count > max {
                Err(WireError::TooMany { what, count, max })
            } else {
                Ok(())
            }
        }
        if let Message::PushPull(m) = self {
            m.check_shape()?;
        }
        let (peers, states, ids) = match self {
            Message::PeerListRequest(m) => (0, 0, m.node_ids.len()),
            Message::PeerList(m) => (m.peers.len(), m.states.len(), 0),
            Message::GossipAnnouncement(m) => (m.peers.len(), m.states.len(), 0),
            Message::Ping(m) => (m.peers.len(), m.states.len(), 0),
            Message::Ack(m) => (m.peers.len(), m.states.len(), 0),
            Message::PushPull(m) => (m.peers.len(), m.states.len(), 0),
            _ => (0, 0, 0),
        };
        check("peers", peers, MAX_PEERS_PER_MESSAGE)?;
        check("states", states, MAX_STATES_PER_MESSAGE)?;
        check("node_ids", ids, MAX_REQUESTED_IDS)
    }
}
