//! STUB — replaced by the storage work.
use async_trait::async_trait;
use bytes::Bytes;

use super::{ObjectInfo, ObjectStore, PutOutcome, StoreError};

#[derive(Debug, Default)]
pub struct MemoryStore {}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    fn location(&self) -> String {
        "memory:".into()
    }
    async fn put(&self, key: &str, _bytes: Bytes) -> Result<PutOutcome, StoreError> {
        Err(StoreError::InvalidKey {
            key: key.into(),
            reason: "stub",
        })
    }
    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        Err(StoreError::InvalidKey {
            key: key.into(),
            reason: "stub",
        })
    }
    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        Err(StoreError::InvalidKey {
            key: key.into(),
            reason: "stub",
        })
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        Err(StoreError::InvalidKey {
            key: prefix.into(),
            reason: "stub",
        })
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        Err(StoreError::InvalidKey {
            key: key.into(),
            reason: "stub",
        })
    }
}
