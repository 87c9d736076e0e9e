//! `peerdisc node`: runs a node and prints what happens to its peers.

use std::io::Write;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select};
use peerdisc::node::{Node, NodeError};
use peerdisc::{ChangedField, PeerEvent, StateChange};

use crate::args::NodeArgs;
use crate::Failure;

pub fn run(a: NodeArgs) -> Result<(), Failure> {
    let cfg = crate::config::build(&a)?;
    // Checked like the node checks it, so --print-config refuses what the
    // node would refuse (exit 3).
    cfg.validate().map_err(|e| Failure::config(e.to_string()))?;
    if a.print_config {
        println!(
            "{}",
            serde_json::to_string_pretty(&cfg).expect("serializes")
        );
        return Ok(());
    }
    let node = Node::new(cfg).map_err(|e| Failure::config(e.to_string()))?;
    // Subscribed before the start: the first peers (a bootstrap node's
    // answer) may arrive before `start` returns, and their `added` events
    // must not be lost.
    let events = node.subscribe();
    node.start().map_err(|e| match e {
        NodeError::Config(m) => Failure::config(m),
        other => Failure::start(other.to_string()),
    })?;
    println!(
        "peerdisc node {} listening at {}",
        node.node_id(),
        node.address()
    );
    let (stop_tx, stop_rx) = bounded::<()>(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })
    .map_err(|e| Failure::other(format!("cannot install the signal handler: {e}")))?;
    let end = a
        .duration_secs
        .map(|s| Instant::now() + Duration::from_secs(s));
    let every = a.stats_every_secs.map(|s| Duration::from_secs(s.max(1)));
    let mut next_stats = every.map(|e| Instant::now() + e);
    loop {
        let now = Instant::now();
        if let (Some(at), Some(e)) = (next_stats, every) {
            if now >= at {
                print_stats(&node);
                next_stats = Some(now + e);
            }
        }
        let wait = end
            .map(|e| e.saturating_duration_since(now))
            .unwrap_or(Duration::from_secs(3600));
        if wait.is_zero() {
            break;
        }
        let wait = next_stats
            .map(|at| wait.min(at.saturating_duration_since(now)))
            .unwrap_or(wait);
        select! {
            recv(events) -> ev => match ev {
                Ok(ev) => print_events(ev, &events, a.json_events),
                Err(_) => break,
            },
            recv(stop_rx) -> _ => break,
            default(wait) => {}
        }
    }
    if every.is_some() {
        print_stats(&node);
    }
    log::info!("stopping");
    node.stop()
        .map_err(|e| Failure::other(format!("stop: {e}")))?;
    Ok(())
}

/// One `{"type": "stats", ...}` line with the node's counts.
fn print_stats(node: &Node) {
    let mut v = serde_json::to_value(node.stats()).expect("stats serialize");
    if let serde_json::Value::Object(m) = &mut v {
        m.insert("type".into(), "stats".into());
    }
    println!("{v}");
}

/// Events printed in one write at most: `first` and those already queued
/// behind it (one system call for a burst, not one per line).
const EVENTS_PER_WRITE: usize = 256;

fn print_events(first: PeerEvent, more: &crossbeam_channel::Receiver<PeerEvent>, json: bool) {
    let mut out = String::new();
    let mut next = Some(first);
    let mut n = 0;
    while let Some(ev) = next.take() {
        if let Some(line) = event_line(&ev, json) {
            out.push_str(&line);
            out.push('\n');
        }
        n += 1;
        if n < EVENTS_PER_WRITE {
            next = more.try_recv().ok();
        }
    }
    if !out.is_empty() {
        let mut stdout = std::io::stdout().lock();
        // A closed stdout (a pipe whose reader left) is not this node's
        // failure: it keeps running, as `println!` would not.
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}

/// The line printed for `ev` (JSON or text), if any.
fn event_line(ev: &PeerEvent, json: bool) -> Option<String> {
    if json {
        return Some(ev.to_json());
    }
    let p = ev.peer();
    let what = match ev {
        PeerEvent::Added { .. } => format!(
            "added     {} at {}",
            p.node_id(),
            p.addresses()
                .first()
                .map(|a| a.to_string())
                .unwrap_or_default()
        ),
        // Health moves with every probe; the text view leaves it out (the
        // JSON view and `peerdisc peers` show it).
        PeerEvent::Updated { changes, .. } if changes == &[ChangedField::Health] => return None,
        PeerEvent::Updated { changes, .. } => {
            let names: Vec<String> = changes.iter().map(name).collect();
            format!("updated   {} {}", p.node_id(), names.join(", "))
        }
        PeerEvent::Removed { reason, .. } => {
            format!("removed   {} ({})", p.node_id(), name(reason))
        }
        PeerEvent::StateChanged { change, .. } => {
            let (what, from, to) = match change {
                StateChange::Liveness { from, to } => {
                    ("liveness", from.to_string(), to.to_string())
                }
                StateChange::Connection { from, to } => {
                    ("connection", from.to_string(), to.to_string())
                }
            };
            format!("state     {} {what} {from} -> {to}", p.node_id())
        }
        _ => return None,
    };
    Some(what)
}

/// The name a value has in the JSON events (`capabilities`, `dead`, ...).
fn name(v: &impl serde::Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "?".into(),
    }
}
