use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Metrics, NetworkConfig};
use crate::identity::{sign_record, Identity};
use crate::membership::{
    Command, MemberTable, Membership, MembershipConfig, MembershipEvent, Output, Target,
};
use crate::model::{Capabilities, Capability, Liveness, NodeId, PeerAddress, PeerRecord};
use crate::wire::{self, Message};

/// Settings of one simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of everything random (network and nodes): same seed, same run.
    pub seed: u64,
    /// Protocol settings of every node.
    pub membership: MembershipConfig,
    /// Latency and loss.
    pub network: NetworkConfig,
    /// Nodes have Ed25519 identities ([`sim_identity`]): key-derived ids,
    /// signed records, and every record a node accepts is verified, as in
    /// a real node. Off: hand-picked ids (`node-00042`), unsigned records.
    pub signed: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            membership: MembershipConfig::default(),
            network: NetworkConfig::default(),
            signed: false,
        }
    }
}

enum Event {
    Deliver {
        from: u32,
        to: u32,
        msg: Message,
        /// Sent as a datagram (else over a stream).
        datagram: bool,
    },
    Timer {
        node: u32,
    },
}

struct Scheduled {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reversed: the heap pops the earliest first.
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

struct SimNode {
    core: Membership,
    up: bool,
    group: u8,
    timer_at: Option<u64>,
    bytes_sent: u64,
    received: u64,
}

/// A deterministic discrete-event simulation of many nodes running the real
/// [`Membership`] core over an in-memory network. Time is simulated
/// milliseconds; a run is a pure function of its [`SimConfig`] and the calls
/// made on it.
pub struct Simulator {
    config: SimConfig,
    now: u64,
    rng: ChaCha8Rng,
    nodes: Vec<SimNode>,
    ids: Vec<NodeId>,
    index: HashMap<NodeId, u32>,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    metrics: Metrics,
    up: usize,
    /// While a node handles a delivered message: its sender and whether it
    /// came as a datagram (a direct answer goes back the same way).
    answering: Option<(usize, bool)>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .field("up", &self.up)
            .finish_non_exhaustive()
    }
}

/// The record the simulator gives node `i`: an address, an agent and two
/// tools (a realistic, small record).
pub fn sim_record(i: usize) -> PeerRecord {
    // "node-" and digits: always a valid id.
    let id = NodeId::new(format!("node-{i:05}")).expect("a valid simulated node id");
    let mut rec = PeerRecord::new(id);
    let addr = format!(
        "ws://10.{}.{}.{}:8000",
        (i >> 16) & 255,
        (i >> 8) & 255,
        i & 255
    );
    if let Ok(a) = PeerAddress::new(addr) {
        rec.addresses.push(a);
    }
    rec.capabilities = Capabilities {
        agents: vec![Capability::new(format!("agent-{i}"))],
        tools: vec![Capability::new("search"), Capability::new("fetch")],
        resources: Vec::new(),
        prompts: Vec::new(),
    };
    rec
}

/// The key pair of simulated node `i` (signed simulations): a pure
/// function of `i`, so runs stay repeatable.
pub fn sim_identity(i: usize) -> Identity {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5157_0000_0000 ^ i as u64);
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    Identity::from_secret_bytes(&secret)
}

/// Node `i`'s record, signed with [`sim_identity`]`(i)`: the content of
/// [`sim_record`] under the key-derived id.
pub fn sim_signed_record(i: usize) -> (Identity, PeerRecord) {
    let identity = sim_identity(i);
    let plain = sim_record(i);
    let mut rec = identity.new_record();
    rec.addresses = plain.addresses;
    rec.capabilities = plain.capabilities;
    let rec = sign_record(&identity, rec);
    (identity, rec)
}

impl Simulator {
    /// An empty network.
    pub fn new(mut config: SimConfig) -> Self {
        if let Some(max) = config.network.datagram_bytes {
            let id_len = if config.signed {
                67
            } else {
                "node-00000".len()
            };
            crate::datagram::fit_budgets(&mut config.membership, max, id_len, false);
        }
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        Simulator {
            config,
            now: 0,
            rng,
            nodes: Vec::new(),
            ids: Vec::new(),
            index: HashMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            metrics: Metrics::default(),
            up: 0,
            answering: None,
        }
    }

    /// Current simulated time, ms.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Number of nodes ever added.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node was added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Nodes currently up.
    pub fn up_count(&self) -> usize {
        self.up
    }

