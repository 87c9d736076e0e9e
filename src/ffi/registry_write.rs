//! `peerdisc_registry_*` write calls the seed system's registry had: health
//! outcomes, activity, and edits by field.

use std::collections::BTreeMap;
use std::ffi::c_char;

use serde::Deserialize;

use super::args::{handle, owned_c_string, write_opt};
use super::registry::{peer_json, peerdisc_registry};
use super::status::{guard, peerdisc_status, peerdisc_status::*, FfiError, FfiResult};
use crate::model::{
    Capabilities, Capability, ConnectionState, Liveness, PeerAddress, DEFAULT_WS_PATH,
};
use crate::registry::{PeerRegistry, PeerUpdate};

// The argument readers are the ABI's shared ones (`args.rs`): node ids by
// the node id rule, JSON objects strictly, statuses by the rule on
// `peerdisc_status`.
pub(crate) use super::args::{json_arg as object_arg, node_id_arg};

/// Runs `f` on the registry of a handle with a checked node id.
///
/// # Safety
/// `registry` is NULL or a live handle; `node_id` is NULL or a
/// NUL-terminated string.
unsafe fn with_peer<T>(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    f: impl FnOnce(&PeerRegistry, &str) -> FfiResult<T>,
) -> FfiResult<T> {
    // SAFETY: caller's contract.
    let h = unsafe { handle(registry, "registry") }?;
    // SAFETY: caller's contract.
    let id = unsafe { node_id_arg(node_id, "node_id") }?;
    f(&h.registry, id)
}

/// A health outcome for a listed peer; writes the new score.
///
/// # Safety
/// As the exports below.
unsafe fn health_call(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    health_out: *mut f64,
    record: impl FnOnce(&PeerRegistry, &str) -> Result<f64, crate::registry::RegistryError>,
) -> FfiResult {
    // SAFETY: caller's contract.
    let score = unsafe { with_peer(registry, node_id, |r, id| Ok(record(r, id)?)) }?;
    // SAFETY: NULL or valid (caller's contract).
    unsafe { write_opt(health_out, score) };
    Ok(())
}

/// Records a successful connection or probe of a listed peer (the seed
/// system's `record_success`): its health score rises (see `Health`) and
/// it counts as heard from now. Emits an `updated` event (`health`).
///
/// On success writes the new health score to `*health_out` if it is not
/// NULL. `PEERDISC_ERR_NOT_FOUND` if no such peer,
/// `PEERDISC_ERR_INVALID_ARGUMENT` for an invalid node id. Ownership:
/// `node_id` is borrowed for the call; nothing to free. Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `node_id` is a NUL-terminated string;
/// `health_out` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_record_success(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    health_out: *mut f64,
) -> peerdisc_status {
    guard("peerdisc_registry_record_success", || {
        // SAFETY: caller's contract.
        unsafe { health_call(registry, node_id, health_out, PeerRegistry::record_success) }
    })
}

/// Records a failed connection or probe of a listed peer (the seed
/// system's `record_failure`): its health score falls. Emits an `updated`
/// event (`health`). Outputs, statuses and ownership as
/// `peerdisc_registry_record_success`. Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `node_id` is a NUL-terminated string;
/// `health_out` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_record_failure(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    health_out: *mut f64,
) -> peerdisc_status {
    guard("peerdisc_registry_record_failure", || {
        // SAFETY: caller's contract.
        unsafe { health_call(registry, node_id, health_out, PeerRegistry::record_failure) }
    })
}

/// Notes that a listed peer was heard from now (its `last_seen_ms`; the
/// seed system's `update_activity`). No event. `PEERDISC_ERR_NOT_FOUND` if
/// no such peer, `PEERDISC_ERR_INVALID_ARGUMENT` for an invalid node id.
/// Ownership: `node_id` is borrowed for the call; nothing to free.
/// Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `node_id` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_touch(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
) -> peerdisc_status {
    guard("peerdisc_registry_touch", || {
        // SAFETY: caller's contract.
        unsafe { with_peer(registry, node_id, |r, id| Ok(r.touch(id)?)) }
    })
}

/// The fields `peerdisc_registry_update` accepts: peerdisc's names, and the
/// seed system's (`address`, `agents`, ...).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateFields {
    addresses: Option<Vec<String>>,
    address: Option<String>,
    #[serde(default, deserialize_with = "present")]
    public_key: Option<Option<String>>,
    capabilities: Option<Capabilities>,
    agents: Option<Vec<String>>,
    tools: Option<Vec<String>>,
    resources: Option<Vec<String>>,
    prompts: Option<Vec<String>>,
    metadata: Option<BTreeMap<String, String>>,
    version: Option<u64>,
    connection_state: Option<ConnectionState>,
    liveness: Option<Liveness>,
}

