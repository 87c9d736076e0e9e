//! The socket tungstenite works on: a non-blocking mio `TcpStream` that
//! counts the bytes crossing it, and the one-socket wait of a connection
//! thread.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use super::shared::Shared;
use super::stats::add;

/// A non-blocking TCP stream that counts bytes into the transport's stats.
/// The socket is shared (`Arc`) with the connection's control block, so
/// that the handle can shut it down to wake the connection thread.
pub(crate) struct MeteredStream {
    pub inner: Arc<TcpStream>,
    shared: Arc<Shared>,
    /// The last write found the socket's buffer full: wait until it is
    /// writable again.
    write_blocked: Arc<AtomicBool>,
}

impl MeteredStream {
    pub fn new(inner: Arc<TcpStream>, shared: Arc<Shared>) -> Self {
        MeteredStream {
            inner,
            shared,
            write_blocked: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The flag set while a write is waiting for room in the socket.
    pub fn write_blocked(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.write_blocked)
    }

    /// Whether the last write found the socket's buffer full.
    pub fn is_write_blocked(&self) -> bool {
        self.write_blocked.load(Ordering::Acquire)
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
            let _ = socket2::SockRef::from(&*self.inner).set_tcp_quickack(false);
        }
    }
}

impl Read for MeteredStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (&*self.inner).read(buf)?;
        add(&self.shared.stats.bytes_received, n as u64);
        Ok(n)
    }
}

impl Write for MeteredStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match (&*self.inner).write(buf) {
            Ok(n) => {
                self.write_blocked.store(false, Ordering::Release);
                add(&self.shared.stats.bytes_sent, n as u64);
                Ok(n)
            }
            Err(e) => {
                if e.kind() == io::ErrorKind::WouldBlock {
                    self.write_blocked.store(true, Ordering::Release);
                }
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.inner).flush()
    }
}

/// Sleeps until `socket` is readable (or writable, with `write`), has an
/// error or a hang-up, or `deadline` passes. Level-triggered `poll(2)` on
/// the one socket: a connection costs one file descriptor, no poller and
/// no waker of its own (a full mesh of 100 nodes in one process then fits
/// in 10,000 descriptors). The handle wakes the thread by shutting the
/// socket down (see `ConnControl::interrupt`).
pub(crate) fn wait_socket(socket: &TcpStream, write: bool, deadline: Option<Instant>) {
    let timeout_ms: libc::c_int = match deadline {
        None => -1,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            // Rounded up, so that a wake-up is never before the deadline.
            let ms = (left + Duration::from_nanos(999_999)).as_millis();
            ms.min(libc::c_int::MAX as u128) as libc::c_int
        }
    };
    let mut events = libc::POLLIN;
    if write {
        events |= libc::POLLOUT;
    }
    let mut fds = [libc::pollfd {
        fd: socket.as_raw_fd(),
        events,
        revents: 0,
    }];
    // SAFETY: `fds` is a valid array of one `pollfd` that outlives the
    // call, and its length is passed with it; the descriptor belongs to
    // `socket`, which the caller borrows for the duration of the call.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), 1, timeout_ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            log::warn!("poll on a connection socket failed: {e}");
            // Do not spin on a broken descriptor.
            std::thread::sleep(Duration::from_millis(5));
        }
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
        let poll = mio::Poll::new().unwrap();
        let registry = poll.registry().try_clone().unwrap();
        let (shared, _alive) = Shared::new(
            crate::transport::TransportConfig::default(),
            events,
            registry,
        );
        let stream = MeteredStream::new(Arc::new(TcpStream::from_std(client)), shared);
        let sock = socket2::SockRef::from(&*stream.inner);
        sock.set_tcp_quickack(true).unwrap();
        assert!(sock.tcp_quickack().unwrap());
        stream.delay_next_ack();
        assert!(!sock.tcp_quickack().unwrap());
    }
}
