//! `peerdisc_registry_*`: a standalone peer registry.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::args::{
    handle, model_json_arg, node_id_arg, opt_json_arg, out_ptr, owned_c_string, str_arg, write_opt,
    write_out,
};
use super::callback::{peerdisc_event_callback, peerdisc_finalizer, CallbackCore, CallbackSet};
use super::status::{guard, peerdisc_status, peerdisc_status::*, FfiError, FfiResult};
use super::subscription::peerdisc_subscription;
use crate::events::CallbackId;
use crate::model::{CapabilityKind, ConnectionState, Liveness, Peer, PeerRecord};
use crate::registry::{PeerFilter, PeerRegistry, RegistryConfig, UpsertOutcome};

/// A thread-safe peer registry (opaque). Made by `peerdisc_registry_new`,
/// freed by `peerdisc_registry_free`.
pub struct peerdisc_registry {
    pub(crate) registry: PeerRegistry,
    pub(crate) callbacks: CallbackSet,
}

/// The kind of a capability.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum peerdisc_capability_kind {
    PEERDISC_CAPABILITY_AGENT = 0,
    PEERDISC_CAPABILITY_TOOL = 1,
    PEERDISC_CAPABILITY_RESOURCE = 2,
    PEERDISC_CAPABILITY_PROMPT = 3,
}

/// What `peerdisc_registry_upsert` did.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum peerdisc_upsert_outcome {
    /// The peer was new.
    PEERDISC_UPSERT_ADDED = 0,
    /// The record was newer and replaced the listed one.
    PEERDISC_UPSERT_UPDATED = 1,
    /// The record was not newer; nothing changed.
    PEERDISC_UPSERT_IGNORED = 2,
}

/// Whether a peer is believed to run.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum peerdisc_liveness {
    PEERDISC_LIVENESS_ALIVE = 0,
    PEERDISC_LIVENESS_SUSPECT = 1,
    PEERDISC_LIVENESS_DEAD = 2,
    PEERDISC_LIVENESS_LEFT = 3,
}

/// This node's connection to a peer.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum peerdisc_connection_state {
    PEERDISC_CONNECTION_DISCONNECTED = 0,
    PEERDISC_CONNECTION_CONNECTING = 1,
    PEERDISC_CONNECTION_CONNECTED = 2,
    PEERDISC_CONNECTION_FAILED = 3,
}

fn bad_enum(what: &str, v: i32) -> FfiError {
    FfiError::new(
        PEERDISC_ERR_INVALID_ARGUMENT,
        format!("{v} is not a valid {what}"),
    )
}

pub(crate) fn capability_kind(v: i32) -> FfiResult<CapabilityKind> {
    Ok(match v {
        0 => CapabilityKind::Agent,
        1 => CapabilityKind::Tool,
        2 => CapabilityKind::Resource,
        3 => CapabilityKind::Prompt,
        _ => return Err(bad_enum("peerdisc_capability_kind", v)),
    })
}

fn liveness(v: i32) -> FfiResult<Liveness> {
    Ok(match v {
        0 => Liveness::Alive,
        1 => Liveness::Suspect,
        2 => Liveness::Dead,
        3 => Liveness::Left,
        _ => return Err(bad_enum("peerdisc_liveness", v)),
    })
}

fn connection_state(v: i32) -> FfiResult<ConnectionState> {
    Ok(match v {
        0 => ConnectionState::Disconnected,
        1 => ConnectionState::Connecting,
        2 => ConnectionState::Connected,
        3 => ConnectionState::Failed,
        _ => return Err(bad_enum("peerdisc_connection_state", v)),
    })
}

