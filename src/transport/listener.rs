//! The listening socket: binding it, and taking every connection waiting
//! on it (the poller decides which to admit).

use std::io;
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};

use super::TransportError;

/// Binds the listen address; an address in use is [`TransportError::Bind`].
pub(crate) fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), TransportError> {
    let bind_err = |source| TransportError::Bind { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    Ok((TcpListener::from_std(listener), local))
}

/// What a round of accepting came to.
pub(crate) enum Accepted {
    /// One connection.
    Stream(TcpStream, SocketAddr),
    /// Nothing more waits.
    Drained,
    /// Accept failed (out of file descriptors, ...): look again soon, the
    /// readiness edge may not come back by itself.
    Failed,
}

/// Takes the next waiting connection.
pub(crate) fn accept(listener: &TcpListener) -> Accepted {
    loop {
        match listener.accept() {
            Ok((stream, remote)) => return Accepted::Stream(stream, remote),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Accepted::Drained,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::warn!("listener: accept failed: {e}");
                return Accepted::Failed;
            }
        }
    }
}
