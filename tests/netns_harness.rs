//! Self-test of the network-namespace lab in `tests/support/netns.rs`.
//!
//! Needs root and `ip` (iproute2); the fault parts need `nft` (nftables).
//! Without root every test prints a `SKIPPED:` line and returns; set
//! `PEERDISC_NETNS_REQUIRE=1` to make that a failure instead.

#[path = "support/netns.rs"]
mod netns;

use std::collections::BTreeSet;
use std::ffi::CStr;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use netns::{Lab, LabError};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(600);

/// One TCP round trip from host `from` to a listener in host `to`.
fn tcp_roundtrip(lab: &Lab, from: usize, to: usize) -> io::Result<()> {
    let dst = lab.host(to);
    let listener = dst.run_in(|| TcpListener::bind((dst.ip(), 0)))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let mut client = lab.host(from).run_in(move || -> io::Result<TcpStream> {
        let mut s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
        s.set_read_timeout(Some(CONNECT_TIMEOUT))?;
        s.write_all(b"ping")?;
        Ok(s)
    })?;
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    let mut server = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(2))
            }
            Err(e) => return Err(e),
        }
    };
    server.set_nonblocking(false)?;
    server.set_read_timeout(Some(CONNECT_TIMEOUT))?;
    let mut buf = [0u8; 4];
    server.read_exact(&mut buf)?;
    assert_eq!(&buf, b"ping");
    server.write_all(b"pong")?;
    client.read_exact(&mut buf)?;
    assert_eq!(&buf, b"pong");
    Ok(())
}

fn assert_reaches(lab: &Lab, from: usize, to: usize, what: &str) {
    if let Err(e) = tcp_roundtrip(lab, from, to) {
        panic!("{what}: host{from} -> host{to} should work, got {e}");
    }
}

fn assert_blocked(lab: &Lab, from: usize, to: usize, what: &str) {
    assert!(
        tcp_roundtrip(lab, from, to).is_err(),
        "{what}: host{from} -> host{to} should be blocked"
    );
}

fn ours(prefix: &str) -> Vec<String> {
    let dash = format!("{prefix}-");
    netns::list_namespaces()
        .expect("ip netns list")
        .into_iter()
        .filter(|n| n.starts_with(&dash))
        .collect()
}

#[test]
fn tcp_partition_heal_loss_link_and_teardown() {
    let t0 = Instant::now();
    let Some(lab) = Lab::new(3) else { return };
    let setup = t0.elapsed();
    let prefix = lab.prefix().to_string();
    assert_eq!(ours(&prefix).len(), 4, "hub + 3 hosts");
    let ips: BTreeSet<Ipv4Addr> = lab.hosts().iter().map(|h| h.ip()).collect();
    assert_eq!(ips.len(), 3);
    for h in lab.hosts() {
        assert!(h.name().starts_with(&prefix));
        assert_eq!(h.ip().octets()[..2], [10, 213]);
        let routes = h.exec(&["ip", "route", "show"]).unwrap();
        assert!(!routes.contains("default"), "no default route: {routes}");
        assert!(routes.contains("224.0.0.0/4 dev eth0"), "{routes}");
    }

    assert_reaches(&lab, 0, 2, "fresh lab");
    assert_reaches(&lab, 2, 0, "fresh lab");

    assert!(matches!(
        lab.partition(&[0], &[0, 1]),
        Err(LabError::Invalid(_))
    ));
    assert!(matches!(
        lab.partition(&[0], &[7]),
        Err(LabError::Invalid(_))
    ));
    assert!(matches!(lab.set_loss(101), Err(LabError::Invalid(_))));

    if netns::nft_or_skip_part(Some("partition, heal and loss checks")) {
        partition_heal_and_loss(&lab);
    }

    lab.host(2).set_link(false).unwrap();
    assert_blocked(&lab, 0, 2, "eth0 down");
    lab.host(2).set_link(true).unwrap();
    assert_reaches(&lab, 0, 2, "eth0 up again");
    let routes = lab.host(2).exec(&["ip", "route", "show"]).unwrap();
    assert!(routes.contains("224.0.0.0/4 dev eth0"), "{routes}");

    let t1 = Instant::now();
    lab.teardown().unwrap();
    let teardown = t1.elapsed();
    assert!(
        ours(&prefix).is_empty(),
        "namespaces left: {:?}",
        ours(&prefix)
    );
    eprintln!("netns lab: setup {setup:?}, teardown {teardown:?}");
}

