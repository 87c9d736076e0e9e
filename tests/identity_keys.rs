//! Identity: key generation, node id derivation, the 0600 key file.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use peerdisc::identity::{node_id_for, parse_public_key, Identity, IdentityError};
use peerdisc::NodeId;

#[test]
fn node_id_is_derived_from_the_public_key_and_valid() {
    let id = Identity::generate();
    let node_id = id.node_id();
    assert!(node_id.as_str().starts_with("pd1"));
    assert_eq!(node_id.as_str().len(), 3 + 64);
    assert!(NodeId::new(node_id.as_str()).is_ok());
    assert_eq!(node_id, node_id_for(&id.verifying_key()));
    let pk = parse_public_key(&id.public_key_text()).unwrap();
    assert_eq!(pk, id.verifying_key());
    assert_eq!(
        &node_id.as_str()[3..],
        &id.public_key_text()["ed25519:".len()..]
    );
    // Two identities, two ids.
    assert_ne!(Identity::generate().node_id(), node_id);
}

#[test]
fn same_secret_same_identity() {
    let secret = [7u8; 32];
    let a = Identity::from_secret_bytes(&secret);
    let b = Identity::from_secret_bytes(&secret);
    assert_eq!(a.node_id(), b.node_id());
    assert_eq!(*a.secret_bytes(), secret);
    // Debug never shows the secret.
    let dbg = format!("{a:?}");
    assert!(dbg.contains(a.node_id().as_str()));
    assert!(!dbg.contains("0707070707"));
}

#[test]
fn public_key_text_is_strict() {
    let id = Identity::generate();
    let text = id.public_key_text();
    assert!(parse_public_key(&text.to_uppercase()).is_err());
    assert!(parse_public_key(&text["ed25519:".len()..]).is_err());
    assert!(parse_public_key(&text[..text.len() - 2]).is_err());
    assert!(parse_public_key(&format!("{text}00")).is_err());
    // The identity point (small order) is refused as weak.
    let mut weak = "ed25519:01".to_string();
    weak.push_str(&"0".repeat(62));
    assert!(parse_public_key(&weak).is_err());
}

#[test]
fn key_file_is_created_0600_and_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.key");
    let (a, created) = Identity::load_or_create(&path).unwrap();
    assert!(created);
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (b, created) = Identity::load_or_create(&path).unwrap();
    assert!(!created);
    assert_eq!(a.node_id(), b.node_id());
    assert_eq!(Identity::load(&path).unwrap().node_id(), a.node_id());
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(r#"{"format":1,"algorithm":"ed25519","node_id":"pd1"#));
}

#[test]
fn save_new_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.key");
    let a = Identity::generate();
    a.save_new(&path).unwrap();
    let b = Identity::generate();
    match b.save_new(&path) {
        Err(IdentityError::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists)
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(Identity::load(&path).unwrap().node_id(), a.node_id());
}

#[test]
fn concurrent_load_or_create_agrees_on_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.key");
    let ids: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| s.spawn(|| Identity::load_or_create(&path).unwrap()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(ids.iter().filter(|(_, created)| *created).count(), 1);
    assert!(ids.iter().all(|(i, _)| i.node_id() == ids[0].0.node_id()));
}

#[test]
fn loose_permissions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.key");
    Identity::load_or_create(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = Identity::load_or_create(&path).unwrap_err();
    assert!(
        matches!(err, IdentityError::InsecurePermissions { mode: 0o644, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"));
}

fn write_0600(path: &std::path::Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn invalid_key_files_are_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let good = Identity::generate();
    let secret = data_encoding::HEXLOWER.encode(&good.secret_bytes()[..]);
    let nid = good.node_id();
    let cases = [
        ("empty", String::new()),
        ("garbage", "not json".to_string()),
        (
            "truncated",
            format!(r#"{{"format":1,"algorithm":"ed25519","node_id":"{nid}","secr"#),
        ),
        (
            "format 2",
            format!(
                r#"{{"format":2,"algorithm":"ed25519","node_id":"{nid}","secret_key":"{secret}"}}"#
            ),
        ),
        (
            "algorithm",
            format!(
                r#"{{"format":1,"algorithm":"rsa","node_id":"{nid}","secret_key":"{secret}"}}"#
            ),
        ),
        (
            "unknown field",
            format!(
                r#"{{"format":1,"algorithm":"ed25519","node_id":"{nid}","secret_key":"{secret}","x":1}}"#
            ),
        ),
        (
            "short secret",
            format!(
                r#"{{"format":1,"algorithm":"ed25519","node_id":"{nid}","secret_key":"{}"}}"#,
                &secret[2..]
            ),
        ),
        (
            "uppercase",
            format!(
                r#"{{"format":1,"algorithm":"ed25519","node_id":"{nid}","secret_key":"{}"}}"#,
                secret.to_uppercase()
            ),
        ),
        (
            "wrong node id",
            format!(
                r#"{{"format":1,"algorithm":"ed25519","node_id":"pd1{}","secret_key":"{secret}"}}"#,
                "0".repeat(64)
            ),
        ),
        ("huge", " ".repeat(5000)),
    ];
    for (name, text) in cases {
        let path = dir.path().join(format!("{}.key", name.replace(' ', "_")));
        write_0600(&path, &text);
        let err = Identity::load_or_create(&path).unwrap_err();
        assert!(
            matches!(
                err,
                IdentityError::Invalid { .. } | IdentityError::TooLarge { .. }
            ),
            "{name}: {err}"
        );
        // The bad file is left as it was (never silently replaced).
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "{name}");
    }
    // The well-formed one loads.
    let path = dir.path().join("ok.key");
    write_0600(
        &path,
        &format!(
            r#"{{"format":1,"algorithm":"ed25519","node_id":"{nid}","secret_key":"{secret}"}}"#
        ),
    );
    assert_eq!(Identity::load(&path).unwrap().node_id(), nid);
}

#[test]
fn missing_directories_are_created_0700() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/keys/node.key");
    let (_, created) = Identity::load_or_create(&path).unwrap();
    assert!(created);
    let mode = fs::metadata(dir.path().join("state/keys"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn an_unwritable_place_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    // A file where a directory is needed.
    fs::write(dir.path().join("file"), "x").unwrap();
    let err = Identity::load_or_create(dir.path().join("file/node.key")).unwrap_err();
    assert!(matches!(err, IdentityError::Io { .. }), "{err}");
}
