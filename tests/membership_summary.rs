//! Digest summaries (PROTOCOL.md "Anti-entropy"): a node answers a summary
//! with its states in exactly the buckets that differ, as a digest
//! complete over them, and with a bare answer when nothing differs; the
//! exchange then goes on as a full one (the asker's newer records and the
//! members it lacks travel).

use std::collections::BTreeSet;
use std::sync::Arc;

use peerdisc::membership::{Membership, MembershipConfig, Output, Target};
use peerdisc::wire::{
    bucket_of, buckets_for, entry_hash, id_hash, DigestSummary, MemberState, Message, PeerList,
    PushPull,
};
use peerdisc::{Liveness, NodeId, PeerRecord};

fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

fn record(name: &str, version: u64) -> Arc<PeerRecord> {
    let mut r = PeerRecord::new(id(name));
    r.version = version;
    Arc::new(r)
}

fn sent(m: &mut Membership) -> Vec<(NodeId, Message)> {
    std::iter::from_fn(|| m.poll_output())
        .filter_map(|o| match o {
            Output::Send {
                to: Target::Node(t),
                message,
            } => Some((t, message)),
            _ => None,
        })
        .collect()
}

const MEMBERS: usize = 200;

/// Node "b", taught "a", m0..m199 and "x" (all at version 1).
fn responder() -> Membership {
    let mut b = Membership::new(PeerRecord::new(id("b")), MembershipConfig::default(), 7).unwrap();
    let mut names: Vec<String> = (0..MEMBERS).map(|i| format!("m{i}")).collect();
    names.push("a".into());
    names.push("x".into());
    let list = PeerList {
        peers: names.iter().map(|n| record(n, 1)).collect(),
        states: Vec::new(),
    };
    b.handle_message(&id("a"), Message::PeerList(list), 0);
    sent(&mut b);
    b
}

/// The summary of a table of (id, version) entries, all alive at
/// incarnation 0, unsigned: computed from the documented hashes only.
fn summary_of(entries: &[(String, u64)]) -> DigestSummary {
    let buckets = buckets_for(entries.len());
    let mut sums = vec![0u64; buckets as usize];
    for (name, version) in entries {
        let h = id_hash(&id(name));
        let b = bucket_of(h, buckets) as usize;
        sums[b] = sums[b].wrapping_add(entry_hash(h, 0, Liveness::Alive, *version, false));
    }
    DigestSummary::from_sums(sums).unwrap()
}

/// What "a" holds: itself, b (version 0), m0..m199 at version 1 but m7 at
/// version 2; not "x".
fn asker_table() -> Vec<(String, u64)> {
    let mut t = vec![("a".to_string(), 1), ("b".to_string(), 0)];
    for i in 0..MEMBERS {
        t.push((format!("m{i}"), if i == 7 { 2 } else { 1 }));
    }
    t
}

fn summary_request(table: &[(String, u64)]) -> Message {
    Message::PushPull(PushPull {
        states: vec![MemberState::new(id("a"), 0, Liveness::Alive, 1)],
        summary: Some(summary_of(table)),
        ..Default::default()
    })
}

#[test]
fn a_summary_is_answered_with_the_buckets_that_differ() {
    let mut b = responder();
    let table = asker_table();
    let buckets = buckets_for(table.len());
    b.handle_message(&id("a"), summary_request(&table), 10);
    let out = sent(&mut b);
    let answers: Vec<&PushPull> = out
        .iter()
        .filter_map(|(to, m)| match m {
            Message::PushPull(pp) if *to == id("a") => Some(pp),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 1, "{out:?}");
    let pp = answers[0];
    assert!(!pp.reply, "the answer to a summary is itself a request");
    let within = pp.within.as_ref().expect("a bucket list");
    assert_eq!(within.of(), buckets);
    // Exactly the buckets of m7 (versions differ) and x (a lacks it),
    // unless the two share one.
    let expected: BTreeSet<u32> = ["m7", "x"]
        .iter()
        .map(|n| bucket_of(id_hash(&id(n)), buckets))
        .collect();
    let got: BTreeSet<u32> = within.buckets().iter().copied().collect();
    assert_eq!(got, expected);
    // Its states: its own first, then every member it holds in them.
    assert_eq!(pp.states[0].node_id, id("b"));
    let named: BTreeSet<NodeId> = pp.states[1..].iter().map(|s| s.node_id.clone()).collect();
    assert!(named.contains(&id("m7")) && named.contains(&id("x")));
    for s in &pp.states[1..] {
        assert!(within.contains(id_hash(&s.node_id)), "{s:?} outside");
    }
    let in_buckets = (0..MEMBERS)
        .map(|i| format!("m{i}"))
        .chain(["a".to_string(), "x".to_string()])
        .filter(|n| within.contains(id_hash(&id(n))))
        .count();
    assert_eq!(named.len(), in_buckets, "complete over its buckets");
    // Far smaller than a full digest of 202 members.
    assert!(pp.states.len() < MEMBERS / 4, "{} states", pp.states.len());
}

#[test]
fn the_exchange_goes_on_as_a_full_one() {
    let mut b = responder();
    let table = asker_table();
    b.handle_message(&id("a"), summary_request(&table), 10);
    let out = sent(&mut b);
    let Some((_, Message::PushPull(within_request))) = out
        .into_iter()
        .find(|(to, m)| *to == id("a") && matches!(m, Message::PushPull(_)))
    else {
        panic!("no answer to the summary");
    };
    // A real node "a" holding the table above answers it.
    let mut a = Membership::new(
        {
            let mut r = PeerRecord::new(id("a"));
            r.version = 1;
            r
        },
        MembershipConfig::default(),
        9,
    )
    .unwrap();
    let list = PeerList {
        peers: table[1..].iter().map(|(n, v)| record(n, *v)).collect(),
        states: Vec::new(),
    };
    a.handle_message(&id("b"), Message::PeerList(list), 0);
    sent(&mut a);
    a.handle_message(&id("b"), Message::PushPull(within_request), 20);
    let out = sent(&mut a);
    let reply = out
        .iter()
        .find_map(|(to, m)| match m {
            Message::PushPull(pp) if *to == id("b") && pp.reply => Some(pp.clone()),
            _ => None,
        })
        .expect("a's answer");
    // a hands b the newer record of m7 ...
    assert!(reply
        .peers
        .iter()
        .any(|r| r.node_id == id("m7") && r.version == 2));
    // ... and has learned of x (it asks b for x's record, or holds it).
    let asks_x = out.iter().any(|(_, m)| match m {
        Message::PeerListRequest(r) => r.node_ids.contains(&id("x")),
        _ => false,
    });
    assert!(asks_x || a.member(&id("x")).is_some());
    b.handle_message(&id("a"), Message::PushPull(reply), 30);
    sent(&mut b);
    assert_eq!(b.member(&id("m7")).unwrap().record.version, 2);
}

#[test]
fn nothing_differs_gets_a_bare_answer() {
    let mut b = responder();
    let mut table = asker_table();
    table.retain(|(n, _)| n != "m7");
    table.push(("m7".into(), 1));
    table.push(("x".into(), 1));
    b.handle_message(&id("a"), summary_request(&table), 10);
    let out = sent(&mut b);
    let pp = out
        .iter()
        .find_map(|(to, m)| match m {
            Message::PushPull(pp) if *to == id("a") => Some(pp),
            _ => None,
        })
        .expect("an answer");
    assert!(pp.reply);
    assert!(pp.within.is_none() && pp.peers.is_empty());
    assert_eq!(pp.states.len(), 1);
    assert_eq!(pp.states[0].node_id, id("b"));
}
