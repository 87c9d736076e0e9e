//! Shared helpers for the registry benchmarks.
#![allow(dead_code)]

use peerdisc::{Peer, PeerRecord, PeerRegistry, RegistryConfig};

/// Names of capabilities are drawn from a vocabulary of this many words, as
/// in a real network where many nodes offer the same tools.
pub const VOCABULARY: usize = 1_000;

/// A record with 10 capabilities of short names (4 agents, 4 tools, 1
/// resource, 1 prompt), one address, and version `version`.
pub fn record(i: usize, version: u64) -> PeerRecord {
    let w = |k: usize| (i.wrapping_mul(7919).wrapping_add(k * 104_729)) % VOCABULARY;
    let mut b = Peer::builder(format!("node-{i:08}"))
        .address(format!(
            "ws://10.{}.{}.{}:8000",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ))
        .version(version);
    for k in 0..4 {
        b = b.agent(format!("agent-{}", w(k)));
    }
    for k in 4..8 {
        b = b.tool(format!("tool-{}", w(k)));
    }
    b = b
        .resource(format!("res-{}", w(8)))
        .prompt(format!("prompt-{}", w(9)));
    b.build_record().expect("valid record")
}

/// A registry holding `n` peers made by [`record`]; `rare` of them also
/// offer the tool `rare-tool`.
pub fn filled(n: usize, rare: usize) -> PeerRegistry {
    let reg = PeerRegistry::with_config(RegistryConfig {
        capacity: n.max(1) * 2,
        ..Default::default()
    })
    .unwrap();
    for i in 0..n {
        let mut r = record(i, 1);
        if i < rare {
            r.capabilities
                .tools
                .push(peerdisc::Capability::new("rare-tool"));
        }
        reg.upsert(r).unwrap();
    }
    reg
}

pub fn id(i: usize) -> String {
    format!("node-{i:08}")
}
