//! Internal consistency: the index and the eviction order hold exactly what
//! the shards hold.

use super::*;
use crate::model::{ConnectionState, Peer};

fn rec(id: &str, v: u64, tools: &[&str]) -> crate::model::PeerRecord {
    let mut b = Peer::builder(id).version(v);
    for t in tools {
        b = b.tool(*t);
    }
    b.build_record().unwrap()
}

#[test]
fn index_drops_empty_names() {
    let reg = PeerRegistry::new();
    reg.upsert(rec("a", 1, &["x", "y"])).unwrap();
    reg.upsert(rec("b", 1, &["x"])).unwrap();
    assert_eq!(reg.inner.index.read().keys(), 2);
    reg.upsert(rec("a", 2, &["x"])).unwrap();
    assert_eq!(reg.inner.index.read().keys(), 1);
    reg.remove("a").unwrap();
    reg.remove("b").unwrap();
    assert_eq!(reg.inner.index.read().keys(), 0);
}

#[test]
fn eviction_order_tracks_evictable_peers() {
    let reg = PeerRegistry::new();
    for i in 0..10 {
        reg.upsert(rec(&format!("p{i}"), 1, &[])).unwrap();
    }
    assert_eq!(reg.inner.eviction.lock().len(), 10);
    reg.set_connection_state("p0", ConnectionState::Connected)
        .unwrap();
    reg.record_success("p1").unwrap();
    reg.touch("p2").unwrap();
    reg.mark_dead("p3").unwrap();
    assert_eq!(reg.inner.eviction.lock().len(), 9);
    assert_eq!(reg.inner.eviction.lock().first().unwrap().id.as_str(), "p3");
    reg.remove("p3").unwrap();
    reg.set_connection_state("p0", ConnectionState::Disconnected)
        .unwrap();
    assert_eq!(reg.inner.eviction.lock().len(), 9);
    for i in 0..10 {
        let _ = reg.remove(&format!("p{i}"));
    }
    assert_eq!(reg.inner.eviction.lock().len(), 0);
}
