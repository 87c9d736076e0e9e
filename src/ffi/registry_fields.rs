//! Typed field accessors: one peer's fields read without JSON (the hot
//! path). Single fields straight from the registry; addresses and
//! capabilities through a `peerdisc_peer` snapshot with count + index
//! accessors.

use std::ffi::{c_char, CString};
use std::sync::Arc;

use super::args::{handle, node_id_arg, out_ptr, write_out};
use super::registry::{
    capability_kind, not_found, peerdisc_connection_state, peerdisc_liveness, peerdisc_registry,
};
use super::status::{guard, peerdisc_status, peerdisc_status::*, FfiError, FfiResult};
use crate::model::{CapabilityKind, ConnectionState, Liveness, Peer};

fn c_liveness(l: Liveness) -> peerdisc_liveness {
    match l {
        Liveness::Alive => peerdisc_liveness::PEERDISC_LIVENESS_ALIVE,
        Liveness::Suspect => peerdisc_liveness::PEERDISC_LIVENESS_SUSPECT,
        Liveness::Dead => peerdisc_liveness::PEERDISC_LIVENESS_DEAD,
        Liveness::Left => peerdisc_liveness::PEERDISC_LIVENESS_LEFT,
    }
}

fn c_connection_state(c: ConnectionState) -> peerdisc_connection_state {
    match c {
        ConnectionState::Disconnected => {
            peerdisc_connection_state::PEERDISC_CONNECTION_DISCONNECTED
        }
        ConnectionState::Connecting => peerdisc_connection_state::PEERDISC_CONNECTION_CONNECTING,
        ConnectionState::Connected => peerdisc_connection_state::PEERDISC_CONNECTION_CONNECTED,
        ConnectionState::Failed => peerdisc_connection_state::PEERDISC_CONNECTION_FAILED,
    }
}

/// Reads one field of a listed peer and writes it to `out`: the body shared
/// by the single-field accessors.
///
/// # Safety
/// `registry` is NULL or a live handle; `node_id` is NULL or a
/// NUL-terminated string; `out` is NULL or valid for a write of `T`.
unsafe fn read_field<T>(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    out: *mut T,
    field: impl FnOnce(&Peer) -> T,
) -> FfiResult {
    let out = out_ptr(out, "output")?;
    // SAFETY: caller's contract.
    let h = unsafe { handle(registry, "registry") }?;
    // SAFETY: caller's contract.
    let id = unsafe { node_id_arg(node_id, "node_id") }?;
    let v = h
        .registry
        .with_peer(id, field)
        .ok_or_else(|| not_found(id))?;
    // SAFETY: checked non-NULL, valid by contract.
    unsafe { write_out(out, v) };
    Ok(())
}

/// The liveness of the listed peer with this node id, written to
/// `*liveness_out` (a `peerdisc_liveness`). No JSON, nothing allocated,
/// nothing to free. `PEERDISC_ERR_INVALID_ARGUMENT` for an invalid node id,
/// `PEERDISC_ERR_NOT_FOUND` if no such peer. Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `node_id` is a NUL-terminated string;
/// `liveness_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_peer_liveness(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    liveness_out: *mut peerdisc_liveness,
) -> peerdisc_status {
    guard("peerdisc_registry_peer_liveness", || {
        // SAFETY: forwarded contract.
        unsafe { read_field(registry, node_id, liveness_out, |p| c_liveness(p.liveness)) }
    })
}

/// The connection state of the listed peer with this node id, written to
/// `*state_out` (a `peerdisc_connection_state`). No JSON, nothing
/// allocated, nothing to free. `PEERDISC_ERR_INVALID_ARGUMENT` for an
/// invalid node id, `PEERDISC_ERR_NOT_FOUND` if no such peer. Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `node_id` is a NUL-terminated string;
/// `state_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_peer_connection_state(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    state_out: *mut peerdisc_connection_state,
) -> peerdisc_status {
    guard("peerdisc_registry_peer_connection_state", || {
        // SAFETY: forwarded contract.
        unsafe {
            read_field(registry, node_id, state_out, |p| {
                c_connection_state(p.connection_state)
            })
        }
    })
}

