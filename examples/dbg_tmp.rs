use peerdisc::sim::*;
fn main() {
    let mut s = Simulator::new(SimConfig { seed: 3, ..SimConfig::default() });
    s.add_converged_cluster(100);
    s.run_for(3000);
    s.crash(17);
    let t0 = s.now();
    let mut last = (usize::MAX, 0);
    while s.now() < t0 + 3000 {
        s.run_for(50);
        let sus = (0..100).filter(|&i| s.is_up(i) && s.node(i).member(s.id(17)).map(|m| m.liveness) == Some(peerdisc::Liveness::Suspect)).count();
        let cur = (s.dead_by(17), sus);
        if cur != last { println!("+{} ms: dead_by {} suspect_by {}", s.now() - t0, cur.0, cur.1); last = cur; }
    }
}
