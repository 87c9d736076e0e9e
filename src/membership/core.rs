use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::dissemination::{BroadcastQueue, Piggyback};
use super::member::{Member, MemberTable};
use super::suspicion::{Suspicion, Suspicions};
use super::{
    Command, MembershipConfig, MembershipError, MembershipEvent, Output, RegistryChange,
    RemovalReason, Target,
};
use crate::model::{Liveness, NodeId, PeerRecord};
use crate::wire::{
    self, Ack, AnnouncedPeer, GossipAnnouncement, Hello, MemberState, Message, Nack, PeerList,
    PeerListRequest, Ping, PingReq, PushPull, StateClaim, WireError, MAX_PEERS_PER_MESSAGE,
    MAX_REQUESTED_IDS, MAX_STATES_PER_MESSAGE,
};

/// Where a liveness claim came from. Digest entries (anti-entropy,
/// bootstrap) only raise suspicion, never death: the receiver must see the
/// accused fail to refute before it believes it dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Gossip,
    Digest,
}

#[derive(Debug, Clone)]
struct Probe {
    target: NodeId,
    seq: u64,
    indirect_at_ms: u64,
    end_ms: u64,
    acked: bool,
    indirect_sent: bool,
    nacks_expected: u32,
    nacks: u32,
}

/// A last probe of a suspect before declaring it dead: direct, then
/// indirect, carrying the suspicion so a live target refutes it.
#[derive(Debug, Clone)]
struct Verify {
    target: NodeId,
    seq: u64,
    incarnation: u64,
    indirect_at_ms: u64,
    end_ms: u64,
    acked: bool,
    indirect_sent: bool,
}

#[derive(Debug, Clone)]
struct Relay {
    seq: u64,
    requester: NodeId,
    their_seq: u64,
    target: NodeId,
    deadline_ms: u64,
}

#[derive(Debug, Clone)]
struct Reconnect {
    seq: u64,
    target: NodeId,
    deadline_ms: u64,
}

#[derive(Debug, Clone)]
struct JoinState {
    seeds: Vec<Target>,
    attempts: u32,
    next_ms: u64,
}

/// A read-only view of one member.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberView {
    /// Its newest record known here.
    pub record: Arc<PeerRecord>,
    /// Incarnation of its liveness.
    pub incarnation: u64,
    /// Alive, suspect, dead or left.
    pub liveness: Liveness,
    /// Health score (0..=1) from probe and connection outcomes.
    pub health: f32,
}

impl MemberView {
    fn of(m: &Member) -> Self {
        MemberView {
            record: m.record.clone(),
            incarnation: m.incarnation,
            liveness: m.liveness,
            health: m.health,
        }
    }
}

/// The membership state machine of one node. See the [module
/// docs](crate::membership).
#[derive(Debug)]
pub struct Membership {
    config: MembershipConfig,
    me: Arc<PeerRecord>,
    incarnation: u64,
    leaving: bool,
    members: MemberTable,
    broadcasts: BroadcastQueue,
    suspicions: Suspicions,
    probe: Option<Probe>,
    relays: Vec<Relay>,
    reconnects: Vec<Reconnect>,
    verifications: Vec<Verify>,
    local_health: u32,
    rng: ChaCha8Rng,
    outputs: VecDeque<Output>,
    seq: u64,
    started: bool,
    next_probe_ms: u64,
    next_gossip_ms: u64,
    next_push_pull_ms: u64,
    next_reconnect_ms: u64,
    next_reclaim_ms: u64,
    join: Option<JoinState>,
    joined: bool,
}

fn overrides(new: Liveness, new_inc: u64, old: Liveness, old_inc: u64) -> bool {
    use Liveness::*;
    match (new, old) {
        (Alive, _) => new_inc > old_inc,
        (Suspect, Alive) => new_inc >= old_inc,
        (Suspect, _) => new_inc > old_inc,
        (Dead, Alive | Suspect) => new_inc >= old_inc,
        (Dead, _) => new_inc > old_inc,
        (Left, Left) => new_inc > old_inc,
        (Left, _) => new_inc >= old_inc,
    }
}

impl Membership {
    /// A node with this identity (its own record), configuration and RNG
    /// seed. Nothing happens until the first tick or command.
    pub fn new(
        identity: PeerRecord,
        config: MembershipConfig,
        rng_seed: u64,
    ) -> Result<Self, MembershipError> {
        config.validate()?;
        identity
            .validate()
            .map_err(|e| MembershipError::InvalidRecord(e.to_string()))?;
        let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
        let members = MemberTable::new(rng.random());
        let broadcasts = BroadcastQueue::new(rng.random());
        Ok(Membership {
            config,
            me: Arc::new(identity),
            incarnation: 0,
            leaving: false,
            members,
            broadcasts,
            suspicions: Suspicions::default(),
            probe: None,
            relays: Vec::new(),
            reconnects: Vec::new(),
            verifications: Vec::new(),
            local_health: 0,
            rng,
            outputs: VecDeque::new(),
            seq: 0,
            started: false,
            next_probe_ms: 0,
            next_gossip_ms: 0,
            next_push_pull_ms: 0,
            next_reconnect_ms: 0,
            next_reclaim_ms: 0,
            join: None,
            joined: false,
        })
    }

    /// A node that starts from an already converged member table (the
    /// simulator's large clusters). The table must not hold `identity`.
    pub(crate) fn from_table(
        identity: PeerRecord,
        config: MembershipConfig,
        rng_seed: u64,
        table: MemberTable,
    ) -> Result<Self, MembershipError> {
        let mut m = Membership::new(identity, config, rng_seed)?;
        m.members = table;
        m.members.randomize_probe_start(&mut m.rng);
        m.joined = true;
        Ok(m)
    }