    /// Whether node `i` is up.
    pub fn is_up(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.up)
    }

    /// Node `i`'s id.
    pub fn id(&self, i: usize) -> &NodeId {
        &self.ids[i]
    }

    /// Node `i`'s state machine.
    pub fn node(&self, i: usize) -> &Membership {
        &self.nodes[i].core
    }

    /// The counters so far.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Bytes node `i` has sent so far (encoded JSON sizes).
    pub fn bytes_sent(&self, i: usize) -> u64 {
        self.nodes[i].bytes_sent
    }

    /// Messages node `i` has received so far.
    pub fn received(&self, i: usize) -> u64 {
        self.nodes[i].received
    }

    /// Total bytes sent by all nodes so far.
    pub fn total_bytes_sent(&self) -> u64 {
        self.nodes.iter().map(|n| n.bytes_sent).sum()
    }

    /// Sets the loss probability of every message from now on.
    pub fn set_loss(&mut self, loss: f64) {
        self.config.network.loss = loss.clamp(0.0, 1.0);
    }

    /// Puts node `i` in partition group `group`; messages between groups
    /// are dropped.
    pub fn set_group(&mut self, i: usize, group: u8) {
        self.nodes[i].group = group;
    }

    /// Heals every partition.
    pub fn heal(&mut self) {
        for n in &mut self.nodes {
            n.group = 0;
        }
    }

    fn push(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.seq,
            event,
        });
    }

    fn add_core(&mut self, core: Membership) -> usize {
        let i = self.nodes.len();
        let id = core.node_id().clone();
        self.ids.push(id.clone());
        self.index.insert(id, i as u32);
        self.nodes.push(SimNode {
            core,
            up: true,
            group: 0,
            timer_at: None,
            bytes_sent: 0,
            received: 0,
        });
        self.up += 1;
        self.metrics.grow(self.nodes.len());
        self.push(self.now, Event::Timer { node: i as u32 });
        self.nodes[i].timer_at = Some(self.now);
        i
    }

    /// Node `i`'s record and, in a signed simulation, its identity.
    fn record_of(&self, i: usize) -> (Option<Identity>, PeerRecord) {
        if self.config.signed {
            let (id, rec) = sim_signed_record(i);
            (Some(id), rec)
        } else {
            (None, sim_record(i))
        }
    }

    /// A fresh core for node `i`.
    fn new_core(&self, i: usize, rng_seed: u64) -> Membership {
        let (identity, rec) = self.record_of(i);
        let mut core = Membership::new(rec, self.config.membership.clone(), rng_seed)
            .unwrap_or_else(|e| panic!("simulator config is invalid: {e}"));
        if let Some(id) = identity {
            core.set_identity(id).expect("the identity is the node's");
        }
        core
    }

    /// Adds `n` nodes that already know each other (all alive, incarnation
    /// 0), as a converged cluster would. Returns the index of the first.
    pub fn add_converged_cluster(&mut self, n: usize) -> usize {
        let first = self.nodes.len();
        let keyed: Vec<_> = (first..first + n).map(|i| self.record_of(i)).collect();
        let records: Vec<_> = keyed
            .iter()
            .map(|(_, r)| std::sync::Arc::new(r.clone()))
            .collect();
        let mut table = MemberTable::new(self.rng.random());
        let mut table_rng = ChaCha8Rng::seed_from_u64(self.rng.random());
        for r in &records {
            table.insert(
                crate::membership::member_for_sim(r.clone(), self.now),
                &mut table_rng,
            );
        }
        for (k, (r, (identity, _))) in records.iter().zip(keyed).enumerate() {
            let mut t = table.clone();
            t.remove(&r.node_id);
            let seed = self.rng.random();
            let mut core =
                Membership::from_table((**r).clone(), self.config.membership.clone(), seed, t)
                    .unwrap_or_else(|e| panic!("simulator config is invalid: {e}"));
            if let Some(id) = identity {
                core.set_identity(id).expect("the identity is the node's");
            }
            let i = self.add_core(core);
            debug_assert_eq!(i, first + k);
        }
        for t in first..first + n {
            self.metrics.present_by[t] += (n - 1) as u32;
            self.metrics.alive_by[t] += (n - 1) as u32;
        }
        self.metrics.alive_views += (n as u64) * (n as u64 - 1);
        self.metrics.present_views += (n as u64) * (n as u64 - 1);
        first
    }

    /// Adds a fresh node that knows nobody (call [`join`](Self::join)).
    pub fn add_node(&mut self) -> usize {
        let i = self.nodes.len();
        let seed = self.rng.random();
        let core = self.new_core(i, seed);
        self.add_core(core)
    }

    /// Node `i` joins through node `seed`.
    pub fn join(&mut self, i: usize, seed: usize) {
        self.join_via(i, &[seed]);
    }

    /// Node `i` joins with `seeds` as its bootstrap list (each is sent a
    /// `hello`).
    pub fn join_via(&mut self, i: usize, seeds: &[usize]) {
        let seeds = seeds
            .iter()
            .map(|&s| Target::Node(self.ids[s].clone()))
            .collect();
        let now = self.now;
        let _ = self.nodes[i]
            .core
            .handle_command(Command::Join { seeds }, now);
        self.after_input(i);
    }

    /// Node `i` leaves gracefully (it keeps running so its news spreads;
    /// crash it later to stop it).
    pub fn leave(&mut self, i: usize) {
        let now = self.now;
        let _ = self.nodes[i].core.handle_command(Command::Leave, now);
        self.after_input(i);
    }

    /// Node `i` publishes new capabilities (a new version of its record).
    pub fn update_capabilities(&mut self, i: usize, capabilities: Capabilities) {
        let now = self.now;
        let _ = self.nodes[i]
            .core
            .handle_command(Command::UpdateCapabilities(capabilities), now);
        self.after_input(i);
    }

    /// Node `i` stops: no more messages in or out, no timers.
    pub fn crash(&mut self, i: usize) {
        if !self.nodes[i].up {
            return;
        }
        self.nodes[i].up = false;
        self.up -= 1;
        let views: Vec<(usize, Liveness)> = self.nodes[i]
            .core
            .members()
            .filter_map(|m| {
                self.index
                    .get(&m.record.node_id)
                    .map(|&t| (t as usize, m.liveness))
            })
            .collect();
        for (t, l) in views {
            self.metrics.view(t, l, -1);
        }
    }

    /// Node `i` restarts with the same id and an empty state, and joins
    /// through `seed`.
    pub fn restart(&mut self, i: usize, seed: usize) {
        if self.nodes[i].up {
            self.crash(i);
        }
        let rng_seed = self.rng.random();
        self.nodes[i].core = self.new_core(i, rng_seed);
        self.nodes[i].up = true;
        self.up += 1;
        self.nodes[i].timer_at = None;
        self.join(i, seed);
    }

    /// Runs until simulated time `until` (inclusive).
    pub fn run_until(&mut self, until: u64) {
        self.run_until_or(until, |_| false);
    }

    /// Runs for `ms` simulated milliseconds.
    pub fn run_for(&mut self, ms: u64) {
        self.run_until(self.now + ms);
    }

    /// Runs until `until` or until `stop` holds (checked after each event);
    /// returns the time `stop` first held.
    pub fn run_until_or(&mut self, until: u64, mut stop: impl FnMut(&Self) -> bool) -> Option<u64> {
        if stop(self) {
            return Some(self.now);
        }
        while let Some(top) = self.queue.peek() {
            if top.at > until {
                break;
            }
            let Some(ev) = self.queue.pop() else { break };
            self.now = ev.at;
            match ev.event {
                Event::Deliver {
                    from,
                    to,
                    msg,
                    datagram,
                } => {
                    let to = to as usize;
                    if !self.nodes[to].up {
                        continue;
                    }
                    self.nodes[to].received += 1;
                    let from_id = self.ids[from as usize].clone();
                    let now = self.now;
                    self.nodes[to].core.handle_message(&from_id, msg, now);
                    self.answering = Some((from as usize, datagram));
                    self.after_input(to);
                    self.answering = None;
                }
                Event::Timer { node } => {
                    let i = node as usize;
                    if !self.nodes[i].up || self.nodes[i].timer_at != Some(ev.at) {
                        continue;
                    }
                    self.nodes[i].timer_at = None;
                    let now = self.now;
                    self.nodes[i].core.handle_tick(now);
                    self.after_input(i);
                }
            }
            if stop(self) {
                return Some(self.now);
            }
        }
        self.now = self.now.max(until);
        None
    }

    fn after_input(&mut self, i: usize) {
        while let Some(o) = self.nodes[i].core.poll_output() {
            match o {
                Output::Send { to, message } => self.transmit(i, to, message),
                Output::Event(e) => self.observe(i, e),
                Output::Registry(_) => {}
            }
        }
        if let Some(d) = self.nodes[i].core.next_deadline() {
            let d = d.max(self.now + 1);
            let due = match self.nodes[i].timer_at {
                Some(t) => d < t,
                None => true,
            };
            if due {
                self.nodes[i].timer_at = Some(d);
                self.push(d, Event::Timer { node: i as u32 });
            }
        }
    }

    fn transmit(&mut self, from: usize, to: Target, msg: Message) {
        let Target::Node(id) = to else { return };
        let json = wire::encoded_len(&msg);
        // A datagram: its framing too (header, sender id); a stream
        // message: its JSON (WebSocket framing is 2-8 bytes).
        let framed = wire::DATAGRAM_HEADER_LEN + 1 + self.ids[from].as_str().len() + json;
        let answering = match (self.answering, self.index.get(&id)) {
            (Some((sender, came_as_datagram)), Some(&t)) if sender == t as usize => {
                Some(came_as_datagram)
            }
            _ => None,
        };
        let datagram = self
            .config
            .network
            .datagram_bytes
            .is_none_or(|max| wire::datagram_allowed(&msg, answering) && framed <= max);
        let bytes = if datagram && self.config.network.datagram_bytes.is_some() {
            framed as u64
        } else {
            json as u64
        };
        self.nodes[from].bytes_sent += bytes;
        self.metrics.messages_sent += 1;
        let kind = match &msg {
            Message::PushPull(pp) if pp.reply => "push_pull(reply)",
            m => m.kind(),
        };
        let e = self.metrics.by_type.entry(kind).or_default();
        e.0 += 1;
        e.1 += bytes;
        self.metrics.suspicion_bytes += super::metrics::suspicion_bytes(&msg, bytes);
        let Some(&to) = self.index.get(&id) else {
            self.metrics.messages_dropped += 1;
            return;
        };
        let t = to as usize;
        let loss = self.config.network.loss;
        let mut delay = 0;
        let lost = if datagram {
            loss > 0.0 && self.rng.random_bool(loss)
        } else {
            // A stream retransmits: each lost packet (at most 8 in a row
            // are modelled) costs a retransmission timeout.
            while delay < 8 * super::network::STREAM_RETRANSMIT_MS
                && loss > 0.0
                && self.rng.random_bool(loss)
            {
                delay += super::network::STREAM_RETRANSMIT_MS;
            }
            false
        };
        if lost || !self.nodes[t].up || self.nodes[t].group != self.nodes[from].group {
            self.metrics.messages_dropped += 1;
            return;
        }
        if !datagram {
            // A stream message: both ends now hold a connection (counted
            // once for the run; a real one idles out after a minute).
            let pair = (from.min(t) as u32, from.max(t) as u32);
            self.metrics.stream_pairs.insert(pair);
        }
        let at = self.now + self.config.network.latency(from as u32, to) + delay;
        self.push(
            at,
            Event::Deliver {
                from: from as u32,
                to,
                msg,
                datagram,
            },
        );
    }

    fn target(&self, id: &NodeId) -> Option<usize> {
        self.index.get(id).map(|&t| t as usize)
    }

    fn observe(&mut self, _observer: usize, e: MembershipEvent) {
        match e {
            MembershipEvent::Joined { node_id } => {
                if let Some(t) = self.target(&node_id) {
                    self.metrics.view(t, Liveness::Alive, 1);
                }
            }
            MembershipEvent::LivenessChanged {
                node_id, from, to, ..
            } => {
                if let Some(t) = self.target(&node_id) {
                    self.metrics.view(t, from, -1);
                    self.metrics.view(t, to, 1);
                    if to == Liveness::Dead && self.nodes[t].up {
                        self.metrics.false_dead_views += 1;
                    }
                }
            }
            MembershipEvent::Removed { node_id, .. } => {
                if let Some(t) = self.target(&node_id) {
                    // Only dead or left members are reclaimed.
                    self.metrics.view(t, Liveness::Dead, -1);
                }
            }
            MembershipEvent::Suspected { node_id }
                if self.target(&node_id).is_some_and(|t| self.nodes[t].up) =>
            {
                self.metrics.false_suspicions += 1;
            }
            MembershipEvent::DeclaredDead { node_id }
                if self.target(&node_id).is_some_and(|t| self.nodes[t].up) =>
            {
                self.metrics.false_death_declarations += 1;
            }
            MembershipEvent::Refuted { .. } => self.metrics.refutations += 1,
            _ => {}
        }
    }

    /// Observers (up nodes other than `t`) that hold `t` as alive or suspect.
    pub fn known_by(&self, t: usize) -> usize {
        self.metrics.present_by[t] as usize
    }

    /// Observers (up nodes) that hold `t` as dead.
    pub fn dead_by(&self, t: usize) -> usize {
        self.metrics.dead_by[t] as usize
    }

    /// (observer, target) views held as alive or suspect, up observers
    /// only (views of down targets included).
    pub fn present_views(&self) -> u64 {
        self.metrics.present_views
    }

    /// Whether every up node holds every other up node as alive.
    pub fn fully_alive(&self) -> bool {
        let up = self.up as u64;
        if self.metrics.alive_views < up * up.saturating_sub(1) {
            return false; // cheap test first: called after every event
        }
        let mut want = up * up.saturating_sub(1);
        // Views of down nodes held by up nodes also count in alive_views.
        for (t, n) in self.nodes.iter().enumerate() {
            if !n.up {
                want += u64::from(self.metrics.alive_by[t]);
            }
        }
        self.metrics.alive_views == want
    }
}
