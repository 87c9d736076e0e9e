//! `peerdisc_gossip_*`: gossip over the application's own transport (the
//! seed system's `GossipDiscovery`), applying every change to a registry.
//!
//! The handle wraps a [`GossipDiscovery`] behind a mutex. What it sends is
//! collected while the mutex is held and handed to the C send callback
//! after it is released: the callback never runs under a lock, and may call
//! back into the handle (`peerdisc_gossip_handle` of another node in an
//! in-memory transport, or of this one).

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, Sender};
use parking_lot::Mutex;
use serde::Deserialize;

use super::args::{handle, out_ptr, owned_c_string, str_arg, write_out};
use super::callback::{peerdisc_finalizer, Gate, UserData};
use super::registry::peerdisc_registry;
use super::registry_write::{node_id_arg, object_arg};
use super::status::{guard, peerdisc_status, peerdisc_status::*, FfiError, FfiResult};
use crate::membership::{GossipDiscovery, MembershipConfig};
use crate::model::{Capabilities, NodeId, PeerAddress, PeerRecord, DEFAULT_WS_PATH};
use crate::registry::PeerRegistry;

/// Sends one message: `user_data` as given to `peerdisc_gossip_new`, the
/// recipient's node id and the message (one JSON object), both borrowed
/// for the duration of the call only. Delivery is best effort: a lost
/// message is tolerated. Runs on the thread of the call that produced the
/// message (`_handle`, `_tick`, `_join`, `_leave`) or on the handle's timer
/// thread (`_start`), never while a library lock is held.
pub type peerdisc_send_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        to_node_id: *const c_char,
        message_json: *const c_char,
    ),
>;

type Outbox = Arc<Mutex<Vec<(NodeId, String)>>>;
type Sink = Box<dyn FnMut(&NodeId, &str) + Send>;

/// The C send callback behind a gate (its finalizer runs once, after the
/// last call).
struct SendCallback {
    func: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char),
    user_data: UserData,
    gate: Gate,
}

impl SendCallback {
    fn send(&self, to: &NodeId, json: &str) {
        if !self.gate.enter() {
            return;
        }
        if let (Ok(to), Ok(msg)) = (CString::new(to.as_str()), CString::new(json)) {
            // SAFETY: function and user_data were given together by the
            // caller, who promised the function may be called from any
            // thread until its finalizer runs; the strings outlive the call.
            unsafe { (self.func)(self.user_data.0, to.as_ptr(), msg.as_ptr()) }
        }
        self.gate.leave();
    }
}

struct Shared {
    gossip: Mutex<GossipDiscovery<Sink>>,
    outbox: Outbox,
    send: SendCallback,
    epoch: Instant,
    timer: Mutex<Option<Timer>>,
}

struct Timer {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Shared {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Runs `f` on the gossip (under its lock), then sends what it queued
    /// (after the lock is released).
    fn run<T>(&self, f: impl FnOnce(&mut GossipDiscovery<Sink>, u64) -> T) -> T {
        let r = {
            let mut g = self.gossip.lock();
            let now = self.now();
            let r = f(&mut g, now);
            // Nobody polls the events here: the registry has them.
            while g.poll_event().is_some() {}
            r
        };
        self.deliver();
        r
    }

    fn deliver(&self) {
        loop {
            let batch = std::mem::take(&mut *self.outbox.lock());
            if batch.is_empty() {
                return;
            }
            for (to, json) in batch {
                self.send.send(&to, &json);
            }
        }
    }

    /// The wait until the next deadline (at most 500 ms).
    fn wait(&self) -> Duration {
        let g = self.gossip.lock();
        let now = self.now();
        let d = g.next_deadline().map_or(500, |d| d.saturating_sub(now));
        Duration::from_millis(d.clamp(1, 500))
    }