/// A list of peers as a JSON array, byte for byte what serializing the
/// `Vec<Arc<Peer>>` gives, but without cloning each peer (`Peer`
/// serializes through an owned copy; see `PeerView`).
pub fn peers_json(peers: &[Arc<Peer>]) -> String {
    // About 550 bytes per typical peer: one allocation, rarely two.
    let mut buf = Vec::with_capacity(64 + peers.len() * 640);
    let views = peers.iter().map(|p| PeerView::of(p));
    serde_json::to_writer(&mut buf, &SerializeIter(std::cell::Cell::new(Some(views))))
        .expect("peers always serialize");
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

/// One peer as JSON (as `Peer::to_json`, without the copy).
pub(crate) fn peer_json(peer: &Peer) -> String {
    serde_json::to_string(&PeerView::of(peer)).expect("a peer always serializes")
}

/// Serializes an iterator as a JSON array, once.
struct SerializeIter<I>(std::cell::Cell<Option<I>>);

impl<I: Iterator<Item = T>, T: serde::Serialize> serde::Serialize for SerializeIter<I> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.take().into_iter().flatten())
    }
}

/// A borrowed view of a [`Peer`] that serializes exactly as `Peer` does
/// (field for field, in the same order; `tests::peer_view_matches_peer_json`
/// checks it against `Peer::to_json`).
#[derive(serde::Serialize)]
pub(crate) struct PeerView<'a> {
    format: u64,
    node_id: &'a crate::model::NodeId,
    addresses: &'a [crate::model::PeerAddress],
    public_key: &'a Option<Box<str>>,
    capabilities: &'a crate::model::Capabilities,
    metadata: &'a std::collections::BTreeMap<String, String>,
    version: u64,
    connection_state: ConnectionState,
    liveness: Liveness,
    incarnation: u64,
    health: &'a crate::model::Health,
    first_seen_ms: u64,
    last_seen_ms: u64,
    liveness_changed_ms: u64,
}

impl<'a> PeerView<'a> {
    pub(crate) fn of(p: &'a Peer) -> Self {
        PeerView {
            format: crate::model::PEER_FORMAT_VERSION,
            node_id: &p.record.node_id,
            addresses: &p.record.addresses,
            public_key: &p.record.public_key,
            capabilities: &p.record.capabilities,
            metadata: &p.record.metadata,
            version: p.record.version,
            connection_state: p.connection_state,
            liveness: p.liveness,
            incarnation: p.incarnation,
            health: &p.health,
            first_seen_ms: p.first_seen_ms,
            last_seen_ms: p.last_seen_ms,
            liveness_changed_ms: p.liveness_changed_ms,
        }
    }
}

/// Registers a C callback for every event of `registry`, through `set`.
pub(crate) fn register_registry_callback(
    set: &CallbackSet,
    registry: &PeerRegistry,
    core: Arc<CallbackCore>,
) -> FfiResult<u64> {
    set.register(core, |core| {
        let id = registry.on_event(move |_, ev| core.invoke(|| ev.to_json()))?;
        Ok(id.0)
    })
}

/// Closes every callback of `set` and unregisters them from `registry`.
pub(crate) fn close_registry_callbacks(set: &CallbackSet, registry: &PeerRegistry) {
    for id in set.close_all() {
        registry.remove_callback(CallbackId(id));
    }
}

