use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::{Liveness, NodeId};

/// A compact liveness update (and digest entry): what one node believes about
/// another, without the full record.
///
/// JSON: an array `[node_id, incarnation, liveness, version]`, with a fifth
/// element, the accuser's node id, on `suspect` and `dead` claims:
/// `["node-b", 3, "suspect", 2, "node-a"]`. `version` is the version of the
/// newest record of `node_id` the sender holds, so a receiver knows whether
/// it lacks that record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberState {
    /// Whom the update is about.
    pub node_id: NodeId,
    /// The incarnation it holds for (raised only by `node_id` itself).
    pub incarnation: u64,
    /// Alive, suspect, dead or left.
    pub liveness: Liveness,
    /// The version of the newest record of `node_id` the sender holds.
    pub version: u64,
    /// Who accused `node_id` (suspect and dead claims).
    pub from: Option<NodeId>,
}

impl MemberState {
    /// An update without an accuser.
    pub fn new(node_id: NodeId, incarnation: u64, liveness: Liveness, version: u64) -> Self {
        MemberState {
            node_id,
            incarnation,
            liveness,
            version,
            from: None,
        }
    }
}

impl Serialize for MemberState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let len = if self.from.is_some() { 5 } else { 4 };
        let mut seq = s.serialize_seq(Some(len))?;
        seq.serialize_element(&self.node_id)?;
        seq.serialize_element(&self.incarnation)?;
        seq.serialize_element(&self.liveness)?;
        seq.serialize_element(&self.version)?;
        if let Some(from) = &self.from {
            seq.serialize_element(from)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for MemberState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MemberState;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("[node_id, incarnation, liveness, version(, from)]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MemberState, A::Error> {
                let node_id = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let incarnation = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let liveness = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(2, &self))?;
                let version = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(3, &self))?;
                let from = seq.next_element()?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(6, &self));
                }
                Ok(MemberState {
                    node_id,
                    incarnation,
                    liveness,
                    version,
                    from,
                })
            }
        }
        d.deserialize_seq(V)
    }
}
