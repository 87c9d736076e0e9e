//! Interoperability with an independent DNS-SD implementation:
//! python-zeroconf (PyPI `zeroconf`, pinned to [`ZEROCONF_VERSION`]), run
//! from scripts in `support/zeroconf/` inside namespace hosts of the lab.
//!
//! The test sets up a virtual environment in `target/zeroconf-venv` (once;
//! reused while it imports the pinned `zeroconf` release). Without root, or when the venv or
//! PyPI is unavailable, the tests print a `SKIPPED:` line; with
//! `PEERDISC_NETNS_REQUIRE=1` (CI) they fail instead.

#![cfg(feature = "mdns")]

#[path = "support/netns.rs"]
mod netns;

#[path = "support/mdns_hosts.rs"]
mod mdns_hosts;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mdns_hosts::{assert_no_mdns_threads, knows, mdns_config, start_node, wait_event, wait_until};
use peerdisc::node::NodeEvent;

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `cmd` to completion within `timeout` (killed after it).
fn run_bounded(mut cmd: Command, timeout: Duration) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{shown}: {e}"))?;
    let stderr = child.stderr.take();
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = stderr {
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
        }
        s
    });
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let e = err.join().unwrap_or_default();
                let tail: String = e.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                return Err(format!("{shown}: {status}: {tail}"));
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{shown}: no result within {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("{shown}: {e}")),
        }
    }
}

/// The python-zeroconf release the tests run against (pinned, so that a
/// new release cannot change what they exercise).
const ZEROCONF_VERSION: &str = "0.154.0";

/// The venv's python with `zeroconf` [`ZEROCONF_VERSION`] importable,
/// created on first use.
fn venv_python() -> Result<PathBuf, String> {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PY.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/zeroconf-venv");
        let py = dir.join("bin/python");
        let works = |py: &Path| {
            let mut c = Command::new(py);
            c.args([
                "-c",
                &format!("import zeroconf; assert zeroconf.__version__ == {ZEROCONF_VERSION:?}"),
            ]);
            run_bounded(c, Duration::from_secs(30)).is_ok()
        };
        if py.exists() && works(&py) {
            return Ok(py);
        }
        let mut c = Command::new("python3");
        c.args(["-m", "venv"]).arg(&dir);
        run_bounded(c, Duration::from_secs(120)).map_err(|e| format!("python3 -m venv: {e}"))?;
        let mut c = Command::new(&py);
        c.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("zeroconf=={ZEROCONF_VERSION}"),
        ]);
        run_bounded(c, Duration::from_secs(300))
            .map_err(|e| format!("pip install zeroconf=={ZEROCONF_VERSION}: {e}"))?;
        if works(&py) {
            Ok(py)
        } else {
            Err(format!(
                "zeroconf {ZEROCONF_VERSION} does not import after pip install"
            ))
        }
    })
    .clone()
}

