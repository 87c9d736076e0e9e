//! Registry events and their delivery.
//!
//! Two ways to listen:
//! - **subscribers** get a bounded crossbeam [`Receiver`](crossbeam_channel::Receiver);
//!   the registry hands them events with `try_send` and never waits. When a
//!   subscriber's queue is full, the event is dropped *for that subscriber
//!   only* and counted ([`RegistryStats::events_dropped`](crate::RegistryStats)).
//! - **callbacks** run on one dispatcher thread, never while a registry lock
//!   is held, so a callback may call any registry method (including removing
//!   the peer it is told about). A panicking callback is caught, logged and
//!   counted; the other callbacks still run.

mod hub;
mod peer_event;

pub use hub::CallbackId;
pub(crate) use hub::EventHub;
pub use peer_event::{ChangedField, PeerEvent, RemovalReason, StateChange};
