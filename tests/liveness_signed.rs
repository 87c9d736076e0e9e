//! Signed liveness against an attacker on loopback: three real nodes with
//! default settings (key-derived ids, signed records, no cluster key) and
//! a raw WebSocket client playing the stranger. Nobody without a node's key
//! can eject it, kill it, or speak for it (PROTOCOL.md, "Threat model").
//! In every case the victim stays `alive` in every view, the attacker's
//! frames are counted as refused, and the legitimate peers are untouched.

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use peerdisc::identity::{sign_claim, Identity};
use peerdisc::model::RecordSignature;
use peerdisc::node::Node;
use peerdisc::node::NodeConfig;
use peerdisc::Liveness;
use tungstenite::{Message, WebSocket};

#[path = "support/ws_frames.rs"]
mod ws_frames;
use ws_frames::read_frames;

type Ws = WebSocket<TcpStream>;

fn connect(node: &Node) -> Ws {
    let addr = node.address();
    let stream = TcpStream::connect((addr.host().as_str(), addr.port())).unwrap();
    // The handshake waits as long as it takes (a loaded machine); reads
    // after it poll.
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let ws = tungstenite::client::client(addr.as_str(), stream)
        .unwrap()
        .0;
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    ws
}

/// Every text frame read until one satisfies `want` (included), or until
/// a 10 s deadline: a loaded machine may take its time, a lost frame
/// still ends the wait.
fn read_until(ws: &mut Ws, want: impl Fn(&str) -> bool) -> Vec<String> {
    let end = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while Instant::now() < end {
        let got = read_frames(ws, Duration::from_millis(200));
        let done = got.iter().any(|f| want(f));
        out.extend(got);
        if done {
            break;
        }
    }
    out
}

/// The highest incarnation `a` and `c` hold for `b`, plus 3: an attack
/// may make `b` refute a suspicion or two (a rise of at most 2), never
/// push it further.
fn ceiling(t: &Trio) -> u64 {
    let id = t.b.node_id().to_string();
    [&t.a, &t.c]
        .iter()
        .filter_map(|n| n.registry().get(&id).map(|p| p.incarnation))
        .max()
        .unwrap_or(0)
        + 3
}

/// The next connection on `listener`, polled until a 10 s deadline.
fn accept_within(listener: &TcpListener, limit: Duration) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let end = Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                return stream;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("no connection on the trap within {limit:?}: {e}"),
        }
    }
}

fn send_all(ws: &mut Ws, frames: &[String]) {
    for f in frames {
        let _ = ws.send(Message::text(f.clone()));
    }
    let _ = ws.flush();
}

/// A greeting as a stranger with a hand-picked id (needs no proof).
fn stranger_greeting() -> String {
    r#"{"v":1,"type":"alive","node_id":"mallory","incarnation":0,"version":1}"#.into()
}

fn claim(kind: &str, about: &str, inc: u64, extra: &str) -> String {
    format!(
        r#"{{"v":1,"type":"{kind}","node_id":"{about}","incarnation":{inc},"version":1{extra}}}"#
    )
}

