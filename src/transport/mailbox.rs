//! How other threads reach the poller: [`Command`]s on an unbounded
//! crossbeam channel, and a mio `Waker` that ends its `poll` wait. The
//! channel needs no bound of its own: every `Send` is counted against its
//! connection's backlog (see `Directory::enqueue`) before it is posted.
//! Wake-ups are coalesced: a burst of commands rings the waker once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender};
use mio::Waker;

use crate::model::PeerAddress;

use super::{ConnectError, ConnectionId};

/// What the poller is asked to do.
#[derive(Debug)]
pub(crate) enum Command {
    /// Open the (already registered) outbound connection `id` to `peer`.
    Dial { id: ConnectionId, peer: PeerAddress },
    /// Write `text` on connection `id` (already counted in its backlog).
    Send { id: ConnectionId, text: String },
    /// Close connection `id`.
    Close { id: ConnectionId },
    /// The resolver's answer for the outbound connection `id`.
    Resolved {
        id: ConnectionId,
        addrs: Result<Vec<SocketAddr>, ConnectError>,
    },
    /// End every connection and the poller.
    Stop,
}

pub(crate) struct Mailbox {
    tx: Sender<Command>,
    waker: Waker,
    /// A wake-up is on its way and the poller has not started reading
    /// the commands yet.
    ringing: AtomicBool,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("queued", &self.tx.len())
            .finish()
    }
}

impl Mailbox {
    pub fn new(waker: Waker) -> (Mailbox, Receiver<Command>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mailbox = Mailbox {
            tx,
            waker,
            ringing: AtomicBool::new(false),
        };
        (mailbox, rx)
    }

    /// Posts a command without waking the poller (call [`Self::wake`]
    /// after, outside any lock). A poller that has ended drops it.
    pub fn post(&self, cmd: Command) {
        let _ = self.tx.send(cmd);
    }

    /// Makes sure the poller looks at its commands soon.
    pub fn wake(&self) {
        if !self.ringing.swap(true, Ordering::SeqCst) {
            if let Err(e) = self.waker.wake() {
                log::warn!("transport: cannot wake the poller: {e}");
            }
        }
    }

    /// Posts and wakes.
    pub fn send(&self, cmd: Command) {
        self.post(cmd);
        self.wake();
    }

    /// Called by the poller before it reads the commands: the next post
    /// rings again.
    pub fn answered(&self) {
        self.ringing.store(false, Ordering::SeqCst);
    }
}
