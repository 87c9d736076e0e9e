//! Where the poller's events go: the bounded event channel, with a queue of
//! its own for the events that must not be lost. The poller never waits
//! for room in the channel (that would stall every connection): a
//! connection life-cycle event that finds it full waits in `held`, and the
//! poller retries soon; a `Received` or `Rejected` event that finds it full,
//! or finds life-cycle events still held (it must not overtake them), is
//! dropped and counted.

use std::collections::VecDeque;
use std::sync::Arc;

use crossbeam_channel::{Sender, TrySendError};

use super::stats::{bump, Stats};
use super::TransportEvent;

/// Most life-cycle events held at once; past it the oldest are dropped
/// (it takes this many connections changing state while nobody reads).
const MAX_HELD: usize = 65_536;

pub(crate) struct Sink {
    tx: Sender<TransportEvent>,
    held: VecDeque<TransportEvent>,
    stats: Arc<Stats>,
}

impl Sink {
    pub fn new(tx: Sender<TransportEvent>, stats: Arc<Stats>) -> Self {
        Sink {
            tx,
            held: VecDeque::new(),
            stats,
        }
    }

    /// A life-cycle event: sent now, or held until the channel has room.
    pub fn emit(&mut self, ev: TransportEvent) {
        if self.retry() {
            if let Err(TrySendError::Full(ev)) = self.tx.try_send(ev) {
                self.held.push_back(ev);
            }
            return;
        }
        if self.held.len() >= MAX_HELD {
            self.held.pop_front();
            bump(&self.stats.dropped_events);
        }
        self.held.push_back(ev);
    }

    /// An event that may be dropped (counted) when it cannot go at once.
    pub fn emit_lossy(&mut self, ev: TransportEvent) {
        if !self.retry() {
            bump(&self.stats.dropped_events);
            return;
        }
        if let Err(TrySendError::Full(_)) = self.tx.try_send(ev) {
            bump(&self.stats.dropped_events);
        }
    }

    /// Sends what is held as far as the channel takes it; whether nothing
    /// is held any more. A channel nobody reads from takes everything (the
    /// events are lost with the receiver).
    pub fn retry(&mut self) -> bool {
        while let Some(ev) = self.held.pop_front() {
            match self.tx.try_send(ev) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(ev)) => {
                    self.held.push_front(ev);
                    return false;
                }
            }
        }
        true
    }

    /// Whether life-cycle events wait for room.
    pub fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// Drops what is held (the transport stops), counting it.
    pub fn drop_held(&mut self) {
        super::stats::add(&self.stats.dropped_events, self.held.len() as u64);
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(n: u64) -> TransportEvent {
        TransportEvent::Received {
            conn: super::super::ConnectionId(n),
            remote: "127.0.0.1:1".parse().unwrap(),
            text: String::new(),
        }
    }

    #[test]
    fn held_events_keep_their_order_and_lossy_ones_never_overtake_them() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let stats = Arc::new(Stats::default());
        let mut sink = Sink::new(tx, Arc::clone(&stats));
        sink.emit(received(1));
        sink.emit(received(2));
        sink.emit_lossy(received(3));
        assert!(sink.is_holding());
        assert_eq!(stats.snapshot().dropped_events, 1);
        assert_eq!(rx.try_recv().unwrap(), received(1));
        assert!(sink.retry());
        assert_eq!(rx.try_recv().unwrap(), received(2));
        sink.emit_lossy(received(4));
        assert_eq!(rx.try_recv().unwrap(), received(4));
    }
}
