//! peerdisc and chitchat side by side (issue 4): the same scenario, on the
//! same machine, in one run of this binary.
//!
//! ```text
//! cargo run --release --manifest-path versus/Cargo.toml -- 20 50 100
//!     [--runs 3] [--loss 20] [--steady 10] [--interval 200] [--no-netns]
//! ```
//!
//! For each N: start N nodes seeded by node 0 and wait until every node
//! knows every other as alive; let it settle 2 s; count the bytes sent over
//! `--steady` seconds; start a joining node and time until all N know it
//! alive; kill one node (peerdisc: `abort`, chitchat: its server shut down;
//! neither says goodbye) and time until every other node holds it dead
//! (chitchat: out of `live_nodes`). All along, from the first convergence
//! on, every 100 ms, note each pair (observer, running node) where the
//! observer holds the running node dead: the false deaths.
//!
//! By default the process moves into a network namespace of its own (it
//! runs as root here), so that the loopback interface carries this
//! benchmark's traffic only and its counters can be read as the wire bytes.
//! `--loss P` drops P % of the packets arriving on that loopback (nftables),
//! for both systems: lost UDP datagrams for chitchat, lost TCP segments
//! (retransmitted by the kernel) for peerdisc.

mod cc;
mod pd;
mod sys;

use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The longest any wait lasts.
const LIMIT: Duration = Duration::from_secs(30);
/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(10);
/// How often the false-death sample is taken.
const SAMPLE: Duration = Duration::from_millis(100);
/// Quiet time between convergence and the traffic window.
const SETTLE: Duration = Duration::from_secs(2);

pub struct Options {
    pub interval_ms: u64,
    /// Loss injected by chitchat's counting transport, when the kernel
    /// cannot drop packets (no private namespace).
    pub transport_drop_pct: u32,
    steady: Duration,
    runs: usize,
    loss_pct: u32,
    /// Whether the loopback counters are this process's alone.
    private_lo: bool,
    /// Open files this process may hold (decides how many connections a
    /// peerdisc node may keep: see `pd::max_connections`).
    pub fd_limit: u64,
}

/// One system's side of the scenario.
pub trait Cluster: Sized {
    const NAME: &'static str;
    /// N nodes, every one seeded by node 0.
    fn start(n: usize, opts: &Options) -> Self;
    /// Every node knows every other one as alive.
    fn converged(&self) -> bool;
    /// Bytes sent by all nodes so far (application payload: WebSocket
    /// frames and UDP payloads for peerdisc, UDP payload for chitchat).
    fn bytes_sent(&self) -> u64;
    fn start_joiner(&mut self);
    fn joiner_known_by_all(&self) -> bool;
    /// Crash node `i`: no goodbye.
    fn kill(&mut self, i: usize);
    /// Every running node holds the killed one dead.
    fn victim_dead_at_all(&self) -> bool;
    /// Adds (observer, subject) pairs among the first N nodes, the killed
    /// one left out, where the observer holds the subject dead (or, for
    /// peerdisc, suspect).
    fn sample(&self, dead: &mut HashSet<(usize, usize)>, suspect: &mut HashSet<(usize, usize)>);
    fn shutdown(self);
}

#[derive(Clone, Debug, Default)]
struct Figures {
    /// Seconds; `None` when the wait hit `LIMIT`.
    converge: Option<f64>,
    join: Option<f64>,
    dead: Option<f64>,
    /// Application bytes per node per second.
    app_bps: f64,
    /// Loopback bytes and packets per node per second (headers and acks
    /// included).
    lo_bps: Option<f64>,
    lo_pps: Option<f64>,
    /// CPU cores busy during the traffic window (whole process).
    cpu: f64,
    /// The machine's load average at the end of the traffic window.
    load: f64,
    false_dead: usize,
    suspect: usize,
    /// Pairs first seen dead / suspect in each phase: settle and steady,
    /// join, kill.
    dead_by_phase: [usize; 3],
    suspect_by_phase: [usize; 3],
}

struct Sampler {
    dead: HashSet<(usize, usize)>,
    suspect: HashSet<(usize, usize)>,
    last: Instant,
    phase: usize,
    dead_by_phase: [usize; 3],
    suspect_by_phase: [usize; 3],
}

