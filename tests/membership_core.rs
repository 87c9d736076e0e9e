//! The membership core driven by hand: join, refutation, records, garbage,
//! restart, reclaim, leave, and the merge properties.

use std::sync::Arc;

use peerdisc::membership::{
    Command, Membership, MembershipConfig, MembershipEvent, Output, RegistryChange, Target,
};
use peerdisc::wire::{self, GossipAnnouncement, Hello, MemberState, Message, PeerList, StateClaim};
use peerdisc::{Capabilities, Capability, Liveness, NodeId, PeerRecord};

fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

fn node(name: &str) -> Membership {
    Membership::new(PeerRecord::new(id(name)), MembershipConfig::default(), 7).unwrap()
}

fn drain(m: &mut Membership) -> Vec<Output> {
    std::iter::from_fn(|| m.poll_output()).collect()
}

fn sends(out: &[Output]) -> Vec<(NodeId, Message)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send {
                to: Target::Node(t),
                message,
            } => Some((t.clone(), message.clone())),
            _ => None,
        })
        .collect()
}

fn record(name: &str, version: u64) -> Arc<PeerRecord> {
    let mut r = PeerRecord::new(id(name));
    r.version = version;
    Arc::new(r)
}

/// Teaches `m` the records of `names` (as a bootstrap list).
fn teach(m: &mut Membership, from: &str, names: &[&str]) {
    let list = PeerList {
        peers: names.iter().map(|n| record(n, 1)).collect(),
        states: Vec::new(),
    };
    m.handle_message(&id(from), Message::PeerList(list), 0);
    drain(m);
}

fn claim(m: &mut Membership, from: &str, s: MemberState, now: u64) -> Vec<Output> {
    let g = GossipAnnouncement {
        timestamp: 0.0,
        peers: Vec::new(),
        states: vec![s],
    };
    m.handle_message(&id(from), Message::GossipAnnouncement(g), now);
    drain(m)
}

#[test]
fn a_node_joins_through_a_seed() {
    let mut a = node("a");
    let mut b = node("b");
    b.handle_command(
        Command::Join {
            seeds: vec![Target::Node(id("a"))],
        },
        0,
    )
    .unwrap();
    let out = drain(&mut b);
    let (to, hello) = sends(&out).remove(0);
    assert_eq!(to, id("a"));
    assert_eq!(hello.kind(), "hello");
    a.handle_message(&id("b"), hello, 1);
    let out = drain(&mut a);
    assert!(out.iter().any(
        |o| matches!(o, Output::Event(MembershipEvent::Joined { node_id }) if *node_id == id("b"))
    ));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Registry(RegistryChange::Upsert(r)) if r.node_id == id("b"))));
    let (to, list) = sends(&out)
        .into_iter()
        .find(|(_, m)| m.kind() == "peer_list")
        .unwrap();
    assert_eq!(to, id("b"));
    b.handle_message(&id("a"), list, 2);
    assert_eq!(b.member(&id("a")).unwrap().liveness, Liveness::Alive);
    assert!(b.next_deadline().is_some());
}

#[test]
fn join_is_retried_with_backoff() {
    let mut b = node("b");
    let seeds = vec![Target::Node(id("a"))];
    b.handle_command(Command::Join { seeds }, 0).unwrap();
    drain(&mut b);
    let mut hellos = Vec::new();
    for t in (0..20_000).step_by(50) {
        b.handle_tick(t);
        for (_, m) in sends(&drain(&mut b)) {
            if m.kind() == "hello" {
                hellos.push(t);
            }
        }
    }
    assert!(hellos.len() >= 3, "{hellos:?}");
    let gaps: Vec<u64> = hellos.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.last().unwrap() > gaps.first().unwrap(), "{gaps:?}");
}

#[test]
fn a_suspected_node_refutes_with_a_higher_incarnation() {
    let mut b = node("b");
    teach(&mut b, "a", &["a"]);
    let mut s = MemberState::new(id("b"), 0, Liveness::Suspect, 0);
    s.from = Some(id("a"));
    let out = claim(&mut b, "a", s, 10);
    assert_eq!(b.incarnation(), 1);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(MembershipEvent::Refuted { incarnation: 1 })
    )));
    let alive = sends(&out)
        .into_iter()
        .find(|(_, m)| m.kind() == "alive")
        .unwrap();
    assert_eq!(alive.0, id("a"));
    // A stale accusation is answered, not refuted again.
    let mut s = MemberState::new(id("b"), 0, Liveness::Dead, 0);
    s.from = Some(id("a"));
    claim(&mut b, "a", s, 20);
    assert_eq!(b.incarnation(), 1);
}

#[test]
fn dead_claims_keep_the_record_and_newer_records_replace_it() {
    let mut a = node("a");
    teach(&mut a, "x", &["b"]);
    claim(
        &mut a,
        "x",
        MemberState::new(id("b"), 0, Liveness::Dead, 1),
        5,
    );
    let v = a.member(&id("b")).unwrap();
    assert_eq!(v.liveness, Liveness::Dead);
    assert_eq!(v.record.version, 1);
    // An older record changes nothing, a newer one replaces it.
    let g = |r| {
        Message::GossipAnnouncement(GossipAnnouncement {
            timestamp: 0.0,
            peers: vec![wire::AnnouncedPeer::Record(r)],
            states: Vec::new(),
        })
    };
    a.handle_message(&id("x"), g(record("b", 0)), 6);
    assert_eq!(a.member(&id("b")).unwrap().record.version, 1);
    a.handle_message(&id("x"), g(record("b", 5)), 7);
    assert_eq!(a.member(&id("b")).unwrap().record.version, 5);
    assert_eq!(a.member(&id("b")).unwrap().liveness, Liveness::Dead);
}

