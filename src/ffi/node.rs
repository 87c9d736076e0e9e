//! `peerdisc_node_*`: a networked discovery node.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use super::args::{
    handle, json_arg, opt_json_arg, out_ptr, owned_c_string, str_arg, write_opt, write_out,
};
use super::callback::{peerdisc_event_callback, peerdisc_finalizer, CallbackCore, CallbackSet};
use super::registry::{
    capability_kind, close_registry_callbacks, peers_json, register_registry_callback,
};
use super::status::{guard, peerdisc_status, peerdisc_status::*, FfiError, FfiResult};
use super::subscription::peerdisc_subscription;
use crate::events::CallbackId;
use crate::model::Capabilities;
use crate::node::{Node, NodeConfig, NodeError};

/// A discovery node (opaque). Made by `peerdisc_node_new`, freed by
/// `peerdisc_node_free`.
pub struct peerdisc_node {
    pub(crate) node: Node,
    pub(crate) callbacks: CallbackSet,
}

impl From<NodeError> for FfiError {
    fn from(e: NodeError) -> Self {
        let status = match &e {
            NodeError::Config(_) => PEERDISC_ERR_INVALID_ARGUMENT,
            NodeError::Transport(_) | NodeError::Bootstrap(_) => PEERDISC_ERR_NETWORK,
            NodeError::Registry(r) => return r.clone().into(),
            NodeError::NotRunning | NodeError::AlreadyRunning => PEERDISC_ERR_INVALID_STATE,
            NodeError::Timeout { .. } => PEERDISC_TIMEOUT,
            _ => PEERDISC_ERR_INTERNAL,
        };
        FfiError::new(status, e.to_string())
    }
}

fn write_string(out: *mut *mut c_char, s: String) -> FfiResult {
    let s = owned_c_string(s)?;
    // SAFETY: the caller checked `out` with `out_ptr`; valid by contract.
    unsafe { write_out(out, s) };
    Ok(())
}

