//! [`GitStore`]: objects as files of a branch of the repository itself (`git://BRANCH`),
//! written through GitHub's Git Data API. See [`crate::git`] for the branch's layout and how
//! commits stay conflict-free.
//!
//! A `put` is a commit of its own (concurrent puts share one); a capture's thousands of blobs
//! go through `put_deferred` and become one commit at `flush`, their content inline in one or
//! a few tree requests — so the cost of a snapshot is a handful of requests, not one per
//! object. `get` of a write-once object uses the tip last seen and looks at the current tip
//! only when the key is not there (an object read that way may have been deleted since, never
//! changed); `exists`, `list` and every write decide on the current tip.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::{
    validate_key, validate_prefix, ObjectInfo, ObjectStore, PutOutcome, StoreError, Usage,
};
use crate::git::api::GitError;
use crate::git::branch::{Branch, BranchError, Squash, Txn};
use crate::git::layout;
use crate::git::object::{Entry, EntryKind};

/// Stored text above this size is split into parts (GitHub refuses blobs over 100 MB and
/// warns from 50 MB).
pub const PART_SIZE: usize = 40 * 1024 * 1024;

/// An object store in a branch of a GitHub repository.
#[derive(Debug)]
pub struct GitStore {
    branch: Arc<Branch>,
    /// Deferred puts waiting for `flush`: key → bytes.
    staged: Mutex<BTreeMap<String, Bytes>>,
    part_size: usize,
}

impl GitStore {
    pub fn new(branch: Arc<Branch>) -> GitStore {
        GitStore {
            branch,
            staged: Mutex::new(BTreeMap::new()),
            part_size: PART_SIZE,
        }
    }

    /// The same store, splitting stored text into parts of `bytes` (tests use a small size to
    /// exercise objects stored in parts).
    pub fn with_part_size(mut self, bytes: usize) -> GitStore {
        // Parts hold whole base64 quanta so each decodes on its own.
        self.part_size = (bytes / 4).max(1) * 4;
        self
    }

    pub fn branch(&self) -> &Arc<Branch> {
        &self.branch
    }