    fn stop_timer(&self) {
        let timer = self.timer.lock().take();
        if let Some(t) = timer {
            let _ = t.stop.send(());
            // From inside a send callback on the timer thread itself: it
            // ends when that call returns.
            if t.thread.thread().id() != std::thread::current().id() {
                let _ = t.thread.join();
            }
        }
    }
}

/// Gossip over the application's transport (opaque). Made by
/// `peerdisc_gossip_new`, freed by `peerdisc_gossip_free`.
pub struct peerdisc_gossip {
    shared: Arc<Shared>,
}

/// The shared state of a handle, as an owned reference: a send callback
/// may free the handle while the call that invoked it is still running.
///
/// # Safety
/// `gossip` is NULL or a live handle.
unsafe fn shared_of(gossip: *const peerdisc_gossip) -> FfiResult<Arc<Shared>> {
    // SAFETY: caller's contract.
    let h = unsafe { handle(gossip, "gossip") }?;
    Ok(Arc::clone(&h.shared))
}

/// `config_json` of `peerdisc_gossip_new`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GossipConfig {
    node_id: String,
    #[serde(default)]
    addresses: Vec<String>,
    address: Option<String>,
    #[serde(default)]
    capabilities: Capabilities,
    #[serde(default)]
    metadata: std::collections::BTreeMap<String, String>,
    announce_interval_ms: Option<u64>,
    #[serde(default)]
    membership: MembershipConfig,
    rng_seed: Option<u64>,
}

impl GossipConfig {
    fn record(&self) -> FfiResult<PeerRecord> {
        let mut rec = PeerRecord::new(NodeId::new(&self.node_id).map_err(invalid)?);
        for a in self.addresses.iter().chain(&self.address) {
            rec.addresses
                .push(PeerAddress::with_default_path(a, DEFAULT_WS_PATH).map_err(invalid)?);
        }
        rec.capabilities = self.capabilities.clone();
        rec.metadata = self.metadata.clone();
        rec.version = 1;
        rec.validate().map_err(invalid)?;
        Ok(rec)
    }
}

fn invalid(e: impl std::fmt::Display) -> FfiError {
    FfiError::new(PEERDISC_ERR_INVALID_ARGUMENT, e.to_string())
}

/// Makes a gossiping node that talks through `send` and applies every
/// change it learns (new peers, newer records, liveness, health, removals)
/// to `registry`.
///
/// `config_json` is a JSON object: `node_id` (required), `addresses`
/// (array) and/or `address` (one URL; no path means `/peerdisc`): where
/// this node is, for the records; `capabilities`, `metadata`;
/// `announce_interval_ms`: when given, the seed-compatible mode is on and
/// a seed-shaped announcement (this node and its live peers, Unix
/// timestamp) goes to every member at that interval (the seed system's
/// `announce_interval`); `membership` (a `MembershipConfig` object);
/// `rng_seed`. Borrowed for the call only.
///
/// `send` is called for every message to deliver (see
/// `peerdisc_send_callback`). `finalizer` (may be NULL) runs exactly once
/// with `user_data`, after the last call of `send`, when the handle is
/// freed; if this call fails neither is ever called. The handle holds its
/// own reference to the registry's peers: `registry` may be freed before
/// or after it.
///
/// On success writes a new handle to `*gossip_out` (free it with
/// `peerdisc_gossip_free`). `PEERDISC_ERR_INVALID_JSON` for malformed JSON,
/// a value that is not an object or an unknown field,
/// `PEERDISC_ERR_INVALID_ARGUMENT` for an invalid node id, address or
/// setting, `PEERDISC_ERR_NULL_ARGUMENT` for a NULL `send`.
///
/// # Safety
/// `registry` is a live handle; `config_json` is a NUL-terminated string;
/// `send` and `finalizer` are valid functions; `gossip_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_gossip_new(
    registry: *const peerdisc_registry,
    config_json: *const c_char,
    send: peerdisc_send_callback,
    user_data: *mut c_void,
    finalizer: peerdisc_finalizer,
    gossip_out: *mut *mut peerdisc_gossip,
) -> peerdisc_status {
    guard("peerdisc_gossip_new", || {
        let out = out_ptr(gossip_out, "gossip_out")?;
        // SAFETY: caller's contract.
        let reg = unsafe { handle(registry, "registry") }?;
        let func = send
            .ok_or_else(|| FfiError::new(PEERDISC_ERR_NULL_ARGUMENT, "send is NULL".to_string()))?;
        // SAFETY: caller's contract.
        let cfg: GossipConfig = unsafe { object_arg(config_json, "config_json") }?;
        let mut membership = cfg.membership.clone();
        if let Some(ms) = cfg.announce_interval_ms {
            membership.seed_compatible = true;
            membership.announce_interval_ms = ms;
        }
        let gossip = new_gossip(reg.registry.clone(), &cfg, membership)?;
        let ud = UserData(user_data);
        let shared = Arc::new(Shared {
            gossip: Mutex::new(gossip.0),
            outbox: gossip.1,
            send: SendCallback {
                func,
                user_data: ud,
                gate: Gate::new(finalizer, ud),
            },
            epoch: Instant::now(),
            timer: Mutex::new(None),
        });
        let h = Box::new(peerdisc_gossip { shared });
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out, Box::into_raw(h)) };
        Ok(())
    })
}

