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
