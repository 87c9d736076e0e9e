//! Multi-host fault scenarios: 8 hosts in network namespaces, each running
//! the `peerdisc node` daemon as its own process.
//!
//! - SIGKILL 3 of 8: every survivor marks them dead within the bound
//!   derived from the daemons' membership configuration ([`Timing`]) and
//!   never marks a survivor dead (neither in its peer table nor in its own
//!   event output).
//! - A 4/4 partition for 60 s, then heal: every host lists all 8 alive again
//!   within 30 s, with no help from outside.
//! - 20 % packet loss on every link for 3 minutes: no host marks a live host
//!   dead, in any polled peer table (every host answering at least half of
//!   the polls) or in any daemon's event output over the whole period.
//! - A host restarted from its snapshot, with its bootstrap nodes gone,
//!   rejoins through the peers it knew.
//! - Four daemons with mDNS on and no bootstrap URL find each other.
//!
//! Needs root (network namespaces) and, for the partition and the loss,
//! `nft` (nftables); without them each test prints SKIPPED (a failure
//! under `PEERDISC_NETNS_REQUIRE=1`).
//! `PEERDISC_FAULT_QUICK=1` shortens the partition to 15 s and the loss
//! period to 30 s for a quick local run.
//!
//! The scenarios run one at a time (a process-wide lock: two 8-daemon
//! clusters on a 2-core machine would disturb each other's timing), each
//! prints its wall time, and each checks that the file as a whole is still
//! within the bound of 10 minutes.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/netns.rs"]
mod netns;

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use cluster::{Cluster, EventLog, View};
use peerdisc::membership::MembershipConfig;

const CONVERGE: Duration = Duration::from_secs(30);
/// All scenarios together, on a 2-core machine (issue 8).
const FILE_BOUND: Duration = Duration::from_secs(600);

static SERIAL: Mutex<()> = Mutex::new(());
static FILE_START: OnceLock<Instant> = OnceLock::new();

/// Runs one scenario alone (a failed one does not block the others: the
/// poisoned lock is taken over), prints its wall time, and asserts that
/// everything since the first scenario started is within [`FILE_BOUND`].
fn scenario(name: &str, body: impl FnOnce()) {
    let file_start = *FILE_START.get_or_init(Instant::now);
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let t0 = Instant::now();
    body();
    let took = t0.elapsed();
    let total = file_start.elapsed();
    eprintln!("scenario {name}: done in {took:.1?} ({total:.1?} since the first scenario started)");
    assert!(
        total < FILE_BOUND,
        "the fault scenarios took {total:.1?} so far (the last, {name}, {took:.1?}): \
         over the bound of {FILE_BOUND:?} for the whole file"
    );
}

fn quick() -> bool {
    std::env::var("PEERDISC_FAULT_QUICK").is_ok_and(|v| v == "1")
}

fn no_false_death(live: &[usize]) -> impl Fn(usize, &View) + '_ {
    move |i, v| {
        for j in live {
            let id = Cluster::id(*j);
            if *j != i {
                let l = v.get(&id).map(String::as_str).unwrap_or("unknown");
                assert!(
                    l == "alive" || l == "suspect",
                    "false death: h{i} lists live {id} as {l}"
                );
            }
        }
    }
}

/// Worst-case failure-detection times for `n` nodes, derived from the
/// membership configuration the daemons run with.
#[derive(Debug)]
struct Timing {
    /// Until a given member is next probed: the probe order is a round
    /// robin over the `n - 1` others, reshuffled after every pass, so a
    /// member probed first in one pass may come last in the next (two
    /// passes less one probe).
    first_probe: Duration,
    /// One probe, direct ack timeout and indirect probes (`ping_req`)
    /// included: it fails at the end of its probe interval. The last,
    /// verification probe of a suspect takes as long.
    probe: Duration,
    /// The suspicion timeout ceiling for `n` nodes (`suspicion_bounds`),
    /// times the local-health multiplier at its highest.
    suspicion: Duration,
    /// Dissemination: every holder sends an update `retransmit_limit(n)`
    /// times, one gossip round each.
    spread: Duration,
}

impl Timing {
    fn new(cfg: &MembershipConfig, n: usize) -> Timing {
        let health = f64::from(cfg.max_local_health);
        let ms = |v: f64| Duration::from_millis(v.ceil() as u64);
        let interval =
            cfg.probe_interval_ms as f64 * (1.0 + health * cfg.awareness_interval_weight);
        let (_, ceiling) = cfg.suspicion_bounds(n);
        Timing {
            first_probe: ms((2 * (n - 1) - 1) as f64 * interval),
            probe: ms(interval),
            suspicion: ms(ceiling as f64 * (1.0 + health * cfg.awareness_suspicion_weight)),
            spread: ms(f64::from(cfg.retransmit_limit(n)) * cfg.gossip_interval_ms as f64),
        }
    }

