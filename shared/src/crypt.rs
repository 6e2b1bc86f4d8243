//! Client-side encryption of a store: the repository key, its wrappings, and the envelope
//! every object is sealed in before it reaches a backend.
//!
//! An encrypted store holds, in the clear, only `encryption` (which ciphers it uses) and
//! `keys/<slot>` (the repository key wrapped by a passphrase through Argon2id, or by a key
//! file). Everything else goes through [`EncryptedStore`], which sits above every backend
//! (folder, S3, git), so no backend knows about encryption:
//! - object bytes are sealed with XChaCha20-Poly1305 under a random 192-bit nonce, the
//!   associated data binding them to the key they were written under (an object moved to
//!   another name, or from another store, fails authentication);
//! - the names of content-addressed objects (`blobs/`, `dicts/`) are encrypted
//!   deterministically with AES-256-SIV, so equal content still deduplicates for the key
//!   holder while the store sees names unrelated to the content hash (two stores with
//!   different keys name the same record differently). SIV rather than a keyed hash because
//!   listings must map names back: garbage collection and capture reuse list `blobs/`.
//!
//! Both subkeys come from the random 256-bit repository key by HKDF-SHA256, so changing a
//! passphrase or adding a key file re-wraps the repository key and never re-encrypts data.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_siv::siv::Aes256Siv;
use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::keys;
use crate::store::{ObjectInfo, ObjectStore, PutOutcome, StoreError, Usage};

pub mod stream;

use stream::{ArchiveEncryption, StreamKey};

/// The cleartext object saying a store is encrypted, and how.
pub const CONFIG_KEY: &str = "encryption";
/// Prefix of the wrapped repository keys (one object per passphrase or key file).
pub const KEY_SLOTS: &str = "keys/";
/// Environment: the passphrase itself.
pub const ENV_PASSPHRASE: &str = "BACKTRACK_PASSPHRASE";
/// Environment: a file holding the passphrase (`--passphrase-file`).
pub const ENV_PASSPHRASE_FILE: &str = "BACKTRACK_PASSPHRASE_FILE";
/// Environment: a key file that unlocks the store (`--key-file`).
pub const ENV_KEY_FILE: &str = "BACKTRACK_KEY_FILE";
/// Environment: the new passphrase for `key passwd` (or `--new-passphrase-file`).
pub const ENV_NEW_PASSPHRASE: &str = "BACKTRACK_NEW_PASSPHRASE";

/// Magic that starts every sealed object (format version 1).
const MAGIC: &[u8; 4] = b"BTE1";
const NONCE_LEN: usize = 24;
/// Bytes a sealed object adds to its plaintext: magic, nonce, Poly1305 tag.
pub const OVERHEAD: usize = MAGIC.len() + NONCE_LEN + 16;
/// Namespaces whose object names are derived from content and are therefore encrypted.
const NAMED: [&str; 2] = [keys::BLOBS, keys::DICTS];
/// A key file must hold at least this many bytes (it is used without stretching).
const KEY_FILE_MIN: usize = 32;

/// Encryption failures. None of them names a secret.
#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    #[error("store {store} is encrypted: give its passphrase in {ENV_PASSPHRASE} or a file with --passphrase-file ({ENV_PASSPHRASE_FILE}), or its key file with --key-file")]
    Locked { store: String },
    #[error("the passphrase does not open store {store} (it has {slots} passphrase key(s)); nothing was read or written")]
    WrongPassphrase { store: String, slots: usize },
    #[error("key file {path} does not open store {store} (it has {slots} key-file key(s)); nothing was read or written")]
    KeyFileMismatch {
        store: String,
        path: String,
        slots: usize,
    },
    #[error("store {store} is not encrypted, but a passphrase or key file was given: unset {ENV_PASSPHRASE}/--passphrase-file/--key-file to use it as it is, or create an encrypted store with `backtrack init --encrypt` and `backtrack copy` into it")]
    NotEncrypted { store: String },
    #[error("store {store} is already encrypted with another key; nothing was changed")]
    OtherKey { store: String },
    #[error("store {store} already holds {objects} unencrypted object(s) (e.g. {example}); encryption applies to a new store: create one with `backtrack init --encrypt` and `backtrack copy` into it")]
    NotEmpty {
        store: String,
        objects: usize,
        example: String,
    },
    #[error("`init --encrypt` needs a passphrase: set {ENV_PASSPHRASE} or give --passphrase-file")]
    NoPassphrase,
    #[error("{what} is empty; choose a non-empty passphrase")]
    EmptyPassphrase { what: String },
    #[error("cannot read {what} {path}: {detail}")]
    ReadSecret {
        what: &'static str,
        path: String,
        detail: String,
    },
    #[error("key file {path} holds {len} bytes; a key file needs at least {KEY_FILE_MIN} (let `backtrack init --encrypt --key-file` or `key add-file` create one)")]
    ShortKeyFile { path: String, len: usize },
    #[error("{key} in store {store} is damaged ({detail}); the store's encryption settings cannot be read")]
    BadMetadata {
        store: String,
        key: String,
        detail: String,
    },
    #[error("store {store} is encrypted and {what} would hold its snapshots in plaintext: pass --decrypt to allow that, or copy into another encrypted store (`backtrack init --encrypt` it first)")]
    PlaintextOut { store: String, what: String },
    #[error("invalid Argon2 parameters: {0}")]
    Params(String),
    #[error("the system's random number generator failed: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Argon2id cost parameters, stored beside each passphrase wrapping so they can be raised
/// for new wrappings without breaking old ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// RFC 9106's second recommended option (64 MiB, 3 passes), single lane: a fraction of a
    /// second once per command on a laptop, costly for a guesser.
    fn default() -> Self {
        KdfParams {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

/// The secrets a command was given. `Debug` never prints them.
#[derive(Default, Clone)]
pub struct Secrets {
    passphrase: Option<Zeroizing<Vec<u8>>>,
    key_file: Option<(PathBuf, Zeroizing<Vec<u8>>)>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "<redacted>"),
            )
            .field("key_file", &self.key_file.as_ref().map(|(p, _)| p))
            .finish()
    }
}

