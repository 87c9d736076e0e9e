//! The membership simulator's scenarios, printed with their figures.
//!
//! `cargo bench --bench sim` runs the full set (N up to 10,000);
//! `PEERDISC_SIM_QUICK=1 cargo bench --bench sim` (or `-- --quick`) runs a
//! small, fast version of each scenario.
//! `PEERDISC_SIM_ONLY=join,join50,steady,failure,loss10,loss50,partition,signed,cold`
//! picks scenarios (opt-in, slow: `join50big`, `loss10seeds`, `loss50big`, `loss50huge`,
//! `health`, `cold10k`: the cold start at N = 10,000, `coldspread`: cold
//! starts at N = 100 and 200 with the starts spread over 0 / 300 / 900 ms,
//! as the daemon bench's processes); `signed` repeats the
//! join and steady-state runs with Ed25519 identities (key-derived ids,
//! signed records, every accepted record verified) beside the unsigned
//! ones. `PEERDISC_SIM_MAX_N=1000` leaves out the 10,000-node joins.

use std::time::Instant;

use peerdisc::membership::MembershipConfig;
use peerdisc::sim::scenario;

fn main() {
    let quick = std::env::var("PEERDISC_SIM_QUICK").is_ok_and(|v| v != "0")
        || std::env::args().any(|a| a == "--quick");
    let only = std::env::var("PEERDISC_SIM_ONLY").unwrap_or_default();
    let run = |name: &str| only.is_empty() || only.split(',').any(|o| o == name);
    // PEERDISC_SIM_MAX_N=1000 skips the larger clusters (a 10,000-node
    // converged cluster takes about 9 GB).
    let max_n: usize = std::env::var("PEERDISC_SIM_MAX_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let m = MembershipConfig::default();
    // PEERDISC_SIM_SEED=43 runs the same scenarios with another seed.
    let seed: u64 = std::env::var("PEERDISC_SIM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(42);
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
        for &n in sizes.iter().filter(|&&n| n <= max_n) {
            for loss in [0.0, 0.1] {
                timed("join", &mut || {
                    scenario::join_convergence(n, loss, seed, &m, false).to_string()
                });
            }
        }
    }
    if run("join50") || only.split(',').any(|o| o == "join50big") {
        // 50 % loss (issue 15): N=1,000 by default, N=10,000 when asked
        // (PEERDISC_SIM_ONLY=join50big: minutes of wall time, ~9 GB).
        let sizes: Vec<usize> = if quick {
            vec![200]
        } else if run("join50") {
            vec![1_000]
        } else {
            vec![10_000]
        };
        for n in sizes {
            timed("join50", &mut || {
                scenario::join_convergence(n, 0.5, seed, &m, false).to_string()
            });
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
    if only.split(',').any(|o| o == "loss10seeds") {
        // Crash detection at 10 % loss, N = 1,000, pooled over five seeds
        // (one seed's three crashes hide a tail: issue 15).
        let mut all = Vec::new();
        let mut maxima = Vec::new();
        for k in 0..5 {
            timed("loss10seeds", &mut || {
                let r = scenario::failure_detection(1_000, 0.1, 30_000, 3, seed + k, &m);
                maxima.push(r.detection_ms.iter().copied().max().flatten());
                all.extend(r.detection_ms.iter().copied());
                r.to_string()
            });
        }
        let max = all
            .iter()
            .copied()
            .collect::<Option<Vec<_>>>()
            .and_then(|v| v.into_iter().max());
        let fmt_secs = |t: Option<u64>| {
            t.map_or_else(
                || "never".to_string(),
                |t| format!("{:.2} s", t as f64 / 1000.0),
            )
        };
        println!(
            "loss10seeds N=1000 loss=10%: pooled over {} crashes (seeds {}-{}): median {}, max {}, per-seed maxima {:?}",
            all.len(),
            seed,
            seed + 4,
            fmt_secs(scenario::median(&all)),
            fmt_secs(max),
            maxima.iter().map(|m| fmt_secs(*m)).collect::<Vec<_>>()
        );
    }
    if run("loss50") {
        // 60 quiet seconds at 50 % loss, then crashes (issue 15).
        let (n, crashes, quiet) = if quick {
            (100, 3, 20_000)
        } else {
            (100, 9, 60_000)
        };
        timed("loss50", &mut || {
            scenario::failure_detection(n, 0.5, quiet, crashes, seed, &m).to_string()
        });
    }
    let asked = |name: &str| only.split(',').any(|o| o == name);
    if asked("loss50big") {
        timed("loss50big", &mut || {
            scenario::failure_detection(1_000, 0.5, 60_000, 5, seed, &m).to_string()
        });
    }
    if asked("loss50huge") {
        // N=10,000 at 50 % loss: about 9 GB and many minutes of wall time.
        timed("loss50huge", &mut || {
            scenario::failure_detection(10_000, 0.5, 10_000, 3, seed, &m).to_string()
        });
    }
    if asked("health") {
        // Lifeguard's local health on the probe interval, measured: the
        // same runs with awareness_interval_weight 0 (default), 0.5 and 1.
        for (n, loss, quiet, crashes) in [
            (100, 0.0, 10_000, 9),
            (100, 0.5, 30_000, 9),
            (1_000, 0.5, 30_000, 5),
        ] {
            for w in [0.0, 0.5, 1.0] {
                let mc = MembershipConfig {
                    awareness_interval_weight: w,
                    ..m.clone()
                };
                timed("health", &mut || {
                    let r = scenario::failure_detection(n, loss, quiet, crashes, seed, &mc);
                    format!("interval weight {w}: {r}")
                });
            }
        }
    }
    if run("cold") {
        // Every node starts at once through one seed (a fleet restart).
        let n = if quick { 200 } else { 1_000 };
        for loss in [0.0, 0.1] {
            timed("cold", &mut || {
                scenario::cold_start(n, loss, 1, seed, &m, 600_000).to_string()
            });
        }
    }
    if !only.is_empty() && only.split(',').any(|o| o == "coldspread") {
        // Starts spread as the daemon bench's 100 processes (about 0.9 s).
        for n in [100, 200] {
            for spread in [0, 300, 900] {
                timed("coldspread", &mut || {
                    scenario::cold_start_spread(n, 0.0, 1, spread, seed, &m, 120_000).to_string()
                });
            }
        }
    }
    if !only.is_empty() && only.split(',').any(|o| o == "cold10k") {
        timed("cold10k", &mut || {
            scenario::cold_start(10_000, 0.0, 1, seed, &m, 120_000).to_string()
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
