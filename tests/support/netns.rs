//! Network-namespace test lab: several "hosts" on one Linux machine.
//!
//! Include it from an integration test with
//!
//! ```ignore
//! #[path = "support/netns.rs"]
//! mod netns;
//!
//! #[test]
//! fn two_hosts_talk() {
//!     // Prints "SKIPPED: <test>: ... needs root and `ip netns` ..." to the
//!     // real stderr (visible even when cargo captures output) and returns
//!     // None when the machine cannot run the lab (not root, no `ip`).
//!     let Some(lab) = netns::Lab::new(2) else { return };
//!     let (h0, h1) = (lab.host(0), lab.host(1));
//!     let listener = h1.run_in(|| std::net::TcpListener::bind((h1.ip(), 0))).unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     h0.run_in(move || std::net::TcpStream::connect(addr)).unwrap();
//!     let _daemon = h0.spawn(std::process::Command::new("sleep").arg("30")).unwrap();
//!     lab.partition(&[0], &[1]).unwrap();
//!     lab.heal().unwrap();
//!     lab.set_loss(20).unwrap();
//!     drop(lab); // kills `_daemon` (and all else inside), deletes the namespaces
//! }
//! ```
//!
//! Layout of one lab (names are unique per process and per lab):
//! - `pdlab-<pid>-<n>-hub`: a namespace holding bridge `br0` (`mcast_snooping 0`,
//!   `stp_state 0`, `forward_delay 0`, IPv6 off) with one port `v<i>` per host;
//! - `pdlab-<pid>-<n>-h<i>`: one namespace per host with `lo` up and `eth0`
//!   (the peer of `v<i>`) carrying `10.213.<x>.<10+i>/24`, where `<x>` is chosen
//!   per lab; route `224.0.0.0/4 dev eth0`; no default route, so nothing can
//!   leave the lab. IPv6 link-local addresses exist; `Lab::new` waits (bounded)
//!   until duplicate address detection has finished on every `eth0` (made
//!   fast with per-device sysctls on `eth0`: `router_solicitation_delay 0`,
//!   ND `retrans_time_ms 100`, so DAD takes ~0.1 s instead of ~2 s).
//!   Bring-up of 3 hosts takes about 0.2 s, teardown about 0.02 s.
//!
//! Running code "on" a host:
//! - [`Host::run_in`] runs a closure on a fresh thread that entered the host's
//!   namespace with `setns(CLONE_NEWNET)` and joins it (panics propagate).
//!   Sockets keep the namespace they were created in, so a listener created in
//!   `run_in` can be used from any thread afterwards. Threads spawned inside the
//!   closure inherit the namespace. [`Host::spawn_thread`] is the detached form.
//! - [`Host::spawn`] starts a `std::process::Command` inside the namespace (the
//!   child calls `setns` between fork and exec, like `ip netns exec` but keeping
//!   the caller's stdio, env and cwd settings). The pid is tracked. For the
//!   exact `ip netns exec` behaviour (remounted `/sys`, `/etc/netns` files),
//!   pass `Command::new("ip").args(["netns", "exec", host.name(), ...])`.
//! - [`Host::exec`] runs `ip netns exec <ns> <args..>` to completion.
//!
//! Faults: [`Lab::partition`]/[`Lab::heal`] (nftables `bridge` table in the hub
//! dropping frames between the groups' ports: IPv4, IPv6, ARP and multicast
//! alike), [`Lab::set_loss`]/[`Host::set_loss`] (nftables `netdev` table on
//! `eth0`, `numgen random mod 100 < p` drop on ingress and egress, so a
//! host-to-host packet is lost with `1-(1-p)^2`: measured 35 % for 20),
//! [`Lab::set_egress_loss`] (egress only: exactly `p`, measured 19 % for 20),
//! [`Host::set_link`] (`eth0` up/down; up restores the multicast route). These need
//! `nft`; when it is missing they return [`LabError::MissingTool`] with the
//! install hint (`apt-get install -y nftables`).
//!
//! Teardown ([`Lab::teardown`] or `Drop`, which also runs when the test
//! panics): SIGKILL the [`Host::spawn`]ed pids that are still our unreaped
//! children, then every process `ip netns pids` lists for our own namespaces
//! (never our own pid), bounded wait, then `ip netns del`. Threads of
//! the test process still inside a namespace cannot be killed: join them first.
//! The first `Lab` of a process also removes leftovers of crashed earlier runs:
//! namespaces named `pdlab-<pid>-<n>-hub|h<i>` whose `<pid>` no longer exists.
//! Nothing else is ever touched.
//!
//! Skipping: [`Lab::new`] returns `None` after printing a `SKIPPED:` line when
//! the process is not root (or lacks CAP_SYS_ADMIN/CAP_NET_ADMIN) or `ip` is not
//! installed. Set `PEERDISC_NETNS_REQUIRE=1` (e.g. in CI, which runs as root) to
//! turn a skip into a failure. Any other setup failure panics with the failing
//! command line and its stderr; [`Lab::try_new`] returns it as a [`LabError`].
//! Every command runs with a timeout and every wait loop is bounded.
#![allow(dead_code)]

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Every namespace this harness creates starts with this.
pub const NAME_PREFIX: &str = "pdlab-";
/// Where `ip netns` keeps its namespace files.
pub const NETNS_DIR: &str = "/var/run/netns";
/// Environment variable that turns a skip into a test failure.
pub const REQUIRE_ENV: &str = "PEERDISC_NETNS_REQUIRE";
/// Upper bound for one external command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound for IPv6 duplicate address detection on all hosts.
pub const DAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Most hosts one lab may have.
pub const MAX_HOSTS: usize = 64;