/// Partition, heal and loss between hosts 0 and 2 of a fresh lab (needs
/// `nft`).
fn partition_heal_and_loss(lab: &Lab) {
    lab.partition(&[0], &[2]).unwrap();
    assert_blocked(lab, 0, 2, "partition");
    assert_blocked(lab, 2, 0, "partition");
    assert_reaches(lab, 1, 2, "partition of 0|2 leaves 1");
    lab.heal().unwrap();
    assert_reaches(lab, 0, 2, "healed");
    lab.heal().unwrap(); // idempotent

    lab.set_loss(100).unwrap();
    assert_blocked(lab, 0, 2, "100 % loss");
    lab.set_loss(0).unwrap();
    assert_reaches(lab, 0, 2, "loss removed");
    lab.set_loss(0).unwrap(); // idempotent
}

fn interfaces() -> BTreeSet<String> {
    // SAFETY: if_nameindex returns an array terminated by a zero entry, freed below.
    unsafe {
        let list = libc::if_nameindex();
        assert!(
            !list.is_null(),
            "if_nameindex: {}",
            io::Error::last_os_error()
        );
        let mut names = BTreeSet::new();
        let mut p = list;
        while (*p).if_index != 0 {
            names.insert(CStr::from_ptr((*p).if_name).to_string_lossy().into_owned());
            p = p.add(1);
        }
        libc::if_freenameindex(list);
        names
    }
}

fn thread_netns_inode() -> u64 {
    std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
}

#[test]
fn closure_thread_sees_only_its_namespace() {
    let Some(lab) = Lab::new(1) else { return };
    let h = lab.host(0);
    let outside = thread_netns_inode();
    let ns_file = std::fs::metadata(format!("{}/{}", netns::NETNS_DIR, h.name()))
        .unwrap()
        .ino();
    let (inode, names, nested, v4) = h.run_in(|| {
        let nested = thread::spawn(|| (thread_netns_inode(), interfaces()))
            .join()
            .unwrap();
        // Only the lab address can be bound; a host address would fail.
        let v4 = UdpSocket::bind((h.ip(), 0)).is_ok();
        (thread_netns_inode(), interfaces(), nested, v4)
    });
    let expected: BTreeSet<String> = ["lo", "eth0"].map(String::from).into();
    assert_eq!(names, expected, "a closure thread sees only lo and eth0");
    assert_eq!(
        inode, ns_file,
        "the closure thread is in the host's namespace"
    );
    assert_ne!(inode, outside);
    assert_eq!(nested, (inode, expected), "spawned threads inherit it");
    assert!(v4);
    assert_eq!(thread_netns_inode(), outside, "the caller stays outside");
    assert!(
        UdpSocket::bind((h.ip(), 0)).is_err(),
        "the lab address must not exist outside the lab"
    );
    // A panic inside the closure reaches the caller.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        h.run_in(|| panic!("boom in namespace"))
    }));
    assert!(caught.is_err());
}

