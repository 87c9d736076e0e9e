//! Registry snapshots: the peers a node knew, saved to a file so a restarted
//! node rejoins through them without bootstrap nodes.
//!
//! Format (JSON, strict, versioned):
//!
//! ```json
//! {"format": 1, "saved_at_ms": 1764000000000, "peers": [ ...Peer JSON... ]}
//! ```
//!
//! Each peer is the [`Peer`] JSON of the model. Unknown fields, another
//! `format`, an invalid peer, a duplicate node id or a file over
//! [`MAX_SNAPSHOT_BYTES`] are errors.
//!
//! - [`save_snapshot`] writes atomically: a temporary file in the same
//!   directory, written, `sync_all`ed, renamed over the snapshot, and the
//!   directory synced; a crash leaves the old or the new snapshot, never a
//!   mix.
//! - [`load_or_set_aside`] is what a starting node calls: a missing file is
//!   an empty start; a corrupt or truncated one is renamed to
//!   `<path>.corrupt-<unix ms>` and reported as a [`SnapshotWarning`], and
//!   the node starts anyway.
//! - [`restore`] puts the loaded peers in a registry (disconnected, keeping
//!   what they were known as), and [`rejoin_addresses`] picks the
//!   addresses to join through (instead of bootstrap nodes).
//! - [`Snapshotter`] saves periodically on a thread of its own and once
//!   more when stopped.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use serde::{Deserialize, Serialize};

use crate::identity::key::{sync_parent, temp_path};
use crate::model::{ConnectionState, NodeId, Peer, PeerAddress};
use crate::registry::PeerRegistry;

/// The snapshot format written and accepted by this build (field `format`).
pub const SNAPSHOT_FORMAT: u64 = 1;
/// Largest snapshot accepted, in bytes (checked before parsing).
pub const MAX_SNAPSHOT_BYTES: u64 = 256 * 1024 * 1024;

/// Why a snapshot could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// Reading, writing, syncing or renaming failed (including: no
    /// snapshot file; see [`PersistError::is_not_found`]).
    #[error("snapshot {path}: {source}")]
    Io {
        /// The snapshot file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than the limit; it was not parsed.
    #[error("snapshot is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Its size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The file is not a snapshot: not JSON, truncated, unknown or missing
    /// fields, or an invalid peer.
    #[error("snapshot is corrupt: {0}")]
    Corrupt(String),
    /// The snapshot was written in another format version.
    #[error("snapshot format {found} is not supported (this build reads {supported})")]
    UnsupportedFormat {
        /// The format found.
        found: u64,
        /// The format this build reads.
        supported: u64,
    },
    /// The same node id appears twice.
    #[error("snapshot lists node {0} twice")]
    DuplicatePeer(NodeId),
}

impl PersistError {
    /// True when the snapshot file does not exist (a first start).
    pub fn is_not_found(&self) -> bool {
        matches!(self, PersistError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// A snapshot that could not be loaded and was set aside; the node starts
/// without it. `Display` is the warning to log.
#[derive(Debug)]
#[non_exhaustive]
pub struct SnapshotWarning {
    /// The snapshot path.
    pub path: PathBuf,
    /// Where the bad file was moved (None if it could not be moved).
    pub moved_to: Option<PathBuf>,
    /// Why it could not be loaded.
    pub error: PersistError,
}

impl fmt::Display for SnapshotWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "peer snapshot {} could not be loaded ({}); ",
            self.path.display(),
            self.error
        )?;
        match &self.moved_to {
            Some(p) => write!(
                f,
                "it was set aside as {} and the node starts without known peers",
                p.display()
            ),
            None => write!(
                f,
                "it was left in place and the node starts without known peers"
            ),
        }
    }
}

#[derive(Serialize)]
struct SnapshotOut<'a> {
    format: u64,
    saved_at_ms: u64,
    peers: &'a [Arc<Peer>],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotIn {
    format: u64,
    saved_at_ms: u64,
    peers: Vec<Peer>,
}

