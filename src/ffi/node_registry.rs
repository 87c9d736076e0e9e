//! A node that keeps its peers in the application's registry, and the
//! registry of a node, across the C ABI.

use std::ffi::c_char;

use super::args::{handle, out_ptr, write_out};
use super::callback::CallbackSet;
use super::node::{new_node_into, peerdisc_node};
use super::registry::peerdisc_registry;
use super::status::{guard, peerdisc_status};
use crate::node::Node;
use crate::registry::PeerRegistry;

/// A new registry handle for an existing registry (another handle to the
/// same peers, with its own callbacks).
pub(crate) fn registry_handle(registry: PeerRegistry) -> Box<peerdisc_registry> {
    Box::new(peerdisc_registry {
        registry,
        callbacks: CallbackSet::default(),
    })
}

/// Makes a node, not started yet, that keeps its peers in `registry` (the
/// application's own, shared with other code; the configuration's
/// `registry` section is then not used). `config_json` is as for
/// `peerdisc_node_new`. The node holds its own reference to the registry's
/// peers: `registry` may be freed before or after the node.
///
/// On success writes a new handle to `*node_out` (free it with
/// `peerdisc_node_free`); on failure `*node_out` is untouched. Statuses as
/// `peerdisc_node_new`.
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `registry` is a live
/// handle; `node_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_new_with_registry(
    config_json: *const c_char,
    registry: *const peerdisc_registry,
    node_out: *mut *mut peerdisc_node,
) -> peerdisc_status {
    guard("peerdisc_node_new_with_registry", || {
        out_ptr(node_out, "node_out")?;
        // SAFETY: caller's contract.
        let reg = unsafe { handle(registry, "registry") }?;
        let shared = reg.registry.clone();
        // SAFETY: caller's contract.
        unsafe {
            new_node_into(config_json, node_out, |config| {
                Node::with_registry(config, shared)
            })
        }
    })
}

/// The registry of a node (every peer it knows), as a new registry handle
/// on the same peers: calls on it read and write the node's table. It
/// stays valid after the node is stopped or freed. Free it with
/// `peerdisc_registry_free` (its callbacks are its own).
///
/// # Safety
/// `node` is a live handle; `registry_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_node_registry(
    node: *const peerdisc_node,
    registry_out: *mut *mut peerdisc_registry,
) -> peerdisc_status {
    guard("peerdisc_node_registry", || {
        let out = out_ptr(registry_out, "registry_out")?;
        // SAFETY: caller's contract.
        let h = unsafe { handle(node, "node") }?;
        let r = registry_handle(h.node.registry().clone());
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out, Box::into_raw(r)) };
        Ok(())
    })
}
