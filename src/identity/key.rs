use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use data_encoding::HEXLOWER;
use ed25519_dalek::{SigningKey, VerifyingKey, PUBLIC_KEY_LENGTH, SECRET_KEY_LENGTH};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::IdentityError;
use crate::model::{NodeId, PeerRecord};

/// Prefix of node ids derived from a public key.
pub const NODE_ID_PREFIX: &str = "pd1";
/// Prefix of the public key's text form (`PeerRecord.public_key`).
pub const PUBLIC_KEY_PREFIX: &str = "ed25519:";
/// The key file format written and accepted by this build (field `format`).
pub const KEY_FILE_FORMAT: u64 = 1;
/// Largest key file accepted, in bytes (a valid one is about 200).
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

/// The node id of the holder of `key`: `"pd1"` + 64 lowercase hex digits of
/// the 32 key bytes.
pub fn node_id_for(key: &VerifyingKey) -> NodeId {
    let id = format!("{NODE_ID_PREFIX}{}", HEXLOWER.encode(key.as_bytes()));
    NodeId::new(id).expect("pd1 + 64 hex digits is a valid node id")
}

/// The text form of a public key: `"ed25519:"` + 64 lowercase hex digits.
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_KEY_PREFIX}{}", HEXLOWER.encode(key.as_bytes()))
}

/// Parses the text form of a public key (strict: the prefix, exactly 64
/// lowercase hex digits, and a valid, non-weak Ed25519 point).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let hex = text
        .strip_prefix(PUBLIC_KEY_PREFIX)
        .ok_or_else(|| format!("it does not start with {PUBLIC_KEY_PREFIX:?}"))?;
    if hex.len() != 2 * PUBLIC_KEY_LENGTH {
        return Err(format!(
            "expected {} hex digits, found {}",
            2 * PUBLIC_KEY_LENGTH,
            hex.len()
        ));
    }
    let bytes = HEXLOWER
        .decode(hex.as_bytes())
        .map_err(|e| format!("not lowercase hex: {e}"))?;
    let bytes: [u8; PUBLIC_KEY_LENGTH] = bytes
        .try_into()
        .map_err(|_| "wrong key length".to_string())?;
    super::key_cache::verifying_key(&bytes).map_err(|f| f.reason().to_string())
}

/// A node's Ed25519 key pair. The secret is wiped from memory on drop and
/// never printed (`Debug` shows the node id only).
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("node_id", &self.node_id().as_str())
            .finish_non_exhaustive()
    }
}

/// The key file: `{"format":1,"algorithm":"ed25519","node_id":"pd1…",
/// "secret_key":"<64 hex>"}`. `node_id` is checked on load (it catches a
/// damaged or hand-edited secret).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: u64,
    algorithm: String,
    node_id: String,
    secret_key: Zeroizing<String>,
}