fn read_secret_file(what: &'static str, path: &Path) -> Result<Zeroizing<Vec<u8>>, CryptError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| CryptError::ReadSecret {
            what,
            path: path.display().to_string(),
            detail: e.to_string(),
        })
}

/// A passphrase as given: one trailing newline (a file written by `echo`) is not part of it.
fn passphrase_bytes(
    what: String,
    mut bytes: Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<Vec<u8>>, CryptError> {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        return Err(CryptError::EmptyPassphrase { what });
    }
    Ok(bytes)
}

impl Secrets {
    /// Nothing given: the store must not be encrypted.
    pub fn none() -> Self {
        Secrets::default()
    }

    /// Whether anything was given.
    pub fn is_empty(&self) -> bool {
        self.passphrase.is_none() && self.key_file.is_none()
    }

    pub fn has_passphrase(&self) -> bool {
        self.passphrase.is_some()
    }

    /// The key file given, if any.
    pub fn key_file_path(&self) -> Option<&Path> {
        self.key_file.as_ref().map(|(p, _)| p.as_path())
    }

    /// The secrets from flags and the environment: `passphrase_file` (`--passphrase-file`,
    /// else `BACKTRACK_PASSPHRASE_FILE`) or `BACKTRACK_PASSPHRASE`; `key_file` (`--key-file`,
    /// else `BACKTRACK_KEY_FILE`). The passphrase is never a flag value: flags show in `ps`.
    pub fn from_env(
        passphrase_file: Option<&Path>,
        key_file: Option<&Path>,
    ) -> Result<Self, CryptError> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let passphrase = match passphrase_file
            .map(Path::to_path_buf)
            .or_else(|| var(ENV_PASSPHRASE_FILE).map(PathBuf::from))
        {
            Some(path) => Some(passphrase_bytes(
                format!("passphrase file {}", path.display()),
                read_secret_file("passphrase file", &path)?,
            )?),
            // Set but empty is "not given" (CI systems set unset secrets to "").
            None => match var(ENV_PASSPHRASE) {
                Some(v) => Some(passphrase_bytes(
                    ENV_PASSPHRASE.to_string(),
                    Zeroizing::new(v.into_encoded_bytes()),
                )?),
                None => None,
            },
        };
        let key_file = match key_file
            .map(Path::to_path_buf)
            .or_else(|| var(ENV_KEY_FILE).map(PathBuf::from))
        {
            Some(path) => {
                let bytes = read_secret_file("key file", &path)?;
                Some((path, bytes))
            }
            None => None,
        };
        Ok(Secrets {
            passphrase,
            key_file,
        })
    }

    /// Secrets from values already in memory (the functions read the passphrase from
    /// Secrets Manager; tests).
    pub fn with_passphrase(passphrase: &[u8]) -> Result<Self, CryptError> {
        Ok(Secrets {
            passphrase: Some(passphrase_bytes(
                "the passphrase".into(),
                Zeroizing::new(passphrase.to_vec()),
            )?),
            key_file: None,
        })
    }

    /// The same secrets with key file `path` (its bytes `contents`).
    pub fn and_key_file(mut self, path: PathBuf, contents: Vec<u8>) -> Self {
        self.key_file = Some((path, Zeroizing::new(contents)));
        self
    }
}

/// Fills `buf` from the operating system's generator.
fn random(buf: &mut [u8]) -> Result<(), CryptError> {
    getrandom::fill(buf).map_err(|e| CryptError::Random(e.to_string()))
}

/// Random bytes for a new key file.
pub fn new_key_file_contents() -> Result<Vec<u8>, CryptError> {
    let mut raw = Zeroizing::new([0u8; 32]);
    random(raw.as_mut())?;
    // Text, so it survives being pasted into a secret store.
    Ok(format!(
        "backtrack-key-file-v1:{}\n",
        base64::engine::general_purpose::STANDARD.encode(raw.as_ref())
    )
    .into_bytes())
}

/// The cleartext `encryption` object.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Config {
    version: u32,
    /// Object sealing.
    cipher: String,
    /// Name encryption of content-addressed objects.
    names: String,
    /// Subkey derivation from the repository key.
    subkeys: String,
    created_at: DateTime<Utc>,
}

const CIPHER: &str = "xchacha20poly1305";
const NAMES: &str = "aes-256-siv";
const SUBKEYS: &str = "hkdf-sha256";

/// What wraps a key slot's copy of the repository key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlotKind {
    /// A key from the passphrase by Argon2id.
    Passphrase,
    /// A key from a key file's bytes by HKDF-SHA256 (the file is random, so no stretching).
    KeyFile,
}

impl fmt::Display for SlotKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SlotKind::Passphrase => "passphrase",
            SlotKind::KeyFile => "key-file",
        })
    }
}

/// One wrapping of the repository key, stored at `keys/<id>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeySlot {
    pub version: u32,
    pub id: String,
    pub kind: SlotKind,
    pub created_at: DateTime<Utc>,
    /// Argon2id parameters (passphrase slots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argon2id: Option<KdfParams>,
    /// Base64 salt of the key derivation.
    pub salt: String,
    /// Base64 nonce of the wrapping.
    pub nonce: String,
    /// Base64 XChaCha20-Poly1305 ciphertext of the repository key.
    pub wrapped: String,
}

impl KeySlot {
    fn key(&self) -> String {
        format!("{KEY_SLOTS}{}", self.id)
    }

    /// What the wrapping is bound to: a slot's key and its parameters cannot be moved to
    /// another slot or weakened without failing authentication.
    fn aad(&self) -> Vec<u8> {
        let params = self
            .argon2id
            .map(|p| format!("{}:{}:{}", p.memory_kib, p.iterations, p.parallelism))
            .unwrap_or_default();
        format!(
            "backtrack key slot v{}\0{}\0{}\0{params}\0{}",
            self.version, self.id, self.kind, self.salt
        )
        .into_bytes()
    }