/// A third party's dead claim about a member that spoke to this node
/// moments ago is not believed (the accused is told, to refute it); the
/// same claim about a member silent for longer is.
#[test]
fn a_dead_claim_about_a_member_just_heard_from_is_not_believed() {
    let mut a = node("a");
    teach(&mut a, "x", &["b", "c"]);
    // b talks to a at t = 1000 (a ping with nothing piggybacked).
    a.handle_message(
        &id("b"),
        Message::Ping(peerdisc::wire::Ping::new(1, id("a"))),
        1_000,
    );
    drain(&mut a);
    let out = claim(
        &mut a,
        "x",
        MemberState::new(id("b"), 0, Liveness::Dead, 1),
        1_100,
    );
    assert_eq!(a.member(&id("b")).unwrap().liveness, Liveness::Alive);
    assert!(
        sends(&out)
            .iter()
            .any(|(to, m)| *to == id("b") && m.kind() == "dead"),
        "the accused is told: {out:?}"
    );
    // c never spoke to a: the claim about it is believed.
    claim(
        &mut a,
        "x",
        MemberState::new(id("c"), 0, Liveness::Dead, 1),
        1_100,
    );
    assert_eq!(a.member(&id("c")).unwrap().liveness, Liveness::Dead);
    // Long after b's last word, a claim about b is believed too.
    claim(
        &mut a,
        "x",
        MemberState::new(id("b"), 0, Liveness::Dead, 1),
        5_000,
    );
    assert_eq!(a.member(&id("b")).unwrap().liveness, Liveness::Dead);
}

#[test]
fn garbage_counts_against_the_sender_and_loses_nothing() {
    let mut a = node("a");
    teach(&mut a, "x", &["b", "c"]);
    let before = a.member(&id("b")).unwrap().health;
    let err = a.handle_bytes(&id("b"), b"{not json", 10).unwrap_err();
    assert!(matches!(err, wire::WireError::NotJson(_)));
    let err = a
        .handle_bytes(&id("b"), br#"{"v":1,"type":"ping","seq":"x"}"#, 11)
        .unwrap_err();
    assert!(matches!(err, wire::WireError::Invalid { .. }));
    let out = drain(&mut a);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Registry(RegistryChange::Outcome { success: false, .. })
    )));
    assert!(a.member(&id("b")).unwrap().health < before);
    assert_eq!(a.len(), 2);
    assert_eq!(a.member(&id("c")).unwrap().liveness, Liveness::Alive);
}

#[test]
fn a_restarted_node_takes_its_old_entry_back() {
    let mut a = node("a");
    teach(&mut a, "x", &["b"]);
    // "b" had refuted up to incarnation 5 in its earlier life.
    claim(
        &mut a,
        "x",
        MemberState::new(id("b"), 5, Liveness::Alive, 1),
        4,
    );
    claim(
        &mut a,
        "x",
        MemberState::new(id("b"), 5, Liveness::Dead, 1),
        5,
    );
    // "b" restarts with an empty state: incarnation 0, version 0.
    let mut b = node("b");
    let hello = Hello {
        record: b.record().clone(),
        incarnation: 0,
        sig: None,
    };
    a.handle_message(&id("b"), Message::Hello(hello), 10);
    let out = drain(&mut a);
    let (_, list) = sends(&out)
        .into_iter()
        .find(|(_, m)| m.kind() == "peer_list")
        .unwrap();
    b.handle_message(&id("a"), list, 11);
    assert_eq!(b.incarnation(), 6, "refutes its old death");
    assert!(
        b.record().version >= 1,
        "its record is newer than the old one"
    );
    for (to, m) in sends(&drain(&mut b)) {
        if to == id("a") {
            a.handle_message(&id("b"), m, 12);
        }
    }
    let v = a.member(&id("b")).unwrap();
    assert_eq!((v.liveness, v.incarnation), (Liveness::Alive, 6));
    assert_eq!(a.len(), 1, "no ghost entry");
}

#[test]
fn dead_members_are_reclaimed_after_the_configured_time() {
    let mut a = node("a");
    teach(&mut a, "x", &["b"]);
    claim(
        &mut a,
        "x",
        MemberState::new(id("b"), 0, Liveness::Dead, 1),
        1_000,
    );
    let reclaim = MembershipConfig::default().dead_reclaim_ms;
    a.handle_tick(1_000 + reclaim / 2);
    drain(&mut a);
    assert!(a.member(&id("b")).is_some());
    a.handle_tick(1_000 + reclaim + 2_000);
    let out = drain(&mut a);
    assert!(a.member(&id("b")).is_none());
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Event(MembershipEvent::Removed { .. }))));
}