impl Sampler {
    fn tick<C: Cluster>(&mut self, c: &C, force: bool) {
        if force || self.last.elapsed() >= SAMPLE {
            let (d, s) = (self.dead.len(), self.suspect.len());
            c.sample(&mut self.dead, &mut self.suspect);
            self.dead_by_phase[self.phase] += self.dead.len() - d;
            self.suspect_by_phase[self.phase] += self.suspect.len() - s;
            self.last = Instant::now();
        }
    }

    /// Polls `cond` until it holds or `limit` passes, sampling on the way.
    fn wait<C: Cluster>(
        &mut self,
        c: &C,
        limit: Duration,
        cond: impl Fn(&C) -> bool,
    ) -> Option<f64> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if cond(c) {
                return Some(t.elapsed().as_secs_f64());
            }
            self.tick(c, false);
            std::thread::sleep(POLL);
        }
        None
    }

    fn idle<C: Cluster>(&mut self, c: &C, d: Duration) {
        let t = Instant::now();
        while t.elapsed() < d {
            self.tick(c, false);
            std::thread::sleep(POLL.min(d.saturating_sub(t.elapsed())));
        }
    }
}

fn wait_plain(limit: Duration, cond: impl Fn() -> bool) -> Option<f64> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if cond() {
            return Some(t.elapsed().as_secs_f64());
        }
        std::thread::sleep(POLL);
    }
    None
}

fn scenario<C: Cluster>(n: usize, opts: &Options) -> Figures {
    let mut c = C::start(n, opts);
    let converge = wait_plain(LIMIT, || c.converged());
    let mut s = Sampler {
        dead: HashSet::new(),
        suspect: HashSet::new(),
        last: Instant::now(),
        phase: 0,
        dead_by_phase: [0; 3],
        suspect_by_phase: [0; 3],
    };
    s.tick(&c, true);
    s.idle(&c, SETTLE);
    // Steady-state traffic.
    let b0 = c.bytes_sent();
    let lo0 = sys::loopback_tx();
    let cpu0 = sys::cpu_seconds();
    let t0 = Instant::now();
    s.idle(&c, opts.steady);
    let secs = t0.elapsed().as_secs_f64();
    let app_bps = (c.bytes_sent() - b0) as f64 / secs / n as f64;
    let (lo_bps, lo_pps) = match (opts.private_lo, lo0, sys::loopback_tx()) {
        (true, Some(a), Some(b)) => (
            Some(b.0.saturating_sub(a.0) as f64 / secs / n as f64),
            Some(b.1.saturating_sub(a.1) as f64 / secs / n as f64),
        ),
        _ => (None, None),
    };
    let cpu = (sys::cpu_seconds() - cpu0) / secs;
    let load = sys::load_average();
    // A joining node.
    s.phase = 1;
    c.start_joiner();
    let join = s.wait(&c, LIMIT, |c| c.joiner_known_by_all());
    // A killed node.
    s.phase = 2;
    let t = Instant::now();
    c.kill(n / 2);
    let dead = s
        .wait(&c, LIMIT.saturating_sub(t.elapsed()), |c| {
            c.victim_dead_at_all()
        })
        .map(|_| t.elapsed().as_secs_f64());
    s.tick(&c, true);
    let f = Figures {
        converge,
        join,
        dead,
        app_bps,
        lo_bps,
        lo_pps,
        cpu,
        load,
        false_dead: s.dead.len(),
        suspect: s.suspect.len(),
        dead_by_phase: s.dead_by_phase,
        suspect_by_phase: s.suspect_by_phase,
    };
    c.shutdown();
    f
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let k = xs.len();
    if k == 0 {
        f64::NAN
    } else if k % 2 == 1 {
        xs[k / 2]
    } else {
        (xs[k / 2 - 1] + xs[k / 2]) / 2.0
    }
}

/// Median over runs; a timed-out wait counts as infinite.
fn med_time(fs: &[Figures], get: fn(&Figures) -> Option<f64>) -> f64 {
    median(fs.iter().map(|f| get(f).unwrap_or(f64::INFINITY)).collect())
}

fn med(fs: &[Figures], get: fn(&Figures) -> f64) -> f64 {
    median(fs.iter().map(get).collect())
}

fn secs(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2} s")
    } else {
        format!("> {} s", LIMIT.as_secs())
    }
}

