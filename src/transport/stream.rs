//! The socket tungstenite works on: a non-blocking mio `TcpStream` that
//! counts the bytes crossing it and remembers whether its last write found
//! the kernel's buffer full. A leaf: it knows the counters and nothing else
//! of the transport.

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;

use super::stats::{add, Stats};

/// A non-blocking TCP stream that counts bytes into the transport's stats.
pub(crate) struct MeteredStream {
    pub inner: TcpStream,
    stats: Arc<Stats>,
    /// The last write found the socket's buffer full: nothing more is
    /// written until the poller reports the socket writable again.
    write_blocked: bool,
}

impl MeteredStream {
    pub fn new(inner: TcpStream, stats: Arc<Stats>) -> Self {
        MeteredStream {
            inner,
            stats,
            write_blocked: false,
        }
    }

    /// Whether the last write found the socket's buffer full.
    pub fn is_write_blocked(&self) -> bool {
        self.write_blocked
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
        add(&self.stats.bytes_received, n as u64);
        Ok(n)
    }
}

impl Write for MeteredStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.write(buf) {
            Ok(n) => {
                self.write_blocked = false;
                add(&self.stats.bytes_sent, n as u64);
                Ok(n)
            }
            Err(e) => {
                if e.kind() == io::ErrorKind::WouldBlock {
                    self.write_blocked = true;
                }
                Err(e)
            }
        }
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
        let stream = MeteredStream::new(TcpStream::from_std(client), Arc::default());
        let sock = socket2::SockRef::from(&stream.inner);
        sock.set_tcp_quickack(true).unwrap();
        assert!(sock.tcp_quickack().unwrap());
        stream.delay_next_ack();
        assert!(!sock.tcp_quickack().unwrap());
    }

    #[test]
    fn bytes_are_counted_and_a_full_buffer_is_remembered() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        client.set_nonblocking(true).unwrap();
        let stats = Arc::new(Stats::default());
        let mut stream = MeteredStream::new(TcpStream::from_std(client), Arc::clone(&stats));
        let chunk = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        // The peer never reads: the buffers fill within a few megabytes.
        for _ in 0..10_000 {
            match stream.write(&chunk) {
                Ok(n) => total += n as u64,
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
                    break;
                }
            }
        }
        assert!(stream.is_write_blocked());
        assert_eq!(stats.snapshot().bytes_sent, total);
    }
}
