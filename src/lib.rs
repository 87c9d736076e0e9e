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

pub mod clock;
pub mod events;
pub mod ffi;
pub mod identity;
pub mod keyring;
pub mod mdns;
pub mod membership;
pub mod model;
pub mod node;
pub mod persist;
pub mod registry;
pub mod sim;
pub mod transport;
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
