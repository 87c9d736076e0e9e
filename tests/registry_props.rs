//! Property tests: after any sequence of operations, the capability index,
//! the counts and the capacity agree with a brute-force view of the peers.

use std::collections::BTreeSet;

use peerdisc::{
    Capabilities, Capability, CapabilityKind, ConnectionState, Peer, PeerRegistry, PeerUpdate,
    RegistryConfig,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Upsert { id: u8, version: u8, tools: Vec<u8> },
    Update { id: u8, agents: Vec<u8> },
    Remove { id: u8 },
    Success { id: u8 },
    Failure { id: u8 },
    Connect { id: u8, on: bool },
    Dead { id: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0u8..24;
    let names = prop::collection::btree_set(0u8..6, 0..4).prop_map(|s| s.into_iter().collect());
    prop_oneof![
        (id.clone(), 0u8..6, names.clone()).prop_map(|(id, version, tools)| Op::Upsert {
            id,
            version,
            tools
        }),
        (id.clone(), names).prop_map(|(id, agents)| Op::Update { id, agents }),
        id.clone().prop_map(|id| Op::Remove { id }),
        id.clone().prop_map(|id| Op::Success { id }),
        id.clone().prop_map(|id| Op::Failure { id }),
        (id.clone(), any::<bool>()).prop_map(|(id, on)| Op::Connect { id, on }),
        id.prop_map(|id| Op::Dead { id }),
    ]
}

fn name(id: u8) -> String {
    format!("p{id}")
}

fn apply(reg: &PeerRegistry, op: &Op) {
    match op {
        Op::Upsert { id, version, tools } => {
            let mut b = Peer::builder(name(*id)).version(u64::from(*version));
            for t in tools {
                b = b.tool(format!("t{t}"));
            }
            let _ = reg.upsert(b.build_record().unwrap());
        }
        Op::Update { id, agents } => {
            let mut caps = reg
                .get(&name(*id))
                .map(|p| p.capabilities().clone())
                .unwrap_or_default();
            caps.agents = agents
                .iter()
                .map(|a| Capability::new(format!("a{a}")))
                .collect();
            let _ = reg.update(&name(*id), PeerUpdate::new().capabilities(caps));
        }
        Op::Remove { id } => {
            let _ = reg.remove(&name(*id));
        }
        Op::Success { id } => {
            let _ = reg.record_success(&name(*id));
        }
        Op::Failure { id } => {
            let _ = reg.record_failure(&name(*id));
        }
        Op::Connect { id, on } => {
            let s = if *on {
                ConnectionState::Connected
            } else {
                ConnectionState::Disconnected
            };
            let _ = reg.set_connection_state(&name(*id), s);
        }
        Op::Dead { id } => {
            let _ = reg.mark_dead(&name(*id));
        }
    }
}

fn check(reg: &PeerRegistry, capacity: usize) {
    let all = reg.list();
    assert!(all.len() <= capacity, "{} > capacity {capacity}", all.len());
    assert_eq!(all.len(), reg.len());
    for kind in [CapabilityKind::Tool, CapabilityKind::Agent] {
        let prefix = if kind == CapabilityKind::Tool {
            "t"
        } else {
            "a"
        };
        for n in 0..6 {
            let cap = format!("{prefix}{n}");
            let from_index: BTreeSet<String> = reg
                .find_by_capability(kind, &cap)
                .iter()
                .map(|p| p.node_id().to_string())
                .collect();
            let from_scan: BTreeSet<String> = all
                .iter()
                .filter(|p| p.capabilities().contains(kind, &cap))
                .map(|p| p.node_id().to_string())
                .collect();
            assert_eq!(from_index, from_scan, "{kind} {cap}");
        }
    }
    let s = reg.stats();
    assert_eq!(s.total, all.len());
    assert_eq!(
        s.alive + s.suspect + s.dead + s.left,
        all.len(),
        "liveness counts"
    );
    assert_eq!(s.connected, all.iter().filter(|p| p.is_connected()).count());
    let mean = if all.is_empty() {
        0.0
    } else {
        all.iter().map(|p| p.health_score()).sum::<f64>() / all.len() as f64
    };
    assert!((s.average_health - mean).abs() < 1e-5);
    let _ = Capabilities::new();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn index_counts_and_capacity_stay_consistent(
        ops in prop::collection::vec(op(), 1..80),
        capacity in 4usize..30,
    ) {
        let reg = PeerRegistry::with_config(RegistryConfig { capacity, ..Default::default() }).unwrap();
        for op in &ops {
            apply(&reg, op);
        }
        check(&reg, capacity);
    }
}
