/// The in-memory network's behaviour: per-link latency, loss, partitions.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    /// Smallest one-way link latency, ms.
    pub latency_min_ms: u64,
    /// Largest one-way link latency, ms. Each link gets a fixed latency in
    /// `latency_min_ms..=latency_max_ms` (drawn from a hash of the pair).
    pub latency_max_ms: u64,
    /// Probability that any one message is lost, 0..=1.
    pub loss: f64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            latency_min_ms: 1,
            latency_max_ms: 10,
            loss: 0.0,
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
