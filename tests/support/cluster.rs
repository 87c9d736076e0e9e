//! A cluster of `peerdisc node` daemons, one process per network-namespace
//! host (see `netns.rs`), with the faults of the multi-host tests: SIGKILL,
//! graceful stop (SIGTERM), restart, partitions, packet loss, and each host's
//! peer table read with `peerdisc peers --json`.
//!
//! Daemon output goes to `target/tmp/fault-logs/<label>/`: each daemon runs
//! with `--json-events`, so its stdout, `h<i>.out`, holds every registry
//! event it sees as one JSON line (liveness changes included); its stderr
//! (log messages) goes to `h<i>.log`. Separate files, so that a log line can
//! never split an event line. A restarted daemon appends to both.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::netns::Lab;

pub const PORT: u16 = 7400;
const BIN: &str = env!("CARGO_BIN_EXE_peerdisc");

pub struct Cluster {
    pub lab: Lab,
    procs: Vec<Option<Child>>,
    /// Whether host `i`'s daemon was ever started (its log exists).
    launched: Vec<bool>,
    extra: Vec<Vec<String>>,
    logs: PathBuf,
    /// Whether daemons get hosts 0 and 1 as bootstrap nodes.
    bootstrap: bool,
}

/// What one host believes about the others: node id -> liveness.
pub type View = BTreeMap<String, String>;

/// One liveness change a daemon printed (`state_changed` event of kind
/// `liveness`): `peer` went from `from` to `to` in its registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivenessChange {
    pub peer: String,
    pub from: String,
    pub to: String,
}

/// What a stretch of a daemon's log holds: how many JSON event lines it
/// has, and the liveness changes among them, in order.
#[derive(Debug, Default)]
pub struct EventLog {
    pub events: usize,
    pub liveness: Vec<LivenessChange>,
}

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
            launched: vec![false; n],
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

    /// The `peerdisc node` arguments of host `i`'s daemon.
    fn daemon_args(&self, i: usize) -> Vec<String> {
        let mut args: Vec<String> = ["node", "--duration-secs", "1200", "--json-events"]
            .map(String::from)
            .to_vec();
        if !self.extra[i].iter().any(|a| a == "--mdns") {
            args.push("--no-mdns".into());
        }
        args.extend([
            "--node-id".into(),
            Self::id(i),
            "--listen".into(),
            format!("{}:{PORT}", self.lab.host(i).ip()),
        ]);
        if self.bootstrap {
            for seed in [0, 1] {
                if seed != i {
                    args.extend(["--bootstrap".into(), self.url(seed)]);
                }
            }
        }
        args.extend(self.extra[i].iter().cloned());
        args
    }

    /// Host `i`'s daemon's stdout (events) or stderr (log messages).
    fn out_path(&self, i: usize, stdout: bool) -> PathBuf {
        let ext = if stdout { "out" } else { "log" };
        self.logs.join(format!("h{i}.{ext}"))
    }

    fn launch(&mut self, i: usize) {
        // A first start begins fresh files; a restart appends to them.
        let open = |path: PathBuf| {
            if self.launched[i] {
                OpenOptions::new().append(true).open(&path)
            } else {
                File::create(&path)
            }
            .expect("daemon output file")
        };
        let (out, log) = (open(self.out_path(i, true)), open(self.out_path(i, false)));
        self.launched[i] = true;
        let mut cmd = Command::new(BIN);
        cmd.args(self.daemon_args(i))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log);
        self.procs[i] = Some(self.lab.host(i).spawn(cmd).expect("spawn daemon"));
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

    /// How long host `i`'s event output is now: an offset for
    /// [`events`](Self::events).
    pub fn events_len(&self, i: usize) -> u64 {
        std::fs::metadata(self.out_path(i, true)).map_or(0, |m| m.len())
    }

    /// The events host `i`'s daemon printed from byte `from` of its event
    /// output on (JSON lines; the one other line says where it listens).
    pub fn events(&self, i: usize, from: u64) -> EventLog {
        let text = std::fs::read(self.out_path(i, true)).expect("read daemon output");
        let from = (from as usize).min(text.len());
        let mut out = EventLog::default();
        for line in String::from_utf8_lossy(&text[from..]).lines() {
            let Ok(ev) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let Some(kind) = ev.get("type").and_then(|t| t.as_str()) else {
                continue;
            };
            out.events += 1;
            let change = &ev["change"];
            if kind == "state_changed" && change["kind"] == "liveness" {
                let s = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_string();
                out.liveness.push(LivenessChange {
                    peer: s(&ev["peer"]["node_id"]),
                    from: s(&change["from"]),
                    to: s(&change["to"]),
                });
            }
        }
        out
    }

    /// The membership configuration host `i`'s daemon runs with, as
    /// `peerdisc node --print-config` reports it for the same arguments.
    pub fn membership_config(&self, i: usize) -> peerdisc::membership::MembershipConfig {
        let out = Command::new(BIN)
            .args(self.daemon_args(i))
            .arg("--print-config")
            .stdin(Stdio::null())
            .output()
            .expect("peerdisc node --print-config");
        assert!(out.status.success(), "--print-config: {out:?}");
        let cfg: serde_json::Value = serde_json::from_slice(&out.stdout).expect("config JSON");
        serde_json::from_value(cfg["membership"].clone()).expect("membership config")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            self.kill(i);
        }
    }
}
