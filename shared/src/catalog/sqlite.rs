//! STUB — replaced by the storage work.
use async_trait::async_trait;

use super::*;

fn stub() -> CatalogError {
    CatalogError::Unavailable {
        catalog: "stub".into(),
        detail: "stub".into(),
    }
}

#[derive(Debug)]
pub struct SqliteCatalog {
    path: std::path::PathBuf,
}

impl SqliteCatalog {
    pub fn open(path: &std::path::Path) -> Result<Self, CatalogError> {
        Ok(SqliteCatalog {
            path: path.to_path_buf(),
        })
    }
}

#[async_trait]
impl Catalog for SqliteCatalog {
    fn location(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    async fn create(&self, _e: &SnapshotEntry) -> Result<(), CatalogError> {
        Err(stub())
    }
    async fn get(&self, _id: &SnapshotId) -> Result<Option<SnapshotEntry>, CatalogError> {
        Err(stub())
    }
    async fn list(&self, _s: Option<&Scope>) -> Result<Vec<SnapshotEntry>, CatalogError> {
        Err(stub())
    }
    async fn finish(&self, _id: &SnapshotId, _f: &Finish) -> Result<(), CatalogError> {
        Err(stub())
    }
    async fn set_pinned(&self, _id: &SnapshotId, _p: bool) -> Result<(), CatalogError> {
        Err(stub())
    }
    async fn delete(&self, _id: &SnapshotId) -> Result<(), CatalogError> {
        Err(stub())
    }
    async fn lock(&self, _l: &LockInfo) -> Result<(), CatalogError> {
        Err(stub())
    }
    async fn renew_lock(&self, _l: &LockInfo) -> Result<(), CatalogError> {
        Err(stub())
    }
    async fn unlock(&self, _s: &Scope, _t: &str) -> Result<(), CatalogError> {
        Err(stub())
    }
    async fn current_lock(&self, _s: &Scope) -> Result<Option<LockInfo>, CatalogError> {
        Err(stub())
    }
    async fn create_job(&self, _j: &JobEntry) -> Result<(), CatalogError> {
        Err(stub())
    }
    async fn get_job(&self, _id: &JobId) -> Result<Option<JobEntry>, CatalogError> {
        Err(stub())
    }
    async fn list_jobs(&self, _s: &Scope) -> Result<Vec<JobEntry>, CatalogError> {
        Err(stub())
    }
    async fn update_job(&self, _j: &JobEntry, _e: JobStatus) -> Result<(), CatalogError> {
        Err(stub())
    }
    async fn journal_append(&self, _e: &JournalEntry) -> Result<(), CatalogError> {
        Err(stub())
    }
    async fn journal(&self, _j: &JobId) -> Result<Vec<JournalEntry>, CatalogError> {
        Err(stub())
    }
}
