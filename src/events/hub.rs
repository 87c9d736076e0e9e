//! Fan-out of events to subscribers (bounded channels) and to callbacks
//! (run on a dispatcher thread).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle, ThreadId};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use parking_lot::{Mutex, RwLock};

/// Identifies a registered callback, to unregister it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallbackId(pub u64);

type Callback<C, E> = Arc<dyn Fn(&C, &E) + Send + Sync>;
type CallbackList<C, E> = Arc<RwLock<Vec<(CallbackId, Callback<C, E>)>>>;
type Upgrade<C> = Arc<dyn Fn() -> Option<C> + Send + Sync>;

/// How many events may wait for the dispatcher thread before new ones are
/// dropped (and counted).
pub(crate) const DISPATCH_QUEUE: usize = 65_536;
/// How long dropping the hub waits for a running callback to return.
const JOIN_WAIT: Duration = Duration::from_secs(2);

struct Dispatcher {
    tx: Sender<()>,
    thread: ThreadId,
    done: Receiver<()>,
    handle: JoinHandle<()>,
}

/// Delivers events of type `E`. Callbacks receive a context `C` (the
/// registry handle), made by `upgrade` for each event; when `upgrade`
/// returns `None` the owner is gone and the dispatcher stops without calling
/// anything more.
pub(crate) struct EventHub<C: 'static, E: 'static> {
    subscribers: RwLock<Vec<Sender<E>>>,
    callbacks: CallbackList<C, E>,
    queue: Arc<Mutex<std::collections::VecDeque<E>>>,
    dispatcher: Mutex<Option<Dispatcher>>,
    listening: AtomicBool,
    next_id: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) callback_panics: Arc<AtomicU64>,
    name: &'static str,
}

impl<C: Send + 'static, E: Clone + Send + 'static> EventHub<C, E> {
    pub(crate) fn new(name: &'static str) -> Self {
        EventHub {
            subscribers: RwLock::new(Vec::new()),
            callbacks: Arc::new(RwLock::new(Vec::new())),
            queue: Arc::new(Mutex::new(std::collections::VecDeque::new())),
            dispatcher: Mutex::new(None),
            listening: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            dropped: AtomicU64::new(0),
            callback_panics: Arc::new(AtomicU64::new(0)),
            name,
        }
    }

    /// Whether anyone listens; when not, callers skip building events.
    #[inline]
    pub(crate) fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    fn refresh_listening(&self) {
        let any = !self.subscribers.read().is_empty() || !self.callbacks.read().is_empty();
        self.listening.store(any, Ordering::Release);
    }

    /// A new subscriber with a queue of `capacity` events.
    pub(crate) fn subscribe(&self, capacity: usize) -> Receiver<E> {
        let (tx, rx) = bounded(capacity.max(1));
        self.subscribers.write().push(tx);
        self.listening.store(true, Ordering::Release);
        rx
    }

    /// Registers a callback; starts the dispatcher thread on first use.
    pub(crate) fn add_callback(
        &self,
        upgrade: Upgrade<C>,
        callback: Callback<C, E>,
    ) -> std::io::Result<CallbackId> {
        let id = CallbackId(self.next_id.fetch_add(1, Ordering::Relaxed));
        {
            let mut d = self.dispatcher.lock();
            if d.is_none() {
                *d = Some(self.spawn_dispatcher(upgrade)?);
            }
        }
        self.callbacks.write().push((id, callback));
        self.listening.store(true, Ordering::Release);
        Ok(id)
    }

    /// Unregisters a callback. Returns whether it was registered. A call
    /// already running finishes; the callback is dropped after it.
    pub(crate) fn remove_callback(&self, id: CallbackId) -> bool {
        let removed = {
            let mut cbs = self.callbacks.write();
            let before = cbs.len();
            cbs.retain(|(cid, _)| *cid != id);
            cbs.len() != before
        };
        self.refresh_listening();
        removed
    }

    /// Hands an event to every subscriber and to the dispatcher. Never
    /// blocks.
    pub(crate) fn emit(&self, event: E) {
        let mut gone: Vec<Sender<E>> = Vec::new();
        {
            let subs = self.subscribers.read();
            for tx in subs.iter() {
                match tx.try_send(event.clone()) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(TrySendError::Disconnected(_)) => gone.push(tx.clone()),
                }
            }
        }
        if !gone.is_empty() {
            self.subscribers
                .write()
                .retain(|tx| !gone.iter().any(|g| g.same_channel(tx)));
            self.refresh_listening();
        }
        if let Some(d) = self.dispatcher.lock().as_ref() {
            let mut q = self.queue.lock();
            if q.len() >= DISPATCH_QUEUE {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            q.push_back(event);
            drop(q);
            let _ = d.tx.try_send(());
        }
    }

    fn spawn_dispatcher(&self, upgrade: Upgrade<C>) -> std::io::Result<Dispatcher> {
        let (tx, rx) = bounded::<()>(1);
        let (done_tx, done) = bounded::<()>(1);
        let callbacks = Arc::clone(&self.callbacks);
        let queue = Arc::clone(&self.queue);
        let panics = Arc::clone(&self.callback_panics);
        let name = self.name;
        let handle = thread::Builder::new()
            .name(format!("peerdisc-{name}-events"))
            .spawn(move || {
                // Wake-ups come through `rx`; it disconnects when the hub is
                // dropped.
                'outer: while rx.recv().is_ok() {
                    loop {
                        let Some(event) = queue.lock().pop_front() else {
                            break;
                        };
                        let Some(ctx) = upgrade() else {
                            break 'outer;
                        };
                        let cbs: Vec<Callback<C, E>> =
                            callbacks.read().iter().map(|(_, cb)| Arc::clone(cb)).collect();
                        for cb in cbs {
                            if catch_unwind(AssertUnwindSafe(|| cb(&ctx, &event))).is_err() {
                                panics.fetch_add(1, Ordering::Relaxed);
                                log::error!("peerdisc: a {name} event callback panicked; the panic was caught and the other callbacks still run");
                            }
                        }
                        drop(ctx);
                    }
                }
                // No further call can come: drop the callbacks here so that
                // finalizers run after the last call.
                callbacks.write().clear();
                let _ = done_tx.send(());
            })?;
        Ok(Dispatcher {
            tx,
            thread: handle.thread().id(),
            done,
            handle,
        })
    }
}

impl<C: 'static, E: 'static> Drop for EventHub<C, E> {
    fn drop(&mut self) {
        let Some(d) = self.dispatcher.get_mut().take() else {
            self.callbacks.write().clear();
            return;
        };
        let Dispatcher {
            tx,
            thread,
            done,
            handle,
        } = d;
        drop(tx);
        if thread::current().id() == thread {
            // Dropped from inside a callback: the thread ends by itself when
            // the callback returns.
            return;
        }
        if done.recv_timeout(JOIN_WAIT).is_ok() {
            let _ = handle.join();
        } else {
            log::warn!(
                "peerdisc: an event callback is still running after {JOIN_WAIT:?}; its thread is left to finish on its own"
            );
        }
    }
}
