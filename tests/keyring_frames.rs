//! Cluster key: sealing, opening, refusals, tampering, rotation.

use peerdisc::keyring::{check_plaintext, is_sealed, key_id, Keyring, KeyringError};
use peerdisc::wire;

const PING: &str = r#"{"v":1,"type":"ping","seq":7,"target":"node-b"}"#;

fn ring(keys: &[[u8; 32]]) -> Keyring {
    Keyring::new(keys.to_vec()).unwrap()
}

#[test]
fn seal_then_open_gives_the_message_back() {
    let r = ring(&[[1; 32]]);
    let frame = r.seal(PING);
    assert!(is_sealed(&frame));
    assert!(!frame.contains("ping"), "the message must not be readable");
    assert!(frame.starts_with(r#"{"v":1,"type":"sealed","k":""#));
    assert_eq!(r.open(&frame).unwrap(), PING);
    // A fresh nonce per frame: sealing twice gives two different frames.
    assert_ne!(r.seal(PING), frame);
    // What opens is a normal wire message.
    assert!(wire::decode(r.open(&frame).unwrap().as_bytes()).is_ok());
    // Empty and large messages.
    assert_eq!(r.open(&r.seal("")).unwrap(), "");
    let big = "x".repeat(1024 * 1024);
    assert_eq!(r.open(&r.seal(&big)).unwrap(), big);
}

#[test]
fn plaintext_and_keyed_nodes_refuse_each_other_clearly() {
    let r = ring(&[[1; 32]]);
    // Keyed node, plaintext frame.
    let err = r.open(PING).unwrap_err();
    assert_eq!(err, KeyringError::PlaintextRefused);
    assert!(err.to_string().contains("requires the cluster key"));
    assert_eq!(
        r.open("not json").unwrap_err(),
        KeyringError::PlaintextRefused
    );
    // Plaintext node, sealed frame.
    let err = check_plaintext(&r.seal(PING)).unwrap_err();
    assert_eq!(err, KeyringError::SealedRefused);
    assert!(err.to_string().contains("cluster key"));
    assert!(check_plaintext(PING).is_ok());
    assert!(!is_sealed(PING));
    assert!(!is_sealed(
        r#"{"v":1,"type":"ping","seq":1,"target":"sealed"}"#
    ));
}

#[test]
fn a_node_without_the_key_cannot_read_or_inject() {
    let ours = ring(&[[1; 32]]);
    let theirs = ring(&[[2; 32]]);
    let err = ours.open(&theirs.seal(PING)).unwrap_err();
    assert_eq!(
        err,
        KeyringError::UnknownKey {
            key_id: key_id(&[2; 32])
        }
    );
    // An intruder that copies our key id still cannot forge a frame.
    let forged = theirs
        .seal(PING)
        .replace(&key_id(&[2; 32]), &key_id(&[1; 32]));
    assert_eq!(ours.open(&forged).unwrap_err(), KeyringError::Tampered);
}

#[test]
fn any_change_to_a_sealed_frame_is_detected() {
    let r = ring(&[[1; 32]]);
    let frame = r.seal(PING);
    let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
    let c = v["c"].as_str().unwrap().to_string();
    let n = v["n"].as_str().unwrap().to_string();
    // Flip one character of the ciphertext / nonce (staying valid base64).
    let flip = |s: &str, i: usize| {
        let mut b = s.as_bytes().to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    for bad in [
        frame.replace(&c, &flip(&c, 0)),
        frame.replace(&c, &flip(&c, c.len() / 2)),
        frame.replace(&n, &flip(&n, 3)),
    ] {
        assert_eq!(r.open(&bad).unwrap_err(), KeyringError::Tampered, "{bad}");
    }
    // Truncated ciphertext and a nonce of the wrong size.
    let short_c = &c[..c.len() - 8];
    assert!(matches!(
        r.open(&frame.replace(&c, short_c)),
        Err(KeyringError::Tampered | KeyringError::Malformed(_))
    ));
    assert!(matches!(
        r.open(&frame.replace(&n, "AAAA")),
        Err(KeyringError::Malformed(_))
    ));
    // Version, extra field, missing field, truncated frame.
    assert_eq!(
        r.open(&frame.replace(r#""v":1"#, r#""v":2"#)).unwrap_err(),
        KeyringError::UnsupportedVersion(2)
    );
    assert!(matches!(
        r.open(&frame.replacen('{', r#"{"x":1,"#, 1)),
        Err(KeyringError::Malformed(_))
    ));
    assert!(matches!(
        r.open(&frame[..frame.len() - 1]),
        Err(KeyringError::PlaintextRefused | KeyringError::Malformed(_))
    ));
    assert!(matches!(
        r.open(r#"{"v":1,"type":"sealed"}"#),
        Err(KeyringError::Malformed(_))
    ));
}

#[test]
fn rotation_accepts_old_keys_and_sends_with_the_new_one() {
    let old = [1u8; 32];
    let new = [9u8; 32];
    let mut a = ring(&[old]);
    let b_old = ring(&[old]);
    // Step 1: install the new key (accepted, not yet used).
    a.install(new);
    assert_eq!(a.len(), 2);
    assert_eq!(a.primary_key_id(), key_id(&old));
    assert_eq!(b_old.open(&a.seal(PING)).unwrap(), PING);
    // Step 2: use it; frames sealed with the old key still open.
    a.use_key(new);
    assert_eq!(a.primary_key_id(), key_id(&new));
    assert_eq!(a.key_ids(), vec![key_id(&new), key_id(&old)]);
    assert_eq!(a.open(&b_old.seal(PING)).unwrap(), PING);
    let frame = a.seal(PING);
    assert!(frame.contains(&key_id(&new)));
    assert!(matches!(
        b_old.open(&frame),
        Err(KeyringError::UnknownKey { .. })
    ));
    // Step 3: remove the old key; old frames are then refused.
    assert!(matches!(a.remove(&new), Err(KeyringError::CannotRemove(_))));
    a.remove(&old).unwrap();
    assert!(matches!(a.remove(&old), Err(KeyringError::CannotRemove(_))));
    assert!(matches!(
        a.open(&b_old.seal(PING)),
        Err(KeyringError::UnknownKey { .. })
    ));
    assert_eq!(a.open(&frame).unwrap(), PING);
}

#[test]
fn keys_from_text() {
    let key = Keyring::generate_key();
    let b64 = Keyring::key_text(&key);
    assert_eq!(b64.len(), 44);
    let hex = data_encoding::HEXLOWER.encode(&key);
    let other = Keyring::generate_key();
    let r = Keyring::from_strings(&[hex.as_str(), &Keyring::key_text(&other)]).unwrap();
    assert_eq!(r.primary_key_id(), key_id(&key));
    assert_eq!(
        Keyring::from_strings(&[b64.as_str()]).unwrap().key_ids(),
        vec![key_id(&key)]
    );
    assert_eq!(
        Keyring::from_strings::<&str>(&[]).unwrap_err(),
        KeyringError::NoKeys
    );
    assert_eq!(Keyring::new(vec![]).unwrap_err(), KeyringError::NoKeys);
    assert!(matches!(
        Keyring::from_strings(&[b64.as_str(), "short"]),
        Err(KeyringError::BadKey { index: 1, .. })
    ));
    assert!(matches!(
        Keyring::from_strings(&[&b64[..40]]),
        Err(KeyringError::BadKey { index: 0, .. })
    ));
    assert!(matches!(
        Keyring::from_strings(&[b64.as_str(), hex.as_str()]),
        Err(KeyringError::DuplicateKey { index: 1 })
    ));
    // Debug shows key ids only.
    let dbg = format!("{r:?}");
    assert!(dbg.contains(&key_id(&key)) && !dbg.contains(&b64) && !dbg.contains(&hex));
}

#[test]
fn oversized_frames_are_refused_before_parsing() {
    let r = ring(&[[1; 32]]);
    let huge = format!(
        r#"{{"v":1,"type":"sealed","k":"00000000","n":"","c":"{}"}}"#,
        "A".repeat(2_000_000)
    );
    assert!(matches!(r.open(&huge), Err(KeyringError::TooLarge { .. })));
    assert!(check_plaintext(&huge).is_err());
}

/// The `keyring_open` fuzz target's seeds are frames sealed with its keys
/// (`[1; 32]`, `[2; 32]`). `PEERDISC_WRITE_FUZZ_SEEDS=1` writes them anew.
#[test]
fn fuzz_seeds_open_with_the_fuzz_keys() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/keyring_open");
    let ring = ring(&[[1; 32], [2; 32]]);
    if std::env::var_os("PEERDISC_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        let second = Keyring::new(vec![[2; 32]]).unwrap();
        std::fs::write(dir.join("ping.sealed"), ring.seal(PING)).unwrap();
        std::fs::write(dir.join("second_key.sealed"), second.seal(PING)).unwrap();
        std::fs::write(dir.join("empty.sealed"), ring.seal("")).unwrap();
        std::fs::write(dir.join("plain.json"), PING).unwrap();
    }
    let mut opened = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        if is_sealed(&text) {
            ring.open(&text).unwrap();
            opened += 1;
        }
    }
    assert!(opened >= 3);
}
