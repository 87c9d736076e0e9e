//! Host-name look-ups, off the poller thread: `getaddrinfo` blocks, so
//! names are resolved by a helper thread that starts when a name is asked
//! for and ends as soon as nothing is left to resolve (a node dialling IP
//! addresses only never starts it). Answers go back to the poller as
//! [`Command::Resolved`].

use std::collections::VecDeque;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use parking_lot::Mutex;

use super::mailbox::{Command, Mailbox};
use super::threads::Threads;
use super::{ConnectError, ConnectionId};

struct Work {
    queue: VecDeque<(ConnectionId, String, u16)>,
    /// A resolver thread is running (it checks the queue before ending,
    /// under the same lock, so no request is ever left behind).
    running: bool,
}

pub(crate) struct Resolver {
    work: Arc<Mutex<Work>>,
    mailbox: Arc<Mailbox>,
    threads: Arc<Threads>,
}

impl Resolver {
    pub fn new(mailbox: Arc<Mailbox>, threads: Arc<Threads>) -> Self {
        Resolver {
            work: Arc::new(Mutex::new(Work {
                queue: VecDeque::new(),
                running: false,
            })),
            mailbox,
            threads,
        }
    }

    /// Asks for `host:port` on behalf of connection `id`; the answer comes
    /// back as a command. Fails only when no thread can be started.
    pub fn resolve(&self, id: ConnectionId, host: String, port: u16) -> Result<(), ConnectError> {
        let mut work = self.work.lock();
        work.queue.push_back((id, host, port));
        if work.running {
            return Ok(());
        }
        let shared = Arc::clone(&self.work);
        let mailbox = Arc::clone(&self.mailbox);
        match self
            .threads
            .spawn("peerdisc-resolve", move || run(&shared, &mailbox))
        {
            Ok(()) => {
                work.running = true;
                Ok(())
            }
            Err(e) => {
                work.queue.pop_back();
                Err(ConnectError::Resolve(e.to_string()))
            }
        }
    }
}

fn run(work: &Mutex<Work>, mailbox: &Mailbox) {
    loop {
        let (id, host, port) = {
            let mut w = work.lock();
            match w.queue.pop_front() {
                Some(next) => next,
                None => {
                    w.running = false;
                    return;
                }
            }
        };
        mailbox.send(Command::Resolved {
            id,
            addrs: lookup(&host, port),
        });
    }
}

/// Resolves `host:port` (blocking).
pub(crate) fn lookup(host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| ConnectError::Resolve(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(ConnectError::Resolve(format!("{host}: no address")));
    }
    Ok(addrs)
}