/// Prints the skip line (or fails under `PEERDISC_NETNS_REQUIRE`).
fn python_or_skip() -> Option<PathBuf> {
    match venv_python() {
        Ok(p) => Some(p),
        Err(e) => {
            netns::skip(&format!("python-zeroconf unavailable: {e}"));
            None
        }
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support/zeroconf")
        .join(name)
}

/// A python script running in a host, its stdout lines on a channel.
struct Py {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Py {
    fn start(host: &netns::Host, python: &Path, script_name: &str, args: &[String]) -> Py {
        let mut cmd = Command::new(python);
        cmd.arg("-u")
            .arg(script(script_name))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = host.spawn(cmd).expect("start python in the host");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Py { child, lines }
    }

    /// The next line matching `pred` within `timeout`.
    fn wait_line(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        for _ in 0..10_000 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// Closes stdin (the publisher unregisters and exits), waits a bounded
    /// time, then kills.
    fn finish(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn peerdisc_finds_a_node_through_a_zeroconf_announcement() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(lab) = netns::Lab::new(3) else {
        return;
    };
    let Some(python) = python_or_skip() else {
        return;
    };
    // The target: a peerdisc node with mDNS off and no bootstrap.
    let mut cfg = mdns_config(lab.host(0), "target");
    cfg.enable_mdns = false;
    let target = start_node(lab.host(0), cfg);
    let port = target.address().port();
    let ip0 = lab.host(0).ip();
    let ip1 = lab.host(1).ip();
    // python-zeroconf on another host announces it, plus a ghost with
    // nothing behind its port, a service of another type and one with a
    // TXT record that is not peerdisc's.
    let ty = "_peerdisc._tcp.local.";
    let services = [
        format!("{ty}|foreign-target|{ip0}|{port}|id=target,pv=1,wsport={port},path=/peerdisc,caps=t/search"),
        format!("{ty}|ghost|{ip1}|9|id=ghost,pv=1,wsport=9,path=/peerdisc"),
        format!("_http._tcp.local.|web-page|{ip1}|80|path=/"),
        format!("{ty}|not-peerdisc|{ip1}|8080|hello=world"),
    ];
    let args: Vec<String> = services
        .iter()
        .flat_map(|s| ["--service".to_string(), s.clone()])
        .chain(["--seconds".into(), "60".into()])
        .collect();
    let publisher = Py::start(lab.host(1), &python, "publish.py", &args);
    assert!(
        publisher
            .wait_line(Duration::from_secs(20), |l| l == "READY")
            .is_some(),
        "the zeroconf publisher did not start"
    );
    // The finder: mDNS on, nothing else.
    let finder = start_node(lab.host(2), mdns_config(lab.host(2), "finder"));
    let took = wait_until(Duration::from_secs(15), || knows(&finder, "target"));
    assert!(took.is_some(), "finder knows {:?}", finder.peers());
    // The target learned the finder from the hello, too.
    assert!(wait_until(Duration::from_secs(5), || knows(&target, "finder")).is_some());
    let mut seen = Vec::new();
    let candidate = |e: &NodeEvent| {
        matches!(e, NodeEvent::MdnsCandidate { node_id, txt, address }
            if node_id.as_str() == "target"
                && txt.get("id").map(String::as_str) == Some("target")
                && txt.get("caps").map(String::as_str) == Some("t/search")
                && address.port() == port)
    };
    assert!(
        wait_event(&finder, &mut seen, Duration::from_secs(5), candidate),
        "{seen:?}"
    );
    assert!(
        wait_event(&finder, &mut seen, Duration::from_secs(5), |e| matches!(
            e,
            NodeEvent::MdnsPeerConfirmed { node_id, .. } if node_id.as_str() == "target"
        )),
        "{seen:?}"
    );
    // The ghost is a candidate that failed the hello, never a peer.
    assert!(
        wait_event(&finder, &mut seen, Duration::from_secs(10), |e| matches!(
            e,
            NodeEvent::MdnsCandidateFailed { node_id, .. } if node_id.as_str() == "ghost"
        )),
        "{seen:?}"
    );
    assert!(!knows(&finder, "ghost"));
    assert!(finder.registry().get("ghost").is_none());
    // Other types and foreign TXT records are ignored without error.
    wait_event(&finder, &mut seen, Duration::from_millis(500), |_| false);
    for e in &seen {
        match e {
            NodeEvent::MdnsCandidate { node_id, .. } => {
                assert!(["target", "ghost"].contains(&node_id.as_str()), "{e:?}")
            }
            NodeEvent::MdnsUnavailable { .. } => panic!("{e:?}"),
            _ => {}
        }
    }
    assert_eq!(finder.peers().len(), 1, "{:?}", finder.peers());
    publisher.finish();
    finder.stop().unwrap();
    target.stop().unwrap();
    assert_no_mdns_threads();
}

#[test]
fn a_zeroconf_browser_sees_a_peerdisc_node() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(lab) = netns::Lab::new(2) else {
        return;
    };
    let Some(python) = python_or_skip() else {
        return;
    };
    let mut cfg = mdns_config(lab.host(0), "published-node");
    cfg.capabilities
        .tools
        .push(peerdisc::Capability::new("search"));
    cfg.capabilities
        .agents
        .push(peerdisc::Capability::new("planner"));
    let node = start_node(lab.host(0), cfg);
    let port = node.address().port();
    let args: Vec<String> = ["--name", "published-node", "--seconds", "15"]
        .map(String::from)
        .to_vec();
    let browser = Py::start(lab.host(1), &python, "browse.py", &args);
    let line = browser.wait_line(Duration::from_secs(20), |l| {
        l.starts_with('{') && l.contains("published-node")
    });
    let line = line.expect("python-zeroconf did not resolve the peerdisc service");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["name"], "published-node._peerdisc._tcp.local.");
    assert_eq!(v["port"], port);
    assert_eq!(v["addresses"][0], lab.host(0).ip().to_string());
    let txt = &v["txt"];
    assert_eq!(txt["id"], "published-node");
    assert_eq!(txt["pv"], "1");
    assert_eq!(txt["wsport"], port.to_string());
    assert_eq!(txt["path"], "/peerdisc");
    assert_eq!(txt["caps"], "a/planner,t/search");
    let _ = std::io::stderr().flush();
    browser.finish();
    node.stop().unwrap();
    assert_no_mdns_threads();
}
