//! A live local mesh: 20 nodes on 127.0.0.1 in one process find each other
//! through one bootstrap node. A live view shows who knows whom and the
//! health each node holds of each of its peers; then one node crashes and
//! its death spreads. Ends by itself, with exit status 0 only if the mesh
//! converged and every node detected the crash. Sends nothing beyond
//! loopback (mDNS stays off).
//!
//! ```text
//! cargo run --release --example live_mesh [-- NODES]
//! PEERDISC_MESH_NODES=5 cargo run --release --example live_mesh
//! ```
//!
//! The node count (3 to 60, default 20: a bootstrap node, a node that
//! crashes and at least one that notices) comes from the first argument,
//! else from `PEERDISC_MESH_NODES`; another count is refused (exit 2).
//! `tests/live_mesh.rs` runs [`run`] with 5.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use peerdisc::node::Node;
use peerdisc::Liveness;

const TOOLS: [&str; 5] = ["search", "translate", "summarize", "calculator", "vision"];
/// How long each phase may take before the demo gives up on it.
pub const PHASE_LIMIT: Duration = Duration::from_secs(15);
/// The node count without an argument or `PEERDISC_MESH_NODES`.
pub const DEFAULT_NODES: usize = 20;

/// What the demo saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// When every node knew every other, from the start of discovery.
    pub converged: Option<Duration>,
    /// When every running node marked the crashed one dead, from the crash.
    pub detected: Option<Duration>,
}

impl Outcome {
    /// Both phases finished in time.
    pub fn ok(&self) -> bool {
        self.converged.is_some() && self.detected.is_some()
    }
}

/// The fewest and the most nodes the demo runs.
pub const NODES: std::ops::RangeInclusive<usize> = 3..=60;

