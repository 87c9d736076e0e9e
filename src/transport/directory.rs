//! The connection directory: what the handle and the poller both know of
//! every connection open or opening (its id, direction, remote, the peer it
//! serves, whether it is open, how much is waiting to be written), the
//! per-peer and per-IP indexes, the limits, and the reconnection backoff.
//! It holds no socket: the poller owns those. Both sides reach it through
//! one mutex, held for a table operation only.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::model::PeerAddress;

use super::backoff::{BackoffPolicy, BackoffTable};
use super::{ConnectionId, Direction, RejectReason, TransportConfig};

/// One connection open or opening.
#[derive(Debug)]
pub(crate) struct Entry {
    pub direction: Direction,
    pub remote: Option<SocketAddr>,
    pub peer: Option<PeerAddress>,
    /// The WebSocket handshake is done.
    pub open: bool,
    /// Messages handed to the transport and not yet written into the
    /// WebSocket (in the command channel or the connection's outbox).
    pub queued: usize,
    /// Their bytes.
    pub queued_bytes: usize,
}

/// What becomes of an accepted socket.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Served, as this connection.
    Admitted(ConnectionId),
    /// Table full: end this connection (of a busier IP) to make room.
    Displace(ConnectionId),
    /// Dropped.
    Refused(RejectReason),
}

/// Why a message was not accepted for a connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No such connection.
    Gone,
    /// Its backlog is at the message or byte limit.
    Full,
}

/// The table behind the transport's one lock.
#[derive(Debug)]
pub(crate) struct Directory {
    entries: HashMap<ConnectionId, Entry>,
    by_peer: HashMap<PeerAddress, ConnectionId>,
    per_ip: HashMap<IpAddr, usize>,
    pub backoff: BackoffTable,
    next_id: u64,
    max_connections: usize,
    max_per_ip: usize,
    max_queued: usize,
    max_queued_bytes: usize,
}

impl Directory {
    pub fn new(config: &TransportConfig) -> Self {
        let policy = BackoffPolicy {
            base: config.backoff_base(),
            cap: config.backoff_cap(),
            jitter: config.backoff_jitter,
        };
        Directory {
            entries: HashMap::new(),
            by_peer: HashMap::new(),
            per_ip: HashMap::new(),
            backoff: BackoffTable::new(policy),
            next_id: 1,
            max_connections: config.max_connections,
            max_per_ip: config.max_connections_per_ip,
            max_queued: config.outbound_queue_len,
            max_queued_bytes: config.max_backlog_bytes(),
        }
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_connections
    }

    pub fn get(&self, id: ConnectionId) -> Option<&Entry> {
        self.entries.get(&id)
    }

    pub fn for_peer(&self, peer: &PeerAddress) -> Option<ConnectionId> {
        self.by_peer.get(peer).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ConnectionId, &Entry)> {
        self.entries.iter()
    }

    pub fn ids(&self) -> Vec<ConnectionId> {
        self.entries.keys().copied().collect()
    }

    fn insert(&mut self, entry: Entry) -> ConnectionId {
        let id = ConnectionId(self.next_id);
        self.next_id += 1;
        if let Some(p) = &entry.peer {
            self.by_peer.insert(p.clone(), id);
        }
        if entry.direction == Direction::Inbound {
            if let Some(ip) = entry.remote.map(|r| r.ip()) {
                *self.per_ip.entry(ip).or_insert(0) += 1;
            }
        }
        self.entries.insert(id, entry);
        id
    }

    /// Registers an outbound connection to `peer` (the caller checked the
    /// limit, the scheme and the backoff).
    pub fn add_outbound(&mut self, peer: PeerAddress) -> ConnectionId {
        self.insert(Entry {
            direction: Direction::Outbound,
            remote: None,
            peer: Some(peer),
            open: false,
            queued: 0,
            queued_bytes: 0,
        })
    }

    /// Registers an accepted connection from `remote`, or says why not.
    ///
    /// When the table is full, a remote whose IP holds fewer inbound
    /// connections than the busiest IP (by two or more) may take the place
    /// of one of that IP's: [`Admission::Displace`] names it (the caller
    /// ends it, then asks again). So one address can use the whole budget
    /// while nobody else needs it (several nodes on one host, or behind one
    /// NAT address, form a cluster), but can never lock other addresses out.
    pub fn admit_inbound(&mut self, remote: SocketAddr) -> Admission {
        let from_ip = self.per_ip.get(&remote.ip()).copied().unwrap_or(0);
        if from_ip >= self.max_per_ip {
            return Admission::Refused(RejectReason::PerIpLimit);
        }
        if !self.is_full() {
            return Admission::Admitted(self.insert(Entry {
                direction: Direction::Inbound,
                remote: Some(remote),
                peer: None,
                open: false,
                queued: 0,
                queued_bytes: 0,
            }));
        }
        match self.displaceable(from_ip) {
            Some(victim) => Admission::Displace(victim),
            None => Admission::Refused(RejectReason::ConnectionLimit),
        }
    }

    /// The inbound connection a newcomer from an IP holding `from_ip`
    /// connections may take the place of: one of the busiest IP's, one
    /// still opening first, else its oldest.
    fn displaceable(&self, from_ip: usize) -> Option<ConnectionId> {
        let (busiest, most) = self.per_ip.iter().max_by_key(|(_, n)| **n)?;
        if *most < from_ip + 2 {
            return None;
        }
        self.entries
            .iter()
            .filter(|(_, e)| {
                e.direction == Direction::Inbound && e.remote.map(|r| r.ip()) == Some(*busiest)
            })
            .min_by_key(|(id, e)| (e.open, **id))
            .map(|(id, _)| *id)
    }

