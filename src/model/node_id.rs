use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::limits::MAX_NODE_ID_LEN;
use super::ModelError;

/// A node's identity: 1 to 128 bytes of `[A-Za-z0-9._:-]`.
///
/// Cloning is cheap (a shared, immutable string).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// Validates `id` and makes a node id of it.
    pub fn new(id: impl AsRef<str>) -> Result<Self, ModelError> {
        let id = id.as_ref();
        Self::check(id)?;
        Ok(NodeId(Arc::from(id)))
    }

    /// Checks that `id` follows the node id rules (1 to 128 bytes of
    /// `[A-Za-z0-9._:-]`), without allocating.
    pub fn check(id: &str) -> Result<(), ModelError> {
        let bad = |reason| ModelError::InvalidNodeId {
            id: id.chars().take(MAX_NODE_ID_LEN).collect(),
            reason,
        };
        if id.is_empty() {
            return Err(bad("it is empty"));
        }
        if id.len() > MAX_NODE_ID_LEN {
            return Err(bad("it is longer than 128 bytes"));
        }
        if !id.bytes().all(Self::is_id_byte) {
            return Err(bad("only ASCII letters, digits and . _ : - are allowed"));
        }
        Ok(())
    }

    /// Whether `b` may appear in a node id (`[A-Za-z0-9._:-]`).
    #[inline]
    pub fn is_id_byte(b: u8) -> bool {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for NodeId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for NodeId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({:?})", &*self.0)
    }
}

impl std::str::FromStr for NodeId {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeId::new(s)
    }
}

impl TryFrom<&str> for NodeId {
    type Error = ModelError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        NodeId::new(s)
    }
}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        NodeId::new(&*s).map_err(serde::de::Error::custom)
    }
}