    /// From a host's death until every survivor holds it dead: its next
    /// probe, that probe failing, the suspicion timing out, the
    /// verification probe failing, the death spreading.
    fn detection(&self) -> Duration {
        self.first_probe + self.probe + self.suspicion + self.probe + self.spread
    }

    /// The longest a suspicion begun by a probe now under way can last
    /// before it is refuted or believed everywhere.
    fn suspicion_end(&self) -> Duration {
        self.probe + self.suspicion + self.probe + self.spread
    }
}

/// Every liveness change, in host `i`'s event output from `from` on, that
/// takes one of `live` out of the cluster (to `dead`, or `left`).
fn false_deaths(c: &Cluster, i: usize, from: u64, live: &[usize]) -> (EventLog, Vec<String>) {
    let log = c.events(i, from);
    let bad = log
        .liveness
        .iter()
        .filter(|ch| live.iter().any(|j| Cluster::id(*j) == ch.peer))
        .filter(|ch| ch.to == "dead" || ch.to == "left")
        .map(|ch| format!("h{i}: {} {} -> {}", ch.peer, ch.from, ch.to))
        .collect();
    (log, bad)
}

#[test]
fn sigkill_three_of_eight_are_detected_without_false_deaths() {
    scenario("sigkill 3 of 8", sigkill_three_of_eight);
}

fn sigkill_three_of_eight() {
    let Some(mut c) = Cluster::start("sigkill", 8, &[]) else {
        return;
    };
    c.converge(CONVERGE)
        .unwrap_or_else(|| panic!("8 hosts did not converge; logs in {:?}", c.log_dir()));
    let timing = Timing::new(&c.membership_config(0), c.len());
    // The polling adds its period: a host may turn right after its view
    // was read, so up to two rounds of reading every view, plus the pause.
    let every = Duration::from_millis(250);
    let round = (0..3)
        .map(|_| {
            let t = Instant::now();
            c.views();
            t.elapsed()
        })
        .max()
        .expect("three rounds");
    let bound = timing.detection() + 2 * round + every;
    eprintln!(
        "detection bound {bound:?} = {timing:?} -> {:?} from the daemons' membership \
         configuration, + 2 x {round:?} (one round of views) + {every:?}",
        timing.detection()
    );
    let killed = [5, 6, 7];
    for i in killed {
        c.kill(i);
    }
    let survivors = [0, 1, 2, 3, 4];
    let took = c.wait_until(
        bound,
        every,
        |_, v| {
            killed
                .iter()
                .all(|j| v.get(&Cluster::id(*j)).map(String::as_str) == Some("dead"))
        },
        no_false_death(&survivors),
    );
    let took = took.unwrap_or_else(|| {
        panic!(
            "the killed hosts were not marked dead everywhere within {bound:?}: {:?}",
            c.views()
        )
    });
    eprintln!("3 killed hosts marked dead by all 5 survivors in {took:?} (bound {bound:?})");
    // And afterwards, still no survivor is declared dead.
    std::thread::sleep(Duration::from_secs(3));
    for (i, v) in c.views() {
        no_false_death(&survivors)(i, &v.expect("view"));
    }
    // No survivor's own event output, from its start on, ever shows
    // another survivor dead; and it shows every killed host dead (which
    // also proves the output is read).
    for i in survivors {
        let (log, bad) = false_deaths(&c, i, 0, &survivors);
        assert!(bad.is_empty(), "false deaths in h{i}'s events: {bad:?}");
        for j in killed {
            let id = Cluster::id(j);
            assert!(
                log.liveness
                    .iter()
                    .any(|ch| ch.peer == id && ch.to == "dead"),
                "h{i}'s events never show {id} dead: {:?}",
                log.liveness
            );
        }
    }
}

#[test]
fn partitioned_halves_remerge_after_heal() {
    scenario("4/4 partition and heal", partitioned_halves_remerge);
}

fn partitioned_halves_remerge() {
    if !netns::nft_or_skip() {
        return;
    }
    let Some(c) = Cluster::start("partition", 8, &[]) else {
        return;
    };
    c.converge(CONVERGE)
        .unwrap_or_else(|| panic!("8 hosts did not converge; logs in {:?}", c.log_dir()));
    c.lab
        .partition(&[0, 1, 2, 3], &[4, 5, 6, 7])
        .expect("partition");
    let cut = if quick() { 15 } else { 60 };
    std::thread::sleep(Duration::from_secs(cut));
    // During the cut each half sees the other as gone.
    let v0 = c.view(0).expect("h0 answers");
    assert_ne!(v0.get("h5").map(String::as_str), Some("alive"), "{v0:?}");
    c.lab.heal().expect("heal");
    let took = c
        .converge(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("not re-merged within 30 s of the heal: {:?}", c.views()));
    eprintln!("re-merged {took:?} after a {cut} s partition");
}