/// Makes a registry.
///
/// `config_json`: NULL for the defaults, or a JSON object (nothing else: an
/// array, a scalar or `null` is `PEERDISC_ERR_INVALID_JSON`) with any of
/// - `capacity` (integer >= 1, default 100000): most peers kept;
/// - `dead_retention_ms` (integer >= 0, default 300000): how long a dead or
///   departed peer stays listed before `peerdisc_registry_cleanup` removes
///   it;
/// - `stale_after_ms` (integer >= 0 or `null`, default `null`): if set,
///   cleanup also marks dead every peer not heard from for this long;
/// - `subscriber_capacity` (integer >= 1, default 4096): queue length of
///   each subscription.
///
/// An unknown field or a wrong type is `PEERDISC_ERR_INVALID_JSON`; a value
/// outside its rule (`capacity: 0`, `capacity: -1`) is
/// `PEERDISC_ERR_INVALID_ARGUMENT`. Borrowed for the call only.
///
/// On success writes a new handle to `*registry_out`; the caller owns it and
/// frees it with `peerdisc_registry_free`. On failure `*registry_out` is
/// left untouched.
///
/// Threading: a registry handle may be used from any number of threads at
/// once; it must not be freed while another call on it is in progress
/// (except from inside its own callbacks, see `peerdisc_registry_free`).
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `registry_out` is a
/// valid pointer.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_new(
    config_json: *const c_char,
    registry_out: *mut *mut peerdisc_registry,
) -> peerdisc_status {
    guard("peerdisc_registry_new", || {
        let out = out_ptr(registry_out, "registry_out")?;
        // SAFETY: the caller's contract on config_json.
        let config: RegistryConfig = unsafe { opt_json_arg(config_json, "config_json") }?;
        let registry = PeerRegistry::with_config(config)?;
        let h = Box::new(peerdisc_registry {
            registry,
            callbacks: CallbackSet::default(),
        });
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { write_out(out, Box::into_raw(h)) };
        Ok(())
    })
}

/// Frees a registry. NULL is accepted and ignored.
///
/// Every callback is closed first: no callback starts after this call
/// begins, and this call waits for callbacks running on other threads to
/// return (so a callback may keep using the handle until it returns).
/// Called from outside any callback of this registry, every finalizer has
/// run when it returns. Called from inside one of its own callbacks, it
/// returns at once; that callback must not use the handle afterwards, and
/// its finalizer runs when it returns. Subscriptions stay valid and report
/// `PEERDISC_CLOSED` once drained.
///
/// # Safety
/// `registry` is NULL or a live handle from `peerdisc_registry_new`, not
/// used by any other call (outside its callbacks) during or after this one.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_free(registry: *mut peerdisc_registry) {
    if registry.is_null() {
        return;
    }
    let _ = guard("peerdisc_registry_free", || {
        {
            // SAFETY: a live handle (caller's contract); borrowed only until
            // the callbacks are closed.
            let h = unsafe { &*registry };
            close_registry_callbacks(&h.callbacks, &h.registry);
        }
        // SAFETY: made by Box::into_raw in peerdisc_registry_new, freed once
        // (caller's contract), and no callback can use it any more.
        drop(unsafe { Box::from_raw(registry) });
        Ok(())
    });
}

/// Adds a peer given as a peer JSON object. Peer JSON (also what
/// `peerdisc_registry_get`, `_list`, `_remove` and events return; every
/// field but `node_id` optional when given):
/// - `format` (integer, 1): the peer format version;
/// - `node_id` (string, see `PEERDISC_MAX_NODE_ID_LEN`);
/// - `addresses` (array of at most 16 `ws://` / `wss://` URL strings);
/// - `public_key` (string or `null`);
/// - `capabilities` (object `{"agents": [...], "tools": [...],
///   "resources": [...], "prompts": [...]}`, every list optional; an entry
///   is a name string or `{"name": "...", "metadata": {"k": "v"}}`);
/// - `metadata` (object of string values);
/// - `version` (integer): the record's version;
/// - `connection_state` (`"disconnected"`, `"connecting"`, `"connected"`,
///   `"failed"`);
/// - `liveness` (`"alive"`, `"suspect"`, `"dead"`, `"left"`);
/// - `incarnation` (integer);
/// - `health` (object `{"successes", "failures", "consecutive_failures",
///   "score"}`, score 0.0 to 1.0);
/// - `first_seen_ms`, `last_seen_ms`, `liveness_changed_ms` (integers, ms
///   since the Unix epoch).
///
/// Fails with `PEERDISC_ERR_ALREADY_EXISTS` if the id is listed,
/// `PEERDISC_ERR_INVALID_JSON` if the JSON is malformed or not of this shape
/// (an array, unknown fields, wrong types), `PEERDISC_ERR_INVALID_ARGUMENT`
/// if a value breaks its rule (an invalid node id or address, more than 16
/// addresses), `PEERDISC_ERR_FULL` if there is no room. `peer_json` is
/// borrowed for the call only. Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `peer_json` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_add(
    registry: *const peerdisc_registry,
    peer_json: *const c_char,
) -> peerdisc_status {
    guard("peerdisc_registry_add", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        // SAFETY: caller's contract.
        let peer = unsafe { model_json_arg(peer_json, "peer_json", Peer::from_json) }?;
        h.registry.add(peer)?;
        Ok(())
    })
}

