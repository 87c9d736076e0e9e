//! A deterministic simulator: many nodes running the real
//! [`Membership`](crate::membership::Membership) core over an in-memory
//! network with per-link latency, loss, partitions, crashes, restarts,
//! joins and leaves. Seeded: the same seed gives the same run.
//!
//! [`scenario`] holds the measured scenarios (run by `cargo bench --bench
//! sim`); [`Simulator`] is the engine for custom ones.
//!
//! ```
//! use peerdisc::sim::{SimConfig, Simulator};
//!
//! let mut sim = Simulator::new(SimConfig::default());
//! sim.add_converged_cluster(20);
//! let new = sim.add_node();
//! sim.join(new, 0);
//! let t = sim.run_until_or(10_000, |s| s.known_by(new) == 20);
//! assert!(t.is_some());
//! ```

mod cold_start;
mod metrics;
mod network;
pub mod scenario;
mod simulator;

pub use metrics::Metrics;
pub use network::NetworkConfig;
pub use simulator::{sim_record, SimConfig, Simulator};