const NFT_HINT: &str = "apt-get install -y nftables, or `bash scripts/install-deps.sh` as root";
const IP_HINT: &str = "apt-get install -y iproute2, or `bash scripts/install-deps.sh` as root";
/// Tools listed here (comma-separated) are treated as missing, to try the
/// skip paths on a machine that has them (scripts/install-deps.sh honours it
/// too).
pub const HIDE_TOOLS_ENV: &str = "PEERDISC_HIDE_TOOLS";
const LOSS_TABLE: &str = "pdlab_loss";
const PARTITION_TABLE: &str = "pdlab_part";

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);
/// Serializes `ip netns add`: the first one in a fresh machine sets up the
/// shared `/run/netns` mount and concurrent first calls can stack mounts.
static NETNS_ADD_LOCK: Mutex<()> = Mutex::new(());

// ---------------------------------------------------------------------------
// Errors

/// Everything that can go wrong in the lab. `Debug` prints the same readable
/// text as `Display` (command line, stdin script and stderr), so `unwrap()`
/// failures are legible.
pub enum LabError {
    /// The machine cannot run the lab at all (not root, no `ip`): tests skip.
    Unsupported(String),
    /// A tool needed for one operation is not installed.
    MissingTool {
        tool: &'static str,
        hint: &'static str,
    },
    /// A command exited unsuccessfully.
    Command {
        cmdline: String,
        status: String,
        stderr: String,
    },
    /// A command or a wait did not finish in time.
    Timeout { what: String, after: Duration },
    /// An I/O error (spawning, opening a namespace file, setns, ...).
    Io { what: String, source: io::Error },
    /// A caller mistake (bad host index, overlapping groups, ...).
    Invalid(String),
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabError::Unsupported(reason) => write!(f, "netns lab unsupported here: {reason}"),
            LabError::MissingTool { tool, hint } => {
                write!(
                    f,
                    "{tool} missing ({hint}; looked in PATH, /usr/sbin, /sbin)"
                )
            }
            LabError::Command {
                cmdline,
                status,
                stderr,
            } => write!(
                f,
                "command failed ({status}): {cmdline}\nstderr: {}",
                stderr.trim_end()
            ),
            LabError::Timeout { what, after } => write!(f, "timed out after {after:?}: {what}"),
            LabError::Io { what, source } => write!(f, "{what}: {source}"),
            LabError::Invalid(msg) => write!(f, "invalid lab request: {msg}"),
        }
    }
}

impl fmt::Debug for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for LabError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LabError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Tools and command execution

fn find_tool(name: &str) -> Option<PathBuf> {
    let hidden = std::env::var(HIDE_TOOLS_ENV).unwrap_or_default();
    if hidden.split(',').any(|t| t.trim() == name) {
        return None;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn ip_path() -> Result<&'static Path, LabError> {
    static IP: OnceLock<Option<PathBuf>> = OnceLock::new();
    IP.get_or_init(|| find_tool("ip"))
        .as_deref()
        .ok_or(LabError::MissingTool {
            tool: "ip",
            hint: IP_HINT,
        })
}

fn nft_path() -> Result<&'static Path, LabError> {
    static NFT: OnceLock<Option<PathBuf>> = OnceLock::new();
    NFT.get_or_init(|| find_tool("nft"))
        .as_deref()
        .ok_or(LabError::MissingTool {
            tool: "nft",
            hint: NFT_HINT,
        })
}

