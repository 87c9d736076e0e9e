//! The peer model: who a peer is ([`PeerRecord`], owned and versioned by the
//! peer itself) and what this node observed about it ([`Peer`]: connection
//! state, liveness, health, first and last seen).
//!
//! JSON field names are stable and snake_case; they are the names the wire
//! protocol uses (see PROTOCOL.md). Decoding is strict: unknown fields, wrong
//! types, unknown format versions and values beyond the [`limits`] are
//! errors, never panics.

mod address;
mod capability;
mod error;
mod health;
pub mod limits;
mod node_id;
mod peer;
mod record;
mod seed;
mod signature;
mod state;

pub use address::{PeerAddress, DEFAULT_WS_PATH};
pub use capability::{Capabilities, Capability, CapabilityKind};
pub use error::ModelError;
pub use health::Health;
pub use node_id::NodeId;
pub use peer::{Peer, PeerBuilder, PEER_FORMAT_VERSION};
pub use record::{PeerRecord, UnsignedRecord};
pub use seed::SeedPeer;
pub use signature::{RecordSignature, SIGNATURE_BYTES};
pub use state::{ConnectionState, Liveness};