fn announce_state(state: &str) -> String {
    format!(r#"{{"type":"gossip_announcement","timestamp":1.0,"peers":[],"states":[{state}]}}"#)
}

struct Trio {
    a: Node,
    b: Node,
    c: Node,
}

fn all_know_all(nodes: &[&Node]) -> bool {
    nodes.iter().all(|n| {
        nodes
            .iter()
            .filter(|m| m.node_id() != n.node_id())
            .all(|m| {
                n.registry()
                    .get(m.node_id().as_str())
                    .is_some_and(|p| p.liveness == Liveness::Alive)
            })
    })
}

fn trio() -> Trio {
    let a = Node::builder().start().unwrap();
    let b = Node::builder()
        .bootstrap(a.address().as_str())
        .start()
        .unwrap();
    let c = Node::builder()
        .bootstrap(a.address().as_str())
        .start()
        .unwrap();
    wait_until(Duration::from_secs(30), || all_know_all(&[&a, &b, &c]));
    assert!(all_know_all(&[&a, &b, &c]), "the cluster did not form");
    Trio { a, b, c }
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while Instant::now() < end && !f() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Samples for `span`: the victim `b` must never be `left` or `dead` in
/// the views of `a` and `c`, nor at an incarnation of `max_inc` or more
/// (see [`ceiling`], taken before the attack),
/// and be `alive` in both at the end. (A suspicion the probes raise on
/// their own, on a machine too loaded to answer a probe in time, is not
/// the attacker's doing: it is refuted, and allowed.)
fn stays_alive(t: &Trio, span: Duration, max_inc: u64) -> Result<(), String> {
    let id = t.b.node_id().to_string();
    let views = || [("a", &t.a), ("c", &t.c)];
    let end = Instant::now() + span;
    while Instant::now() < end {
        for (name, n) in views() {
            let p = n.registry().get(&id).ok_or(format!("{name} forgot b"))?;
            if !p.liveness.is_present() || p.incarnation >= max_inc {
                return Err(format!(
                    "{name} lists b as {} at incarnation {}",
                    p.liveness, p.incarnation
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let alive = || {
        views().iter().all(|(_, n)| {
            n.registry()
                .get(&id)
                .is_some_and(|p| p.liveness == Liveness::Alive)
        })
    };
    wait_until(Duration::from_secs(10), alive);
    if alive() {
        Ok(())
    } else {
        Err("b is not alive in every view at the end".into())
    }
}

/// The legitimate peers see nothing refused and everyone alive.
fn legit_untouched(t: &Trio) {
    wait_until(Duration::from_secs(10), || {
        all_know_all(&[&t.a, &t.b, &t.c])
    });
    assert!(
        all_know_all(&[&t.a, &t.b, &t.c]),
        "a legitimate peer is not alive everywhere"
    );
    for (name, n) in [("b", &t.b), ("c", &t.c)] {
        let s = n.stats();
        assert_eq!(
            (s.claims_refused, s.greetings_refused),
            (0, 0),
            "{name} refused something from a legitimate peer: {s:?}"
        );
    }
}

fn stop(t: Trio) {
    t.c.stop().unwrap();
    t.b.stop().unwrap();
    t.a.stop().unwrap();
}

/// Forged `leave` claims about b, unsigned, signed by another key, and as
/// a compact `left` state in a gossip announcement.
#[test]
fn forged_leave_is_refused() {
    let t = trio();
    let b = t.b.node_id().to_string();
    let mallory = Identity::from_secret_bytes(&[7; 32]);
    let wrong = sign_claim(&mallory, Liveness::Left, 1).to_hex();
    let frames = vec![
        stranger_greeting(),
        claim("leave", &b, 1, r#","from":"mallory""#),
        claim("leave", &b, 1, &format!(r#","sig":"{wrong}""#)),
        announce_state(&format!(r#"["{b}",1,"left",1]"#)),
        announce_state(&format!(r#"["{b}",1,"left",1,"{wrong}"]"#)),
    ];
    let max_inc = ceiling(&t);
    let mut ws = connect(&t.a);
    send_all(&mut ws, &frames);
    stays_alive(&t, Duration::from_secs(2), max_inc).unwrap();
    wait_until(Duration::from_secs(10), || t.a.stats().claims_refused >= 4);
    let s = t.a.stats();
    assert!(
        s.claims_refused >= 4,
        "the forged leaves are counted: {s:?}"
    );
    legit_untouched(&t);
    stop(t);
}

/// A third party's `dead`/`suspect` at an incarnation b never took, to a
/// member and to b itself: refused, never adopted, b does not climb.
#[test]
fn forged_dead_and_suspect_at_a_huge_incarnation_are_refused() {
    let t = trio();
    let b = t.b.node_id().to_string();
    let frames: Vec<String> = [
        ("dead", 1_000_000u64),
        ("suspect", 1_000_000),
        ("dead", 1 << 53),
    ]
    .iter()
    .map(|(k, inc)| claim(k, &b, *inc, r#","from":"mallory""#))
    .chain([announce_state(&format!(
        r#"["{b}",999,"dead",1,"mallory"]"#
    ))])
    .collect();
    let max_inc = ceiling(&t);
    // Kept open until the end: closing a socket with unread answers
    // resets it, and the peer may then drop frames it has not read yet.
    let mut open = Vec::new();
    for target in [&t.a, &t.b] {
        let mut ws = connect(target);
        send_all(
            &mut ws,
            &std::iter::once(stranger_greeting())
                .chain(frames.clone())
                .collect::<Vec<_>>(),
        );
        open.push(ws);
    }
    stays_alive(&t, Duration::from_secs(2), max_inc).unwrap();
    wait_until(Duration::from_secs(10), || {
        t.a.stats().claims_refused >= 4 && t.b.stats().claims_refused >= 4
    });
    let (sa, sb) = (t.a.stats(), t.b.stats());
    assert!(sa.claims_refused >= 4, "counted at a: {sa:?}");
    assert!(sb.claims_refused >= 4, "counted at b: {sb:?}");
    wait_until(Duration::from_secs(10), || {
        all_know_all(&[&t.a, &t.b, &t.c])
    });
    assert!(all_know_all(&[&t.a, &t.b, &t.c]));
    let s = t.c.stats();
    assert_eq!((s.claims_refused, s.greetings_refused), (0, 0), "{s:?}");
    stop(t);
}

/// A connection greeting as b (no proof, or a proof by another key): a
/// challenge comes back, and nothing said on it in b's name is taken.
#[test]
fn greeting_as_another_node_is_refused() {
    let t = trio();
    let b = t.b.node_id().to_string();
    let max_inc = ceiling(&t);
    let bogus = RecordSignature::from_bytes([9; 64]).to_hex();
    // Kept open until the end: closing a socket with unread answers
    // resets it, and the peer may then drop frames it has not read yet.
    let mut open = Vec::new();
    for proof in ["".to_string(), format!(r#","proof":"{bogus}""#)] {
        let mut ws = connect(&t.a);
        let greet = format!(
            r#"{{"v":1,"type":"alive","node_id":"{b}","incarnation":0,"version":1,"nonce":"00112233445566778899aabbccddeeff"{proof}}}"#
        );
        send_all(&mut ws, &[greet]);
        if proof.is_empty() {
            let answer = read_until(&mut ws, |f| f.contains(r#""nonce""#));
            assert!(
                answer.iter().any(|f| f.contains(r#""nonce""#)),
                "a greeting without proof gets a challenge: {answer:?}"
            );
        }
        send_all(
            &mut ws,
            &[
                claim("leave", &b, 0, ""),
                r#"{"v":1,"type":"ping","seq":1,"target":"x"}"#.into(),
            ],
        );
        open.push(ws);
    }
    stays_alive(&t, Duration::from_secs(2), max_inc).unwrap();
    wait_until(Duration::from_secs(10), || {
        t.a.stats().greetings_refused >= 2
    });
    let s = t.a.stats();
    assert!(s.greetings_refused >= 2, "counted: {s:?}");
    legit_untouched(&t);
    stop(t);
}

/// b dials a listener the attacker runs (its bootstrap address); the
/// attacker relays a's challenge to b and replays b's greetings, proof
/// included, to a: the proof is made out to the attacker and to another
/// nonce, so a refuses it.
#[test]
fn replayed_or_relayed_greetings_are_refused() {
    let a = Node::builder().start().unwrap();
    let c = Node::builder()
        .bootstrap(a.address().as_str())
        .start()
        .unwrap();
    // The attacker's listener, and its connection to a as "b".
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    let trap_url = format!("ws://{}/peerdisc", trap.local_addr().unwrap());
    let b = Node::builder()
        .bootstrap(&trap_url)
        .bootstrap(a.address().as_str())
        .start()
        .unwrap();
    let bid = b.node_id().to_string();
    let mut to_a = connect(&a);
    send_all(
        &mut to_a,
        &[format!(
            r#"{{"v":1,"type":"alive","node_id":"{bid}","incarnation":0,"version":1,"nonce":"00112233445566778899aabbccddeeff"}}"#
        )],
    );
    let challenge = read_until(&mut to_a, |f| f.contains(r#""nonce""#));
    let a_nonce = challenge
        .iter()
        .find_map(|f| {
            let v: serde_json::Value = serde_json::from_str(f).ok()?;
            v.get("nonce")?.as_str().map(str::to_string)
        })
        .expect("a challenges the claimed b");
    // b dials the trap: record its greetings, answering with a's nonce.
    let stream = accept_within(&trap, Duration::from_secs(10));
    // The handshake may take its time on a loaded machine; reads after it
    // poll.
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut from_b = tungstenite::accept(stream).unwrap();
    from_b
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut recorded = read_until(&mut from_b, |f| f.contains(r#""type":"alive""#));
    let trap_greeting = format!(
        r#"{{"v":1,"type":"alive","node_id":"mallory","incarnation":0,"version":1,"nonce":"{a_nonce}"}}"#
    );
    send_all(&mut from_b, &[trap_greeting]);
    recorded.extend(read_until(&mut from_b, |f| f.contains(r#""proof""#)));
    let proofs: Vec<String> = recorded
        .iter()
        .filter(|f| f.contains(r#""type":"alive""#) && f.contains(r#""proof""#))
        .cloned()
        .collect();
    assert!(
        !proofs.is_empty(),
        "b proved itself to the trap: {recorded:?}"
    );
    // Relay b's proof (over a's own nonce) to a, then replay everything.
    send_all(&mut to_a, &proofs);
    send_all(&mut to_a, &[claim("leave", &bid, 0, "")]);
    let mut fresh = connect(&a);
    send_all(&mut fresh, &recorded);
    send_all(&mut fresh, &[claim("leave", &bid, 0, "")]);
    let t = Trio { a, b, c };
    wait_until(Duration::from_secs(10), || {
        all_know_all(&[&t.a, &t.b, &t.c])
    });
    // b is new (incarnation 0 when the attack began).
    stays_alive(&t, Duration::from_secs(2), 3).unwrap();
    wait_until(Duration::from_secs(10), || {
        t.a.stats().greetings_refused >= 2
    });
    let s = t.a.stats();
    assert!(s.greetings_refused >= 2, "counted: {s:?}");
    assert_eq!(t.c.stats().greetings_refused, 0);
    drop(from_b);
    stop(t);
}

/// b leaves (its `leave` is signed), restarts with the same key and
/// refutes at a higher incarnation; the recorded signed `leave` replayed
/// later changes nothing, and forged higher ones are refused.
#[test]
fn a_replayed_signed_leave_does_not_eject_a_rejoined_node() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("b.key");
    let a = Node::builder().start().unwrap();
    let c = Node::builder()
        .bootstrap(a.address().as_str())
        .start()
        .unwrap();
    let start_b = || {
        let cfg = NodeConfig {
            identity_path: Some(key.clone()),
            bootstrap: vec![a.address().to_string()],
            ..NodeConfig::default()
        };
        let n = Node::new(cfg).unwrap();
        n.start().unwrap();
        n
    };
    let b = start_b();
    let bid = b.node_id().to_string();
    wait_until(Duration::from_secs(30), || all_know_all(&[&a, &b, &c]));
    b.stop().unwrap();
    wait_until(Duration::from_secs(5), || {
        a.registry()
            .get(&bid)
            .is_some_and(|p| p.liveness == Liveness::Left)
    });
    let held = a.registry().get(&bid).unwrap();
    assert_eq!(held.liveness, Liveness::Left);
    // The leave b signed (Ed25519 signatures are deterministic: these are
    // the bytes b sent).
    let identity = Identity::load(&key).unwrap();
    let recorded = sign_claim(&identity, Liveness::Left, held.incarnation).to_hex();
    let b = start_b();
    let t = Trio { a, b, c };
    wait_until(Duration::from_secs(10), || {
        all_know_all(&[&t.a, &t.b, &t.c])
    });
    assert!(all_know_all(&[&t.a, &t.b, &t.c]), "b did not come back");
    let inc = t.a.registry().get(&bid).unwrap().incarnation;
    assert!(
        inc > held.incarnation,
        "b refuted its leave at a higher incarnation"
    );
    let inc_s = held.incarnation;
    let frames = vec![
        stranger_greeting(),
        claim("leave", &bid, inc_s, &format!(r#","sig":"{recorded}""#)),
        announce_state(&format!(r#"["{bid}",{inc_s},"left",1,"{recorded}"]"#)),
        // Above b's incarnation, under the old signature: refused.
        claim("leave", &bid, inc + 1, &format!(r#","sig":"{recorded}""#)),
    ];
    let max_inc = ceiling(&t);
    let mut ws = connect(&t.a);
    send_all(&mut ws, &frames);
    stays_alive(&t, Duration::from_secs(2), max_inc).unwrap();
    wait_until(Duration::from_secs(10), || t.a.stats().claims_refused >= 1);
    let s = t.a.stats();
    assert!(s.claims_refused >= 1, "the forged leave is counted: {s:?}");
    legit_untouched(&t);
    stop(t);
}

/// Claims at u64::MAX (and at the ceiling) of every kind: refused at a
/// member and at b, b's incarnation unmoved.
#[test]
fn u64_max_incarnation_claims_are_refused() {
    let t = trio();
    let b = t.b.node_id().to_string();
    let max = u64::MAX;
    let frames: Vec<String> = vec![
        stranger_greeting(),
        claim("alive", &b, max, ""),
        claim("leave", &b, max, ""),
        claim("dead", &b, max, r#","from":"mallory""#),
        claim("suspect", &b, max, r#","from":"mallory""#),
        announce_state(&format!(r#"["{b}",{max},"alive",1]"#)),
        announce_state(&format!(r#"["{b}",{max},"dead",1,"mallory"]"#)),
        claim("suspect", &b, (1 << 53) - 1, r#","from":"mallory""#),
    ];
    let max_inc = ceiling(&t);
    // Kept open until the end: closing a socket with unread answers
    // resets it, and the peer may then drop frames it has not read yet.
    let mut open = Vec::new();
    for target in [&t.a, &t.b] {
        let mut ws = connect(target);
        send_all(&mut ws, &frames);
        open.push(ws);
    }
    stays_alive(&t, Duration::from_secs(2), max_inc).unwrap();
    wait_until(Duration::from_secs(10), || {
        t.a.stats().claims_refused >= 6 && t.b.stats().claims_refused >= 4
    });
    let (sa, sb) = (t.a.stats(), t.b.stats());
    assert!(sa.claims_refused >= 6, "counted at a: {sa:?}");
    assert!(sb.claims_refused >= 4, "counted at b: {sb:?}");
    wait_until(Duration::from_secs(10), || {
        all_know_all(&[&t.a, &t.b, &t.c])
    });
    assert!(all_know_all(&[&t.a, &t.b, &t.c]));
    assert_eq!(t.c.stats().claims_refused, 0);
    stop(t);
}

/// A full relay (PROTOCOL.md, "Greeting"): b dials the attacker's address,
/// the attacker forwards b's greeting to a, a's greeting (and proof) to b
/// and b's proof to a, so a takes the attacker's connection for b's. With
/// no cluster key the attacker may then inject frames as b that carry no
/// signature of b's own; what b says about itself it still cannot forge:
/// a never believes b left, or is dead or suspect at an incarnation b did
/// not sign, and b stays alive.
#[test]
fn a_full_relay_cannot_forge_what_b_says_about_itself() {
    let a = Node::builder().start().unwrap();
    let c = Node::builder()
        .bootstrap(a.address().as_str())
        .start()
        .unwrap();
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    let trap_url = format!("ws://{}/peerdisc", trap.local_addr().unwrap());
    let b = Node::builder()
        .bootstrap(&trap_url)
        .bootstrap(a.address().as_str())
        .start()
        .unwrap();
    let bid = b.node_id().to_string();
    let stream = accept_within(&trap, Duration::from_secs(10));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut from_b = tungstenite::accept(stream).unwrap();
    from_b
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let is_greeting = |f: &str| f.contains(r#""type":"alive""#) && f.contains(r#""nonce""#);
    let b_greeting = read_until(&mut from_b, is_greeting);
    let b_greeting: Vec<String> = b_greeting.into_iter().filter(|f| is_greeting(f)).collect();
    assert_eq!(
        b_greeting.len(),
        1,
        "b greets the trap once: {b_greeting:?}"
    );
    let mut to_a = connect(&a);
    send_all(&mut to_a, &b_greeting);
    let a_greeting: Vec<String> = read_until(&mut to_a, is_greeting)
        .into_iter()
        .filter(|f| is_greeting(f))
        .collect();
    assert_eq!(a_greeting.len(), 1, "a greets back: {a_greeting:?}");
    send_all(&mut from_b, &a_greeting);
    let proof: Vec<String> = read_until(&mut from_b, |f| f.contains(r#""proof""#))
        .into_iter()
        .filter(|f| f.contains(r#""proof""#))
        .collect();
    assert!(!proof.is_empty(), "b proves itself to 'a'");
    send_all(&mut to_a, &proof);
    let t = Trio { a, b, c };
    wait_until(Duration::from_secs(30), || {
        all_know_all(&[&t.a, &t.b, &t.c])
    });
    assert!(
        all_know_all(&[&t.a, &t.b, &t.c]),
        "the cluster did not form"
    );
    let max_inc = ceiling(&t);
    let refused_before = t.a.stats().claims_refused;
    // As b, on the connection a took for b's: b's own word, unsigned.
    send_all(
        &mut to_a,
        &[
            claim("leave", &bid, 0, ""),
            claim("leave", &bid, 50, ""),
            claim("alive", &bid, 900, ""),
            claim("dead", &bid, 50, ""),
            claim("suspect", &bid, 1 << 40, ""),
            announce_state(&format!(r#"["{bid}",50,"left",1]"#)),
        ],
    );
    stays_alive(&t, Duration::from_secs(2), max_inc).unwrap();
    wait_until(Duration::from_secs(10), || {
        t.a.stats().claims_refused > refused_before
    });
    let s = t.a.stats();
    assert_eq!(s.greetings_refused, 0, "the relay was accepted: {s:?}");
    assert!(
        s.claims_refused > refused_before,
        "the forged self-claims are counted: {s:?}"
    );
    drop(from_b);
    stop(t);
}