/// Makes a node, not started yet.
///
/// `config_json`: NULL for the defaults, or a JSON object (nothing else: an
/// array, a scalar or `null` is `PEERDISC_ERR_INVALID_JSON`), every field
/// optional, e.g. `{"listen": "127.0.0.1:7400", "bootstrap":
/// ["ws://10.0.0.5:7400/peerdisc"], "capabilities": {"tools":
/// ["search"]}}`. Borrowed for the call only. Fields (the Rust
/// `peerdisc::node::NodeConfig`, whose rustdoc has every default):
/// - `node_id` (string, see `PEERDISC_MAX_NODE_ID_LEN`; default: derived
///   from the node's key), or `identity_path` (string: a key file), not
///   both;
/// - `listen` (string `"ip:port"`, default `"127.0.0.1:0"`, port 0: any);
/// - `advertise` (string `ws://` / `wss://` URL other nodes dial);
/// - `ws_path` (string starting with `/`, default `"/peerdisc"`);
/// - `bootstrap` (array of `ws://host:port/path` strings);
/// - `bootstrap_timeout_ms`, `rebootstrap_interval_ms`,
///   `snapshot_interval_ms` (integers);
/// - `enable_gossip` (bool, default true), `enable_mdns` (bool, default
///   false), `mdns` (object: `service_type`, `ipv4`, `ipv6`, `interfaces`,
///   `hello_timeout_ms`, `probe`);
/// - `capabilities` (object as in peer JSON, see `peerdisc_registry_add`),
///   `metadata` (object of strings);
/// - `membership` (object: protocol tuning, e.g. `gossip_interval_ms`,
///   `probe_interval_ms`, `suspicion_mult`, ...), `transport` (object:
///   limits and timeouts, e.g. `max_connections`, `idle_timeout_ms`, ...),
///   `registry` (object as `peerdisc_registry_new` takes);
/// - `rng_seed` (integer), `snapshot_path` (string), `cluster_keys` (array
///   of base64 or hex 32-byte keys).
///
/// On success writes a new handle to `*node_out` (free it with
/// `peerdisc_node_free`); on failure `*node_out` is untouched.
/// `PEERDISC_ERR_INVALID_JSON` for malformed JSON, another shape, unknown
/// fields or wrong types (`{"listen": 5}`); `PEERDISC_ERR_INVALID_ARGUMENT`
/// for values that break their rule, at any depth: `{"listen": "not an
/// address"}`, `{"bootstrap": ["not a url"]}`, `{"registry": {"capacity":
/// 0}}`, an invalid `node_id`, `node_id` with `identity_path`.
///
/// Threading: a node handle may be used from any number of threads at once;
/// it must not be freed while another call on it is in progress (except
/// from inside its own callbacks, see `peerdisc_node_free`).
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `node_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_new(
    config_json: *const c_char,
    node_out: *mut *mut peerdisc_node,
) -> peerdisc_status {
    guard("peerdisc_node_new", || {
        // SAFETY: caller's contract.
        unsafe { new_node_into(config_json, node_out, Node::new) }
    })
}

/// Reads the node configuration (NULL: defaults), makes the node with
/// `make` and writes its new handle to `node_out`: the body shared by
/// `peerdisc_node_new` and `peerdisc_node_new_with_registry`.
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `node_out` is valid.
pub(super) unsafe fn new_node_into(
    config_json: *const c_char,
    node_out: *mut *mut peerdisc_node,
    make: impl FnOnce(NodeConfig) -> Result<Node, NodeError>,
) -> FfiResult<()> {
    let out = out_ptr(node_out, "node_out")?;
    // SAFETY: caller's contract.
    let config: NodeConfig = unsafe { opt_json_arg(config_json, "config_json") }?;
    let node = make(config)?;
    let h = Box::new(peerdisc_node {
        node,
        callbacks: CallbackSet::default(),
    });
    // SAFETY: checked non-NULL; writable by contract.
    unsafe { write_out(out, Box::into_raw(h)) };
    Ok(())
}

/// Binds the listener and starts the node's threads; it then reaches its
/// bootstrap nodes, gossips and probes. `PEERDISC_ERR_NETWORK` if the
/// listen address cannot be bound (the message names it),
/// `PEERDISC_ERR_INVALID_STATE` if it is running already. A stopped node may
/// be started again. Ownership: `node` is borrowed for the call; nothing is
/// allocated, nothing to free. Thread-safe: returns once the listener is
/// bound and the threads run; concurrent starts of one node are serialized
/// (one succeeds, the others get `PEERDISC_ERR_INVALID_STATE`).
///
/// # Safety
/// `node` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_start(node: *const peerdisc_node) -> peerdisc_status {
    guard("peerdisc_node_start", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(node, "node") }?;
        h.node.start()?;
        Ok(())
    })
}

/// Leaves gracefully (tells the other nodes) and stops every thread of the
/// node, waiting for them (bounded, also when peers hang). Calling it again,
/// or on a node never started, is a no-op returning `PEERDISC_OK`. After it,
/// calls that need a running node return `PEERDISC_ERR_INVALID_STATE`;
/// queries of the registry still answer. Callbacks stay registered (and
/// get no more events until a new start). Ownership: `node` is borrowed for
/// the call and stays valid (free it with `peerdisc_node_free`); nothing is
/// allocated, nothing to free. Thread-safe: blocks the calling thread until
/// the node's threads are joined.
///
/// # Safety
/// `node` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_stop(node: *const peerdisc_node) -> peerdisc_status {
    guard("peerdisc_node_stop", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(node, "node") }?;
        h.node.stop()?;
        Ok(())
    })
}

/// Stops the node (as `peerdisc_node_stop`) and frees it. NULL is accepted
/// and ignored.
///
/// Every callback is closed first: no callback starts after this call
/// begins, and callbacks running on other threads are waited for. Called
/// from outside the node's callbacks, every finalizer has run when it
/// returns. Called from inside one of its own callbacks, the callback must
/// not use the handle afterwards, and its finalizer runs when it returns.
/// Subscriptions stay valid and report `PEERDISC_CLOSED` once drained.
///
/// # Safety
/// `node` is NULL or a live handle from `peerdisc_node_new`, not used by
/// any other call (outside its callbacks) during or after this one.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_free(node: *mut peerdisc_node) {
    if node.is_null() {
        return;
    }
    let _ = guard("peerdisc_node_free", || {
        {
            // SAFETY: a live handle (caller's contract).
            let h = unsafe { &*node };
            close_registry_callbacks(&h.callbacks, h.node.registry());
            let _ = h.node.stop();
        }
        // SAFETY: made by Box::into_raw in peerdisc_node_new, freed once
        // (caller's contract); no callback can use it any more.
        drop(unsafe { Box::from_raw(node) });
        Ok(())
    });
}

/// This node's id. On success writes a new string to `*id_out` (free with
/// `peerdisc_string_free`). Thread-safe.
///
/// # Safety
/// `node` is a live handle; `id_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_id(
    node: *const peerdisc_node,
    id_out: *mut *mut c_char,
) -> peerdisc_status {
    guard("peerdisc_node_id", || {
        let out = out_ptr(id_out, "id_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(node, "node") }?;
        write_string(out, h.node.node_id().to_string())
    })
}

/// The address other nodes dial (`ws://host:port/path`).
/// `PEERDISC_ERR_INVALID_STATE` when the node is not running. On success
/// writes a new string to `*address_out` (free with `peerdisc_string_free`).
/// Thread-safe.
///
/// # Safety
/// `node` is a live handle; `address_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_address(
    node: *const peerdisc_node,
    address_out: *mut *mut c_char,
) -> peerdisc_status {
    guard("peerdisc_node_address", || {
        let out = out_ptr(address_out, "address_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(node, "node") }?;
        let addr = h.node.try_address().ok_or(NodeError::NotRunning)?;
        write_string(out, addr.to_string())
    })
}

/// Asks every bootstrap node for its peers and blocks until each answered,
/// failed, or the configured `bootstrap_timeout_ms` passed. On success
/// writes `{"peers": ["<node id>", ...], "errors": ["<one message per
/// bootstrap node that did not answer>", ...]}` to `*json_out` (free with
/// `peerdisc_string_free`). `PEERDISC_ERR_NETWORK` when no bootstrap node
/// answered (the message lists why, per node); `PEERDISC_ERR_INVALID_STATE`
/// when the node is not running. Thread-safe.
///
/// # Safety
/// `node` is a live handle; `json_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_discover_bootstrap(
    node: *const peerdisc_node,
    json_out: *mut *mut c_char,
) -> peerdisc_status {
    guard("peerdisc_node_discover_bootstrap", || {
        let out = out_ptr(json_out, "json_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(node, "node") }?;
        let report = h.node.discover_bootstrap()?;
        let json = serde_json::json!({
            "peers": report.peers,
            "errors": report.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        });
        write_string(out, json.to_string())
    })
}

/// Blocks until at least `n` peers are alive or `timeout_ms` passes
/// (negative: 24 hours). On `PEERDISC_OK` writes the number of live peers
/// to `*count_out` (if not NULL); on `PEERDISC_TIMEOUT` writes nothing and
/// the last error says how many were found. On a node never started (or
/// stopped) it does not fail: it waits the same way, and since such a node
/// learns of no peer it returns `PEERDISC_TIMEOUT` when `timeout_ms`
/// passes (at once `PEERDISC_OK` for `n` = 0 or peers already listed). Ownership: `node` is borrowed
/// for the call; nothing is allocated, nothing to free. Thread-safe: blocks
/// the calling thread only; other calls on the node go on meanwhile.
///
/// # Safety
/// `node` is a live handle; `count_out` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_wait_for_peers(
    node: *const peerdisc_node,
    n: u32,
    timeout_ms: i32,
    count_out: *mut u32,
) -> peerdisc_status {
    guard("peerdisc_node_wait_for_peers", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(node, "node") }?;
        let timeout = if timeout_ms < 0 {
            Duration::from_secs(24 * 3600)
        } else {
            Duration::from_millis(timeout_ms as u64)
        };
        let found = h.node.wait_for_peers(n as usize, timeout)?;
        // SAFETY: NULL or valid (caller's contract).
        unsafe { write_opt(count_out, found as u32) };
        Ok(())
    })
}

