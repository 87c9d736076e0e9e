//! A live local mesh: 20 nodes on 127.0.0.1 in one process find each other
//! through one bootstrap node. A live view shows who knows whom and each
//! node's view of health; then one node crashes and its death spreads. Ends
//! by itself. Sends nothing beyond loopback (mDNS stays off).
//!
//! `cargo run --release --example live_mesh [-- NODES]`

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use peerdisc::node::Node;
use peerdisc::Liveness;

const TOOLS: [&str; 5] = ["search", "translate", "summarize", "calculator", "vision"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20)
        .clamp(3, 60);
    let tty = std::io::stdout().is_terminal();
    let t0 = Instant::now();
    let seed = Node::builder().node_id("n00").tool("directory").start()?;
    let mut nodes = vec![seed];
    for i in 1..n {
        let node = Node::builder()
            .node_id(format!("n{i:02}"))
            .bootstrap(nodes[0].address().as_str())
            .agent(format!("agent-{i}"))
            .tool(TOOLS[i % TOOLS.len()])
            .start()?;
        nodes.push(node);
    }
    println!(
        "started {n} nodes in {:.0} ms; bootstrap node {} at {}",
        t0.elapsed().as_secs_f64() * 1e3,
        nodes[0].node_id(),
        nodes[0].address()
    );

    // Phase 1: discovery.
    let converged = watch(&nodes, None, tty, Duration::from_secs(15), "discovery")?;
    match converged {
        Some(t) => println!(
            "every node knows all {} others after {:.2} s",
            n - 1,
            t.as_secs_f64()
        ),
        None => println!("not fully converged within 15 s"),
    }
    let who = nodes[1].find_by_tool("translate");
    println!(
        "n01 finds tool 'translate' at: {}",
        who.iter()
            .map(|p| p.node_id().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Phase 2: a crash.
    let victim = n / 2;
    let victim_id = nodes[victim].node_id().to_string();
    println!("\ncrashing {victim_id} (no goodbye; the others must notice by probing)");
    nodes[victim].abort()?;
    let detected = watch(
        &nodes,
        Some(&victim_id),
        tty,
        Duration::from_secs(15),
        "failure detection",
    )?;
    match detected {
        Some(t) => println!(
            "every node marks {victim_id} dead after {:.2} s",
            t.as_secs_f64()
        ),
        None => println!("{victim_id} not marked dead everywhere within 15 s"),
    }

    // Summary and stop.
    let secs = t0.elapsed().as_secs_f64();
    let bytes: u64 = nodes
        .iter()
        .filter_map(|n| n.stats().transport.map(|t| t.bytes_sent))
        .sum();
    println!(
        "traffic: {:.1} KB/s per node on average over {:.1} s",
        bytes as f64 / 1024.0 / (n - 1) as f64 / secs,
        secs
    );
    let t = Instant::now();
    for node in &nodes {
        node.stop()?;
    }
    println!(
        "stopped {n} nodes in {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// Prints the live view until every node knows every other (or, with
/// `victim`, until every running node marks it dead). Returns when that
/// happened, or `None` after `limit`.
fn watch(
    nodes: &[Node],
    victim: Option<&str>,
    tty: bool,
    limit: Duration,
    phase: &str,
) -> std::io::Result<Option<Duration>> {
    let start = Instant::now();
    let mut frame = 0u32;
    loop {
        let done = match victim {
            None => nodes.iter().all(|n| n.peers().len() == nodes.len() - 1),
            Some(v) => nodes.iter().filter(|n| n.is_running()).all(|n| {
                n.registry()
                    .get(v)
                    .is_some_and(|p| p.liveness == Liveness::Dead)
            }),
        };
        // On a terminal, redraw 4 times a second; otherwise print a frame a
        // second and the last one.
        if tty || frame % 4 == 0 || done {
            draw(nodes, tty, phase, start.elapsed())?;
        }
        if done {
            return Ok(Some(start.elapsed()));
        }
        if start.elapsed() > limit {
            return Ok(None);
        }
        frame += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn draw(nodes: &[Node], tty: bool, phase: &str, t: Duration) -> std::io::Result<()> {
    let mut out = String::new();
    if tty {
        out.push_str("\x1b[H\x1b[2J");
    }
    out.push_str(&format!(
        "{phase}: {:.2} s   rows: who knows, columns: whom   o alive  ? suspect  x dead  - left  . unknown\n     ",
        t.as_secs_f64()
    ));
    for j in 0..nodes.len() {
        out.push_str(&format!("{}", j % 10));
    }
    out.push_str("   known  mean health\n");
    for (i, node) in nodes.iter().enumerate() {
        out.push_str(&format!("{:<5}", node.node_id().as_str()));
        if !node.is_running() {
            out.push_str(&"~".repeat(nodes.len()));
            out.push_str("   (crashed)\n");
            continue;
        }
        let mut health = 0.0;
        let mut known = 0;
        for (j, other) in nodes.iter().enumerate() {
            if i == j {
                out.push(' ');
                continue;
            }
            let c = match node.registry().get(other.node_id().as_str()) {
                None => '.',
                Some(p) => {
                    known += 1;
                    health += p.health_score();
                    match p.liveness {
                        Liveness::Alive => 'o',
                        Liveness::Suspect => '?',
                        Liveness::Dead => 'x',
                        Liveness::Left => '-',
                    }
                }
            };
            out.push(c);
        }
        let mean = if known > 0 {
            health / known as f64
        } else {
            0.0
        };
        out.push_str(&format!("   {known:>3}    {mean:.2}\n"));
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()
}
