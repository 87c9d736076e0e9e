//! The simulator at small N: determinism, convergence, detection, no false
//! death without loss, partitions that re-merge, restarts without ghosts,
//! leaves. Behaviour only: no timing assertions beyond "eventually".

use peerdisc::membership::MembershipConfig;
use peerdisc::sim::{scenario, NetworkConfig, SimConfig, Simulator};
use peerdisc::Liveness;

fn sim(n: usize, seed: u64, loss: f64) -> Simulator {
    let mut s = Simulator::new(SimConfig {
        seed,
        membership: MembershipConfig::default(),
        network: NetworkConfig {
            loss,
            ..NetworkConfig::default()
        },
        signed: false,
    });
    s.add_converged_cluster(n);
    s
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = |seed| {
        let mut s = sim(30, seed, 0.1);
        s.run_for(5_000);
        let new = s.add_node();
        s.join(new, 3);
        s.crash(7);
        s.run_for(10_000);
        let m = s.metrics();
        (
            s.total_bytes_sent(),
            m.messages_sent,
            m.messages_dropped,
            m.false_suspicions,
            m.alive_views,
        )
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
    let m = MembershipConfig::default();
    assert_eq!(
        scenario::join_convergence(40, 0.1, 9, &m, false),
        scenario::join_convergence(40, 0.1, 9, &m, false)
    );
}

#[test]
fn a_new_node_becomes_known_to_all() {
    for loss in [0.0, 0.1] {
        let r = scenario::join_convergence(60, loss, 1, &MembershipConfig::default(), false);
        assert!(r.t_all_ms.is_some(), "{r}");
    }
}

#[test]
fn nodes_joining_one_by_one_form_one_cluster() {
    let mut s = Simulator::new(SimConfig::default());
    let first = s.add_node();
    for _ in 0..11 {
        let n = s.add_node();
        s.join(n, first);
        s.run_for(300);
    }
    let t = s.run_until_or(120_000, |s| s.fully_alive());
    assert!(t.is_some(), "12 nodes never all knew each other");
    for i in 0..12 {
        assert_eq!(s.node(i).present(), 11);
    }
}

#[test]
fn crashes_are_detected_and_no_healthy_node_dies_without_loss() {
    let r = scenario::failure_detection(30, 0.0, 20_000, 2, 3, &MembershipConfig::default());
    assert!(r.detection_ms.iter().all(Option::is_some), "{r}");
    assert_eq!(r.false_suspicions, 0, "{r}");
    assert_eq!(r.false_death_declarations, 0, "{r}");
    assert_eq!(r.false_dead_views, 0, "{r}");
}

#[test]
fn a_restarted_node_replaces_its_old_entry() {
    let mut s = sim(15, 4, 0.0);
    s.run_for(2_000);
    s.crash(5);
    let dead = s.run_until_or(60_000, |s| s.dead_by(5) >= s.up_count());
    assert!(dead.is_some());
    s.restart(5, 0);
    let back = s.run_until_or(s.now() + 60_000, |s| s.fully_alive());
    assert!(back.is_some(), "the restarted node was not taken back");
    for i in 0..15 {
        assert_eq!(
            s.node(i).len(),
            14,
            "node {i} holds a ghost or lost someone"
        );
    }
    let v = s.node(0).member(s.id(5)).unwrap();
    assert_eq!(v.liveness, Liveness::Alive);
    assert!(v.incarnation > 0);
}

#[test]
fn a_leaving_node_is_seen_leaving_by_all() {
    let mut s = sim(20, 8, 0.0);
    s.run_for(1_000);
    s.leave(4);
    s.run_for(3_000);
    s.crash(4);
    for i in (0..20).filter(|&i| i != 4) {
        assert_eq!(
            s.node(i).member(s.id(4)).unwrap().liveness,
            Liveness::Left,
            "node {i}"
        );
    }
    assert_eq!(s.metrics().false_death_declarations, 0);
}

#[test]
fn a_healed_partition_re_merges() {
    let r = scenario::partition_remerge(40, 20_000, 2, &MembershipConfig::default());
    assert!(r.dead_fraction_at_heal > 0.9, "{r}");
    assert!(r.remerge_ms.is_some(), "{r}");
}

#[test]
fn the_quick_scenarios_run() {
    let m = MembershipConfig::default();
    let b = scenario::steady_bandwidth(30, 1, &m, false);
    assert!(b.bytes_per_node_per_sec > 0.0);
    let r = scenario::failure_detection(40, 0.1, 10_000, 1, 1, &m);
    assert!(r.detection_ms[0].is_some(), "{r}");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]

        /// Whatever the partition pattern (2 or 3 groups, any sizes), the
        /// cluster re-merges after it heals.
        #[test]
        fn any_partition_re_merges_after_healing(
            groups in proptest::collection::vec(0u8..3, 10),
            minutes in 1u64..3,
            seed in any::<u64>(),
        ) {
            let mut s = sim(10, seed, 0.0);
            s.run_for(1_000);
            for (i, g) in groups.iter().enumerate() {
                s.set_group(i, *g);
            }
            s.run_for(minutes * 30_000);
            s.heal();
            let t = s.run_until_or(s.now() + 180_000, |s| s.fully_alive());
            prop_assert!(t.is_some(), "groups {:?} never re-merged", groups);
        }

        /// Without loss, no healthy node is ever suspected or declared dead.
        #[test]
        fn no_false_death_without_loss(seed in any::<u64>()) {
            let mut s = sim(16, seed, 0.0);
            s.run_for(30_000);
            prop_assert_eq!(s.metrics().false_death_declarations, 0);
            prop_assert_eq!(s.metrics().false_dead_views, 0);
            prop_assert!(s.fully_alive());
        }
    }
}

