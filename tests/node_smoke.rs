use std::time::Duration;
use peerdisc::node::Node;

#[test]
fn two_nodes_meet() {
    let seed = Node::builder().node_id("seed").tool("search").start().unwrap();
    let node = Node::builder()
        .node_id("joiner")
        .bootstrap(seed.address().as_str())
        .agent("planner")
        .start()
        .unwrap();
    let report = node.discover_bootstrap().unwrap();
    println!("{report:?}");
    node.wait_for_peers(1, Duration::from_secs(5)).unwrap();
    seed.wait_for_peers(1, Duration::from_secs(5)).unwrap();
    assert_eq!(node.find_by_tool("search").len(), 1);
    assert_eq!(seed.find_by_agent("planner").len(), 1);
    println!("{}", serde_json::to_string_pretty(&node.stats()).unwrap());
    node.stop().unwrap();
    seed.stop().unwrap();
}