    fn salt_bytes(&self) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.salt)
            .ok()
    }

    /// The key-encryption key from `secret` (a passphrase or a key file's bytes).
    fn kek(&self, secret: &[u8]) -> Result<Zeroizing<[u8; 32]>, CryptError> {
        let salt = self
            .salt_bytes()
            .ok_or_else(|| CryptError::Params(format!("slot {} has a malformed salt", self.id)))?;
        let mut kek = Zeroizing::new([0u8; 32]);
        match (self.kind, self.argon2id) {
            (SlotKind::Passphrase, Some(p)) => {
                let params =
                    argon2::Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32))
                        .map_err(|e| CryptError::Params(e.to_string()))?;
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                    .hash_password_into(secret, &salt, kek.as_mut())
                    .map_err(|e| CryptError::Params(e.to_string()))?;
            }
            (SlotKind::Passphrase, None) => {
                return Err(CryptError::Params(format!(
                    "passphrase slot {} has no Argon2id parameters",
                    self.id
                )))
            }
            (SlotKind::KeyFile, _) => {
                hkdf::Hkdf::<sha2::Sha256>::new(Some(&salt), secret)
                    .expand(b"backtrack key file v1", kek.as_mut())
                    .map_err(|e| CryptError::Params(e.to_string()))?;
            }
        }
        Ok(kek)
    }

    /// Wraps `master` under `secret` in a new slot.
    fn create(
        kind: SlotKind,
        params: Option<KdfParams>,
        secret: &[u8],
        master: &[u8; 32],
    ) -> Result<KeySlot, CryptError> {
        let b64 = &base64::engine::general_purpose::STANDARD;
        let mut id = [0u8; 8];
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut id)?;
        random(&mut salt)?;
        random(&mut nonce)?;
        let mut slot = KeySlot {
            version: 1,
            id: hex::encode(id),
            kind,
            created_at: Utc::now(),
            argon2id: params,
            salt: b64.encode(salt),
            nonce: b64.encode(nonce),
            wrapped: String::new(),
        };
        let kek = slot.kek(secret)?;
        let aad = slot.aad();
        let wrapped = XChaCha20Poly1305::new(kek.as_ref().into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: master,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptError::Params("wrapping the key failed".into()))?;
        slot.wrapped = b64.encode(wrapped);
        Ok(slot)
    }

    /// The repository key, if `secret` opens this slot.
    fn unwrap_with(&self, secret: &[u8]) -> Result<Option<Zeroizing<[u8; 32]>>, CryptError> {
        let b64 = &base64::engine::general_purpose::STANDARD;
        let (Ok(nonce), Ok(wrapped)) = (b64.decode(&self.nonce), b64.decode(&self.wrapped)) else {
            return Ok(None);
        };
        if nonce.len() != NONCE_LEN {
            return Ok(None);
        }
        let kek = self.kek(secret)?;
        let aad = self.aad();
        let Ok(plain) = XChaCha20Poly1305::new(kek.as_ref().into()).decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &wrapped,
                aad: &aad,
            },
        ) else {
            return Ok(None);
        };
        let plain = Zeroizing::new(plain);
        let mut master = Zeroizing::new([0u8; 32]);
        if plain.len() != 32 {
            return Ok(None);
        }
        master.copy_from_slice(&plain);
        Ok(Some(master))
    }
}

/// The subkeys of one repository key: what seals objects, what encrypts their names, what
/// archive files' streams are sealed under, and the key's public name.
#[derive(Clone)]
pub struct RepoKey {
    seal: XChaCha20Poly1305,
    names: Zeroizing<[u8; 64]>,
    archive: Zeroizing<[u8; 32]>,
    id: String,
}

impl fmt::Debug for RepoKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RepoKey(<redacted>)")
    }
}

/// Why a sealed object did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("it is not an encrypted object (no envelope header)")]
    NotSealed,
    #[error("it fails authentication: its bytes were altered, or it was written under another name or by another store's key")]
    Tampered,
}

