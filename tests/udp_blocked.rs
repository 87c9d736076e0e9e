//! The datagram path blocked: 5 hosts in network namespaces, each running
//! the `peerdisc node` daemon with its default configuration, with every
//! UDP packet dropped by an nftables rule on every host's `eth0`. The
//! hosts still converge and a SIGKILLed host is marked dead by all the
//! others, over WebSocket (each node falls back for peers whose datagrams
//! go unanswered). The test asserts convergence, detection and that the
//! rule did drop datagrams; the times are printed figures.
//!
//! Needs root (network namespaces) and `nft`; without them it prints
//! SKIPPED.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/netns.rs"]
mod netns;

use std::time::{Duration, Instant};

use cluster::Cluster;

const HOSTS: usize = 5;
const CONVERGE: Duration = Duration::from_secs(30);
const DETECT: Duration = Duration::from_secs(30);

/// Drops every UDP packet in and out of the host's `eth0`.
fn block_udp(h: &netns::Host) {
    h.exec(&["nft", "add", "table", "netdev", "pdudp"])
        .expect("nft table");
    for hook in ["ingress", "egress"] {
        let chain =
            format!("{{ type filter hook {hook} device \"eth0\" priority 0; policy accept; }}");
        h.exec(&["nft", "add", "chain", "netdev", "pdudp", hook, &chain])
            .expect("nft chain");
        for proto in [["ip", "protocol"], ["ip6", "nexthdr"]] {
            h.exec(&[
                "nft", "add", "rule", "netdev", "pdudp", hook, proto[0], proto[1], "udp",
                "counter", "drop",
            ])
            .expect("nft rule");
        }
    }
}

/// Packets the host's UDP rules dropped so far.
fn udp_dropped(h: &netns::Host) -> u64 {
    let out = h
        .exec(&["nft", "list", "table", "netdev", "pdudp"])
        .unwrap_or_default();
    let words: Vec<&str> = out.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "packets")
        .filter_map(|w| w[1].parse::<u64>().ok())
        .sum()
}

#[test]
fn hosts_converge_and_detect_a_crash_over_websocket_when_udp_is_dropped() {
    if !netns::has_nft() && netns::unsupported_reason().is_none() {
        netns::skip("nft is not installed (apt-get install -y nftables)");
        return;
    }
    let t0 = Instant::now();
    let Some(mut c) = Cluster::start("udp-blocked", HOSTS, &[]) else {
        return;
    };
    for h in c.lab.hosts() {
        block_udp(h);
    }
    let converged = c
        .converge(CONVERGE)
        .unwrap_or_else(|| panic!("no convergence with UDP dropped; logs in {:?}", c.log_dir()));
    eprintln!(
        "UDP dropped: {HOSTS} hosts converged {converged:?} after the rule \
         ({:?} after the daemons started)",
        t0.elapsed()
    );
    let dropped: u64 = c.lab.hosts().iter().map(udp_dropped).sum();
    assert!(
        dropped > 0,
        "the daemons sent no datagram: the rule tested nothing"
    );
    let victim = HOSTS - 1;
    c.kill(victim);
    let survivors: Vec<usize> = (0..victim).collect();
    let dead = Cluster::id(victim);
    let took = c
        .wait_until(
            DETECT,
            Duration::from_millis(100),
            |_, v| v.get(&dead).map(String::as_str) == Some("dead"),
            |i, v| {
                for j in &survivors {
                    let id = Cluster::id(*j);
                    if *j != i {
                        let l = v.get(&id).map(String::as_str).unwrap_or("unknown");
                        assert!(
                            l == "alive" || l == "suspect",
                            "false death: h{i} lists {id} as {l}"
                        );
                    }
                }
            },
        )
        .unwrap_or_else(|| panic!("the crash was not detected everywhere: {:?}", c.views()));
    let dropped: u64 = c.lab.hosts().iter().map(udp_dropped).sum();
    eprintln!(
        "UDP dropped: SIGKILLed {dead} marked dead by all {} survivors in {took:?} \
         ({dropped} datagrams dropped by the rule in all)",
        survivors.len()
    );
}
