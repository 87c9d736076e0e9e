use super::CapabilityKind;

/// Why a peer, record or one of their parts was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The node id is empty, too long, or has a character outside
    /// `[A-Za-z0-9._:-]`.
    #[error("invalid node id {id:?}: {reason}")]
    InvalidNodeId { id: String, reason: &'static str },
    /// The address is not a `ws://` or `wss://` URL with a host.
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress { address: String, reason: String },
    /// A capability name is empty or holds a control character.
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidCapability {
        kind: CapabilityKind,
        name: String,
        reason: &'static str,
    },
    /// The same capability name appears twice in one kind.
    #[error("duplicate {kind} {name:?}")]
    DuplicateCapability { kind: CapabilityKind, name: String },
    /// A string is longer than its limit.
    #[error("{what} is {len} bytes long, the limit is {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// A list or map has more entries than its limit.
    #[error("{what} has {count} entries, the limit is {max}")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    /// A health record is inconsistent (score outside 0..=1, not finite).
    #[error("invalid health: {0}")]
    InvalidHealth(&'static str),
    /// The JSON names a format version this build does not know.
    #[error("unsupported peer format version {found} (this build reads {supported})")]
    UnsupportedFormat { found: u64, supported: u64 },
    /// The JSON is malformed, has a wrong type, or an unknown field.
    #[error("invalid peer JSON: {0}")]
    Json(String),
}

impl ModelError {
    pub(crate) fn too_long(what: &'static str, len: usize, max: usize) -> Result<(), Self> {
        if len > max {
            Err(ModelError::TooLong { what, len, max })
        } else {
            Ok(())
        }
    }

    pub(crate) fn too_many(what: &'static str, count: usize, max: usize) -> Result<(), Self> {
        if count > max {
            Err(ModelError::TooMany { what, count, max })
        } else {
            Ok(())
        }
    }
}

impl From<serde_json::Error> for ModelError {
    fn from(e: serde_json::Error) -> Self {
        ModelError::Json(e.to_string())
    }
}