fn kb(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2} KB/s", x / 1024.0)
    } else {
        "n/a".to_string()
    }
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "n/a".to_string()
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn raw(name: &str, f: &Figures) {
    let t = |x: Option<f64>| x.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
    println!(
        "    {name:<8} converge {} s, join {} s, dead {} s, app {:.0} B/s/node, lo {} B/s/node in {} packets/s/node, cpu {:.2} cores, false deaths {} {:?}, suspect pairs {} {:?} (steady, join, kill), machine load {:.1}",
        t(f.converge),
        t(f.join),
        t(f.dead),
        f.app_bps,
        f.lo_bps.map(|x| format!("{x:.0}")).unwrap_or_else(|| "n/a".into()),
        f.lo_pps.map(|x| format!("{x:.0}")).unwrap_or_else(|| "n/a".into()),
        f.cpu,
        f.false_dead,
        f.dead_by_phase,
        f.suspect,
        f.suspect_by_phase,
        f.load
    );
}

fn report(n: usize, pd: &[Figures], cc: &[Figures]) {
    println!();
    println!(
        "N = {n}: median of {} run(s); ratio = peerdisc / chitchat",
        pd.len()
    );
    println!("| figure | peerdisc | chitchat 0.13 | ratio | goal | |\n|---|---|---|---|---|---|");
    let (pj, cj) = (med_time(pd, |f| f.join), med_time(cc, |f| f.join));
    println!(
        "| new node known by all | {} | {} | {} | ≤ 0.7x | {} |",
        secs(pj),
        secs(cj),
        ratio(pj, cj),
        verdict(pj <= 0.7 * cj)
    );
    let (pk, ck) = (med_time(pd, |f| f.dead), med_time(cc, |f| f.dead));
    println!(
        "| killed node dead at all | {} | {} | {} | ≤ 1.0x | {} |",
        secs(pk),
        secs(ck),
        ratio(pk, ck),
        verdict(pk <= ck)
    );
    let (pb, cb) = (med(pd, |f| f.app_bps), med(cc, |f| f.app_bps));
    println!(
        "| bytes per node per second (payload) | {} | {} | {} | ≤ 0.2x | {} |",
        kb(pb),
        kb(cb),
        ratio(pb, cb),
        verdict(pb <= 0.2 * cb)
    );
    let lo = |fs: &[Figures]| {
        median(
            fs.iter()
                .map(|f| f.lo_bps.unwrap_or(f64::NAN))
                .collect::<Vec<_>>(),
        )
    };
    let (pl, cl) = (lo(pd), lo(cc));
    if pl.is_finite() && cl.is_finite() {
        println!(
            "| bytes per node per second (loopback: IP/TCP/UDP headers, acks) | {} | {} | {} | ≤ 0.2x | {} |",
            kb(pl),
            kb(cl),
            ratio(pl, cl),
            verdict(pl <= 0.2 * cl)
        );
        let pps =
            |fs: &[Figures]| median(fs.iter().map(|f| f.lo_pps.unwrap_or(f64::NAN)).collect());
        let (pp, cp) = (pps(pd), pps(cc));
        println!(
            "| loopback packets per node per second | {pp:.0} | {cp:.0} | {} | — | |",
            ratio(pp, cp)
        );
    }
    // False deaths: summed over the runs, so that a rare one shows.
    let (pf, cf) = (
        pd.iter().map(|f| f.false_dead).sum::<usize>(),
        cc.iter().map(|f| f.false_dead).sum::<usize>(),
    );
    println!(
        "| false deaths, (observer, live node) pairs, all runs together | {pf} | {cf} | — | fewer | {} |",
        if pf < cf {
            "met"
        } else if pf == 0 && cf == 0 {
            "equal (none)"
        } else {
            "NOT met"
        }
    );
    println!(
        "| peerdisc suspect pairs (refutable), all runs together, of {} possible per run | {} | — | — | — | |",
        n * (n - 1),
        pd.iter().map(|f| f.suspect).sum::<usize>()
    );
    let (pc, cc2) = (med_time(pd, |f| f.converge), med_time(cc, |f| f.converge));
    println!(
        "| initial convergence (all know all) | {} | {} | {} | — | |",
        secs(pc),
        secs(cc2),
        ratio(pc, cc2)
    );
    let (pu, cu) = (med(pd, |f| f.cpu), med(cc, |f| f.cpu));
    println!(
        "| CPU in steady state, whole process | {pu:.2} cores | {cu:.2} cores | {} | — | |",
        ratio(pu, cu)
    );
}

fn usage() -> ! {
    eprintln!(
        "usage: versus [N ...] [--runs R] [--loss PCT] [--steady SECS] [--interval MS] [--no-netns]"
    );
    std::process::exit(2);
}

