//! The process's surroundings: open-file limit, a private network namespace
//! (so the loopback counters are ours alone), packet loss on loopback, CPU
//! time.

use std::process::Command;

/// One process runs every node: raise the limit on open files (as root up
/// to `WANTED_FDS`, otherwise the soft limit to the hard one). Returns the
/// limit in force.
pub fn raise_fd_limit() -> u64 {
    const WANTED_FDS: u64 = 262_144;
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        let raised = libc::rlimit {
            rlim_cur: WANTED_FDS.max(lim.rlim_max),
            rlim_max: WANTED_FDS.max(lim.rlim_max),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            return raised.rlim_cur;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        lim.rlim_cur
    }
}

fn run(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Moves the process into a network namespace of its own with only a
/// loopback interface. Must be called before any thread is started: threads
/// started later inherit the namespace of the thread that starts them.
pub fn enter_private_netns() -> Result<(), String> {
    // SAFETY: plain system call, no pointers.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(format!(
            "unshare(CLONE_NEWNET): {}",
            std::io::Error::last_os_error()
        ));
    }
    run("ip", &["link", "set", "lo", "up"])
}

/// Drops `pct` % of the packets that arrive on loopback (nftables, input
/// hook: a silent loss, the sender sees nothing), for TCP and UDP alike. Only
/// inside the private namespace.
pub fn set_loopback_loss(pct: u32) -> Result<(), String> {
    run("nft", &["add", "table", "inet", "versus"])?;
    run(
        "nft",
        &[
            "add",
            "chain",
            "inet",
            "versus",
            "input",
            "{ type filter hook input priority 0 ; policy accept ; }",
        ],
    )?;
    let pct = pct.to_string();
    run(
        "nft",
        &[
            "add", "rule", "inet", "versus", "input", "iif", "lo", "numgen", "random", "mod",
            "100", "<", &pct, "drop",
        ],
    )
}

/// Bytes and packets sent on the loopback interface as the kernel counts
/// them (IP and TCP/UDP headers, TCP acknowledgements and handshakes
/// included).
pub fn loopback_tx() -> Option<(u64, u64)> {
    let dev = std::fs::read_to_string("/proc/net/dev").ok()?;
    let line = dev.lines().find(|l| l.trim_start().starts_with("lo:"))?;
    let fields: Vec<&str> = line.split(':').nth(1)?.split_whitespace().collect();
    Some((fields.get(8)?.parse().ok()?, fields.get(9)?.parse().ok()?))
}

/// CPU time (user + system) used by the whole process so far, in seconds.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage with a valid pointer to a zeroed local struct.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The machine's 1-minute load average (other jobs share the 2 cores).
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}
