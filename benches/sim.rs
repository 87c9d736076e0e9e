//! The membership simulator's scenarios, printed with their figures.
//!
//! `cargo bench --bench sim` runs the full set (N up to 10,000);
//! `PEERDISC_SIM_QUICK=1 cargo bench --bench sim` (or `-- --quick`) runs a
//! small, fast version of each scenario.
//! `PEERDISC_SIM_ONLY=join,steady,failure,loss10,loss50,partition,signed`
//! picks scenarios; `signed` repeats the join and steady-state runs with
//! Ed25519 identities (key-derived ids, signed records, every accepted
//! record verified) beside the unsigned ones.

use std::time::Instant;

use peerdisc::membership::MembershipConfig;
use peerdisc::sim::scenario;

fn main() {
    let quick = std::env::var("PEERDISC_SIM_QUICK").is_ok_and(|v| v != "0")
        || std::env::args().any(|a| a == "--quick");
    let only = std::env::var("PEERDISC_SIM_ONLY").unwrap_or_default();
    let run = |name: &str| only.is_empty() || only.split(',').any(|o| o == name);
    let m = MembershipConfig::default();
    let seed = 42;
    let started = Instant::now();
    println!(
        "peerdisc membership simulator ({} mode): gossip {} ms, fanout {}, probe {} ms",
        if quick { "quick" } else { "full" },
        m.gossip_interval_ms,
        m.fanout,
        m.probe_interval_ms
    );
    let timed = |label: &str, f: &mut dyn FnMut() -> String| {
        let t = Instant::now();
        let line = f();
        println!(
            "{line}   [{label}: {:.1} s wall]",
            t.elapsed().as_secs_f64()
        );
    };

    if run("join") {
        let sizes: &[usize] = if quick { &[200] } else { &[1_000, 10_000] };
        for &n in sizes {
            for loss in [0.0, 0.1] {
                timed("join", &mut || {
                    scenario::join_convergence(n, loss, seed, &m, false).to_string()
                });
            }
        }
    }
    if run("steady") {
        let sizes: &[usize] = if quick { &[50] } else { &[20, 50, 100, 1_000] };
        for &n in sizes {
            timed("steady", &mut || {
                scenario::steady_bandwidth(n, seed, &m, false).to_string()
            });
        }
    }
    if run("signed") {
        let sizes: &[usize] = if quick { &[200] } else { &[1_000, 10_000] };
        for &n in sizes {
            for loss in [0.0, 0.1] {
                for signed in [false, true] {
                    timed("signed", &mut || {
                        let r = scenario::join_convergence(n, loss, seed, &m, signed);
                        format!("{} {r}", if signed { "signed  " } else { "unsigned" })
                    });
                }
            }
        }
        let sizes: &[usize] = if quick { &[50] } else { &[100, 1_000] };
        for &n in sizes {
            for signed in [false, true] {
                timed("signed", &mut || {
                    let r = scenario::steady_bandwidth(n, seed, &m, signed);
                    format!("{} {r}", if signed { "signed  " } else { "unsigned" })
                });
            }
        }
        // Under loss: suspicions and their (signed) refutations.
        let n = if quick { 50 } else { 100 };
        for signed in [false, true] {
            timed("signed", &mut || {
                let r = scenario::steady_bandwidth_at(n, 0.1, seed, &m, signed);
                format!(
                    "{} loss=10% {r}",
                    if signed { "signed  " } else { "unsigned" }
                )
            });
        }
    }
    if run("failure") {
        let (n, crashes, seeds) = if quick { (50, 3, 1) } else { (100, 9, 5) };
        let mut all = Vec::new();
        for k in 0..seeds {
            timed("failure", &mut || {
                let r = scenario::failure_detection(n, 0.0, 10_000, crashes, seed + k, &m);
                all.extend(r.detection_ms.iter().copied());
                r.to_string()
            });
        }
        println!(
            "failure N={n} loss=0%: pooled over {} crashes ({} seeds): median {:.2} s",
            all.len(),
            seeds,
            scenario::median(&all).unwrap_or(u64::MAX) as f64 / 1000.0
        );
    }
    if run("loss10") {
        let (n, quiet) = if quick {
            (100, 20_000)
        } else {
            (1_000, 600_000)
        };
        timed("loss10", &mut || {
            scenario::failure_detection(n, 0.1, quiet, 3, seed, &m).to_string()
        });
    }
    if run("loss50") {
        // N=1,000 at 50 % loss is mass suspicion (every node is suspected
        // every few seconds): it takes about 6 minutes of wall time, so it
        // runs only when asked (PEERDISC_SIM_ONLY=loss50big).
        let (n, crashes) = if quick { (100, 3) } else { (100, 9) };
        timed("loss50", &mut || {
            scenario::failure_detection(n, 0.5, 30_000, crashes, seed, &m).to_string()
        });
    }
    if !only.is_empty() && only.split(',').any(|o| o == "loss50big") {
        timed("loss50big", &mut || {
            scenario::failure_detection(1_000, 0.5, 30_000, 5, seed, &m).to_string()
        });
    }
    if run("partition") {
        let n = if quick { 100 } else { 1_000 };
        timed("partition", &mut || {
            scenario::partition_remerge(n, 30_000, seed, &m).to_string()
        });
    }
    println!("total wall time {:.1} s", started.elapsed().as_secs_f64());
}