fn main() {
    let mut sizes = Vec::new();
    let mut runs = 1;
    let mut loss_pct = 0u32;
    let mut steady = 10u64;
    let mut interval_ms = 200u64;
    let mut netns = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let num = |args: &mut dyn Iterator<Item = String>| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--runs" => runs = num(&mut args).max(1) as usize,
            "--loss" => loss_pct = num(&mut args).min(100) as u32,
            "--steady" => steady = num(&mut args).max(1),
            "--interval" => interval_ms = num(&mut args).max(10),
            "--no-netns" => netns = false,
            _ => sizes.push(a.parse::<usize>().unwrap_or_else(|_| usage())),
        }
    }
    if sizes.is_empty() {
        sizes = vec![20, 50, 100];
    }
    // Before any thread starts: threads inherit the namespace.
    let private_lo = if netns {
        match sys::enter_private_netns() {
            Ok(()) => true,
            Err(e) => {
                eprintln!("no private network namespace ({e}); using the shared loopback");
                false
            }
        }
    } else {
        false
    };
    let mut transport_drop_pct = 0;
    let mut loss_how = "none".to_string();
    if loss_pct > 0 {
        match private_lo.then(|| sys::set_loopback_loss(loss_pct)) {
            Some(Ok(())) => {
                loss_how = format!(
                    "{loss_pct} % of the packets arriving on loopback dropped by nftables, both systems"
                )
            }
            other => {
                if let Some(Err(e)) = other {
                    eprintln!("nftables: {e}");
                }
                transport_drop_pct = loss_pct;
                loss_how = format!(
                    "{loss_pct} % of chitchat's datagrams dropped in its transport; NO loss for peerdisc (TCP on loopback)"
                );
            }
        }
    }
    let fd_limit = sys::raise_fd_limit();
    let opts = Options {
        fd_limit,
        interval_ms,
        transport_drop_pct,
        steady: Duration::from_secs(steady),
        runs,
        loss_pct,
        private_lo,
    };
    println!(
        "peerdisc vs chitchat 0.13: {} cores, gossip interval {interval_ms} ms (peerdisc probes at the same interval; chitchat phi 8, prior {interval_ms} ms, compressed digest), steady window {steady} s, {runs} run(s) per size, open-file limit {fd_limit}, peerdisc config: {}, loopback {}, loss: {loss_how}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if pd::full_mesh() {
            format!(
                "TUNED full mesh (VERSUS_FULL_MESH=1: connections per node at N = {}: {}, per-IP limit lifted)",
                sizes.iter().map(|n| n.to_string()).collect::<Vec<_>>().join("/"),
                sizes.iter().map(|&n| pd::max_connections(n, fd_limit).to_string()).collect::<Vec<_>>().join("/"),
            )
        } else if let Some(limit) = pd::per_ip() {
            format!("DEFAULT NodeConfig but the per-IP limit (VERSUS_PER_IP={limit}; ids and intervals aside; datagram path on)")
        } else {
            "DEFAULT NodeConfig (ids and intervals aside; datagram path on, default connection limits)".to_string()
        },
        if private_lo {
            "in a private network namespace"
        } else {
            "shared with the machine"
        }
    );
    let t_all = Instant::now();
    for &n in &sizes {
        let mut pd_runs = Vec::new();
        let mut cc_runs = Vec::new();
        for r in 0..opts.runs {
            println!("  N = {n}, run {}:", r + 1);
            // Alternate which system goes first.
            if r % 2 == 0 {
                pd_runs.push(scenario::<pd::Peerdisc>(n, &opts));
                raw(pd::Peerdisc::NAME, pd_runs.last().unwrap());
                cc_runs.push(scenario::<cc::Chitchat>(n, &opts));
                raw(cc::Chitchat::NAME, cc_runs.last().unwrap());
            } else {
                cc_runs.push(scenario::<cc::Chitchat>(n, &opts));
                raw(cc::Chitchat::NAME, cc_runs.last().unwrap());
                pd_runs.push(scenario::<pd::Peerdisc>(n, &opts));
                raw(pd::Peerdisc::NAME, pd_runs.last().unwrap());
            }
        }
        report(n, &pd_runs, &cc_runs);
        println!();
    }
    println!(
        "whole run: {:.0} s (loss setting {}%)",
        t_all.elapsed().as_secs_f64(),
        opts.loss_pct
    );
}
