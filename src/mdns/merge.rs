//! Merging of repeated and partial resolutions, per service instance.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use super::{txt, MdnsCandidate, MdnsError, MdnsEvent};
use crate::model::NodeId;
use crate::wire::PROTOCOL_VERSION;

/// One `ServiceResolved` event, reduced to what matters here.
#[derive(Debug, Clone)]
pub(crate) struct Resolution {
    pub fullname: String,
    pub ty_domain: String,
    pub srv_port: u16,
    pub addresses: Vec<IpAddr>,
    pub txt: Result<BTreeMap<String, String>, MdnsError>,
}

#[derive(Debug, Default)]
struct Entry {
    node_id: Option<NodeId>,
    addresses: BTreeSet<IpAddr>,
    last: Option<MdnsCandidate>,
    /// The last reason this instance was refused, to log it once.
    refused: Option<String>,
}

/// What the worker knows about the services of its type.
#[derive(Debug)]
pub(crate) struct Resolutions {
    service_type: String,
    own: String,
    ipv4: bool,
    ipv6: bool,
    entries: HashMap<String, Entry>,
    /// Resolutions refused (bad TXT, other protocol version, other type).
    pub refused: u64,
}

fn addr_order(a: &IpAddr) -> (u8, IpAddr) {
    (u8::from(a.is_ipv6()), *a)
}

impl Resolutions {
    pub fn new(service_type: &str, own_fullname: &str, ipv4: bool, ipv6: bool) -> Self {
        Resolutions {
            service_type: service_type.to_ascii_lowercase(),
            own: own_fullname.to_ascii_lowercase(),
            ipv4,
            ipv6,
            entries: HashMap::new(),
            refused: 0,
        }
    }

    /// Merges one resolution; returns a candidate event when something
    /// new was learned about a valid peerdisc service.
    pub fn resolved(&mut self, r: Resolution) -> Option<MdnsEvent> {
        let key = r.fullname.to_ascii_lowercase();
        if key == self.own {
            return None;
        }
        if r.ty_domain.to_ascii_lowercase() != self.service_type {
            self.refused += 1;
            log::debug!("mdns: ignoring {} of type {}", r.fullname, r.ty_domain);
            return None;
        }
        let entry = self.entries.entry(key).or_default();
        let parsed = r.txt.and_then(|map| {
            let t = txt::parse(&map)?;
            if t.protocol_version != PROTOCOL_VERSION {
                return Err(MdnsError::Txt {
                    key: txt::KEY_PROTOCOL_VERSION.into(),
                    reason: format!(
                        "speaks protocol version {} (this node: {PROTOCOL_VERSION})",
                        t.protocol_version
                    ),
                });
            }
            Ok((t, map))
        });
        let (t, map) = match parsed {
            Ok(p) => p,
            Err(e) => {
                self.refused += 1;
                let reason = e.to_string();
                if entry.refused.as_deref() != Some(reason.as_str()) {
                    log::debug!(
                        "mdns: {} is not a usable peerdisc service: {reason}",
                        r.fullname
                    );
                    entry.refused = Some(reason);
                }
                return None;
            }
        };
        entry.refused = None;
        if entry.node_id.as_ref() != Some(&t.node_id) {
            // A new claim for this instance: start over.
            entry.node_id = Some(t.node_id.clone());
            entry.addresses.clear();
            entry.last = None;
        }
        if t.ws_port != r.srv_port {
            log::debug!(
                "mdns: {} has SRV port {} but TXT wsport {}; dialling the TXT port",
                r.fullname,
                r.srv_port,
                t.ws_port
            );
        }
        entry.addresses.extend(
            r.addresses
                .into_iter()
                .filter(|a| (a.is_ipv4() && self.ipv4) || (a.is_ipv6() && self.ipv6)),
        );
        if entry.addresses.is_empty() {
            return None;
        }
        let mut addresses: Vec<IpAddr> = entry.addresses.iter().copied().collect();
        addresses.sort_by_key(addr_order);
        // The name as first seen (names are case-insensitive).
        let instance = match &entry.last {
            Some(c) => c.instance.clone(),
            None => r.fullname,
        };
        let cand = MdnsCandidate {
            instance,
            node_id: t.node_id,
            addresses,
            port: t.ws_port,
            path: t.path,
            txt: map,
        };
        if entry.last.as_ref() == Some(&cand) {
            return None;
        }
        entry.last = Some(cand.clone());
        Some(MdnsEvent::Candidate(cand))
    }