fn new_gossip(
    registry: PeerRegistry,
    cfg: &GossipConfig,
    membership: MembershipConfig,
) -> FfiResult<(GossipDiscovery<Sink>, Outbox)> {
    let outbox: Outbox = Arc::default();
    let sink_box = Arc::clone(&outbox);
    let sink: Sink = Box::new(move |to: &NodeId, json: &str| {
        sink_box.lock().push((to.clone(), json.to_string()));
    });
    let seed = cfg.rng_seed.unwrap_or_else(rand::random);
    let mut g = GossipDiscovery::with_registry(registry, cfg.record()?, membership, seed, sink)
        .map_err(invalid)?;
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    g.set_unix_epoch_ms(unix_ms);
    Ok((g, outbox))
}

/// Hands in one message received from `sender_id` over the application's
/// transport (any protocol message, including the seed system's bare
/// `gossip_announcement`). What it changes is applied to the registry;
/// answers go out through `send` before this call returns.
///
/// `PEERDISC_ERR_INVALID_JSON` if the message does not decode (it is then
/// counted against the sender's health and changes nothing else),
/// `PEERDISC_ERR_INVALID_ARGUMENT` for an invalid sender id. Both strings
/// are borrowed for the call only. Thread-safe.
///
/// # Safety
/// `gossip` is a live handle; `message_json` and `sender_id` are
/// NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_gossip_handle(
    gossip: *const peerdisc_gossip,
    message_json: *const c_char,
    sender_id: *const c_char,
) -> peerdisc_status {
    guard("peerdisc_gossip_handle", || {
        // SAFETY: caller's contract.
        let h = unsafe { shared_of(gossip) }?;
        // SAFETY: caller's contract.
        let msg = unsafe { str_arg(message_json, "message_json") }?;
        // SAFETY: caller's contract.
        let from = unsafe { node_id_arg(sender_id, "sender_id") }?;
        let from = NodeId::new(from).map_err(invalid)?;
        h.run(|g, now| g.handle_announcement_at(msg, &from, now))
            .map_err(|e| FfiError::new(PEERDISC_ERR_INVALID_JSON, e.to_string()))
    })
}

/// Runs what is due now (probes, gossip rounds, announcements, timeouts);
/// messages go out through `send` before it returns. Call it every few
/// tens of milliseconds, or use `peerdisc_gossip_start` instead.
/// Thread-safe.
///
/// # Safety
/// `gossip` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_gossip_tick(gossip: *const peerdisc_gossip) -> peerdisc_status {
    guard("peerdisc_gossip_tick", || {
        // SAFETY: caller's contract.
        let h = unsafe { shared_of(gossip) }?;
        h.run(|g, now| g.tick(now));
        Ok(())
    })
}

/// Joins the network through these nodes (`node_ids_json`: a JSON array
/// of node ids the application can send to); their answers make them and
/// their peers members. Joining again is allowed. Borrowed for the call
/// only. `PEERDISC_ERR_INVALID_ARGUMENT` for an invalid id,
/// `PEERDISC_ERR_INVALID_STATE` after `peerdisc_gossip_leave`.
/// Thread-safe.
///
/// # Safety
/// `gossip` is a live handle; `node_ids_json` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_gossip_join(
    gossip: *const peerdisc_gossip,
    node_ids_json: *const c_char,
) -> peerdisc_status {
    guard("peerdisc_gossip_join", || {
        // SAFETY: caller's contract.
        let h = unsafe { shared_of(gossip) }?;
        // SAFETY: caller's contract.
        let json = unsafe { str_arg(node_ids_json, "node_ids_json") }?;
        let ids: Vec<String> = serde_json::from_str(json)?;
        let ids = ids
            .iter()
            .map(|i| NodeId::new(i).map_err(invalid))
            .collect::<FfiResult<Vec<_>>>()?;
        h.run(|g, now| g.join(&ids, now))
            .map_err(|e| FfiError::new(PEERDISC_ERR_INVALID_STATE, e.to_string()))
    })
}

