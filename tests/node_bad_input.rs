//! The bad-input table at the node: hostile frames sent over real WebSocket
//! connections to a running node. Every case must be refused (a typed
//! decode error counted, a transport refusal, or a claim the protocol
//! ignores), the node must keep serving, and its registry must not change.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use peerdisc::node::Node;
use tungstenite::{Message, WebSocket};

type Ws = WebSocket<TcpStream>;

fn connect(node: &Node) -> Option<Ws> {
    let addr = node.address();
    let stream = TcpStream::connect((addr.host().as_str(), addr.port())).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .ok()?;
    let (ws, _) = tungstenite::client::client(addr.as_str(), stream).ok()?;
    Some(ws)
}

fn greeting(id: &str) -> String {
    format!(r#"{{"v":1,"type":"alive","node_id":"{id}","incarnation":0,"version":1}}"#)
}

/// The registry as a comparable snapshot: (id, version, liveness,
/// addresses, capabilities) of every peer.
fn fingerprint(node: &Node) -> Vec<String> {
    node.registry()
        .list()
        .iter()
        .map(|p| {
            format!(
                "{} v{} {} {:?} {:?}",
                p.node_id(),
                p.version(),
                p.liveness,
                p.addresses(),
                p.capabilities()
            )
        })
        .collect()
}

fn still_serves(node: &Node) -> bool {
    let Some(mut ws) = connect(node) else {
        return false;
    };
    if ws
        .send(Message::text(r#"{"v":1,"type":"peer_table_request"}"#))
        .is_err()
    {
        return false;
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Message::Text(t)) = ws.read() {
            return t.contains("peer_table") && t.contains("honest");
        }
    }
    false
}

fn run_cases(victim: &Node, before: &[String], cases: &[(&str, bool, Vec<String>)]) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, greet, frames) in cases {
        let Some(mut ws) = connect(victim) else {
            failures.push(format!("{name}: could not connect"));
            continue;
        };
        if *greet {
            let _ = ws.send(Message::text(greeting("mallory")));
        }
        if frames.is_empty() {
            let _ = ws.send(Message::binary(vec![1u8, 2, 3]));
        }
        for f in frames {
            let _ = ws.send(Message::text(f.clone()));
        }
        let _ = ws.flush();
        std::thread::sleep(Duration::from_millis(150));
        drop(ws);
        if !still_serves(victim) {
            failures.push(format!("{name}: the node stopped serving"));
        }
        let after = fingerprint(victim);
        if after != before {
            failures.push(format!(
                "{name}: registry changed:\n  before {before:?}\n  after  {after:?}"
            ));
        }
    }
    failures
}

fn big_announcement(peers: usize) -> String {
    let one = r#"{"node_id":"fake-NNN","addresses":["ws://127.0.0.9:1/p"],"version":1}"#;
    let list: Vec<String> = (0..peers)
        .map(|i| one.replace("NNN", &i.to_string()))
        .collect();
    format!(
        r#"{{"type":"gossip_announcement","timestamp":1.0,"peers":[{}]}}"#,
        list.join(",")
    )
}

