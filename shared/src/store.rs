//! Object storage: where blobs and manifests live. Write-once by contract.
//!
//! Implementations: [`LocalStore`] (a folder; the embedded default), [`GitStore`] (a branch of
//! the GitHub repository itself, through the Git Data API), `S3Store` (feature `aws`) and
//! [`MemoryStore`] (unit tests). Every object is written once and never modified, so `put` is
//! create-if-absent: writing a key that exists is a successful no-op that reports
//! [`PutOutcome::Existed`].
//! Bulk writers use [`ObjectStore::put_deferred`] and one [`ObjectStore::flush`] instead,
//! which lets a store batch durability.

mod git;
mod local;
mod memory;
#[cfg(feature = "aws")]
mod s3;

use std::fmt::Debug;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

pub(crate) use git::store_error as git_store_error;
pub use git::GitStore;
pub use local::LocalStore;
pub use memory::MemoryStore;
#[cfg(feature = "aws")]
pub use s3::{BucketSetup, S3Store};

/// What `put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Written,
    /// The key already held an object; nothing was written.
    Existed,
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub modified: Option<DateTime<Utc>>,
}

/// What a store holds, for reports (see [`ObjectStore::usage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Objects stored.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Bytes the store's medium holds for them and its own bookkeeping (the git store: the
    /// files of the branch's tip, objects as base64 text, and the catalog).
    pub stored: u64,
}

/// Store failures. Messages name the store location and the key, and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{key} is missing from store {store}")]
    NotFound { store: String, key: String },
    #[error("permission denied on store {store} ({detail}); fix the folder's permissions or the credentials, or choose another with --store")]
    PermissionDenied { store: String, detail: String },
    #[error("store {store} does not exist ({detail}); create it (`backtrack init`) or choose another with --store")]
    Missing { store: String, detail: String },
    #[error("store {store} is throttling requests ({detail}); retry later")]
    Throttled { store: String, detail: String },
    #[error("store {store} failed on {key}: {detail}")]
    Io {
        store: String,
        key: String,
        detail: String,
    },
    /// An object that fails its integrity check below the hash checks (an encrypted store's
    /// authentication): damage, like a missing object.
    #[error("{key} in store {store} is damaged: {detail}; run `backtrack verify` and restore it from another copy of the store")]
    Corrupt {
        store: String,
        key: String,
        detail: String,
    },
    #[error("invalid store key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
}

impl StoreError {
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Throttled { .. } | StoreError::Io { .. })
    }
}

/// A write-once key/value object store.
#[async_trait]
pub trait ObjectStore: Send + Sync + Debug {
    /// Where this store is, for messages: `file:///…`, `s3://bucket/prefix`, `memory:`.
    fn location(&self) -> String;

    /// Whether objects are encrypted before they reach the backend (see
    /// [`crate::crypt::EncryptedStore`]); only that wrapper says yes.
    fn is_encrypted(&self) -> bool {
        false
    }

    /// The encryption layer itself, when this store is one: its key and key slots (an
    /// export that stays encrypted needs both).
    fn encryption(&self) -> Option<&crate::crypt::EncryptedStore> {
        None
    }

    /// Creates `key` with `bytes` unless it exists. Once this returns `Written`, the object is
    /// durable and complete: readers never see a partial object.
    async fn put(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError>;

    /// Like [`put`](Self::put), but the object need only be durable and visible after the
    /// next [`flush`](Self::flush): a store may batch the durability work of many writes
    /// (the folder store makes a capture's thousands of blobs durable with one `syncfs`
    /// instead of one fsync each). Until then the object may be invisible to `get`,
    /// `exists` and `list`, and a crash may lose it — but never leaves its key naming lost
    /// or partial bytes. `Written` means "will exist after a successful flush".
    ///
    /// The default is a plain `put` (S3 and the memory store are durable per call).
    async fn put_deferred(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        self.put(key, bytes).await
    }

    /// Makes every deferred put so far durable and visible. Call it before writing anything
    /// that references those objects (a manifest). The default does nothing.
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError>;

    async fn exists(&self, key: &str) -> Result<bool, StoreError>;

    /// All objects whose key starts with `prefix`, sorted by key (byte order). The prefix is
    /// a raw string as on S3 (`blobs/a` matches `blobs/ab/…`); see [`validate_prefix`].
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError>;

    /// Removes `key`; removing a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Removes every key of `keys` (missing ones are fine). The default deletes them one by
    /// one; the git store makes one commit of them.
    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        for key in keys {
            self.delete(key).await?;
        }
        Ok(())
    }

    /// Called by garbage collection after its deletes, while it still holds the store
    /// exclusively: reclaims what deleting leaves behind in a store that keeps history (the
    /// git store replaces its branch with one commit of what is kept). Returns a sentence for
    /// the report, if there is something to say. The default does nothing.
    async fn compact(&self, _holder: &str) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    /// What the store holds, when it can tell at the cost of a listing it makes anyway (the
    /// git store: one tree listing); `None` for stores where that would mean listing a
    /// bucket. For `snapshot list`, which shows how far the store has grown.
    async fn usage(&self) -> Result<Option<Usage>, StoreError> {
        Ok(None)
    }
}

/// Keys are relative, `/`-separated, and never escape the store root.
///
/// Public so that every [`ObjectStore`] implementation, including those outside this crate,
/// rejects the same keys.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    let bad = |reason| {
        Err(StoreError::InvalidKey {
            key: key.to_string(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key.starts_with('/') || key.contains('\\') {
        return bad("must be relative with `/` separators");
    }
    if key
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return bad("has an empty, `.` or `..` segment");
    }
    Ok(())
}

/// A `list` prefix is raw (`blobs/a` matches `blobs/ab/…`, as on S3), so only its complete
/// segments — everything before the last `/` — must be valid key segments; empty lists all.
pub fn validate_prefix(prefix: &str) -> Result<(), StoreError> {
    let bad = |reason| {
        Err(StoreError::InvalidKey {
            key: prefix.to_string(),
            reason,
        })
    };
    if prefix.starts_with('/') || prefix.contains('\\') {
        return bad("must be relative with `/` separators");
    }
    if let Some((dirs, _partial)) = prefix.rsplit_once('/') {
        if dirs
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return bad("has an empty, `.` or `..` segment");
        }
    }
    Ok(())
}
