//! The listener thread: accepts TCP connections, applies the connection
//! limits, and hands each admitted socket to a connection thread of its own
//! (which does the WebSocket handshake).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Poll};

use super::connection::Origin;
use super::link::FLUSH_BASE;
use super::shared::Shared;
use super::stats::bump;
use super::{ConnectionId, RejectReason, TransportError, TransportEvent};

/// Binds the listen address; an address in use is [`TransportError::Bind`].
pub(crate) fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), TransportError> {
    let bind_err = |source| TransportError::Bind { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    Ok((TcpListener::from_std(listener), local))
}

/// The thread body: sleeps in `poll` until a connection arrives, a
/// write-blocked connection's socket becomes writable, or `stop` rings the
/// waker.
pub(crate) fn run(shared: Arc<Shared>, listener: TcpListener, mut poll: Poll) {
    let mut events = Events::with_capacity(8);
    // After an accept error (out of file descriptors, ...) look again soon:
    // the readiness edge may not come back by itself.
    let mut retry: Option<Duration> = None;
    loop {
        if let Err(e) = poll.poll(&mut events, retry) {
            if e.kind() != io::ErrorKind::Interrupted {
                log::warn!("listener: poll failed: {e}");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        if shared.is_stopping() {
            return;
        }
        for ev in events.iter() {
            if ev.token().0 >= FLUSH_BASE {
                flush(&shared, ev.token().0 - FLUSH_BASE);
            }
        }
        retry = None;
        loop {
            match listener.accept() {
                Ok((stream, remote)) => admit(&shared, stream, remote),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("listener: accept failed: {e}");
                    retry = Some(Duration::from_millis(20));
                    break;
                }
            }
            if shared.is_stopping() {
                return;
            }
        }
    }
}

/// A write-blocked connection's socket became writable: write out what
/// its senders left buffered (its own thread may be asleep).
fn flush(shared: &Shared, conn: usize) {
    let ctl = {
        let st = shared.state.lock();
        st.conns
            .get(&ConnectionId(conn as u64))
            .map(|e| Arc::clone(&e.ctl))
    };
    if let Some(ctl) = ctl {
        ctl.flush_buffered(shared);
    }
}

/// Starts a connection thread for `stream`, or drops it when a limit is
/// reached.
fn admit(shared: &Arc<Shared>, stream: TcpStream, remote: SocketAddr) {
    let refused = {
        let mut st = shared.state.lock();
        let from_ip = st.per_ip.get(&remote.ip()).copied().unwrap_or(0);
        if st.conns.len() >= shared.config.max_connections {
            Some(RejectReason::ConnectionLimit)
        } else if from_ip >= shared.config.max_connections_per_ip {
            Some(RejectReason::PerIpLimit)
        } else {
            match shared.open_connection(&mut st, Origin::Inbound(stream, remote)) {
                Ok(_) => None,
                Err(e) => {
                    log::warn!("listener: cannot serve {remote}: {e}");
                    return;
                }
            }
        }
    };
    // A refused stream is closed when this function returns.
    if let Some(reason) = refused {
        log::debug!("listener: refused {remote}: {reason}");
        bump(&shared.stats.rejected);
        shared.emit_lossy(TransportEvent::Rejected {
            conn: None,
            remote,
            reason,
        });
    }
}
