use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{Capabilities, Capability, ModelError, NodeId, PeerAddress, PeerRecord};

/// A peer as the seed (Python) system's `gossip_announcement` lists it: one
/// `address` string, capability names in `agents`/`tools`/`resources`/
/// `prompts`, and a few observation fields that are accepted and ignored
/// (they describe the sender's view, not the peer).
///
/// Decoding is strict: any other field is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedPeer {
    /// The peer's identity.
    pub node_id: NodeId,
    /// Its WebSocket address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Its public key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Agent names.
    #[serde(default)]
    pub agents: Vec<String>,
    /// Tool names.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Resource names.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Prompt names.
    #[serde(default)]
    pub prompts: Vec<String>,
    /// Free-form string metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Sender's observation (ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<f64>,
    /// Sender's observation (ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<f64>,
    /// Sender's observation (ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_state: Option<String>,
    /// Sender's observation (ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_score: Option<f64>,
    /// Sender's observation (ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_attempts: Option<u64>,
    /// Sender's observation (ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_connections: Option<u64>,
    /// Sender's observation (ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_connections: Option<u64>,
}

impl SeedPeer {
    /// Converts to a record at version 0 (seed peers carry no version), and
    /// validates it.
    pub fn to_record(&self) -> Result<PeerRecord, ModelError> {
        let mut rec = PeerRecord::new(self.node_id.clone());
        if let Some(a) = &self.address {
            rec.addresses.push(PeerAddress::new(a)?);
        }
        rec.public_key = self.public_key.as_deref().map(Box::from);
        let caps = |names: &[String]| names.iter().map(Capability::new).collect::<Vec<_>>();
        rec.capabilities = Capabilities {
            agents: caps(&self.agents),
            tools: caps(&self.tools),
            resources: caps(&self.resources),
            prompts: caps(&self.prompts),
        };
        rec.metadata = self.metadata.clone();
        rec.validate()?;
        Ok(rec)
    }
}

/// One entry of a `gossip_announcement`'s `peers`: a full [`PeerRecord`] or
/// a seed-shaped peer ([`SeedPeer`]). A record is tried first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AnnouncedPeer {
    /// A peer record (peerdisc's own shape).
    Record(Arc<PeerRecord>),
    /// A seed-system peer dict.
    Seed(Box<SeedPeer>),
}

impl<'de> Deserialize<'de> for AnnouncedPeer {
    /// A JSON object read as a record if it is one, else as a seed peer
    /// (both strictly, see [`crate::strict_json`]); anything but an object
    /// is refused.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        if !v.is_object() {
            return Err(D::Error::custom(
                "invalid type: an announced peer must be a JSON object",
            ));
        }
        if let Ok(r) = crate::strict_json::from_value::<PeerRecord>(v.clone()) {
            return Ok(AnnouncedPeer::Record(Arc::new(r)));
        }
        crate::strict_json::from_value::<SeedPeer>(v)
            .map(|s| AnnouncedPeer::Seed(Box::new(s)))
            .map_err(|_| {
                D::Error::custom("data did not match any variant of untagged enum AnnouncedPeer")
            })
    }
}

impl AnnouncedPeer {
    /// The announced peer as a validated record.
    pub fn to_record(&self) -> Result<Arc<PeerRecord>, ModelError> {
        match self {
            AnnouncedPeer::Record(r) => Ok(r.clone()),
            AnnouncedPeer::Seed(s) => s.to_record().map(Arc::new),
        }
    }

    /// The announced peer's node id.
    pub fn node_id(&self) -> &NodeId {
        match self {
            AnnouncedPeer::Record(r) => &r.node_id,
            AnnouncedPeer::Seed(s) => &s.node_id,
        }
    }
}
