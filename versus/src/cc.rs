//! The scenario's side for chitchat 0.13 (crates.io): N nodes on one tokio
//! runtime, real UDP on loopback, bytes counted by a wrapper around
//! chitchat's own `UdpTransport`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chitchat::transport::{RecvOutcome, SendOutcome, Socket, Transport, UdpTransport};
use chitchat::{
    spawn_chitchat, ChitchatConfig, ChitchatEnvelope, ChitchatHandle, ChitchatId,
    FailureDetectorConfig, ProtocolVersion,
};
use tokio::runtime::Runtime;

use crate::{Cluster, Options};

/// Counts the bytes of every datagram sent (UDP payload, as chitchat
/// reports it). With `drop_pct` above zero it also loses that share of the
/// datagrams on receipt, silently, as a lossy network would (used only when
/// the run could not get a private network namespace, where the kernel drops
/// packets for both systems).
struct CountingTransport {
    bytes: Arc<AtomicU64>,
    drop_pct: u32,
}

struct CountingSocket {
    inner: Box<dyn Socket>,
    bytes: Arc<AtomicU64>,
    drop_pct: u32,
    rng: u64,
}

#[async_trait]
impl Transport for CountingTransport {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let inner = UdpTransport.open(listen_addr).await?;
        Ok(Box::new(CountingSocket {
            inner,
            bytes: self.bytes.clone(),
            drop_pct: self.drop_pct,
            rng: 0x9E37_79B9_7F4A_7C15 ^ u64::from(listen_addr.port()),
        }))
    }
}

impl CountingSocket {
    fn dropped(&mut self) -> bool {
        if self.drop_pct == 0 {
            return false;
        }
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % 100) < u64::from(self.drop_pct)
    }
}

#[async_trait]
impl Socket for CountingSocket {
    fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.inner.local_addr()
    }

    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> anyhow::Result<SendOutcome> {
        let out = self.inner.send(to, envelope).await?;
        self.bytes
            .fetch_add(out.num_bytes_sent as u64, Ordering::Relaxed);
        Ok(out)
    }

    async fn recv(&mut self) -> anyhow::Result<RecvOutcome> {
        loop {
            let out = self.inner.recv().await?;
            if !self.dropped() {
                return Ok(out);
            }
        }
    }
}

pub struct Chitchat {
    rt: Runtime,
    transport: CountingTransport,
    bytes: Arc<AtomicU64>,
    interval: Duration,
    seed: SocketAddr,
    handles: Vec<Option<ChitchatHandle>>,
    ids: Vec<ChitchatId>,
    joiner: Option<ChitchatHandle>,
    victim: Option<usize>,
}

const JOINER: &str = "joiner";

fn index(id: &str) -> Option<usize> {
    id.strip_prefix('c')?.parse().ok()
}

/// A free UDP port on 127.0.0.1: chitchat needs its advertised address
/// before it binds.
fn free_addr() -> SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind a UDP socket on 127.0.0.1")
}

impl Chitchat {
    fn spawn(&self, node_id: &str, seeds: Vec<String>) -> (ChitchatId, ChitchatHandle) {
        let mut last_err = None;
        for _ in 0..5 {
            let addr = free_addr();
            let chitchat_id = ChitchatId::new(node_id, 0, addr);
            let config = ChitchatConfig {
                chitchat_id: chitchat_id.clone(),
                cluster_id: "versus".to_string(),
                gossip_interval: self.interval,
                listen_addr: addr,
                seed_nodes: seeds.clone(),
                failure_detector_config: FailureDetectorConfig {
                    phi_threshold: 8.0,
                    sampling_window_size: 1_000,
                    max_interval: Duration::from_secs(10),
                    // The prior: the same interval as the gossip.
                    initial_interval: self.interval,
                    dead_node_grace_period: Duration::from_secs(3_600),
                },
                marked_for_deletion_grace_period: Duration::from_secs(3_600),
                catchup_callback: None,
                extra_liveness_predicate: None,
                // Compressed digest.
                protocol_version: ProtocolVersion::V1,
            };
            match self
                .rt
                .block_on(spawn_chitchat(config, Vec::new(), &self.transport))
            {
                Ok(h) => return (chitchat_id, h),
                Err(e) => last_err = Some(e),
            }
        }
        panic!("spawn chitchat: {last_err:?}");
    }