impl RepoKey {
    /// The subkeys of repository key `master`.
    pub fn derive(master: &[u8; 32]) -> RepoKey {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"backtrack repository key v1"), master);
        let mut seal = Zeroizing::new([0u8; 32]);
        let mut names = Zeroizing::new([0u8; 64]);
        let mut archive = Zeroizing::new([0u8; 32]);
        let mut id = [0u8; 16];
        // HKDF-SHA256 expands up to 8160 bytes: these lengths cannot fail.
        let _ = hk.expand(b"object sealing", seal.as_mut());
        let _ = hk.expand(b"object names", names.as_mut());
        let _ = hk.expand(b"archive streams", archive.as_mut());
        let _ = hk.expand(b"key id", &mut id);
        RepoKey {
            seal: XChaCha20Poly1305::new(seal.as_ref().into()),
            names,
            archive,
            id: hex::encode(id),
        }
    }

    /// The key's public name: equal for two stores exactly when they share the key.
    pub fn key_id(&self) -> &str {
        &self.id
    }

    /// The key of one archive file's stream: per file (its random `salt`), bound to the
    /// file's header (`header`, the SHA-256 of its magic and header lines).
    pub fn stream_key(&self, salt: &[u8], header: [u8; 32]) -> StreamKey {
        let mut key = Zeroizing::new([0u8; 32]);
        let _ = hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), self.archive.as_ref())
            .expand(b"backtrack archive stream v1", key.as_mut());
        StreamKey::new(&key, header)
    }

    fn aad(key: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(24 + key.len());
        aad.extend_from_slice(b"backtrack object v1\0");
        aad.extend_from_slice(key.as_bytes());
        aad
    }

    /// Seals `plain`, stored under (logical) `key`.
    pub fn seal(&self, key: &str, plain: &[u8]) -> Result<Vec<u8>, CryptError> {
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce)?;
        let aad = Self::aad(key);
        let sealed = self
            .seal
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptError::Params("sealing failed".into()))?;
        let mut out = Vec::with_capacity(OVERHEAD + plain.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`seal`](Self::seal) made for the same `key`.
    pub fn open(&self, key: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < OVERHEAD || &sealed[..MAGIC.len()] != MAGIC {
            return Err(OpenError::NotSealed);
        }
        let (nonce, body) = sealed[MAGIC.len()..].split_at(NONCE_LEN);
        let aad = Self::aad(key);
        self.seal
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::Tampered)
    }

    fn siv(&self) -> Aes256Siv {
        Aes256Siv::new(self.names.as_ref().into())
    }

    /// The stored name of logical `key`: content-addressed names are encrypted, the rest
    /// (manifests, jobs, plans: named by ids and scopes the catalog shows anyway) are not.
    pub fn name(&self, key: &str) -> String {
        let Some(ns) = NAMED.iter().find(|ns| key.starts_with(**ns)) else {
            return key.to_string();
        };
        let rest = &key[ns.len()..];
        // SIV needs no nonce and fails only for absurd lengths, which keys never reach.
        match self.siv().encrypt([ns.as_bytes()], rest.as_bytes()) {
            Ok(ct) => {
                let h = hex::encode(ct);
                format!("{ns}{}/{h}", &h[..2])
            }
            Err(_) => key.to_string(),
        }
    }

    /// The logical key of stored name `name`; `None` for a name under an encrypted namespace
    /// that this key did not make.
    pub fn unname(&self, name: &str) -> Option<String> {
        let Some(ns) = NAMED.iter().find(|ns| name.starts_with(**ns)) else {
            return Some(name.to_string());
        };
        let (fan, h) = name[ns.len()..].split_once('/')?;
        if h.get(..2) != Some(fan) {
            return None;
        }
        let ct = hex::decode(h).ok()?;
        let plain = self.siv().decrypt([ns.as_bytes()], &ct).ok()?;
        let rest = String::from_utf8(plain).ok()?;
        Some(format!("{ns}{rest}"))
    }
}

/// An [`ObjectStore`] that seals every object with a [`RepoKey`] before the backend below
/// sees it. The encryption metadata (`encryption`, `keys/`) is not visible through it.
#[derive(Debug)]
pub struct EncryptedStore {
    inner: Arc<dyn ObjectStore>,
    key: RepoKey,
    /// The key slots it was opened with (an encrypted export carries them).
    slots: Vec<KeySlot>,
}

fn is_metadata(key: &str) -> bool {
    key == CONFIG_KEY || key.starts_with(KEY_SLOTS)
}

impl EncryptedStore {
    pub fn new(inner: Arc<dyn ObjectStore>, key: RepoKey, slots: Vec<KeySlot>) -> Self {
        EncryptedStore { inner, key, slots }
    }

    /// The repository key.
    pub fn key(&self) -> &RepoKey {
        &self.key
    }

    /// The key slots as they were when the store was opened.
    pub fn slots(&self) -> &[KeySlot] {
        &self.slots
    }

    /// The header `encryption` of an archive file sealed under this store's key, with a new
    /// random salt.
    pub fn archive_encryption(&self) -> Result<ArchiveEncryption, CryptError> {
        let mut salt = [0u8; 32];
        random(&mut salt)?;
        Ok(ArchiveEncryption {
            scheme: stream::SCHEME.into(),
            key_id: self.key.key_id().to_string(),
            salt: base64::engine::general_purpose::STANDARD.encode(salt),
            chunk_bytes: stream::CHUNK as u32,
            slots: self.slots.clone(),
        })
    }

    /// The backend below, for tests that inspect what it holds.
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    fn seal(&self, key: &str, bytes: &[u8]) -> Result<Bytes, StoreError> {
        crate::store::validate_key(key)?;
        if is_metadata(key) {
            return Err(StoreError::InvalidKey {
                key: key.to_string(),
                reason: "reserved for the store's encryption keys",
            });
        }
        self.key
            .seal(key, bytes)
            .map(Bytes::from)
            .map_err(|e| StoreError::Io {
                store: self.inner.location(),
                key: key.to_string(),
                detail: e.to_string(),
            })
    }

    /// Errors of the backend name the logical key, not the stored name.
    fn rename_err(&self, key: &str, e: StoreError) -> StoreError {
        match e {
            StoreError::NotFound { store, .. } => StoreError::NotFound {
                store,
                key: key.to_string(),
            },
            StoreError::Io { store, detail, .. } => StoreError::Io {
                store,
                key: key.to_string(),
                detail,
            },
            other => other,
        }
    }
}

#[async_trait]
impl ObjectStore for EncryptedStore {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn is_encrypted(&self) -> bool {
        true
    }

    fn encryption(&self) -> Option<&EncryptedStore> {
        Some(self)
    }

    async fn put(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        let sealed = self.seal(key, &bytes)?;
        let name = self.key.name(key);
        self.inner
            .put(&name, sealed)
            .await
            .map_err(|e| self.rename_err(key, e))
    }

