//! The README's main job, `examples/live_mesh.rs`, run with 5 nodes: the
//! demo's own code (included as a module, so nothing else is built), its
//! view and its verdict.

#[allow(dead_code)]
#[path = "../examples/live_mesh.rs"]
mod live_mesh;

use std::time::Duration;

#[test]
fn five_node_mesh_converges_detects_the_crash_and_shows_per_peer_health() {
    let mut out = Vec::new();
    let outcome = live_mesh::run(5, false, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(outcome.ok(), "{outcome:?}\n{text}");
    assert!(text.contains("every node knows all 4 others"), "{text}");
    assert!(text.contains("every node marks n02 dead"), "{text}");
    assert!(text.contains("stopped 5 nodes"), "{text}");
    // Every row of a running node has one cell per peer: its state and the
    // health this node holds of it, in tenths.
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with('n') && !l.starts_with("n01 finds"))
        .collect();
    assert!(!rows.is_empty(), "{text}");
    for row in rows.iter().filter(|r| !r.contains("crashed")) {
        let words: Vec<&str> = row.split_whitespace().collect();
        // id, 4 peers, the count known
        assert_eq!(words.len(), 6, "{row}");
        for cell in &words[1..5] {
            let b = cell.as_bytes();
            assert!(
                cell == &"." || (b.len() == 2 && b"o?x-".contains(&b[0]) && b[1].is_ascii_digit()),
                "cell {cell:?} in {row:?}"
            );
        }
    }
    // After the crash, every survivor's row shows n02 dead, with its health.
    let last_frame: Vec<&&str> = rows.iter().rev().take(5).collect();
    for row in last_frame.iter().filter(|r| !r.contains("crashed")) {
        let words: Vec<&str> = row.split_whitespace().collect();
        // Its own column is blank: n02 is the second or third cell.
        let me: usize = words[0][1..].parse().unwrap();
        let n02 = if me < 2 { words[2] } else { words[3] };
        assert!(n02.starts_with('x'), "{row:?} in\n{text}");
    }
}

#[test]
fn the_verdict_and_the_node_count() {
    let ok = live_mesh::Outcome {
        converged: Some(Duration::from_secs(1)),
        detected: Some(Duration::from_secs(2)),
    };
    assert!(ok.ok());
    assert!(!live_mesh::Outcome {
        converged: None,
        ..ok
    }
    .ok());
    assert!(!live_mesh::Outcome {
        detected: None,
        ..ok
    }
    .ok());
    assert_eq!(
        live_mesh::node_count(None, None),
        Ok(live_mesh::DEFAULT_NODES)
    );
    assert_eq!(live_mesh::node_count(None, Some("5")), Ok(5));
    assert_eq!(live_mesh::node_count(Some("7"), Some("5")), Ok(7));
    // Too few (or too many) nodes are refused, naming the range.
    assert!(live_mesh::node_count(Some("1"), None)
        .unwrap_err()
        .contains("3 to 60"));
    assert!(live_mesh::node_count(None, Some("61")).is_err());
    assert_eq!(live_mesh::node_count(Some("3"), None), Ok(3));
    assert!(live_mesh::node_count(None, Some("many"))
        .unwrap_err()
        .contains("PEERDISC_MESH_NODES"));
}