#[derive(Deserialize)]
struct FormatOnly {
    format: Option<u64>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Saves every peer of `registry` to `path` atomically (see the module
/// docs). Returns how many peers were written.
pub fn save_snapshot(
    registry: &PeerRegistry,
    path: impl AsRef<Path>,
) -> Result<usize, PersistError> {
    save_peers(&registry.list(), path)
}

/// Saves these peers to `path` atomically. Returns how many were written.
pub fn save_peers(peers: &[Arc<Peer>], path: impl AsRef<Path>) -> Result<usize, PersistError> {
    let path = path.as_ref();
    let io = |source| PersistError::Io {
        path: path.to_path_buf(),
        source,
    };
    let snap = SnapshotOut {
        format: SNAPSHOT_FORMAT,
        saved_at_ms: now_ms(),
        peers,
    };
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        let mut w = std::io::BufWriter::new(&mut f);
        serde_json::to_writer(&mut w, &snap).map_err(std::io::Error::other)?;
        w.write_all(b"\n")?;
        w.flush()?;
        drop(w);
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)?;
    sync_parent(path).map_err(io)?;
    Ok(peers.len())
}

/// Decodes snapshot bytes (strict; see the module docs).
pub fn decode_snapshot(bytes: &[u8]) -> Result<Vec<Peer>, PersistError> {
    if bytes.len() as u64 > MAX_SNAPSHOT_BYTES {
        return Err(PersistError::TooLarge {
            len: bytes.len() as u64,
            max: MAX_SNAPSHOT_BYTES,
        });
    }
    let snap: SnapshotIn = match crate::strict_json::from_slice(bytes) {
        Ok(s) => s,
        Err(e) => {
            // Name a wrong version rather than the field it broke on.
            if let Ok(FormatOnly { format: Some(f) }) = crate::strict_json::from_slice(bytes) {
                if f != SNAPSHOT_FORMAT {
                    return Err(PersistError::UnsupportedFormat {
                        found: f,
                        supported: SNAPSHOT_FORMAT,
                    });
                }
            }
            return Err(PersistError::Corrupt(e.to_string()));
        }
    };
    if snap.format != SNAPSHOT_FORMAT {
        return Err(PersistError::UnsupportedFormat {
            found: snap.format,
            supported: SNAPSHOT_FORMAT,
        });
    }
    let _ = snap.saved_at_ms;
    let mut seen = std::collections::HashSet::with_capacity(snap.peers.len());
    for p in &snap.peers {
        if !seen.insert(p.node_id().clone()) {
            return Err(PersistError::DuplicatePeer(p.node_id().clone()));
        }
    }
    Ok(snap.peers)
}

/// Loads the snapshot at `path` (strict; a missing file is an
/// [`PersistError::Io`] for which [`PersistError::is_not_found`] holds).
pub fn load_snapshot(path: impl AsRef<Path>) -> Result<Vec<Peer>, PersistError> {
    let path = path.as_ref();
    let io = |source| PersistError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    if len > MAX_SNAPSHOT_BYTES {
        return Err(PersistError::TooLarge {
            len,
            max: MAX_SNAPSHOT_BYTES,
        });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    f.take(MAX_SNAPSHOT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    decode_snapshot(&bytes)
}

/// Loads the snapshot at `path` for a starting node: the peers, or none if
/// there is no file. A corrupt, truncated, oversized or other-format file is
/// renamed to `<path>.corrupt-<unix ms>`; a file that cannot be read is left
/// in place. Either way the node starts without peers, and the returned
/// warning (also logged) says what happened.
pub fn load_or_set_aside(path: impl AsRef<Path>) -> (Vec<Peer>, Option<SnapshotWarning>) {
    let path = path.as_ref();
    match load_snapshot(path) {
        Ok(peers) => (peers, None),
        Err(e) if e.is_not_found() => (Vec::new(), None),
        Err(error) => {
            // A file that could not be read (permissions, I/O) is left in
            // place; only a file whose content is bad is set aside.
            let moved_to = if matches!(error, PersistError::Io { .. }) {
                None
            } else {
                let mut name = path.as_os_str().to_owned();
                name.push(format!(".corrupt-{}", now_ms()));
                let aside = PathBuf::from(name);
                fs::rename(path, &aside).ok().map(|_| aside)
            };
            let warning = SnapshotWarning {
                path: path.to_path_buf(),
                moved_to,
                error,
            };
            log::warn!("{warning}");
            (Vec::new(), Some(warning))
        }
    }
}

/// Adds the loaded peers to `registry`, as disconnected, skipping those it
/// already lists (and those it refuses, such as this node's own id or when
/// full). Returns how many were added.
pub fn restore(registry: &PeerRegistry, peers: Vec<Peer>, own_id: Option<&NodeId>) -> usize {
    let mut added = 0;
    for mut peer in peers {
        if Some(peer.node_id()) == own_id || registry.contains(peer.node_id().as_str()) {
            continue;
        }
        peer.connection_state = ConnectionState::Disconnected;
        if registry.add(peer).is_ok() {
            added += 1;
        }
    }
    added
}

/// The addresses a restarted node should try to rejoin through, best first:
/// peers last known present (alive or suspect) before the others, then the
/// healthier, then the more recently seen; each peer's first (preferred)
/// address, at most `limit` of them.
pub fn rejoin_addresses(peers: &[Peer], limit: usize) -> Vec<PeerAddress> {
    let mut ranked: Vec<&Peer> = peers.iter().filter(|p| !p.addresses().is_empty()).collect();
    ranked.sort_by(|a, b| {
        b.is_alive()
            .cmp(&a.is_alive())
            .then(b.health_score().total_cmp(&a.health_score()))
            .then(b.last_seen_ms.cmp(&a.last_seen_ms))
            .then(a.node_id().cmp(b.node_id()))
    });
    ranked
        .into_iter()
        .take(limit)
        .map(|p| p.addresses()[0].clone())
        .collect()
}

/// Saves a registry's snapshot every `interval` on a thread of its own, and
/// once more on [`stop`](Snapshotter::stop) (or drop). Failed saves are
/// logged and retried at the next interval.
pub struct Snapshotter {
    path: PathBuf,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<Result<usize, PersistError>>>,
}

impl fmt::Debug for Snapshotter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshotter")
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl Snapshotter {
    /// Starts saving `registry` to `path` every `interval`.
    pub fn start(
        registry: PeerRegistry,
        path: impl Into<PathBuf>,
        interval: Duration,
    ) -> std::io::Result<Snapshotter> {
        let path = path.into();
        let thread_path = path.clone();
        let (tx, rx) = bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("peerdisc-snapshot".into())
            .spawn(move || loop {
                match rx.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {
                        if let Err(e) = save_snapshot(&registry, &thread_path) {
                            log::warn!("periodic peer snapshot failed: {e}");
                        }
                    }
                    // Stop asked (or the handle dropped): the final save.
                    _ => return save_snapshot(&registry, &thread_path),
                }
            })?;
        Ok(Snapshotter {
            path,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Stops the thread after a final save, and returns that save's result.
    pub fn stop(mut self) -> Result<usize, PersistError> {
        self.finish().expect("not stopped yet")
    }

    fn finish(&mut self) -> Option<Result<usize, PersistError>> {
        let tx = self.stop.take()?;
        let _ = tx.send(());
        let thread = self.thread.take()?;
        Some(match thread.join() {
            Ok(r) => r,
            Err(_) => Err(PersistError::Io {
                path: self.path.clone(),
                source: std::io::Error::other("the snapshot thread panicked"),
            }),
        })
    }
}

impl Drop for Snapshotter {
    fn drop(&mut self) {
        if let Some(Err(e)) = self.finish() {
            log::warn!("final peer snapshot failed: {e}");
        }
    }
}
