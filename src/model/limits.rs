//! Size limits of the peer model. A record beyond any of them is refused with
//! [`ModelError::TooLong`](super::ModelError::TooLong) or
//! [`ModelError::TooMany`](super::ModelError::TooMany).

/// Longest node id, in bytes.
pub const MAX_NODE_ID_LEN: usize = 128;
/// Longest address (`ws://host:port/path`), in bytes.
pub const MAX_ADDRESS_LEN: usize = 512;
/// Most addresses per peer.
pub const MAX_ADDRESSES: usize = 16;
/// Longest public key (text form), in bytes.
pub const MAX_PUBLIC_KEY_LEN: usize = 256;
/// Longest capability name, in bytes.
pub const MAX_CAPABILITY_NAME_LEN: usize = 128;
/// Most capabilities of one kind (agents, tools, resources or prompts).
pub const MAX_CAPABILITIES_PER_KIND: usize = 4096;
/// Most metadata entries on one capability.
pub const MAX_CAPABILITY_METADATA_ENTRIES: usize = 16;
/// Most entries in a peer's free-form metadata.
pub const MAX_METADATA_ENTRIES: usize = 64;
/// Longest metadata key, in bytes.
pub const MAX_METADATA_KEY_LEN: usize = 64;
/// Longest metadata value, in bytes.
pub const MAX_METADATA_VALUE_LEN: usize = 1024;
