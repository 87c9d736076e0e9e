use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::DatagramError;

/// How long the receiver thread sleeps in `recv` at most before looking at
/// its stop flag (a stop also wakes it at once with an empty datagram).
const RECV_TIMEOUT: Duration = Duration::from_millis(250);
/// Receive buffer asked of the kernel: bursts of datagrams (a cold start,
/// many nodes gossiping at once) wait there while the driver is busy.
const RECV_BUFFER_BYTES: usize = 1 << 20;

/// One datagram as received (not yet opened or decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The address it came from.
    pub from: SocketAddr,
    /// Its bytes (at most the size limit plus one: a longer datagram is
    /// cut there, so that its size check still refuses it).
    pub bytes: Vec<u8>,
}

/// Counts of a datagram socket.
#[derive(Debug, Default)]
pub struct DatagramStats {
    /// Datagrams received and passed on.
    pub received: AtomicU64,
    /// Datagrams dropped because the consumer's queue was full.
    pub dropped: AtomicU64,
    /// Datagrams handed to the kernel.
    pub sent: AtomicU64,
    /// Datagrams the kernel refused (send buffer full, unreachable).
    pub send_failed: AtomicU64,
}

/// A bound UDP socket and its receiver thread. The thread passes every
/// datagram to a bounded channel (dropping and counting when it is full);
/// sending is done by the caller, on the socket, without blocking.
#[derive(Debug)]
pub struct DatagramSocket {
    socket: Arc<Socket>,
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<(JoinHandle<()>, Receiver<()>)>,
    stats: Arc<DatagramStats>,
}

impl DatagramSocket {
    /// Binds `addr` and starts the receiver thread, which hands datagrams
    /// of up to `max_bytes` (longer ones are cut to `max_bytes + 1`) to the
    /// returned channel of `queue` entries.
    pub fn bind(
        addr: SocketAddr,
        max_bytes: usize,
        queue: usize,
        name: &str,
    ) -> Result<(Self, Receiver<Received>), DatagramError> {
        let bind_err = |e: std::io::Error| DatagramError::Bind {
            addr,
            reason: e.to_string(),
        };
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
            .map_err(bind_err)?;
        if addr.is_ipv6() {
            let _ = socket.set_only_v6(false);
        }
        let _ = socket.set_recv_buffer_size(RECV_BUFFER_BYTES);
        socket
            .set_read_timeout(Some(RECV_TIMEOUT))
            .map_err(bind_err)?;
        socket.bind(&SockAddr::from(addr)).map_err(bind_err)?;
        let local = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .unwrap_or(addr);
        let socket = Arc::new(socket);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(DatagramStats::default());
        let (tx, rx) = bounded(queue.max(1));
        let (done_tx, done_rx) = bounded(1);
        let recv_socket: UdpSocket = socket.try_clone().map_err(bind_err)?.into();
        let worker = ReceiveLoop {
            socket: recv_socket,
            stop: Arc::clone(&stop),
            stats: Arc::clone(&stats),
            tx,
            max_bytes,
        };
        let thread = std::thread::Builder::new()
            .name(format!("peerdisc-udp-{name}"))
            .spawn(move || {
                worker.run();
                let _ = done_tx.send(());
            })
            .map_err(|e| DatagramError::Thread(e.to_string()))?;
        Ok((
            DatagramSocket {
                socket,
                local,
                stop,
                thread: Some((thread, done_rx)),
                stats,
            },
            rx,
        ))
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The socket's counts.
    pub fn stats(&self) -> &DatagramStats {
        &self.stats
    }

    /// Sends one datagram without blocking: a full send buffer loses it
    /// (counted), as the network may.
    pub fn send_to(&self, bytes: &[u8], to: SocketAddr) -> Result<(), DatagramError> {
        match self
            .socket
            .send_to_with_flags(bytes, &SockAddr::from(to), libc::MSG_DONTWAIT)
        {
            Ok(_) => {
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.stats.send_failed.fetch_add(1, Ordering::Relaxed);
                Err(DatagramError::Send(e.to_string()))
            }
        }
    }

    /// Stops the receiver thread and waits for it, at most `timeout`
    /// (it looks at its stop flag at least every 250 ms). Idempotent.
    pub fn stop(&mut self, timeout: Duration) {
        let Some((thread, done)) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        // Wake it at once: an empty datagram to itself.
        let _ = self.socket.send_to_with_flags(
            &[],
            &SockAddr::from(wake_address(self.local)),
            libc::MSG_DONTWAIT,
        );
        if done.recv_timeout(timeout).is_ok() {
            let _ = thread.join();
        } else {
            log::warn!("peerdisc: the datagram receiver thread did not stop in {timeout:?}");
        }
    }
}

impl Drop for DatagramSocket {
    fn drop(&mut self) {
        self.stop(RECV_TIMEOUT * 2);
    }
}

/// Where a socket bound to `local` can be reached from this host.
fn wake_address(local: SocketAddr) -> SocketAddr {
    let mut a = local;
    if a.ip().is_unspecified() {
        a.set_ip(match a {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a
}

struct ReceiveLoop {
    socket: UdpSocket,
    stop: Arc<AtomicBool>,
    stats: Arc<DatagramStats>,
    tx: Sender<Received>,
    max_bytes: usize,
}

impl ReceiveLoop {
    fn run(self) {
        let mut buf = vec![0u8; self.max_bytes + 1];
        while !self.stop.load(Ordering::SeqCst) {
            let (n, from) = match self.socket.recv_from(&mut buf) {
                Ok(r) => r,
                // Timeouts, and ICMP errors of earlier sends (ECONNREFUSED).
                Err(_) => continue,
            };
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            if n == 0 {
                continue;
            }
            let bytes = buf[..n].to_vec();
            match self.tx.try_send(Received { from, bytes }) {
                Ok(()) => {
                    self.stats.received.fetch_add(1, Ordering::Relaxed);
                }
                Err(crossbeam_channel::TrySendError::Full(_)) => {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_reach_the_channel_and_stop_is_bounded() {
        let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (mut a, _rx_a) = DatagramSocket::bind(lo, 64, 8, "a").unwrap();
        let (mut b, rx_b) = DatagramSocket::bind(lo, 64, 8, "b").unwrap();
        a.send_to(b"hello", b.local_addr()).unwrap();
        a.send_to(&[7u8; 100], b.local_addr()).unwrap();
        let r = rx_b.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(r.bytes, b"hello");
        assert_eq!(r.from, a.local_addr());
        // Too long: cut at the limit plus one, so its size check refuses it.
        let r = rx_b.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(r.bytes.len(), 65);
        b.stop(Duration::from_secs(2));
        a.stop(Duration::from_secs(2));
        assert!(b.thread.is_none() && a.thread.is_none());
        // Stopping again does nothing.
        b.stop(Duration::from_secs(2));
    }

    #[test]
    fn a_taken_port_is_a_bind_error() {
        let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (a, _rx) = DatagramSocket::bind(lo, 64, 8, "a").unwrap();
        let e = DatagramSocket::bind(a.local_addr(), 64, 8, "b").unwrap_err();
        assert!(matches!(e, DatagramError::Bind { .. }), "{e}");
    }
}
