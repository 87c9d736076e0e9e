//! Joining, bootstrap answers (`hello`, `peer_list_request`) and
//! announcements (the seed system's message), and what keeps a burst of
//! joins (a whole cluster starting at once) from flooding anyone: hello
//! answers and join news within budgets, joiners catching up by
//! anti-entropy with members other than their seeds.

use super::burst::Bucket;
use super::*;

/// Hello retries one probe interval apart before the exponential backoff.
const FAST_JOIN_RETRIES: u32 = 3;
/// Records a node hands out in answers to `hello`: at most as many at once
/// as it knows members, but no fewer than `HELLO_CAP` (and no more than
/// `peer_list_size`), refilled at `HELLO_RATE` per second; beyond that
/// each answer carries `HELLO_FLOOR` random members (the joiner learns the
/// rest from them). A single joiner gets the full list; answering each of
/// N simultaneous joiners with everything it knew cost a seed N^2 / 2
/// records.
const HELLO_CAP: f64 = 256.0;
const HELLO_RATE: f64 = 64.0;
const HELLO_FLOOR: usize = 2;
/// New members' join news passed on by gossip: at most this many at once...
const JOIN_NEWS_CAP: f64 = 4.0;
/// ...and this many per second after that. The rest is learned by
/// anti-entropy.
const JOIN_NEWS_RATE: f64 = 1.0;
/// The catch-up pace is the gossip interval divided by this: an exchange
/// is one round trip, and a burst of joins spreads as an epidemic of
/// exchanges whose rounds are this pace. In the simulator, a cold start of
/// N = 1,000 through one seed (seeds 42-46): 1.66-1.85 s at one gossip
/// interval, 0.94-1.03 s at a half, 0.53-0.56 s at a quarter, about the
/// same bytes; but a quarter (or a third) lets the busiest node send up to
/// 5.1x (5.2x) the median node's bytes, a half at most 4.4x.
const CATCH_UP_DIVISOR: u64 = 2;
/// While a node learns the membership in bulk after joining (see
/// `Joining::probe_slowdown`), it probes this many times less often: in a
/// cluster that starts at once every node is learning, its probes would
/// target nodes as busy as itself, and each late answer starts an indirect
/// round and a suspicion that cost more work than the probe. On one 2-core
/// machine, 200 daemons at once: all know all in 4.1-4.8 s with 1,700 to
/// 4,200 suspected pairs at the usual rate, in 3.4-4.2 s with 0-53 with
/// this slowdown (BENCHMARKS.md, "Daemons started at once").
const LEARNING_PROBE_SLOWDOWN: u64 = 5;
/// ...for at most this long after joining, ms: a node that keeps learning
/// (churn in a large cluster) probes at the usual rate after it.
const LEARNING_MAX_MS: u64 = 10_000;
/// The window of bulk learning, ms.
const LEARNING_WINDOW_MS: u64 = 1_000;
/// How long learning lasts after joining and after the last bulk window.
const LEARNING_LINGER_MS: u64 = 2 * LEARNING_WINDOW_MS;
/// Records learned within one window that make it bulk learning (one new
/// member, or a few, is not: probes go on at the usual rate, and a crash
/// right after a join is detected as fast as any).
const BULK_RECORDS: u32 = 8;
/// Hello answers that arrive this long after the first still name
/// bootstrap nodes (the other seeds of the list), ms.
const ANSWER_WINDOW_MS: u64 = 2_000;
/// Bootstrap nodes remembered (the seeds that answered).
const MAX_BOOTSTRAPS: usize = 8;
/// Exchanges of a catch-up whose start is kept, to time their answers.
const EXCHANGES_TIMED: usize = 4;

