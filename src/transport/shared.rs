//! What the handle and the poller thread share: the configuration, the
//! counters, the connection directory (behind its one lock), the mailbox
//! to the poller, the stop flag, and the thread bookkeeping. It holds no
//! socket and runs nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::directory::Directory;
use super::mailbox::Mailbox;
use super::stats::Stats;
use super::threads::Threads;
use super::TransportConfig;

#[derive(Debug)]
pub(crate) struct Shared {
    pub config: TransportConfig,
    pub stats: Arc<Stats>,
    pub directory: Mutex<Directory>,
    pub mailbox: Arc<Mailbox>,
    pub threads: Arc<Threads>,
    stopping: AtomicBool,
}

impl Shared {
    pub fn new(config: TransportConfig, mailbox: Mailbox, stats: Arc<Stats>) -> Self {
        Shared {
            directory: Mutex::new(Directory::new(&config)),
            threads: Arc::new(Threads::new(Arc::clone(&stats))),
            config,
            stats,
            mailbox: Arc::new(mailbox),
            stopping: AtomicBool::new(false),
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }
}