#[test]
fn hostile_frames_are_refused_and_change_nothing() {
    let victim = Node::builder().node_id("victim").start().unwrap();
    let honest = Node::builder()
        .node_id("honest")
        .bootstrap(victim.address().as_str())
        .tool("search")
        .start()
        .unwrap();
    victim.wait_for_peers(1, Duration::from_secs(10)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let before = fingerprint(&victim);

    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: Vec<(&str, bool, Vec<String>)> = vec![
        // (name, greet first, frames)
        ("frame before any greeting", false, vec![r#"{"v":1,"type":"ping","seq":1,"target":"victim"}"#.into()]),
        ("truncated JSON", true, vec![r#"{"v":1,"type":"ping","seq":1"#.into()]),
        ("not JSON at all", true, vec!["hello there".into()]),
        ("empty frame", true, vec![String::new()]),
        ("wrong types", true, vec![r#"{"v":1,"type":"ping","seq":"one","target":5}"#.into()]),
        ("negative sequence", true, vec![r#"{"v":1,"type":"ping","seq":-1,"target":"victim"}"#.into()]),
        ("unknown version", true, vec![r#"{"v":99,"type":"ping","seq":1,"target":"victim"}"#.into()]),
        ("unknown type", true, vec![r#"{"v":1,"type":"explode"}"#.into()]),
        ("missing type", true, vec![r#"{"v":1,"seq":1}"#.into()]),
        ("unknown field", true, vec![r#"{"v":1,"type":"ping","seq":1,"target":"victim","x":1}"#.into()]),
        ("duplicate field", true, vec![r#"{"v":1,"type":"ping","seq":1,"seq":2,"target":"victim"}"#.into()]),
        ("deeply nested JSON", true, vec![nested]),
        ("frame over the protocol's size limit (2 MiB)", true, vec!["x".repeat(2 << 20)]),
        ("too many peers in one announcement", true, vec![big_announcement(2_000)]),
        ("a million peers (over every limit)", true, vec![format!("{}{}", &big_announcement(1)[..60], "x".repeat(5 << 20))]),
        ("invalid node id in a record", true, vec![r#"{"type":"gossip_announcement","timestamp":1.0,"peers":[{"node_id":"bad id!","version":9}]}"#.into()]),
        ("invalid address in a record", true, vec![r#"{"type":"gossip_announcement","timestamp":1.0,"peers":[{"node_id":"evil","addresses":["http://x"],"version":9}]}"#.into()]),
        ("capability list over the limit", true, vec![format!(r#"{{"type":"gossip_announcement","timestamp":1.0,"peers":[{{"node_id":"evil","capabilities":{{"tools":[{}]}},"version":9}}]}}"#, (0..5000).map(|i| format!("\"t{i}\"")).collect::<Vec<_>>().join(","))]),
        ("hello whose record names another node", true, vec![r#"{"v":1,"type":"hello","record":{"node_id":"honest","addresses":["ws://127.0.0.6:1/p"],"version":99},"incarnation":0}"#.into()]),
        ("replayed older record", true, vec![r#"{"type":"gossip_announcement","timestamp":1.0,"peers":[{"node_id":"honest","addresses":["ws://127.0.0.6:1/p"],"version":0}]}"#.into()]),
        ("ping_req for an unknown target", true, vec![r#"{"v":1,"type":"ping_req","seq":5,"target":"nobody"}"#.into()]),
        ("ack for a probe never sent", true, vec![r#"{"v":1,"type":"ack","seq":424242,"node_id":"honest"}"#.into()]),
        ("binary frame", true, vec![]),
    ];
    let mut failures = run_cases(&victim, &before, &cases);
    // A flood of connections is cut at the per-IP limit; the node serves on.
    let flood: Vec<_> = (0..100).filter_map(|_| connect(&victim)).collect();
    drop(flood);
    std::thread::sleep(Duration::from_millis(200));
    if !still_serves(&victim) {
        failures.push("connection flood: the node stopped serving".into());
    }
    let stats = victim.stats();
    assert!(
        stats.malformed >= 10,
        "malformed frames are counted: {stats:?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        26,
        failures.join("\n")
    );
    honest.stop().unwrap();
    victim.stop().unwrap();
}

/// Records a third party forges about a node whose id is derived from its
/// key: refused by the signature check (typed `RecordRefused` event), the
/// registry unchanged, the node serving on.
#[test]
fn forged_records_of_key_derived_nodes_are_refused() {
    use peerdisc::identity::{sign_record, Identity};
    use peerdisc::node::NodeEvent;
    let victim = Node::builder().start().unwrap();
    let honest = Node::builder()
        .bootstrap(victim.address().as_str())
        .tool("honest-tool")
        .start()
        .unwrap();
    victim.wait_for_peers(1, Duration::from_secs(10)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let before = fingerprint(&victim);
    let hid = honest.node_id().to_string();
    let held = victim.registry().get(&hid).unwrap().record.clone();
    assert!(held.public_key.is_some());
    let mallory = Identity::from_secret_bytes(&[66; 32]);
    let announce = |r: &peerdisc::PeerRecord| {
        format!(
            r#"{{"type":"gossip_announcement","timestamp":1.0,"peers":[{}]}}"#,
            r.to_json()
        )
    };
    // 1. unsigned, newer, moved to the attacker's address
    let mut unsigned = held.clone();
    unsigned.version += 10;
    unsigned.addresses = vec![peerdisc::PeerAddress::new("ws://127.0.0.66:1/p").unwrap()];
    unsigned.signature = None;
    // 2. signed by mallory, claiming honest's id
    let mut claimed = sign_record(&mallory, unsigned.clone());
    claimed.node_id = held.node_id.clone();
    // 3. honest's public key, mallory's signature
    let mut resigned = claimed.clone();
    resigned.public_key = held.public_key.clone();
    // 4. honest's own signature over a record a relay changed
    let mut tampered = held.clone();
    tampered.version += 10;
    let cases: Vec<(&str, bool, Vec<String>)> = vec![
        (
            "forged newer record, unsigned",
            true,
            vec![announce(&unsigned)],
        ),
        (
            "record claiming another node's id",
            true,
            vec![announce(&claimed)],
        ),
        ("forged signature", true, vec![announce(&resigned)]),
        ("record changed by a relay", true, vec![announce(&tampered)]),
        (
            "forged hello",
            true,
            vec![format!(
                r#"{{"v":1,"type":"hello","record":{},"incarnation":0}}"#,
                unsigned.to_json()
            )],
        ),
    ];
    let failures = run_cases(&victim, &before, &cases);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let refused = std::iter::from_fn(|| victim.node_events().try_recv().ok())
        .filter(
            |e| matches!(e, NodeEvent::RecordRefused { node_id, .. } if node_id.as_str() == hid),
        )
        .count();
    assert!(refused >= 4, "refusals reported as events: {refused}");
    assert_eq!(victim.registry().get(&hid).unwrap().record, held);
    honest.stop().unwrap();
    victim.stop().unwrap();
}

/// Sends a liveness claim about `honest` from a stranger and samples the
/// victim's view of it for 2 s: returns (ever dead, alive at the end).
fn claim_against(victim: &Node, claim: &str) -> (bool, bool) {
    let mut ws = connect(victim).expect("connect");
    ws.send(Message::text(greeting("mallory"))).unwrap();
    let frame = format!(
        r#"{{"v":1,"type":"{claim}","node_id":"honest","incarnation":0,"version":1,"from":"mallory"}}"#
    );
    ws.send(Message::text(frame)).unwrap();
    let _ = ws.flush();
    let start = Instant::now();
    let mut ever_dead = false;
    let mut alive = false;
    while start.elapsed() < Duration::from_secs(2) {
        let l = victim.registry().get("honest").unwrap().liveness;
        ever_dead |= l == peerdisc::Liveness::Dead;
        alive = l == peerdisc::Liveness::Alive;
        std::thread::sleep(Duration::from_millis(10));
    }
    (ever_dead, alive)
}

fn victim_and_honest() -> (Node, Node) {
    let victim = Node::builder().node_id("victim").start().unwrap();
    let honest = Node::builder()
        .node_id("honest")
        .bootstrap(victim.address().as_str())
        .start()
        .unwrap();
    victim.wait_for_peers(1, Duration::from_secs(10)).unwrap();
    (victim, honest)
}

/// A false dead, suspect or leave claim about a live node does not stick:
/// the node refutes it and is listed alive again within 2 s.
#[test]
fn false_death_claims_are_refuted() {
    let (victim, honest) = victim_and_honest();
    for claim in ["dead", "suspect", "leave"] {
        let (_, alive) = claim_against(&victim, claim);
        assert!(
            alive,
            "after a {claim} claim the node is not listed alive again"
        );
    }
    honest.stop().unwrap();
    victim.stop().unwrap();
}

/// Stricter: a third party's dead claim about a node heard from moments
/// ago is not believed, so the registry never shows it dead.
#[test]
fn false_death_claims_never_mark_a_live_node_dead() {
    let (victim, honest) = victim_and_honest();
    let (ever_dead, _) = claim_against(&victim, "dead");
    assert!(!ever_dead, "a dead claim marked a live node dead");
    honest.stop().unwrap();
    victim.stop().unwrap();
}
