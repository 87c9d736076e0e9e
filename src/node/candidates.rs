//! Services found by mDNS on their way to becoming peers: each is sent a
//! `hello`; the `peer_list` answer on that connection confirms it, a
//! refused or closed connection or silence past the timeout fails it (and
//! it is tried again with backoff while its service is announced).

use std::collections::HashMap;
use std::net::IpAddr;

use super::event::NodeEvent;
use crate::mdns::MdnsCandidate;
use crate::model::{NodeId, PeerAddress};

/// First retry of a failed candidate; doubles per failure.
const RETRY_BASE_MS: u64 = 1_000;
/// Retry ceiling.
const RETRY_CAP_MS: u64 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Dialing { deadline_ms: u64 },
    Confirmed,
    Failed { retry_ms: u64 },
}

#[derive(Debug)]
struct Cand {
    address: PeerAddress,
    state: State,
    failures: u32,
}

#[derive(Debug)]
pub(crate) struct Candidates {
    hello_timeout_ms: u64,
    by_node: HashMap<NodeId, Cand>,
}

/// How much an address is preferred for dialling (lower first); `None`:
/// not dialled (IPv6 link-local needs a scope a URL cannot carry).
fn rank(ip: &IpAddr) -> Option<u8> {
    if ip.is_unspecified() || ip.is_multicast() {
        return None;
    }
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Some(3),
        IpAddr::V4(v4) if v4.is_link_local() => Some(2),
        IpAddr::V4(_) => Some(0),
        IpAddr::V6(v6) if v6.is_loopback() => Some(4),
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => None,
        IpAddr::V6(_) => Some(1),
    }
}

/// The WebSocket address to dial for a candidate, if it has a usable IP.
pub(crate) fn pick_address(c: &MdnsCandidate) -> Option<PeerAddress> {
    let ip = c
        .addresses
        .iter()
        .filter_map(|ip| rank(ip).map(|r| (r, ip)))
        .min_by_key(|(r, ip)| (*r, **ip))?
        .1;
    let host = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    PeerAddress::new(format!("ws://{host}:{}{}", c.port, c.path)).ok()
}

impl Candidates {
    pub fn new(hello_timeout_ms: u64) -> Self {
        Candidates {
            hello_timeout_ms,
            by_node: HashMap::new(),
        }
    }

    /// A new or changed candidate. `known`: it is a present member already
    /// (no `hello` needed). Returns the event to report and the address to
    /// send a `hello` to, if any.
    pub fn offer(
        &mut self,
        c: &MdnsCandidate,
        known: bool,
        now: u64,
    ) -> (Option<NodeEvent>, Option<PeerAddress>) {
        let Some(address) = pick_address(c) else {
            return (None, None);
        };
        let ev = NodeEvent::MdnsCandidate {
            node_id: c.node_id.clone(),
            address: address.clone(),
            txt: c.txt.clone(),
        };
        let prev = self.by_node.get(&c.node_id);
        let dialing_same =
            prev.is_some_and(|p| p.address == address && matches!(p.state, State::Dialing { .. }));
        if known {
            self.by_node.insert(
                c.node_id.clone(),
                Cand {
                    address,
                    state: State::Confirmed,
                    failures: 0,
                },
            );
            return (Some(ev), None);
        }
        if dialing_same {
            return (Some(ev), None);
        }
        let failures = prev.map_or(0, |p| p.failures);
        self.by_node.insert(
            c.node_id.clone(),
            Cand {
                address: address.clone(),
                state: State::Dialing {
                    deadline_ms: now + self.hello_timeout_ms,
                },
                failures,
            },
        );
        (Some(ev), Some(address))
    }

    /// A `peer_list` came from `from` on a connection dialled to `dialed`.
    pub fn answered(&mut self, dialed: Option<&PeerAddress>, from: &NodeId) -> Option<NodeEvent> {
        let (claimed, c) = self.by_node.iter_mut().find(|(id, c)| {
            matches!(c.state, State::Dialing { .. }) && (Some(&c.address) == dialed || *id == from)
        })?;
        if claimed != from {
            log::warn!(
                "peerdisc: the mDNS service at {} claimed to be {claimed} but is {from}",
                c.address
            );
        }
        c.state = State::Confirmed;
        c.failures = 0;
        Some(NodeEvent::MdnsPeerConfirmed {
            node_id: from.clone(),
            address: c.address.clone(),
        })
    }

    /// The `hello` to `address` failed.
    pub fn failed(&mut self, address: &PeerAddress, reason: &str, now: u64) -> Option<NodeEvent> {
        let (id, c) = self
            .by_node
            .iter_mut()
            .find(|(_, c)| c.address == *address && matches!(c.state, State::Dialing { .. }))?;
        Some(Self::fail(id, c, reason.to_string(), now))
    }

