//! One connection as seen by the threads that write to it: its socket, the
//! queue of frames sent before the handshake finished, the open WebSocket
//! that senders then write to directly, the watch that flushes a blocked
//! write, and the clean close.

use std::collections::VecDeque;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::Interest;
use mio::Token;
use parking_lot::Mutex;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::{Message, WebSocket};

use super::shared::Shared;
use super::stats::bump;
use super::stream::MeteredStream;
use super::ConnectionId;

/// Poll tokens of write-blocked connections watched by the listener are
/// the connection id plus this.
pub(crate) const FLUSH_BASE: usize = 2;

/// An open WebSocket, shared by its connection thread (which reads) and
/// the senders (which write to it directly).
pub(crate) type Ws = WebSocket<MeteredStream>;

/// How senders and the handle reach one connection.
#[derive(Debug, Default)]
pub(crate) struct ConnControl {
    /// `close` was asked: the thread sends a close frame and ends.
    pub close: AtomicBool,
    pub link: Mutex<Link>,
}

/// The connection's socket and where a message goes.
#[derive(Default)]
pub(crate) struct Link {
    /// The socket, once it exists (to wake the thread by shutting it
    /// down).
    pub socket: Option<Arc<TcpStream>>,
    /// Messages sent before the handshake finished, written in order when
    /// it does.
    pub queue: VecDeque<String>,
    /// The open WebSocket: senders write to it themselves.
    pub ws: Option<Arc<Mutex<Ws>>>,
    /// The socket is registered with the listener's poller, which flushes
    /// it when it becomes writable again.
    pub watched: bool,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("socket", &self.socket.is_some())
            .field("queued", &self.queue.len())
            .field("open", &self.ws.is_some())
            .finish()
    }
}

/// A message was not handed to a connection: its queue or tungstenite's
/// write buffer is full (the message is dropped and counted).
pub(crate) struct QueueFull;

impl ConnControl {
    /// Ends the connection from the handle's side (after `close` or
    /// `stop` was flagged) and wakes its thread from its wait on the
    /// socket. An open connection first gets its close frame and the end
    /// of the stream, written here, so the remote sees a clean close
    /// whatever the thread is doing; then the socket is shut for reading,
    /// which wakes the thread, which finds the flag and ends. A connection
    /// still opening is shut both ways (a connect in progress fails at
    /// once).
    pub fn interrupt(&self, code: CloseCode, reason: &'static str) {
        let link = self.link.lock();
        let Some(s) = &link.socket else { return };
        match &link.ws {
            Some(ws) => {
                close_quietly(&mut ws.lock(), code, reason);
                let _ = s.shutdown(Shutdown::Read);
            }
            None => {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    /// Hands `text` to connection `id`: written at once when it is open,
    /// else queued (at most `outbound_queue_len`) until it opens. A write
    /// the socket cannot take at once stays in tungstenite's buffer, and
    /// the listener's poller is asked to flush it when the socket is
    /// writable again (the connection thread may be asleep).
    pub fn deliver(
        &self,
        shared: &Shared,
        id: ConnectionId,
        text: String,
    ) -> Result<(), QueueFull> {
        let ws = {
            let mut link = self.link.lock();
            match &link.ws {
                Some(ws) => Arc::clone(ws),
                None => {
                    if link.queue.len() >= shared.config.outbound_queue_len {
                        bump(&shared.stats.dropped_outbound);
                        return Err(QueueFull);
                    }
                    link.queue.push_back(text);
                    return Ok(());
                }
            }
        };
        let blocked = {
            let mut ws = ws.lock();
            let written = write_text(shared, &mut ws, text);
            flush_quietly(&mut ws);
            written?;
            ws.get_ref().is_write_blocked()
        };
        if blocked {
            self.watch(shared, id);
        }
        Ok(())
    }

    /// Registers the socket with the listener's poller for writability.
    fn watch(&self, shared: &Shared, id: ConnectionId) {
        let mut link = self.link.lock();
        if link.watched {
            return;
        }
        let Some(socket) = &link.socket else { return };
        let fd = socket.as_raw_fd();
        let token = Token(id.0 as usize + FLUSH_BASE);
        if shared
            .flusher
            .register(&mut SourceFd(&fd), token, Interest::WRITABLE)
            .is_ok()
        {
            link.watched = true;
        }
    }

    /// Called by the listener when the socket became writable: writes out
    /// what is buffered; stops watching once nothing is left.
    pub fn flush_buffered(&self, shared: &Shared) {
        let ws = self.link.lock().ws.clone();
        let done = match ws {
            Some(ws) => {
                let mut ws = ws.lock();
                flush_quietly(&mut ws);
                !ws.get_ref().is_write_blocked()
            }
            None => true,
        };
        if done {
            self.unwatch(shared);
        }
    }

    fn unwatch(&self, shared: &Shared) {
        let mut link = self.link.lock();
        if !link.watched {
            return;
        }
        link.watched = false;
        if let Some(socket) = &link.socket {
            let fd = socket.as_raw_fd();
            let _ = shared.flusher.deregister(&mut SourceFd(&fd));
        }
    }

    /// The connection opened: writes what was queued, then lets senders
    /// write to `ws` directly (in that order, so nothing is reordered).
    pub fn open(&self, shared: &Shared, ws: Ws) -> Arc<Mutex<Ws>> {
        let ws = Arc::new(Mutex::new(ws));
        let mut link = self.link.lock();
        {
            let mut w = ws.lock();
            while let Some(text) = link.queue.pop_front() {
                let _ = write_text(shared, &mut w, text);
            }
            flush_quietly(&mut w);
        }
        link.ws = Some(Arc::clone(&ws));
        ws
    }

    /// The connection ended: later sends find nothing; returns how many
    /// queued messages were never written.
    pub fn end(&self, shared: &Shared) -> usize {
        self.unwatch(shared);
        let mut link = self.link.lock();
        link.ws = None;
        let unsent = link.queue.len();
        link.queue.clear();
        unsent
    }
}

/// Writes one text frame into `ws` (to the socket as far as it takes it;
/// tungstenite buffers the rest). A write error other than a full buffer
/// means the connection is ending: its thread sees the same error.
pub(crate) fn write_text(shared: &Shared, ws: &mut Ws, text: String) -> Result<(), QueueFull> {
    match ws.write(Message::Text(text.into())) {
        Ok(()) => bump(&shared.stats.messages_sent),
        Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
            bump(&shared.stats.messages_sent)
        }
        Err(tungstenite::Error::WriteBufferFull(_)) => {
            bump(&shared.stats.dropped_outbound);
            return Err(QueueFull);
        }
        Err(e) => log::debug!("write failed: {e}"),
    }
    Ok(())
}

/// Flushes what the socket takes now; never waits (the rest goes when
/// the socket is writable again: from the connection thread, or from the
/// listener's poller when the socket is watched).
pub(crate) fn flush_quietly(ws: &mut Ws) {
    let _ = ws.flush();
}

/// Sends a close frame if the socket takes it now, then the end of the
/// stream (FIN); never waits. Harmless when already done.
pub(crate) fn close_quietly(ws: &mut Ws, code: CloseCode, reason: &'static str) {
    let _ = ws.close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    flush_quietly(ws);
    let _ = ws.get_ref().inner.shutdown(std::net::Shutdown::Write);
}