/// True when `nft` is installed (partition and loss need it).
pub fn has_nft() -> bool {
    nft_path().is_ok()
}

/// `true` when `nft` is installed; otherwise prints
/// `SKIPPED: <test>: nft missing (<how to install>)` and returns `false`
/// (panics instead under `PEERDISC_NETNS_REQUIRE`). For tests that
/// partition or drop packets.
pub fn nft_or_skip() -> bool {
    nft_or_skip_part(None)
}

/// Like [`nft_or_skip`] for a part of a test: the line names the part that
/// is skipped (`SKIPPED: <test> (<part>): nft missing (...)`).
pub fn nft_or_skip_part(part: Option<&str>) -> bool {
    match nft_path() {
        Ok(_) => true,
        Err(e) => {
            skip_line(part, &e.to_string());
            false
        }
    }
}

fn render(cmd: &Command, input: Option<&str>) -> String {
    let mut out = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '\'') {
            out.push_str(&format!(" '{}'", arg.replace('\'', r"'\''")));
        } else {
            out.push(' ');
            out.push_str(&arg);
        }
    }
    if let Some(input) = input {
        out.push_str(" <<'EOF'\n");
        out.push_str(input);
        if !input.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("EOF");
    }
    out
}

/// Drains `pipe` on a thread; the bytes arrive on the returned channel at EOF.
fn reader<R: Read + Send + 'static>(mut pipe: R) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Output of a finished command. A background process it left behind may keep
/// the pipe open; then give up after a short grace period instead of hanging.
fn collect(rx: Option<mpsc::Receiver<Vec<u8>>>) -> String {
    let bytes = rx
        .and_then(|rx| rx.recv_timeout(Duration::from_secs(1)).ok())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Runs `cmd` to completion (bounded by [`COMMAND_TIMEOUT`]) and returns its
/// stdout; a non-zero exit becomes [`LabError::Command`].
fn run(mut cmd: Command, input: Option<&str>) -> Result<String, LabError> {
    let cmdline = render(&cmd, input);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| LabError::Io {
        what: format!("cannot start `{cmdline}`"),
        source,
    })?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // Scripts are tiny (far below the pipe buffer), so this cannot block.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.stdout.take().map(reader);
    let err = child.stderr.take().map(reader);
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(LabError::Timeout {
                    what: cmdline,
                    after: COMMAND_TIMEOUT,
                });
            }
            Err(source) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(LabError::Io {
                    what: format!("waiting for `{cmdline}`"),
                    source,
                });
            }
        }
    };
    let (stdout, stderr) = (collect(out), collect(err));
    if status.success() {
        Ok(stdout)
    } else {
        Err(LabError::Command {
            cmdline,
            status: status.to_string(),
            stderr,
        })
    }
}

fn ip<I, S>(args: I) -> Result<String, LabError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(ip_path()?);
    cmd.args(args);
    run(cmd, None)
}

/// Runs `ip -n NS <args>`.
fn ip_n(ns: &str, args: &[&str]) -> Result<String, LabError> {
    ip(["-n", ns].iter().chain(args))
}

/// Loads an nftables script inside namespace `ns` (`ip netns exec NS nft -f -`).
fn nft_in(ns: &str, script: &str) -> Result<(), LabError> {
    let nft = nft_path()?;
    let mut cmd = Command::new(ip_path()?);
    cmd.args(["netns", "exec", ns]).arg(nft).args(["-f", "-"]);
    run(cmd, Some(script)).map(drop)
}

// ---------------------------------------------------------------------------
// Namespaces

fn ns_path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

fn ns_exists(name: &str) -> bool {
    ns_path(name).exists()
}

