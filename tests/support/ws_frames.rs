//! Reading a peerdisc node's WebSocket frames in tests that play a peer.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

/// Every text frame that arrives within `wait` (the stream's read timeout
/// should be short: reads poll).
pub fn read_frames(ws: &mut WebSocket<TcpStream>, wait: Duration) -> Vec<String> {
    let end = Instant::now() + wait;
    let mut out = Vec::new();
    while Instant::now() < end {
        match ws.read() {
            Ok(Message::Text(t)) => out.push(t.to_string()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    out
}