/// When the listed peer with this node id was last heard from, in
/// milliseconds since the Unix epoch, written to `*last_seen_ms_out`. No
/// JSON, nothing allocated, nothing to free.
/// `PEERDISC_ERR_INVALID_ARGUMENT` for an invalid node id,
/// `PEERDISC_ERR_NOT_FOUND` if no such peer. Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `node_id` is a NUL-terminated string;
/// `last_seen_ms_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_peer_last_seen_ms(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    last_seen_ms_out: *mut u64,
) -> peerdisc_status {
    guard("peerdisc_registry_peer_last_seen_ms", || {
        // SAFETY: forwarded contract.
        unsafe { read_field(registry, node_id, last_seen_ms_out, |p| p.last_seen_ms) }
    })
}

/// A snapshot of one peer's addresses and capabilities (opaque, immutable),
/// read with `peerdisc_peer_address_count` / `peerdisc_peer_address` and
/// `peerdisc_peer_capability_count` / `peerdisc_peer_capability`. Made by
/// `peerdisc_registry_peer`, freed by `peerdisc_peer_free`. It does not
/// change when the registry does and may outlive the registry. Thread-safe
/// (read-only).
pub struct peerdisc_peer {
    addresses: Vec<CString>,
    /// Per `peerdisc_capability_kind`, in its order.
    capabilities: [Vec<CString>; 4],
}

const KINDS: [CapabilityKind; 4] = [
    CapabilityKind::Agent,
    CapabilityKind::Tool,
    CapabilityKind::Resource,
    CapabilityKind::Prompt,
];

fn c_text(s: &str) -> FfiResult<CString> {
    // Addresses and capability names are validated: no control character,
    // so no NUL.
    CString::new(s).map_err(|_| FfiError::new(PEERDISC_ERR_INTERNAL, "a field held a NUL byte"))
}

impl peerdisc_peer {
    fn of(peer: &Arc<Peer>) -> FfiResult<Self> {
        let addresses = peer
            .addresses()
            .iter()
            .map(|a| c_text(a.as_str()))
            .collect::<FfiResult<_>>()?;
        let mut capabilities: [Vec<CString>; 4] = Default::default();
        for (slot, kind) in capabilities.iter_mut().zip(KINDS) {
            *slot = peer
                .capabilities()
                .of(kind)
                .iter()
                .map(|c| c_text(c.name()))
                .collect::<FfiResult<_>>()?;
        }
        Ok(peerdisc_peer {
            addresses,
            capabilities,
        })
    }
}

fn entry<'a>(list: &'a [CString], index: usize, what: &str) -> FfiResult<&'a CString> {
    list.get(index).ok_or_else(|| {
        FfiError::new(
            PEERDISC_ERR_INVALID_ARGUMENT,
            format!(
                "{what} index {index} is past the end (count {})",
                list.len()
            ),
        )
    })
}

/// Takes a snapshot of the listed peer with this node id's addresses and
/// capabilities, without JSON. On success writes a new handle to
/// `*peer_out`, owned by the caller (free with `peerdisc_peer_free`).
/// `PEERDISC_ERR_INVALID_ARGUMENT` for an invalid node id,
/// `PEERDISC_ERR_NOT_FOUND` if no such peer. Thread-safe.
///
/// # Safety
/// `registry` is a live handle; `node_id` is a NUL-terminated string;
/// `peer_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_registry_peer(
    registry: *const peerdisc_registry,
    node_id: *const c_char,
    peer_out: *mut *mut peerdisc_peer,
) -> peerdisc_status {
    guard("peerdisc_registry_peer", || {
        let out = out_ptr(peer_out, "peer_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(registry, "registry") }?;
        // SAFETY: caller's contract.
        let id = unsafe { node_id_arg(node_id, "node_id") }?;
        let peer = h.registry.get(id).ok_or_else(|| not_found(id))?;
        let snapshot = Box::new(peerdisc_peer::of(&peer)?);
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, Box::into_raw(snapshot)) };
        Ok(())
    })
}

