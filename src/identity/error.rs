use std::path::PathBuf;

/// Why a key file could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Reading, creating or syncing the key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key file can be read by other users (group or world bits set);
    /// it is refused, as ssh refuses such private keys. Fix with
    /// `chmod 600`.
    #[error(
        "key file {path} has mode {mode:03o}: it must not be readable by group or others \
         (run `chmod 600 {path}`)"
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file is larger than [`MAX_KEY_FILE_BYTES`](super::MAX_KEY_FILE_BYTES).
    #[error("key file {path} is {len} bytes, the limit is {max}")]
    TooLarge {
        /// The key file.
        path: PathBuf,
        /// Its size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The key file is not a valid key file (bad JSON, unknown field or
    /// format, bad hex, or a `node_id` that does not match the key).
    #[error("key file {path} is invalid: {reason}")]
    Invalid {
        /// The key file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// Why a signed record was refused. Nothing is changed by a refused record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The record has no `public_key`.
    #[error("record of {node_id} has no public key")]
    MissingPublicKey {
        /// The record's node id.
        node_id: String,
    },
    /// The record carries no signature, but its node id is derived from a
    /// key (only that key's holder may publish it) or the receiver
    /// requires signed records.
    #[error("record of {node_id} is not signed")]
    MissingSignature {
        /// The record's node id.
        node_id: String,
    },
    /// The `public_key` is not `ed25519:<64 lowercase hex digits>` of a
    /// valid Ed25519 point.
    #[error("record of {node_id} has a malformed public key: {reason}")]
    MalformedPublicKey {
        /// The record's node id.
        node_id: String,
        /// What was wrong.
        reason: String,
    },
    /// The node id is not the one derived from the public key: the record
    /// claims another node's id (or the key is not that node's).
    #[error("record claims node id {claimed} but its key belongs to {derived}")]
    NodeIdMismatch {
        /// The node id in the record.
        claimed: String,
        /// The node id derived from the record's public key.
        derived: String,
    },
    /// The signature is not 128 lowercase hex digits.
    #[error("record of {node_id} has a malformed signature: {reason}")]
    MalformedSignature {
        /// The record's node id.
        node_id: String,
        /// What was wrong.
        reason: String,
    },
    /// The signature does not match the record: it was changed after
    /// signing (by a relay, say) or signed with another key.
    #[error("record of {node_id} has a bad signature (changed after signing?)")]
    BadSignature {
        /// The record's node id.
        node_id: String,
    },
    /// The record is valid but not newer than the one already accepted for
    /// this node (an old record or a replay); it is ignored.
    #[error("record of {node_id} version {offered} is not newer than version {current}")]
    Stale {
        /// The record's node id.
        node_id: String,
        /// The offered version.
        offered: u64,
        /// The version already accepted.
        current: u64,
    },
    /// The record breaks a model limit (too many addresses, ...).
    #[error("record is invalid: {0}")]
    InvalidRecord(String),
}

impl VerifyError {
    /// True for [`VerifyError::Stale`]: an old record or replay, to be
    /// ignored quietly rather than held against the sender.
    pub fn is_stale(&self) -> bool {
        matches!(self, VerifyError::Stale { .. })
    }
}
