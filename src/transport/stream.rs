//! The socket tungstenite works on: a non-blocking mio `TcpStream` that
//! counts the bytes crossing it.

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;

use super::shared::Shared;
use super::stats::add;

/// A non-blocking TCP stream that counts bytes into the transport's stats.
pub(crate) struct MeteredStream {
    pub inner: TcpStream,
    shared: Arc<Shared>,
}

impl MeteredStream {
    pub fn new(inner: TcpStream, shared: Arc<Shared>) -> Self {
        MeteredStream { inner, shared }
    }

    /// Asks the kernel to delay the acknowledgement of the next segment
    /// that arrives (Linux `TCP_QUICKACK` off; not sticky, so it is asked
    /// again after every read). The protocol answers most frames at once
    /// (`ping` with `ack`), so the acknowledgement then rides on the
    /// answer instead of travelling as a packet of its own: one packet
    /// fewer per probe on the wire. Elsewhere, and on error, nothing
    /// changes.
    pub fn delay_next_ack(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let _ = socket2::SockRef::from(&self.inner).set_tcp_quickack(false);
        }
    }
}

impl Read for MeteredStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        add(&self.shared.stats.bytes_received, n as u64);
        Ok(n)
    }
}

impl Write for MeteredStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        add(&self.shared.stats.bytes_sent, n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    #[test]
    fn delay_next_ack_turns_quickack_off() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let (events, _rx) = crossbeam_channel::unbounded();
        let (shared, _alive) = Shared::new(crate::transport::TransportConfig::default(), events);
        let stream = MeteredStream::new(TcpStream::from_std(client), shared);
        let sock = socket2::SockRef::from(&stream.inner);
        sock.set_tcp_quickack(true).unwrap();
        assert!(sock.tcp_quickack().unwrap());
        stream.delay_next_ack();
        assert!(!sock.tcp_quickack().unwrap());
    }
}
