//! [`MemoryCatalog`]: the in-memory twin of the catalog, for unit tests.
//!
//! It implements every conditional write with the same rules as the SQLite and DynamoDB
//! catalogs (checked by the shared conformance suite), so engine tests that pass against it
//! mean the same thing against the real backends.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::*;

/// Everything the catalog holds, behind one lock so each call is one atomic step.
#[derive(Debug, Default)]
struct State {
    snapshots: BTreeMap<SnapshotId, SnapshotEntry>,
    locks: HashMap<Scope, LockInfo>,
    jobs: BTreeMap<JobId, JobEntry>,
    /// Keyed by (job, op) so a job's journal is a contiguous range in operation order.
    journal: BTreeMap<(JobId, u64), JournalEntry>,
    claims: HashMap<String, Claim>,
    cells: HashMap<String, Cell>,
}

/// A catalog held in memory; nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryCatalog {
    // A std Mutex: no critical section awaits, so there is nothing for tokio's async Mutex to
    // buy, and one lock over all tables makes every check-then-write atomic.
    state: Mutex<State>,
}

impl MemoryCatalog {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Each method checks before it mutates and mutates with single map operations, so a
        // panic under the lock cannot leave a half-applied change: poisoning is safe to ignore.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn not_found(&self, what: String) -> CatalogError {
        CatalogError::NotFound {
            catalog: self.location(),
            what,
        }
    }
}

fn conflict(what: String, detail: impl Into<String>) -> CatalogError {
    CatalogError::Conflict {
        what,
        detail: detail.into(),
    }
}

#[async_trait]
impl Catalog for MemoryCatalog {
    fn location(&self) -> String {
        "memory:".into()
    }

    async fn create(&self, entry: &SnapshotEntry) -> Result<(), CatalogError> {
        let mut state = self.state();
        if state.snapshots.contains_key(&entry.id) {
            return Err(conflict(
                format!("snapshot {}", entry.id),
                "an entry with this id already exists",
            ));
        }
        state.snapshots.insert(entry.id, entry.clone());
        Ok(())
    }

    async fn get(&self, id: &SnapshotId) -> Result<Option<SnapshotEntry>, CatalogError> {
        Ok(self.state().snapshots.get(id).cloned())
    }

    async fn list(&self, scope: Option<&Scope>) -> Result<Vec<SnapshotEntry>, CatalogError> {
        // Ids sort by creation time, so reverse key order is newest first.
        Ok(self
            .state()
            .snapshots
            .values()
            .rev()
            .filter(|e| scope.is_none_or(|s| &e.scope == s))
            .cloned()
            .collect())
    }

    async fn finish(&self, id: &SnapshotId, finish: &Finish) -> Result<(), CatalogError> {
        let mut state = self.state();
        let Some(entry) = state.snapshots.get_mut(id) else {
            return Err(self.not_found(format!("snapshot {id}")));
        };
        if !entry.status.is_open() {
            return Err(conflict(
                format!("snapshot {id}"),
                format!("it is {}, not pending or in progress", entry.status),
            ));
        }
        entry.apply_finish(finish);
        Ok(())
    }

    async fn restart(
        &self,
        entry: &SnapshotEntry,
        expected: &[SnapshotStatus],
    ) -> Result<(), CatalogError> {
        let mut state = self.state();
        let Some(stored) = state.snapshots.get_mut(&entry.id) else {
            return Err(self.not_found(format!("snapshot {}", entry.id)));
        };
        if !expected.contains(&stored.status) {
            return Err(conflict(
                format!("snapshot {}", entry.id),
                format!("it is {}, not {}", stored.status, super::one_of(expected)),
            ));
        }
        *stored = entry.clone();
        Ok(())
    }

    async fn record_manifest_hash(
        &self,
        id: &SnapshotId,
        hash: &ObjectHash,
    ) -> Result<(), CatalogError> {
        let mut state = self.state();
        let Some(entry) = state.snapshots.get_mut(id) else {
            return Err(self.not_found(format!("snapshot {id}")));
        };
        if entry.status != SnapshotStatus::Completed {
            return Err(conflict(
                format!("snapshot {id}"),
                format!("it is {}, not completed", entry.status),
            ));
        }
        match &entry.manifest_hash {
            None => entry.manifest_hash = Some(hash.clone()),
            Some(held) if held == hash => {}
            Some(held) => {
                return Err(conflict(
                    format!("snapshot {id}"),
                    format!("it already records manifest hash {held}"),
                ))
            }
        }
        Ok(())
    }

    async fn set_pinned(&self, id: &SnapshotId, pinned: bool) -> Result<(), CatalogError> {
        let mut state = self.state();
        match state.snapshots.get_mut(id) {
            Some(entry) => {
                entry.pinned = pinned;
                Ok(())
            }
            None => Err(self.not_found(format!("snapshot {id}"))),
        }
    }

    async fn mark_deleting(&self, id: &SnapshotId) -> Result<(), CatalogError> {
        match self.state().snapshots.get_mut(id) {
            Some(entry) => {
                entry.status = SnapshotStatus::Deleting;
                Ok(())
            }
            None => Err(self.not_found(format!("snapshot {id}"))),
        }
    }

