//! # peerdisc
//!
//! Peer discovery for decentralized networks whose nodes host agents, tools,
//! resources and prompts. A synchronous, thread-based library (no async
//! runtime) with a C ABI.
//!
//! Layers, from the bottom up:
//! - [`model`]: the peer model (`Peer`, `PeerRecord`, capabilities, health).
//! - [`registry`]: the thread-safe [`PeerRegistry`] with its capability
//!   index, eviction and statistics.
//! - [`events`]: registry events, subscribers and the callback dispatcher.
//! - `ffi` (C ABI): a leaf that nothing else depends on.
//!
//! ```
//! use peerdisc::{Peer, PeerRegistry};
//!
//! let registry = PeerRegistry::new();
//! let peer = Peer::builder("node_abc123")
//!     .address("ws://192.168.1.100:8000")
//!     .agent("planner")
//!     .tool("search")
//!     .build()
//!     .unwrap();
//! registry.add(peer).unwrap();
//! assert_eq!(registry.find_by_tool("search").len(), 1);
//! ```

// The C header (include/peerdisc.h) is made from the C ABI alone: every
// other module is marked for cbindgen to skip, so that its public constants
// and types never reach C (`cbindgen --crate peerdisc` and
// tests/ffi_header.rs).
/// cbindgen:ignore
pub mod clock;
/// cbindgen:ignore
pub mod datagram;
/// cbindgen:ignore
pub mod events;
pub mod ffi;
/// cbindgen:ignore
pub mod identity;
/// cbindgen:ignore
pub mod keyring;
/// cbindgen:ignore
pub mod mdns;
/// cbindgen:ignore
pub mod membership;
/// cbindgen:ignore
pub mod model;
/// cbindgen:ignore
pub mod node;
/// cbindgen:ignore
pub mod persist;
/// cbindgen:ignore
pub mod registry;
/// cbindgen:ignore
pub mod sim;
/// cbindgen:ignore
pub mod strict_json;
/// cbindgen:ignore
pub mod transport;
/// cbindgen:ignore
pub mod wire;

/// The README's Rust examples, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use clock::{Clock, ManualClock, SystemClock};
pub use events::{CallbackId, ChangedField, PeerEvent, RemovalReason, StateChange};
pub use model::{
    Capabilities, Capability, CapabilityKind, ConnectionState, Health, Liveness, ModelError,
    NodeId, Peer, PeerAddress, PeerBuilder, PeerRecord,
};
pub use registry::{
    CapabilityFilter, PeerFilter, PeerRegistry, PeerUpdate, RegistryConfig, RegistryError,
    RegistryStats, UpsertOutcome,
};