/// With identities on, every node signs its record, every receiver
/// verifies, and a joining node still becomes known to all with its
/// signature intact.
#[test]
fn a_signed_cluster_converges_on_verified_records() {
    let mut s = Simulator::new(SimConfig {
        seed: 5,
        signed: true,
        ..SimConfig::default()
    });
    s.add_converged_cluster(30);
    s.run_for(2_000);
    let new = s.add_node();
    assert!(peerdisc::identity::is_key_derived_id(s.id(new).as_str()));
    s.join(new, 4);
    s.run_for(10_000);
    assert_eq!(s.known_by(new), 30);
    for i in 0..30 {
        let m = s.node(i).member(s.id(new)).expect("known");
        peerdisc::identity::check_record(&m.record, true).expect("verified");
    }
    let r = scenario::join_convergence(40, 0.1, 9, &MembershipConfig::default(), true);
    assert!(r.t_all_ms.is_some(), "{r}");
}

/// A record update must reach every node through gossip alone, well before
/// the anti-entropy round (30 s) would repair a miss: in a small cluster
/// the few retransmissions of an update each go to a node that may lack
/// it, never back to one that is known to hold it.
#[test]
fn a_capability_update_reaches_every_node_through_gossip() {
    use peerdisc::model::{Capabilities, Capability};
    for n in [3, 5, 8] {
        for seed in 0..300 {
            let mut s = sim(n, seed, 0.0);
            s.run_for(3_000 + seed % 1_000);
            let mut caps = Capabilities::new();
            caps.tools.push(Capability::new("brand-new-tool"));
            s.update_capabilities(1, caps);
            let version = s.node(1).record().version;
            let start = s.now();
            let everyone_has_it = |s: &Simulator| {
                (0..n).all(|k| {
                    k == 1 || s.node(k).member(s.id(1)).map(|m| m.record.version) == Some(version)
                })
            };
            let done = s.run_until_or(start + 2_000, everyone_has_it);
            assert!(
                done.is_some(),
                "N = {n}, seed {seed}: not everywhere in 2 s"
            );
        }
    }
}

/// A whole cluster started at once through one seed (a fleet restart)
/// converges: every node ends up holding every other alive. And the seed
/// does not carry the join: it sends at most 5 times the median node's
/// bytes (it used to answer each of the N hellos with every record it
/// knew, a quadratic flood: about 30 times the median at this size), and
/// no node sends more than that either.
#[test]
fn a_cluster_started_at_once_through_one_seed_converges_without_flooding_the_seed() {
    let m = MembershipConfig::default();
    let r = scenario::cold_start(200, 0.0, 1, 7, &m, 120_000);
    assert!(r.t_alive_ms.is_some(), "{r}");
    assert!(r.seed_bytes <= 5 * r.median_total, "{r}");
    assert!(r.busiest_over_median() <= 5.0, "{r}");
    let r = scenario::cold_start(200, 0.1, 1, 8, &m, 120_000);
    assert!(r.t_alive_ms.is_some(), "at 10 % loss: {r}");
    assert!(r.seed_bytes <= 5 * r.median_total, "at 10 % loss: {r}");
}