    async fn delete(&self, id: &SnapshotId) -> Result<(), CatalogError> {
        match self.state().snapshots.remove(id) {
            Some(_) => Ok(()),
            None => Err(self.not_found(format!("snapshot {id}"))),
        }
    }

    async fn lock(&self, lock: &LockInfo) -> Result<(), CatalogError> {
        let mut state = self.state();
        if let Some(current) = state.locks.get(&lock.scope) {
            if current.expires_at > Utc::now() {
                return Err(CatalogError::Locked(Box::new(current.clone())));
            }
        }
        state.locks.insert(lock.scope.clone(), lock.clone());
        Ok(())
    }

    async fn renew_lock(&self, lock: &LockInfo) -> Result<(), CatalogError> {
        let mut state = self.state();
        match state.locks.get_mut(&lock.scope) {
            Some(current) if current.token == lock.token => {
                current.expires_at = lock.expires_at;
                Ok(())
            }
            _ => Err(conflict(
                format!("lock on {}", lock.scope),
                "this holder no longer holds it",
            )),
        }
    }

    async fn unlock(&self, scope: &Scope, token: &str) -> Result<(), CatalogError> {
        let mut state = self.state();
        if state.locks.get(scope).is_some_and(|l| l.token == token) {
            state.locks.remove(scope);
        }
        Ok(())
    }

    async fn current_lock(&self, scope: &Scope) -> Result<Option<LockInfo>, CatalogError> {
        Ok(self.state().locks.get(scope).cloned())
    }

    async fn create_job(&self, job: &JobEntry) -> Result<(), CatalogError> {
        let mut state = self.state();
        if state.jobs.contains_key(&job.id) {
            return Err(conflict(
                format!("job {}", job.id),
                "a job with this id already exists",
            ));
        }
        state.jobs.insert(job.id, job.clone());
        Ok(())
    }

    async fn get_job(&self, id: &JobId) -> Result<Option<JobEntry>, CatalogError> {
        Ok(self.state().jobs.get(id).cloned())
    }

    async fn list_jobs(&self, scope: &Scope) -> Result<Vec<JobEntry>, CatalogError> {
        Ok(self
            .state()
            .jobs
            .values()
            .rev()
            .filter(|j| &j.scope == scope)
            .cloned()
            .collect())
    }

    async fn update_job(&self, job: &JobEntry, expected: JobStatus) -> Result<(), CatalogError> {
        let mut state = self.state();
        let Some(stored) = state.jobs.get_mut(&job.id) else {
            return Err(self.not_found(format!("job {}", job.id)));
        };
        if stored.status != expected {
            return Err(conflict(
                format!("job {}", job.id),
                format!(
                    "it is {}, not {}",
                    stored.status.as_str(),
                    expected.as_str()
                ),
            ));
        }
        *stored = job.clone();
        Ok(())
    }

    async fn journal_append(&self, entry: &JournalEntry) -> Result<(), CatalogError> {
        let mut state = self.state();
        let key = (entry.job, entry.op);
        if state.journal.contains_key(&key) {
            return Err(conflict(
                format!("journal of job {} op {}", entry.job, entry.op),
                "this operation is already journaled as done",
            ));
        }
        state.journal.insert(key, entry.clone());
        Ok(())
    }

    async fn journal(&self, job: &JobId) -> Result<Vec<JournalEntry>, CatalogError> {
        Ok(self
            .state()
            .journal
            .range((*job, 0)..=(*job, u64::MAX))
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn claim(&self, claim: &Claim) -> Result<bool, CatalogError> {
        let mut state = self.state();
        if let Some(current) = state.claims.get(&claim.key) {
            if current.expires_at > Utc::now() {
                return Ok(false);
            }
        }
        state.claims.insert(claim.key.clone(), claim.clone());
        Ok(true)
    }

    async fn release_claim(&self, key: &str, token: &str) -> Result<(), CatalogError> {
        let mut state = self.state();
        if state.claims.get(key).is_some_and(|c| c.token == token) {
            state.claims.remove(key);
        }
        Ok(())
    }

    async fn read_cell(&self, name: &str) -> Result<Option<Cell>, CatalogError> {
        Ok(self.state().cells.get(name).cloned())
    }

    async fn write_cell(
        &self,
        name: &str,
        value: &serde_json::Value,
        expected: Option<u64>,
    ) -> Result<u64, CatalogError> {
        let mut state = self.state();
        let stored = state.cells.get(name).map(|c| c.version);
        if stored != expected {
            return Err(conflict(
                format!("cell {name}"),
                format!("its version is {stored:?}, not the expected {expected:?}"),
            ));
        }
        let version = expected.unwrap_or(0) + 1;
        state.cells.insert(
            name.to_string(),
            Cell {
                version,
                value: value.clone(),
            },
        );
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn conforms_to_the_catalog_contract() {
        crate::conformance::catalog(Arc::new(MemoryCatalog::new())).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn suite_runs_share_one_backend() {
        // The suite must not assume an empty backend: run it twice at once, then again.
        let shared = Arc::new(MemoryCatalog::new());
        tokio::join!(
            crate::conformance::catalog(shared.clone()),
            crate::conformance::catalog(shared.clone()),
        );
        crate::conformance::catalog(shared).await;
    }
}