#[test]
fn leaving_is_announced_and_believed() {
    let mut a = node("a");
    let mut b = node("b");
    teach(&mut a, "x", &["b"]);
    teach(&mut b, "x", &["a"]);
    a.handle_command(Command::Leave, 100).unwrap();
    let out = drain(&mut a);
    let msgs = sends(&out);
    assert!(!msgs.is_empty());
    for (_, m) in msgs {
        b.handle_message(&id("a"), m, 101);
    }
    assert_eq!(b.member(&id("a")).unwrap().liveness, Liveness::Left);
    assert!(a.handle_command(Command::Leave, 102).is_err());
}

#[test]
fn new_capabilities_raise_the_version_and_are_gossiped() {
    let mut a = node("a");
    teach(&mut a, "x", &["b"]);
    let caps = Capabilities {
        tools: vec![Capability::new("search")],
        ..Capabilities::default()
    };
    a.handle_command(Command::UpdateCapabilities(caps), 0)
        .unwrap();
    assert_eq!(a.record().version, 1);
    let mut seen = false;
    for t in (0..2_000).step_by(20) {
        a.handle_tick(t);
        for (_, m) in sends(&drain(&mut a)) {
            let json = wire::encode(&m);
            seen |= json.contains("search");
        }
    }
    assert!(seen);
}

#[test]
fn a_claim_about_an_unknown_node_asks_for_its_record() {
    let mut a = node("a");
    teach(&mut a, "x", &["b"]);
    let out = claim(
        &mut a,
        "b",
        MemberState::new(id("z"), 0, Liveness::Alive, 2),
        1,
    );
    let req = sends(&out)
        .into_iter()
        .find(|(_, m)| m.kind() == "peer_list_request")
        .unwrap();
    assert_eq!(req.0, id("b"));
    assert!(a.member(&id("z")).is_none());
}