#[test]
fn spawned_processes_run_inside_and_die_at_teardown() {
    let Some(lab) = Lab::new(2) else { return };
    let h = lab.host(1);
    let prefix = lab.prefix().to_string();

    let mut cmd = Command::new("ip");
    cmd.args(["-o", "-4", "addr", "show"])
        .stdout(Stdio::piped());
    let out = h.spawn(cmd).unwrap().wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains(&h.ip().to_string()), "{text}");
    assert_eq!(
        text.lines().count(),
        2,
        "only lo and eth0 have IPv4: {text}"
    );

    // A shell with a background grandchild: both must die at teardown.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "sleep 30 & echo $!; wait"])
        .stdout(Stdio::piped());
    let mut shell = h.spawn(cmd).unwrap();
    let mut line = String::new();
    BufReader::new(shell.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let grandchild: u32 = line.trim().parse().unwrap();
    assert_eq!(h.spawned_pids().last(), Some(&shell.id()));
    let identify = Command::new("ip")
        .args(["netns", "identify", &shell.id().to_string()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&identify.stdout).trim(), h.name());

    // Multicast over the bridge, as mDNS will use it.
    let group = Ipv4Addr::new(239, 255, 77, 77);
    let rx = lab.host(1).run_in(|| {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        s.join_multicast_v4(&group, &lab.host(1).ip()).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s
    });
    let port = rx.local_addr().unwrap().port();
    let tx = lab
        .host(0)
        .run_in(|| UdpSocket::bind((lab.host(0).ip(), 0)).unwrap());
    let mut got = None;
    for _ in 0..10 {
        tx.send_to(b"hello", SocketAddr::from((group, port)))
            .unwrap();
        let mut buf = [0u8; 16];
        if let Ok((n, from)) = rx.recv_from(&mut buf) {
            got = Some((buf[..n].to_vec(), from));
            break;
        }
    }
    let (payload, from) = got.expect("multicast from host0 reaches host1");
    assert_eq!(payload, b"hello");
    assert_eq!(from.ip(), lab.host(0).ip());

    drop(lab);
    assert!(ours(&prefix).is_empty());
    let status = shell.wait().unwrap();
    assert!(!status.success(), "shell was killed: {status}");
    let deadline = Instant::now() + Duration::from_secs(2);
    while std::path::Path::new(&format!("/proc/{grandchild}")).exists() {
        // The grandchild is reparented and reaped by init (or a subreaper).
        let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
        if stat.contains(") Z ") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "grandchild {grandchild} survived"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Deletes test-made namespaces even when an assertion fails.
struct DeleteOnDrop(Vec<String>);

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip")
                .args(["netns", "del", n])
                .stderr(Stdio::null())
                .status();
        }
    }
}

#[test]
fn leftovers_of_dead_runs_are_removed_and_others_kept() {
    if !netns::available_or_skip() {
        return;
    }
    let pid_max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let me = std::process::id();
    // pid_max + 1 can never be a living process; `me` keeps the name unique
    // when several test processes run at once.
    let stale = format!("pdlab-{}-{me}-h0", pid_max + 1);
    let keep = [
        format!("pdlab-keep-{me}"),   // not our scheme
        format!("pdlab-{me}-999-h0"), // our scheme, but a living owner (us)
    ];
    assert_eq!(netns::owner_pid(&stale), Some((pid_max + 1) as u32));
    assert_eq!(netns::owner_pid(&keep[0]), None);
    assert_eq!(netns::owner_pid("pdlab-1-2-hub"), Some(1));
    assert_eq!(netns::owner_pid("pdlab-1-2-h"), None);
    assert_eq!(netns::owner_pid("pdlab-1-2-h3-x"), None);
    let add = |n: &str| {
        let st = Command::new("ip")
            .args(["netns", "add", n])
            .status()
            .unwrap();
        assert!(st.success(), "ip netns add {n}");
    };
    // Let this process's once-only cleanup (run by the first Lab) happen now,
    // so it cannot race with this test. (A cleanup of another test process
    // may still remove `stale` first; the end state checked below is the same.)
    netns::cleanup_stale_once();
    let _cleanup = DeleteOnDrop(keep.iter().chain([&stale]).cloned().collect());
    add(&stale);
    for k in &keep {
        add(k);
    }
    // A process left behind in the stale namespace must be killed.
    let mut orphan = Command::new("ip")
        .args(["netns", "exec", &stale, "sleep", "30"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !Command::new("ip")
        .args(["netns", "pids", &stale])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false)
    {
        if !std::path::Path::new(&format!("{}/{stale}", netns::NETNS_DIR)).exists() {
            break; // removed by a concurrent test process's cleanup
        }
        assert!(Instant::now() < deadline, "sleep did not start");
        thread::sleep(Duration::from_millis(5));
    }

    let result = netns::cleanup_stale();
    let names = netns::list_namespaces().unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    let killed = loop {
        match orphan.try_wait().unwrap() {
            Some(status) => break Some(status),
            None if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            None => break None,
        }
    };
    if killed.is_none() {
        let _ = orphan.kill();
        let _ = orphan.wait();
    }

    result.unwrap();
    assert!(!names.contains(&stale), "stale namespace removed");
    for k in &keep {
        assert!(names.contains(k), "{k} must be kept");
    }
    let status = killed.expect("the process in the stale namespace was killed");
    assert!(!status.success(), "{status}");
}
