//! Messages sent, counted by type and by channel (`NodeStats::sent`).

use std::collections::BTreeMap;

use parking_lot::Mutex;
use serde::Serialize;

/// Messages and bytes of one type sent over one channel.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SentCount {
    pub messages: u64,
    /// Frame text (WebSocket) or UDP payload bytes (datagrams).
    pub bytes: u64,
}

/// What one message type cost, on each channel.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SentByChannel {
    pub websocket: SentCount,
    pub datagram: SentCount,
}

/// The driver's tally; read by [`NodeStats`](super::NodeStats).
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    by_type: Mutex<BTreeMap<&'static str, SentByChannel>>,
}

impl Traffic {
    pub fn websocket(&self, kind: &'static str, bytes: usize) {
        Self::bump(
            &mut self.by_type.lock().entry(kind).or_default().websocket,
            bytes,
        );
    }

    pub fn datagram(&self, kind: &'static str, bytes: usize) {
        Self::bump(
            &mut self.by_type.lock().entry(kind).or_default().datagram,
            bytes,
        );
    }

    fn bump(c: &mut SentCount, bytes: usize) {
        c.messages += 1;
        c.bytes += bytes as u64;
    }

    pub fn snapshot(&self) -> BTreeMap<String, SentByChannel> {
        self.by_type
            .lock()
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_type_on_its_channel() {
        let t = Traffic::default();
        t.websocket("push_pull", 100);
        t.websocket("push_pull", 50);
        t.datagram("ping", 40);
        let s = t.snapshot();
        assert_eq!(
            s["push_pull"].websocket,
            SentCount {
                messages: 2,
                bytes: 150
            }
        );
        assert_eq!(s["push_pull"].datagram, SentCount::default());
        assert_eq!(
            s["ping"].datagram,
            SentCount {
                messages: 1,
                bytes: 40
            }
        );
    }
}