#[test]
fn left_and_dead_claims_by_others_do_not_remove_me() {
    let mut a = node("a");
    teach(&mut a, "x", &["b"]);
    let c = StateClaim {
        node_id: id("a"),
        incarnation: 0,
        version: 0,
        from: None,
        sig: None,
        nonce: None,
        proof: None,
    };
    a.handle_message(&id("b"), Message::Leave(c), 1);
    assert_eq!(a.incarnation(), 1);
    assert!(!a.has_left());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const NAMES: [&str; 4] = ["m0", "m1", "m2", "m3"];

    fn arb_claim() -> impl Strategy<Value = MemberState> {
        (0usize..4, 0u64..4, 0usize..4).prop_map(|(n, inc, l)| {
            let liveness = [
                Liveness::Alive,
                Liveness::Suspect,
                Liveness::Dead,
                Liveness::Left,
            ][l];
            let mut s = MemberState::new(id(NAMES[n]), inc, liveness, 1);
            if matches!(liveness, Liveness::Suspect | Liveness::Dead) {
                s.from = Some(id("accuser"));
            }
            s
        })
    }

    fn view(claims: &[MemberState]) -> Vec<(Liveness, u64)> {
        let mut m = node("observer");
        teach(&mut m, "x", &NAMES);
        // Each member's own latest word: accusations are at most the
        // tolerance (1) above it, as in an honest cluster.
        for n in NAMES {
            claim(
                &mut m,
                "x",
                MemberState::new(id(n), 2, Liveness::Alive, 1),
                1,
            );
        }
        for c in claims {
            claim(&mut m, "x", c.clone(), 1);
        }
        NAMES
            .iter()
            .map(|n| {
                let v = m.member(&id(n)).unwrap();
                (v.liveness, v.incarnation)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Merging is commutative (any order), idempotent (twice is once)
        /// and so every node that got the same claims converges.
        #[test]
        fn merging_commutes_is_idempotent_and_converges(
            claims in proptest::collection::vec(arb_claim(), 0..24),
            seed in any::<u64>(),
        ) {
            let forward = view(&claims);
            let mut shuffled = claims.clone();
            // Deterministic shuffle from the seed.
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            prop_assert_eq!(&forward, &view(&shuffled));
            let twice: Vec<MemberState> = claims.iter().chain(claims.iter()).cloned().collect();
            prop_assert_eq!(&forward, &view(&twice));
        }

        /// Records merge by version: the highest wins whatever the order.
        #[test]
        fn records_merge_to_the_highest_version(versions in proptest::collection::vec(0u64..10, 1..12)) {
            let mut m = node("observer");
            for v in &versions {
                let g = GossipAnnouncement {
                    timestamp: 0.0,
                    peers: vec![wire::AnnouncedPeer::Record(record("m0", *v))],
                    states: Vec::new(),
                };
                m.handle_message(&id("x"), Message::GossipAnnouncement(g), 1);
            }
            prop_assert_eq!(m.member(&id("m0")).unwrap().record.version, *versions.iter().max().unwrap());
        }

        /// No message, however odd, makes the core panic.
        #[test]
        fn any_decodable_message_is_handled(body in "[a-z0-9\":,\\[\\] -]{0,60}", kind in prop::sample::select(vec![
            "ping", "ack", "nack", "ping_req", "push_pull", "peer_list", "peer_list_request",
            "gossip_announcement", "suspect", "alive", "dead", "leave", "hello"])) {
            let mut m = node("a");
            teach(&mut m, "x", &["b"]);
            let json = format!(r#"{{"v":1,"type":"{kind}",{body}}}"#);
            let _ = m.handle_bytes(&id("b"), json.as_bytes(), 5);
            m.handle_tick(1_000);
            drain(&mut m);
        }
    }
}

/// The driver may open a connection ahead of the probe: the announced
/// upcoming target is the one the next probe goes to.
#[test]
fn the_upcoming_probe_target_is_the_next_one_probed() {
    let mut a = node("a");
    teach(&mut a, "x", &["b", "c", "d", "e"]);
    let mut matched = 0;
    for step in 0..40u64 {
        let expected = a.upcoming_probe_target().cloned();
        let now = 1_000 + step * 200;
        a.handle_tick(now);
        let pings: Vec<(NodeId, u64)> = sends(&drain(&mut a))
            .into_iter()
            .filter_map(|(to, m)| match m {
                Message::Ping(p) => Some((to, p.seq)),
                _ => None,
            })
            .collect();
        if let (Some(e), Some((p, _))) = (&expected, pings.first()) {
            assert_eq!(e, p, "step {step}");
            matched += 1;
        }
        // Every member answers at once: no retries, no suspicion.
        for (to, seq) in pings {
            let ack = peerdisc::wire::Ack {
                seq,
                node_id: None,
                peers: Vec::new(),
                states: Vec::new(),
            };
            a.handle_message(&to, Message::Ack(ack), now + 1);
            drain(&mut a);
        }
    }
    assert!(matched >= 20, "only {matched} probes were announced ahead");
}

/// A direct `ack` names nobody (it comes from the target itself); a relay
/// that forwards the answer to a `ping_req` names the target.
#[test]
fn a_direct_ack_names_nobody_and_a_relayed_one_names_the_target() {
    let mut a = node("a");
    teach(&mut a, "x", &["b", "c"]);
    a.handle_message(&id("b"), Message::Ping(wire::Ping::new(41, id("a"))), 10);
    let out = sends(&drain(&mut a));
    let acks: Vec<_> = out
        .iter()
        .filter_map(|(to, m)| match m {
            Message::Ack(ack) => Some((to.clone(), ack.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(acks.len(), 1, "{out:?}");
    assert_eq!(acks[0].0, id("b"));
    assert_eq!(acks[0].1.seq, 41);
    assert_eq!(acks[0].1.node_id, None);
    let json: serde_json::Value =
        serde_json::from_str(&wire::encode(&Message::Ack(acks[0].1.clone()))).unwrap();
    assert!(json.get("node_id").is_none(), "{json}");

    // c asks a to probe b; b answers a directly; a tells c, naming b.
    let req = wire::PingReq {
        seq: 77,
        target: id("b"),
    };
    a.handle_message(&id("c"), Message::PingReq(req), 20);
    let ping_seq = sends(&drain(&mut a))
        .into_iter()
        .find_map(|(to, m)| match m {
            Message::Ping(p) if to == id("b") && p.target == id("b") => Some(p.seq),
            _ => None,
        })
        .expect("a pings b for c");
    let direct = wire::Ack {
        seq: ping_seq,
        node_id: None,
        peers: Vec::new(),
        states: Vec::new(),
    };
    a.handle_message(&id("b"), Message::Ack(direct), 21);
    let forwarded = sends(&drain(&mut a))
        .into_iter()
        .find_map(|(to, m)| match m {
            Message::Ack(ack) if to == id("c") => Some(ack),
            _ => None,
        })
        .expect("a forwards the answer to c");
    assert_eq!(forwarded.seq, 77);
    assert_eq!(forwarded.node_id, Some(id("b")));
}

/// News of a death leaves at once, without waiting for the next gossip
/// tick; a second death right after waits for the tick (at most four
/// out-of-turn rounds per gossip interval).
#[test]
fn a_death_is_gossiped_at_once() {
    let mut a = node("a");
    teach(&mut a, "x", &["b", "c", "d", "e", "f"]);
    a.handle_tick(0);
    drain(&mut a);
    let dead_news = |out: &[Output], who: &str| {
        sends(out)
            .iter()
            .filter(|(_, m)| match m {
                Message::GossipAnnouncement(g) => g
                    .states
                    .iter()
                    .any(|s| s.node_id == id(who) && s.liveness == Liveness::Dead),
                _ => false,
            })
            .count()
    };
    // Long after anyone was heard from, so the claims are believed.
    let now = 60_000;
    let out = claim(
        &mut a,
        "c",
        MemberState::new(id("b"), 0, Liveness::Dead, 1),
        now,
    );
    assert_eq!(a.member(&id("b")).unwrap().liveness, Liveness::Dead);
    assert!(dead_news(&out, "b") >= 1, "{:?}", sends(&out));
    let out = claim(
        &mut a,
        "c",
        MemberState::new(id("d"), 0, Liveness::Dead, 1),
        now + 1,
    );
    assert_eq!(a.member(&id("d")).unwrap().liveness, Liveness::Dead);
    assert_eq!(dead_news(&out, "d"), 0, "{:?}", sends(&out));
}

/// A node's first message (its hello) is first-hand evidence of life: a
/// third party's dead claim about it right after is not believed (the
/// node joined moments ago), as for any member heard from recently.
#[test]
fn a_dead_claim_right_after_a_hello_is_not_believed() {
    let mut a = node("a");
    teach(&mut a, "x", &["c"]);
    let hello = Hello {
        record: record("b", 1),
        incarnation: 0,
        sig: None,
    };
    a.handle_message(&id("b"), Message::Hello(hello), 5_000);
    drain(&mut a);
    assert_eq!(a.member(&id("b")).unwrap().liveness, Liveness::Alive);
    claim(
        &mut a,
        "c",
        MemberState::new(id("b"), 0, Liveness::Dead, 1),
        5_001,
    );
    assert_eq!(a.member(&id("b")).unwrap().liveness, Liveness::Alive);
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("m{i:02}")).collect()
}

/// A node `me` of a cluster of `all` (it knows every other member).
fn member_of(me: &str, all: &[String]) -> Membership {
    let mut m = node(me);
    let others: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|n| *n != me)
        .collect();
    teach(&mut m, others[0], &others);
    m
}

/// Ticks `m` without answering anything until its first probe fails and
/// it accuses the target; returns the target and every output until then.
fn first_accusation(m: &mut Membership) -> (NodeId, Vec<Output>) {
    let mut all = Vec::new();
    let mut target = None;
    for t in (0..5_000).step_by(5) {
        m.handle_tick(t);
        let out = drain(m);
        if target.is_none() {
            target = sends(&out).into_iter().find_map(|(to, msg)| match msg {
                Message::Ping(p) if p.target == to => Some(to),
                _ => None,
            });
        }
        all.extend(out);
        let target_suspected = target
            .as_ref()
            .and_then(|t| m.member(t))
            .is_some_and(|v| v.liveness == Liveness::Suspect);
        if target_suspected {
            return (target.unwrap(), all);
        }
    }
    panic!("no accusation within 5 s");
}

fn suspect_recipients(out: &[Output], about: &NodeId) -> Vec<NodeId> {
    let mut r: Vec<NodeId> = sends(out)
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::Suspect(c) if c.node_id == *about))
        .map(|(to, _)| to)
        .collect();
    r.sort();
    r.dedup();
    r
}

/// Whether a message carries a `suspect` state about `about` to someone
/// else than `about` itself (gossip of the suspicion).
fn gossips_suspicion(to: &NodeId, msg: &Message, about: &NodeId) -> bool {
    let states: &[MemberState] = match msg {
        Message::Ping(p) => &p.states,
        Message::Ack(a) => &a.states,
        Message::GossipAnnouncement(g) => &g.states,
        _ => &[],
    };
    to != about
        && states
            .iter()
            .any(|s| s.node_id == *about && s.liveness == Liveness::Suspect)
}

#[test]
fn a_suspicion_goes_to_the_accused_and_its_witnesses_only() {
    let all = names(30);
    let mut a = member_of("m00", &all);
    let (target, out) = first_accusation(&mut a);
    let told = suspect_recipients(&out, &target);
    assert!(told.contains(&target), "the accused is told: {told:?}");
    let witnesses: Vec<&NodeId> = told.iter().filter(|t| **t != target).collect();
    let k = MembershipConfig::default().suspicion_confirmations as usize + 1;
    assert!(
        !witnesses.is_empty() && witnesses.len() <= k,
        "{witnesses:?}"
    );
    // Nothing else carries the suspicion, now or in the gossip rounds
    // that follow (it is not queued for dissemination).
    let mut later = Vec::new();
    for t in (5_000..5_600).step_by(5) {
        a.handle_tick(t);
        later.extend(drain(&mut a));
    }
    for (to, msg) in sends(&out).iter().chain(sends(&later).iter()) {
        assert!(!gossips_suspicion(to, msg, &target), "{to}: {msg:?}");
        if let Message::Suspect(c) = msg {
            if c.node_id == target {
                assert!(told.contains(to), "{to}: {msg:?} {told:?}");
            }
        }
    }
}

#[test]
fn a_refutation_reaches_the_accuser_and_the_witnesses_it_told() {
    let all = names(30);
    let mut a = member_of("m00", &all);
    let (target, out) = first_accusation(&mut a);
    let accusation = sends(&out)
        .into_iter()
        .find_map(|(to, m)| match m {
            Message::Suspect(c) if to == target => Some(c),
            _ => None,
        })
        .unwrap();
    // The accused, knowing the same cluster, gets the accusation.
    let mut t = member_of(target.as_str(), &all);
    t.handle_message(&id("m00"), Message::Suspect(accusation), 10);
    let out_t = drain(&mut t);
    assert_eq!(t.incarnation(), 1);
    let mut refuted: Vec<NodeId> = sends(&out_t)
        .into_iter()
        .filter(
            |(_, m)| matches!(m, Message::Alive(c) if c.node_id == target && c.incarnation == 1),
        )
        .map(|(to, _)| to)
        .collect();
    refuted.sort();
    refuted.dedup();
    // Everyone who heard the suspicion (the accuser and the witnesses it
    // told) hears the refutation; the accuser may be a witness itself.
    let mut heard: Vec<NodeId> = suspect_recipients(&out, &target)
        .into_iter()
        .filter(|w| *w != target)
        .collect();
    for w in &heard {
        assert!(refuted.contains(w), "{w} not told: {refuted:?}");
    }
    heard.push(id("m00"));
    for r in &refuted {
        assert!(heard.contains(r), "{r} told but never heard it: {heard:?}");
    }
    // And a witness that held the suspicion takes the refutation.
    let w = heard[0].clone();
    let mut wn = member_of(w.as_str(), &all);
    let s = {
        let mut c = StateClaim::new(target.clone(), 0, 1);
        c.from = Some(id("m00"));
        c
    };
    wn.handle_message(&id("m00"), Message::Suspect(s), 20);
    assert_eq!(wn.member(&target).unwrap().liveness, Liveness::Suspect);
    let alive = sends(&out_t)
        .into_iter()
        .find_map(|(to, m)| (to == w).then_some(m))
        .unwrap();
    wn.handle_message(&target, alive, 30);
    let v = wn.member(&target).unwrap();
    assert_eq!((v.liveness, v.incarnation), (Liveness::Alive, 1));
    // Its refutation is not gossiped further by the witness.
    let later = drain(&mut wn);
    assert!(!sends(&later).iter().any(|(_, m)| matches!(
        m,
        Message::GossipAnnouncement(g) if g.states.iter().any(|s| s.node_id == target)
    )));
}

#[test]
fn an_accusation_at_an_older_incarnation_still_counts_at_a_witness() {
    let all = names(10);
    let mut w = member_of("m01", &all);
    // The witness heard a refutation: it holds m05 alive at 3.
    let alive = {
        let mut c = StateClaim::new(id("m05"), 3, 1);
        c.from = None;
        c
    };
    w.handle_message(&id("m05"), Message::Alive(alive), 10);
    assert_eq!(w.member(&id("m05")).unwrap().incarnation, 3);
    // An accuser that never heard it accuses at 0, from its own probe.
    let s = {
        let mut c = StateClaim::new(id("m05"), 0, 1);
        c.from = Some(id("m02"));
        c
    };
    w.handle_message(&id("m02"), Message::Suspect(s), 20);
    let v = w.member(&id("m05")).unwrap();
    assert_eq!((v.liveness, v.incarnation), (Liveness::Suspect, 3));
}

/// `b`, joined through `a` at 0 ms, whose answer (itself and `c`) came
/// at 10 ms.
fn joined_with_a_small_answer() -> Membership {
    let mut b = node("b");
    let seeds = vec![Target::Node(id("a"))];
    b.handle_command(Command::Join { seeds }, 0).unwrap();
    drain(&mut b);
    let list = PeerList {
        peers: vec![record("a", 1), record("c", 1)],
        states: Vec::new(),
    };
    b.handle_message(&id("a"), Message::PeerList(list), 10);
    drain(&mut b);
    b
}

#[test]
fn a_joiner_catches_up_at_half_a_gossip_interval() {
    let pace = MembershipConfig::default().gossip_interval_ms / 2;
    let mut b = joined_with_a_small_answer();
    let mut exchanges = Vec::new();
    for t in (10..=10 + 4 * pace).step_by(5) {
        b.handle_tick(t);
        for (to, m) in sends(&drain(&mut b)) {
            if m.kind() == "push_pull" {
                exchanges.push((t, to));
            }
        }
    }
    let (t, to) = exchanges.first().cloned().expect("an exchange");
    // Within the catch-up pace of the answer, with the member that is not
    // its bootstrap node.
    assert!(t <= 10 + pace, "first exchange at {t} ms: {exchanges:?}");
    assert_eq!(to, id("c"));
}

/// Runs a joiner for `span` ms after its seed's small answer, each of its
/// exchanges answered `late` ms after it with one member it did not know
/// (so that it keeps catching up). Returns the times of its exchanges.
fn exchanges_answered_late(late: u64, span: u64) -> Vec<u64> {
    let mut b = joined_with_a_small_answer();
    let mut started = Vec::new();
    let mut answers: Vec<(u64, NodeId)> = Vec::new();
    let mut taught = 0;
    for t in (10..=10 + span).step_by(5) {
        for (_, from) in answers.iter().filter(|(at, _)| *at == t) {
            taught += 1;
            let reply = wire::PushPull {
                reply: true,
                peers: vec![record(&format!("n{taught:03}"), 1)],
                ..Default::default()
            };
            b.handle_message(from, Message::PushPull(reply), t);
        }
        answers.retain(|(at, _)| *at > t);
        b.handle_tick(t);
        for (to, m) in sends(&drain(&mut b)) {
            if let Message::PushPull(pp) = m {
                if !pp.reply {
                    started.push(t);
                    answers.push((t + late, to));
                }
            }
        }
    }
    started
}

/// A joiner catching up starts its exchanges half a gossip interval apart
/// when they are answered quickly, and up to a gossip interval apart (twice
/// as long as the last answer took) when answers are slow (a host whose CPU
/// is saturated), so that it does not start several exchanges per answer.
#[test]
fn a_joiner_spaces_its_exchanges_by_how_long_answers_take() {
    let gossip = MembershipConfig::default().gossip_interval_ms;
    let pace = gossip / 2;
    // The gaps between the exchanges started once the first answer came.
    let gaps = |late: u64| {
        let started = exchanges_answered_late(late, 2_000);
        let timed: Vec<u64> = started
            .iter()
            .copied()
            .filter(|&t| t >= started[0] + late)
            .collect();
        assert!(timed.len() >= 5, "{late} ms: {started:?}");
        timed.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>()
    };
    // Quick answers: the catch-up pace.
    assert!(gaps(20).iter().all(|&g| g <= pace + 5), "{:?}", gaps(20));
    // Answers taking 80 ms: 160 ms apart.
    assert!(
        gaps(80).iter().all(|&g| (160..=165).contains(&g)),
        "{:?}",
        gaps(80)
    );
    // Answers taking 300 ms: one gossip interval apart, no more.
    let slow = gaps(300);
    assert!(
        slow.iter().all(|&g| (gossip..=gossip + 5).contains(&g)),
        "{slow:?}"
    );
}

/// The timing of a catch-up's answers is forgotten once the node has
/// caught up: a later catch-up (here, an exchange started by another
/// member that teaches it one) starts at the catch-up pace even though the
/// last answers of the first were slow.
#[test]
fn a_later_catch_up_does_not_inherit_slow_answers() {
    let pace = MembershipConfig::default().gossip_interval_ms / 2;
    let mut b = joined_with_a_small_answer();
    let mut answers: Vec<(u64, NodeId)> = Vec::new();
    let mut acks: Vec<(u64, NodeId, u64)> = Vec::new(); // (at, from, seq)
    let mut started: Vec<u64> = Vec::new();
    let mut taught = 0;
    // Slow answers (300 ms): teaching one member each for the first
    // second, nothing after, until b is back at the normal interval.
    let end = 90_000;
    for t in (10..=end).step_by(5) {
        for (_, from) in answers.iter().filter(|(at, _)| *at == t) {
            let peers = if t < 1_000 {
                taught += 1;
                vec![record(&format!("n{taught:03}"), 1)]
            } else {
                Vec::new()
            };
            let reply = wire::PushPull {
                reply: true,
                peers,
                ..Default::default()
            };
            b.handle_message(from, Message::PushPull(reply), t);
        }
        answers.retain(|(at, _)| *at > t);
        deliver_acks(&mut b, &mut acks, t);
        b.handle_tick(t);
        for (to, m) in sends(&drain(&mut b)) {
            // Every member answers its probes at once (all stay alive).
            if let Message::Ping(p) = &m {
                if p.target == to {
                    acks.push((t + 5, to.clone(), p.seq));
                }
            }
            if matches!(&m, Message::PushPull(pp) if !pp.reply) {
                started.push(t);
                answers.push((t + 300, to));
            }
        }
    }
    let gaps: Vec<u64> = started.windows(2).map(|w| w[1] - w[0]).collect();
    let normal = MembershipConfig::default().push_pull_interval_ms;
    assert!(
        gaps.last().is_some_and(|&g| g >= normal * 9 / 10),
        "back at the normal interval: {started:?}"
    );
    let t = end;
    // Its last answer came; now a member's exchange teaches it a member.
    for (at, from) in answers.drain(..) {
        let reply = wire::PushPull {
            reply: true,
            ..Default::default()
        };
        b.handle_message(&from, Message::PushPull(reply), at);
    }
    let now = t + 400;
    let request = wire::PushPull {
        complete: true,
        states: vec![MemberState::new(id("z"), 0, Liveness::Alive, 1)],
        peers: vec![record("z", 1), record("y", 1)],
        ..Default::default()
    };
    b.handle_message(&id("z"), Message::PushPull(request), now);
    drain(&mut b);
    let mut next = None;
    for t in (now..=now + 1_000).step_by(5) {
        b.handle_tick(t);
        if sends(&drain(&mut b))
            .iter()
            .any(|(_, m)| matches!(m, Message::PushPull(pp) if !pp.reply))
        {
            next = Some(t);
            break;
        }
    }
    let next = next.expect("a catch-up exchange");
    assert!(
        next <= now + pace + 5,
        "next exchange {} ms after",
        next - now
    );
}

/// Hands `m` the acks of `acks` (at, from, seq) that are due at `t`.
fn deliver_acks(m: &mut Membership, acks: &mut Vec<(u64, NodeId, u64)>, t: u64) {
    for (_, from, seq) in acks.iter().filter(|(at, _, _)| *at == t) {
        let ack = wire::Ack {
            seq: *seq,
            node_id: None,
            peers: Vec::new(),
            states: Vec::new(),
        };
        m.handle_message(from, Message::Ack(ack), t);
    }
    acks.retain(|(at, _, _)| *at > t);
}

/// Runs `a` every 5 ms over `times`, its members answering each direct
/// ping `late` ms after it; `before_tick` runs first at each step. Returns
/// the times of the direct pings and of the suspicions.
fn probed_with_late_acks(
    a: &mut Membership,
    late: u64,
    times: impl Iterator<Item = u64>,
    mut before_tick: impl FnMut(&mut Membership, u64),
) -> (Vec<u64>, Vec<u64>) {
    let mut acks: Vec<(u64, NodeId, u64)> = Vec::new(); // (at, from, seq)
    let mut probes: Vec<u64> = Vec::new();
    let mut suspicions: Vec<u64> = Vec::new();
    for t in times.step_by(5) {
        deliver_acks(a, &mut acks, t);
        before_tick(a, t);
        a.handle_tick(t);
        let out = drain(a);
        for (to, m) in sends(&out) {
            if let Message::Ping(p) = m {
                if p.target == to && !acks.iter().any(|(_, _, s)| *s == p.seq) {
                    probes.push(t);
                    acks.push((t + late, to, p.seq));
                }
            }
        }
        for o in &out {
            if let Output::Event(MembershipEvent::Suspected { .. }) = o {
                suspicions.push(t);
            }
        }
    }
    (probes, suspicions)
}

/// Members that answer every probe, but 300 ms late (a host whose CPU is
/// saturated): the first probes fail, then the probe waits for answers as
/// long as they take (the round-trip estimate) and nobody is suspected any
/// more. The clock starts after the two seconds in which `a`, having just
/// learned its members, probes at a fifth of the rate (each probe then
/// waits a second for its answers:
/// `a_learning_node_probes_less_often_and_waits_for_late_answers`).
#[test]
fn slow_but_alive_members_stop_being_suspected() {
    const LATE: u64 = 300;
    let mut a = node("a");
    teach(&mut a, "b", &["b", "c"]);
    let (probes, suspicions) = probed_with_late_acks(&mut a, LATE, 2_000..30_000, |_, _| {});
    assert!(
        suspicions.first().is_some_and(|&t| t < 4_000),
        "late answers fail the first probes: {suspicions:?}"
    );
    assert!(
        suspicions.iter().all(|&t| t < 10_000),
        "still suspected after 10 s: {suspicions:?}"
    );
    // Never declared dead (the early suspicions wait for refutations,
    // which this test does not send: the members answer probes only).
    for m in ["b", "c"] {
        assert_ne!(a.member(&id(m)).unwrap().liveness, Liveness::Dead, "{m}");
    }
    // The probes went on (slower): nobody was left unprobed.
    assert!(
        probes.iter().filter(|&&t| t >= 20_000).count() >= 5,
        "{probes:?}"
    );
}

/// A node whose join was answered with a few records (a seed answering a
/// crowd of joiners: the cluster is starting at once, every node is
/// learning and busy) probes five times less often for two seconds, and
/// for two seconds after any second in which it learned 8 records or more;
/// each of those probes waits a whole second for its answers: members
/// answering 300 ms late are not suspected. After that it probes at the
/// usual rate (one per 200 ms); learning a few members is not bulk, and a
/// node joining a settled cluster (its join answered with every member)
/// probes at the usual rate at once.
#[test]
fn a_learning_node_probes_less_often_and_waits_for_late_answers() {
    // (probe times, suspicions before `until`) with members answering
    // `late` ms after each direct ping.
    // The join is answered with `first` records; `more` members are
    // learned at 2.5 s.
    fn run(first: usize, late: u64, more: usize, until: u64) -> (Vec<u64>, usize) {
        let mut a = node("a");
        let names: Vec<String> = (0..first).map(|i| format!("m{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        teach(&mut a, "m0", &names);
        let (probes, suspicions) = probed_with_late_acks(&mut a, late, 0..until, |a, t| {
            if t == 2_500 && more > 0 {
                let list = PeerList {
                    peers: (0..more).map(|i| record(&format!("new{i}"), 1)).collect(),
                    states: Vec::new(),
                };
                a.handle_message(&id("m1"), Message::PeerList(list), t);
            }
        });
        (probes, suspicions.len())
    }
    let (probes, _) = run(3, 10, 0, 4_000);
    let learning = probes.iter().filter(|&&t| t < 2_000).count();
    let after = probes
        .iter()
        .filter(|&&t| (3_000..4_000).contains(&t))
        .count();
    assert!(learning <= 2, "while learning: {probes:?}");
    assert!(after >= 4, "after: {probes:?}");
    // Three more members learned later: not bulk, probes go on at the
    // usual rate; twenty: bulk, slower again.
    let (probes, _) = run(3, 10, 3, 3_500);
    let (_, few) = probes.split_at(probes.partition_point(|&t| t < 2_500));
    assert!(few.len() >= 4, "{probes:?}");
    let (probes, _) = run(3, 10, 20, 3_500);
    let (_, many) = probes.split_at(probes.partition_point(|&t| t < 2_500));
    assert!(many.len() <= 2, "{probes:?}");
    // Answers 300 ms late (the usual probe timeout is 80 ms), while
    // learning: no suspicion.
    let (probes, suspicions) = run(3, 300, 0, 2_000);
    assert!(!probes.is_empty());
    assert_eq!(suspicions, 0, "late answers while learning: {probes:?}");
    // Joining a settled cluster: every member in the answer, no slowdown.
    let (probes, _) = run(20, 10, 0, 1_000);
    assert!(probes.len() >= 4, "settled cluster: {probes:?}");
}
