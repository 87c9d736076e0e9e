use peerdisc::membership::MembershipConfig;
use peerdisc::sim::scenario;
fn main() {
    let args: Vec<f64> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let n = args[0] as usize;
    let loss = args[1];
    let mut m = MembershipConfig::default();
    m.awareness_interval_weight = args[2];
    m.awareness_suspicion_weight = args[3];
    m.suspicion_mult = args[4];
    let quiet = args.get(5).copied().unwrap_or(30_000.0) as u64;
    let t = std::time::Instant::now();
    println!("{}  [{:.1}s]", scenario::failure_detection(n, loss, quiet, 5, 42, &m), t.elapsed().as_secs_f64());
}
