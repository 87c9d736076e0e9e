//! Fills a registry with peers, queries it and prints it: what the registry
//! does on its own, without any networking.
//!
//! `cargo run --example registry_demo`

use peerdisc::{ConnectionState, Peer, PeerRegistry};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = PeerRegistry::new();
    let events = registry.subscribe();
    registry.on_remove(|_, peer, reason| {
        println!("  [callback] {} removed ({reason:?})", peer.node_id());
    })?;

    let tools = ["search", "calculator", "translate", "summarize"];
    for i in 0..12 {
        let peer = Peer::builder(format!("node-{i:02}"))
            .address(format!("ws://127.0.0.1:{}", 9000 + i))
            .agent(format!("agent-{}", i % 3))
            .tool(tools[i % tools.len()])
            .tool(tools[(i + 1) % tools.len()])
            .prompt("greeting")
            .build()?;
        registry.add(peer)?;
    }
    // Connection outcomes drive the health score.
    for i in 0..12 {
        let id = format!("node-{i:02}");
        for _ in 0..(i % 4) {
            registry.record_success(&id)?;
        }
        for _ in 0..(i % 3) {
            registry.record_failure(&id)?;
        }
    }
    registry.set_connection_state("node-01", ConnectionState::Connected)?;
    registry.mark_suspect("node-05")?;
    registry.mark_dead("node-07")?;

    println!(
        "{:<9} {:<13} {:<8} {:>6}  capabilities",
        "node", "connection", "liveness", "health"
    );
    for p in registry.list() {
        let caps: Vec<String> = p
            .capabilities()
            .iter()
            .map(|(k, c)| format!("{k}:{}", c.name()))
            .collect();
        println!(
            "{:<9} {:<13} {:<8} {:>6.2}  {}",
            p.node_id(),
            p.connection_state.to_string(),
            p.liveness.to_string(),
            p.health_score(),
            caps.join(" ")
        );
    }
    let who: Vec<String> = registry
        .find_by_tool("translate")
        .iter()
        .map(|p| p.node_id().to_string())
        .collect();
    println!("\npeers offering tool 'translate': {}", who.join(", "));
    println!("alive peers: {}", registry.list_alive().len());

    registry.remove("node-11")?;
    println!("\nevents so far: {}", events.try_iter().count());
    let stats = registry.stats();
    println!("stats: {}", serde_json::to_string_pretty(&stats)?);
    // Give the callback thread a moment to print before exiting.
    std::thread::sleep(std::time::Duration::from_millis(50));
    Ok(())
}