/// Frees a peer snapshot; the strings it handed out become invalid. NULL is
/// accepted and ignored.
///
/// # Safety
/// `peer` is NULL or a live handle from `peerdisc_registry_peer`, not used
/// by any other call during or after this one.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_peer_free(peer: *mut peerdisc_peer) {
    if peer.is_null() {
        return;
    }
    let _ = guard("peerdisc_peer_free", || {
        // SAFETY: made by Box::into_raw in peerdisc_registry_peer, freed
        // once (caller's contract).
        drop(unsafe { Box::from_raw(peer) });
        Ok(())
    });
}

/// The number of addresses of a peer snapshot (0 to 16), written to
/// `*count_out`. Nothing allocated. Thread-safe.
///
/// # Safety
/// `peer` is a live handle; `count_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_peer_address_count(
    peer: *const peerdisc_peer,
    count_out: *mut usize,
) -> peerdisc_status {
    guard("peerdisc_peer_address_count", || {
        let out = out_ptr(count_out, "count_out")?;
        // SAFETY: caller's contract.
        let p = unsafe { handle(peer, "peer") }?;
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, p.addresses.len()) };
        Ok(())
    })
}

/// Address number `index` (from 0, in the peer's order) of a peer
/// snapshot, a `ws://` or `wss://` URL written to `*address_out`. Borrowed:
/// valid until `peerdisc_peer_free(peer)`; do not free it.
/// `PEERDISC_ERR_INVALID_ARGUMENT` when `index` is not below the count.
/// Thread-safe.
///
/// # Safety
/// `peer` is a live handle; `address_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_peer_address(
    peer: *const peerdisc_peer,
    index: usize,
    address_out: *mut *const c_char,
) -> peerdisc_status {
    guard("peerdisc_peer_address", || {
        let out = out_ptr(address_out, "address_out")?;
        // SAFETY: caller's contract.
        let p = unsafe { handle(peer, "peer") }?;
        let a = entry(&p.addresses, index, "address")?;
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, a.as_ptr()) };
        Ok(())
    })
}

/// The number of capabilities of one kind (`kind`: a
/// `peerdisc_capability_kind`) of a peer snapshot, written to
/// `*count_out`. `PEERDISC_ERR_INVALID_ARGUMENT` for an unknown kind.
/// Nothing allocated. Thread-safe.
///
/// # Safety
/// `peer` is a live handle; `count_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_peer_capability_count(
    peer: *const peerdisc_peer,
    kind: i32,
    count_out: *mut usize,
) -> peerdisc_status {
    guard("peerdisc_peer_capability_count", || {
        let out = out_ptr(count_out, "count_out")?;
        // SAFETY: caller's contract.
        let p = unsafe { handle(peer, "peer") }?;
        capability_kind(kind)?;
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, p.capabilities[kind as usize].len()) };
        Ok(())
    })
}

/// The name of capability number `index` (from 0, in the peer's order) of
/// one kind (a `peerdisc_capability_kind`) of a peer snapshot, written to
/// `*name_out`. Borrowed: valid until `peerdisc_peer_free(peer)`; do not
/// free it. `PEERDISC_ERR_INVALID_ARGUMENT` for an unknown kind or an
/// `index` not below the count. Thread-safe.
///
/// # Safety
/// `peer` is a live handle; `name_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_peer_capability(
    peer: *const peerdisc_peer,
    kind: i32,
    index: usize,
    name_out: *mut *const c_char,
) -> peerdisc_status {
    guard("peerdisc_peer_capability", || {
        let out = out_ptr(name_out, "name_out")?;
        // SAFETY: caller's contract.
        let p = unsafe { handle(peer, "peer") }?;
        capability_kind(kind)?;
        let name = entry(&p.capabilities[kind as usize], index, "capability")?;
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, name.as_ptr()) };
        Ok(())
    })
}
