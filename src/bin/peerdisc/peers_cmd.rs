//! `peerdisc peers URL`: asks a running node for its peer table.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use peerdisc::keyring::Keyring;
use peerdisc::{Peer, PeerAddress};
use serde::Deserialize;
use tungstenite::Message;

use crate::args::PeersArgs;
use crate::Failure;

#[derive(Deserialize)]
struct Table {
    node_id: String,
    peers: Vec<Peer>,
    #[serde(default)]
    truncated: bool,
}

pub fn run(a: PeersArgs) -> Result<(), Failure> {
    let addr = PeerAddress::with_default_path(&a.url, peerdisc::model::DEFAULT_WS_PATH)
        .map_err(|e| Failure::config(e.to_string()))?;
    let timeout = Duration::from_millis(a.timeout_ms.max(1));
    let ring = if a.cluster_key.is_empty() {
        None
    } else {
        let r = Keyring::from_strings(&a.cluster_key)
            .map_err(|e| Failure::config(format!("--cluster-key: {e}")))?;
        Some(r)
    };
    let table = fetch(&addr, timeout, ring.as_ref())
        .map_err(|e| Failure::unreachable(format!("{}: {e}", a.url)))?;
    if a.json {
        let out = serde_json::json!({
            "node_id": table.node_id,
            "peers": table.peers,
            "truncated": table.truncated,
        });
        println!("{out}");
    } else {
        print_table(&table);
    }
    Ok(())
}

fn fetch(addr: &PeerAddress, timeout: Duration, ring: Option<&Keyring>) -> Result<Table, String> {
    let sock = (addr.host().as_str(), addr.port())
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve: {e}"))?
        .next()
        .ok_or("the host name resolves to no address")?;
    let stream =
        TcpStream::connect_timeout(&sock, timeout).map_err(|e| format!("cannot connect: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let (mut ws, _) = tungstenite::client::client(addr.as_str(), stream)
        .map_err(|e| format!("WebSocket handshake failed: {e}"))?;
    let request = r#"{"v":1,"type":"peer_table_request"}"#;
    let request = match ring {
        Some(r) => r.seal(request),
        None => request.to_string(),
    };
    ws.send(Message::text(request))
        .map_err(|e| format!("cannot send: {e}"))?;
    for _ in 0..16 {
        match ws.read().map_err(|e| format!("no answer: {e}"))? {
            Message::Text(t) => {
                if t.contains("\"refused\"") {
                    return Err(format!(
                        "the node refused the request: {t} (check --cluster-key)"
                    ));
                }
                let t = match ring {
                    Some(r) => r
                        .open(&t)
                        .map_err(|e| format!("cannot open the answer: {e}"))?,
                    None => t.to_string(),
                };
                let v: serde_json::Value =
                    serde_json::from_str(&t).map_err(|e| format!("bad answer: {e}"))?;
                if v.get("type").and_then(|t| t.as_str()) == Some("peer_table") {
                    let table: Table =
                        serde_json::from_value(v).map_err(|e| format!("bad peer table: {e}"))?;
                    let _ = ws.close(None);
                    return Ok(table);
                }
            }
            Message::Close(_) => return Err("the node closed the connection".into()),
            _ => {}
        }
    }
    Err("no peer table in the first 16 messages".into())
}

fn print_table(t: &Table) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    println!(
        "peers known to {} ({}{}):",
        t.node_id,
        t.peers.len(),
        if t.truncated { ", truncated" } else { "" }
    );
    println!(
        "{:<24} {:<34} {:<8} {:<12} {:>6} {:>4} {:>8}  capabilities",
        "NODE", "ADDRESS", "LIVENESS", "CONNECTION", "HEALTH", "VER", "SEEN"
    );
    for p in &t.peers {
        let caps: Vec<String> = p
            .capabilities()
            .iter()
            .map(|(k, c)| format!("{k}:{}", c.name()))
            .collect();
        let seen = now.saturating_sub(p.last_seen_ms) as f64 / 1000.0;
        println!(
            "{:<24} {:<34} {:<8} {:<12} {:>6.2} {:>4} {:>7.1}s  {}",
            p.node_id(),
            p.addresses()
                .first()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            p.liveness,
            p.connection_state,
            p.health_score(),
            p.version(),
            seen,
            caps.join(" ")
        );
    }
}