/// Join bookkeeping of one node.
#[derive(Debug, Clone)]
pub(super) struct Joining {
    /// The nodes that answered this node's `hello`: its anti-entropy
    /// partners only when it knows nobody else (a seed that every joiner
    /// asked for everything would be flooded).
    pub bootstraps: Vec<NodeId>,
    joined_at: Option<u64>,
    /// The anti-entropy pace while catching up, ms: half a gossip interval
    /// after joining or after an exchange that taught something (the node
    /// is likely missing more); doubled by each exchange that taught
    /// nothing, back to the N-scaled interval (`None`). Backing off
    /// instead of stopping lets the last news of a burst still find the
    /// few nodes that lack it.
    pub pace_ms: Option<u64>,
    /// Whether records learned now count as bulk learning (not those of
    /// the join's own answer).
    pub counting: bool,
    /// The join's answer was small (a seed answering a burst of joiners
    /// hands each only a few records): the cluster is starting at once.
    crowded_join: bool,
    /// Records learned in the current window, and when it began.
    window_records: u32,
    window_start: u64,
    /// When the last window reached `BULK_RECORDS`.
    bulk_at: Option<u64>,
    /// Records learned (new members, newer versions), from any source.
    pub learned: u64,
    /// What this node's last exchange as the asker taught it (`None`:
    /// none yet): little, and the next starts with a summary.
    pub last_taught: Option<usize>,
    hello_records: Bucket,
    join_news: Bucket,
    /// The last exchanges of this catch-up: (partner, started at), to time
    /// their answers (`Membership::catch_up_spacing`).
    exchanges: Vec<(NodeId, u64)>,
    /// How long the answer to this catch-up's last timed exchange took, ms.
    exchange_round_trip_ms: Option<u64>,
}

impl Joining {
    pub fn new() -> Self {
        Joining {
            bootstraps: Vec::new(),
            joined_at: None,
            pace_ms: None,
            counting: true,
            crowded_join: false,
            window_records: 0,
            window_start: 0,
            bulk_at: None,
            learned: 0,
            last_taught: None,
            hello_records: Bucket::new(MAX_PEERS_PER_MESSAGE as f64, HELLO_RATE),
            join_news: Bucket::new(JOIN_NEWS_CAP, JOIN_NEWS_RATE),
            exchanges: Vec::new(),
            exchange_round_trip_ms: None,
        }
    }

    /// The join was answered, with `records` records.
    pub fn joined(&mut self, now: u64, records: usize) {
        if self.joined_at.is_none() {
            self.joined_at = Some(now);
            self.crowded_join = records < BULK_RECORDS as usize;
        }
    }

    /// A record (a new member, a newer version) was learned.
    pub fn learned_one(&mut self, now: u64) {
        self.learned += 1;
        if !self.counting {
            return;
        }
        if now >= self.window_start.saturating_add(LEARNING_WINDOW_MS) {
            self.window_start = now;
            self.window_records = 0;
        }
        self.window_records += 1;
        if self.window_records >= BULK_RECORDS {
            self.bulk_at = Some(now);
        }
    }

    /// How many times less often than usual this node probes now: while
    /// it learns in bulk, within `LEARNING_MAX_MS` of joining: for
    /// `LEARNING_LINGER_MS` after a join answered with fewer than
    /// `BULK_RECORDS` records (a crowded seed), and after the last window
    /// in which it learned `BULK_RECORDS` beyond its join's answer (a cold
    /// start on saturated CPUs has gaps of a second between exchanges). A
    /// node joining a settled cluster learns everything from its join's
    /// answer and probes at the usual rate. In a cluster starting at
    /// once, a joiner that knows only its seed would otherwise probe the
    /// seed five times a second, as every other joiner does.
    pub fn probe_slowdown(&self, now: u64) -> u64 {
        let recent = |t: u64| now < t.saturating_add(LEARNING_LINGER_MS);
        let learning = self
            .joined_at
            .is_some_and(|t| now < t.saturating_add(LEARNING_MAX_MS))
            && (self.crowded_join && self.joined_at.is_some_and(recent)
                || self.bulk_at.is_some_and(recent));
        if learning {
            LEARNING_PROBE_SLOWDOWN
        } else {
            1
        }
    }