    fn fail(id: &NodeId, c: &mut Cand, reason: String, now: u64) -> NodeEvent {
        c.failures = c.failures.saturating_add(1);
        let backoff = RETRY_BASE_MS
            .saturating_mul(1 << (c.failures - 1).min(16))
            .min(RETRY_CAP_MS);
        c.state = State::Failed {
            retry_ms: now + backoff,
        };
        log::info!(
            "peerdisc: mDNS candidate {id} at {} failed the hello: {reason}",
            c.address
        );
        NodeEvent::MdnsCandidateFailed {
            node_id: id.clone(),
            address: c.address.clone(),
            reason,
        }
    }

    /// Times out silent candidates and retries failed ones that are due
    /// and still unknown. Returns events and addresses to send a `hello`.
    pub fn tick(
        &mut self,
        now: u64,
        known: impl Fn(&NodeId) -> bool,
    ) -> (Vec<NodeEvent>, Vec<PeerAddress>) {
        let mut events = Vec::new();
        let mut dial = Vec::new();
        let timeout = self.hello_timeout_ms;
        for (id, c) in &mut self.by_node {
            match c.state {
                State::Dialing { deadline_ms } if now >= deadline_ms => {
                    let reason = format!("no answer to the hello within {timeout} ms");
                    events.push(Self::fail(id, c, reason, now));
                }
                State::Failed { retry_ms } if now >= retry_ms => {
                    if known(id) {
                        c.state = State::Confirmed;
                    } else {
                        c.state = State::Dialing {
                            deadline_ms: now + timeout,
                        };
                        dial.push(c.address.clone());
                    }
                }
                _ => {}
            }
        }
        (events, dial)
    }

    /// The service of `id` went away: stop trying it.
    pub fn gone(&mut self, id: &NodeId) {
        self.by_node.remove(id);
    }

    /// When [`tick`](Self::tick) has something to do next.
    pub fn next_deadline(&self) -> Option<u64> {
        self.by_node
            .values()
            .filter_map(|c| match c.state {
                State::Dialing { deadline_ms } => Some(deadline_ms),
                State::Failed { retry_ms } => Some(retry_ms),
                State::Confirmed => None,
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cand(id: &str, addrs: &[&str]) -> MdnsCandidate {
        MdnsCandidate {
            instance: format!("{id}._peerdisc._tcp.local."),
            node_id: NodeId::new(id).unwrap(),
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            port: 7400,
            path: "/peerdisc".into(),
            txt: BTreeMap::new(),
        }
    }

    #[test]
    fn address_choice() {
        let pick = |a: &[&str]| pick_address(&cand("a", a)).map(|p| p.to_string());
        assert_eq!(pick(&["fe80::1"]), None);
        assert_eq!(
            pick(&["fe80::1", "127.0.0.1", "10.0.0.2"]).as_deref(),
            Some("ws://10.0.0.2:7400/peerdisc")
        );
        assert_eq!(
            pick(&["fe80::1", "2001:db8::2"]).as_deref(),
            Some("ws://[2001:db8::2]:7400/peerdisc")
        );
        assert_eq!(
            pick(&["127.0.0.1"]).as_deref(),
            Some("ws://127.0.0.1:7400/peerdisc")
        );
    }

    #[test]
    fn dial_confirm_and_no_second_dial() {
        let mut c = Candidates::new(3_000);
        let a = cand("a", &["10.0.0.2"]);
        let (ev, dial) = c.offer(&a, false, 0);
        assert!(matches!(ev, Some(NodeEvent::MdnsCandidate { .. })));
        let addr = dial.unwrap();
        assert_eq!(c.offer(&a, false, 10).1, None, "already dialling");
        let id = NodeId::new("a").unwrap();
        assert!(matches!(
            c.answered(Some(&addr), &id),
            Some(NodeEvent::MdnsPeerConfirmed { .. })
        ));
        assert_eq!(c.next_deadline(), None);
        assert_eq!(c.offer(&a, true, 20).1, None, "known peers are not dialled");
    }

    #[test]
    fn failure_timeout_and_retry_with_backoff() {
        let mut c = Candidates::new(3_000);
        let a = cand("a", &["10.0.0.2"]);
        let addr = c.offer(&a, false, 0).1.unwrap();
        let ev = c.failed(&addr, "refused", 5).unwrap();
        assert!(
            matches!(ev, NodeEvent::MdnsCandidateFailed { ref reason, .. } if reason == "refused")
        );
        assert!(
            c.failed(&addr, "again", 6).is_none(),
            "only a dialling candidate fails"
        );
        assert_eq!(c.next_deadline(), Some(1_005));
        let (ev, dial) = c.tick(1_005, |_| false);
        assert!(ev.is_empty());
        assert_eq!(dial, vec![addr.clone()]);
        // Silence: times out.
        let (ev, dial) = c.tick(4_005, |_| false);
        assert_eq!(ev.len(), 1);
        assert!(dial.is_empty());
        assert_eq!(c.next_deadline(), Some(4_005 + 2_000));
        // Known by gossip meanwhile: no more dialling.
        let (_, dial) = c.tick(10_000, |_| true);
        assert!(dial.is_empty());
        assert_eq!(c.next_deadline(), None);
        c.gone(&NodeId::new("a").unwrap());
        assert!(c.by_node.is_empty());
    }
}