/// The live peers (alive or suspect), sorted by node id, as a JSON array of
/// peer objects (peer JSON, see `peerdisc_registry_add`). On success writes a new string to `*json_out` (free with
/// `peerdisc_string_free`). Thread-safe.
///
/// # Safety
/// `node` is a live handle; `json_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_peers(
    node: *const peerdisc_node,
    json_out: *mut *mut c_char,
) -> peerdisc_status {
    guard("peerdisc_node_peers", || {
        let out = out_ptr(json_out, "json_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(node, "node") }?;
        write_string(out, peers_json(&h.node.peers()))
    })
}

/// The live peers offering a capability (`kind`: a `peerdisc_capability_kind`),
/// as a JSON array of peer objects (empty when none). On success writes a
/// new string to `*json_out` (free with `peerdisc_string_free`).
/// Thread-safe.
///
/// # Safety
/// `node` is a live handle; `name` is a NUL-terminated string; `json_out`
/// is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_find_by_capability(
    node: *const peerdisc_node,
    kind: i32,
    name: *const c_char,
    json_out: *mut *mut c_char,
) -> peerdisc_status {
    guard("peerdisc_node_find_by_capability", || {
        let out = out_ptr(json_out, "json_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(node, "node") }?;
        // SAFETY: caller's contract.
        let name = unsafe { str_arg(name, "name") }?;
        let kind = capability_kind(kind)?;
        let found: Vec<_> = h
            .node
            .registry()
            .find_by_capability(kind, name)
            .into_iter()
            .filter(|p| p.is_alive())
            .collect();
        write_string(out, peers_json(&found))
    })
}

/// Replaces this node's capabilities with `capabilities_json`
/// (`{"agents": [...], "tools": [...], "resources": [...], "prompts":
/// [...]}`, every list optional, entries as in peer JSON); the new record
/// spreads to every node. `PEERDISC_ERR_INVALID_JSON` for another shape
/// (an array, unknown fields), `PEERDISC_ERR_INVALID_ARGUMENT` for an
/// invalid or duplicate name, `PEERDISC_ERR_INVALID_STATE` when the node is
/// not running. Ownership:
/// `capabilities_json` is borrowed for the call only; nothing is allocated,
/// nothing to free. Thread-safe: blocks until the node's driver thread has
/// taken the new capabilities (at most 5 s).
///
/// # Safety
/// `node` is a live handle; `capabilities_json` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_update_capabilities(
    node: *const peerdisc_node,
    capabilities_json: *const c_char,
) -> peerdisc_status {
    guard("peerdisc_node_update_capabilities", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(node, "node") }?;
        // SAFETY: caller's contract.
        let caps: Capabilities = unsafe { json_arg(capabilities_json, "capabilities_json") }?;
        caps.validate()?;
        h.node.update_capabilities(caps)?;
        Ok(())
    })
}