    // ----- accessors -------------------------------------------------------

    /// This node's id.
    pub fn node_id(&self) -> &NodeId {
        &self.me.node_id
    }

    /// This node's current record.
    pub fn record(&self) -> &Arc<PeerRecord> {
        &self.me
    }

    /// This node's incarnation.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Lifeguard's local-health score (0 = healthy).
    pub fn local_health(&self) -> u32 {
        self.local_health
    }

    /// Whether this node has left.
    pub fn has_left(&self) -> bool {
        self.leaving
    }

    /// Members known (any liveness), not counting this node.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether no other member is known.
    pub fn is_empty(&self) -> bool {
        self.members.len() == 0
    }

    /// Members alive or suspect, not counting this node.
    pub fn present(&self) -> usize {
        self.members.present()
    }

    /// One member.
    pub fn member(&self, id: &NodeId) -> Option<MemberView> {
        self.members.get(id).map(MemberView::of)
    }

    /// Every member known.
    pub fn members(&self) -> impl Iterator<Item = MemberView> + '_ {
        self.members.iter().map(MemberView::of)
    }

    /// Updates waiting to be disseminated.
    pub fn pending_updates(&self) -> usize {
        self.broadcasts.len()
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_tick`](Self::handle_tick) should next be called (ms),
    /// or `None` before the first tick.
    pub fn next_deadline(&self) -> Option<u64> {
        if !self.started {
            return None;
        }
        let mut d = self.next_gossip_ms;
        if !self.leaving {
            d = d.min(self.next_probe_ms).min(self.next_push_pull_ms);
        }
        if let Some(p) = &self.probe {
            if !p.acked && !p.indirect_sent {
                d = d.min(p.indirect_at_ms);
            }
        }
        if !self.members.down().is_empty() {
            d = d.min(self.next_reconnect_ms).min(self.next_reclaim_ms);
        }
        if let Some(s) = self.suspicions.next_deadline() {
            d = d.min(s);
        }
        for v in &self.verifications {
            d = d.min(if v.acked || v.indirect_sent {
                v.end_ms
            } else {
                v.indirect_at_ms
            });
        }
        for r in &self.relays {
            d = d.min(r.deadline_ms);
        }
        for r in &self.reconnects {
            d = d.min(r.deadline_ms);
        }
        if let Some(j) = &self.join {
            d = d.min(j.next_ms);
        }
        Some(d)
    }

    // ----- inputs ----------------------------------------------------------

    /// Decodes and handles raw bytes from `from`. A message that does not
    /// decode is counted against the sender's health and changes nothing
    /// else.
    pub fn handle_bytes(&mut self, from: &NodeId, bytes: &[u8], now: u64) -> Result<(), WireError> {
        match wire::decode(bytes) {
            Ok(msg) => {
                self.handle_message(from, msg, now);
                Ok(())
            }
            Err(e) => {
                self.handle_malformed(from, now);
                Err(e)
            }
        }
    }

    /// Counts a malformed message from `from` against its health.
    pub fn handle_malformed(&mut self, from: &NodeId, now: u64) {
        self.ensure_started(now);
        self.outcome(from, false);
    }

    /// A connection or send to `to` failed: counted against its health.
    pub fn handle_transport_failure(&mut self, to: &NodeId, now: u64) {
        self.ensure_started(now);
        self.outcome(to, false);
    }

    /// A connection to `to` was established: counted for its health.
    pub fn handle_transport_success(&mut self, to: &NodeId, now: u64) {
        self.ensure_started(now);
        self.outcome(to, true);
    }

    /// Handles a local command.
    pub fn handle_command(&mut self, command: Command, now: u64) -> Result<(), MembershipError> {
        self.ensure_started(now);
        if self.leaving {
            return Err(MembershipError::Left);
        }
        match command {
            Command::Join { seeds } => {
                self.join = Some(JoinState {
                    seeds,
                    attempts: 0,
                    next_ms: now,
                });
                self.join_attempt(now);
            }
            Command::Leave => {
                self.leaving = true;
                self.probe = None;
                self.suspicions.clear();
                self.join = None;
                let st = self.my_state();
                self.broadcasts.push(st, None);
                // Push the news at once, to twice the fanout.
                for _ in 0..2 {
                    self.gossip_round(now);
                }
            }
            Command::UpdateCapabilities(caps) => {
                let mut rec = (*self.me).clone();
                rec.capabilities = caps;
                self.set_own_record(rec)?;
            }
            Command::UpdateRecord(rec) => {
                if rec.node_id != self.me.node_id {
                    return Err(MembershipError::IdentityChange);
                }
                self.set_own_record(rec)?;
            }
        }
        Ok(())
    }

    /// Handles one decoded message from `from`.
    pub fn handle_message(&mut self, from: &NodeId, msg: Message, now: u64) {
        self.ensure_started(now);
        if *from == self.me.node_id {
            return;
        }
        let unknown = self.members.get(from).is_none();
        let asks_records = matches!(
            msg,
            Message::Hello(_) | Message::PeerList(_) | Message::PushPull(_)
        );
        if unknown && !asks_records && !self.leaving {
            // Someone we never heard of talks to us: it exists; get its record.
            let req = PeerListRequest {
                node_ids: vec![from.clone()],
            };
            self.send(from, Message::PeerListRequest(req));
        }
        match msg {
            Message::Hello(h) => self.on_hello(from, h, now),
            Message::PeerListRequest(r) => self.on_peer_list_request(from, r),
            Message::PeerList(pl) => {
                if self.join.take().is_some() || !self.joined {
                    self.joined = true;
                    // Announce myself too: the seed is not the only source.
                    let st = self.my_state();
                    self.broadcasts.push(st, Some(self.me.clone()));
                    // Anti-entropy soon after joining.
                    self.next_push_pull_ms = now + self.config.gossip_interval_ms;
                }
                self.apply_updates(from, pl.peers, pl.states, Source::Digest, now);
            }
            Message::GossipAnnouncement(g) => self.on_announcement(from, g, now),
            Message::Ping(p) => {
                self.apply_updates(from, p.peers, p.states, Source::Gossip, now);
                if p.target == self.me.node_id {
                    let pig = self.piggyback(self.config.max_piggyback_bytes);
                    let ack = Ack {
                        seq: p.seq,
                        node_id: self.me.node_id.clone(),
                        peers: pig.peers,
                        states: pig.states,
                    };
                    self.send(from, Message::Ack(ack));
                }
            }
            Message::Ack(a) => {
                self.apply_updates(from, a.peers, a.states, Source::Gossip, now);
                self.on_ack(a.seq, &a.node_id, now);
            }
            Message::Nack(n) => {
                if let Some(p) = &mut self.probe {
                    if p.seq == n.seq && p.target == n.target {
                        p.nacks += 1;
                    }
                }
            }
            Message::PingReq(r) => self.on_ping_req(from, r, now),
            Message::PushPull(pp) => self.on_push_pull(from, pp, now),
            Message::Suspect(c) => self.on_claim(from, c, Liveness::Suspect, now),
            Message::Alive(c) => self.on_claim(from, c, Liveness::Alive, now),
            Message::Dead(c) => self.on_claim(from, c, Liveness::Dead, now),
            Message::Leave(c) => self.on_claim(from, c, Liveness::Left, now),
        }
    }

    /// Runs everything due at `now`: probes, gossip, anti-entropy,
    /// suspicion timeouts, reconnects, reclaiming, join retries.
    pub fn handle_tick(&mut self, now: u64) {
        self.ensure_started(now);
        if let Some(j) = &self.join {
            if now >= j.next_ms {
                self.join_attempt(now);
            }
        }
        if !self.leaving {
            let indirect_due = self
                .probe
                .as_ref()
                .is_some_and(|p| !p.acked && !p.indirect_sent && now >= p.indirect_at_ms);
            if indirect_due {
                self.send_indirect_probes();
            }
            if now >= self.next_probe_ms {
                self.finish_probe(now);
                self.start_probe(now);
            }
        }
        self.expire_relays(now);
        self.expire_reconnects(now);
        self.expire_suspicions(now);
        self.run_verifications(now);
        if now >= self.next_gossip_ms {
            self.next_gossip_ms = now + self.config.gossip_interval_ms;
            self.gossip_round(now);
            self.notify_suspects();
        }
        if !self.leaving && now >= self.next_push_pull_ms {
            self.next_push_pull_ms = now + self.push_pull_interval();
            if let Some(i) = self.members.random_present(&mut self.rng, &[]) {
                let id = self.members.at(i).node_id().clone();
                self.start_push_pull(&id);
            }
        }
        if now >= self.next_reconnect_ms {
            self.next_reconnect_ms = now + self.config.reconnect_interval_ms;
            if !self.leaving {
                self.reconnect_one(now);
            }
        }
        if now >= self.next_reclaim_ms {
            self.next_reclaim_ms = now + 1_000;
            self.reclaim(now);
        }
    }

    // ----- internals: bookkeeping -----------------------------------------

    fn ensure_started(&mut self, now: u64) {
        if self.started {
            return;
        }
        self.started = true;
        let r = &mut self.rng;
        self.next_probe_ms = now + r.random_range(0..self.config.probe_interval_ms);
        self.next_gossip_ms = now + r.random_range(0..self.config.gossip_interval_ms);
        let pp = self.config.push_pull_interval(self.members.present() + 1).max(1);
        self.next_push_pull_ms = now + r.random_range(0..pp);
        self.next_reconnect_ms = now + r.random_range(0..self.config.reconnect_interval_ms.max(1));
        self.next_reclaim_ms = now + 1_000;
    }

    fn cluster_size(&self) -> usize {
        self.members.present() + 1
    }

    fn push_pull_interval(&self) -> u64 {
        self.config.push_pull_interval(self.cluster_size())
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn emit(&mut self, o: Output) {
        self.outputs.push_back(o);
    }

    fn event(&mut self, e: MembershipEvent) {
        self.outputs.push_back(Output::Event(e));
    }

    fn send(&mut self, to: &NodeId, message: Message) {
        self.outputs.push_back(Output::Send {
            to: Target::Node(to.clone()),
            message,
        });
    }

    fn outcome(&mut self, id: &NodeId, success: bool) {
        if let Some(m) = self.members.get_mut(id) {
            m.record_outcome(success);
            self.emit(Output::Registry(RegistryChange::Outcome {
                node_id: id.clone(),
                success,
            }));
        }
    }

    fn my_state(&self) -> MemberState {
        let l = if self.leaving {
            Liveness::Left
        } else {
            Liveness::Alive
        };
        MemberState::new(self.me.node_id.clone(), self.incarnation, l, self.me.version)
    }

    fn state_of(m: &Member, from: Option<NodeId>) -> MemberState {
        MemberState {
            node_id: m.node_id().clone(),
            incarnation: m.incarnation,
            liveness: m.liveness,
            version: m.record.version,
            from: match m.liveness {
                Liveness::Suspect | Liveness::Dead => from,
                _ => None,
            },
        }
    }

    fn claim(&self, node_id: &NodeId, incarnation: u64, version: u64) -> StateClaim {
        StateClaim {
            node_id: node_id.clone(),
            incarnation,
            version,
            from: Some(self.me.node_id.clone()),
        }
    }

    fn piggyback(&mut self, budget: usize) -> Piggyback {
        let limit = self.config.retransmit_limit(self.cluster_size());
        self.broadcasts.take(budget, limit)
    }

    fn awareness(&self, weight: f64) -> f64 {
        1.0 + f64::from(self.local_health) * weight
    }

    /// `(probe interval, direct-ack timeout)` under the local-health
    /// multiplier: the timeout takes Lifeguard's full `1 + score` (capped
    /// at 80 % of the interval), the interval `1 + score * weight`.
    fn probe_timing(&self) -> (u64, u64) {
        let f = self.awareness(self.config.awareness_interval_weight);
        let interval = (self.config.probe_interval_ms as f64 * f) as u64;
        let timeout = (self.config.probe_timeout_ms * (1 + u64::from(self.local_health)))
            .min(interval * 4 / 5)
            .max(self.config.probe_timeout_ms.min(interval));
        (interval, timeout)
    }

    fn backoff(&mut self, attempts: u32) -> u64 {
        let exp = attempts.saturating_sub(1).min(20);
        let d = self
            .config
            .backoff_base_ms
            .saturating_mul(1 << exp)
            .min(self.config.backoff_cap_ms);
        d / 2 + self.rng.random_range(0..=d / 2)
    }

    fn set_own_record(&mut self, mut rec: PeerRecord) -> Result<(), MembershipError> {
        rec.version = rec.version.max(self.me.version + 1);
        rec.validate()
            .map_err(|e| MembershipError::InvalidRecord(e.to_string()))?;
        self.me = Arc::new(rec);
        let st = self.my_state();
        self.broadcasts.push(st, Some(self.me.clone()));
        Ok(())
    }

    // ----- internals: merging ---------------------------------------------

    fn apply_updates(
        &mut self,
        from: &NodeId,
        peers: Vec<Arc<PeerRecord>>,
        states: Vec<MemberState>,
        source: Source,
        now: u64,
    ) {
        // Records from a bootstrap or anti-entropy list are not news to the
        // rest of the cluster: they are merged, not re-broadcast.
        let news = source == Source::Gossip;
        for r in peers {
            self.apply_record(r, news, now);
        }
        let mut want = Vec::new();
        for s in &states {
            if self.apply_state(s, from, source, now) && want.len() < MAX_REQUESTED_IDS {
                want.push(s.node_id.clone());
            }
        }
        if !want.is_empty() {
            self.send(from, Message::PeerListRequest(PeerListRequest { node_ids: want }));
        }
    }

    /// Merges a record: a newer version replaces the old one; an unknown
    /// node is added as alive at incarnation 0 (its state follows).
    fn apply_record(&mut self, rec: Arc<PeerRecord>, news: bool, now: u64) {
        if rec.node_id == self.me.node_id {
            if rec.version >= self.me.version && *rec != *self.me {
                // Someone holds a record of mine from an earlier life.
                let mut mine = (*self.me).clone();
                mine.version = rec.version;
                let _ = self.set_own_record(mine);
            }
            return;
        }
        if rec.validate().is_err() {
            return;
        }
        match self.members.get_mut(&rec.node_id) {
            Some(m) => {
                if rec.version <= m.record.version {
                    return;
                }
                m.record = rec.clone();
                let st = Self::state_of(m, None);
                if news {
                    self.broadcasts.push(st, Some(rec.clone()));
                }
                self.emit(Output::Registry(RegistryChange::Upsert(rec.clone())));
                self.event(MembershipEvent::Updated {
                    node_id: rec.node_id.clone(),
                    version: rec.version,
                });
            }
            None => {
                let m = Member::new(rec.clone(), 0, Liveness::Alive, now);
                let st = Self::state_of(&m, None);
                self.members.insert(m, &mut self.rng);
                if news {
                    self.broadcasts.push(st, Some(rec.clone()));
                }
                self.emit(Output::Registry(RegistryChange::Upsert(rec.clone())));
                self.emit(Output::Registry(RegistryChange::Liveness {
                    node_id: rec.node_id.clone(),
                    liveness: Liveness::Alive,
                    incarnation: 0,
                }));
                self.event(MembershipEvent::Joined {
                    node_id: rec.node_id.clone(),
                });
            }
        }
    }

    /// Merges a liveness claim. Returns whether the record it refers to is
    /// missing or older here (the caller asks the sender for it).
    fn apply_state(&mut self, s: &MemberState, sender: &NodeId, source: Source, now: u64) -> bool {
        if s.node_id == self.me.node_id {
            self.refute_if_needed(s, sender);
            return false;
        }
        let Some(m) = self.members.get(&s.node_id) else {
            return s.liveness.is_present();
        };
        let want = s.version > m.record.version;
        let (old, old_inc) = (m.liveness, m.incarnation);
        let mut new = s.liveness;
        if source == Source::Digest && new == Liveness::Dead {
            new = Liveness::Suspect;
        }
        let accuser = s.from.clone().unwrap_or_else(|| sender.clone());
        if overrides(new, s.incarnation, old, old_inc) {
            self.set_member_state(&s.node_id, new, s.incarnation, accuser, false, now);
        } else if new == Liveness::Suspect && old == Liveness::Suspect && s.incarnation == old_inc
        {
            let confirmed = self
                .suspicions
                .update(&s.node_id, |susp| susp.confirm(&accuser))
                .unwrap_or(false);
            if confirmed {
                if let Some(m) = self.members.get(&s.node_id) {
                    let st = Self::state_of(m, Some(accuser));
                    self.broadcasts.push(st, None);
                }
            }
        }
        want
    }

    fn set_member_state(
        &mut self,
        id: &NodeId,
        liveness: Liveness,
        incarnation: u64,
        accuser: NodeId,
        local: bool,
        now: u64,
    ) {
        let Some(old) = self.members.get(id).map(|m| m.liveness) else {
            return;
        };
        self.members.set_liveness(id, liveness, incarnation, now);
        if liveness == Liveness::Suspect {
            let n = self.cluster_size();
            let (min, max) = self.config.suspicion_bounds(n);
            let f = self.awareness(self.config.awareness_suspicion_weight);
            let bounds = ((min as f64 * f) as u64, (max as f64 * f) as u64);
            let k = (self.config.suspicion_confirmations as usize).min(n.saturating_sub(2)) as u32;
            let s = Suspicion::new(incarnation, accuser.clone(), local, now, bounds, k);
            self.suspicions.insert(id.clone(), s);
        } else {
            self.suspicions.remove(id);
        }
        if let Some(m) = self.members.get(id) {
            let st = Self::state_of(m, Some(accuser));
            self.broadcasts.push(st, None);
        }
        self.emit(Output::Registry(RegistryChange::Liveness {
            node_id: id.clone(),
            liveness,
            incarnation,
        }));
        if old != liveness {
            self.event(MembershipEvent::LivenessChanged {
                node_id: id.clone(),
                from: old,
                to: liveness,
                incarnation,
            });
        }
    }

    fn refute_if_needed(&mut self, s: &MemberState, sender: &NodeId) {
        let accused = match s.liveness {
            Liveness::Suspect | Liveness::Dead => true,
            Liveness::Left => !self.leaving,
            Liveness::Alive => false,
        };
        if accused && !self.leaving {
            let fresh = s.incarnation >= self.incarnation;
            if fresh {
                self.incarnation = s.incarnation + 1;
                let st = self.my_state();
                self.broadcasts.push(st, None);
                self.event(MembershipEvent::Refuted {
                    incarnation: self.incarnation,
                });
            }
            // Answer the teller and the accuser directly, also when the
            // accusation is already refuted (they have not heard yet).
            let claim = StateClaim {
                node_id: self.me.node_id.clone(),
                incarnation: self.incarnation,
                version: self.me.version,
                from: None,
            };
            self.send(sender, Message::Alive(claim.clone()));
            if let Some(accuser) = &s.from {
                if accuser != sender && *accuser != self.me.node_id {
                    self.send(accuser, Message::Alive(claim));
                }
            }
        }
        if s.version > self.me.version {
            let mut mine = (*self.me).clone();
            mine.version = s.version;
            let _ = self.set_own_record(mine);
        }
    }

    fn on_claim(&mut self, from: &NodeId, c: StateClaim, liveness: Liveness, now: u64) {
        let s = MemberState {
            node_id: c.node_id,
            incarnation: c.incarnation,
            liveness,
            version: c.version,
            from: c.from,
        };
        if self.apply_state(&s, from, Source::Gossip, now) {
            let req = PeerListRequest {
                node_ids: vec![s.node_id],
            };
            self.send(from, Message::PeerListRequest(req));
        }
    }

    // ----- internals: join, bootstrap, announcements ----------------------

    fn join_attempt(&mut self, now: u64) {
        let Some(mut j) = self.join.take() else {
            return;
        };
        j.attempts += 1;
        let hello = Hello {
            record: self.me.clone(),
            incarnation: self.incarnation,
        };
        for seed in &j.seeds {
            self.emit(Output::Send {
                to: seed.clone(),
                message: Message::Hello(hello.clone()),
            });
        }
        j.next_ms = now + self.backoff(j.attempts);
        self.join = Some(j);
    }

    fn on_hello(&mut self, from: &NodeId, h: Hello, now: u64) {
        if h.record.node_id != *from {
            self.outcome(from, false);
            return;
        }
        let version = h.record.version;
        self.apply_record(h.record, true, now);
        let s = MemberState::new(from.clone(), h.incarnation, Liveness::Alive, version);
        self.apply_state(&s, from, Source::Gossip, now);
        // Answer with a random sample and the joiner's own state as known
        // here (so a restarted node refutes its old death at once).
        let mut list = self.sample_peer_list(self.config.peer_list_size);
        if let Some(m) = self.members.get(from) {
            list.states.push(Self::state_of(m, None));
        }
        self.send(from, Message::PeerList(list));
    }

    fn sample_peer_list(&mut self, max: usize) -> PeerList {
        let mut list = PeerList::default();
        list.peers.push(self.me.clone());
        list.states.push(self.my_state());
        let n = self.members.len();
        if n == 0 {
            return list;
        }
        let want = max.saturating_sub(1).min(n);
        let start = self.rng.random_range(0..n);
        for k in 0..n {
            if list.peers.len() > want {
                break;
            }
            let m = self.members.at((start + k) % n);
            if m.liveness.is_present() {
                list.peers.push(m.record.clone());
                list.states.push(Self::state_of(m, None));
            }
        }
        list
    }

    fn on_peer_list_request(&mut self, from: &NodeId, r: PeerListRequest) {
        let list = if r.node_ids.is_empty() {
            self.sample_peer_list(self.config.peer_list_size)
        } else {
            let mut list = PeerList::default();
            for id in r.node_ids.iter().take(MAX_PEERS_PER_MESSAGE) {
                if *id == self.me.node_id {
                    list.peers.push(self.me.clone());
                    list.states.push(self.my_state());
                } else if let Some(m) = self.members.get(id) {
                    list.peers.push(m.record.clone());
                    list.states.push(Self::state_of(m, None));
                }
            }
            list
        };
        self.send(from, Message::PeerList(list));
    }

    fn on_announcement(&mut self, from: &NodeId, g: GossipAnnouncement, now: u64) {
        let mut records = Vec::with_capacity(g.peers.len());
        let mut bad = false;
        for p in &g.peers {
            match p.to_record() {
                Ok(r) => records.push(r),
                Err(_) => bad = true,
            }
        }
        if bad {
            self.outcome(from, false);
        }
        self.apply_updates(from, records, g.states, Source::Gossip, now);
    }

    // ----- internals: failure detection -----------------------------------

    fn start_probe(&mut self, now: u64) {
        let (interval, timeout) = self.probe_timing();
        self.next_probe_ms = now + interval;
        let Some(target) = self.members.next_probe_target(&mut self.rng) else {
            return;
        };
        let seq = self.next_seq();
        let mut pig = self.piggyback(self.config.max_piggyback_bytes);
        if let Some(m) = self.members.get(&target) {
            if m.liveness != Liveness::Alive && !pig.states.iter().any(|s| s.node_id == target) {
                pig.states.push(Self::state_of(m, Some(self.me.node_id.clone())));
            }
        }
        let ping = Ping {
            seq,
            target: target.clone(),
            peers: pig.peers,
            states: pig.states,
        };
        self.send(&target, Message::Ping(ping));
        self.probe = Some(Probe {
            target,
            seq,
            indirect_at_ms: now + timeout,
            end_ms: now + interval,
            acked: false,
            indirect_sent: false,
            nacks_expected: 0,
            nacks: 0,
        });
    }

    fn send_indirect_probes(&mut self) {
        let Some(p) = self.probe.as_mut() else { return };
        p.indirect_sent = true;
        let (seq, target) = (p.seq, p.target.clone());
        let mut helpers: Vec<NodeId> = Vec::new();
        for _ in 0..self.config.indirect_probes {
            let mut exclude: Vec<&NodeId> = helpers.iter().collect();
            exclude.push(&target);
            let Some(i) = self.members.random_present(&mut self.rng, &exclude) else {
                break;
            };
            let id = self.members.at(i).node_id().clone();
            if !helpers.contains(&id) {
                helpers.push(id);
            }
        }
        for h in &helpers {
            let req = PingReq {
                seq,
                target: target.clone(),
            };
            self.send(h, Message::PingReq(req));
        }
        // A second direct try (memberlist's fallback probe, here on the same
        // transport): a single lost datagram must not start a suspicion.
        self.send(&target, Message::Ping(Ping::new(seq, target.clone())));
        if let Some(p) = self.probe.as_mut() {
            p.nacks_expected = helpers.len() as u32;
        }
    }

    fn finish_probe(&mut self, now: u64) {
        let Some(p) = self.probe.take() else { return };
        if p.acked || now < p.end_ms {
            return;
        }
        self.outcome(&p.target, false);
        let delta = if p.nacks_expected > 0 {
            p.nacks_expected.saturating_sub(p.nacks)
        } else {
            1
        };
        self.local_health = (self.local_health + delta).min(self.config.max_local_health);
        let Some(m) = self.members.get(&p.target) else {
            return;
        };
        let (l, inc, ver) = (m.liveness, m.incarnation, m.record.version);
        let me = self.me.node_id.clone();
        match l {
            Liveness::Alive => {
                self.set_member_state(&p.target, Liveness::Suspect, inc, me, true, now);
                self.suspicions.update(&p.target, |s| s.local = true);
                self.event(MembershipEvent::Suspected {
                    node_id: p.target.clone(),
                });
                let c = self.claim(&p.target, inc, ver);
                self.send(&p.target, Message::Suspect(c));
            }
            Liveness::Suspect => {
                let newly = self
                    .suspicions
                    .update(&p.target, |s| {
                        s.local = true;
                        s.confirm(&me)
                    })
                    .unwrap_or(false);
                if newly {
                    if let Some(m) = self.members.get(&p.target) {
                        let st = Self::state_of(m, Some(me));
                        self.broadcasts.push(st, None);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_ack(&mut self, seq: u64, node_id: &NodeId, now: u64) {
        let mut probe_ok = false;
        if let Some(p) = &mut self.probe {
            if p.seq == seq && p.target == *node_id && !p.acked {
                p.acked = true;
                probe_ok = true;
            }
        }
        if probe_ok {
            self.outcome(node_id, true);
            self.local_health = self.local_health.saturating_sub(1);
            return;
        }
        if let Some(v) = self
            .verifications
            .iter_mut()
            .find(|v| v.seq == seq && v.target == *node_id)
        {
            v.acked = true;
            return;
        }
        if let Some(i) = self.relays.iter().position(|r| r.seq == seq) {
            let r = self.relays.swap_remove(i);
            if r.target == *node_id {
                let ack = Ack {
                    seq: r.their_seq,
                    node_id: r.target,
                    peers: Vec::new(),
                    states: Vec::new(),
                };
                self.send(&r.requester, Message::Ack(ack));
            }
            return;
        }
        if let Some(i) = self.reconnects.iter().position(|r| r.seq == seq) {
            let r = self.reconnects.swap_remove(i);
            if let Some(m) = self.members.get_mut(&r.target) {
                m.attempts = 0;
                m.next_attempt_ms = now;
            }
            self.outcome(&r.target, true);
            self.start_push_pull(&r.target);
        }
    }

    fn on_ping_req(&mut self, from: &NodeId, r: PingReq, now: u64) {
        if r.target == self.me.node_id {
            return;
        }
        let seq = self.next_seq();
        let mut ping = Ping::new(seq, r.target.clone());
        if let Some(m) = self.members.get(&r.target) {
            if m.liveness != Liveness::Alive {
                ping.states.push(Self::state_of(m, None));
            }
        }
        self.send(&r.target, Message::Ping(ping));
        self.relays.push(Relay {
            seq,
            requester: from.clone(),
            their_seq: r.seq,
            target: r.target,
            deadline_ms: now + self.config.probe_timeout_ms,
        });
    }

    fn expire_relays(&mut self, now: u64) {
        let mut i = 0;
        while i < self.relays.len() {
            if self.relays[i].deadline_ms <= now {
                let r = self.relays.swap_remove(i);
                let nack = Nack {
                    seq: r.their_seq,
                    target: r.target,
                };
                self.send(&r.requester, Message::Nack(nack));
            } else {
                i += 1;
            }
        }
    }

    /// A suspicion whose timeout expired is not believed yet: the suspect
    /// gets one last full probe (direct and indirect) that carries the
    /// suspicion, so a live one answers and refutes.
    fn expire_suspicions(&mut self, now: u64) {
        for id in self.suspicions.due(now) {
            let Some(inc) = self.suspicions.get(&id).map(|s| s.incarnation) else {
                continue;
            };
            let still = self
                .members
                .get(&id)
                .is_some_and(|m| m.liveness == Liveness::Suspect && m.incarnation == inc);
            if !still {
                self.suspicions.remove(&id);
                continue;
            }
            self.suspicions.update(&id, |s| s.verifying = true);
            let seq = self.next_seq();
            let mut ping = Ping::new(seq, id.clone());
            if let Some(m) = self.members.get(&id) {
                ping.states
                    .push(Self::state_of(m, Some(self.me.node_id.clone())));
            }
            self.send(&id, Message::Ping(ping));
            let (interval, timeout) = self.probe_timing();
            self.verifications.push(Verify {
                target: id,
                seq,
                incarnation: inc,
                indirect_at_ms: now + timeout,
                end_ms: now + interval,
                acked: false,
                indirect_sent: false,
            });
        }
    }

    fn run_verifications(&mut self, now: u64) {
        let mut i = 0;
        while i < self.verifications.len() {
            let v = &self.verifications[i];
            if !v.acked && !v.indirect_sent && now >= v.indirect_at_ms && now < v.end_ms {
                let (seq, target) = (v.seq, v.target.clone());
                self.verifications[i].indirect_sent = true;
                let mut helpers: Vec<NodeId> = Vec::new();
                for _ in 0..self.config.indirect_probes {
                    let mut exclude: Vec<&NodeId> = helpers.iter().collect();
                    exclude.push(&target);
                    if let Some(k) = self.members.random_present(&mut self.rng, &exclude) {
                        let h = self.members.at(k).node_id().clone();
                        if !helpers.contains(&h) {
                            helpers.push(h);
                        }
                    }
                }
                for h in helpers {
                    let req = PingReq {
                        seq,
                        target: target.clone(),
                    };
                    self.send(&h, Message::PingReq(req));
                }
                self.send(&target, Message::Ping(Ping::new(seq, target.clone())));
            }
            if now < self.verifications[i].end_ms {
                i += 1;
                continue;
            }
            let v = self.verifications.swap_remove(i);
            let still = self
                .members
                .get(&v.target)
                .is_some_and(|m| m.liveness == Liveness::Suspect && m.incarnation == v.incarnation);
            if !still {
                continue;
            }
            if v.acked {
                // It answered: wait for its refutation; check again later.
                let ver = self.members.get(&v.target).map_or(0, |m| m.record.version);
                let (min, _) = self.config.suspicion_bounds(self.cluster_size());
                self.suspicions.update(&v.target, |s| {
                    s.verifying = false;
                    s.deadline_ms = now + min;
                });
                let c = self.claim(&v.target, v.incarnation, ver);
                self.send(&v.target, Message::Suspect(c));
            } else if self.suspicions.get(&v.target).is_some_and(|s| !s.local) {
                // First-hand evidence now, but only one failed probe: count
                // as an accuser and wait one more (shortest) timeout.
                let me = self.me.node_id.clone();
                let (min, _) = self.config.suspicion_bounds(self.cluster_size());
                let newly = self
                    .suspicions
                    .update(&v.target, |s| {
                        s.local = true;
                        s.verifying = false;
                        let newly = s.confirm(&me);
                        s.deadline_ms = s.deadline_ms.max(now + min);
                        newly
                    })
                    .unwrap_or(false);
                if newly {
                    if let Some(m) = self.members.get(&v.target) {
                        let st = Self::state_of(m, Some(me));
                        self.broadcasts.push(st, None);
                    }
                }
            } else {
                self.suspicions.remove(&v.target);
                let me = self.me.node_id.clone();
                self.set_member_state(&v.target, Liveness::Dead, v.incarnation, me, false, now);
                self.event(MembershipEvent::DeclaredDead { node_id: v.target });
            }
        }
    }

    /// Tells the members this node suspects that they are suspected, so they
    /// can refute quickly even when gossip is slow or lossy.
    fn notify_suspects(&mut self) {
        if self.leaving {
            return;
        }
        let mut notes = Vec::new();
        for id in self.suspicions.locals().take(16) {
            if let Some(s) = self.suspicions.get(id) {
                notes.push((id.clone(), s.incarnation));
            }
        }
        for (id, inc) in notes {
            let ver = self.members.get(&id).map_or(0, |m| m.record.version);
            let c = self.claim(&id, inc, ver);
            self.send(&id, Message::Suspect(c));
        }
    }

    // ----- internals: dissemination and anti-entropy ----------------------

    fn gossip_round(&mut self, now: u64) {
        if self.broadcasts.is_empty() {
            return;
        }
        let mut targets: Vec<NodeId> = Vec::new();
        for _ in 0..self.config.fanout {
            let exclude: Vec<&NodeId> = targets.iter().collect();
            let Some(i) = self.members.random_present(&mut self.rng, &exclude) else {
                break;
            };
            let id = self.members.at(i).node_id().clone();
            if !targets.contains(&id) {
                targets.push(id);
            }
        }
        for t in targets {
            if self.broadcasts.is_empty() {
                break;
            }
            let pig = self.piggyback(self.config.max_gossip_bytes);
            let g = GossipAnnouncement {
                timestamp: now as f64 / 1000.0,
                peers: pig.peers.into_iter().map(AnnouncedPeer::Record).collect(),
                states: pig.states,
            };
            self.send(&t, Message::GossipAnnouncement(g));
        }
    }

    fn digest(&mut self) -> (Vec<MemberState>, bool) {
        let n = self.members.len();
        let cap = MAX_STATES_PER_MESSAGE - 1;
        let mut states = Vec::with_capacity(n.min(cap) + 1);
        states.push(self.my_state());
        let complete = n <= cap;
        let start = if complete {
            0
        } else {
            self.rng.random_range(0..n)
        };
        for k in 0..n.min(cap) {
            let m = self.members.at((start + k) % n);
            states.push(Self::state_of(m, None));
        }
        (states, complete)
    }

    fn start_push_pull(&mut self, to: &NodeId) {
        let (states, complete) = self.digest();
        let pp = PushPull {
            reply: false,
            complete,
            states,
            peers: Vec::new(),
        };
        self.send(to, Message::PushPull(pp));
    }

    fn on_push_pull(&mut self, from: &NodeId, pp: PushPull, now: u64) {
        // What the sender lacks, judged before merging its digest.
        let mut lacking: Vec<Arc<PeerRecord>> = Vec::new();
        if !pp.reply {
            let theirs: HashMap<&NodeId, u64> =
                pp.states.iter().map(|s| (&s.node_id, s.version)).collect();
            let lacks = |id: &NodeId, version: u64| match theirs.get(id) {
                Some(v) => *v < version,
                None => pp.complete,
            };
            if lacks(&self.me.node_id, self.me.version) {
                lacking.push(self.me.clone());
            }
            for m in self.members.iter() {
                if lacking.len() >= MAX_PEERS_PER_MESSAGE {
                    break;
                }
                if m.liveness.is_present() && m.node_id() != from && lacks(m.node_id(), m.record.version) {
                    lacking.push(m.record.clone());
                }
            }
        }
        self.apply_updates(from, pp.peers, pp.states, Source::Digest, now);
        if !pp.reply {
            let (states, complete) = self.digest();
            let reply = PushPull {
                reply: true,
                complete,
                states,
                peers: lacking,
            };
            self.send(from, Message::PushPull(reply));
        }
    }

    fn reconnect_one(&mut self, now: u64) {
        let due: Vec<NodeId> = self
            .members
            .down()
            .iter()
            .filter(|id| {
                self.members
                    .get(id)
                    .is_some_and(|m| m.liveness == Liveness::Dead && m.next_attempt_ms <= now)
            })
            .cloned()
            .collect();
        if due.is_empty() {
            return;
        }
        let target = due[self.rng.random_range(0..due.len())].clone();
        let seq = self.next_seq();
        let attempts = {
            let Some(m) = self.members.get_mut(&target) else {
                return;
            };
            m.attempts = m.attempts.saturating_add(1);
            u32::from(m.attempts)
        };
        let delay = self.backoff(attempts);
        let mut ping = Ping::new(seq, target.clone());
        if let Some(m) = self.members.get_mut(&target) {
            m.next_attempt_ms = now + delay;
            ping.states.push(Self::state_of(m, None));
        }
        ping.states.push(self.my_state());
        self.send(&target, Message::Ping(ping));
        self.reconnects.push(Reconnect {
            seq,
            target,
            deadline_ms: now + self.config.probe_interval_ms * 2,
        });
    }

    fn expire_reconnects(&mut self, now: u64) {
        let mut failed = Vec::new();
        self.reconnects.retain(|r| {
            if r.deadline_ms <= now {
                failed.push(r.target.clone());
                false
            } else {
                true
            }
        });
        for id in failed {
            self.outcome(&id, false);
        }
    }

    fn reclaim(&mut self, now: u64) {
        let mut gone = Vec::new();
        for id in self.members.down() {
            let Some(m) = self.members.get(id) else {
                continue;
            };
            let (limit, reason) = match m.liveness {
                Liveness::Dead => (self.config.dead_reclaim_ms, RemovalReason::DeadReclaimed),
                Liveness::Left => (self.config.left_reclaim_ms, RemovalReason::LeftReclaimed),
                _ => continue,
            };
            if m.since_ms.saturating_add(limit) <= now {
                gone.push((id.clone(), reason));
            }
        }
        for (id, reason) in gone {
            self.members.remove(&id);
            self.suspicions.remove(&id);
            self.emit(Output::Registry(RegistryChange::Remove {
                node_id: id.clone(),
                reason,
            }));
            self.event(MembershipEvent::Removed { node_id: id, reason });
        }
    }
}
