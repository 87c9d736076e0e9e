//! The `peerdisc` command: a node daemon answering `peerdisc peers`, and exit
//! codes with messages a user can act on.

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_peerdisc");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn daemon(args: &[&str]) -> Daemon {
    Daemon(
        Command::new(BIN)
            .arg("node")
            .args(args)
            .args(["--duration-secs", "60"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn peers_json(url: &str) -> Option<serde_json::Value> {
    let out = run(&["peers", url, "--json", "--timeout-ms", "1000"]);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

#[test]
fn peers_command_reads_a_running_nodes_table() {
    let (p1, p2) = (free_port(), free_port());
    let seed_url = format!("ws://127.0.0.1:{p1}/peerdisc");
    let _seed = daemon(&[
        "--listen",
        &format!("127.0.0.1:{p1}"),
        "--node-id",
        "seed",
        "--tool",
        "search",
    ]);
    let _worker = daemon(&[
        "--listen",
        &format!("127.0.0.1:{p2}"),
        "--node-id",
        "worker",
        "--agent",
        "planner",
        "--bootstrap",
        &seed_url,
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let table = loop {
        if let Some(t) = peers_json(&seed_url) {
            if t["peers"].as_array().is_some_and(|p| !p.is_empty()) {
                break t;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the seed never listed the worker"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(table["node_id"], "seed");
    let worker = &table["peers"][0];
    assert_eq!(worker["node_id"], "worker");
    assert_eq!(worker["liveness"], "alive");
    assert_eq!(worker["capabilities"]["agents"][0], "planner");
    // The table form names the columns and the peer.
    let out = run(&["peers", &seed_url]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NODE") && text.contains("HEALTH") && text.contains("worker"),
        "{text}"
    );
}

#[test]
fn exit_codes_and_messages() {
    // 5: nobody listens there.
    let port = free_port();
    let out = run(&[
        "peers",
        &format!("ws://127.0.0.1:{port}/peerdisc"),
        "--timeout-ms",
        "500",
    ]);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
    // 4: the listen port is taken.
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap().to_string();
    let out = run(&["node", "--listen", &addr, "--duration-secs", "1"]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&addr) && err.contains("in use"), "{err}");
    // 3: an unknown configuration item, an invalid bootstrap URL.
    let out = run(&["node", "--set", "membership.nope=1"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("membership.nope"));
    let out = run(&["node", "--bootstrap", "http://x:1"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bootstrap"));
    // 2: bad arguments (clap).
    let out = run(&["node", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    // --set reaches every item; --print-config shows the result.
    let out = run(&[
        "node",
        "--set",
        "membership.probe_interval_ms=300",
        "--print-config",
    ]);
    assert!(out.status.success());
    let cfg: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cfg["membership"]["probe_interval_ms"], 300);
}

#[test]
fn peers_on_a_keyed_node_needs_the_cluster_key() {
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}/peerdisc");
    let key = peerdisc::keyring::Keyring::key_text(&peerdisc::keyring::Keyring::generate_key());
    let _node = daemon(&[
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--cluster-key",
        &key,
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = run(&[
            "peers",
            &url,
            "--json",
            "--cluster-key",
            &key,
            "--timeout-ms",
            "1000",
        ]);
        if out.status.success() {
            let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(t["peers"].is_array());
            break;
        }
        assert!(Instant::now() < deadline, "the keyed node never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = run(&["peers", &url, "--timeout-ms", "1000"]);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cluster_key_required") && err.contains("--cluster-key"),
        "{err}"
    );
}
