//! The cluster key: keyed nodes meet; keys rotate without a flag day; a
//! node without the key (or with another key) can neither join nor read,
//! and both sides say so clearly.

use std::time::Duration;

use peerdisc::keyring::Keyring;
use peerdisc::node::{BootstrapError, Node, NodeError};

fn key() -> String {
    Keyring::key_text(&Keyring::generate_key())
}

fn node(id: &str, keys: &[&String], bootstrap: Option<&Node>) -> Node {
    let mut b = Node::builder().node_id(id).configure(|c| {
        c.cluster_keys = keys.iter().map(|k| (*k).clone()).collect();
        c.bootstrap_timeout_ms = 2_000;
        c.rebootstrap_interval_ms = 60_000;
    });
    if let Some(s) = bootstrap {
        b = b.bootstrap(s.address().as_str());
    }
    b.start().unwrap()
}

#[test]
fn keyed_nodes_meet_and_keys_rotate() {
    let (k1, k2) = (key(), key());
    let a = node("a", &[&k1, &k2], None); // sends with k1, accepts k2 too
    let b = node("b", &[&k2, &k1], Some(&a)); // already switched to k2
    b.discover_bootstrap().unwrap();
    a.wait_for_peers(1, Duration::from_secs(10)).unwrap();
    b.wait_for_peers(1, Duration::from_secs(10)).unwrap();
    assert_eq!(a.stats().refused, 0);
    a.stop().unwrap();
    b.stop().unwrap();
}

fn refused(joiner: &Node) -> String {
    match joiner.discover_bootstrap() {
        Err(NodeError::Bootstrap(errors)) => match &errors[0] {
            BootstrapError::BadAnswer { reason, .. } => reason.clone(),
            other => panic!("expected a refusal, got {other}"),
        },
        other => panic!("expected a bootstrap error, got {other:?}"),
    }
}

#[test]
fn plaintext_and_keyed_nodes_refuse_each_other() {
    let k = key();
    let keyed = node("keyed", &[&k], None);
    let plain = node("plain", &[], Some(&keyed));
    let why = refused(&plain);
    assert!(why.contains("requires a cluster key"), "{why}");
    assert!(keyed.registry().get("plain").is_none());
    assert!(plain.registry().get("keyed").is_none());
    assert!(keyed.stats().refused >= 1);

    let plain_seed = node("plain-seed", &[], None);
    let keyed_joiner = node("keyed-joiner", &[&k], Some(&plain_seed));
    let why = refused(&keyed_joiner);
    assert!(why.contains("has no cluster key"), "{why}");
    assert!(plain_seed.registry().is_empty());
    for n in [keyed, plain, plain_seed, keyed_joiner] {
        n.stop().unwrap();
    }
}

#[test]
fn a_node_with_another_key_cannot_join() {
    let seed = node("seed", &[&key()], None);
    let stranger = node("stranger", &[&key()], Some(&seed));
    let why = refused(&stranger);
    assert!(why.contains("different cluster key"), "{why}");
    assert!(seed.registry().is_empty());
    seed.stop().unwrap();
    stranger.stop().unwrap();
}

#[test]
fn a_bad_key_is_a_configuration_error() {
    let err = Node::builder()
        .configure(|c| c.cluster_keys = vec!["not a key".into()])
        .build()
        .unwrap_err();
    assert!(
        matches!(err, NodeError::Config(ref m) if m.contains("cluster_keys")),
        "{err}"
    );
}
