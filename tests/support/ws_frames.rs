//! Reading a peerdisc node's WebSocket frames in tests that play a peer.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

/// One read: the text frame that came (`Some`), nothing within the
/// stream's read timeout or a frame that is not text (`None`), or the
/// connection's error.
pub fn poll_text<S: Read + Write>(
    ws: &mut WebSocket<S>,
) -> Result<Option<String>, tungstenite::Error> {
    match ws.read() {
        Ok(Message::Text(t)) => Ok(Some(t.to_string())),
        Ok(_) => Ok(None),
        Err(tungstenite::Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Every text frame that arrives within `wait` (the stream's read timeout
/// should be short: reads poll).
#[allow(dead_code)] // not every test file that includes this module reads for a while
pub fn read_frames<S: Read + Write>(ws: &mut WebSocket<S>, wait: Duration) -> Vec<String> {
    let end = Instant::now() + wait;
    let mut out = Vec::new();
    while Instant::now() < end {
        match poll_text(ws) {
            Ok(Some(t)) => out.push(t),
            Ok(None) => {}
            Err(_) => break,
        }
    }
    out
}
