//! Events: order, subscribers, callbacks on the dispatcher thread that
//! re-enter the registry, panicking callbacks, slow subscribers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peerdisc::{
    ChangedField, ConnectionState, Liveness, Peer, PeerEvent, PeerRegistry, RegistryConfig,
    RemovalReason, StateChange,
};

const WAIT: Duration = Duration::from_secs(5);

fn record(id: &str, version: u64, tool: &str) -> peerdisc::PeerRecord {
    Peer::builder(id)
        .version(version)
        .tool(tool)
        .build_record()
        .unwrap()
}

fn kind(e: &PeerEvent) -> String {
    match e {
        PeerEvent::Added { peer } => format!("added {}", peer.node_id()),
        PeerEvent::Updated { peer, changes } => format!("updated {} {changes:?}", peer.node_id()),
        PeerEvent::Removed { peer, reason } => format!("removed {} {reason:?}", peer.node_id()),
        PeerEvent::StateChanged { peer, change } => {
            format!("state {} {change:?}", peer.node_id())
        }
        _ => "other".into(),
    }
}

#[test]
fn subscriber_sees_events_in_order() {
    let reg = PeerRegistry::new();
    let rx = reg.subscribe();
    reg.upsert(record("n", 1, "a")).unwrap();
    reg.upsert(record("n", 2, "b")).unwrap();
    reg.upsert(record("n", 2, "c")).unwrap(); // ignored: no event
    reg.set_connection_state("n", ConnectionState::Connected)
        .unwrap();
    reg.mark_suspect("n").unwrap();
    reg.mark_suspect("n").unwrap(); // no change: no event
    reg.record_failure("n").unwrap();
    reg.remove("n").unwrap();
    let got: Vec<String> = rx.try_iter().map(|e| kind(&e)).collect();
    assert_eq!(
        got,
        [
            "added n".to_string(),
            format!(
                "updated n {:?}",
                vec![ChangedField::Capabilities, ChangedField::Version]
            ),
            format!(
                "state n {:?}",
                StateChange::Connection {
                    from: ConnectionState::Disconnected,
                    to: ConnectionState::Connected
                }
            ),
            format!(
                "state n {:?}",
                StateChange::Liveness {
                    from: Liveness::Alive,
                    to: Liveness::Suspect
                }
            ),
            format!("updated n {:?}", vec![ChangedField::Health]),
            format!("removed n {:?}", RemovalReason::Removed),
        ]
    );
}

#[test]
fn events_serialize_to_json() {
    let reg = PeerRegistry::new();
    let rx = reg.subscribe();
    reg.upsert(record("n", 1, "a")).unwrap();
    reg.mark_dead("n").unwrap();
    let added: serde_json::Value = serde_json::from_str(&rx.recv().unwrap().to_json()).unwrap();
    assert_eq!(added["type"], "added");
    assert_eq!(added["peer"]["node_id"], "n");
    let state: serde_json::Value = serde_json::from_str(&rx.recv().unwrap().to_json()).unwrap();
    assert_eq!(state["type"], "state_changed");
    assert_eq!(state["change"]["kind"], "liveness");
    assert_eq!(state["change"]["to"], "dead");
}

#[test]
fn slow_subscriber_does_not_block_and_drops_are_counted() {
    let reg = PeerRegistry::new();
    let slow = reg.subscribe_with_capacity(2);
    let fast = reg.subscribe_with_capacity(1_000);
    for i in 0..10 {
        reg.upsert(record(&format!("n{i}"), 1, "a")).unwrap();
    }
    assert_eq!(slow.try_iter().count(), 2);
    assert_eq!(fast.try_iter().count(), 10);
    assert_eq!(reg.stats().events_dropped, 8);
    // Dropping a receiver unsubscribes.
    drop(slow);
    reg.upsert(record("late", 1, "a")).unwrap();
    assert_eq!(fast.try_iter().count(), 1);
}

#[test]
fn callback_may_remove_the_peer_it_is_told_about() {
    let reg = PeerRegistry::new();
    let (tx, rx) = crossbeam_channel::unbounded();
    reg.on_add(move |r, peer| {
        // Re-enters the registry from the dispatcher thread: no deadlock.
        let removed = r.remove(peer.node_id().as_str()).is_ok();
        let listed = r.list().len();
        tx.send((peer.node_id().to_string(), removed, listed))
            .unwrap();
    })
    .unwrap();
    reg.add(Peer::builder("x").build().unwrap()).unwrap();
    let (id, removed, listed) = rx.recv_timeout(WAIT).unwrap();
    assert_eq!((id.as_str(), removed, listed), ("x", true, 0));
    assert!(reg.get("x").is_none());
}