/// Leaves gracefully: the members are told (through `send`, before this
/// returns), and this node stops probing. `PEERDISC_ERR_INVALID_STATE` if
/// it already left. Thread-safe.
///
/// # Safety
/// `gossip` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_gossip_leave(gossip: *const peerdisc_gossip) -> peerdisc_status {
    guard("peerdisc_gossip_leave", || {
        // SAFETY: caller's contract.
        let h = unsafe { shared_of(gossip) }?;
        h.run(|g, _| g.leave())
            .map_err(|e| FfiError::new(PEERDISC_ERR_INVALID_STATE, e.to_string()))
    })
}

/// Starts the handle's timer thread (`peerdisc-gossip`), which runs
/// `peerdisc_gossip_tick` at every deadline (at least every 500 ms); `send`
/// is then also called from that thread. `PEERDISC_ERR_INVALID_STATE` if it
/// runs already, `PEERDISC_ERR_INTERNAL` if the thread cannot be started.
/// Thread-safe.
///
/// # Safety
/// `gossip` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_gossip_start(gossip: *const peerdisc_gossip) -> peerdisc_status {
    guard("peerdisc_gossip_start", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(gossip, "gossip") }?;
        let mut timer = h.shared.timer.lock();
        if timer.is_some() {
            return Err(FfiError::new(
                PEERDISC_ERR_INVALID_STATE,
                "the timer thread runs already",
            ));
        }
        let (stop, stopped) = bounded::<()>(1);
        let shared = Arc::clone(&h.shared);
        let thread = std::thread::Builder::new()
            .name("peerdisc-gossip".into())
            .spawn(move || loop {
                match stopped.recv_timeout(shared.wait()) {
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                        shared.run(|g, now| g.tick(now))
                    }
                    _ => return,
                }
            })
            .map_err(|e| FfiError::new(PEERDISC_ERR_INTERNAL, e.to_string()))?;
        *timer = Some(Timer { stop, thread });
        Ok(())
    })
}

/// Stops the timer thread and waits for it to end (at once if it is not
/// running; from inside `send` on the timer thread itself, it ends when
/// that call returns). Does not leave: see `peerdisc_gossip_leave`.
/// Thread-safe.
///
/// # Safety
/// `gossip` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_gossip_stop(gossip: *const peerdisc_gossip) -> peerdisc_status {
    guard("peerdisc_gossip_stop", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(gossip, "gossip") }?;
        h.shared.stop_timer();
        Ok(())
    })
}

/// The members this node knows (any liveness), as a JSON array of
/// `{"node_id", "liveness", "incarnation", "version", "health"}` sorted by
/// node id. On success writes a new string to `*json_out`, owned by the
/// caller (free with `peerdisc_string_free`). Thread-safe.
///
/// # Safety
/// `gossip` is a live handle; `json_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_gossip_members(
    gossip: *const peerdisc_gossip,
    json_out: *mut *mut c_char,
) -> peerdisc_status {
    guard("peerdisc_gossip_members", || {
        let out = out_ptr(json_out, "json_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(gossip, "gossip") }?;
        let mut members = h.shared.gossip.lock().members();
        members.sort_by(|a, b| a.record.node_id.cmp(&b.record.node_id));
        let list: Vec<serde_json::Value> = members
            .iter()
            .map(|m| {
                serde_json::json!({
                    "node_id": m.record.node_id,
                    "liveness": m.liveness,
                    "incarnation": m.incarnation,
                    "version": m.record.version,
                    "health": m.health,
                })
            })
            .collect();
        let s = owned_c_string(serde_json::Value::Array(list).to_string())?;
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, s) };
        Ok(())
    })
}

/// Frees a gossip handle. NULL is accepted and ignored. The timer thread is
/// stopped, no `send` call starts after this call begins, calls running on
/// other threads are waited for, and the finalizer runs once after the last
/// one (called from inside `send`, this returns at once and the finalizer
/// runs when that call returns). Does not leave: call
/// `peerdisc_gossip_leave` first to tell the members.
///
/// # Safety
/// `gossip` is NULL or a live handle from `peerdisc_gossip_new`, not used
/// by any other call (outside its `send`) during or after this one.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_gossip_free(gossip: *mut peerdisc_gossip) {
    if gossip.is_null() {
        return;
    }
    let _ = guard("peerdisc_gossip_free", || {
        // SAFETY: made by Box::into_raw in peerdisc_gossip_new, freed once
        // (caller's contract).
        let h = unsafe { Box::from_raw(gossip) };
        h.shared.stop_timer();
        h.shared.send.gate.close();
        drop(h);
        Ok(())
    });
}