    /// Counts one more message of `len` bytes waiting for `id`.
    pub fn enqueue(&mut self, id: ConnectionId, len: usize) -> Result<(), Refusal> {
        let (max, max_bytes) = (self.max_queued, self.max_queued_bytes);
        let e = self.entries.get_mut(&id).ok_or(Refusal::Gone)?;
        // One message always fits into an empty backlog (the byte limit is
        // above the largest message).
        if e.queued >= max || (e.queued > 0 && e.queued_bytes + len > max_bytes) {
            return Err(Refusal::Full);
        }
        e.queued += 1;
        e.queued_bytes += len;
        Ok(())
    }

    /// `n` messages of `bytes` in all left `id`'s backlog (written, or
    /// dropped).
    pub fn dequeued(&mut self, id: ConnectionId, n: usize, bytes: usize) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.queued = e.queued.saturating_sub(n);
            e.queued_bytes = e.queued_bytes.saturating_sub(bytes);
        }
    }

    /// Ties `id` to `peer` (when nothing else serves `peer`).
    pub fn associate(&mut self, id: ConnectionId, peer: PeerAddress) -> bool {
        let Some(e) = self.entries.get_mut(&id) else {
            return false;
        };
        if e.peer.is_none() {
            e.peer = Some(peer.clone());
        }
        self.by_peer.entry(peer).or_insert(id);
        true
    }

    /// The handshake of `id` is done, with `remote`.
    pub fn mark_open(&mut self, id: ConnectionId, remote: SocketAddr) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.remote = Some(remote);
            e.open = true;
        }
    }

    /// Removes a connection that ended; returns its entry.
    pub fn remove(&mut self, id: ConnectionId) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        if let Some(p) = &entry.peer {
            if self.by_peer.get(p) == Some(&id) {
                self.by_peer.remove(p);
            }
        }
        if entry.direction == Direction::Inbound {
            if let Some(ip) = entry.remote.map(|r| r.ip()) {
                if let Some(n) = self.per_ip.get_mut(&ip) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.per_ip.remove(&ip);
                    }
                }
            }
        }
        Some(entry)
    }

    /// Records the outcome of an outbound connect in the backoff table.
    pub fn connect_outcome(&mut self, peer: &PeerAddress, ok: bool) {
        if ok {
            self.backoff.success(peer);
        } else {
            self.backoff.failure(peer, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(per_ip: usize, max: usize) -> Directory {
        Directory::new(&TransportConfig {
            max_connections: max,
            max_connections_per_ip: per_ip,
            outbound_queue_len: 2,
            ..TransportConfig::default()
        })
    }

    fn admitted(a: Admission) -> ConnectionId {
        match a {
            Admission::Admitted(id) => id,
            other => panic!("not admitted: {other:?}"),
        }
    }

    #[test]
    fn inbound_limits_count_per_ip_and_in_total() {
        let mut d = dir(2, 3);
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "127.0.0.2:1000".parse().unwrap();
        let first = admitted(d.admit_inbound(a));
        admitted(d.admit_inbound(a));
        assert_eq!(
            d.admit_inbound(a),
            Admission::Refused(RejectReason::PerIpLimit)
        );
        admitted(d.admit_inbound(b));
        assert_eq!(
            d.admit_inbound(b),
            Admission::Refused(RejectReason::ConnectionLimit)
        );
        d.remove(first).unwrap();
        admitted(d.admit_inbound(a));
    }

    #[test]
    fn a_full_table_makes_room_for_a_new_address_at_the_busiest_ones_cost() {
        let mut d = dir(8, 4);
        let busy: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let other: SocketAddr = "127.0.0.2:1000".parse().unwrap();
        let ids: Vec<_> = (0..4).map(|_| admitted(d.admit_inbound(busy))).collect();
        // The oldest still opening goes first.
        d.mark_open(ids[0], busy);
        assert_eq!(d.admit_inbound(other), Admission::Displace(ids[1]));
        d.remove(ids[1]);
        admitted(d.admit_inbound(other));
        // 3 against 1: one more place for the other address...
        assert_eq!(d.admit_inbound(other), Admission::Displace(ids[2]));
        d.remove(ids[2]);
        admitted(d.admit_inbound(other));
        // ...but at 2 against 2, nobody is displaced.
        assert_eq!(
            d.admit_inbound(other),
            Admission::Refused(RejectReason::ConnectionLimit)
        );
        assert_eq!(
            d.admit_inbound(busy),
            Admission::Refused(RejectReason::ConnectionLimit)
        );
        // Outbound connections are never displaced.
        let mut d = dir(8, 2);
        d.add_outbound(PeerAddress::new("ws://127.0.0.1:1/").unwrap());
        admitted(d.admit_inbound(busy));
        assert_eq!(
            d.admit_inbound(other),
            Admission::Refused(RejectReason::ConnectionLimit)
        );
    }

    #[test]
    fn the_backlog_is_bounded_and_frees_as_it_drains() {
        let mut d = dir(8, 8);
        let id = d.add_outbound(PeerAddress::new("ws://127.0.0.1:1/").unwrap());
        d.enqueue(id, 10).unwrap();
        d.enqueue(id, 10).unwrap();
        assert_eq!(d.enqueue(id, 10), Err(Refusal::Full));
        d.dequeued(id, 1, 10);
        d.enqueue(id, 10).unwrap();
        d.remove(id);
        assert_eq!(d.enqueue(id, 10), Err(Refusal::Gone));
    }
}
