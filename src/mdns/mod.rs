//! mDNS / DNS-SD discovery on the local network (Cargo feature `mdns`, on
//! by default; [`NodeConfig::enable_mdns`](crate::node::NodeConfig) turns it
//! on for a node, default off).
//!
//! A node with mDNS on publishes itself as a DNS-SD service of type
//! `_peerdisc._tcp.local.` (configurable, see [`MdnsConfig`]) with the
//! instance name taken from its node id and the [TXT entries](txt) `id`,
//! `pv`, `wsport`, `path` and `caps`, browses the same type, and hands
//! every service it resolves to the node's protocol driver as an
//! [`MdnsEvent::Candidate`]. A candidate is *not* a peer: the driver sends it
//! a `hello` over WebSocket, and only the answer (a `peer_list` on that
//! connection, naming the node) brings it into the membership, which then
//! gossips it and probes it like any other member. A candidate that does
//! not answer is reported as failed and never listed.
//!
//! Repeated and partial resolutions of one instance (for instance an IPv6
//! link-local address first and the IPv4 address in a later event) are
//! merged, and a new candidate event is sent only when something changed.
//! When a service disappears ([`MdnsEvent::Gone`]: goodbye packet or TTL
//! expiry) the peer is not dropped: the failure detector decides, so a
//! lost goodbye or a flaky multicast path cannot remove a live peer, and a
//! crashed peer is found dead by probing in seconds rather than after the
//! 120 s record TTL.
//!
//! On stop the worker unregisters the service (goodbye packets, sent twice
//! 120 ms apart), shuts the mdns-sd daemon down and waits for its thread
//! and its own forwarding thread. [`abort`](crate::node::Node::abort)
//! silences the interfaces first so that no goodbye is sent, as in a crash.
//!
//! # What mdns-sd does on the host's network
//!
//! mdns-sd 0.21 joins the multicast group `224.0.0.251` / `ff02::fb` on
//! **every interface that is up (loopback included) as soon as its daemon
//! starts**, before the [`MdnsConfig::interfaces`], [`MdnsConfig::ipv4`]
//! and [`MdnsConfig::ipv6`] filters are applied; the filters then remove
//! the other interfaces, so queries and answers only go out on the
//! selected ones, but a few packets (and the group membership reports the
//! kernel sends on join) can appear on every interface at start. This is
//! why mDNS is off by default, and why peerdisc's own tests start mDNS
//! nodes only inside network namespaces they create.
//!
//! The published addresses are the node's listen address, or, when it
//! listens on an unspecified address (`0.0.0.0` / `::`), the addresses of
//! the selected interfaces at start (IPv4 only for `0.0.0.0`). Addresses
//! that appear later are not published until the node restarts.
//!
//! # When multicast cannot be used
//!
//! If no selected interface is up, or the mDNS socket (UDP port 5353,
//! shared with `SO_REUSEADDR`/`SO_REUSEPORT`) cannot be bound or cannot
//! join the group, the worker does not start: the node logs one warning
//! line and sends one [`NodeEvent::MdnsUnavailable`](crate::node::NodeEvent)
//! and keeps working with bootstrap nodes and gossip.

mod config;
mod error;
pub mod txt;

#[cfg(feature = "mdns")]
mod merge;
#[cfg(feature = "mdns")]
mod precheck;
#[cfg(feature = "mdns")]
mod worker;

use std::collections::BTreeMap;
use std::net::IpAddr;

pub use config::{MdnsConfig, DEFAULT_SERVICE_TYPE};
pub use error::MdnsError;
#[cfg(feature = "mdns")]
pub use worker::{LocalService, MdnsWorker};

use crate::model::NodeId;

/// A service of our type that was resolved, with its TXT record parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdnsCandidate {
    /// The DNS-SD instance full name (`<instance>._peerdisc._tcp.local.`).
    pub instance: String,
    /// The node id the TXT record claims (the `hello` confirms it).
    pub node_id: NodeId,
    /// Every address learned for it so far, IPv4 first.
    pub addresses: Vec<IpAddr>,
    /// Its WebSocket port (TXT `wsport`).
    pub port: u16,
    /// Its WebSocket path (TXT `path`).
    pub path: String,
    /// Every TXT entry (lower-case keys).
    pub txt: BTreeMap<String, String>,
}

/// What the mDNS worker reports to the node.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MdnsEvent {
    /// A service was resolved, or something about it changed.
    Candidate(MdnsCandidate),
    /// A service went away (goodbye or expiry).
    Gone {
        /// The node id its TXT record claimed.
        node_id: NodeId,
        /// The instance full name.
        instance: String,
    },
    /// Multicast cannot be used; the worker is not running.
    Unavailable {
        /// Why, in one line.
        reason: String,
    },
}

/// Longest DNS label.
const MAX_LABEL: usize = 63;

fn short_hash(s: &str) -> u32 {
    // FNV-1a: stable across runs and platforms.
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The DNS-SD instance name of a node: its id when it fits one DNS label
/// (63 bytes), otherwise its first 54 bytes, `-` and a hash of the whole id.
pub fn instance_name(node_id: &NodeId) -> String {
    let id = node_id.as_str();
    if id.len() <= MAX_LABEL {
        id.to_string()
    } else {
        format!("{}-{:08x}", &id[..MAX_LABEL - 9], short_hash(id))
    }
}

/// The mDNS host name of a node (`<label>.local.`): its id in lower case
/// with every character other than letters and digits replaced by `-`,
/// cut to 54 bytes, then `-` and a hash of the whole id, so that ids that
/// differ only in case or punctuation still get distinct host names.
pub fn host_name(node_id: &NodeId) -> String {
    let id = node_id.as_str();
    let mut label: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(MAX_LABEL - 9)
        .collect();
    label = label.trim_matches('-').to_string();
    if label.is_empty() {
        label.push('n');
    }
    format!("{label}-{:08x}.local.", short_hash(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_dns_labels() {
        let short = NodeId::new("node-0123456789abcdef").unwrap();
        assert_eq!(instance_name(&short), "node-0123456789abcdef");
        let long = NodeId::new("x".repeat(128)).unwrap();
        let i = instance_name(&long);
        assert_eq!(i.len(), 63);
        assert_ne!(i, instance_name(&NodeId::new("x".repeat(127)).unwrap()));
        for id in ["Node_A", "node.a", "---", &"y".repeat(128)] {
            let h = host_name(&NodeId::new(id).unwrap());
            let label = h.strip_suffix(".local.").unwrap();
            assert!(label.len() <= 63, "{h}");
            assert!(!label.starts_with('-'));
            assert!(label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        }
        assert_ne!(
            host_name(&NodeId::new("Node_A").unwrap()),
            host_name(&NodeId::new("node-a").unwrap())
        );
    }
}
