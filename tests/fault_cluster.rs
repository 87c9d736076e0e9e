//! Multi-host fault scenarios: 8 hosts in network namespaces, each running
//! the `peerdisc node` daemon as its own process.
//!
//! - SIGKILL 3 of 8: every survivor marks them dead within the bound and
//!   never marks a survivor dead.
//! - A 4/4 partition for 60 s, then heal: every host lists all 8 alive again
//!   within 30 s, with no help from outside.
//! - 20 % packet loss on every link for 3 minutes: no host marks a live host
//!   dead.
//! - A host restarted from its snapshot, with its bootstrap nodes gone,
//!   rejoins through the peers it knew.
//! - Four daemons with mDNS on and no bootstrap URL find each other.
//!
//! Needs root (network namespaces); without it each test prints SKIPPED.
//! `PEERDISC_FAULT_QUICK=1` shortens the partition to 15 s and the loss
//! period to 30 s for a quick local run.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/netns.rs"]
mod netns;

use std::time::Duration;

use cluster::{Cluster, View};

const CONVERGE: Duration = Duration::from_secs(30);

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

#[test]
fn sigkill_three_of_eight_are_detected_without_false_deaths() {
    let Some(mut c) = Cluster::start("sigkill", 8, &[]) else {
        return;
    };
    c.converge(CONVERGE)
        .unwrap_or_else(|| panic!("8 hosts did not converge; logs in {:?}", c.log_dir()));
    for i in [5, 6, 7] {
        c.kill(i);
    }
    let survivors = [0, 1, 2, 3, 4];
    let took = c.wait_until(
        Duration::from_secs(10),
        Duration::from_millis(250),
        |_, v| {
            [5, 6, 7]
                .iter()
                .all(|j| v.get(&Cluster::id(*j)).map(String::as_str) == Some("dead"))
        },
        no_false_death(&survivors),
    );
    let took = took.unwrap_or_else(|| {
        panic!(
            "the killed hosts were not marked dead everywhere within 10 s: {:?}",
            c.views()
        )
    });
    eprintln!("3 killed hosts marked dead by all 5 survivors in {took:?}");
    // And afterwards, still no survivor is declared dead.
    std::thread::sleep(Duration::from_secs(3));
    for (i, v) in c.views() {
        no_false_death(&survivors)(i, &v.expect("view"));
    }
}

#[test]
fn partitioned_halves_remerge_after_heal() {
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
    let Some(c) = Cluster::start("loss", 8, &[]) else {
        return;
    };
    c.converge(CONVERGE)
        .unwrap_or_else(|| panic!("8 hosts did not converge; logs in {:?}", c.log_dir()));
    // 20 % of the packets each host sends are dropped, on every link.
    c.lab.set_egress_loss(20).expect("loss");
    let period = Duration::from_secs(if quick() { 30 } else { 180 });
    let all: Vec<usize> = (0..8).collect();
    let check = no_false_death(&all);
    let start = std::time::Instant::now();
    let mut polls = 0;
    while start.elapsed() < period {
        for (i, v) in c.views() {
            // A host may not answer a poll in time under loss; that is fine.
            if let Some(v) = v {
                check(i, &v);
            }
        }
        polls += 1;
        std::thread::sleep(Duration::from_secs(2));
    }
    c.lab.set_egress_loss(0).expect("loss off");
    eprintln!("{polls} polls over {period:?} at 20 % loss: no false death");
}

#[test]
fn host_restarted_from_its_snapshot_rejoins_without_bootstrap_nodes() {
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