/// Puts the calling thread into namespace `name` (permanently).
fn enter_netns(name: &str) -> Result<(), LabError> {
    let path = ns_path(name);
    let file = File::open(&path).map_err(|source| LabError::Io {
        what: format!("open {}", path.display()),
        source,
    })?;
    // SAFETY: plain syscall on a valid, open fd; affects only this thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(LabError::Io {
            what: format!("setns({}, CLONE_NEWNET)", path.display()),
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Names of all namespaces `ip netns list` shows (ours and everybody else's).
pub fn list_namespaces() -> Result<Vec<String>, LabError> {
    Ok(ip(["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// The owner pid encoded in a name of our scheme `pdlab-<pid>-<n>-hub|h<i>`,
/// or `None` for any other name.
pub fn owner_pid(name: &str) -> Option<u32> {
    let mut parts = name.strip_prefix(NAME_PREFIX)?.split('-');
    let (pid, lab, role) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let role_ok = role == "hub" || role.strip_prefix('h').is_some_and(digits);
    if parts.next().is_none() && digits(pid) && digits(lab) && role_ok {
        pid.parse().ok()
    } else {
        None
    }
}

/// Parent pid of `pid` from `/proc/<pid>/stat`, if it exists.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn pids_in(ns: &str) -> Result<Vec<i32>, LabError> {
    Ok(ip(["netns", "pids", ns])?
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect())
}

/// SIGKILLs every process inside `names` (bounded rounds), then deletes the
/// namespaces in reverse order. Namespaces that vanished meanwhile are fine.
fn kill_and_delete(names: &[String]) -> Result<(), LabError> {
    let me = std::process::id() as i32;
    let mut first_err = None;
    let mut remaining = Vec::new();
    for round in 0..10u64 {
        remaining.clear();
        for ns in names.iter().filter(|ns| ns_exists(ns)) {
            match pids_in(ns) {
                Ok(pids) => {
                    for pid in pids.into_iter().filter(|&p| p > 1 && p != me) {
                        // SAFETY: kill(2) on a pid the kernel just reported inside our namespace.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                        remaining.push(pid);
                    }
                }
                Err(e) if ns_exists(ns) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {}
            }
        }
        if remaining.is_empty() {
            break;
        }
        thread::sleep(Duration::from_millis(10 * (round + 1)));
    }
    if !remaining.is_empty() {
        first_err.get_or_insert(LabError::Timeout {
            what: format!("processes {remaining:?} still alive in {names:?}"),
            after: Duration::from_millis(550),
        });
    }
    for ns in names.iter().rev() {
        match ip(["netns", "del", ns]) {
            Err(e) if ns_exists(ns) => {
                first_err.get_or_insert(e);
            }
            _ => {}
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Removes namespaces of our naming scheme whose owner process is gone
/// (leftovers of crashed or killed runs). Returns the names removed. Namespaces
/// of living processes and all other namespaces are left alone.
pub fn cleanup_stale() -> Result<Vec<String>, LabError> {
    let me = std::process::id();
    let stale: Vec<String> = list_namespaces()?
        .into_iter()
        .take(10_000)
        .filter(|name| {
            owner_pid(name)
                .is_some_and(|pid| pid != me && !Path::new(&format!("/proc/{pid}")).exists())
        })
        .collect();
    if !stale.is_empty() {
        let _ = writeln!(
            io::stderr(),
            "netns lab: removing leftovers of dead runs: {stale:?}"
        );
        kill_and_delete(&stale)?;
    }
    Ok(stale)
}

/// [`cleanup_stale`] once per process, reporting errors on stderr; the first
/// [`Lab::try_new`] calls it.
pub fn cleanup_stale_once() {
    static STALE: Once = Once::new();
    STALE.call_once(|| {
        if let Err(e) = cleanup_stale() {
            let _ = writeln!(io::stderr(), "netns lab: leftover cleanup failed: {e}");
        }
    });
}

fn add_netns(name: &str) -> Result<(), LabError> {
    let _guard = lock(&NETNS_ADD_LOCK);
    ip(["netns", "add", name]).map(drop)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Skipping

/// Why this machine cannot run the lab, or `None` when it can.
pub fn unsupported_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root".into());
    }
    if let Err(e) = ip_path() {
        return Some(e.to_string());
    }
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());
    const CAP_NET_ADMIN: u64 = 1 << 12;
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    match cap_eff {
        Some(caps) if caps & CAP_NET_ADMIN != 0 && caps & CAP_SYS_ADMIN != 0 => None,
        _ => Some("root without CAP_NET_ADMIN and CAP_SYS_ADMIN".into()),
    }
}

/// Prints the loud skip line for the current test to the real stderr (not
/// captured by the test harness, so it shows in every `cargo test` run).
/// Panics instead when `PEERDISC_NETNS_REQUIRE` is set.
pub fn skip(reason: &str) {
    skip_line(
        None,
        &format!("{reason}; this test needs root and `ip netns` (iproute2)"),
    );
}

/// Prints `SKIPPED: <test>[ (<part>)]: <what>` to the real stderr, or
/// panics under `PEERDISC_NETNS_REQUIRE`.
fn skip_line(part: Option<&str>, what: &str) {
    let current = thread::current();
    let test = current.name().unwrap_or("<unnamed>");
    if std::env::var_os(REQUIRE_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
        let part = part.map(|p| format!(" ({p})")).unwrap_or_default();
        panic!("{test}{part}: {REQUIRE_ENV} is set but this test cannot run: {what}");
    }
    let part = part.map(|p| format!(" ({p})")).unwrap_or_default();
    // One write, so that the harness's own lines cannot split it.
    let line = format!("SKIPPED: {test}{part}: {what}\n");
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

/// `true` when the lab can run; otherwise prints the `SKIPPED:` line (see
/// [`skip`]) and returns `false`. For tests that do not build a [`Lab`].
pub fn available_or_skip() -> bool {
    match unsupported_reason() {
        None => true,
        Some(reason) => {
            skip(&reason);
            false
        }
    }
}

// ---------------------------------------------------------------------------
// Lab and hosts

/// One simulated host: a network namespace with `lo` and `eth0`.
#[derive(Debug)]
pub struct Host {
    index: usize,
    name: String,
    ip: Ipv4Addr,
    spawned: Mutex<Vec<u32>>,
}

/// A set of hosts on one bridge. Dropping it tears everything down.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    hub: String,
    subnet: [u8; 3],
    hosts: Vec<Host>,
    /// Namespaces created so far, in creation order (hub first).
    created: Vec<String>,
    torn_down: bool,
}

impl Lab {
    /// Builds a lab of `n_hosts` hosts, or prints a `SKIPPED:` line and
    /// returns `None` when the machine cannot (not root, no `ip`). Panics on
    /// any other failure, with the failing command and its stderr.
    pub fn new(n_hosts: usize) -> Option<Lab> {
        match Lab::try_new(n_hosts) {
            Ok(lab) => Some(lab),
            Err(LabError::Unsupported(reason)) => {
                skip(&reason);
                None
            }
            Err(e) => panic!("netns lab setup failed: {e}"),
        }
    }

    /// Builds a lab; [`LabError::Unsupported`] means "skip".
    pub fn try_new(n_hosts: usize) -> Result<Lab, LabError> {
        if n_hosts == 0 || n_hosts > MAX_HOSTS {
            return Err(LabError::Invalid(format!(
                "{n_hosts} hosts (allowed: 1..={MAX_HOSTS})"
            )));
        }
        if let Some(reason) = unsupported_reason() {
            return Err(LabError::Unsupported(reason));
        }
        cleanup_stale_once();
        let pid = std::process::id();
        let n = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("{NAME_PREFIX}{pid}-{n}");
        let x = ((u64::from(pid) * 7 + u64::from(n)) % 254 + 1) as u8;
        let mut lab = Lab {
            hub: format!("{prefix}-hub"),
            prefix,
            subnet: [10, 213, x],
            hosts: Vec::new(),
            created: Vec::new(),
            torn_down: false,
        };
        // On error `lab` is dropped here, which removes what was created.
        lab.build(n_hosts)?;
        Ok(lab)
    }

    fn build(&mut self, n_hosts: usize) -> Result<(), LabError> {
        let hub = self.hub.clone();
        add_netns(&hub)?;
        self.created.push(hub.clone());
        // The hub only switches frames; keep its own IPv6 (RS, MLD, DAD) quiet.
        in_netns_thread(&hub, || {
            for key in ["all", "default"] {
                let path = format!("/proc/sys/net/ipv6/conf/{key}/disable_ipv6");
                if Path::new(&path).exists() {
                    fs::write(&path, "1").map_err(|source| LabError::Io {
                        what: format!("write 1 to {path} in {hub}"),
                        source,
                    })?;
                }
            }
            Ok(())
        })?;
        ip_n(
            &hub,
            &[
                "link",
                "add",
                "br0",
                "type",
                "bridge",
                "mcast_snooping",
                "0",
                "stp_state",
                "0",
                "forward_delay",
                "0",
            ],
        )?;
        ip_n(&hub, &["link", "set", "br0", "up"])?;
        for i in 0..n_hosts {
            let name = format!("{}-h{i}", self.prefix);
            add_netns(&name)?;
            self.created.push(name.clone());
            let port = format!("v{i}");
            ip_n(
                &hub,
                &[
                    "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &name,
                ],
            )?;
            ip_n(&hub, &["link", "set", &port, "master", "br0", "up"])?;
            let [a, b, c] = self.subnet;
            let ip = Ipv4Addr::new(a, b, c, 10 + i as u8);
            ip_n(&name, &["link", "set", "lo", "up"])?;
            ip_n(&name, &["addr", "add", &format!("{ip}/24"), "dev", "eth0"])?;
            speed_up_dad(&name)?;
            ip_n(&name, &["link", "set", "eth0", "up"])?;
            ip_n(&name, &["route", "add", "224.0.0.0/4", "dev", "eth0"])?;
            self.hosts.push(Host {
                index: i,
                name,
                ip,
                spawned: Mutex::new(Vec::new()),
            });
        }
        wait_dad(&self.hosts.iter().collect::<Vec<_>>())
    }

    /// Host `i` (panics when out of range).
    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// `pdlab-<pid>-<n>`: every namespace of this lab starts with it.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Name of the hub namespace holding `br0`.
    pub fn hub_name(&self) -> &str {
        &self.hub
    }

    /// Names of all namespaces of this lab (hub first).
    pub fn namespaces(&self) -> &[String] {
        &self.created
    }

    /// The lab's /24 network address.
    pub fn subnet(&self) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, 0)
    }

    fn check_index(&self, i: usize) -> Result<(), LabError> {
        if i < self.hosts.len() {
            Ok(())
        } else {
            Err(LabError::Invalid(format!(
                "host {i} (lab has {})",
                self.hosts.len()
            )))
        }
    }

    /// Drops all frames between hosts of `group_a` and hosts of `group_b`, in
    /// both directions, at the bridge. Calls accumulate (several cuts can be
    /// active) until [`Lab::heal`]. Hosts within a group and hosts in neither
    /// group are unaffected.
    pub fn partition(&self, group_a: &[usize], group_b: &[usize]) -> Result<(), LabError> {
        if group_a.is_empty() || group_b.is_empty() {
            return Err(LabError::Invalid(
                "partition groups must not be empty".into(),
            ));
        }
        for &i in group_a.iter().chain(group_b) {
            self.check_index(i)?;
        }
        if let Some(i) = group_a.iter().find(|i| group_b.contains(i)) {
            return Err(LabError::Invalid(format!("host {i} is in both groups")));
        }
        let ports = |g: &[usize]| {
            g.iter()
                .map(|i| format!("\"v{i}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (a, b) = (ports(group_a), ports(group_b));
        let script = format!(
            "table bridge {PARTITION_TABLE} {{\n\
             \tchain forward {{ type filter hook forward priority 0; policy accept; }}\n\
             }}\n\
             add rule bridge {PARTITION_TABLE} forward iifname {{ {a} }} oifname {{ {b} }} counter drop\n\
             add rule bridge {PARTITION_TABLE} forward iifname {{ {b} }} oifname {{ {a} }} counter drop\n"
        );
        nft_in(&self.hub, &script)
    }

    /// Removes every partition.
    pub fn heal(&self) -> Result<(), LabError> {
        nft_in(
            &self.hub,
            &format!("table bridge {PARTITION_TABLE}\ndelete table bridge {PARTITION_TABLE}\n"),
        )
    }

    /// Random loss of `percent` % on every host's `eth0`, independently on
    /// ingress and egress; 0 removes it. A host-to-host packet crosses two such
    /// rules, so it is lost with probability `1 - (1 - p)^2` (20 % -> 36 %);
    /// use [`Lab::set_egress_loss`] for exactly `p` per packet.
    pub fn set_loss(&self, percent: u32) -> Result<(), LabError> {
        self.hosts
            .iter()
            .try_for_each(|h| h.apply_loss(percent, true, true))
    }

    /// Random loss of `percent` % on every host's `eth0` egress only: each
    /// packet is dropped with probability `p` once, at its sender (a dropped
    /// multicast packet is then lost for all receivers alike).
    pub fn set_egress_loss(&self, percent: u32) -> Result<(), LabError> {
        self.hosts
            .iter()
            .try_for_each(|h| h.apply_loss(percent, false, true))
    }

    /// Tears the lab down now, reporting errors (`Drop` does the same but can
    /// only print them).
    pub fn teardown(mut self) -> Result<(), LabError> {
        self.teardown_inner()
    }

    fn teardown_inner(&mut self) -> Result<(), LabError> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        for host in &self.hosts {
            host.kill_spawned();
        }
        kill_and_delete(&self.created)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = self.teardown_inner() {
            let _ = writeln!(
                io::stderr(),
                "netns lab {}: teardown failed: {e}",
                self.prefix
            );
        }
    }
}

/// Makes IPv6 duplicate address detection on the (still down) `eth0` of `ns`
/// take about 0.1 s instead of about 2 s: no random router-solicitation delay
/// before it starts, and 100 ms instead of 1 s per neighbour solicitation
/// (ND retransmits on this `eth0` are faster too). Per-device settings inside
/// our namespace only; the kernel's global defaults are never touched.
fn speed_up_dad(ns: &str) -> Result<(), LabError> {
    in_netns_thread(ns, || {
        for (path, value) in [
            (
                "/proc/sys/net/ipv6/conf/eth0/router_solicitation_delay",
                "0",
            ),
            ("/proc/sys/net/ipv6/neigh/eth0/retrans_time_ms", "100"),
        ] {
            if Path::new(path).exists() {
                fs::write(path, value).map_err(|source| LabError::Io {
                    what: format!("write {value} to {path} in {ns}"),
                    source,
                })?;
            }
        }
        Ok(())
    })
}

/// Waits (bounded by [`DAD_TIMEOUT`]) until every host's `eth0` has a
/// link-local IPv6 address that is no longer tentative.
fn wait_dad(hosts: &[&Host]) -> Result<(), LabError> {
    if !Path::new("/proc/sys/net/ipv6").exists() {
        return Ok(()); // IPv6 disabled in this kernel
    }
    let deadline = Instant::now() + DAD_TIMEOUT;
    let mut pending: Vec<&Host> = hosts.to_vec();
    for _ in 0..1000 {
        let mut still = Vec::new();
        for h in pending {
            let out = ip_n(
                &h.name,
                &["-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"],
            )?;
            if out.contains("dadfailed") {
                return Err(LabError::Command {
                    cmdline: format!("ip -n {} -6 -o addr show dev eth0 scope link", h.name),
                    status: "IPv6 DAD failed".into(),
                    stderr: out,
                });
            }
            if out.trim().is_empty() || out.contains("tentative") {
                still.push(h);
            }
        }
        pending = still;
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            break;
        }
        thread::sleep(Duration::from_millis(25));
    }
    Err(LabError::Timeout {
        what: format!(
            "IPv6 DAD on eth0 of {:?}",
            pending.iter().map(|h| &h.name).collect::<Vec<_>>()
        ),
        after: DAD_TIMEOUT,
    })
}

/// Runs `f` on a scoped thread inside namespace `ns`.
fn in_netns_thread<R: Send>(
    ns: &str,
    f: impl FnOnce() -> Result<R, LabError> + Send,
) -> Result<R, LabError> {
    thread::scope(|s| {
        let handle = s.spawn(|| {
            enter_netns(ns)?;
            f()
        });
        match handle.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

impl Host {
    pub fn index(&self) -> usize {
        self.index
    }

    /// Namespace name, e.g. `pdlab-4242-0-h1`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// IPv4 address of `eth0`.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// Pids of the processes started with [`Host::spawn`].
    pub fn spawned_pids(&self) -> Vec<u32> {
        lock(&self.spawned).clone()
    }

    /// Runs `f` on a fresh thread inside this host's namespace and returns its
    /// result; a panic in `f` is propagated. Threads `f` spawns inherit the
    /// namespace; sockets `f` creates stay in it wherever they are used later.
    pub fn run_in<F, R>(&self, f: F) -> R
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        thread::scope(|s| {
            let handle = thread::Builder::new()
                .name(format!("netns:{}", self.name))
                .spawn_scoped(s, || {
                    if let Err(e) = enter_netns(&self.name) {
                        panic!("cannot enter namespace {}: {e}", self.name);
                    }
                    f()
                })
                .expect("spawn a thread for run_in");
            match handle.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Like [`Host::run_in`] but does not wait: returns the thread's handle.
    /// Join it before the lab is dropped.
    pub fn spawn_thread<F, R>(&self, f: F) -> thread::JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let name = self.name.clone();
        thread::Builder::new()
            .name(format!("netns:{name}"))
            .spawn(move || {
                if let Err(e) = enter_netns(&name) {
                    panic!("cannot enter namespace {name}: {e}");
                }
                f()
            })
            .expect("spawn a thread for spawn_thread")
    }

    /// Starts `cmd` inside this host's namespace. The child enters it with
    /// `setns` between fork and exec, so stdio, env and cwd settings of `cmd`
    /// are kept (unlike `ip netns exec`, `/sys` and `/etc/netns` are not
    /// remounted). The pid is tracked; teardown kills every process left in
    /// the namespace, children of it included.
    pub fn spawn(&self, mut cmd: Command) -> Result<Child, LabError> {
        let path = ns_path(&self.name);
        let ns = File::open(&path).map_err(|source| LabError::Io {
            what: format!("open {}", path.display()),
            source,
        })?;
        let fd = ns.as_raw_fd();
        let cmdline = render(&cmd, None);
        // SAFETY: the hook only calls setns(2), which is async-signal-safe; `fd`
        // stays open until spawn returns (and is O_CLOEXEC, so the program
        // does not inherit it).
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            });
        }
        let child = cmd.spawn().map_err(|source| LabError::Io {
            what: format!("spawn `{cmdline}` in {}", self.name),
            source,
        })?;
        drop(ns);
        lock(&self.spawned).push(child.id());
        Ok(child)
    }

    /// SIGKILLs the processes started with [`Host::spawn`] that are still
    /// unreaped children of this process (so the pid cannot have been reused).
    /// Teardown does this, then kills whatever else is left in the namespace.
    pub fn kill_spawned(&self) {
        let me = std::process::id();
        for &pid in lock(&self.spawned).iter() {
            if parent_of(pid) == Some(me) {
                // SAFETY: kill(2) on our own unreaped child.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }

    /// Runs `ip netns exec <ns> <args..>` to completion and returns stdout.
    pub fn exec(&self, args: &[&str]) -> Result<String, LabError> {
        let mut cmd = Command::new(ip_path()?);
        cmd.args(["netns", "exec", &self.name]).args(args);
        run(cmd, None)
    }

    /// Brings `eth0` down or up. Up restores the multicast route (the kernel
    /// drops it on link down) and waits for IPv6 DAD.
    pub fn set_link(&self, up: bool) -> Result<(), LabError> {
        if up {
            ip_n(&self.name, &["link", "set", "eth0", "up"])?;
            ip_n(
                &self.name,
                &["route", "replace", "224.0.0.0/4", "dev", "eth0"],
            )?;
            wait_dad(&[self])
        } else {
            ip_n(&self.name, &["link", "set", "eth0", "down"]).map(drop)
        }
    }

    /// Random loss of `percent` % on this host's `eth0`, ingress and egress
    /// independently; 0 removes it.
    pub fn set_loss(&self, percent: u32) -> Result<(), LabError> {
        self.apply_loss(percent, true, true)
    }

    fn apply_loss(&self, percent: u32, ingress: bool, egress: bool) -> Result<(), LabError> {
        if percent > 100 {
            return Err(LabError::Invalid(format!("loss {percent} % > 100 %")));
        }
        // Adding then deleting makes the reset idempotent, all in one transaction.
        let mut script = format!("table netdev {LOSS_TABLE}\ndelete table netdev {LOSS_TABLE}\n");
        if percent > 0 {
            script.push_str(&format!("table netdev {LOSS_TABLE} {{\n"));
            for (hook, on) in [("ingress", ingress), ("egress", egress)] {
                if on {
                    let matcher = if percent >= 100 {
                        String::new() // `mod 100 < 100` is rejected by nft
                    } else {
                        format!("numgen random mod 100 < {percent} ")
                    };
                    script.push_str(&format!(
                        "\tchain {hook} {{ type filter hook {hook} device \"eth0\" priority 0; \
                         policy accept; {matcher}counter drop; }}\n"
                    ));
                }
            }
            script.push_str("}\n");
        }
        nft_in(&self.name, &script)
    }
}