#[test]
fn callbacks_run_on_the_dispatcher_thread_in_order() {
    let reg = PeerRegistry::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let (tx, rx) = crossbeam_channel::unbounded();
    let main_thread = std::thread::current().id();
    reg.on_event(move |_, e| {
        assert_ne!(std::thread::current().id(), main_thread);
        s.lock().unwrap().push(kind(e));
        if matches!(e, PeerEvent::Removed { .. }) {
            tx.send(()).unwrap();
        }
    })
    .unwrap();
    reg.upsert(record("n", 1, "a")).unwrap();
    reg.mark_dead("n").unwrap();
    reg.remove("n").unwrap();
    rx.recv_timeout(WAIT).unwrap();
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 3);
    assert!(got[0].starts_with("added"));
    assert!(got[1].starts_with("state"));
    assert!(got[2].starts_with("removed"));
}

#[test]
fn panicking_callback_is_caught_and_others_still_run() {
    let reg = PeerRegistry::new();
    reg.on_event(|_, _| panic!("boom (expected in this test)"))
        .unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    reg.on_update(move |_, peer, changes| {
        tx.send((peer.node_id().to_string(), changes.to_vec()))
            .unwrap();
    })
    .unwrap();
    reg.upsert(record("n", 1, "a")).unwrap();
    reg.upsert(record("n", 2, "a")).unwrap();
    let (id, changes) = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(id, "n");
    assert_eq!(changes, vec![ChangedField::Version]);
    // The panicking callback stays registered and keeps being caught.
    reg.upsert(record("n", 3, "a")).unwrap();
    rx.recv_timeout(WAIT).unwrap();
    assert_eq!(reg.stats().callback_panics, 3);
}

#[test]
fn on_remove_reports_eviction_reason() {
    let reg = PeerRegistry::with_config(RegistryConfig {
        capacity: 1,
        ..Default::default()
    })
    .unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    reg.on_remove(move |_, peer, reason| tx.send((peer.node_id().to_string(), reason)).unwrap())
        .unwrap();
    reg.upsert(record("a", 1, "x")).unwrap();
    reg.mark_dead("a").unwrap();
    reg.upsert(record("b", 1, "x")).unwrap();
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        ("a".to_string(), RemovalReason::Evicted)
    );
}

#[test]
fn removed_callback_is_not_called_again() {
    let reg = PeerRegistry::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let id = reg
        .on_event(move |_, _| {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    reg.on_event(move |_, _| tx.send(()).unwrap()).unwrap();
    reg.upsert(record("a", 1, "x")).unwrap();
    rx.recv_timeout(WAIT).unwrap();
    assert!(reg.remove_callback(id));
    assert!(!reg.remove_callback(id));
    reg.upsert(record("b", 1, "x")).unwrap();
    rx.recv_timeout(WAIT).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

struct Finalizer(crossbeam_channel::Sender<&'static str>);
impl Drop for Finalizer {
    fn drop(&mut self) {
        let _ = self.0.send("finalized");
    }
}

#[test]
fn dropping_the_last_handle_inside_a_callback_is_safe() {
    let reg = PeerRegistry::new();
    let (tx, rx) = crossbeam_channel::unbounded();
    let holder: Arc<Mutex<Option<PeerRegistry>>> = Arc::new(Mutex::new(Some(reg.clone())));
    let h = Arc::clone(&holder);
    let fin = Finalizer(tx.clone());
    reg.on_add(move |_, _| {
        let _keep = &fin;
        // Drops a handle from inside the callback.
        h.lock().unwrap().take();
        tx.send("called").unwrap();
    })
    .unwrap();
    reg.add(Peer::builder("a").build().unwrap()).unwrap();
    drop(reg); // the callback's own context handle may now be the last one
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "called");
    // The callback (and its finalizer) is dropped once no call can come.
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "finalized");
    assert!(holder.lock().unwrap().is_none());
}

#[test]
fn no_events_after_the_registry_is_dropped() {
    let reg = PeerRegistry::new();
    let (tx, rx) = crossbeam_channel::unbounded();
    reg.on_event(move |_, e| tx.send(kind(e)).unwrap()).unwrap();
    let sub = reg.subscribe();
    reg.upsert(record("a", 1, "x")).unwrap();
    drop(reg);
    // The subscriber got the event that happened before the drop.
    assert_eq!(sub.try_iter().count(), 1);
    assert!(sub.recv_timeout(Duration::from_millis(50)).is_err());
    // The dispatcher stopped: its sender is gone, so the channel ends.
    let mut got = 0;
    loop {
        match rx.recv_timeout(WAIT) {
            Ok(_) => got += 1,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("the dispatcher kept its callback: {e}"),
        }
    }
    assert!(got <= 1);
}
