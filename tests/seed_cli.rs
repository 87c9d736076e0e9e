//! The `peerdisc` command with the earlier system's URL form
//! (`ws://host:port`, no path), and one warning per unusable bootstrap node.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_peerdisc");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `peerdisc node` (killed on drop) and its stdout lines.
struct Daemon {
    child: Child,
    lines: Receiver<String>,
}

impl Daemon {
    fn start(args: &[&str]) -> Daemon {
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
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Daemon { child, lines }
    }

    fn expect_line(&self, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if want(&l) => return l,
                Ok(l) => seen.push(l),
                Err(_) => panic!("line not printed within 20 s; printed: {seen:#?}"),
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn node_joins_and_peers_answers_with_urls_without_a_path() {
    let (p1, p2) = (free_port(), free_port());
    let seed = Daemon::start(&["--listen", &format!("127.0.0.1:{p1}"), "--node-id", "seed"]);
    seed.expect_line(|l| l.contains("listening"));
    let bare = format!("ws://127.0.0.1:{p1}");
    let joiner = Daemon::start(&[
        "--listen",
        &format!("127.0.0.1:{p2}"),
        "--node-id",
        "joiner",
        "--bootstrap",
        &bare,
    ]);
    let line = joiner.expect_line(|l| l.starts_with("added"));
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
    let seed = Daemon::start(&["--listen", &format!("127.0.0.1:{p1}"), "--node-id", "seed"]);
    seed.expect_line(|l| l.contains("listening"));
    let p2 = free_port();
    let key = "0000000000000000000000000000000000000000000000000000000000000001";
    let keyed = Daemon::start(
        &["--listen", &format!("127.0.0.1:{p2}"), "--node-id", "keyed"]
            .into_iter()
            .chain(["--cluster-key", key])
            .collect::<Vec<_>>(),
    );
    keyed.expect_line(|l| l.contains("listening"));
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
        .args(["--transport-handshake-timeout-ms", "500"])
        .args(["--bootstrap-timeout-ms", "1500"])
        .args(["--rebootstrap-interval-ms", "300"])
        .args(["--backoff-base-ms", "100", "--backoff-cap-ms", "200"])
        .args(["--duration-secs", "5"])
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
