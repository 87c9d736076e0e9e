use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::limits::{
    MAX_ADDRESSES, MAX_METADATA_ENTRIES, MAX_METADATA_KEY_LEN, MAX_METADATA_VALUE_LEN,
    MAX_PUBLIC_KEY_LEN,
};
use super::{Capabilities, ModelError, NodeId, PeerAddress, RecordSignature};

/// What a peer says about itself: its identity, addresses, key,
/// capabilities and metadata, under a version (sequence number) that only the
/// peer itself raises. A record with a higher version replaces an older one;
/// relays pass records on unchanged.
///
/// JSON: `{"node_id", "addresses", "public_key", "capabilities", "metadata",
/// "version"}`, plus `"signature"` when the owner signed it; unknown fields
/// are refused. The signature covers every other field (see
/// [`UnsignedRecord`] and `peerdisc::identity`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawRecord")]
pub struct PeerRecord {
    /// The peer's identity.
    pub node_id: NodeId,
    /// Where the peer listens, most preferred first.
    pub addresses: Vec<PeerAddress>,
    /// The peer's public key, in text form, if it has one.
    pub public_key: Option<Box<str>>,
    /// What the peer offers.
    pub capabilities: Capabilities,
    /// Free-form key/value metadata (at most 64 entries).
    pub metadata: BTreeMap<String, String>,
    /// Sequence number set by the peer that owns the record.
    pub version: u64,
    /// The owner's signature of the other fields, if it signed the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<RecordSignature>,
}

/// A record without its signature: what a record signature covers. Its
/// JSON is the record's JSON minus the `signature` field, byte for byte.
#[derive(Debug, Serialize)]
pub struct UnsignedRecord<'a> {
    node_id: &'a NodeId,
    addresses: &'a [PeerAddress],
    public_key: &'a Option<Box<str>>,
    capabilities: &'a Capabilities,
    metadata: &'a BTreeMap<String, String>,
    version: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord {
    node_id: NodeId,
    #[serde(default)]
    addresses: Vec<PeerAddress>,
    #[serde(default)]
    public_key: Option<Box<str>>,
    #[serde(default)]
    capabilities: Capabilities,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    version: u64,
    #[serde(default)]
    signature: Option<RecordSignature>,
}

impl TryFrom<RawRecord> for PeerRecord {
    type Error = ModelError;
    fn try_from(r: RawRecord) -> Result<Self, Self::Error> {
        let rec = PeerRecord {
            node_id: r.node_id,
            addresses: r.addresses,
            public_key: r.public_key,
            capabilities: r.capabilities,
            metadata: r.metadata,
            version: r.version,
            signature: r.signature,
        };
        rec.validate()?;
        Ok(rec)
    }
}

impl PeerRecord {
    /// An empty record (no address, no capabilities) at version 0.
    pub fn new(node_id: NodeId) -> Self {
        PeerRecord {
            node_id,
            addresses: Vec::new(),
            public_key: None,
            capabilities: Capabilities::default(),
            metadata: BTreeMap::new(),
            version: 0,
            signature: None,
        }
    }

    /// The record without its signature (what a signature covers).
    pub fn unsigned(&self) -> UnsignedRecord<'_> {
        UnsignedRecord {
            node_id: &self.node_id,
            addresses: &self.addresses,
            public_key: &self.public_key,
            capabilities: &self.capabilities,
            metadata: &self.metadata,
            version: self.version,
        }
    }

    /// Checks every limit: addresses, key, capabilities, metadata.
    pub fn validate(&self) -> Result<(), ModelError> {
        ModelError::too_many("addresses", self.addresses.len(), MAX_ADDRESSES)?;
        if let Some(k) = &self.public_key {
            ModelError::too_long("public_key", k.len(), MAX_PUBLIC_KEY_LEN)?;
        }
        self.capabilities.validate()?;
        ModelError::too_many("metadata", self.metadata.len(), MAX_METADATA_ENTRIES)?;
        for (k, v) in &self.metadata {
            ModelError::too_long("metadata key", k.len(), MAX_METADATA_KEY_LEN)?;
            ModelError::too_long("metadata value", v.len(), MAX_METADATA_VALUE_LEN)?;
        }
        Ok(())
    }

    /// Encodes the record as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a record always serializes")
    }

    /// Decodes and validates a record from a JSON object (strictly: see
    /// [`crate::strict_json`]).
    pub fn from_json(json: &str) -> Result<Self, ModelError> {
        super::seed::from_json_either(
            json,
            |j| Ok(crate::strict_json::from_str(j)?),
            super::SeedPeer::to_record,
        )
    }
}
