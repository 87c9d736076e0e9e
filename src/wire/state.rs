use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::{Liveness, NodeId, RecordSignature};

/// A compact liveness update (and digest entry): what one node believes about
/// another, without the full record.
///
/// JSON: an array `[node_id, incarnation, liveness, version]`, with a fifth
/// element, the accuser's node id, on `suspect` and `dead` claims:
/// `["node-b", 3, "suspect", 2, "node-a"]`, and on `alive` and `left`
/// claims `node_id`'s own signature of the claim (128 lowercase hex digits;
/// see [`identity::claim_bytes`](crate::identity::claim_bytes)) when it has
/// one: `["pd1…", 3, "alive", 2, "<signature>"]`. `version` is the version of the
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
    /// `node_id`'s signature of this claim (alive and left claims).
    pub sig: Option<RecordSignature>,
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
            sig: None,
        }
    }

    /// Whether this is something only `node_id` may say about itself.
    pub fn is_self_claim(&self) -> bool {
        matches!(self.liveness, Liveness::Alive | Liveness::Left)
    }
}

impl Serialize for MemberState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Alive and left claims carry the subject's signature in the fifth
        // place (an accuser means nothing there); suspect and dead claims
        // their accuser.
        let sig = self.sig.as_ref().filter(|_| self.is_self_claim());
        let from = self.from.as_ref().filter(|_| !self.is_self_claim());
        let len = if sig.is_some() || from.is_some() {
            5
        } else {
            4
        };
        let mut seq = s.serialize_seq(Some(len))?;
        seq.serialize_element(&self.node_id)?;
        seq.serialize_element(&self.incarnation)?;
        seq.serialize_element(&self.liveness)?;
        seq.serialize_element(&self.version)?;
        if let Some(sig) = sig {
            seq.serialize_element(sig)?;
        } else if let Some(from) = from {
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
                f.write_str("[node_id, incarnation, liveness, version(, from | signature)]")
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
                let liveness: Liveness = liveness;
                let fifth: Option<String> = seq.next_element()?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(6, &self));
                }
                let (mut from, mut sig) = (None, None);
                if let Some(text) = fifth {
                    if matches!(liveness, Liveness::Alive | Liveness::Left) {
                        sig = Some(RecordSignature::from_hex(&text).map_err(|e| {
                            de::Error::custom(format!("invalid claim signature: {e}"))
                        })?);
                    } else {
                        from = Some(NodeId::new(text).map_err(de::Error::custom)?);
                    }
                }
                Ok(MemberState {
                    node_id,
                    incarnation,
                    liveness,
                    version,
                    from,
                    sig,
                })
            }
        }
        d.deserialize_seq(V)
    }
}