    /// An exchange taught nothing: slow down, up to `normal_ms`. Caught
    /// up, the timing of the answers is forgotten: the next catch-up
    /// times its own.
    pub fn quiet_exchange(&mut self, normal_ms: u64) {
        self.pace_ms = self
            .pace_ms
            .map(|p| p.saturating_mul(2))
            .filter(|&p| p < normal_ms);
        if self.pace_ms.is_none() {
            self.exchanges.clear();
            self.exchange_round_trip_ms = None;
        }
    }

    /// An exchange with `partner` started at `now`: timed while catching
    /// up.
    pub fn exchange_started(&mut self, partner: NodeId, now: u64) {
        if self.pace_ms.is_none() {
            return;
        }
        if self.exchanges.len() >= EXCHANGES_TIMED {
            self.exchanges.remove(0);
        }
        self.exchanges.push((partner, now));
    }

    /// The answer to a timed exchange with `from` arrived at `now`.
    pub fn exchange_answered(&mut self, from: &NodeId, now: u64) {
        if let Some(k) = self.exchanges.iter().position(|(p, _)| p == from) {
            let (_, at) = self.exchanges.remove(k);
            self.exchange_round_trip_ms = Some(now.saturating_sub(at));
        }
    }

    /// The catch-up spacing for `pace`: twice the last answer's time when
    /// that is longer, at most `cap_ms`.
    pub fn spacing(&self, pace: u64, cap_ms: u64) -> u64 {
        let slow = self
            .exchange_round_trip_ms
            .map_or(0, |r| r.saturating_mul(2).min(cap_ms));
        pace.max(slow)
    }

    pub fn answered_by(&mut self, from: &NodeId, now: u64) {
        let in_window = self
            .joined_at
            .is_none_or(|t| now <= t.saturating_add(ANSWER_WINDOW_MS));
        if in_window && self.bootstraps.len() < MAX_BOOTSTRAPS && !self.bootstraps.contains(from) {
            self.bootstraps.push(from.clone());
        }
    }
}

impl Membership {
    pub(super) fn join_attempt(&mut self, now: u64) {
        let Some(mut j) = self.join.take() else {
            return;
        };
        j.attempts += 1;
        let hello = self.hello();
        for seed in &j.seeds {
            self.emit(Output::Send {
                to: seed.clone(),
                message: Message::Hello(hello.clone()),
            });
        }
        // The first retries come after one probe interval (a lost hello
        // or answer must not cost a second under loss), then the backoff.
        j.next_ms = now
            + if j.attempts <= FAST_JOIN_RETRIES {
                self.config.probe_interval_ms
            } else {
                self.backoff(j.attempts - FAST_JOIN_RETRIES)
            };
        self.join = Some(j);
    }

    /// Whether news of a new member may be passed on by gossip now. In a
    /// burst of joins it may not: every node would forward every joiner's
    /// record to several others. The news then travels by anti-entropy:
    /// this node starts exchanging digests at the catch-up pace, and each
    /// partner that learns from it does the same (an epidemic that stops
    /// where an exchange teaches nothing).
    pub(super) fn join_news_allowed(&mut self, now: u64) -> bool {
        if self.joining.join_news.take(now) {
            return true;
        }
        self.catch_up(now);
        false
    }

    /// An anti-entropy exchange taught this node `taught` records or
    /// members it lacked: the pace follows what it is missing. Something:
    /// at the catch-up pace. Nothing: slowing down (see `pace_ms`).
    pub(super) fn exchange_taught(&mut self, taught: usize, now: u64) {
        if taught > 0 {
            self.catch_up(now);
        } else {
            let normal = self.push_pull_interval();
            self.joining.quiet_exchange(normal);
        }
    }

    /// Anti-entropy at the catch-up pace (half a gossip interval) from
    /// now on, until exchanges teach little.
    pub(super) fn catch_up(&mut self, now: u64) {
        let pace = (self.config.gossip_interval_ms / CATCH_UP_DIVISOR).max(1);
        self.joining.pace_ms = Some(pace);
        self.next_push_pull_ms = self
            .next_push_pull_ms
            .min(now + self.catch_up_spacing(pace));
    }