impl Identity {
    /// A new key pair from the operating system's random source.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; SECRET_KEY_LENGTH]);
        // ThreadRng: ChaCha12 seeded and periodically reseeded from the OS.
        rand::rng().fill_bytes(&mut seed[..]);
        Identity::from_secret_bytes(&seed)
    }

    /// The key pair of this 32-byte Ed25519 secret key (seed).
    pub fn from_secret_bytes(secret: &[u8; SECRET_KEY_LENGTH]) -> Self {
        Identity {
            key: SigningKey::from_bytes(secret),
        }
    }

    /// The 32-byte secret key. Handle with care.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; SECRET_KEY_LENGTH]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The node id derived from the public key (see [`node_id_for`]).
    pub fn node_id(&self) -> NodeId {
        node_id_for(&self.key.verifying_key())
    }

    /// The public key in text form, for `PeerRecord.public_key`.
    pub fn public_key_text(&self) -> String {
        public_key_text(&self.key.verifying_key())
    }

    /// An empty record (version 0) of this node: its node id and public
    /// key filled in, ready for addresses and capabilities, then
    /// [`sign`](super::sign).
    pub fn new_record(&self) -> PeerRecord {
        let mut r = PeerRecord::new(self.node_id());
        r.public_key = Some(self.public_key_text().into_boxed_str());
        r
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// Loads the key in `path`, or creates a new one there if there is no
    /// file. Returns the identity and whether it was created.
    ///
    /// A new file is created atomically with mode 0600 (written to a
    /// temporary file in the same directory, synced, then linked in place,
    /// which fails rather than overwrite a file that appeared meanwhile, in
    /// which case that file is loaded); missing parent directories are
    /// created with mode 0700. An existing file must be a valid key file not
    /// readable by group or others.
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<(Identity, bool), IdentityError> {
        let path = path.as_ref();
        match Identity::load(path) {
            Ok(id) => return Ok((id, false)),
            Err(IdentityError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| IdentityError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
        }
        let id = Identity::generate();
        match id.save_new(path) {
            Ok(()) => Ok((id, true)),
            Err(IdentityError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                // Another process created it first: use theirs.
                Ok((Identity::load(path)?, false))
            }
            Err(e) => Err(e),
        }
    }

    /// Loads the key file at `path` (strict; see [`Identity::load_or_create`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Identity, IdentityError> {
        let path = path.as_ref();
        let io = |source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        };
        let invalid = |reason: String| IdentityError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(invalid("not a regular file".into()));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(IdentityError::InsecurePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        if meta.len() > MAX_KEY_FILE_BYTES {
            return Err(IdentityError::TooLarge {
                path: path.to_path_buf(),
                len: meta.len(),
                max: MAX_KEY_FILE_BYTES,
            });
        }
        let mut text = Zeroizing::new(String::new());
        file.take(MAX_KEY_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    invalid("not UTF-8 text".into())
                } else {
                    io(e)
                }
            })?;
        let kf: KeyFile =
            serde_json::from_str(&text).map_err(|e| invalid(format!("not a key file: {e}")))?;
        if kf.format != KEY_FILE_FORMAT {
            return Err(invalid(format!(
                "unsupported format {} (this build reads {KEY_FILE_FORMAT})",
                kf.format
            )));
        }
        if kf.algorithm != "ed25519" {
            return Err(invalid(format!(
                "unsupported algorithm {:?} (expected \"ed25519\")",
                kf.algorithm
            )));
        }
        if kf.secret_key.len() != 2 * SECRET_KEY_LENGTH {
            return Err(invalid(format!(
                "secret_key must be {} lowercase hex digits",
                2 * SECRET_KEY_LENGTH
            )));
        }
        let mut secret = Zeroizing::new([0u8; SECRET_KEY_LENGTH]);
        HEXLOWER
            .decode_mut(kf.secret_key.as_bytes(), &mut secret[..])
            .map_err(|_| invalid("secret_key is not lowercase hex".into()))?;
        let id = Identity::from_secret_bytes(&secret);
        if id.node_id().as_str() != kf.node_id {
            return Err(invalid(format!(
                "node_id {:?} does not match the secret key (which gives {})",
                kf.node_id.chars().take(140).collect::<String>(),
                id.node_id()
            )));
        }
        Ok(id)
    }

    /// Writes this key to a new file at `path` with mode 0600. Fails with an
    /// [`IdentityError::Io`] of kind `AlreadyExists` if `path` exists; never
    /// overwrites, never leaves a partial file at `path`.
    pub fn save_new(&self, path: impl AsRef<Path>) -> Result<(), IdentityError> {
        let path = path.as_ref();
        let io = |source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        };
        let kf = KeyFile {
            format: KEY_FILE_FORMAT,
            algorithm: "ed25519".into(),
            node_id: self.node_id().to_string(),
            secret_key: Zeroizing::new(HEXLOWER.encode(&self.secret_bytes()[..])),
        };
        let mut text = Zeroizing::new(serde_json::to_string(&kf).expect("a key file serializes"));
        text.push('\n');
        let tmp = temp_path(path);
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            // Atomic and no-clobber: fails with AlreadyExists if `path` exists.
            fs::hard_link(&tmp, path)?;
            Ok(())
        })();
        let _ = fs::remove_file(&tmp);
        result.map_err(io)?;
        sync_parent(path).map_err(io)
    }
}

/// A unique temporary name beside `path`.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Syncs the directory holding `path`, so a rename or link in it survives a
/// crash.
pub(crate) fn sync_parent(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}