/// Adds a peer's record, or replaces the listed one if its `version` is
/// higher. Record JSON: an object with the fields `node_id` (required),
/// `addresses`, `public_key`, `capabilities`, `metadata`, `version` of peer
/// JSON (see `peerdisc_registry_add`), plus `signature` (a hex string) when
/// the owner signed it. Statuses as `peerdisc_registry_add`.
///
/// On success writes what happened to `*outcome_out` if it is not NULL.
/// `record_json` is borrowed for the call only. Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `record_json` is a NUL-terminated string;
/// `outcome_out` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_upsert(
    registry: *const peerdisc_registry,
    record_json: *const c_char,
    outcome_out: *mut peerdisc_upsert_outcome,
) -> peerdisc_status {
    guard("peerdisc_registry_upsert", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        // SAFETY: caller's contract.
        let record = unsafe { model_json_arg(record_json, "record_json", PeerRecord::from_json) }?;
        let outcome = match h.registry.upsert(record)? {
            UpsertOutcome::Added => peerdisc_upsert_outcome::PEERDISC_UPSERT_ADDED,
            UpsertOutcome::Updated { .. } => peerdisc_upsert_outcome::PEERDISC_UPSERT_UPDATED,
            UpsertOutcome::Ignored { .. } => peerdisc_upsert_outcome::PEERDISC_UPSERT_IGNORED,
        };
        // SAFETY: NULL or valid (caller's contract).
        unsafe { write_opt(outcome_out, outcome) };
        Ok(())
    })
}

/// The peer with this node id, as peer JSON (see `peerdisc_registry_add`).
/// For one field, the typed accessors (`peerdisc_registry_peer_liveness`,
/// `_connection_state`, `_last_seen_ms`, `_health`, `peerdisc_registry_peer`)
/// are much cheaper.
///
/// On success writes a new string to `*json_out`, owned by the caller
/// (free with `peerdisc_string_free`). `PEERDISC_ERR_INVALID_ARGUMENT` for
/// an invalid node id, `PEERDISC_ERR_NOT_FOUND` if no such peer.
/// Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `node_id` is a NUL-terminated string;
/// `json_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_get(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    json_out: *mut *mut c_char,
) -> peerdisc_status {
    guard("peerdisc_registry_get", || {
        let out = out_ptr(json_out, "json_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        // SAFETY: caller's contract.
        let id = unsafe { node_id_arg(node_id, "node_id") }?;
        let peer = h.registry.get(id).ok_or_else(|| not_found(id))?;
        let s = owned_c_string(peer_json(&peer))?;
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, s) };
        Ok(())
    })
}

pub(crate) fn not_found(id: &str) -> FfiError {
    FfiError::new(
        PEERDISC_ERR_NOT_FOUND,
        format!("no peer with node id {id:?}"),
    )
}

/// Whether a peer with this node id is listed: writes `true` or `false` to
/// `*contains_out`. An invalid node id is `PEERDISC_ERR_INVALID_ARGUMENT`
/// (not `false`). Ownership: `node_id` is borrowed for the call; nothing is
/// allocated, nothing to free. Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `node_id` is a NUL-terminated string;
/// `contains_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_contains(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    contains_out: *mut bool,
) -> peerdisc_status {
    guard("peerdisc_registry_contains", || {
        let out = out_ptr(contains_out, "contains_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        // SAFETY: caller's contract.
        let id = unsafe { node_id_arg(node_id, "node_id") }?;
        let v = h.registry.contains(id);
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, v) };
        Ok(())
    })
}

