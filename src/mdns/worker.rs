//! The mDNS worker: owns the mdns-sd daemon, registers this node, browses
//! the service type and forwards what it resolves.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use mdns_sd::{DaemonEvent, DaemonStatus, IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};

use super::merge::{Resolution, Resolutions};
use super::{host_name, instance_name, precheck, txt, MdnsConfig, MdnsError, MdnsEvent};
use crate::model::NodeId;

/// How often the forwarding thread looks at its stop flag and at the
/// daemon's error reports while no service event arrives.
const POLL: Duration = Duration::from_millis(100);
/// mdns-sd repeats goodbye packets 120 ms after the first; wait for it.
const GOODBYE_REPEAT: Duration = Duration::from_millis(140);
/// Bound on each wait for the daemon during stop.
const DAEMON_WAIT: Duration = Duration::from_secs(2);
/// Capacity of the event channel to the node.
const EVENT_CAPACITY: usize = 256;
/// How long the worker waits for room in the event channel before it
/// drops an event.
const SEND_WAIT: Duration = Duration::from_secs(1);

/// What this node publishes.
#[derive(Debug, Clone)]
pub struct LocalService {
    /// This node's id.
    pub node_id: NodeId,
    /// The IP address the WebSocket listener is bound to (an unspecified
    /// address publishes the selected interfaces' addresses).
    pub listen: IpAddr,
    /// The bound WebSocket port.
    pub ws_port: u16,
    /// The WebSocket path.
    pub path: String,
    /// The TXT entries ([`txt::build`]).
    pub txt: Vec<(String, String)>,
}

/// A running mDNS worker. Stop it with [`stop`](Self::stop) (dropping it
/// stops it too, gracefully).
pub struct MdnsWorker {
    running: Option<Running>,
}

struct Running {
    daemon: ServiceDaemon,
    fullname: String,
    /// What was registered, to register again with new TXT entries.
    service: Service,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl std::fmt::Debug for MdnsWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdnsWorker")
            .field("service", &self.running.as_ref().map(|r| &r.fullname))
            .finish()
    }
}

impl MdnsWorker {
    /// Starts the worker: checks that multicast can be used, starts the
    /// mdns-sd daemon (in the calling thread's network namespace),
    /// registers `local` and browses `config.service_type` at once.
    ///
    /// Never fails for reasons of the network: if multicast cannot be
    /// used, the returned worker is idle and the first event on the
    /// receiver is [`MdnsEvent::Unavailable`]. Fails only on a
    /// configuration error.
    pub fn start(
        config: &MdnsConfig,
        local: LocalService,
    ) -> Result<(MdnsWorker, Receiver<MdnsEvent>), MdnsError> {
        config.validate()?;
        let (tx, rx) = bounded(EVENT_CAPACITY);
        match Self::try_start(config, local, tx.clone()) {
            Ok(running) => Ok((
                MdnsWorker {
                    running: Some(running),
                },
                rx,
            )),
            Err(reason) => {
                let _ = tx.try_send(MdnsEvent::Unavailable { reason });
                Ok((MdnsWorker { running: None }, rx))
            }
        }
    }

    fn try_start(
        config: &MdnsConfig,
        local: LocalService,
        tx: Sender<MdnsEvent>,
    ) -> Result<Running, String> {
        let selected = precheck::check(config)?;
        let addresses = precheck::published_addresses(local.listen, &selected);
        if addresses.is_empty() {
            return Err(format!(
                "no address to publish: the node listens on {} and no selected interface has such an address",
                local.listen
            ));
        }
        let daemon = ServiceDaemon::new().map_err(|e| format!("mDNS daemon: {e}"))?;
        match Self::setup(&daemon, config, &local, &addresses, tx) {
            Ok(r) => Ok(r),
            Err(e) => {
                shutdown(&daemon);
                Err(e)
            }
        }
    }

    fn setup(
        daemon: &ServiceDaemon,
        config: &MdnsConfig,
        local: &LocalService,
        addresses: &[IpAddr],
        tx: Sender<MdnsEvent>,
    ) -> Result<Running, String> {
        let err = |what: &'static str| move |e: mdns_sd::Error| format!("mDNS {what}: {e}");
        if !config.interfaces.is_empty() {
            daemon
                .disable_interface(IfKind::All)
                .map_err(err("interface selection"))?;
            let names: Vec<IfKind> = config
                .interfaces
                .iter()
                .map(|n| IfKind::Name(n.clone()))
                .collect();
            daemon
                .enable_interface(names)
                .map_err(err("interface selection"))?;
        }
        if !config.ipv4 {
            daemon
                .disable_interface(IfKind::IPv4)
                .map_err(err("interface selection"))?;
        }
        if !config.ipv6 {
            daemon
                .disable_interface(IfKind::IPv6)
                .map_err(err("interface selection"))?;
        }
        let monitor = daemon.monitor().map_err(err("monitor"))?;
        let service = Service {
            service_type: config.service_type.clone(),
            instance: instance_name(&local.node_id),
            host: host_name(&local.node_id),
            addresses: addresses.to_vec(),
            port: local.ws_port,
            probe: config.probe,
        };
        let info = service.info(&local.txt).map_err(err("service"))?;
        let fullname = info.get_fullname().to_string();
        // Browse first so that answers to our own queries are never missed,
        // then register: both go out at once.
        let events = daemon.browse(&config.service_type).map_err(err("browse"))?;
        daemon.register(info).map_err(err("register"))?;
        log::info!(
            "peerdisc: {} publishes {fullname} on port {} ({:?}) and browses {}",
            local.node_id,
            local.ws_port,
            addresses,
            config.service_type
        );
        let stop = Arc::new(AtomicBool::new(false));
        let mut forward = Forward {
            events,
            monitor,
            tx,
            stop: Arc::clone(&stop),
            merge: Resolutions::new(&config.service_type, &fullname, config.ipv4, config.ipv6),
        };
        let thread = std::thread::Builder::new()
            .name(format!("peerdisc-mdns-{}", local.node_id))
            .spawn(move || forward.run())
            .map_err(|e| format!("cannot start the mDNS thread: {e}"))?;
        Ok(Running {
            daemon: daemon.clone(),
            fullname,
            service,
            stop,
            thread,
        })
    }

