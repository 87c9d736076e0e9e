//! A cluster of `peerdisc node` daemons, one process per network-namespace
//! host (see `netns.rs`), with the faults of the multi-host tests: SIGKILL,
//! graceful stop (SIGTERM), restart, partitions, packet loss, and each host's
//! peer table read with `peerdisc peers --json`.
//!
//! Daemon logs go to `target/fault-logs/<label>/h<i>.log`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::netns::Lab;

pub const PORT: u16 = 7400;
const BIN: &str = env!("CARGO_BIN_EXE_peerdisc");

pub struct Cluster {
    pub lab: Lab,
    procs: Vec<Option<Child>>,
    extra: Vec<Vec<String>>,
    logs: PathBuf,
    /// Whether daemons get hosts 0 and 1 as bootstrap nodes.
    bootstrap: bool,
}

/// What one host believes about the others: node id -> liveness.
pub type View = BTreeMap<String, String>;

impl Cluster {
    /// Starts `n` hosts, each running a daemon that bootstraps from hosts 0
    /// and 1. `None` (after a SKIPPED line) where namespaces are not
    /// available.
    pub fn start(label: &str, n: usize, extra: &[&str]) -> Option<Cluster> {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Self::start_with(label, n, |_| extra.clone())
    }

    /// Like [`start`](Self::start), with extra daemon arguments per host.
    pub fn start_with(
        label: &str,
        n: usize,
        extra: impl Fn(usize) -> Vec<String>,
    ) -> Option<Cluster> {
        Self::launch_all(label, n, extra, true)
    }

    /// Starts `n` hosts whose daemons find each other by mDNS alone: no
    /// bootstrap URL (`--mdns`; the daemons run inside the lab's namespaces,
    /// so multicast stays on the lab's bridge).
    pub fn start_mdns_only(label: &str, n: usize) -> Option<Cluster> {
        Self::launch_all(label, n, |_| vec!["--mdns".to_string()], false)
    }

    fn launch_all(
        label: &str,
        n: usize,
        extra: impl Fn(usize) -> Vec<String>,
        bootstrap: bool,
    ) -> Option<Cluster> {
        let lab = Lab::new(n)?;
        let logs = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("fault-logs")
            .join(label);
        std::fs::create_dir_all(&logs).expect("log dir");
        let mut c = Cluster {
            lab,
            procs: (0..n).map(|_| None).collect(),
            extra: (0..n).map(extra).collect(),
            logs,
            bootstrap,
        };
        for i in 0..n {
            c.launch(i);
        }
        Some(c)
    }

    pub fn len(&self) -> usize {
        self.procs.len()
    }

    pub fn id(i: usize) -> String {
        format!("h{i}")
    }

    fn url(&self, i: usize) -> String {
        format!("ws://{}:{PORT}/peerdisc", self.lab.host(i).ip())
    }

    fn launch(&mut self, i: usize) {
        let host = self.lab.host(i);
        let log = File::create(self.logs.join(format!("h{i}.log"))).expect("log file");
        let mut cmd = Command::new(BIN);
        cmd.args(["node", "--duration-secs", "1200"]);
        if !self.extra[i].iter().any(|a| a == "--mdns") {
            cmd.arg("--no-mdns");
        }
        cmd.args(["--node-id", &Self::id(i)])
            .args(["--listen", &format!("{}:{PORT}", host.ip())]);
        if self.bootstrap {
            for seed in [0, 1] {
                if seed != i {
                    cmd.args(["--bootstrap", &self.url(seed)]);
                }
            }
        }
        cmd.args(&self.extra[i])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        self.procs[i] = Some(host.spawn(cmd).expect("spawn daemon"));
    }

    /// SIGKILL: the host vanishes without a word.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i].take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// SIGTERM: the daemon leaves gracefully. Waits (bounded) for it to exit.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i].take() {
            // SAFETY: signalling a child process we started, by its pid.
            unsafe {
                libc::kill(p.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = p.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = p.kill();
            let _ = p.wait();
            panic!("h{i} did not exit within 5 s of SIGTERM");
        }
    }

    /// Starts host `i`'s daemon again (same id, same address).
    pub fn restart(&mut self, i: usize) {
        assert!(self.procs[i].is_none(), "h{i} is running");
        self.launch(i);
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.procs[i].is_some()
    }

    /// Host `i`'s peer table, read with `peerdisc peers --json` from inside
    /// its namespace. `None` if it did not answer.
    pub fn view(&self, i: usize) -> Option<View> {
        let url = self.url(i);
        let out = self
            .lab
            .host(i)
            .exec(&[BIN, "peers", &url, "--json", "--timeout-ms", "2000"])
            .ok()?;
        let v: serde_json::Value = serde_json::from_str(out.trim()).ok()?;
        let peers = v.get("peers")?.as_array()?;
        Some(
            peers
                .iter()
                .filter_map(|p| {
                    Some((
                        p.get("node_id")?.as_str()?.to_string(),
                        p.get("liveness")?.as_str()?.to_string(),
                    ))
                })
                .collect(),
        )
    }

    /// Views of every running host (`None` for a host that did not answer).
    pub fn views(&self) -> Vec<(usize, Option<View>)> {
        (0..self.len())
            .filter(|i| self.is_running(*i))
            .map(|i| (i, self.view(i)))
            .collect()
    }

    /// Polls every `every` until `cond` holds for all running hosts' views,
    /// or `limit` passes. `check` runs on every poll and may panic (an
    /// invariant). Returns the time it took, or `None`.
    pub fn wait_until(
        &self,
        limit: Duration,
        every: Duration,
        mut cond: impl FnMut(usize, &View) -> bool,
        mut check: impl FnMut(usize, &View),
    ) -> Option<Duration> {
        let start = Instant::now();
        loop {
            let views = self.views();
            let mut all = true;
            for (i, v) in &views {
                match v {
                    Some(v) => {
                        check(*i, v);
                        all &= cond(*i, v);
                    }
                    None => all = false,
                }
            }
            if all {
                return Some(start.elapsed());
            }
            if start.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(every);
        }
    }

    /// Waits until every running host lists every other running host alive.
    pub fn converge(&self, limit: Duration) -> Option<Duration> {
        let running: Vec<String> = (0..self.len())
            .filter(|i| self.is_running(*i))
            .map(Self::id)
            .collect();
        self.wait_until(
            limit,
            Duration::from_millis(250),
            |i, v| {
                running
                    .iter()
                    .filter(|id| **id != Self::id(i))
                    .all(|id| v.get(id).map(String::as_str) == Some("alive"))
            },
            |_, _| {},
        )
    }

    pub fn log_dir(&self) -> &PathBuf {
        &self.logs
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            self.kill(i);
        }
    }
}
