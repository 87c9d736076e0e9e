//! The stable version of the `datagram_open` fuzz target: arbitrary and
//! mutated datagrams never panic the decoder, with or without a cluster
//! key, and what opens re-encodes to the same sender and message.

use peerdisc::datagram::{open, seal, DatagramError};
use peerdisc::keyring::Keyring;
use peerdisc::wire::{self, WireError};
use proptest::prelude::*;

const MAX: usize = 1_400;

fn seeds() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/datagram_open");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    v.sort();
    v
}

fn check(data: &[u8]) {
    if let Ok((from, msg)) = open(None, data, MAX) {
        let again = seal(None, &from, &wire::encode(&msg), 65_507).unwrap();
        assert_eq!(open(None, &again, 65_507).unwrap(), (from, msg));
    }
    let ring = Keyring::new(vec![[1u8; 32]]).unwrap();
    let _ = open(Some(&ring), data, MAX);
}

#[test]
fn the_seed_corpus_opens_or_is_refused_as_expected() {
    let s = seeds();
    assert!(s.len() >= 3);
    let opened = s.iter().filter(|d| open(None, d, MAX).is_ok()).count();
    assert!(opened >= 2, "the message seeds open");
    for d in &s {
        check(d);
    }
}

#[test]
fn refusals_name_what_is_wrong() {
    let too_big = vec![b'p'; MAX + 1];
    assert!(matches!(
        open(None, &too_big, MAX),
        Err(DatagramError::Malformed(WireError::TooLarge { .. }))
    ));
    assert!(matches!(
        open(
            None,
            b"pd\x01\x00\x06node-a{\"v\":2,\"type\":\"ping\"}",
            MAX
        ),
        Err(DatagramError::Malformed(
            WireError::UnsupportedVersion { .. }
        ))
    ));
    assert!(matches!(
        open(
            None,
            b"pd\x01\x00\x06node-a{\"v\":1,\"type\":\"ping\",\"seq\":1,\"target\":\"b\",\"x\":1}",
            MAX
        ),
        Err(DatagramError::Malformed(WireError::Invalid { .. }))
    ));
}

proptest! {
    #[test]
    fn arbitrary_datagrams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1500)) {
        check(&data);
    }

    #[test]
    fn mutated_seeds_never_panic(
        pick in 0usize..16,
        flips in proptest::collection::vec((0usize..200, any::<u8>()), 1..8),
    ) {
        let s = seeds();
        let mut d = s[pick % s.len()].clone();
        for (at, b) in flips {
            if !d.is_empty() {
                let i = at % d.len();
                d[i] = b;
            }
        }
        check(&d);
    }
}