    async fn put_deferred(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        let sealed = self.seal(key, &bytes)?;
        let name = self.key.name(key);
        self.inner
            .put_deferred(&name, sealed)
            .await
            .map_err(|e| self.rename_err(key, e))
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        crate::store::validate_key(key)?;
        if is_metadata(key) {
            return Err(StoreError::NotFound {
                store: self.inner.location(),
                key: key.to_string(),
            });
        }
        let name = self.key.name(key);
        let sealed = self
            .inner
            .get(&name)
            .await
            .map_err(|e| self.rename_err(key, e))?;
        self.key
            .open(key, &sealed)
            .map(Bytes::from)
            .map_err(|e| StoreError::Corrupt {
                store: self.inner.location(),
                key: key.to_string(),
                // The backend's name too: that is the object an operator can find.
                detail: match name == key {
                    true => e.to_string(),
                    false => format!("{e} (stored as {name})"),
                },
            })
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        crate::store::validate_key(key)?;
        if is_metadata(key) {
            return Ok(false);
        }
        self.inner.exists(&self.key.name(key)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        crate::store::validate_prefix(prefix)?;
        let mut out = Vec::new();
        // Encrypted names carry no order of their logical keys, so a namespace the prefix
        // reaches into is listed whole and filtered after the names are decrypted.
        for ns in NAMED {
            if ns.starts_with(prefix) || prefix.starts_with(ns) {
                for o in self.inner.list(ns).await? {
                    if let Some(key) = self.key.unname(&o.key) {
                        if key.starts_with(prefix) {
                            out.push(ObjectInfo {
                                key,
                                size: o.size.saturating_sub(OVERHEAD as u64),
                                modified: o.modified,
                            });
                        }
                    }
                }
            }
        }
        if !NAMED.iter().any(|ns| prefix.starts_with(ns)) {
            for o in self.inner.list(prefix).await? {
                if NAMED.iter().any(|ns| o.key.starts_with(ns)) || is_metadata(&o.key) {
                    continue;
                }
                out.push(ObjectInfo {
                    size: o.size.saturating_sub(OVERHEAD as u64),
                    ..o
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        crate::store::validate_key(key)?;
        if is_metadata(key) {
            return Ok(());
        }
        self.inner.delete(&self.key.name(key)).await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        let names: Vec<String> = keys
            .iter()
            .filter(|k| !is_metadata(k))
            .map(|k| self.key.name(k))
            .collect();
        self.inner.delete_many(&names).await
    }

    async fn compact(&self, holder: &str) -> Result<Option<String>, StoreError> {
        self.inner.compact(holder).await
    }

    async fn usage(&self) -> Result<Option<Usage>, StoreError> {
        self.inner.usage().await
    }
}

/// Whether `store` is encrypted (holds the `encryption` object).
async fn read_config(store: &dyn ObjectStore) -> Result<Option<Config>, CryptError> {
    match store.get(CONFIG_KEY).await {
        Ok(bytes) => {
            let config: Config =
                serde_json::from_slice(&bytes).map_err(|e| CryptError::BadMetadata {
                    store: store.location(),
                    key: CONFIG_KEY.into(),
                    detail: e.to_string(),
                })?;
            if config.version != 1
                || config.cipher != CIPHER
                || config.names != NAMES
                || config.subkeys != SUBKEYS
            {
                return Err(CryptError::BadMetadata {
                    store: store.location(),
                    key: CONFIG_KEY.into(),
                    detail: format!(
                        "version {} with {}/{}/{} is not one this backtrack reads; upgrade backtrack",
                        config.version, config.cipher, config.names, config.subkeys
                    ),
                });
            }
            Ok(Some(config))
        }
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The store's key slots.
pub async fn key_slots(store: &dyn ObjectStore) -> Result<Vec<KeySlot>, CryptError> {
    let mut slots = Vec::new();
    for o in store.list(KEY_SLOTS).await? {
        let bytes = store.get(&o.key).await?;
        let slot: KeySlot =
            serde_json::from_slice(&bytes).map_err(|e| CryptError::BadMetadata {
                store: store.location(),
                key: o.key.clone(),
                detail: e.to_string(),
            })?;
        if slot.key() != o.key {
            return Err(CryptError::BadMetadata {
                store: store.location(),
                key: o.key.clone(),
                detail: format!("it names slot {}", slot.id),
            });
        }
        slots.push(slot);
    }
    Ok(slots)
}

/// Tries `secret` on every slot of `kind`, collecting the key and the slots it opens;
/// returns how many slots of that kind there are.
fn try_slots(
    store: &str,
    slots: &[KeySlot],
    kind: SlotKind,
    secret: &[u8],
    master: &mut Option<Zeroizing<[u8; 32]>>,
    opened: &mut Vec<String>,
) -> Result<usize, CryptError> {
    let mut n = 0;
    for slot in slots.iter().filter(|s| s.kind == kind) {
        n += 1;
        if let Some(m) = slot.unwrap_with(secret)? {
            if master
                .as_ref()
                .is_some_and(|have| have.as_ref() != m.as_ref())
            {
                return Err(CryptError::BadMetadata {
                    store: store.to_string(),
                    key: slot.key(),
                    detail: "it wraps another repository key than the store's other slots".into(),
                });
            }
            *master = Some(m);
            opened.push(slot.id.clone());
        }
    }
    Ok(n)
}

/// The repository key that `secrets` open in `slots`, with the slots that opened it.
fn unlock_slots(
    store: &str,
    slots: &[KeySlot],
    secrets: &Secrets,
) -> Result<(Zeroizing<[u8; 32]>, Vec<String>), CryptError> {
    if secrets.is_empty() {
        return Err(CryptError::Locked {
            store: store.to_string(),
        });
    }
    let mut master: Option<Zeroizing<[u8; 32]>> = None;
    let mut opened = Vec::new();
    // The key file first: no Argon2 to pay when it opens the store.
    if let Some((path, bytes)) = &secrets.key_file {
        let n = try_slots(
            store,
            slots,
            SlotKind::KeyFile,
            bytes,
            &mut master,
            &mut opened,
        )?;
        if opened.is_empty() {
            return Err(CryptError::KeyFileMismatch {
                store: store.to_string(),
                path: path.display().to_string(),
                slots: n,
            });
        }
    }
    if let Some(pass) = &secrets.passphrase {
        let before = opened.len();
        let n = try_slots(
            store,
            slots,
            SlotKind::Passphrase,
            pass,
            &mut master,
            &mut opened,
        )?;
        if opened.len() == before {
            return Err(CryptError::WrongPassphrase {
                store: store.to_string(),
                slots: n,
            });
        }
    }
    match master {
        Some(m) => Ok((m, opened)),
        None => Err(CryptError::Locked {
            store: store.to_string(),
        }),
    }
}

/// Opens `store` as it is: an encrypted store through an [`EncryptedStore`] unlocked with
/// `secrets`, a plain one unchanged. Secrets given for a plain store are an error (the
/// user believes it encrypted: writing plaintext into it would be the accident), unless
/// `lenient` (a command between two stores, one of which may be plain).
pub async fn open(
    store: Arc<dyn ObjectStore>,
    secrets: &Secrets,
    lenient: bool,
) -> Result<Arc<dyn ObjectStore>, CryptError> {
    match read_config(&*store).await? {
        None if secrets.is_empty() || lenient => Ok(store),
        None => Err(CryptError::NotEncrypted {
            store: store.location(),
        }),
        Some(_) => {
            let slots = key_slots(&*store).await?;
            let (master, _) = unlock_slots(&store.location(), &slots, secrets)?;
            Ok(Arc::new(EncryptedStore::new(
                store,
                RepoKey::derive(&master),
                slots,
            )))
        }
    }
}

/// The rule for anything that takes snapshots out of an encrypted store into something that
/// is not (an `export` archive, a `copy` into an unencrypted store): refused unless the user
/// asked for plaintext (`--decrypt`), so content never leaves encrypted by accident.
pub fn check_plaintext_out(
    from: &dyn ObjectStore,
    to_encrypted: bool,
    decrypt: bool,
    what: &str,
) -> Result<(), CryptError> {
    if from.is_encrypted() && !to_encrypted && !decrypt {
        return Err(CryptError::PlaintextOut {
            store: from.location(),
            what: what.to_string(),
        });
    }
    Ok(())
}

/// What [`init`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitOutcome {
    Created,
    /// The store was already encrypted and the secrets open it.
    Found,
}

/// Makes `store` encrypted: a new random repository key wrapped by the passphrase (Argon2id
/// with `params`) and, if given, the key file. The `encryption` object is written last, so
/// an interrupted init leaves a store that is still plain (its orphan key slots are
/// replaced by the next init). An already-encrypted store is `Found` if the secrets open it.
pub async fn init(
    store: &dyn ObjectStore,
    secrets: &Secrets,
    params: KdfParams,
) -> Result<InitOutcome, CryptError> {
    let location = store.location();
    let Some(passphrase) = &secrets.passphrase else {
        return Err(CryptError::NoPassphrase);
    };
    if read_config(store).await?.is_some() {
        let slots = key_slots(store).await?;
        return match unlock_slots(&location, &slots, secrets) {
            Ok(_) => Ok(InitOutcome::Found),
            Err(CryptError::WrongPassphrase { .. } | CryptError::KeyFileMismatch { .. }) => {
                Err(CryptError::OtherKey { store: location })
            }
            Err(e) => Err(e),
        };
    }
    check_empty(store).await?;
    if let Some((_, bytes)) = &secrets.key_file {
        check_key_file(secrets, bytes)?;
    }
    let mut master = Zeroizing::new([0u8; 32]);
    random(master.as_mut())?;
    let mut slots = vec![KeySlot::create(
        SlotKind::Passphrase,
        Some(params),
        passphrase,
        &master,
    )?];
    if let Some((_, bytes)) = &secrets.key_file {
        slots.push(KeySlot::create(SlotKind::KeyFile, None, bytes, &master)?);
    }
    write_keys(store, &slots).await?;
    Ok(InitOutcome::Created)
}

/// Refuses a store that holds objects already (encryption applies to a new store).
pub(crate) async fn check_empty(store: &dyn ObjectStore) -> Result<(), CryptError> {
    let mut objects = 0;
    let mut example = None;
    for prefix in [
        keys::BLOBS,
        keys::DICTS,
        keys::MANIFESTS,
        keys::JOBS,
        keys::PLANS,
    ] {
        let listed = store.list(prefix).await?;
        objects += listed.len();
        if example.is_none() {
            example = listed.into_iter().next().map(|o| o.key);
        }
    }
    match example {
        Some(example) => Err(CryptError::NotEmpty {
            store: store.location(),
            objects,
            example,
        }),
        None => Ok(()),
    }
}

/// Makes a plain, empty store encrypted under `slots`: the slots first (replacing leftovers
/// of an interrupted init), the `encryption` object last, so an interruption leaves a store
/// that is still plain.
async fn write_keys(store: &dyn ObjectStore, slots: &[KeySlot]) -> Result<(), CryptError> {
    let leftovers: Vec<String> = store
        .list(KEY_SLOTS)
        .await?
        .into_iter()
        .map(|o| o.key)
        .collect();
    store.delete_many(&leftovers).await?;
    for slot in slots {
        put_json(store, &slot.key(), slot).await?;
    }
    store.flush().await?;
    let config = Config {
        version: 1,
        cipher: CIPHER.into(),
        names: NAMES.into(),
        subkeys: SUBKEYS.into(),
        created_at: Utc::now(),
    };
    put_json(store, CONFIG_KEY, &config).await?;
    store.flush().await?;
    Ok(())
}

/// The repository key an encrypted archive file was sealed under, unwrapped from the key
/// slots its header carries with `secrets`; `file` names it in errors.
pub fn unlock_archive(
    file: &str,
    enc: &ArchiveEncryption,
    secrets: &Secrets,
) -> Result<RepoKey, CryptError> {
    if enc.scheme != stream::SCHEME {
        return Err(CryptError::BadMetadata {
            store: file.to_string(),
            key: "header".into(),
            detail: format!(
                "its encryption scheme {:?} is not one this backtrack reads; upgrade backtrack",
                enc.scheme
            ),
        });
    }
    let (master, _) = unlock_slots(file, &enc.slots, secrets)?;
    let key = RepoKey::derive(&master);
    if key.key_id() != enc.key_id {
        return Err(CryptError::BadMetadata {
            store: file.to_string(),
            key: "header".into(),
            detail: "its key slots do not unwrap the key it names: the file was altered".into(),
        });
    }
    Ok(key)
}

/// Makes the plain, empty `store` encrypted with the key an archive file carries (its key
/// slots, so the same passphrases and key files open it), and returns the store through its
/// encryption layer: importing an encrypted archive into a new store recreates the store it
/// came from.
pub async fn adopt(
    store: Arc<dyn ObjectStore>,
    key: RepoKey,
    slots: &[KeySlot],
) -> Result<Arc<dyn ObjectStore>, CryptError> {
    if read_config(&*store).await?.is_some() {
        return Err(CryptError::OtherKey {
            store: store.location(),
        });
    }
    check_empty(&*store).await?;
    write_keys(&*store, slots).await?;
    Ok(Arc::new(EncryptedStore::new(store, key, slots.to_vec())))
}

fn check_key_file(secrets: &Secrets, bytes: &[u8]) -> Result<(), CryptError> {
    if bytes.len() < KEY_FILE_MIN {
        return Err(CryptError::ShortKeyFile {
            path: secrets
                .key_file_path()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            len: bytes.len(),
        });
    }
    Ok(())
}

async fn put_json<T: Serialize>(
    store: &dyn ObjectStore,
    key: &str,
    value: &T,
) -> Result<(), CryptError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| CryptError::BadMetadata {
        store: store.location(),
        key: key.into(),
        detail: e.to_string(),
    })?;
    store.put(key, Bytes::from(bytes)).await?;
    Ok(())
}

/// A change to the store's key slots (the repository key itself never changes).
#[derive(Debug, Clone)]
pub enum KeyChange {
    /// Replace the passphrase slot(s) that `secrets` open with one for `new` (`key passwd`).
    Passwd {
        new: Zeroizing<Vec<u8>>,
        params: KdfParams,
    },
    /// Add a slot for key file `bytes` (`key add-file`).
    AddKeyFile { bytes: Zeroizing<Vec<u8>> },
    /// Remove slot `id` (`key remove`); the last slot that opens the store stays.
    Remove { id: String },
}

/// Applies `change` to the encrypted `store` after unlocking it with `secrets`. New slots
/// are written before old ones are removed, so an interruption leaves both working.
/// Returns the slots as they are after the change.
pub async fn change_keys(
    store: &dyn ObjectStore,
    secrets: &Secrets,
    change: KeyChange,
) -> Result<Vec<KeySlot>, CryptError> {
    let location = store.location();
    if read_config(store).await?.is_none() {
        return Err(CryptError::BadMetadata {
            store: location,
            key: CONFIG_KEY.into(),
            detail: "the store is not encrypted (create an encrypted one with `backtrack init --encrypt`)".into(),
        });
    }
    let slots = key_slots(store).await?;
    let (master, opened) = unlock_slots(&location, &slots, secrets)?;
    match change {
        KeyChange::Passwd { new, params } => {
            let new = passphrase_bytes("the new passphrase".into(), new)?;
            let slot = KeySlot::create(SlotKind::Passphrase, Some(params), &new, &master)?;
            put_json(store, &slot.key(), &slot).await?;
            store.flush().await?;
            let old: Vec<String> = slots
                .iter()
                .filter(|s| s.kind == SlotKind::Passphrase && opened.contains(&s.id))
                .map(KeySlot::key)
                .collect();
            store.delete_many(&old).await?;
        }
        KeyChange::AddKeyFile { bytes } => {
            check_key_file(secrets, &bytes)?;
            let slot = KeySlot::create(SlotKind::KeyFile, None, &bytes, &master)?;
            put_json(store, &slot.key(), &slot).await?;
            store.flush().await?;
        }
        KeyChange::Remove { id } => {
            let Some(slot) = slots.iter().find(|s| s.id == id) else {
                return Err(CryptError::BadMetadata {
                    store: location,
                    key: format!("{KEY_SLOTS}{id}"),
                    detail: "no such key slot (see `backtrack key list`)".into(),
                });
            };
            if slots.len() == 1 {
                return Err(CryptError::BadMetadata {
                    store: location,
                    key: slot.key(),
                    detail: "it is the store's only key; add another before removing it".into(),
                });
            }
            store.delete(&slot.key()).await?;
        }
    }
    key_slots(store).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn key(byte: u8) -> RepoKey {
        RepoKey::derive(&[byte; 32])
    }

    fn fast() -> KdfParams {
        KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn envelope_round_trips_and_is_randomized() {
        let k = key(1);
        let a = k.seal("blobs/ab/cd", b"secret title").unwrap();
        let b = k.seal("blobs/ab/cd", b"secret title").unwrap();
        assert_ne!(a, b, "random nonces");
        assert_eq!(a.len(), b"secret title".len() + OVERHEAD);
        assert!(!a.windows(6).any(|w| w == b"secret"));
        assert_eq!(k.open("blobs/ab/cd", &a).unwrap(), b"secret title");
        assert_eq!(k.open("blobs/ab/cd", &b).unwrap(), b"secret title");
    }

    #[test]
    fn envelope_refuses_wrong_key_tamper_and_other_name() {
        let k = key(1);
        let sealed = k.seal("manifests/s/1", b"payload").unwrap();
        assert_eq!(
            key(2).open("manifests/s/1", &sealed),
            Err(OpenError::Tampered)
        );
        assert_eq!(k.open("manifests/s/2", &sealed), Err(OpenError::Tampered));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(k.open("manifests/s/1", &bad).is_err(), "flip at {i}");
        }
        assert_eq!(k.open("manifests/s/1", b"zstd"), Err(OpenError::NotSealed));
        assert_eq!(
            k.open("manifests/s/1", &sealed[..sealed.len() - 1]),
            Err(OpenError::Tampered)
        );
    }

    #[test]
    fn names_are_keyed_reversible_and_only_for_content_addresses() {
        let blob = format!("blobs/ab/{}", "ab".repeat(32));
        let (a, b) = (key(1), key(2));
        let na = a.name(&blob);
        assert_eq!(na, a.name(&blob), "deterministic: dedup works");
        assert_ne!(na, b.name(&blob), "another key names it differently");
        assert!(!na.contains(&"ab".repeat(32)));
        crate::store::validate_key(&na).unwrap();
        assert_eq!(a.unname(&na).as_deref(), Some(blob.as_str()));
        assert_eq!(b.unname(&na), None);
        assert_eq!(a.unname(&format!("blobs/x{}", &na[7..])), None);
        let dict = "dicts/0001abcd";
        assert_eq!(a.unname(&a.name(dict)).as_deref(), Some(dict));
        assert_eq!(a.name("manifests/s/1"), "manifests/s/1");
    }

    #[tokio::test]
    async fn encrypted_store_hides_content_and_names_and_reports_tamper() {
        let inner: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
        let secrets = Secrets::with_passphrase(b"correct horse").unwrap();
        assert_eq!(
            init(&*inner, &secrets, fast()).await.unwrap(),
            InitOutcome::Created
        );
        assert_eq!(
            init(&*inner, &secrets, fast()).await.unwrap(),
            InitOutcome::Found
        );
        let store = open(inner.clone(), &secrets, false).await.unwrap();
        assert!(store.is_encrypted());
        let blob = format!("blobs/12/{}", "12".repeat(32));
        store
            .put(&blob, Bytes::from_static(b"PLANTED-TITLE"))
            .await
            .unwrap();
        store
            .put("manifests/s/1", Bytes::from_static(b"PLANTED-MANIFEST"))
            .await
            .unwrap();
        assert_eq!(
            store.get(&blob).await.unwrap(),
            Bytes::from_static(b"PLANTED-TITLE")
        );
        let listed: Vec<String> = store
            .list("blobs/1")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(listed, vec![blob.clone()]);
        assert!(store.list("blobs/2").await.unwrap().is_empty());
        let all: Vec<String> = store
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(all, vec![blob.clone(), "manifests/s/1".to_string()]);
        for o in inner.list("").await.unwrap() {
            let bytes = inner.get(&o.key).await.unwrap();
            assert!(
                !bytes.windows(7).any(|w| w == b"PLANTED"),
                "{} leaks",
                o.key
            );
            assert!(!o.key.contains(&"12".repeat(32)), "{} leaks the id", o.key);
        }
        // Swap: the manifest's bytes under the blob's name fail authentication.
        let stored_blob = inner.list(keys::BLOBS).await.unwrap()[0].key.clone();
        let manifest = inner.get("manifests/s/1").await.unwrap();
        inner.delete(&stored_blob).await.unwrap();
        inner.put(&stored_blob, manifest).await.unwrap();
        let err = store.get(&blob).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { ref key, .. } if *key == blob),
            "{err}"
        );
        assert!(err.to_string().contains(&blob));
    }

    #[tokio::test]
    async fn secrets_are_checked() {
        let inner: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
        let good = Secrets::with_passphrase(b"right").unwrap();
        // A plain store with secrets is refused, without is fine.
        assert!(matches!(
            open(inner.clone(), &good, false).await,
            Err(CryptError::NotEncrypted { .. })
        ));
        assert!(!open(inner.clone(), &Secrets::none(), false)
            .await
            .unwrap()
            .is_encrypted());
        let file = new_key_file_contents().unwrap();
        let with_file = good.clone().and_key_file("k".into(), file.clone());
        init(&*inner, &with_file, fast()).await.unwrap();
        assert!(matches!(
            open(inner.clone(), &Secrets::none(), false).await,
            Err(CryptError::Locked { .. })
        ));
        let wrong = Secrets::with_passphrase(b"wrong").unwrap();
        assert!(matches!(
            open(inner.clone(), &wrong, false).await,
            Err(CryptError::WrongPassphrase { slots: 1, .. })
        ));
        let other_file = Secrets::none().and_key_file("o".into(), new_key_file_contents().unwrap());
        assert!(matches!(
            open(inner.clone(), &other_file, false).await,
            Err(CryptError::KeyFileMismatch { .. })
        ));
        let by_file = Secrets::none().and_key_file("k".into(), file);
        let a = open(inner.clone(), &by_file, false).await.unwrap();
        let b = open(inner.clone(), &good, false).await.unwrap();
        a.put("manifests/x/1", Bytes::from_static(b"same key"))
            .await
            .unwrap();
        assert_eq!(
            b.get("manifests/x/1").await.unwrap(),
            Bytes::from_static(b"same key")
        );
        // passwd: old refused, new works, data still readable.
        let new = Zeroizing::new(b"new one".to_vec());
        change_keys(
            &*inner,
            &good,
            KeyChange::Passwd {
                new,
                params: fast(),
            },
        )
        .await
        .unwrap();
        assert!(matches!(
            open(inner.clone(), &good, false).await,
            Err(CryptError::WrongPassphrase { .. })
        ));
        let renewed = open(
            inner.clone(),
            &Secrets::with_passphrase(b"new one").unwrap(),
            false,
        )
        .await
        .unwrap();
        assert_eq!(
            renewed.get("manifests/x/1").await.unwrap(),
            Bytes::from_static(b"same key")
        );
        assert_eq!(key_slots(&*inner).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn init_refuses_a_store_with_plain_objects() {
        let inner: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
        inner
            .put("manifests/s/1", Bytes::from_static(b"plain"))
            .await
            .unwrap();
        let secrets = Secrets::with_passphrase(b"p").unwrap();
        let err = init(&*inner, &secrets, fast()).await.unwrap_err();
        assert!(
            matches!(err, CryptError::NotEmpty { objects: 1, .. }),
            "{err}"
        );
        assert!(!inner.exists(CONFIG_KEY).await.unwrap());
        assert!(inner.list(KEY_SLOTS).await.unwrap().is_empty());
    }
}