    fn staged(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Bytes>> {
        self.staged.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, key: &str, e: BranchError) -> StoreError {
        store_error(&self.branch.location(), key, e)
    }

    /// Stages object `key` in `txn` unless it exists: `Existed` or `Written`.
    async fn stage(
        txn: &mut Txn,
        key: &str,
        bytes: &[u8],
        part_size: usize,
    ) -> Result<PutOutcome, BranchError> {
        let path = layout::object_path(key);
        if let Some(e) = txn.entry(&path).await? {
            if e.kind.is_file() {
                return Ok(PutOutcome::Existed);
            }
            return Err(BranchError::Clash {
                path: key.to_string(),
                detail: "the store holds objects below this key".into(),
            });
        }
        let text = layout::encode(bytes);
        if text.len() <= part_size {
            txn.write(&path, text, EntryKind::File);
        } else {
            let parts: Vec<&[u8]> = text.as_bytes().chunks(part_size).collect();
            for (n, part) in parts.iter().enumerate() {
                let part = String::from_utf8_lossy(part).into_owned();
                txn.write(&layout::part_path(key, n), part, EntryKind::File);
            }
            txn.write(
                &path,
                layout::parts_index(bytes.len() as u64, parts.len()),
                EntryKind::Chunked,
            );
        }
        Ok(PutOutcome::Written)
    }

    /// Stages the deletion of object `key` (and of its parts) in `txn`.
    async fn unstage(txn: &mut Txn, key: &str) -> Result<(), BranchError> {
        let path = layout::object_path(key);
        match txn.entry(&path).await? {
            Some(e) if e.kind == EntryKind::Chunked => {
                if let Some(bytes) = txn.read(&path).await? {
                    if let Some((_, parts)) = layout::parse_parts_index(&bytes) {
                        for n in 0..parts {
                            txn.delete(&layout::part_path(key, n));
                        }
                    }
                }
                txn.delete(&path);
            }
            Some(e) if e.kind == EntryKind::File => txn.delete(&path),
            _ => {}
        }
        Ok(())
    }

    /// The object at `key` in the tip last seen, looking at the current tip when it is not
    /// there (write-once objects never change, so an older tip that has one is right).
    async fn find(&self, key: &str) -> Result<Option<(Entry, String)>, BranchError> {
        let path = layout::object_path(key);
        for fresh in [false, true] {
            let head = if fresh {
                self.branch.refresh().await?
            } else {
                self.branch.current().await?
            };
            if let Some(h) = head {
                if let Some(e) = self.branch.lookup(&h.tree, &path).await? {
                    if e.kind.is_file() {
                        return Ok(Some((e, h.tree)));
                    }
                }
            }
        }
        Ok(None)
    }

    async fn read(&self, key: &str, entry: &Entry, root: &str) -> Result<Vec<u8>, BranchError> {
        let corrupt = |detail: String| BranchError::Corrupt {
            path: layout::object_path(key),
            detail,
        };
        let text = self.branch.blob(&entry.oid).await?;
        if entry.kind == EntryKind::File {
            return layout::decode(&text).map_err(corrupt);
        }
        let (size, parts) = layout::parse_parts_index(&text)
            .ok_or_else(|| corrupt("an executable file that is not a parts index".into()))?;
        let mut joined = Vec::new();
        for n in 0..parts {
            let path = layout::part_path(key, n);
            let part = self
                .branch
                .lookup(root, &path)
                .await?
                .ok_or_else(|| corrupt(format!("part {path} is missing")))?;
            joined.extend_from_slice(&self.branch.blob(&part.oid).await?);
        }
        let bytes = layout::decode(&joined).map_err(corrupt)?;
        if bytes.len() as u64 != size {
            return Err(corrupt(format!(
                "its parts hold {} bytes, its index says {size}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// Deletes many objects in one commit (prune's garbage collection).
    pub async fn delete_keys(&self, keys: &[String]) -> Result<(), StoreError> {
        for key in keys {
            validate_key(key)?;
        }
        let keys: Arc<Vec<String>> = Arc::new(keys.to_vec());
        let message = format!("delete {} unreferenced object(s)", keys.len());
        let first = keys.first().cloned().unwrap_or_default();
        self.branch
            .commit(message, move |txn: &mut Txn| {
                let keys = keys.clone();
                Box::pin(async move {
                    for key in keys.iter() {
                        Self::unstage(txn, key).await?;
                    }
                    Ok(())
                })
            })
            .await
            .map_err(|e| self.error(&first, e))
    }
}

/// A branch failure as the store reports it: what to do about it included.
pub(crate) fn store_error(store: &str, key: &str, e: BranchError) -> StoreError {
    let store = store.to_string();
    match e {
        BranchError::Api(GitError::EmptyRepository) => StoreError::Missing {
            store,
            detail: "the repository has no commits yet, and GitHub's Git Data API cannot write to an empty repository: push a first commit (e.g. create a README on GitHub), then retry".into(),
        },
        BranchError::Api(GitError::Forbidden { message, .. }) => StoreError::PermissionDenied {
            store,
            detail: format!("{message}; the token needs write access to the repository's contents (in a workflow: `permissions: contents: write`)"),
        },
        BranchError::Api(GitError::Unauthorized) => StoreError::PermissionDenied {
            store,
            detail: "GitHub rejected the token (HTTP 401); set a valid GITHUB_TOKEN".into(),
        },
        BranchError::Api(GitError::NotFound { what }) => StoreError::Missing {
            store,
            detail: format!("{what} was not found: check the repository name, and that the token can see it"),
        },
        BranchError::Api(GitError::RateLimited { reset }) => StoreError::Throttled {
            store,
            detail: format!("GitHub's rate limit is exhausted until {reset}"),
        },
        other => StoreError::Io {
            store,
            key: key.to_string(),
            detail: other.to_string(),
        },
    }
}

#[async_trait]
impl ObjectStore for GitStore {
    fn location(&self) -> String {
        self.branch.location()
    }

    async fn put(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        validate_key(key)?;
        let part_size = self.part_size;
        let owned = key.to_string();
        self.branch
            .commit(format!("put {key}"), move |txn: &mut Txn| {
                let key = owned.clone();
                let bytes = bytes.clone();
                Box::pin(async move { Self::stage(txn, &key, &bytes, part_size).await })
            })
            .await
            .map_err(|e| self.error(key, e))
    }

    async fn put_deferred(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        validate_key(key)?;
        if self.staged().contains_key(key) {
            return Ok(PutOutcome::Existed);
        }
        // Checked against the tip last seen; `flush` decides again on the current tip.
        let path = layout::object_path(key);
        let exists = match self
            .branch
            .current()
            .await
            .map_err(|e| self.error(key, e))?
        {
            Some(h) => self
                .branch
                .lookup(&h.tree, &path)
                .await
                .map_err(|e| self.error(key, e))?
                .is_some(),
            None => false,
        };
        if exists {
            return Ok(PutOutcome::Existed);
        }
        Ok(match self.staged().insert(key.to_string(), bytes) {
            None => PutOutcome::Written,
            Some(_) => PutOutcome::Existed,
        })
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let staged = std::mem::take(&mut *self.staged());
        if staged.is_empty() {
            return Ok(());
        }
        let part_size = self.part_size;
        let first = staged.keys().next().cloned().unwrap_or_default();
        let staged = Arc::new(staged);
        let message = format!("add {} object(s)", staged.len());
        self.branch
            .commit(message, move |txn: &mut Txn| {
                let staged = staged.clone();
                Box::pin(async move {
                    for (key, bytes) in staged.iter() {
                        Self::stage(txn, key, bytes, part_size).await?;
                    }
                    Ok(())
                })
            })
            .await
            .map_err(|e| self.error(&first, e))
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        validate_key(key)?;
        match self.find(key).await.map_err(|e| self.error(key, e))? {
            None => Err(StoreError::NotFound {
                store: self.location(),
                key: key.to_string(),
            }),
            Some((entry, root)) => self
                .read(key, &entry, &root)
                .await
                .map(Bytes::from)
                .map_err(|e| self.error(key, e)),
        }
    }

    /// Always against the current tip (a deleted object must not be reported present).
    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        validate_key(key)?;
        let Some(head) = self
            .branch
            .refresh()
            .await
            .map_err(|e| self.error(key, e))?
        else {
            return Ok(false);
        };
        let entry = self
            .branch
            .lookup(&head.tree, &layout::object_path(key))
            .await
            .map_err(|e| self.error(key, e))?;
        Ok(entry.is_some_and(|e| e.kind.is_file()))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        validate_prefix(prefix)?;
        let Some(head) = self
            .branch
            .refresh()
            .await
            .map_err(|e| self.error(prefix, e))?
        else {
            return Ok(Vec::new());
        };
        let full = layout::object_path(prefix);
        let dir = full.rsplit_once('/').map_or("", |(d, _)| d);
        let files = self
            .branch
            .files_below(&head.tree, dir)
            .await
            .map_err(|e| self.error(prefix, e))?;
        let matching: Vec<(String, Entry)> = files
            .into_iter()
            .filter(|(path, _)| path.starts_with(&full))
            .collect();
        let branch = &self.branch;
        let mut out: Vec<ObjectInfo> = stream::iter(matching)
            .map(|(path, e)| async move {
                let key = layout::object_key(&path).unwrap_or(&path).to_string();
                let size = match e.kind {
                    EntryKind::Chunked => {
                        let index = branch.blob(&e.oid).await?;
                        layout::parse_parts_index(&index).map_or(0, |(s, _)| s)
                    }
                    _ => layout::decoded_len(e.size.unwrap_or(0)),
                };
                Ok::<_, BranchError>(ObjectInfo {
                    key,
                    size,
                    // Git keeps no time per file; GC's grace period does not apply here
                    // (the collect lease already keeps captures out).
                    modified: None,
                })
            })
            .buffer_unordered(8)
            .try_collect()
            .await
            .map_err(|e| self.error(prefix, e))?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        let owned = key.to_string();
        self.branch
            .commit(format!("delete {key}"), move |txn: &mut Txn| {
                let key = owned.clone();
                Box::pin(async move { Self::unstage(txn, &key).await })
            })
            .await
            .map_err(|e| self.error(key, e))
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        self.delete_keys(keys).await
    }

    async fn usage(&self) -> Result<Option<Usage>, StoreError> {
        let Some(head) = self.branch.refresh().await.map_err(|e| self.error("", e))? else {
            return Ok(Some(Usage::default()));
        };
        let files = self
            .branch
            .files_below(&head.tree, "")
            .await
            .map_err(|e| self.error("", e))?;
        let mut usage = Usage::default();
        for (path, e) in &files {
            let text = e.size.unwrap_or(0);
            usage.stored += text;
            if layout::object_key(path).is_some() {
                usage.objects += 1;
                if e.kind == EntryKind::File {
                    usage.bytes += layout::decoded_len(text);
                }
            } else if path.starts_with(layout::PARTS) {
                usage.bytes += layout::decoded_len(text);
            }
        }
        Ok(Some(usage))
    }

    async fn compact(&self, holder: &str) -> Result<Option<String>, StoreError> {
        match self
            .branch
            .squash(holder)
            .await
            .map_err(|e| self.error(layout::REWRITE, e))?
        {
            Squash::Done { commit } => Ok(Some(format!(
                "the archive branch {} was replaced by one commit ({}) holding what is kept; deleted data left its history",
                self.branch.name(),
                &commit[..12.min(commit.len())]
            ))),
            Squash::Kept(why) => Ok(Some(format!(
                "the archive branch's history was kept ({why}): deleted snapshots are gone from the branch, but earlier commits still hold them"
            ))),
        }
    }
}
