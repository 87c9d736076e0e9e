//! Subscribing to events and registering callbacks.

use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::{PeerRegistry, RegistryError};
use crate::events::{CallbackId, ChangedField, PeerEvent, RemovalReason};
use crate::model::Peer;

impl PeerRegistry {
    /// A new subscriber: every event from now on, in order, in a queue of
    /// `subscriber_capacity` events. When the queue is full, new events are
    /// dropped for this subscriber and counted in
    /// [`RegistryStats::events_dropped`](super::RegistryStats). Dropping the
    /// receiver unsubscribes.
    pub fn subscribe(&self) -> Receiver<PeerEvent> {
        self.subscribe_with_capacity(self.inner.config.subscriber_capacity)
    }

    /// Like [`subscribe`](Self::subscribe) with a queue of `capacity` events.
    pub fn subscribe_with_capacity(&self, capacity: usize) -> Receiver<PeerEvent> {
        self.inner.events.subscribe(capacity)
    }

    /// Calls `callback` for every event, on the dispatcher thread, with a
    /// handle to this registry. It may call any registry method. A panic in
    /// it is caught, logged and counted.
    pub fn on_event(
        &self,
        callback: impl Fn(&PeerRegistry, &PeerEvent) + Send + Sync + 'static,
    ) -> Result<CallbackId, RegistryError> {
        let weak = self.weak();
        self.inner
            .events
            .add_callback(
                Arc::new(move || PeerRegistry::from_weak(&weak)),
                Arc::new(callback),
            )
            .map_err(|e| RegistryError::Thread(e.to_string()))
    }

    /// Calls `callback` for every added peer (the seed system's `on_add`).
    pub fn on_add(
        &self,
        callback: impl Fn(&PeerRegistry, &Arc<Peer>) + Send + Sync + 'static,
    ) -> Result<CallbackId, RegistryError> {
        self.on_event(move |r, e| {
            if let PeerEvent::Added { peer } = e {
                callback(r, peer)
            }
        })
    }

    /// Calls `callback` for every removed peer, with the reason.
    pub fn on_remove(
        &self,
        callback: impl Fn(&PeerRegistry, &Arc<Peer>, RemovalReason) + Send + Sync + 'static,
    ) -> Result<CallbackId, RegistryError> {
        self.on_event(move |r, e| {
            if let PeerEvent::Removed { peer, reason } = e {
                callback(r, peer, *reason)
            }
        })
    }

    /// Calls `callback` for every updated peer, with what changed.
    pub fn on_update(
        &self,
        callback: impl Fn(&PeerRegistry, &Arc<Peer>, &[ChangedField]) + Send + Sync + 'static,
    ) -> Result<CallbackId, RegistryError> {
        self.on_event(move |r, e| {
            if let PeerEvent::Updated { peer, changes } = e {
                callback(r, peer, changes)
            }
        })
    }

    /// Unregisters a callback. Returns whether it was registered.
    pub fn remove_callback(&self, id: CallbackId) -> bool {
        self.inner.events.remove_callback(id)
    }
}