    fn running(&self) -> impl Iterator<Item = &ChitchatHandle> {
        self.handles.iter().flatten()
    }

    fn is_live_at(h: &ChitchatHandle, node_id: &str) -> bool {
        let cc = h.chitchat();
        let g = cc.blocking_lock();
        let live = g.live_nodes().any(|x| &*x.node_id == node_id);
        live
    }
}

impl Cluster for Chitchat {
    const NAME: &'static str = "chitchat";

    fn start(n: usize, opts: &Options) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let bytes = Arc::new(AtomicU64::new(0));
        let mut c = Chitchat {
            rt,
            transport: CountingTransport {
                bytes: bytes.clone(),
                drop_pct: opts.transport_drop_pct,
            },
            bytes,
            interval: Duration::from_millis(opts.interval_ms),
            seed: SocketAddr::from(([127, 0, 0, 1], 0)),
            handles: Vec::new(),
            ids: Vec::new(),
            joiner: None,
            victim: None,
        };
        let (id0, h0) = c.spawn("c000", Vec::new());
        c.seed = id0.gossip_advertise_addr;
        c.ids.push(id0);
        c.handles.push(Some(h0));
        let seeds = vec![c.seed.to_string()];
        for i in 1..n {
            let (id, h) = c.spawn(&format!("c{i:03}"), seeds.clone());
            c.ids.push(id);
            c.handles.push(Some(h));
        }
        c
    }

    fn converged(&self) -> bool {
        let n = self.ids.len();
        // live_nodes() includes the node itself.
        self.running().all(|h| {
            let cc = h.chitchat();
            let g = cc.blocking_lock();
            let count = g.live_nodes().count();
            count == n
        })
    }

    fn bytes_sent(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn start_joiner(&mut self) {
        let (_, h) = self.spawn(JOINER, vec![self.seed.to_string()]);
        self.joiner = Some(h);
    }

    fn joiner_known_by_all(&self) -> bool {
        self.running().all(|h| Self::is_live_at(h, JOINER))
    }

    fn kill(&mut self, i: usize) {
        // Chitchat has no goodbye: shutting the server down stops its gossip
        // and closes its socket.
        if let Some(h) = self.handles[i].take() {
            let _ = self.rt.block_on(h.shutdown());
        }
        self.victim = Some(i);
    }

    fn victim_dead_at_all(&self) -> bool {
        let Some(v) = self.victim else { return false };
        let victim = &*self.ids[v].node_id;
        self.running()
            .chain(self.joiner.iter())
            .all(|h| !Self::is_live_at(h, victim))
    }

    fn sample(&self, dead: &mut HashSet<(usize, usize)>, _suspect: &mut HashSet<(usize, usize)>) {
        for (i, h) in self.handles.iter().enumerate() {
            let Some(h) = h else { continue };
            let cc = h.chitchat();
            let g = cc.blocking_lock();
            for x in g.dead_nodes() {
                let Some(j) = index(&x.node_id) else {
                    continue; // the joiner
                };
                if Some(j) != self.victim {
                    dead.insert((i, j));
                }
            }
        }
    }

    fn shutdown(self) {
        let Chitchat {
            rt,
            handles,
            joiner,
            ..
        } = self;
        rt.block_on(async move {
            for h in handles.into_iter().flatten().chain(joiner) {
                let _ = tokio::time::timeout(Duration::from_secs(2), h.shutdown()).await;
            }
        });
        rt.shutdown_timeout(Duration::from_secs(2));
    }
}
