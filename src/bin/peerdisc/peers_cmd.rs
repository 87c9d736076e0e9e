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
    // The URL was checked while parsing the arguments (exit 2 when bad).
    let addr = PeerAddress::with_default_path(&a.url, peerdisc::model::DEFAULT_WS_PATH)
        .map_err(|e| Failure::usage(e.to_string()))?;
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
    let waited = timeout.as_millis();
    let (mut ws, _) = tungstenite::client::client(addr.as_str(), stream).map_err(|e| {
        let timed_out = match &e {
            // A read timeout on the socket surfaces as an interrupted handshake.
            tungstenite::HandshakeError::Interrupted(_) => true,
            tungstenite::HandshakeError::Failure(e) => is_timeout(e),
        };
        if timed_out {
            format!(
                "timed out after {waited} ms waiting for the WebSocket handshake (is a peerdisc node listening there?)"
            )
        } else {
            format!("WebSocket handshake failed: {e}")
        }
    })?;
    let request = r#"{"v":1,"type":"peer_table_request"}"#;
    let request = match ring {
        Some(r) => r.seal(request),
        None => request.to_string(),
    };
    ws.send(Message::text(request))
        .map_err(|e| format!("cannot send: {e}"))?;
    for _ in 0..16 {
        let message = ws.read().map_err(|e| {
            if is_timeout(&e) {
                format!("timed out after {waited} ms waiting for the peer table")
            } else {
                format!("no answer: {e}")
            }
        })?;
        match message {
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

/// Whether a WebSocket error is a socket read or write timeout.
fn is_timeout(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io)
        if matches!(io.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut))
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
    const HEADERS: [&str; 8] = [
        "NODE",
        "ADDRESS",
        "LIVENESS",
        "CONNECTION",
        "HEALTH",
        "VER",
        "SEEN",
        "CAPABILITIES",
    ];
    let rows: Vec<[String; 8]> = t
        .peers
        .iter()
        .map(|p| {
            let caps: Vec<String> = p
                .capabilities()
                .iter()
                .map(|(k, c)| format!("{k}:{}", c.name()))
                .collect();
            let seen = now.saturating_sub(p.last_seen_ms) as f64 / 1000.0;
            [
                p.node_id().to_string(),
                p.addresses()
                    .first()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                p.liveness.to_string(),
                p.connection_state.to_string(),
                format!("{:.2}", p.health_score()),
                p.version().to_string(),
                format!("{seen:.1}s"),
                caps.join(" "),
            ]
        })
        .collect();
    print!("{}", layout(&HEADERS, &rows));
}

/// Columns as wide as their widest cell (ids derived from keys are 67
/// characters); numbers right-aligned, the last column not padded.
fn layout(headers: &[&str; 8], rows: &[[String; 8]]) -> String {
    const RIGHT: [bool; 8] = [false, false, false, false, true, true, true, false];
    let mut width = headers.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 8]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = width[i].saturating_sub(cell.chars().count());
            if i > 0 {
                out.push_str(if i == 7 { "  " } else { " " });
            }
            if RIGHT[i] {
                out.push_str(&" ".repeat(pad));
            }
            out.push_str(cell);
            if !RIGHT[i] && i < 7 {
                out.push_str(&" ".repeat(pad));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(*headers);
    for row in rows {
        out.push_str(&line(row.each_ref().map(String::as_str)));
    }
    out
}