/// Tells a field given as `null` (`Some(None)`) from a missing one.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn address(url: &str) -> FfiResult<PeerAddress> {
    Ok(PeerAddress::with_default_path(url, DEFAULT_WS_PATH)?)
}

impl UpdateFields {
    /// The edit, given the peer's current capabilities (a capability kind
    /// named alone replaces that kind only).
    fn into_update(self, current: &Capabilities) -> FfiResult<PeerUpdate> {
        if self.addresses.is_some() && self.address.is_some() {
            return Err(FfiError::new(
                PEERDISC_ERR_INVALID_JSON,
                "give `addresses` or `address`, not both",
            ));
        }
        let kinds = [&self.agents, &self.tools, &self.resources, &self.prompts];
        if self.capabilities.is_some() && kinds.iter().any(|k| k.is_some()) {
            return Err(FfiError::new(
                PEERDISC_ERR_INVALID_JSON,
                "give `capabilities` or `agents`/`tools`/`resources`/`prompts`, not both",
            ));
        }
        let mut u = PeerUpdate::new().bump_version();
        u.addresses = match (self.addresses, self.address) {
            (Some(list), _) => Some(list.iter().map(|a| address(a)).collect::<FfiResult<_>>()?),
            (None, Some(a)) => Some(vec![address(&a)?]),
            (None, None) => None,
        };
        u.public_key = self.public_key.map(|k| k.map(String::into_boxed_str));
        u.capabilities = self.capabilities;
        if kinds.iter().any(|k| k.is_some()) {
            let mut caps = current.clone();
            let names = |n: Vec<String>| n.into_iter().map(Capability::new).collect();
            if let Some(n) = self.agents {
                caps.agents = names(n);
            }
            if let Some(n) = self.tools {
                caps.tools = names(n);
            }
            if let Some(n) = self.resources {
                caps.resources = names(n);
            }
            if let Some(n) = self.prompts {
                caps.prompts = names(n);
            }
            u.capabilities = Some(caps);
        }
        u.metadata = self.metadata;
        u.version = self.version;
        u.connection_state = self.connection_state;
        u.liveness = self.liveness;
        Ok(u)
    }
}

/// Edits a listed peer by field (the seed system's `update_peer`).
///
/// `fields_json` is a JSON object with any of `addresses` (array) or
/// `address` (one URL; no path means `/peerdisc`), `public_key` (string or
/// null), `capabilities` (object) or any of `agents`, `tools`,
/// `resources`, `prompts` (arrays of names, each replacing that kind
/// only), `metadata` (string map), `version`, `connection_state`,
/// `liveness` (their JSON names). When a record field changes and
/// `version` is not given, the version is raised by one, so the edit is
/// not undone by the old record arriving again. The whole edit is checked
/// first: when any part is invalid nothing changes. Emits the events of
/// what changed.
///
/// On success writes the peer as it is now (peer JSON) to `*json_out` if it
/// is not NULL (owned by the caller, free with `peerdisc_string_free`).
/// `PEERDISC_ERR_NOT_FOUND` if no such peer, `PEERDISC_ERR_INVALID_ARGUMENT`
/// for an invalid node id or an unusable field value of the right type (an
/// address that is not a `ws://` URL), `PEERDISC_ERR_INVALID_JSON` for
/// malformed JSON, a value that is not an object, an unknown field, a field
/// of the wrong type, or fields that exclude each other (`addresses` with
/// `address`, `capabilities` with a kind).
/// Thread-safe (a concurrent edit of the same peer's capabilities by kind
/// may be lost: the kinds not named are read just before the edit).
///
/// # Safety
/// `registry` is a live handle; `node_id` and `fields_json` are
/// NUL-terminated strings; `json_out` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_update(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    fields_json: *const c_char,
    json_out: *mut *mut c_char,
) -> peerdisc_status {
    guard("peerdisc_registry_update", || {
        // SAFETY: caller's contract.
        let fields: UpdateFields = unsafe { object_arg(fields_json, "fields_json") }?;
        // SAFETY: caller's contract.
        let peer = unsafe {
            with_peer(registry, node_id, |r, id| {
                let current = r.get(id).ok_or_else(|| {
                    FfiError::new(
                        PEERDISC_ERR_NOT_FOUND,
                        format!("no peer with node id {id:?}"),
                    )
                })?;
                r.update(id, fields.into_update(current.capabilities())?)?;
                r.get(id).ok_or_else(|| {
                    FfiError::new(PEERDISC_ERR_NOT_FOUND, format!("peer {id:?} was removed"))
                })
            })
        }?;
        if !json_out.is_null() {
            let s = owned_c_string(peer_json(&peer))?;
            // SAFETY: not NULL, valid by contract.
            unsafe { json_out.write(s) };
        }
        Ok(())
    })
}
