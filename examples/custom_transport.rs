//! Gossip over your own transport, no WebSocket: three nodes wired by
//! in-memory queues. Each node gets a send function (push onto a shared
//! queue) and is fed what it receives with `handle_announcement`, exactly as
//! an application with its own transport would.
//!
//! Run: `cargo run --example custom_transport`

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use peerdisc::membership::{GossipDiscovery, MembershipConfig, MembershipEvent};
use peerdisc::{Capabilities, Capability, Liveness, NodeId, PeerAddress, PeerRecord};

/// (from, to, json) in flight.
type Wire = Rc<RefCell<VecDeque<(NodeId, NodeId, String)>>>;

fn record(name: &str, port: u16, tool: &str) -> PeerRecord {
    let mut r = PeerRecord::new(NodeId::new(name).expect("valid id"));
    r.addresses
        .push(PeerAddress::new(format!("ws://127.0.0.1:{port}")).expect("valid address"));
    r.capabilities.tools.push(Capability::new(tool));
    r
}

fn main() {
    let wire: Wire = Rc::default();
    let mut nodes = Vec::new();
    for (i, (name, tool)) in [
        ("alpha", "search"),
        ("beta", "fetch"),
        ("gamma", "translate"),
    ]
    .into_iter()
    .enumerate()
    {
        let me = NodeId::new(name).expect("valid id");
        let out = wire.clone();
        // The application's send function: here, a queue.
        let send = move |to: &NodeId, json: &str| {
            out.borrow_mut()
                .push_back((me.clone(), to.clone(), json.to_string()))
        };
        let rec = record(name, 8000 + i as u16, tool);
        let node = GossipDiscovery::new(rec, MembershipConfig::default(), i as u64, send)
            .expect("valid configuration");
        nodes.push(node);
    }
    let ids: Vec<NodeId> = nodes.iter().map(|n| n.core().node_id().clone()).collect();

    // beta and gamma join through alpha.
    nodes[1].join(&ids[..1], 0).expect("join");
    nodes[2].join(&ids[..1], 0).expect("join");

    // Drive time by hand: 10 ms steps, delivering whatever was sent.
    let deliver = |nodes: &mut Vec<GossipDiscovery<_>>, now: u64| {
        for n in nodes.iter_mut() {
            n.tick(now);
        }
        loop {
            let Some((from, to, json)) = wire.borrow_mut().pop_front() else {
                break;
            };
            if let Some(i) = ids.iter().position(|id| *id == to) {
                if let Err(e) = nodes[i].handle_announcement(&json, &from) {
                    eprintln!("{to} refused a message from {from}: {e}");
                }
            }
        }
    };
    let mut now = 0;
    while now < 3_000 {
        now += 10;
        deliver(&mut nodes, now);
    }
    for n in &nodes {
        let names: Vec<String> = n
            .alive_members()
            .iter()
            .map(|m| {
                format!(
                    "{} {:?}",
                    m.record.node_id,
                    tool_names(&m.record.capabilities)
                )
            })
            .collect();
        println!("{} knows: {}", n.core().node_id(), names.join(", "));
    }

    // A seed-system peer announces itself with the seed's own message shape.
    let seed_msg = r#"{"type": "gossip_announcement", "timestamp": 1764000000.5,
        "peers": [{"node_id": "legacy", "address": "ws://127.0.0.1:9000", "tools": ["ocr"]}]}"#;
    let legacy = NodeId::new("legacy").expect("valid id");
    nodes[0]
        .handle_announcement(seed_msg, &legacy)
        .expect("the seed shape decodes");
    // Garbage is refused with a typed error (and counted against the sender).
    let err = nodes[0]
        .handle_announcement("{\"type\": 42}", &ids[1])
        .unwrap_err();
    println!("garbage refused: {err}");

    // gamma leaves gracefully; the others see it leave.
    nodes[2].leave().expect("leave");
    while now < 6_000 {
        now += 10;
        deliver(&mut nodes, now);
    }
    let gamma = nodes[0]
        .members()
        .into_iter()
        .find(|m| m.record.node_id == ids[2])
        .expect("gamma is known");
    println!("alpha sees gamma as {:?}", gamma.liveness);
    assert_eq!(gamma.liveness, Liveness::Left);
    println!(
        "beta learned of the legacy peer: {}",
        nodes[1]
            .members()
            .iter()
            .any(|m| m.record.node_id == legacy)
    );
    while let Some(e) = nodes[0].poll_event() {
        if let MembershipEvent::LivenessChanged { node_id, to, .. } = e {
            println!("alpha event: {node_id} is now {to}");
        }
    }
}

fn tool_names(c: &Capabilities) -> Vec<&str> {
    c.tools.iter().map(|t| t.name()).collect()
}