/// Two seeds, each in every node's bootstrap list: the nodes that answer
/// a joiner's hello are not its anti-entropy partners while it knows
/// others, so neither seed is flooded either.
#[test]
fn a_cold_start_through_two_seeds_converges_without_flooding_either() {
    let r = scenario::cold_start(150, 0.0, 2, 3, &MembershipConfig::default(), 120_000);
    assert!(r.t_alive_ms.is_some(), "{r}");
    assert!(r.busiest_over_median() <= 5.0, "{r}");
}

/// Nodes started one after another over 900 ms (as the daemon bench's
/// processes) still converge, no earlier than the last one started, and
/// the seed is not flooded by the late joiners either.
#[test]
fn a_cold_start_spread_over_time_converges_after_the_last_start() {
    let r = scenario::cold_start_spread(100, 0.0, 1, 900, 5, &MembershipConfig::default(), 120_000);
    assert_eq!(r.spread_ms, 900);
    let t = r.t_alive_ms.expect("converged");
    assert!(t >= 900 * 99 / 100, "{r}");
    assert!(r.seed_bytes <= 5 * r.median_total, "{r}");
    assert!(r.to_string().contains("start spread 900 ms"), "{r}");
}

/// The datagram path's size limit: a record far larger than a datagram
/// (capabilities are unbounded by it) travels as its state alone, and every
/// node fetches the record over the stream, also under datagram loss.
#[test]
fn a_record_too_large_for_a_datagram_still_reaches_every_node() {
    use peerdisc::model::{Capabilities, Capability};
    for (seed, loss) in [(1, 0.0), (2, 0.1)] {
        let n = 20;
        let mut s = sim(n, seed, loss);
        s.run_for(2_000);
        let mut caps = Capabilities::new();
        for t in 0..400 {
            caps.tools
                .push(Capability::new(format!("a-long-tool-name-{t:04}")));
        }
        s.update_capabilities(3, caps);
        let rec = s.node(3).record().clone();
        assert!(
            rec.to_json().len() > 4 * 1_400,
            "the record exceeds a datagram: {}",
            rec.to_json().len()
        );
        let start = s.now();
        let done = s.run_until_or(start + 10_000, |s: &Simulator| {
            (0..n).all(|k| {
                k == 3 || s.node(k).member(s.id(3)).map(|m| m.record.version) == Some(rec.version)
            })
        });
        assert!(
            done.is_some(),
            "seed {seed}, loss {loss}: not everywhere in 10 s"
        );
    }
}

#[test]
fn under_heavy_loss_no_healthy_node_dies_and_every_crash_reaches_everyone() {
    let m = MembershipConfig::default();
    let r = scenario::failure_detection(40, 0.5, 20_000, 2, 5, &m);
    assert!(r.false_suspicions > 0, "the loss causes suspicions: {r}");
    assert_eq!(r.false_death_declarations, 0, "{r}");
    assert_eq!(r.false_dead_views, 0, "{r}");
    assert!(r.detection_ms.iter().all(Option::is_some), "{r}");
}

#[test]
fn under_heavy_loss_suspicions_stay_with_the_accused_and_its_witnesses() {
    // Suspicions are not broadcast: the suspect messages a node sends do
    // not grow with the cluster (a broadcast would grow with N).
    let per_node = |n: usize| {
        let mut s = sim(n, 11, 0.5);
        s.run_for(10_000);
        let m = s.metrics();
        assert!(m.false_suspicions > 0);
        m.by_type.get("suspect").map_or(0, |e| e.0) as f64 / n as f64
    };
    let (small, big) = (per_node(30), per_node(120));
    assert!(
        big < small * 2.0,
        "suspect messages per node: {small} at 30, {big} at 120"
    );
}

#[test]
fn under_heavy_loss_a_new_node_becomes_known_to_all() {
    let r = scenario::join_convergence(60, 0.5, 2, &MembershipConfig::default(), false);
    assert!(r.t_all_ms.is_some(), "{r}");
}
