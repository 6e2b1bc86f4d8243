//! [`MemoryStore`]: the in-memory twin of the object store, for unit tests and dry runs.
//!
//! It keeps the same contract as the real stores (create-if-absent `put`, validated keys,
//! sorted listings) so code tested against it behaves the same on a folder or on S3.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{validate_key, validate_prefix, ObjectInfo, ObjectStore, PutOutcome, StoreError};

/// Objects held in a map, keyed like S3. Lives as long as the test or command that made it;
/// nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    // A std Mutex, not tokio's: every critical section is a few map operations that never
    // await, so the guard is never held across a suspension point and cannot stall the runtime.
    // A BTreeMap gives sorted `list` output for free.
    objects: Mutex<BTreeMap<String, (Bytes, DateTime<Utc>)>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn objects(&self) -> MutexGuard<'_, BTreeMap<String, (Bytes, DateTime<Utc>)>> {
        // A panic while holding the guard cannot leave the map half-updated (every mutation is
        // a single insert or remove), so a poisoned lock is safe to keep using.
        self.objects
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    fn location(&self) -> String {
        "memory:".into()
    }

    async fn put(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        validate_key(key)?;
        let mut objects = self.objects();
        if objects.contains_key(key) {
            return Ok(PutOutcome::Existed);
        }
        objects.insert(key.to_string(), (bytes, Utc::now()));
        Ok(PutOutcome::Written)
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        validate_key(key)?;
        self.objects()
            .get(key)
            .map(|(bytes, _)| bytes.clone())
            .ok_or_else(|| StoreError::NotFound {
                store: self.location(),
                key: key.to_string(),
            })
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        validate_key(key)?;
        Ok(self.objects().contains_key(key))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        validate_prefix(prefix)?;
        let objects = self.objects();
        Ok(objects
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, (bytes, modified))| ObjectInfo {
                key: key.clone(),
                size: bytes.len() as u64,
                modified: Some(*modified),
            })
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        self.objects().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn conforms_to_the_object_store_contract() {
        crate::conformance::object_store(Arc::new(MemoryStore::new())).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn suite_runs_share_one_backend() {
        // The suite must not assume an empty backend: run it twice at once, then again.
        let shared = Arc::new(MemoryStore::new());
        tokio::join!(
            crate::conformance::object_store(shared.clone()),
            crate::conformance::object_store(shared.clone()),
        );
        crate::conformance::object_store(shared).await;
    }
}