/// The number of peers listed (in any state), written to `*len_out`.
/// Ownership: nothing is allocated, nothing to free. Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `len_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_len(
    registry: *const peerdisc_registry,
    len_out: *mut usize,
) -> peerdisc_status {
    guard("peerdisc_registry_len", || {
        let out = out_ptr(len_out, "len_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, h.registry.len()) };
        Ok(())
    })
}

/// The health score (0.0 to 1.0) of the peer with this node id, written to
/// `*health_out`. `PEERDISC_ERR_INVALID_ARGUMENT` for an invalid node id,
/// `PEERDISC_ERR_NOT_FOUND` if no such peer. Ownership:
/// `node_id` is borrowed for the call; nothing is allocated, nothing to
/// free. Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `node_id` is a NUL-terminated string;
/// `health_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_peer_health(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    health_out: *mut f64,
) -> peerdisc_status {
    guard("peerdisc_registry_peer_health", || {
        let out = out_ptr(health_out, "health_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        // SAFETY: caller's contract.
        let id = unsafe { node_id_arg(node_id, "node_id") }?;
        let score = h
            .registry
            .with_peer(id, |p| p.health_score())
            .ok_or_else(|| not_found(id))?;
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, score) };
        Ok(())
    })
}

/// The peers passing a filter, sorted by node id, as a JSON array of peers.
///
/// `filter_json`: NULL for every peer, or a JSON object (not an array, a
/// scalar or `null`) whose set fields must all match:
/// - `liveness`: an ARRAY of one or more of `"alive"`, `"suspect"`,
///   `"dead"`, `"left"` (any of them matches);
/// - `connection_state`: ONE string, `"disconnected"`, `"connecting"`,
///   `"connected"` or `"failed"` (a peer has one connection state and the
///   filter names the one wanted; not an array);
/// - `min_health` (number): at least this health score;
/// - `capability`: an object `{"kind": "agent" | "tool" | "resource" |
///   "prompt", "name": "..."}`;
/// - `limit` (integer >= 0): at most this many peers, the first by node id.
///
/// `PEERDISC_ERR_INVALID_JSON` for malformed JSON, another shape, an
/// unknown field or a wrong type; `PEERDISC_ERR_INVALID_ARGUMENT` for an
/// unknown state name or a negative `limit`. On success writes a new string
/// to `*json_out`, owned by the caller (free with `peerdisc_string_free`).
/// Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `filter_json` is NULL or a NUL-terminated
/// string; `json_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_list(
    registry: *const peerdisc_registry,
    filter_json: *const c_char,
    json_out: *mut *mut c_char,
) -> peerdisc_status {
    guard("peerdisc_registry_list", || {
        let out = out_ptr(json_out, "json_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        // SAFETY: caller's contract.
        let filter: PeerFilter = unsafe { opt_json_arg(filter_json, "filter_json") }?;
        let s = owned_c_string(peers_json(&h.registry.list_filtered(&filter)))?;
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, s) };
        Ok(())
    })
}

/// The peers offering a capability of this kind (a
/// `peerdisc_capability_kind`) and name, sorted by node id, as a JSON array of peers (empty array when none). On success writes
/// a new string to `*json_out`, owned by the caller (free with
/// `peerdisc_string_free`). `PEERDISC_ERR_INVALID_ARGUMENT` for an unknown
/// kind. Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `name` is a NUL-terminated string;
/// `json_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_find_by_capability(
    registry: *const peerdisc_registry,
    kind: i32,
    name: *const c_char,
    json_out: *mut *mut c_char,
) -> peerdisc_status {
    guard("peerdisc_registry_find_by_capability", || {
        let out = out_ptr(json_out, "json_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        // SAFETY: caller's contract.
        let name = unsafe { str_arg(name, "name") }?;
        let kind = capability_kind(kind)?;
        let s = owned_c_string(peers_json(&h.registry.find_by_capability(kind, name)))?;
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, s) };
        Ok(())
    })
}

