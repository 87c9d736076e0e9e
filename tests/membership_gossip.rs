//! `GossipDiscovery` over an application's own transport (plain queues),
//! and the configuration's checks.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use peerdisc::membership::{GossipDiscovery, MembershipConfig, MembershipError};
use peerdisc::{Liveness, NodeId, PeerRecord};

type Queue = Rc<RefCell<VecDeque<(NodeId, NodeId, String)>>>;

fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

#[test]
fn three_nodes_gossip_over_queues_and_see_a_leave() {
    let q: Queue = Rc::default();
    let names = ["a", "b", "c"];
    let mut nodes: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let me = id(n);
            let out = q.clone();
            GossipDiscovery::new(
                PeerRecord::new(id(n)),
                MembershipConfig::default(),
                i as u64,
                move |to: &NodeId, json: &str| {
                    out.borrow_mut()
                        .push_back((me.clone(), to.clone(), json.to_string()))
                },
            )
            .unwrap()
        })
        .collect();
    nodes[1].join(&[id("a")], 0).unwrap();
    nodes[2].join(&[id("a")], 0).unwrap();
    let run = |nodes: &mut Vec<GossipDiscovery<_>>, from_ms: u64, to_ms: u64| {
        for now in (from_ms..to_ms).step_by(10) {
            for n in nodes.iter_mut() {
                n.tick(now);
            }
            loop {
                // Take the message first: the send functions borrow the queue.
                let Some((from, to, json)) = q.borrow_mut().pop_front() else {
                    break;
                };
                let i = names.iter().position(|n| *n == to.as_str()).unwrap();
                nodes[i].handle_announcement(&json, &from).unwrap();
            }
        }
    };
    run(&mut nodes, 0, 3_000);
    for n in &nodes {
        assert_eq!(n.alive_members().len(), 2, "{:?}", n.core().node_id());
    }
    nodes[2].leave().unwrap();
    run(&mut nodes, 3_000, 5_000);
    for n in &nodes[..2] {
        let c = n
            .members()
            .into_iter()
            .find(|m| m.record.node_id == id("c"))
            .unwrap();
        assert_eq!(c.liveness, Liveness::Left);
    }
    // Garbage is refused with a typed error and counted against the sender.
    let before = nodes[0].core().member(&id("b")).unwrap().health;
    assert!(nodes[0].handle_announcement("not json", &id("b")).is_err());
    assert!(nodes[0].core().member(&id("b")).unwrap().health < before);
    assert!(nodes[0].poll_event().is_some());
}

#[test]
fn configuration_is_checked() {
    assert!(MembershipConfig::default().validate().is_ok());
    let bad = MembershipConfig {
        probe_timeout_ms: 500,
        ..MembershipConfig::default()
    };
    assert!(matches!(
        bad.validate(),
        Err(MembershipError::InvalidConfig(_))
    ));
    let bad = MembershipConfig {
        fanout: 0,
        ..MembershipConfig::default()
    };
    assert!(
        GossipDiscovery::new(PeerRecord::new(id("a")), bad, 1, |_: &NodeId, _: &str| {}).is_err()
    );
}

#[test]
fn derived_values_scale_with_the_cluster() {
    let c = MembershipConfig::default();
    assert_eq!(c.push_pull_interval(10), 30_000);
    assert_eq!(c.push_pull_interval(100), 90_000);
    assert_eq!(c.push_pull_interval(1_000), 180_000);
    assert_eq!(c.retransmit_limit(100), 12);
    assert_eq!(c.retransmit_limit(10_000), 20);
    let (min, max) = c.suspicion_bounds(100);
    assert_eq!((min, max), (800, 4_800));
}

#[test]
fn a_key_derived_id_without_its_key_is_refused() {
    let derived = peerdisc::identity::Identity::from_secret_bytes(&[5; 32]).node_id();
    let err = GossipDiscovery::with_registry(
        peerdisc::PeerRegistry::new(),
        PeerRecord::new(derived.clone()),
        MembershipConfig::default(),
        1,
        |_: &NodeId, _: &str| {},
    )
    .unwrap_err();
    assert_eq!(
        err,
        MembershipError::KeyDerivedIdWithoutIdentity(derived.to_string())
    );
}
