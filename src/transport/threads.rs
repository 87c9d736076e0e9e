//! The transport's threads: started under one lock (so none starts after
//! `stop`), counted in the stats, and joined by `stop` within its bound.
//! Each thread holds a clone of the `alive` sender; when the last one ends,
//! the receiver `stop` waits on reports it at once.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use super::stats::{bump, drop_one, Stats};
use super::TransportError;

#[derive(Debug)]
struct Inner {
    handles: Vec<JoinHandle<()>>,
    /// `None` once stopping.
    alive: Option<Sender<()>>,
}

#[derive(Debug)]
pub(crate) struct Threads {
    inner: Mutex<Inner>,
    alive_rx: Receiver<()>,
    stats: Arc<Stats>,
}

impl Threads {
    pub fn new(stats: Arc<Stats>) -> Self {
        let (alive, alive_rx) = crossbeam_channel::bounded(0);
        Threads {
            inner: Mutex::new(Inner {
                handles: Vec::new(),
                alive: Some(alive),
            }),
            alive_rx,
            stats,
        }
    }

    /// Starts a thread, unless the transport is stopping.
    pub fn spawn(
        &self,
        name: &str,
        body: impl FnOnce() + Send + 'static,
    ) -> Result<(), TransportError> {
        let mut inner = self.inner.lock();
        let alive = inner.alive.clone().ok_or(TransportError::Stopped)?;
        // Reap threads that have ended, so the list stays short.
        let (done, running): (Vec<_>, Vec<_>) =
            inner.handles.drain(..).partition(|h| h.is_finished());
        inner.handles = running;
        for h in done {
            let _ = h.join();
        }
        let stats = Arc::clone(&self.stats);
        bump(&self.stats.threads);
        let spawned = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let _alive = alive;
                body();
                drop_one(&stats.threads);
            });
        match spawned {
            Ok(h) => {
                inner.handles.push(h);
                Ok(())
            }
            Err(e) => {
                drop_one(&self.stats.threads);
                Err(TransportError::Io(e))
            }
        }
    }

    /// Refuses new threads; `false` if that was already done.
    pub fn close(&self) -> bool {
        self.inner.lock().alive.take().is_some()
    }

    /// Waits until `deadline` for every thread to end and joins those that
    /// did; the others are detached and counted in the error.
    pub fn join(&self, deadline: Instant) -> Result<(), TransportError> {
        let all_ended = matches!(
            self.alive_rx.recv_deadline(deadline),
            Err(RecvTimeoutError::Disconnected)
        );
        let handles = std::mem::take(&mut self.inner.lock().handles);
        let mut left = 0;
        for h in handles {
            // Once every thread body has returned, `join` only waits for
            // the OS to tear the threads down.
            if all_ended || h.is_finished() {
                let _ = h.join();
            } else {
                left += 1;
            }
        }
        if left > 0 {
            log::warn!("transport stop: {left} thread(s) still running, detached");
            Err(TransportError::StopTimeout { threads: left })
        } else {
            Ok(())
        }
    }
}