/// Removes the peer with this node id. On success, if `json_out` is not
/// NULL, writes its last state as peer JSON to `*json_out` (owned by the
/// caller, free with `peerdisc_string_free`).
/// `PEERDISC_ERR_INVALID_ARGUMENT` for an invalid node id,
/// `PEERDISC_ERR_NOT_FOUND` if no such peer. Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `node_id` is a NUL-terminated string;
/// `json_out` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_remove(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    json_out: *mut *mut c_char,
) -> peerdisc_status {
    guard("peerdisc_registry_remove", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        // SAFETY: caller's contract.
        let id = unsafe { node_id_arg(node_id, "node_id") }?;
        if !h.registry.contains(id) {
            return Err(not_found(id));
        }
        let peer = h.registry.remove(id)?;
        if !json_out.is_null() {
            let s = owned_c_string(peer_json(&peer))?;
            // SAFETY: not NULL, valid by contract.
            unsafe { write_out(json_out, s) };
        }
        Ok(())
    })
}

/// Sets a listed peer's liveness (`liveness_value`: a `peerdisc_liveness`;
/// emits a `state_changed` event when it
/// changes). `PEERDISC_ERR_INVALID_ARGUMENT` for an invalid node id or
/// liveness value, `PEERDISC_ERR_NOT_FOUND` if no such peer. Ownership:
/// `node_id` is borrowed for the call; nothing to free. Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `node_id` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_set_liveness(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    liveness_value: i32,
) -> peerdisc_status {
    guard("peerdisc_registry_set_liveness", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        // SAFETY: caller's contract.
        let id = unsafe { node_id_arg(node_id, "node_id") }?;
        let l = liveness(liveness_value)?;
        h.registry.set_liveness(id, l)?;
        Ok(())
    })
}

/// Sets a listed peer's connection state (`state`: a
/// `peerdisc_connection_state`; emits a `state_changed` event
/// when it changes). `PEERDISC_ERR_INVALID_ARGUMENT` for an invalid node id
/// or state value, `PEERDISC_ERR_NOT_FOUND` if no such peer. Ownership:
/// `node_id` is borrowed for the call; nothing to free. Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `node_id` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_set_connection_state(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    state: i32,
) -> peerdisc_status {
    guard("peerdisc_registry_set_connection_state", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        // SAFETY: caller's contract.
        let id = unsafe { node_id_arg(node_id, "node_id") }?;
        let s = connection_state(state)?;
        h.registry.set_connection_state(id, s)?;
        Ok(())
    })
}

/// Housekeeping: removes dead and departed peers past the retention time
/// (and, with `stale_after_ms` configured, marks silent peers dead). On
/// success writes the number removed to `*removed_out` and, if `ids_out` is
/// not NULL, a JSON array of the removed node ids to `*ids_out` (owned by
/// the caller, free with `peerdisc_string_free`). Both outputs may be NULL.
/// Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `removed_out` and `ids_out` are NULL or
/// valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_cleanup(
    registry: *const peerdisc_registry,
    removed_out: *mut usize,
    ids_out: *mut *mut c_char,
) -> peerdisc_status {
    guard("peerdisc_registry_cleanup", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        let removed = h.registry.cleanup_dead_peers();
        let ids = if ids_out.is_null() {
            None
        } else {
            Some(owned_c_string(
                serde_json::to_string(&removed).expect("ids always serialize"),
            )?)
        };
        // SAFETY: NULL or valid (caller's contract).
        unsafe { write_opt(removed_out, removed.len()) };
        if let Some(s) = ids {
            // SAFETY: not NULL, valid by contract.
            unsafe { write_out(ids_out, s) };
        }
        Ok(())
    })
}

