/// The in-memory network's behaviour: per-link latency, loss, partitions.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    /// Smallest one-way link latency, ms.
    pub latency_min_ms: u64,
    /// Largest one-way link latency, ms. Each link gets a fixed latency in
    /// `latency_min_ms..=latency_max_ms` (drawn from a hash of the pair).
    pub latency_max_ms: u64,
    /// Probability that any one packet is lost, 0..=1.
    pub loss: f64,
    /// The datagram path, as the default node has it: the message kinds
    /// that travel as datagrams (`wire::travels_as_datagram`), when their
    /// datagram is at most this many bytes, are each lost with `loss`;
    /// every other message goes over a stream (WebSocket over TCP): never
    /// lost while both ends are up and connected, but each lost packet
    /// delays it by TCP's minimum retransmission timeout (200 ms). The
    /// membership budgets are capped to fit the datagrams
    /// (`datagram::fit_budgets`). `None`: every message is a lossy
    /// packet of its JSON size, the model before the datagram path.
    pub datagram_bytes: Option<usize>,
}

/// TCP's minimum retransmission timeout (Linux), the delay one lost packet
/// adds to a stream message.
pub const STREAM_RETRANSMIT_MS: u64 = 200;

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            latency_min_ms: 1,
            latency_max_ms: 10,
            loss: 0.0,
            datagram_bytes: Some(crate::wire::DEFAULT_MAX_DATAGRAM_BYTES),
        }
    }
}

impl NetworkConfig {
    /// The fixed latency of the link between `a` and `b` (symmetric).
    pub fn latency(&self, a: u32, b: u32) -> u64 {
        let (x, y) = if a < b { (a, b) } else { (b, a) };
        // splitmix64 of the pair: a stable, well-spread per-link value.
        let mut z = (u64::from(x) << 32 | u64::from(y)).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let span = self.latency_max_ms.saturating_sub(self.latency_min_ms) + 1;
        self.latency_min_ms + z % span
    }
}
