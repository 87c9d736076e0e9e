//! `peerdisc_subscription_*`: pulling events.

use std::ffi::c_char;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use super::args::{handle, out_ptr, owned_c_string, write_out};
use super::status::{guard, peerdisc_status, peerdisc_status::*, FfiError};
use crate::events::PeerEvent;

/// A queue of events (opaque), made by `peerdisc_registry_subscribe`,
/// freed by `peerdisc_subscription_free`.
pub struct peerdisc_subscription {
    rx: Receiver<PeerEvent>,
}

impl peerdisc_subscription {
    pub(crate) fn new(rx: Receiver<PeerEvent>) -> Self {
        peerdisc_subscription { rx }
    }
}

/// Waits for the next event.
///
/// `timeout_ms`: 0 returns at once, a negative value waits without limit.
/// On `PEERDISC_OK` writes the event as a JSON object (the event JSON
/// described at `peerdisc_event_callback`) to `*json_out`
/// (owned by the caller, free with `peerdisc_string_free`). Returns
/// `PEERDISC_TIMEOUT` if none came in time and `PEERDISC_CLOSED` once the
/// source was freed and every queued event was read; `*json_out` is then
/// untouched.
///
/// Threading: one thread at a time per subscription; the subscription must
/// not be freed while this call waits.
///
/// # Safety
/// `subscription` is a live handle; `json_out` is valid.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_subscription_next_event(
    subscription: *const peerdisc_subscription,
    timeout_ms: i32,
    json_out: *mut *mut c_char,
) -> peerdisc_status {
    guard("peerdisc_subscription_next_event", || {
        let out = out_ptr(json_out, "json_out")?;
        // SAFETY: caller's contract.
        let s = unsafe { handle(subscription, "subscription") }?;
        let timeout =
            || FfiError::new(PEERDISC_TIMEOUT, format!("no event within {timeout_ms} ms"));
        let closed = || {
            FfiError::new(
                PEERDISC_CLOSED,
                "the event source was freed and every event was read",
            )
        };
        let ev = if timeout_ms < 0 {
            s.rx.recv().map_err(|_| closed())?
        } else if timeout_ms == 0 {
            s.rx.try_recv().map_err(|e| match e {
                TryRecvError::Empty => timeout(),
                TryRecvError::Disconnected => closed(),
            })?
        } else {
            s.rx.recv_timeout(Duration::from_millis(timeout_ms as u64))
                .map_err(|e| match e {
                    RecvTimeoutError::Timeout => timeout(),
                    RecvTimeoutError::Disconnected => closed(),
                })?
        };
        let js = owned_c_string(ev.to_json())?;
        // SAFETY: checked non-NULL, valid by contract.
        unsafe { write_out(out, js) };
        Ok(())
    })
}

/// Frees a subscription (unsubscribes). NULL is accepted and ignored.
/// Strings already returned by `peerdisc_subscription_next_event` stay
/// valid (the caller frees them). Threading: from any thread, but not while
/// another call on this subscription is in progress.
///
/// # Safety
/// `subscription` is NULL or a live handle, not in use by another call.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_subscription_free(subscription: *mut peerdisc_subscription) {
    if subscription.is_null() {
        return;
    }
    let _ = guard("peerdisc_subscription_free", || {
        // SAFETY: made by Box::into_raw, freed once (caller's contract).
        drop(unsafe { Box::from_raw(subscription) });
        Ok(())
    });
}