/// Counts per state, average health and counters, as a JSON object
/// (`{"total", "alive", "suspect", "dead", "left", "connected", ...,
/// "average_health", "capacity", "adds", "updates", "removes", ...}`). On
/// success writes a new string to `*json_out`, owned by the caller (free
/// with `peerdisc_string_free`). Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `json_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_stats(
    registry: *const peerdisc_registry,
    json_out: *mut *mut c_char,
) -> peerdisc_status {
    guard("peerdisc_registry_stats", || {
        let out = out_ptr(json_out, "json_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        let s = owned_c_string(
            serde_json::to_string(&h.registry.stats()).expect("stats always serialize"),
        )?;
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, s) };
        Ok(())
    })
}

/// Registers `callback` for every registry event (pushed).
///
/// The callback runs on the registry's event thread, one event at a time,
/// with the event JSON described at `peerdisc_event_callback`, never while
/// a registry lock is held: it may call any `peerdisc_*`
/// function, on this registry too, including `peerdisc_registry_free` and
/// `peerdisc_registry_remove_callback` of itself. `event_json` is borrowed
/// for the duration of the call only. `user_data` is passed back unchanged
/// and must be usable from that thread.
///
/// `finalizer` (may be NULL) runs exactly once with `user_data`, after the
/// last call of `callback`, when the callback is removed or the registry is
/// freed. If this call fails, neither the callback nor the finalizer is
/// ever called and the caller keeps `user_data`.
///
/// On success writes the callback's id to `*id_out` if it is not NULL.
/// `PEERDISC_ERR_INVALID_STATE` if the registry is being freed.
///
/// Backlog: events wait for the event thread in one queue per registry,
/// shared by its callbacks, of at most 65536 events; while it is full (a
/// callback too slow for the event rate) new events are dropped for the
/// callbacks and counted in `events_dropped` of `peerdisc_registry_stats`.
/// Subscriptions have their own queues and are not affected.
///
/// # Safety
/// `registry` is a live handle; `callback` and `finalizer` are valid
/// functions; `id_out` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_on_event(
    registry: *const peerdisc_registry,
    callback: peerdisc_event_callback,
    user_data: *mut c_void,
    finalizer: peerdisc_finalizer,
    id_out: *mut u64,
) -> peerdisc_status {
    guard("peerdisc_registry_on_event", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        let core = CallbackCore::new(callback, user_data, finalizer)?;
        let id = register_registry_callback(&h.callbacks, &h.registry, core)?;
        // SAFETY: NULL or valid (caller's contract).
        unsafe { write_opt(id_out, id) };
        Ok(())
    })
}

/// Unregisters a callback. When it returns no new call of the callback
/// starts; calls running on other threads have returned; the finalizer has
/// run (or, when called from inside that very callback, runs when it
/// returns). `PEERDISC_ERR_NOT_FOUND` if no callback has this id.
/// Ownership: after the finalizer the library holds no reference to the
/// callback's `user_data`; the caller may free it. Thread-safe.
///
/// # Safety
/// `registry` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_remove_callback(
    registry: *const peerdisc_registry,
    callback_id: u64,
) -> peerdisc_status {
    guard("peerdisc_registry_remove_callback", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        let _core = h.callbacks.remove(callback_id)?;
        h.registry.remove_callback(CallbackId(callback_id));
        Ok(())
    })
}

/// Subscribes to registry events (pulled): every event from now on, in
/// order (JSON as described at `peerdisc_event_callback`), in a queue of
/// `subscriber_capacity` events (when the queue is
/// full, new events are dropped for this subscription and counted in the
/// stats' `events_dropped`). On success writes a new handle to
/// `*subscription_out`, owned by the caller (free with
/// `peerdisc_subscription_free`); it may outlive the registry.
/// Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `subscription_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_subscribe(
    registry: *const peerdisc_registry,
    subscription_out: *mut *mut peerdisc_subscription,
) -> peerdisc_status {
    guard("peerdisc_registry_subscribe", || {
        let out = out_ptr(subscription_out, "subscription_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        let sub = peerdisc_subscription::new(h.registry.subscribe());
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, Box::into_raw(Box::new(sub))) };
        Ok(())
    })
}