    /// A service went away; returns `Gone` if it had been reported.
    pub fn removed(&mut self, fullname: &str) -> Option<MdnsEvent> {
        let e = self.entries.remove(&fullname.to_ascii_lowercase())?;
        let last = e.last?;
        Some(MdnsEvent::Gone {
            node_id: last.node_id,
            instance: last.instance,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Capabilities;

    const TY: &str = "_peerdisc._tcp.local.";

    fn txt_of(id: &str, port: u16) -> BTreeMap<String, String> {
        txt::build(
            &NodeId::new(id).unwrap(),
            PROTOCOL_VERSION,
            port,
            "/peerdisc",
            &Capabilities::default(),
        )
        .unwrap()
        .into_iter()
        .collect()
    }

    fn res(name: &str, id: &str, addrs: &[&str]) -> Resolution {
        Resolution {
            fullname: format!("{name}.{TY}"),
            ty_domain: TY.into(),
            srv_port: 7400,
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            txt: Ok(txt_of(id, 7400)),
        }
    }

    fn cand(ev: Option<MdnsEvent>) -> MdnsCandidate {
        match ev {
            Some(MdnsEvent::Candidate(c)) => c,
            other => panic!("expected a candidate, got {other:?}"),
        }
    }

    #[test]
    fn partial_resolutions_merge_and_repeats_are_quiet() {
        let mut r = Resolutions::new(TY, &format!("me.{TY}"), true, true);
        let c = cand(r.resolved(res("a", "a", &["fe80::1"])));
        assert_eq!(c.addresses, vec!["fe80::1".parse::<IpAddr>().unwrap()]);
        let c = cand(r.resolved(res("a", "a", &["10.0.0.2"])));
        assert_eq!(c.addresses.len(), 2);
        assert!(c.addresses[0].is_ipv4(), "IPv4 first");
        assert_eq!(c.port, 7400);
        assert_eq!(c.txt["id"], "a");
        assert!(r
            .resolved(res("a", "a", &["10.0.0.2", "fe80::1"]))
            .is_none());
        assert!(
            r.resolved(res("A", "a", &["10.0.0.2"])).is_none(),
            "names are case-insensitive"
        );
    }

    #[test]
    fn families_filter_and_own_service_is_ignored() {
        let mut r = Resolutions::new(TY, &format!("me.{TY}"), true, false);
        assert!(r.resolved(res("a", "a", &["fe80::1"])).is_none());
        assert_eq!(
            cand(r.resolved(res("a", "a", &["10.0.0.2", "fe80::1"])))
                .addresses
                .len(),
            1
        );
        assert!(r.resolved(res("me", "me", &["10.0.0.1"])).is_none());
    }

    #[test]
    fn bad_txt_other_versions_and_types_are_refused() {
        let mut r = Resolutions::new(TY, &format!("me.{TY}"), true, true);
        let mut bad = res("a", "a", &["10.0.0.2"]);
        bad.txt = Ok(BTreeMap::new());
        assert!(r.resolved(bad).is_none());
        let mut v2 = res("b", "b", &["10.0.0.3"]);
        if let Ok(m) = &mut v2.txt {
            m.insert("pv".into(), (PROTOCOL_VERSION + 1).to_string());
        }
        assert!(r.resolved(v2).is_none());
        let mut other = res("c", "c", &["10.0.0.4"]);
        other.ty_domain = "_http._tcp.local.".into();
        assert!(r.resolved(other).is_none());
        assert_eq!(r.refused, 3);
        // A later good record is taken.
        assert!(r.resolved(res("a", "a", &["10.0.0.2"])).is_some());
    }

    #[test]
    fn changed_identity_starts_over_and_removal_reports_gone() {
        let mut r = Resolutions::new(TY, &format!("me.{TY}"), true, true);
        cand(r.resolved(res("a", "a", &["10.0.0.2"])));
        let c = cand(r.resolved(res("a", "z", &["10.0.0.9"])));
        assert_eq!(c.node_id.as_str(), "z");
        assert_eq!(c.addresses, vec!["10.0.0.9".parse::<IpAddr>().unwrap()]);
        match r.removed(&format!("a.{TY}")) {
            Some(MdnsEvent::Gone { node_id, .. }) => assert_eq!(node_id.as_str(), "z"),
            other => panic!("{other:?}"),
        }
        assert!(r.removed(&format!("a.{TY}")).is_none());
        assert!(r.removed(&format!("never.{TY}")).is_none());
    }
}
