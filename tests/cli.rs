//! The `peerdisc` command: a node daemon answering `peerdisc peers`, and exit
//! codes with messages a user can act on.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::thread::JoinHandle;
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

/// A `peerdisc node` process (killed on drop), and the lines it prints.
struct Daemon {
    child: Child,
    lines: Receiver<String>,
    reader: Option<JoinHandle<()>>,
}

impl Daemon {
    /// Waits (bounded) for a printed line that satisfies `want`; returns
    /// it, or panics with every line printed so far.
    fn expect_line(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if want(&line) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!("no line {what} within 20 s; printed: {seen:#?}"),
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The pipe closes with the process: the reader ends.
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

fn daemon(args: &[&str]) -> Daemon {
    let mut child = Command::new(BIN)
        .arg("node")
        .args(args)
        .args(["--duration-secs", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, lines) = channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Daemon {
        child,
        lines,
        reader: Some(reader),
    }
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
    let worker_url = format!("ws://127.0.0.1:{p2}/peerdisc");
    let seed = daemon(&[
        "--listen",
        &format!("127.0.0.1:{p1}"),
        "--node-id",
        "seed",
        "--tool",
        "search",
    ]);
    let worker = daemon(&[
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
    // Both print that they listen, and their peer events as they happen.
    seed.expect_line("saying the seed listens", |l| {
        l == format!("peerdisc node seed listening at {seed_url}")
    });
    worker.expect_line("saying the worker listens", |l| {
        l == format!("peerdisc node worker listening at {worker_url}")
    });
    let added = seed.expect_line("reporting the worker added", |l| l.starts_with("added"));
    assert_eq!(
        added.split_whitespace().collect::<Vec<_>>(),
        ["added", "worker", "at", worker_url.as_str()]
    );
    worker.expect_line("reporting the seed added", |l| {
        l.split_whitespace().collect::<Vec<_>>() == ["added", "seed", "at", seed_url.as_str()]
    });
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
fn stats_lines_are_printed_on_a_schedule_and_at_the_stop() {
    let addr = format!("127.0.0.1:{}", free_port());
    let out = run(&[
        "node",
        "--listen",
        &addr,
        "--json-events",
        "--stats-every-secs",
        "1",
        "--duration-secs",
        "3",
    ]);
    assert!(out.status.success(), "{out:?}");
    let stats: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "stats")
        .collect();
    // About one a second for 3 s, and one more at the stop.
    assert!((3..=5).contains(&stats.len()), "{stats:?}");
    let last = stats.last().unwrap();
    assert_eq!(last["running"], true);
    assert!(last["node_id"]
        .as_str()
        .is_some_and(|id| id.starts_with("pd1")));
    assert!(last["sent"].is_object(), "{last}");
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
    // 2: bad arguments (clap), a URL that is not ws:// among them.
    let out = run(&["node", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["peers", "http://127.0.0.1:7400/"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("http://127.0.0.1:7400/") && err.contains("ws"),
        "{err}"
    );
    // --print-config refuses what the node refuses, with the same code.
    for bad in [
        &["--bootstrap", "notaurl"][..],
        &["--fanout", "0"],
        &["--ws-path", "nopath"],
    ] {
        let mut args = vec!["node"];
        args.extend_from_slice(bad);
        let node = run(&[&args[..], &["--duration-secs", "1"]].concat());
        let print = run(&[&args[..], &["--print-config"]].concat());
        assert_eq!(node.status.code(), Some(3), "{bad:?}");
        assert_eq!(print.status.code(), Some(3), "{bad:?} --print-config");
        assert!(print.stdout.is_empty(), "{bad:?}");
        assert_eq!(node.stderr, print.stderr, "{bad:?}");
    }
    // Every --help lists the exit codes.
    for args in [&["--help"][..], &["node", "--help"], &["peers", "--help"]] {
        let help = run(args);
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(
            text.contains("Exit codes: 0 success; 2 bad arguments; 3 invalid configuration"),
            "{args:?}: {text}"
        );
    }
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

/// The flag `peerdisc node` has for a configuration item, by the naming
/// rule: membership items by their own name, the other sections' prefixed
/// with the section, top-level items by their name but for a few that read
/// better otherwise.
fn flag_for(section: Option<&str>, item: &str) -> String {
    let kebab = item.replace('_', "-");
    match section {
        Some("membership") => format!("--{kebab}"),
        Some(s) => format!("--{s}-{kebab}"),
        None => match item {
            "identity_path" => "--identity".into(),
            "snapshot_path" => "--snapshot".into(),
            "enable_mdns" => "--mdns".into(),
            "enable_gossip" => "--no-gossip".into(),
            "capabilities" => "--agent".into(),
            "cluster_keys" => "--cluster-key".into(),
            _ => format!("--{kebab}"),
        },
    }
}

#[test]
fn every_config_item_has_a_flag() {
    let help = run(&["node", "--help"]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    let has = |flag: &str| {
        help.split(|c: char| c.is_whitespace() || ",=[]".contains(c))
            .any(|w| w == flag)
    };
    let out = run(&["node", "--print-config"]);
    assert!(out.status.success());
    let cfg: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut missing = Vec::new();
    let mut checked = 0;
    for (key, value) in cfg.as_object().unwrap() {
        let section =
            ["membership", "transport", "datagram", "registry", "mdns"].contains(&key.as_str());
        if !section {
            checked += 1;
            if !has(&flag_for(None, key)) {
                missing.push(key.clone());
            }
            continue;
        }
        for item in value.as_object().unwrap().keys() {
            // The transport's listen address and path are the node's.
            if key == "transport" && (item == "listen" || item == "ws_path") {
                continue;
            }
            checked += 1;
            if !has(&flag_for(Some(key), item)) {
                missing.push(format!("{key}.{item} ({})", flag_for(Some(key), item)));
            }
        }
    }
    assert!(checked > 50, "only {checked} items");
    assert!(missing.is_empty(), "no flag for {missing:?}\n{help}");
    // The older short names still work.
    for alias in [
        "--max-connections",
        "--max-connections-per-ip",
        "--capacity",
    ] {
        assert!(has(alias), "{alias}");
    }
}

#[test]
fn config_flags_reach_the_config() {
    let out = run(&[
        "node",
        "--set",
        "membership.fanout=7",
        "--set",
        "membership.retransmit_mult=6",
        "--fanout",
        "5",
        "--rebootstrap-interval-ms",
        "750",
        "--snapshot-interval-ms",
        "1234",
        "--rng-seed",
        "42",
        "--suspicion-mult",
        "3.5",
        "--backoff-cap-ms",
        "9000",
        "--transport-backoff-cap-ms",
        "700",
        "--transport-idle-timeout-ms",
        "9999",
        "--max-connections",
        "99",
        "--registry-stale-after-ms",
        "5000",
        "--mdns-ipv6",
        "false",
        "--mdns-interfaces",
        "lo,eth9",
        "--mdns-service-type",
        "_demo._tcp.local.",
        "--print-config",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cfg["rebootstrap_interval_ms"], 750);
    assert_eq!(cfg["snapshot_interval_ms"], 1234);
    assert_eq!(cfg["rng_seed"], 42);
    // A flag overrides --set; --set still reaches what no flag names.
    assert_eq!(cfg["membership"]["fanout"], 5);
    assert_eq!(cfg["membership"]["retransmit_mult"], 6);
    assert_eq!(cfg["membership"]["suspicion_mult"], 3.5);
    // Same item name, two sections: each flag reaches its own.
    assert_eq!(cfg["membership"]["backoff_cap_ms"], 9000);
    assert_eq!(cfg["transport"]["backoff_cap_ms"], 700);
    assert_eq!(cfg["transport"]["idle_timeout_ms"], 9999);
    assert_eq!(cfg["transport"]["max_connections"], 99);
    assert_eq!(cfg["registry"]["stale_after_ms"], 5000);
    assert_eq!(cfg["mdns"]["ipv6"], false);
    assert_eq!(cfg["mdns"]["ipv4"], true);
    assert_eq!(cfg["mdns"]["interfaces"], serde_json::json!(["lo", "eth9"]));
    assert_eq!(cfg["mdns"]["service_type"], "_demo._tcp.local.");
    // Untouched items keep their defaults.
    assert_eq!(cfg["membership"]["probe_interval_ms"], 200);
    // A bad value is a usage error (2) naming the flag.
    let out = run(&["node", "--mdns-ipv4", "maybe"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mdns-ipv4"));
}

#[test]
fn peers_says_it_timed_out_when_the_node_never_answers() {
    // Accepts the connection, then says nothing.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/peerdisc", silent.local_addr().unwrap());
    let out = run(&["peers", &url, "--timeout-ms", "300"]);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("timed out after 300 ms") && err.contains("handshake"),
        "{err}"
    );
    assert!(!err.contains("WouldBlock"), "{err}");
}

/// The byte offset of each column of `line` that starts where `header`
/// has a column name.
fn column_starts(header: &str) -> Vec<usize> {
    let b = header.as_bytes();
    (0..b.len())
        .filter(|&i| b[i] != b' ' && (i == 0 || b[i - 1] == b' '))
        .collect()
}

#[test]
fn peers_table_fits_key_derived_ids_and_events_read_as_text() {
    let (p1, p2) = (free_port(), free_port());
    let seed_url = format!("ws://127.0.0.1:{p1}/peerdisc");
    // No --node-id: both ids are derived from their keys (67 characters).
    let seed = daemon(&["--listen", &format!("127.0.0.1:{p1}"), "--tool", "search"]);
    let worker = daemon(&[
        "--listen",
        &format!("127.0.0.1:{p2}"),
        "--agent",
        "planner",
        "--bootstrap",
        &seed_url,
    ]);
    let worker_id = worker
        .expect_line("saying the worker listens", |l| {
            l.contains(" listening at ")
        })
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_string();
    assert!(worker_id.len() > 60, "{worker_id}");
    // A connection or liveness change, in words.
    let state = seed.expect_line("reporting a state change", |l| l.starts_with("state"));
    let words: Vec<&str> = state.split_whitespace().collect();
    assert_eq!(words.len(), 6, "{state}");
    assert_eq!(words[1], worker_id, "{state}");
    assert!(["connection", "liveness"].contains(&words[2]), "{state}");
    assert_eq!(words[4], "->", "{state}");
    assert!(!state.contains(['{', '}', '(']), "{state}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let out = run(&["peers", &seed_url, "--timeout-ms", "1000"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && text.contains(&worker_id) {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the seed never listed the worker"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let lines: Vec<&str> = text.lines().collect();
    let header = lines[1];
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>().join(" "),
        "NODE ADDRESS LIVENESS CONNECTION HEALTH VER SEEN CAPABILITIES",
        "{text}"
    );
    // Each row's cells start under their headers (left-aligned columns) and
    // the id is whole.
    let starts = column_starts(header);
    let row = lines[2];
    assert!(row.starts_with(&format!("{worker_id} ")), "{text}");
    assert!(
        row[starts[1]..].starts_with(&format!("ws://127.0.0.1:{p2}/")),
        "{text}"
    );
    assert!(row[starts[2]..].starts_with("alive"), "{text}");
    assert!(row[starts[7]..].starts_with("agent:planner"), "{text}");
}

// The earlier Python system's URL form (`ws://host:port`, no path), and
// one warning per unusable bootstrap node.

#[test]
fn node_joins_and_peers_answers_with_urls_without_a_path() {
    let (p1, p2) = (free_port(), free_port());
    let seed = daemon(&["--listen", &format!("127.0.0.1:{p1}"), "--node-id", "seed"]);
    seed.expect_line("saying it listens", |l| l.contains("listening"));
    let bare = format!("ws://127.0.0.1:{p1}");
    let joiner = daemon(&[
        "--listen",
        &format!("127.0.0.1:{p2}"),
        "--node-id",
        "joiner",
        "--bootstrap",
        &bare,
    ]);
    let line = joiner.expect_line("reporting the seed added", |l| l.starts_with("added"));
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        ["added", "seed", "at", &format!("{bare}/peerdisc")]
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = Command::new(BIN)
            .args(["peers", &bare, "--json", "--timeout-ms", "1000"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let table: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(table["node_id"], "seed");
        if table["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["node_id"] == "joiner")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the seed never listed the joiner"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn each_unusable_bootstrap_node_is_one_warning_with_its_reason() {
    let p1 = free_port();
    let seed = daemon(&["--listen", &format!("127.0.0.1:{p1}"), "--node-id", "seed"]);
    seed.expect_line("saying it listens", |l| l.contains("listening"));
    let p2 = free_port();
    let key = "0000000000000000000000000000000000000000000000000000000000000001";
    let keyed = daemon(
        &["--listen", &format!("127.0.0.1:{p2}"), "--node-id", "keyed"]
            .into_iter()
            .chain(["--cluster-key", key])
            .collect::<Vec<_>>(),
    );
    keyed.expect_line("saying it listens", |l| l.contains("listening"));
    let wrong_key = format!("ws://127.0.0.1:{p2}/peerdisc");
    let refused = format!("ws://127.0.0.1:{}", free_port());
    let not_found = format!("ws://127.0.0.1:{p1}/elsewhere");
    // Accepts TCP (the backlog) but never answers the handshake.
    let silent_sock = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!(
        "ws://127.0.0.1:{}/peerdisc",
        silent_sock.local_addr().unwrap().port()
    );
    let out = Command::new(BIN)
        .args(["node", "--node-id", "lonely"])
        .args(["--bootstrap", &refused, "--bootstrap", &not_found])
        .args(["--bootstrap", &silent, "--bootstrap", &wrong_key])
        // Generous, so that under load only the silent listener times
        // out (a slow 404 or cluster-key answer must still be that).
        .args(["--transport-handshake-timeout-ms", "3000"])
        .args(["--bootstrap-timeout-ms", "6000"])
        .args(["--rebootstrap-interval-ms", "300"])
        .args(["--backoff-base-ms", "100", "--backoff-cap-ms", "200"])
        .args(["--duration-secs", "12"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("bootstrap node"))
        .collect();
    let one = |url: &str, reason: &str| {
        let hits: Vec<&&str> = warnings.iter().filter(|l| l.contains(url)).collect();
        assert_eq!(hits.len(), 1, "one warning for {url}: {warnings:#?}");
        assert!(hits[0].contains(reason), "{url}: {}", hits[0]);
        assert!(hits[0].contains("WARN"), "{}", hits[0]);
    };
    one(&format!("{refused}/peerdisc "), "refused");
    one(&not_found, "404");
    one(&silent, "timeout");
    one(&wrong_key, "cluster key");
    assert_eq!(warnings.len(), 4, "{warnings:#?}");
    drop(silent_sock);
}
