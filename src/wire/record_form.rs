//! Records on the wire: fields at their default (`public_key: null`, empty
//! lists and maps) are left out, so a small record costs what it says.
//! Decoding takes either form (every field but `node_id` has a default).
//! A signature still covers the full form
//! ([`identity::canonical_bytes`](crate::identity::canonical_bytes)), which
//! a receiver recomputes from the record it decoded.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::model::{Capabilities, Capability, NodeId, PeerAddress, PeerRecord, RecordSignature};

fn no_key(k: &&Option<Box<str>>) -> bool {
    k.is_none()
}

fn no_sig(s: &&Option<RecordSignature>) -> bool {
    s.is_none()
}

fn none<T>(v: &&[T]) -> bool {
    v.is_empty()
}

fn no_entries(m: &&BTreeMap<String, String>) -> bool {
    m.is_empty()
}

#[derive(Serialize)]
struct WireCapabilities<'a> {
    #[serde(skip_serializing_if = "none")]
    agents: &'a [Capability],
    #[serde(skip_serializing_if = "none")]
    tools: &'a [Capability],
    #[serde(skip_serializing_if = "none")]
    resources: &'a [Capability],
    #[serde(skip_serializing_if = "none")]
    prompts: &'a [Capability],
}

impl WireCapabilities<'_> {
    fn is_empty(&self) -> bool {
        self.agents.is_empty()
            && self.tools.is_empty()
            && self.resources.is_empty()
            && self.prompts.is_empty()
    }
}

#[derive(Serialize)]
struct WireRecord<'a> {
    node_id: &'a NodeId,
    #[serde(skip_serializing_if = "none")]
    addresses: &'a [PeerAddress],
    #[serde(skip_serializing_if = "no_key")]
    public_key: &'a Option<Box<str>>,
    #[serde(skip_serializing_if = "WireCapabilities::is_empty")]
    capabilities: WireCapabilities<'a>,
    #[serde(skip_serializing_if = "no_entries")]
    metadata: &'a BTreeMap<String, String>,
    version: u64,
    #[serde(skip_serializing_if = "no_sig")]
    signature: &'a Option<RecordSignature>,
}

impl<'a> WireRecord<'a> {
    fn of(r: &'a PeerRecord) -> Self {
        let c: &Capabilities = &r.capabilities;
        WireRecord {
            node_id: &r.node_id,
            addresses: &r.addresses,
            public_key: &r.public_key,
            capabilities: WireCapabilities {
                agents: &c.agents,
                tools: &c.tools,
                resources: &c.resources,
                prompts: &c.prompts,
            },
            metadata: &r.metadata,
            version: r.version,
            signature: &r.signature,
        }
    }
}

/// Serializes one record in its wire form.
pub(crate) fn record<S: Serializer>(r: &Arc<PeerRecord>, s: S) -> Result<S::Ok, S::Error> {
    WireRecord::of(r).serialize(s)
}

/// Serializes a list of records in their wire form.
pub(crate) fn records<S: Serializer>(v: &[Arc<PeerRecord>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|r| WireRecord::of(r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_left_out_and_the_record_decodes_the_same() {
        let mut r = PeerRecord::new(NodeId::new("node-a").unwrap());
        r.capabilities.tools.push(Capability::new("search"));
        r.version = 2;
        let json = serde_json::to_string(&WireRecord::of(&r)).unwrap();
        assert_eq!(
            json,
            r#"{"node_id":"node-a","capabilities":{"tools":["search"]},"version":2}"#
        );
        let back: PeerRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        // A full record is written in full.
        r.addresses
            .push(PeerAddress::new("ws://127.0.0.1:1").unwrap());
        r.metadata.insert("k".into(), "v".into());
        let json = serde_json::to_string(&WireRecord::of(&r)).unwrap();
        let back: PeerRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(json.contains("\"addresses\"") && json.contains("\"metadata\""));
    }
}