/// The node's counts (members, frames, transport bytes, registry stats) as
/// a JSON object. On success writes a new string to `*json_out` (free with
/// `peerdisc_string_free`). Thread-safe.
///
/// # Safety
/// `node` is a live handle; `json_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_stats(
    node: *const peerdisc_node,
    json_out: *mut *mut c_char,
) -> peerdisc_status {
    guard("peerdisc_node_stats", || {
        let out = out_ptr(json_out, "json_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(node, "node") }?;
        let json = serde_json::to_string(&h.node.stats())?;
        write_string(out, json)
    })
}

/// Calls `callback(user_data, event_json)` for every peer event of the node
/// (added, updated, removed, state_changed; JSON described at
/// `peerdisc_event_callback`), on a library thread, one call at a time;
/// the backlog is bounded as for `peerdisc_registry_on_event` (65536 events,
/// then dropped and counted in the stats' `events_dropped`). The callback may call any `peerdisc_*` function, including
/// `peerdisc_node_free` on this node. `finalizer(user_data)` (may be NULL)
/// runs exactly once, after the last call, when the callback is removed or
/// the node freed. On success writes the callback's id to `*id_out` (if not
/// NULL). Thread-safe.
///
/// # Safety
/// `node` is a live handle; `callback` and `finalizer` are valid functions
/// callable from any thread; `id_out` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_on_event(
    node: *const peerdisc_node,
    callback: peerdisc_event_callback,
    user_data: *mut c_void,
    finalizer: peerdisc_finalizer,
    id_out: *mut u64,
) -> peerdisc_status {
    guard("peerdisc_node_on_event", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(node, "node") }?;
        let core = CallbackCore::new(callback, user_data, finalizer)?;
        let id = register_registry_callback(&h.callbacks, h.node.registry(), core)?;
        // SAFETY: NULL or valid (caller's contract).
        unsafe { write_opt(id_out, id) };
        Ok(())
    })
}

/// Unregisters a callback of this node (see
/// `peerdisc_registry_remove_callback` for the guarantees).
/// `PEERDISC_ERR_NOT_FOUND` if no callback has this id. Ownership: after
/// the finalizer the library holds no reference to the callback's
/// `user_data`; the caller may free it. Nothing is allocated, nothing to
/// free. Thread-safe; may be called from inside the callback itself.
///
/// # Safety
/// `node` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_remove_callback(
    node: *const peerdisc_node,
    callback_id: u64,
) -> peerdisc_status {
    guard("peerdisc_node_remove_callback", || {
        // SAFETY: caller's contract.
        let h = unsafe { handle(node, "node") }?;
        let _core = h.callbacks.remove(callback_id)?;
        h.node.registry().remove_callback(CallbackId(callback_id));
        Ok(())
    })
}

/// Subscribes to the node's peer events (pulled with
/// `peerdisc_subscription_next_event`). On success writes a new handle to
/// `*subscription_out` (free with `peerdisc_subscription_free`); it may
/// outlive the node. Thread-safe.
///
/// # Safety
/// `node` is a live handle; `subscription_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_subscribe(
    node: *const peerdisc_node,
    subscription_out: *mut *mut peerdisc_subscription,
) -> peerdisc_status {
    guard("peerdisc_node_subscribe", || {
        let out = out_ptr(subscription_out, "subscription_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(node, "node") }?;
        let sub = peerdisc_subscription::new(h.node.subscribe());
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, Box::into_raw(Box::new(sub))) };
        Ok(())
    })
}