    /// Whether the daemon is running (false when multicast was
    /// unavailable, or after stop).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Publishes new TXT entries (for example after the capabilities
    /// changed): the service is registered again and announced. Does
    /// nothing when the worker is not running.
    pub fn update_txt(&self, txt: &[(String, String)]) -> Result<(), MdnsError> {
        let Some(r) = &self.running else {
            return Ok(());
        };
        let info = r
            .service
            .info(txt)
            .map_err(|e| MdnsError::Daemon(e.to_string()))?;
        r.daemon
            .register(info)
            .map_err(|e| MdnsError::Daemon(e.to_string()))
    }

    /// Stops the worker and waits for its threads. `graceful`: send
    /// goodbye packets first (unregister); otherwise stop silently, as a
    /// crash would. Idempotent; bounded in time (a few seconds at worst).
    pub fn stop(&mut self, graceful: bool) {
        let Some(r) = self.running.take() else {
            return;
        };
        if graceful {
            let started = Instant::now();
            if let Ok(status) = r.daemon.unregister(&r.fullname) {
                let _ = status.recv_timeout(DAEMON_WAIT);
            }
            // Let the repeated goodbye go out before the daemon exits.
            std::thread::sleep(GOODBYE_REPEAT.saturating_sub(started.elapsed()));
        } else {
            // No interface left: the daemon's exit cannot announce anything.
            let _ = r.daemon.disable_interface(IfKind::All);
        }
        shutdown(&r.daemon);
        r.stop.store(true, Ordering::Relaxed);
        let _ = r.thread.join();
    }
}

impl Drop for MdnsWorker {
    fn drop(&mut self) {
        self.stop(true);
    }
}

/// The registered service, TXT aside.
#[derive(Debug, Clone)]
struct Service {
    service_type: String,
    instance: String,
    host: String,
    addresses: Vec<IpAddr>,
    port: u16,
    probe: bool,
}

impl Service {
    fn info(&self, txt: &[(String, String)]) -> Result<ServiceInfo, mdns_sd::Error> {
        let mut info = ServiceInfo::new(
            &self.service_type,
            &self.instance,
            &self.host,
            self.addresses.as_slice(),
            self.port,
            txt,
        )?;
        info.set_requires_probe(self.probe);
        Ok(info)
    }
}

/// Shuts the daemon down and waits (bounded) until its thread is done.
fn shutdown(daemon: &ServiceDaemon) {
    match daemon.shutdown() {
        Ok(status) => match status.recv_timeout(DAEMON_WAIT) {
            Ok(DaemonStatus::Shutdown) | Err(_) => {}
            Ok(other) => log::debug!("mdns: daemon status {other:?} after shutdown"),
        },
        Err(e) => log::debug!("mdns: shutdown: {e}"),
    }
}

struct Forward {
    events: mdns_sd::Receiver<ServiceEvent>,
    monitor: mdns_sd::Receiver<DaemonEvent>,
    tx: Sender<MdnsEvent>,
    stop: Arc<AtomicBool>,
    merge: Resolutions,
}

impl Forward {
    fn run(&mut self) {
        while !self.stop.load(Ordering::Relaxed) {
            match self.events.recv_timeout(POLL) {
                Ok(ev) => {
                    if let Some(out) = self.on_event(ev) {
                        if self.tx.send_timeout(out, SEND_WAIT).is_err() {
                            log::debug!("mdns: the node is not taking events; one dropped");
                        }
                    }
                }
                Err(mdns_sd::RecvTimeoutError::Timeout) => {}
                Err(mdns_sd::RecvTimeoutError::Disconnected) => break,
            }
            while let Ok(ev) = self.monitor.try_recv() {
                if let DaemonEvent::Error(e) = ev {
                    log::debug!("mdns: daemon error: {e}");
                }
            }
        }
    }

    fn on_event(&mut self, ev: ServiceEvent) -> Option<MdnsEvent> {
        match ev {
            ServiceEvent::ServiceResolved(s) => {
                let raw = s
                    .get_properties()
                    .iter()
                    .map(|p| (p.key(), p.val()))
                    .collect::<Vec<_>>();
                let txt = txt::entries_to_map(raw);
                let addresses = s.get_addresses().iter().map(|a| a.to_ip_addr()).collect();
                self.merge.resolved(Resolution {
                    fullname: s.get_fullname().to_string(),
                    ty_domain: s.ty_domain.clone(),
                    srv_port: s.get_port(),
                    addresses,
                    txt,
                })
            }
            ServiceEvent::ServiceRemoved(_, fullname) => self.merge.removed(&fullname),
            other => {
                log::trace!("mdns: {other:?}");
                None
            }
        }
    }
}