#[test]
fn twenty_percent_loss_causes_no_false_death() {
    scenario("20 % loss", twenty_percent_loss);
}

fn twenty_percent_loss() {
    if !netns::nft_or_skip() {
        return;
    }
    let Some(c) = Cluster::start("loss", 8, &[]) else {
        return;
    };
    c.converge(CONVERGE)
        .unwrap_or_else(|| panic!("8 hosts did not converge; logs in {:?}", c.log_dir()));
    let all: Vec<usize> = (0..8).collect();
    let timing = Timing::new(&c.membership_config(0), c.len());
    let from: Vec<u64> = all.iter().map(|i| c.events_len(*i)).collect();
    // 20 % of the packets each host sends are dropped, on every link.
    c.lab.set_egress_loss(20).expect("loss");
    let period = Duration::from_secs(if quick() { 30 } else { 180 });
    let check = no_false_death(&all);
    let start = Instant::now();
    let mut polls = 0;
    let mut answered = [0usize; 8];
    while start.elapsed() < period {
        for (i, v) in c.views() {
            // A host may miss a poll under loss; most must answer (below).
            if let Some(v) = v {
                check(i, &v);
                answered[i] += 1;
            }
        }
        polls += 1;
        std::thread::sleep(Duration::from_secs(2));
    }
    c.lab.set_egress_loss(0).expect("loss off");
    // A suspicion begun just before the end runs its course: refuted, or
    // believed (and then seen below).
    std::thread::sleep(timing.suspicion_end());
    for (i, v) in c.views() {
        check(
            i,
            &v.unwrap_or_else(|| panic!("h{i} does not answer after the loss")),
        );
    }
    let missed: Vec<String> = (0..8)
        .filter(|i| answered[*i] * 2 < polls)
        .map(|i| format!("h{i} answered {} of {polls}", answered[i]))
        .collect();
    assert!(
        missed.is_empty(),
        "hosts answered fewer than half of the polls under loss: {missed:?}"
    );
    // Every daemon's own event output over the loss period (and the
    // suspicion timeout after it): no live host ever went dead.
    let mut suspicions = 0;
    for (i, from) in from.iter().enumerate() {
        let (log, bad) = false_deaths(&c, i, *from, &all);
        assert!(log.events > 0, "h{i} printed no event in {:?}", c.log_dir());
        assert!(bad.is_empty(), "false deaths in h{i}'s events: {bad:?}");
        suspicions += log.liveness.iter().filter(|ch| ch.to == "suspect").count();
    }
    eprintln!(
        "{polls} polls over {period:?} at 20 % loss, answered {answered:?}; \
         {suspicions} suspicions (none believed); no false death in any view or event"
    );
}

#[test]
fn host_restarted_from_its_snapshot_rejoins_without_bootstrap_nodes() {
    scenario("restart from snapshot", restarted_from_snapshot_rejoins);
}

fn restarted_from_snapshot_rejoins() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fault-snapshot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let snap = dir.join("h3.json");
    let snap_arg = format!(
        "snapshot_path={}",
        serde_json::json!(snap.to_str().unwrap())
    );
    // Hosts 0 and 1 are the bootstrap nodes of everyone.
    let Some(mut c) = Cluster::start_with("snapshot", 4, |i| {
        if i == 3 {
            vec![
                "--set".into(),
                snap_arg.clone(),
                "--set".into(),
                "snapshot_interval_ms=500".into(),
            ]
        } else {
            Vec::new()
        }
    }) else {
        return;
    };
    c.converge(CONVERGE)
        .unwrap_or_else(|| panic!("4 hosts did not converge; logs in {:?}", c.log_dir()));
    c.stop(3); // SIGTERM: leaves and writes its snapshot
    assert!(snap.exists(), "no snapshot written");
    c.kill(0);
    c.kill(1);
    c.restart(3);
    let took = c
        .wait_until(
            Duration::from_secs(30),
            Duration::from_millis(250),
            |i, v| {
                let other = if i == 2 { "h3" } else { "h2" };
                v.get(other).map(String::as_str) == Some("alive")
            },
            |_, _| {},
        )
        .unwrap_or_else(|| panic!("h3 did not rejoin through h2: {:?}", c.views()));
    eprintln!("h3 rejoined from its snapshot in {took:?} with both bootstrap nodes gone");
}

#[test]
fn daemons_find_each_other_by_mdns_alone() {
    scenario("mDNS alone", mdns_alone);
}

fn mdns_alone() {
    let Some(c) = Cluster::start_mdns_only("mdns", 4) else {
        return;
    };
    let took = c.converge(Duration::from_secs(20)).unwrap_or_else(|| {
        panic!(
            "no mDNS convergence: {:?}; logs in {:?}",
            c.views(),
            c.log_dir()
        )
    });
    eprintln!("4 daemons found each other by mDNS alone in {took:?}");
}
