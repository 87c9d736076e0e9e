//! The membership protocol as a pure state machine (sans-IO): no threads,
//! no sockets, no clock reads, and no randomness but a seeded
//! [`ChaCha8Rng`](rand_chacha::ChaCha8Rng) it owns.
//!
//! The same code runs in the real node, in the [simulator](crate::sim), and
//! over an application's own transport ([`GossipDiscovery`]).
//!
//! Inputs: [`Membership::handle_message`] (a decoded message and its
//! sender), [`Membership::handle_tick`] (the current time),
//! [`Membership::handle_command`] (join, leave, update my record) and
//! transport outcomes. Outputs, drained with [`Membership::poll_output`]:
//! messages to send, registry changes and events.
//! [`Membership::next_deadline`] says when to tick next.
//!
//! The protocol (PROTOCOL.md has the details):
//! - dissemination: each change is queued once and piggybacked on probes and
//!   on `gossip_announcement`s to `fanout` peers every gossip interval, each
//!   sent about `retransmit_mult * log10(N)` times; periodic `push_pull`
//!   anti-entropy with one peer, its interval growing with N;
//! - failure detection (SWIM + Lifeguard): direct `ping`, `ping_req`
//!   through k peers, suspicion before death with a timeout that shrinks
//!   with independent confirmations, refutation by a higher incarnation, and
//!   a local-health multiplier that slows an unhealthy node's accusations;
//! - health: probe and connection outcomes feed an EWMA per member;
//!   gossip targets are chosen health-weighted (best of two random);
//! - dead members are retried with exponential backoff (jitter, cap) so a
//!   healed partition re-merges by itself; dead and left members are
//!   forgotten after a configurable time; a restarted node refutes its old
//!   death with a higher incarnation and takes its old entry back.

mod apply;
mod config;
mod core;
mod dissemination;
mod error;
mod gossip;
mod member;
mod output;
mod suspicion;

pub use self::core::{MemberView, Membership};
pub use config::MembershipConfig;
pub use error::MembershipError;
pub use gossip::GossipDiscovery;
pub use output::{
    ClaimRefusal, Command, MembershipEvent, Output, RegistryChange, RemovalReason, Target,
};

pub(crate) use apply::apply_change;
pub(crate) use member::MemberTable;

/// A member entry for a converged table built by the simulator.
pub(crate) fn member_for_sim(
    record: std::sync::Arc<crate::model::PeerRecord>,
    now: u64,
) -> member::Member {
    member::Member::new(record, 0, crate::model::Liveness::Alive, now)
}