    /// This node's `hello`: its record and incarnation, signed.
    pub fn hello(&self) -> Hello {
        Hello {
            record: self.me.clone(),
            incarnation: self.incarnation,
            sig: self.my_sig.clone(),
        }
    }

    pub(super) fn on_hello(&mut self, from: &NodeId, h: Hello, now: u64) {
        if h.record.node_id != *from {
            self.outcome(from, false);
            return;
        }
        let version = h.record.version;
        // A restarted node may come back with a record at a version this
        // node already holds from its earlier life, with other content (a
        // new port): it must see that record to publish above it.
        let held_differs = self
            .members
            .get(from)
            .is_some_and(|m| m.record.version >= version && *m.record != *h.record);
        if !self.apply_record(h.record, from, true, now) {
            // A forged or unsigned record of a node that must sign: no
            // answer, nothing learned.
            return;
        }
        let mut s = MemberState::new(from.clone(), h.incarnation, Liveness::Alive, version);
        s.sig = h.sig;
        self.apply_state(&s, from, Source::Gossip, now);
        // Answer with a random sample (within the hello budget: a burst of
        // joins gets small samples, and the joiners learn the rest from
        // each other), the joiner's own state as known here (so a
        // restarted node refutes its old death at once), and its old
        // record when it differs.
        let want = self.config.peer_list_size.saturating_sub(1);
        let cap = HELLO_CAP.max(self.members.len() as f64).min(want as f64);
        self.joining.hello_records.set_cap(cap);
        let n = self.joining.hello_records.take_up_to(
            now,
            want.min(self.members.len()),
            HELLO_FLOOR.min(want),
        );
        let mut list = self.sample_peer_list(n + 1, Some(from));
        if let Some(m) = self.members.get(from) {
            // Its last signed word first: a restarted node learns from it
            // which incarnation it had reached (and may then refute).
            let word = self.word_state(from, m.record.version);
            let st = self.with_sig(Self::state_of(m, None));
            list.states.extend(word.filter(|w| *w != st));
            list.states.push(st);
            if held_differs {
                list.peers.push(m.record.clone());
            }
        }
        self.send(from, Message::PeerList(list));
    }

    /// This node's record and state, and up to `max - 1` random present
    /// members' records (not `skip`'s), each with its state unless that
    /// says no more than the record (alive at incarnation 0).
    pub(super) fn sample_peer_list(&mut self, max: usize, skip: Option<&NodeId>) -> PeerList {
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
            if m.liveness.is_present() && Some(m.node_id()) != skip {
                list.peers.push(m.record.clone());
                if !Self::record_says_all(m) {
                    list.states.push(self.with_sig(Self::state_of(m, None)));
                }
            }
        }
        list
    }

    /// Whether a member's record alone tells its state: a record without a
    /// state is merged as alive at incarnation 0.
    pub(super) fn record_says_all(m: &Member) -> bool {
        m.liveness == Liveness::Alive && m.incarnation == 0
    }

    pub(super) fn on_peer_list_request(&mut self, from: &NodeId, r: PeerListRequest) {
        let list = if r.node_ids.is_empty() {
            self.sample_peer_list(self.config.peer_list_size, None)
        } else {
            let mut list = PeerList::default();
            for id in r.node_ids.iter().take(MAX_PEERS_PER_MESSAGE) {
                if *id == self.me.node_id {
                    list.peers.push(self.me.clone());
                    list.states.push(self.my_state());
                } else if let Some(m) = self.members.get(id) {
                    list.peers.push(m.record.clone());
                    if !Self::record_says_all(m) {
                        list.states.push(self.with_sig(Self::state_of(m, None)));
                    }
                }
            }
            list
        };
        self.send(from, Message::PeerList(list));
    }

    pub(super) fn on_announcement(&mut self, from: &NodeId, g: GossipAnnouncement, now: u64) {
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
}