/// The node count: the argument if given, else the environment variable,
/// else [`DEFAULT_NODES`]; an error outside [`NODES`].
pub fn node_count(arg: Option<&str>, env: Option<&str>) -> Result<usize, String> {
    let (what, raw) = match (arg, env) {
        (Some(a), _) => ("the argument", a),
        (None, Some(e)) => ("PEERDISC_MESH_NODES", e),
        (None, None) => return Ok(DEFAULT_NODES),
    };
    let range = format!("{} to {}", NODES.start(), NODES.end());
    match raw.trim().parse::<usize>() {
        Ok(n) if NODES.contains(&n) => Ok(n),
        Ok(n) => Err(format!(
            "{what} asks for {n} nodes; the demo runs {range} (a bootstrap node, \
             one that crashes, and at least one that notices)"
        )),
        Err(_) => Err(format!("{what} {raw:?} is not a node count ({range})")),
    }
}

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    let env = std::env::var("PEERDISC_MESH_NODES").ok();
    let n = match node_count(arg.as_deref(), env.as_deref()) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("live_mesh: {e}");
            return ExitCode::from(2);
        }
    };
    let tty = std::io::stdout().is_terminal();
    match run(n, tty, &mut std::io::stdout()) {
        Ok(outcome) if outcome.ok() => ExitCode::SUCCESS,
        Ok(outcome) => {
            eprintln!("live_mesh: failed: {outcome:?}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("live_mesh: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the demo with `n` nodes, writing the live view to `out` (redrawn in
/// place when `tty`), and stops every node before returning.
pub fn run(
    n: usize,
    tty: bool,
    out: &mut dyn Write,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let seed = Node::builder()
        .node_id("n00")
        .tool("directory")
        .mdns(false)
        .start()?;
    let mut nodes = vec![seed];
    for i in 1..n {
        let node = Node::builder()
            .node_id(format!("n{i:02}"))
            .bootstrap(nodes[0].address().as_str())
            .agent(format!("agent-{i}"))
            .tool(TOOLS[i % TOOLS.len()])
            .mdns(false)
            .start()?;
        nodes.push(node);
    }
    writeln!(
        out,
        "started {n} nodes in {:.0} ms; bootstrap node {} at {}",
        t0.elapsed().as_secs_f64() * 1e3,
        nodes[0].node_id(),
        nodes[0].address()
    )?;

    // Phase 1: discovery.
    let converged = watch(&nodes, None, tty, out, "discovery")?;
    match converged {
        Some(t) => writeln!(
            out,
            "every node knows all {} others after {:.2} s",
            n - 1,
            t.as_secs_f64()
        )?,
        None => writeln!(out, "not fully converged within {PHASE_LIMIT:?}")?,
    }
    // A tool the last node offers (never n01 itself: n >= 3).
    let tool = TOOLS[(n - 1) % TOOLS.len()];
    let who: Vec<String> = nodes[1]
        .find_by_tool(tool)
        .iter()
        .map(|p| p.node_id().to_string())
        .collect();
    if who.is_empty() {
        writeln!(out, "n01 finds no node offering tool '{tool}'")?;
    } else {
        writeln!(out, "n01 finds tool '{tool}' at: {}", who.join(", "))?;
    }

    // Phase 2: a crash.
    let victim = n / 2;
    let victim_id = nodes[victim].node_id().to_string();
    writeln!(
        out,
        "\ncrashing {victim_id} (no goodbye; the others must notice by probing)"
    )?;
    nodes[victim].abort()?;
    let detected = watch(&nodes, Some(&victim_id), tty, out, "failure detection")?;
    match detected {
        Some(t) => writeln!(
            out,
            "every node marks {victim_id} dead after {:.2} s",
            t.as_secs_f64()
        )?,
        None => writeln!(
            out,
            "{victim_id} not marked dead everywhere within {PHASE_LIMIT:?}"
        )?,
    }

    // Summary and stop.
    let secs = t0.elapsed().as_secs_f64();
    let bytes: u64 = nodes
        .iter()
        .filter_map(|n| n.stats().transport.map(|t| t.bytes_sent))
        .sum();
    writeln!(
        out,
        "traffic: {:.1} KB/s per node on average over {:.1} s",
        bytes as f64 / 1024.0 / (n - 1) as f64 / secs,
        secs
    )?;
    let t = Instant::now();
    for node in &nodes {
        node.stop()?;
    }
    writeln!(
        out,
        "stopped {n} nodes in {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    )?;
    out.flush()?;
    Ok(Outcome {
        converged,
        detected,
    })
}

/// Prints the live view until every node knows every other (or, with
/// `victim`, until every running node marks it dead). Returns when that
/// happened, or `None` after [`PHASE_LIMIT`].
fn watch(
    nodes: &[Node],
    victim: Option<&str>,
    tty: bool,
    out: &mut dyn Write,
    phase: &str,
) -> std::io::Result<Option<Duration>> {
    let start = Instant::now();
    let mut frame = 0u32;
    loop {
        let done = match victim {
            None => nodes
                .iter()
                .all(|n| n.registry().stats().alive == nodes.len() - 1),
            Some(v) => nodes.iter().filter(|n| n.is_running()).all(|n| {
                n.registry()
                    .get(v)
                    .is_some_and(|p| p.liveness == Liveness::Dead)
            }),
        };
        // On a terminal, redraw 4 times a second; otherwise print a frame a
        // second and the last one.
        if tty || frame % 4 == 0 || done {
            draw(nodes, tty, phase, start.elapsed(), out)?;
        }
        if done {
            return Ok(Some(start.elapsed()));
        }
        if start.elapsed() > PHASE_LIMIT {
            return Ok(None);
        }
        frame += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// One cell of the view: what `node` holds of one peer, as its liveness
/// and its health score in tenths (`o8`: alive, health 0.80 to 0.89; 9
/// stands for 0.9 and above).
fn cell(node: &Node, peer: &str) -> String {
    match node.registry().get(peer) {
        None => " .".into(),
        Some(p) => {
            let state = match p.liveness {
                Liveness::Alive => 'o',
                Liveness::Suspect => '?',
                Liveness::Dead => 'x',
                Liveness::Left => '-',
            };
            let tenths = (p.health_score() * 10.0).floor().clamp(0.0, 9.0) as u8;
            format!("{state}{tenths}")
        }
    }
}

fn draw(
    nodes: &[Node],
    tty: bool,
    phase: &str,
    t: Duration,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut s = String::new();
    if tty {
        s.push_str("\x1b[H\x1b[2J");
    }
    s.push_str(&format!(
        "{phase}: {:.2} s   rows: who knows, columns: whom; each cell the state and the health in tenths\n\
         o alive  ? suspect  x dead  - left  . unknown   (o8: alive, health 0.8x)   \
         ~~ the row of a crashed node (it holds no view)\n     ",
        t.as_secs_f64()
    ));
    for j in 0..nodes.len() {
        s.push_str(&format!(" {j:>2}"));
    }
    s.push_str("   known\n");
    for (i, node) in nodes.iter().enumerate() {
        s.push_str(&format!("{:<5}", node.node_id().as_str()));
        if !node.is_running() {
            s.push_str(&" ~~".repeat(nodes.len()));
            s.push_str("   (crashed)\n");
            continue;
        }
        for (j, other) in nodes.iter().enumerate() {
            s.push(' ');
            if i == j {
                s.push_str("  ");
            } else {
                s.push_str(&cell(node, other.node_id().as_str()));
            }
        }
        s.push_str(&format!("   {:>5}\n", node.registry().len()));
    }
    out.write_all(s.as_bytes())?;
    out.flush()
}
